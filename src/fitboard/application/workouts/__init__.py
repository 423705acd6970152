"""Workouts: the 202 path (ingest), the worker's transaction (processing), their messages,
and what an athlete reads about their own workouts."""
