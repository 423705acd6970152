"""The baselines' server: bare FastAPI endpoints under the same uvicorn settings as
`fitboard serve`, doing only what the figure's floor is.

- `POST /v1/workouts`: validates the same body (a pydantic model of the same fields) and
  answers 202 with the same body as fitboard (`{"id", "status": "queued"}`); no
  authentication, no storage.
- `GET /top?key=`: ZREVRANGE key 0 9 WITHSCORES on the same Redis, as JSON.
- `GET /around?key=&member=`: ZREVRANK, then ZREVRANGE rank-5 .. rank+5 WITHSCORES.

    python -m bench.bare --port 8123 [--redis-url redis://127.0.0.1:6379/11]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel

from bench.common import free_port

RADIUS = 5


class WorkoutIn(BaseModel):
    """The fields the benchmarks send, with their types (fitboard's own model also checks
    ranges and plausibility)."""

    activity: str
    started_at: datetime
    duration_s: int
    distance_m: float | None = None


class WorkoutAccepted(BaseModel):
    id: uuid.UUID
    status: Literal["queued"] = "queued"


def create_app(redis_url: str) -> Any:
    import redis.asyncio as redis
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    client = redis.Redis.from_url(redis_url)

    @app.post("/v1/workouts", status_code=202)
    async def post_workout(body: WorkoutIn) -> WorkoutAccepted:
        return WorkoutAccepted(id=uuid.uuid4())

    @app.get("/top")
    async def top(key: str) -> JSONResponse:
        rows = cast(list[tuple[bytes, float]], await client.zrevrange(key, 0, 9, withscores=True))
        return JSONResponse([{"member": m.decode(), "score": s} for m, s in rows])

    @app.get("/around")
    async def around(key: str, member: str) -> JSONResponse:
        rank = cast(int | None, await client.zrevrank(key, member))
        if rank is None:
            return JSONResponse({"rank": None, "neighbors": []})
        start = max(0, rank - RADIUS)
        rows = cast(
            list[tuple[bytes, float]],
            await client.zrevrange(key, start, rank + RADIUS, withscores=True),
        )
        neighbors = [
            {"rank": start + i + 1, "member": m.decode(), "score": s}
            for i, (m, s) in enumerate(rows)
        ]
        return JSONResponse({"rank": rank + 1, "neighbors": neighbors})

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _start(port: int, redis_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.bare", "--port", str(port), "--redis-url", redis_url],
            env={**os.environ},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextlib.asynccontextmanager
async def bare_server(redis_url: str) -> AsyncIterator[str]:
    """This module's server in a subprocess on a free loopback port; yields its URL and
    stops it afterwards."""
    import asyncio

    import httpx

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fitboard-bench-bare-") as tmp:
        log = Path(tmp) / "bare.log"
        process = _start(port, redis_url, log)
        url = f"http://127.0.0.1:{port}"
        try:
            async with (
                httpx.AsyncClient(timeout=2, trust_env=False) as http,
                asyncio.timeout(60),
            ):
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"the bare server exited:\n{log.read_text()}")
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get(f"{url}/readyz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    # The settings of `fitboard serve` that bear on a request's cost (uvloop and httptools
    # are uvicorn's defaults when installed, as for fitboard).
    uvicorn.run(
        create_app(args.redis_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
