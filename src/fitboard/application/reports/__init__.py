"""Monthly reports: a consumer of `workout.processed`, separate from ingest and the worker."""
