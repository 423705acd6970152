"""Boards: reading them (cache-aside), projecting the record onto them, rebuild, reconcile."""
