"""Filling a record with a synthetic community (`fitboard seed`)."""
