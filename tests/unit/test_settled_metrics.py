"""A consumer's settled deliveries are counted by outcome, and timed, on their queue's
series: the observer keeps each labelled series it has used, and must keep them apart."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from fitboard.adapters.process_metrics import settled_observer


def settled(queue: str, outcome: str) -> float | None:
    return REGISTRY.get_sample_value(
        "fitboard_messages_settled_total", {"queue": queue, "outcome": outcome}
    )


def handled(queue: str) -> float | None:
    return REGISTRY.get_sample_value(
        "fitboard_message_handling_duration_seconds_count", {"queue": queue}
    )


def test_each_outcome_and_queue_is_counted_on_its_own_series() -> None:
    first, second = f"q-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    observe, other = settled_observer(first), settled_observer(second)
    observe("acked", 0.01, None)
    observe("retried", 0.02, "RuntimeError")
    observe("acked", 0.03, None)
    other("dead_lettered", 0.04, "PermanentFailure")
    other("acked", 0.05, None)
    assert (settled(first, "acked"), settled(first, "retried")) == (2, 1)
    assert settled(first, "dead_lettered") is None
    assert settled(second, "dead_lettered") == 1
    assert settled(second, "acked") == 1
    assert (handled(first), handled(second)) == (3, 2)
    failures = REGISTRY.get_sample_value(
        "fitboard_message_failures_total",
        {"queue": first, "outcome": "retried", "cause": "RuntimeError"},
    )
    assert failures == 1
