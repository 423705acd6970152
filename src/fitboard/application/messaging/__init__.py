"""The queue: its ports, the consumer loop, and the one retry policy."""
