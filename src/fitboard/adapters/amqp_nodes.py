"""The RabbitMQ nodes one setting names, and the order connections try them in.

FITBOARD_AMQP_URL is one amqp:// (or amqps://) URL, or several separated by commas, one
per node of a cluster: `amqp://u:p@10.0.0.1:5672/fitboard,amqp://u:p@10.0.0.2:5672/fitboard`.
Each is a URL aio-pika takes as it is; a comma inside one (in a password, say) must be
percent-encoded (%2C).

A connection goes to the first node that accepts it, starting with the node the process
last connected to and went on to the next one after a node is lost, wrapping around: a
process that lost node 1 connects to node 2, and after losing node 2 to node 3, then
node 1 again. Every connection of a process (its publisher and its consumers) shares one
`AmqpNodes`, so what one connection learnt about a dead node, the next one skips.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from aio_pika.exceptions import CONNECTION_EXCEPTIONS

__all__ = ["AmqpNodes", "parse_amqp_urls"]

Connection = TypeVar("Connection")

_SCHEMES = ("amqp", "amqps")


def parse_amqp_urls(text: str) -> tuple[str, ...]:
    """The node URLs of a FITBOARD_AMQP_URL value, in the order given. ValueError, naming
    the part at fault by its position (never its text: it holds a password), when a part
    is empty or not an amqp:// or amqps:// URL with a host."""
    parts = [part.strip() for part in text.split(",")]
    for position, part in enumerate(parts, start=1):
        where = f"FITBOARD_AMQP_URL node {position} of {len(parts)}"
        if not part:
            raise ValueError(f"{where} is empty: list the nodes' URLs separated by single commas")
        split = urlsplit(part)
        if split.scheme not in _SCHEMES or not split.hostname:
            raise ValueError(
                f"{where} is not an amqp://user:password@host:port/vhost URL "
                "(a comma inside a password must be written %2C)"
            )
    return tuple(parts)


class AmqpNodes:
    """Which node a process connects to next."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("at least one RabbitMQ node URL is needed")
        self._urls = tuple(urls)
        self._next = 0

    @classmethod
    def from_setting(cls, text: str) -> AmqpNodes:
        return cls(parse_amqp_urls(text))

    @property
    def urls(self) -> tuple[str, ...]:
        return self._urls

    def order(self) -> list[str]:
        """The nodes in the order the next connection tries them."""
        return [*self._urls[self._next :], *self._urls[: self._next]]

    def lost(self, url: str) -> None:
        """The connection to `url` was lost or refused: unless another connection has
        moved on already, the next one starts with the node after it."""
        if self._urls[self._next] == url:
            self._next = (self._next + 1) % len(self._urls)

    async def connect(
        self, open_one: Callable[[str], Awaitable[Connection]]
    ) -> tuple[str, Connection]:
        """(url, connection) of the first node `open_one` connects to, in `order()`; the
        last node's error when none accepts."""
        failure: BaseException | None = None
        for url in self.order():
            try:
                connection = await open_one(url)
            except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
                failure = exc
                self.lost(url)
                continue
            return url, connection
        assert failure is not None
        raise failure
