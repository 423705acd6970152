"""How fitboard reads a Redis URL: a single server or a Redis Cluster, and what a cluster
client does where redis-py's would surprise its callers. No server is needed: an
unreachable cluster is a free port, and the guarded write is tried on a connection that
has no writer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from fitboard.adapters import redis_client as rc
from fitboard.adapters.redis_client import (
    FitboardCluster,
    PubSubNodes,
    guard_writes,
    is_cluster_url,
    node_urls,
    parse_cluster_url,
    redis_client,
)
from fitboard.config import Settings
from tests.services.running import free_port


def test_a_cluster_url_lists_its_nodes_and_credentials() -> None:
    address = parse_cluster_url("redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001/0")
    assert address.nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert (address.username, address.password, address.tls) == ("app", "s@cret", False)
    assert parse_cluster_url("rediss+cluster://:pw@h:1").tls
    assert node_urls("redis+cluster://:pw@h:1,[::1]:2") == [
        "redis://:pw@h:1/0",
        "redis://:pw@[::1]:2/0",
    ]
    # A single server's URL is its own pub/sub node.
    assert node_urls("redis://h:6379/3") == ["redis://h:6379/3"]
    assert is_cluster_url("REDIS+CLUSTER://h:1")
    assert not is_cluster_url("redis://h:1/0")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://h:1/2", "only database 0"),
        ("redis+cluster://h", "host:port"),
        ("redis+cluster://h:1,h:x", "host:port"),
        ("redis+cluster://h:1?ssl=true", "no query"),
        ("redis://h:1", "not a Redis Cluster URL"),
    ],
)
def test_a_bad_cluster_url_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_cluster_url(url)


def test_pub_sub_goes_to_each_node_in_turn() -> None:
    nodes = PubSubNodes("redis+cluster://a:1,b:2,c:3")
    first = [nodes.next() for _ in range(3)]
    assert sorted(first) == ["redis://a:1/0", "redis://b:2/0", "redis://c:3/0"]
    assert [nodes.next() for _ in range(3)] == first


async def test_the_url_alone_chooses_the_client() -> None:
    single = redis_client("redis://127.0.0.1:1/0", timeout_s=1.0)
    cluster = redis_client("redis+cluster://127.0.0.1:1,127.0.0.1:2", timeout_s=1.0)
    try:
        assert isinstance(single, Redis)
        assert isinstance(cluster, FitboardCluster)
    finally:
        await single.aclose()
        await cluster.aclose()


async def test_an_unreachable_cluster_is_a_connection_error() -> None:
    # redis-py says RedisClusterException, which is no RedisError: callers would miss it.
    client = redis_client(f"redis+cluster://127.0.0.1:{free_port()}", timeout_s=1.0)
    try:
        with pytest.raises(RedisConnectionError, match="cannot be connected"):
            await client.get("x")
    finally:
        await client.aclose()


async def test_a_write_on_a_connection_closed_under_it_is_a_connection_error() -> None:
    cluster = RedisCluster(host="127.0.0.1", port=free_port())
    guard_writes(cluster)
    try:
        (node,) = cluster.startup_nodes
        assert node.connection_class is rc._GuardedConnection
        assert cluster.connection_kwargs["connection_class"] is rc._GuardedConnection
        connection = node.acquire_connection()
        # As after another task's disconnect: no writer. redis-py 8.1 lets the
        # AttributeError out.
        assert connection._writer is None
        with pytest.raises(RedisConnectionError, match="closed while writing"):
            await connection._send_packed_command([b"PING\r\n"])
    finally:
        await cluster.aclose()


def test_a_bad_cluster_url_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="only database 0"):
        Settings(redis_url="redis+cluster://h:1/2")
    assert Settings(redis_url="redis+cluster://h:1,h:2").redis_url == "redis+cluster://h:1,h:2"
