"""Readers of activity files (GPX, TCX, FIT, and zip archives of them) behind the
ActivityFiles port; `read_upload` is the one entry point, run in reader processes."""
