"""Production processes on a real three-node RabbitMQ cluster (issue 17): one node is
SIGKILLed under load and started again, and the invariant holds.

The API and two workers run as operators run them, with FITBOARD_AMQP_URL listing the
three nodes of a private cluster (tests/services/rabbitmq_cluster.py), on the session's
PostgreSQL and Redis. Every process connects to the first node of the list while it
answers, so killing that node takes the API's publishing connection, both workers'
consumers and the workouts queue's leader (the queue was declared through that node) at
once; the test checks both before the kill.
While the load runs:

- the API answers 202 or 503 and nothing else: a 503 while its connection was lost or
  the queue had no leader, a 202 only after the broker confirmed;
- afterwards every 202'd workout is stored exactly once, nothing was stored that was not
  accepted but 503'd ones (a 503 means "not confirmed"; it may still have landed), the
  rollups count each workout once, every board equals the record (`fitboard reconcile`
  exit 0) and no achievement was awarded twice.

How long the API answered 503 after the kill, and when the workers took deliveries
again, is printed, not asserted.

The adapter alone, on the same cluster: a publisher whose node is killed together with the
queue's leader publishes on at once, into the moments when the queue has no leader and the
broker refuses (nacks) what it is sent, and must be confirmed again once a leader is
elected (RabbitMQ 3.10 went on refusing everything on a channel that had been refused).

The two tests share one cluster (forming it is most of their time); each leaves its three
nodes running.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Message, QueueSpec
from fitboard.application.ports import QueueUnavailable
from tests.conftest import drop_postgres_database
from tests.integration.cluster_deployment import ClusterDeployment
from tests.integration.processes import (
    Athlete,
    Sent,
    flush_redis,
    load_boards,
    migrated_database,
    started_at_for_tests,
)
from tests.services.rabbitmq_cluster import RabbitMQCluster, rabbitmq_cluster
from tests.services.session import SERVICES

pytestmark = [pytest.mark.production, pytest.mark.asyncio(loop_scope="module")]

ATHLETES = 12
WORKOUTS = 360
CONCURRENCY = 12
# Submissions started per second at most: the load lasts about 12 s however fast the
# machine, so it still runs while the killed node is down (at least DOWN_S plus its restart).
RATE = 30.0
# Sent before the kill: the load is well under way on the first node.
KILL_AFTER = 90
DOWN_S = 3.0


@dataclass
class Timeline:
    """When each request was sent and answered (time.monotonic()), and with what."""

    killed_at: float = 0.0
    restarted_at: float = 0.0
    answers: list[tuple[float, float, int]] = field(default_factory=list)

    def first_202_after_kill_s(self) -> float | None:
        """From the kill to the first 202 of a request sent after it."""
        after = [done for sent, done, code in self.answers if code == 202 and sent > self.killed_at]
        return min(after) - self.killed_at if after else None

    def accepted_while_down(self) -> int:
        """202s to requests sent and answered while the killed node was down."""
        return sum(
            1
            for sent, done, code in self.answers
            if code == 202 and self.killed_at < sent and done < self.restarted_at
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[RabbitMQCluster]:
    async with rabbitmq_cluster() as running:
        print(f"cluster of 3 formed in {running.started_in_s:.1f} s")
        yield running


async def duplicate_awards(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM awards GROUP BY user_id, achievement_id,"
                " period_key HAVING count(*) > 1) d"
            )
        )
    finally:
        await connection.close()


async def test_a_node_killed_under_load_loses_nothing_and_gives_no_unconfirmed_202(
    cluster: RabbitMQCluster, tmp_path: Path
) -> None:
    began = time.monotonic()
    name, url = await migrated_database(tmp_path)
    await flush_redis()
    d = ClusterDeployment(
        tmp_path,
        name,
        url,
        f"cluster-{uuid.uuid4().hex[:10]}",
        redis_url=SERVICES.redis_url,
        cluster=cluster,
    )
    try:
        await d.start(workers=2)
        # Declared once the three nodes were joined: a member on each.
        assert await cluster.quorum_members(d.queue.name) == 3
        # Declared through the first node, which holds the leader: the kill makes the
        # two others elect a new one while publishes and consumers move to them.
        assert await cluster.quorum_leader(d.queue.name) == 0
        first = cluster.nodes[0].nodename
        # Every process went to the first node of the list: killing it cuts them all.
        assert set(await d.connections_by_node()) == {first}

        athletes = [await d.register(f"c{n}") for n in range(ATHLETES)]
        moment = started_at_for_tests()
        boards = await load_boards(d, athletes[0], moment)
        timeline = Timeline()
        sent: list[Sent] = []
        slots = asyncio.Semaphore(CONCURRENCY)
        under_way = asyncio.Event()

        load_began = time.monotonic()

        async def one(n: int, athlete: Athlete) -> Sent:
            await asyncio.sleep(max(0.0, load_began + n / RATE - time.monotonic()))
            async with slots:
                result = await d.submit(
                    athlete,
                    started_at=moment,
                    duration_s=1200 + 7 * n,
                    distance_m=3000 + 11 * n,
                )
            done = time.monotonic()
            timeline.answers.append((done - result.elapsed_s, done, result.status_code))
            sent.append(result)
            if len(sent) >= KILL_AFTER:
                under_way.set()
            return result

        async def chaos() -> None:
            await under_way.wait()
            timeline.killed_at = time.monotonic()
            await cluster.kill(0)
            await asyncio.sleep(DOWN_S)
            await cluster.start(0)
            timeline.restarted_at = time.monotonic()

        plan = [athletes[n % ATHLETES] for n in range(WORKOUTS)]
        chaos_task = asyncio.create_task(chaos())
        await asyncio.gather(*(one(n, a) for n, a in enumerate(plan)))
        await chaos_task
        accepted = [s for s in sent if s.status_code == 202]
        refused = [s for s in sent if s.status_code == 503]
        assert all(s.retry_after for s in refused), "a 503 without Retry-After"
        first_202 = timeline.first_202_after_kill_s()
        down_s = timeline.restarted_at - timeline.killed_at
        print(
            f"{len(accepted)} answered 202, {len(refused)} 503; first 202 to a request "
            f"sent after the kill {first_202 if first_202 is None else round(first_202, 2)}"
            f" s; node down {down_s:.1f} s (its restart included), "
            f"{timeline.accepted_while_down()} answered 202 meanwhile"
        )
        # The load went on past the kill: the API failed over and answered 202, each
        # after a confirm from the nodes still running, while the node was down.
        assert timeline.accepted_while_down() > 0

        drained_from = time.monotonic()
        await d.wait_drained([s.id for s in accepted], within_s=60)
        print(f"drained {time.monotonic() - drained_from:.1f} s after the load ended")
        await d.stop_workers()
        await d.check_invariant(accepted, also_allowed=[s.id for s in refused], boards=boards)
        assert await duplicate_awards(url.replace("+asyncpg", "", 1)) == 0
    finally:
        await d.stop_all()
        if d._client is not None:
            await d._client.aclose()
        print(d.logs()[-30_000:])
        await flush_redis()
        await asyncio.to_thread(drop_postgres_database, name)
        if 0 not in cluster.running():
            await cluster.start(0)  # for the next test, should this one have failed
    print(f"whole test {time.monotonic() - began:.1f} s")


async def test_a_publisher_refused_by_a_leaderless_queue_is_confirmed_again(
    cluster: RabbitMQCluster,
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(cluster.url, exchange=f"nack-{suffix}", confirm_timeout_s=2.0)
    spec = QueueSpec(f"nack-{suffix}.q", ("k",))
    try:
        await broker.declare(spec)
        # Declared through the first node, which holds its leader and the publisher.
        assert await cluster.quorum_leader(spec.name) == 0
        await broker.publish(Message("k", b"0", "before"))
        await cluster.kill(0)
        killed = time.monotonic()
        refused = confirmed = 0
        first_confirm_s: float | None = None
        n = 0
        # Publish on at once, into the election: the first publishes go to the next node
        # while the queue has no leader. Bounded: without a fresh channel, none of them
        # was confirmed in 20 s (RabbitMQ 3.10).
        while confirmed < 20 and time.monotonic() - killed < 20:
            n += 1
            try:
                await broker.publish(Message("k", str(n).encode(), f"after-{n}"))
            except QueueUnavailable:
                refused += 1
                await asyncio.sleep(0.05)
            else:
                confirmed += 1
                if first_confirm_s is None:
                    first_confirm_s = time.monotonic() - killed
        print(
            f"after the kill: {refused} publishes refused, first confirm after "
            f"{first_confirm_s if first_confirm_s is None else round(first_confirm_s, 2)} s"
        )
        assert confirmed == 20, f"{refused} refused, only {confirmed} confirmed in 20 s"
        # The confirmed ones are on the queue (a refused one may be too: not confirmed is
        # not "not stored"), read from the nodes still running.
        assert (await broker.depth(spec)).ready >= 1 + confirmed
    finally:
        await broker.close()
        if 0 not in cluster.running():
            await cluster.start(0)
