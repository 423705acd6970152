"""Operations: what an operator asks of a running fitboard (is it reachable, how long is
the backlog, what was given up on), by command, admin API or metrics."""
