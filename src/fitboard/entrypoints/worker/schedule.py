"""Jobs that run when a period closes (board placements), beside every worker.

A period is judged once its grace window (`FITBOARD_PERIOD_CLOSE_GRACE_S`) has passed
after its close, and every closed period not judged yet is judged, oldest first, so a
period that closed while no worker ran is judged when one runs again.

Every worker runs the loop; the record's claim makes each (job, period) happen once, and
the claim commits together with the awards, so a crash half-way leaves nothing claimed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from fitboard.application.achievements.judging import Awarded, award_closed_placements
from fitboard.application.ports import PortError
from fitboard.bootstrap import Container

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0

OnAwarded = Callable[[Sequence[Awarded]], Awaitable[None]]


async def run_period_jobs(
    container: Container, stop: asyncio.Event, on_awarded: OnAwarded | None = None
) -> None:
    while not stop.is_set():
        try:
            awarded = await award_closed_placements(
                store=container.store,
                rules=container.achievement_rules,
                now=container.clock.now(),
                zone=container.rules.board_zone,
                grace=timedelta(seconds=container.settings.period_close_grace_s),
            )
            if awarded:
                log.info("awarded %d placements", len(awarded))
                if on_awarded is not None:
                    await on_awarded(awarded)
        except PortError as exc:
            log.warning("placement job postponed: %s", exc)
        except Exception:
            # A bug here must not take the worker down with it; the next round retries.
            log.exception("placement job failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)
