"""Live updates: the events a processed workout sends to connected clients."""
