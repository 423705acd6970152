"""Achievements: the catalog, judging a workout's awards in its transaction, placements."""
