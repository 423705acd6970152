"""Pure domain rules: no I/O, no frameworks. Everything here is deterministic given its inputs."""
