"""Adapters: the ports of fitboard.application implemented on real technologies."""
