"""fitboard: workouts accepted instantly; calories, live leaderboards and badges a second later."""

__version__ = "0.1.0"
