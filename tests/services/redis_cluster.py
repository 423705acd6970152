"""A Redis Cluster of the tests' own: three primaries on loopback, no replicas, which a
test may kill one node of and start again.

Interface (kept stable; other tests build on it):

    async with private_redis_cluster() as cluster:   # 3 nodes, `cluster_state:ok`
        # options: node_timeout_ms=2000, full_coverage=True, appendonly=False
        cluster.url             # "redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
        cluster.nodes[i].port   # each node's client port (its bus port is its own, too)
        await cluster.node_of(key)   # index of the node whose slots hold `key`
        await cluster.kill(i)        # SIGKILL node i
        await cluster.restart(i)     # start it again; returns once the cluster is ok
        await cluster.wait_ok()      # every running node reports cluster_state:ok
        cluster.log()                # every node's log, for a failed test

    cluster = await start_redis_cluster()    # the same without a block (a session's
    await remove_redis_cluster(cluster)      # servers, tests/services/session.py)

Each node is a `redis-server --cluster-enabled yes` child process with a free client port
and a free cluster-bus port (`--cluster-port`, so no port+10000 collision), its own
directory holding its log and `nodes.conf`, and no persistence (unless `appendonly`).
The nodes are joined with `redis-cli --cluster create ... --cluster-replicas 0`, which
splits the 16384 slots into three ranges.

What a killed node means: with no replicas, nothing takes over its slots. Until it is back,
every command on a key of its slots fails (a refused connection at first; once the others
have marked it failed, after `node_timeout_ms`, with CLUSTERDOWN); keys of the other nodes'
slots keep working only with `full_coverage=False`, since Redis's default
(`cluster-require-full-coverage yes`) stops the whole cluster while any slot is unserved.
`restart` starts it with its own `nodes.conf`, so it rejoins under the same node id with
the same slots, empty (no persistence: as a node that crashed and lost its data) or, for a
cluster started with `appendonly=True` (`appendfsync always`), holding every write it
acknowledged before the kill.

`private_redis_cluster` removes every process and directory when the block ends, whatever
happened inside it.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from redis.exceptions import RedisError

from .redis import PrivateRedis
from .running import eventually, free_port, private_directory, run_command

__all__ = [
    "ClusterNode",
    "PrivateRedisCluster",
    "private_redis_cluster",
    "remove_redis_cluster",
    "start_redis_cluster",
]


def _executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not on PATH (scripts/install-test-tools.sh installs it)")
    return found


@dataclass(kw_only=True)
class ClusterNode(PrivateRedis):
    """One cluster node: a `PrivateRedis` started with `--cluster-enabled yes`, its cluster
    bus on `bus_port`, its `nodes.conf` in its directory."""

    bus_port: int
    node_timeout_ms: int
    full_coverage: bool
    appendonly: bool = False
    label = "Redis Cluster node"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def options(self) -> list[str]:
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            str(self.bus_port),
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            "--cluster-require-full-coverage",
            "yes" if self.full_coverage else "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
        ]

    async def cluster_state(self) -> str | None:
        """`cluster_state` from CLUSTER INFO (`ok` or `fail`); None if it does not answer."""
        client = self.client()
        try:
            # redis-py parses CLUSTER INFO into a dict of its fields.
            info = await client.cluster("INFO")
        except RedisError:
            return None
        finally:
            await client.aclose()
        state = info.get("cluster_state")
        return None if state is None else str(state)


@dataclass
class PrivateRedisCluster:
    """Three (or `len(nodes)`) primaries holding all 16384 slots between them."""

    directory: Path
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The URL fitboard takes for a cluster: every node as a startup node."""
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    async def create(self, within_s: float = 60.0) -> None:
        """Start every node, join them into one cluster, wait until it is ok."""
        for node in self.nodes:
            await node.start()
        code, output = await run_command(
            _executable("redis-cli"),
            "--cluster",
            "create",
            *(node.address for node in self.nodes),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
            timeout_s=within_s,
        )
        if code != 0:
            raise RuntimeError(f"redis-cli --cluster create exited {code}:\n{output}")
        await self.wait_ok(within_s=within_s)

    async def wait_ok(self, within_s: float = 60.0) -> None:
        """Until every running node says `cluster_state:ok` (all slots served, and the
        nodes agree on who serves them)."""

        async def all_ok() -> bool:
            running = [node for node in self.nodes if node.process is not None]
            return all([await node.cluster_state() == "ok" for node in running])

        await eventually(all_ok, within_s=within_s, every_s=0.1)

    async def node_of(self, key: str) -> int:
        """The index in `nodes` of the node whose slots hold `key` (hash tags respected)."""
        running = next(node for node in self.nodes if node.process is not None)
        client = running.client()
        try:
            slot = int(await client.cluster("KEYSLOT", key))
            ranges = await client.cluster("SLOTS")
        finally:
            await client.aclose()
        for first, last, primary, *_ in ranges:
            if int(first) <= slot <= int(last):
                port = int(primary[1])
                return next(i for i, node in enumerate(self.nodes) if node.port == port)
        raise LookupError(f"no node serves slot {slot} of {key!r}")

    async def kill(self, index: int) -> None:
        """SIGKILL node `index`: its slots are down until `restart(index)`."""
        await self.nodes[index].stop()

    async def restart(self, index: int, within_s: float = 60.0) -> None:
        """Start node `index` again with its nodes.conf (same id, same slots, no data) and
        wait until the cluster is ok."""
        await self.nodes[index].start()
        await self.wait_ok(within_s=within_s)

    async def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await node.stop()

    def log(self) -> str:
        return "\n".join(node.log() for node in self.nodes)


async def start_redis_cluster(
    size: int = 3,
    *,
    node_timeout_ms: int = 2000,
    full_coverage: bool = True,
    appendonly: bool = False,
) -> PrivateRedisCluster:
    """A running cluster of `size` primaries; the caller removes it with
    `remove_redis_cluster`.

    `node_timeout_ms` is how long the others wait before marking a silent node failed
    (Redis's default is 15000; shorter here so a test sees the failure state quickly).
    `full_coverage` is `cluster-require-full-coverage`: with True (Redis's default) the
    whole cluster refuses commands while a node is marked failed. With `appendonly` each
    node writes an append-only file, synced on every write, and comes back with its data
    after a kill."""
    directory = private_directory("fitboard-redis-cluster-")
    cluster = PrivateRedisCluster(directory)
    try:
        # Two probes in a row may be handed the same free port: draw until all differ.
        ports: list[int] = []
        while len(ports) < 2 * size:
            port = free_port()
            if port not in ports:
                ports.append(port)
        for i in range(size):
            node_directory = directory / f"node{i}"
            node_directory.mkdir()
            cluster.nodes.append(
                ClusterNode(
                    directory=node_directory,
                    port=ports[2 * i],
                    bus_port=ports[2 * i + 1],
                    node_timeout_ms=node_timeout_ms,
                    full_coverage=full_coverage,
                    appendonly=appendonly,
                )
            )
        await cluster.create()
    except BaseException:
        print(cluster.log())
        await remove_redis_cluster(cluster)
        raise
    return cluster


async def remove_redis_cluster(cluster: PrivateRedisCluster) -> None:
    """Kill every node and delete the cluster's directory."""
    try:
        await cluster.stop()
    finally:
        shutil.rmtree(cluster.directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_redis_cluster(
    size: int = 3,
    *,
    node_timeout_ms: int = 2000,
    full_coverage: bool = True,
    appendonly: bool = False,
) -> AsyncIterator[PrivateRedisCluster]:
    """A running cluster of this block's own (arguments as `start_redis_cluster`); killed
    and its directories deleted afterwards, whatever happened inside the block."""
    cluster = await start_redis_cluster(
        size, node_timeout_ms=node_timeout_ms, full_coverage=full_coverage, appendonly=appendonly
    )
    try:
        yield cluster
    finally:
        try:
            await cluster.stop()
        finally:
            # Shown by pytest only when the test failed.
            print(cluster.log())
            await remove_redis_cluster(cluster)
