"""What a failed message becomes: the one place that decides, for every consumer and queue.

Three kinds of failure, three outcomes:

* `PermanentFailure` — the message can never succeed (malformed, out of range, unknown
  athlete): dead-lettered at once with its reason.
* `DependencyUnavailable` (the record, the boards or the queue cannot serve now), a
  timeout or a refused connection — the message is fine and the world is not: retried with
  capped backoff for as long as the outage lasts. These retries never use up the message's
  attempts, so a dependency that is down for an hour dead-letters nothing.
* anything else (a bug, a surprise) — retried with backoff, counted; once `max_attempts`
  are spent, dead-lettered with the last error, where an operator can see and replay it.

The backoff follows the queue's fixed steps (`QueueSpec.retry_delays_s`): the n-th retry
of a message waits the n-th step, every later one the last step, which is the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import QueueSpec
from fitboard.application.ports import DependencyUnavailable

# Failures that say "not now" rather than "not this": outside the ports (which translate
# their adapters' errors to DependencyUnavailable), a timeout or a refused connection.
_TRANSIENT: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    TimeoutError,
    ConnectionError,
)


class Outcome(StrEnum):
    DEAD_LETTER = "dead_letter"
    RETRY = "retry"
    WAIT = "wait"  # a retry that does not count: waiting for a dependency


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    delay_s: float = 0.0

    @property
    def counted(self) -> bool:
        return self.outcome is Outcome.RETRY


def describe(error: BaseException) -> str:
    if isinstance(error, PermanentFailure):
        return error.reason
    return f"{type(error).__name__}: {error}"


def is_transient(error: BaseException) -> bool:
    return isinstance(error, _TRANSIENT)


def decide(error: Exception, *, attempt: int, retries: int, spec: QueueSpec) -> Decision:
    """What to do with a message whose handling raised `error` on its `attempt`-th
    (counted) attempt, after `retries` earlier retries of any kind."""
    reason = describe(error)
    if isinstance(error, PermanentFailure):
        return Decision(Outcome.DEAD_LETTER, reason)
    delay_s = backoff(spec, retries)
    if is_transient(error):
        return Decision(Outcome.WAIT, reason, delay_s)
    if attempt >= spec.max_attempts:
        return Decision(Outcome.DEAD_LETTER, f"failed {attempt} times; last error: {reason}")
    return Decision(Outcome.RETRY, reason, delay_s)


def backoff(spec: QueueSpec, retries: int) -> float:
    """The wait before the next delivery of a message retried `retries` times before."""
    steps = spec.retry_delays_s
    return steps[min(max(retries, 0), len(steps) - 1)]
