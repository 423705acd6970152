"""`Deployment` (processes.py) on a private RabbitMQ cluster (tests/services/rabbitmq_cluster.py):
its processes get every node in FITBOARD_AMQP_URL, and the tests look at the queues through
whichever node is running, on the cluster's `fitboard` vhost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import aio_pika

from tests.integration.processes import Deployment, QueueStats
from tests.services.rabbitmq_cluster import VHOST, RabbitMQCluster


@dataclass
class ClusterDeployment(Deployment):
    """A `Deployment` whose processes use the whole cluster (pass it as `cluster`)."""

    cluster: RabbitMQCluster | None = None

    @property
    def nodes(self) -> RabbitMQCluster:
        assert self.cluster is not None, "a ClusterDeployment needs its cluster"
        return self.cluster

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env["FITBOARD_AMQP_URL"] = self.nodes.url
        return env

    @property
    def broker_vhost(self) -> str:
        return VHOST

    async def queue_names(self) -> list[str]:
        output = await self.nodes.ctl(
            "list_queues", "-p", VHOST, "--quiet", "--no-table-headers", "name"
        )
        return sorted(n for n in output.split() if n.startswith(f"{self.namespace}."))

    async def queue_stats(self, names: Iterable[str] | None = None) -> dict[str, QueueStats]:
        wanted = list(names) if names is not None else await self.queue_names()
        url = self.nodes.node_url(self.nodes.running()[0])
        connection = await aio_pika.connect(url, timeout=10)
        try:
            channel = await connection.channel()
            stats: dict[str, QueueStats] = {}
            for name in wanted:
                result = (await channel.declare_queue(name, passive=True)).declaration_result
                stats[name] = QueueStats(result.message_count or 0, result.consumer_count or 0)
            return stats
        finally:
            await connection.close()

    async def remove_broker_objects(self) -> None:
        """Nothing to remove: the whole cluster is deleted with the test."""

    async def connections_by_node(self) -> dict[str, int]:
        """How many connections to the deployment's vhost each node holds."""
        output = await self.nodes.ctl(
            "list_connections", "--quiet", "--no-table-headers", "pid", "vhost"
        )
        counts: dict[str, int] = {}
        for line in output.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == VHOST:
                # An Erlang pid names its node: <fitboard-test-ab12@localhost.1234.5678.0>.
                node = parts[0].strip("<>").rsplit(".", 3)[0]
                counts[node] = counts.get(node, 0) + 1
        return counts
