"""Use cases and the ports (typing.Protocol) they need from the outside world."""
