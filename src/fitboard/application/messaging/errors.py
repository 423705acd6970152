"""How a consumer should treat a failure: retry later, or give up on the message."""


class PermanentFailure(Exception):
    """This message can never be processed (malformed, unknown athlete, stolen id...).

    It is dead-lettered at once with this reason instead of being retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
