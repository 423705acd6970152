"""Device import: reading GPX, TCX and FIT files into workouts, duplicates recognised."""
