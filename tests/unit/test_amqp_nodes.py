"""FITBOARD_AMQP_URL with several nodes: how it is read, and which node a connection tries
first after another was lost (adapters/amqp_nodes.py). No broker: the connections are
stand-ins that succeed or are refused as each test says."""

from __future__ import annotations

import pytest
from aiormq.exceptions import AMQPConnectionError
from pydantic import ValidationError

from fitboard.adapters.amqp_nodes import AmqpNodes, parse_amqp_urls
from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.config import Settings

A = "amqp://u:p@10.0.0.1:5672/fitboard"
B = "amqp://u:p@10.0.0.2:5672/fitboard"
C = "amqps://u:p@10.0.0.3:5671/fitboard"


def test_one_url_is_one_node() -> None:
    assert parse_amqp_urls(A) == (A,)


def test_commas_separate_nodes_in_order_spaces_ignored() -> None:
    assert parse_amqp_urls(f"{A}, {B} ,{C}") == (A, B, C)


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        (f"{A},,{B}", "node 2 of 3 is empty"),
        (f"{A},", "node 2 of 2 is empty"),
        # A raw comma in a password splits the URL: told how to write it.
        ("amqp://u:pa,ss@10.0.0.1/fitboard", "%2C"),
        (f"{A},redis://10.0.0.2:6379/0", "node 2 of 2 is not an amqp://"),
        ("amqp:///fitboard", "node 1 of 1 is not an amqp://"),
    ],
)
def test_a_malformed_list_is_refused_naming_the_node_not_its_password(
    setting: str, says: str
) -> None:
    with pytest.raises(ValueError, match="FITBOARD_AMQP_URL") as raised:
        parse_amqp_urls(setting)
    assert says in str(raised.value)
    assert "pa,ss" not in str(raised.value)
    assert ":p@" not in str(raised.value)


def test_a_malformed_setting_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="node 2 of 2 is empty"):
        Settings(amqp_url=f"{A},")
    assert Settings(amqp_url=f"{A},{B}").amqp_url == f"{A},{B}"


def test_the_broker_refuses_a_malformed_setting_when_built() -> None:
    with pytest.raises(ValueError, match="node 2 of 2 is empty"):
        RabbitBroker(f"{A},")


class Network:
    """Stand-in connections: a URL in `down` refuses, any other connects."""

    def __init__(self, *down: str) -> None:
        self.down = set(down)
        self.tried: list[str] = []

    async def open(self, url: str) -> str:
        self.tried.append(url)
        if url in self.down:
            raise AMQPConnectionError(111, "Connect call failed")
        return f"connection to {url}"


async def test_connections_go_to_the_first_node_while_it_answers() -> None:
    nodes, network = AmqpNodes([A, B, C]), Network()
    assert await nodes.connect(network.open) == (A, f"connection to {A}")
    assert await nodes.connect(network.open) == (A, f"connection to {A}")
    assert network.tried == [A, A]


async def test_a_refused_node_is_skipped_and_the_next_connection_starts_past_it() -> None:
    nodes, network = AmqpNodes([A, B, C]), Network(A)
    assert (await nodes.connect(network.open))[0] == B
    network.down = set()
    # A is back, but the process has moved on: it stays on B rather than flapping.
    assert (await nodes.connect(network.open))[0] == B
    assert network.tried == [A, B, B]


async def test_a_lost_node_sends_the_next_connection_to_the_next_node_and_round_to_the_first() -> (
    None
):
    nodes, network = AmqpNodes([A, B, C]), Network()
    url, _ = await nodes.connect(network.open)
    nodes.lost(url)
    assert nodes.order() == [B, C, A]
    url, _ = await nodes.connect(network.open)
    assert url == B
    nodes.lost(B)
    network.down = {C}
    # C is down too: back to A, the first, which has returned.
    assert (await nodes.connect(network.open))[0] == A
    assert network.tried == [A, B, C, A]


async def test_a_loss_reported_late_does_not_skip_a_good_node() -> None:
    """Two connections lost the same node: the second report must not move the process
    off the node the first one already moved it to."""
    nodes = AmqpNodes([A, B, C])
    nodes.lost(A)
    nodes.lost(A)
    assert nodes.order() == [B, C, A]


async def test_when_every_node_refuses_the_last_error_is_raised_after_trying_each_once() -> None:
    nodes, network = AmqpNodes([A, B, C]), Network(A, B, C)
    with pytest.raises(AMQPConnectionError):
        await nodes.connect(network.open)
    assert network.tried == [A, B, C]
