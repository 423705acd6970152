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
from datetime import timedelta
from typing import TYPE_CHECKING

from fitboard.application.ports import PortError

if TYPE_CHECKING:
    from fitboard.bootstrap import Container

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0


async def run_period_jobs(container: Container, stop: asyncio.Event) -> None:
    """Judge closed periods now, then every CHECK_EVERY_S, until `stop` is set; tell the
    athletes placed, live."""
    services = container.services
    grace = timedelta(seconds=container.settings.period_close_grace_s)
    while not stop.is_set():
        try:
            awarded = await services.achievements.award_closed_placements(
                now=container.clock.now(), grace=grace
            )
            if awarded:
                log.info("awarded %d placements", len(awarded))
                await services.worker.announce_placements(awarded)
        except PortError as exc:
            log.warning("placement job postponed: %s", exc)
        except Exception:
            # A bug here must not take the worker down with it; the next round retries.
            log.exception("placement job failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CHECK_EVERY_S)
