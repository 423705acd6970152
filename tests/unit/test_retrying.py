"""The retry policy: what each kind of failure becomes, and how long it waits."""

from __future__ import annotations

import pytest

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import QueueSpec
from fitboard.application.messaging.retrying import Outcome, backoff, decide
from fitboard.application.ports import QueueUnavailable, RankingUnavailable, StoreUnavailable

SPEC = QueueSpec("q", ("k",), max_attempts=3, retry_delays_s=(0.5, 2.0, 8.0, 30.0))


@pytest.mark.parametrize(("attempt", "retries"), [(1, 0), (2, 7), (3, 2), (9, 9)])
def test_a_permanent_failure_is_dead_lettered_at_once_with_its_reason(
    attempt: int, retries: int
) -> None:
    # Attempts left or not, and whatever waits came before: its own reason, uncounted.
    decision = decide(
        PermanentFailure("distance_m: must not be negative"),
        attempt=attempt,
        retries=retries,
        spec=SPEC,
    )
    assert decision.outcome is Outcome.DEAD_LETTER
    assert decision.reason == "distance_m: must not be negative"
    assert not decision.counted


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("connection refused"),
        RankingUnavailable("redis: connection reset"),
        QueueUnavailable("no confirm within 5s"),
        TimeoutError(),
        ConnectionRefusedError("refused"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_a_dependency_outage_waits_without_counting_however_long_it_lasts(
    error: Exception,
) -> None:
    # Far past max_attempts, and long after the backoff reached its cap.
    for attempt, retries in [(1, 0), (3, 2), (3, 50), (10, 10_000)]:
        decision = decide(error, attempt=attempt, retries=retries, spec=SPEC)
        assert decision.outcome is Outcome.WAIT
        assert not decision.counted
        assert decision.delay_s == backoff(SPEC, retries)
        assert decision.reason == f"{type(error).__name__}: {error}"


def test_an_unexpected_error_is_retried_counted_until_attempts_run_out() -> None:
    bug = ValueError("unexpected")
    first = decide(bug, attempt=1, retries=0, spec=SPEC)
    assert (first.outcome, first.counted, first.delay_s) == (Outcome.RETRY, True, 0.5)
    second = decide(bug, attempt=2, retries=1, spec=SPEC)
    assert (second.outcome, second.delay_s) == (Outcome.RETRY, 2.0)
    last = decide(bug, attempt=3, retries=2, spec=SPEC)
    assert last.outcome is Outcome.DEAD_LETTER
    assert last.reason == "failed 3 times; last error: ValueError: unexpected"
    assert not last.counted
    # Past the limit (a consumer that crashed on its last attempt): dead-lettered too.
    beyond = decide(bug, attempt=4, retries=3, spec=SPEC)
    assert beyond.outcome is Outcome.DEAD_LETTER


def test_a_counted_retry_waits_by_every_earlier_retry_including_the_uncounted() -> None:
    # Second counted attempt after five waits for a dependency: the sixth retry's step.
    decision = decide(ValueError("unexpected"), attempt=2, retries=5, spec=SPEC)
    assert (decision.outcome, decision.delay_s) == (Outcome.RETRY, 30.0)
    after_one_wait = decide(ValueError("unexpected"), attempt=1, retries=1, spec=SPEC)
    assert after_one_wait.delay_s == 2.0


def test_with_one_attempt_an_unexpected_error_is_dead_lettered_at_once() -> None:
    once = QueueSpec("q", ("k",), max_attempts=1)
    decision = decide(KeyError("field"), attempt=1, retries=0, spec=once)
    assert decision.outcome is Outcome.DEAD_LETTER
    assert decision.reason.endswith("last error: KeyError: 'field'")


def test_backoff_climbs_the_steps_then_stays_at_the_cap() -> None:
    assert [backoff(SPEC, n) for n in range(7)] == [0.5, 2.0, 8.0, 30.0, 30.0, 30.0, 30.0]
    assert backoff(SPEC, 1_000_000) == 30.0
    assert backoff(SPEC, -1) == 0.5  # a header gone wrong waits the first step


def test_a_delay_is_rounded_up_to_a_step_or_down_to_the_cap() -> None:
    assert SPEC.retry_step(0) == 0.5
    assert SPEC.retry_step(0.5) == 0.5
    assert SPEC.retry_step(0.6) == 2.0
    assert SPEC.retry_step(1_000) == 30.0


@pytest.mark.parametrize("steps", [(), (0.0, 1.0), (2.0, 1.0), (1.0, 1.0)])
def test_retry_steps_must_be_positive_and_increasing(steps: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="retry_delays_s"):
        QueueSpec("q", ("k",), retry_delays_s=steps)
