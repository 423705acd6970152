"""The worker: consumes submitted workouts and processes them."""
