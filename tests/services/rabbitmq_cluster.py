"""A three-node RabbitMQ cluster of the tests' own, on loopback, whose nodes a test may kill
and start again (issue 17: the production adapters on a real cluster).

Each node is a `PrivateRabbitMQ` (tests/services/rabbitmq.py): a node name of its own
(`fitboard-test-<hex>@localhost`), its own AMQP and distribution ports (free ports chosen at
start, so neither the machine's broker, 5672/25672, nor the session's private node can
collide), its own data and log directories. What makes them one cluster:

- one Erlang cookie, written into every node's HOME, so the nodes (and `rabbitmqctl`
  with any node's environment) may talk to each other;
- the nodes register with the machine's epmd (port 4369) as every Erlang node does; their
  names are unique, so they sit beside any other node registered there;
- nodes 2 and 3 join node 1 with `rabbitmqctl stop_app; join_cluster; start_app`;
- a vhost and a user (`fitboard`, random password) created once the three are joined,
  as an operator would: `urls` and `url` use them.

A quorum queue declared once the cluster is formed has a member on every node (RabbitMQ's
default, kept by the adapter), so killing any one node leaves a majority: two of three.

Starting three nodes on two cores is slow (one node takes several seconds): they are
started concurrently, then joined one after the other (each join restarts the joining
node's app; joining two at once was not tried). `started_in_s` says how long it all took:
12-14 s on an idle two-core machine, 35-45 s when other test runs share it.

`kill(i)` SIGKILLs one node, as a crash would; `start(i)` brings it back on the same ports
and data, and it rejoins the cluster by itself. `rabbitmq_cluster()` removes everything
when the block ends, whatever happened inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote

from .rabbitmq import PrivateRabbitMQ, _script, remove_rabbitmq
from .running import free_port, private_directory, run_command

SIZE = 3
VHOST = "fitboard"
USER = "fitboard"


def _share_cookie(node: PrivateRabbitMQ, cookie: str) -> None:
    path = node.directory / "home" / ".erlang.cookie"
    path.chmod(0o600)
    path.write_text(cookie)
    path.chmod(0o400)


@dataclass
class RabbitMQCluster:
    nodes: list[PrivateRabbitMQ]
    # Hex: a URL-safe token may start with '-', which rabbitmqctl reads as an option.
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    started_in_s: float = 0.0

    def node_url(self, index: int) -> str:
        """The AMQP URL of one node, as the `fitboard` user on the `fitboard` vhost."""
        node = self.nodes[index]
        return f"amqp://{USER}:{quote(self.password, safe='')}@127.0.0.1:{node.port}/{VHOST}"

    @property
    def urls(self) -> list[str]:
        return [self.node_url(i) for i in range(len(self.nodes))]

    @property
    def url(self) -> str:
        """FITBOARD_AMQP_URL for the whole cluster: every node's URL, comma-separated."""
        return ",".join(self.urls)

    def running(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.process is not None]

    async def ctl(self, *args: str, timeout_s: float = 60.0) -> str:
        """rabbitmqctl against the first running node (cluster-wide commands)."""
        running = self.running()
        if not running:
            raise RuntimeError("no node of the cluster is running")
        return await self.nodes[running[0]].ctl(*args, timeout_s=timeout_s)

    async def kill(self, index: int) -> None:
        """SIGKILL one node: a crash, its connections cut at once."""
        await self.nodes[index].kill()

    async def start(self, index: int) -> None:
        """Start a killed node again; it rejoins the cluster with its data."""
        node = self.nodes[index]
        await node.start()
        await node.ctl("await_startup")

    async def quorum_members(self, queue: str) -> int:
        """How many nodes hold a member of a quorum queue (`rabbitmq-queues quorum_status`)."""
        return len(await self._quorum_status(queue))

    async def quorum_leader(self, queue: str) -> int:
        """The index of the node holding a quorum queue's leader."""
        status = await self._quorum_status(queue)
        (leader,) = [node for node, state in status.items() if state == "leader"]
        return [node.nodename for node in self.nodes].index(leader)

    async def _quorum_status(self, queue: str) -> dict[str, str]:
        """Node name -> Raft state of each member of a quorum queue."""
        node = self.nodes[self.running()[0]]
        code, output = await run_command(
            _script("rabbitmq-queues"),
            "-n",
            node.nodename,
            "quorum_status",
            queue,
            "--vhost",
            VHOST,
            "--quiet",
            env=node._env(),
        )
        if code != 0:
            raise RuntimeError(f"rabbitmq-queues quorum_status {queue} failed ({code}):\n{output}")
        # One table row per member: its node's name, then its Raft state.
        status: dict[str, str] = {}
        for line in output.splitlines():
            words = [w for w in line.split() if w.isprintable() and "fitboard-test-" in w]
            if words:
                after = line.split(words[0], 1)[1].split()
                state = next((w for w in after if w in ("leader", "follower")), "other")
                status[words[0]] = state
        return status

    def log(self) -> str:
        return "".join(node.log()[-10_000:] for node in self.nodes)


async def _form(cluster: RabbitMQCluster) -> None:
    began = time.monotonic()
    await asyncio.gather(*(node.start() for node in cluster.nodes))
    first = cluster.nodes[0]
    for node in cluster.nodes[1:]:
        await node.ctl("stop_app")
        await node.ctl("join_cluster", first.nodename)
        await node.ctl("start_app")
        await node.ctl("await_startup")
    await first.ctl("add_vhost", VHOST)
    await first.ctl("add_user", USER, cluster.password)
    await first.ctl("set_permissions", "-p", VHOST, USER, ".*", ".*", ".*")
    cluster.started_in_s = time.monotonic() - began


async def _remove(cluster: RabbitMQCluster) -> None:
    results = await asyncio.gather(
        *(remove_rabbitmq(node) for node in cluster.nodes), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result


@contextlib.asynccontextmanager
async def rabbitmq_cluster() -> AsyncIterator[RabbitMQCluster]:
    """A running three-node cluster of this block's own; killed and deleted afterwards."""
    cookie = secrets.token_hex(16)
    nodes: list[PrivateRabbitMQ] = []
    cluster = RabbitMQCluster(nodes)
    try:
        for _ in range(SIZE):
            node = PrivateRabbitMQ(
                private_directory("fitboard-rabbitmq-cluster-"), free_port(), free_port()
            )
            nodes.append(node)
            node.prepare()
            _share_cookie(node, cookie)
        await _form(cluster)
        yield cluster
    finally:
        try:
            # Shown by pytest only when the test failed.
            print(cluster.log())
        finally:
            await _remove(cluster)
            for node in nodes:
                shutil.rmtree(node.directory, ignore_errors=True)
