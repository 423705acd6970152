"""Benchmarks: each is bounded in count and time, targets loopback only, stops by itself,
and prints its figures beside a baseline measured in the same run (docs/benchmarks.md)."""
