"""How a consumer should treat a failure: retry later, or give up on the message."""

from collections.abc import Mapping


class PermanentFailure(Exception):
    """This message can never be processed (malformed, unknown athlete, stolen id...).

    It is dead-lettered at once with this reason instead of being retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PartlyHandled(Exception):
    """Raised by a batch handler that handled every delivery of its batch but some, each of
    which failed on its own: `failures` maps the index of each of those (in the sequence the
    handler was given) to its failure.

    The others are acked, and each failed one is settled as it would be alone, without
    handling the batch again: what one message cannot do (a malformed body, a deleted
    athlete) costs the rest of its batch nothing."""

    def __init__(self, failures: Mapping[int, Exception]) -> None:
        if not failures:
            raise ValueError("a batch partly handled has at least one failure")
        super().__init__(
            f"{len(failures)} of the batch failed, the first: {next(iter(failures.values()))}"
        )
        self.failures = dict(failures)
