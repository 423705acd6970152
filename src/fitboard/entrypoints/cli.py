"""The `fitboard` command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from fitboard.application.ports import (
    DependencyUnavailable,
    QueueUnavailable,
    RankingBusy,
    RankingUnavailable,
    StoreUnavailable,
)
from fitboard.config import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from fitboard.application.boards.maintenance import Rebuilt, ReconcileReport
    from fitboard.application.seeding.seeding import Seeded
    from fitboard.bootstrap import Container, Role

app = typer.Typer(
    help="fitboard: workouts accepted instantly; calories, live leaderboards and badges "
    "a second later.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="The system of record.", no_args_is_help=True)
dead_letters_app = typer.Typer(help="Messages that could not be processed.", no_args_is_help=True)
users_app = typer.Typer(help="Athletes' accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(dead_letters_app, name="dead-letters")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]configuration error:[/red] {error['msg']}")
        raise typer.Exit(2) from None


def _logging(settings: Settings) -> None:
    from fitboard.entrypoints.logs import configure

    configure(settings.log_level, settings.log_format)
    # Alembic announces each of its plugins at INFO when it is imported: noise to an
    # operator, who learns what the migrations did from their own lines.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# What to check when a dependency cannot be reached, by the port that said so; the first
# kind that matches wins, so a subclass comes before its base.
_UNREACHABLE: dict[type[DependencyUnavailable], str] = {
    RankingBusy: "a board is being rebuilt by another process, or this rebuild lost its "
    "lock to one (run the command again once that rebuild is done)",
    StoreUnavailable: "the database cannot be reached (check FITBOARD_DATABASE_URL, or the "
    "data directory in embedded mode, and that the server runs)",
    RankingUnavailable: "Redis cannot be reached (check FITBOARD_REDIS_URL and that the "
    "server runs)",
    QueueUnavailable: "the queue cannot be reached (check FITBOARD_AMQP_URL, or the data "
    "directory in embedded mode, and that the server runs)",
}


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run a command's coroutine. A dependency that cannot be reached ends it with one line
    saying which and what to check, and exit status 1; its traceback only when
    FITBOARD_LOG_LEVEL=debug."""
    try:
        return _run_loop(coro_fn)
    except DependencyUnavailable as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        what = next(
            (text for kind, text in _UNREACHABLE.items() if isinstance(exc, kind)),
            "a dependency cannot be reached",
        )
        err.print(f"[red]error:[/red] {what}: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


def _run_loop(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_fn()

    # uvloop, as uvicorn uses for the API: a worker's workout is a dozen round trips to
    # three servers, and uvloop's loop does their bookkeeping in C (5-15% less CPU per
    # workout, measured in process).
    try:
        import uvloop
    except ImportError:  # not on Windows; asyncio's own loop works, only slower
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def _in_process(
    settings: Settings, work: Callable[[Container], Awaitable[T]], role: Role | None = None
) -> T:
    """Build the process of `role` (a maintenance command's by default), do `work` with
    it and close it, as `_run` runs a coroutine: a dependency that cannot be reached is
    one line."""
    from fitboard.bootstrap import Role, started

    async def main() -> T:
        async with started(settings, role or Role.MAINTENANCE) as container:
            return await work(container)

    return _run(main)


def _refuse_if_served_elsewhere(settings: Settings) -> None:
    from fitboard.adapters.data_dir_lock import DataDirInUse
    from fitboard.bootstrap import check_can_serve

    try:
        check_can_serve(settings)
    except DataDirInUse as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the API (and, in embedded mode, the worker beside it)."""
    import uvicorn

    from fitboard.bootstrap import describe
    from fitboard.entrypoints.api import create_app

    settings = _settings(host=host, port=port)
    _logging(settings)
    _refuse_if_served_elsewhere(settings)
    # Reach every dependency once before serving, so one that is down is one line here
    # rather than a traceback from inside the server's start-up.
    _in_process(settings, lambda c: c.services.operations.reach_all())
    mode = describe(settings)
    err.print(
        f"fitboard {mode.name} mode ({mode.where}) on "
        f"http://{settings.host}:{settings.port}  — API docs at /docs"
    )
    app = create_app(settings)
    from fitboard.entrypoints.process import tune_garbage_collector

    tune_garbage_collector(settings.gc_gen0_threshold)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
        # uvicorn's own lines go through fitboard's logging (one format, request ids).
        log_config=None,
        # Compressing every frame costs CPU per message per client, on both sides: a board
        # snapshot fanned out to thousands compresses thousands of times. Socket.IO's own
        # server turned permessage-deflate off by default for the same reason.
        ws_per_message_deflate=False,
    )


@app.command()
def worker() -> None:
    """Process submitted workouts (production mode; embedded `serve` runs one itself)."""
    from fitboard.bootstrap import Role
    from fitboard.entrypoints.worker.runner import run_worker_process

    settings = _settings()
    _logging(settings)
    _refuse_if_served_elsewhere(settings)
    _in_process(settings, run_worker_process, Role.WORKER)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) up to the newest."""
    from fitboard.bootstrap import upgrade_database

    settings = _settings()
    _run(lambda: upgrade_database(settings))
    console.print("[green]database is up to date[/green]")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


class _Bars:
    """One progress bar at a time (rich shows one live display at once), each shown from
    the first progress its step reports: a step that reports none (removing the boards of
    an earlier key layout from an index that has none) shows no bar."""

    def __init__(self) -> None:
        self._shown: tuple[str, Progress, TaskID] | None = None

    def update(self, step: str, completed: int, total: int | None = None) -> None:
        if self._shown is None or self._shown[0] != step:
            self.close()
            bar = _progress()
            bar.start()
            self._shown = (step, bar, bar.add_task(step, total=None))
        _, bar, task = self._shown
        bar.update(task, completed=completed, total=total)

    def close(self) -> None:
        if self._shown is not None:
            self._shown[1].stop()
            self._shown = None


@app.command()
def rebuild() -> None:
    """Rebuild leaderboards from the record: every board the index holds, plus the
    current period of every global and activity board. On Redis it first deletes the
    boards of the previous key layout (left by an upgrade), and rebuilds those it held
    loaded."""
    settings = _settings()

    async def work(container: Container) -> Rebuilt:
        bars = _Bars()
        try:
            return await container.services.maintenance.rebuild(
                removing=lambda n: bars.update("removing boards of the old key layout", n),
                progress=lambda n, total: bars.update("rebuilding boards", n, total),
            )
        finally:
            bars.close()

    rebuilt = _in_process(settings, work)
    old = rebuilt.old_layout
    if old is not None:
        console.print(
            f"removed {old.keys} keys of the old board layout"
            f" ({len(old.loaded)} loaded boards, rebuilt in the new layout)"
        )
    console.print(f"rebuilt {rebuilt.boards} boards, {rebuilt.entries} entries")


@app.command()
def reconcile(
    repair: Annotated[bool, typer.Option(help="Reload every board that differs.")] = False,
    warm: Annotated[
        bool, typer.Option(help="Also load every board not loaded yet (cold) from the record.")
    ] = False,
) -> None:
    """Compare every leaderboard the record implies, and every one the index holds, with
    the totals derived from the record; exit 1 when differences remain. Run it with the
    queues drained. Embedded mode: `fitboard serve`, which holds the boards, checks them."""
    from fitboard.bootstrap import maintenance_socket

    settings = _settings()
    served = maintenance_socket(settings)
    with _progress() as bar:
        task = bar.add_task("checking boards", total=None)

        def advance(checked: int, total: int) -> None:
            bar.update(task, completed=checked, total=total)

        if served is None:

            async def work(container: Container) -> ReconcileReport:
                return await container.services.maintenance.reconcile(
                    repair=repair, warm=warm, progress=advance
                )

            report = _in_process(settings, work)
        else:
            report = _reconcile_served(settings, served, repair, warm, advance)
    _print_reconcile(report, repair=repair, warm=warm)
    raise typer.Exit(1 if report.difference_count and not repair else 0)


def _reconcile_served(
    settings: Settings,
    socket: Path,
    repair: bool,
    warm: bool,
    progress: Callable[[int, int], None],
) -> ReconcileReport:
    """Embedded mode: ask the `fitboard serve` of the data directory to reconcile the boards
    in its memory. With none running there are no boards to check: they are built from the
    record when it starts."""
    from fitboard.adapters.data_dir_lock import DataDirInUse
    from fitboard.bootstrap import check_can_serve
    from fitboard.entrypoints.maintenance_socket import MaintenanceUnreachable, reconcile_served

    try:
        check_can_serve(settings)
    except DataDirInUse:
        pass
    else:
        console.print(
            f"no `fitboard serve` runs on {settings.data_dir}: embedded boards live in its "
            "memory and are built from the record when it starts, so there are none to check"
        )
        raise typer.Exit(0)
    try:
        return _run_loop(
            lambda: reconcile_served(socket, repair=repair, warm=warm, progress=progress)
        )
    except MaintenanceUnreachable as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


def _print_reconcile(report: ReconcileReport, *, repair: bool, warm: bool) -> None:
    if report.differences:
        table = Table("board", "user", "index", "record")
        for d in report.differences[:200]:
            table.add_row(str(d.key), str(d.user_id), str(d.in_index), str(d.in_record))
        console.print(table)
    console.print(
        f"{report.implied} boards implied by the record, {report.cold} of them cold (not "
        f"loaded: built from the record on first read; {report.partly_held} held in part "
        f"(a load under way, an interrupted one, or an earlier release's writes): not "
        f"compared; --repair drops those no load has finished), {report.not_implied} "
        f"held that the record does not imply; {report.record_entries} entries in the "
        f"record, {report.entries_compared} compared"
    )
    console.print(
        f"checked {report.boards_checked} boards: {report.difference_count} differences"
        + (f" in {len(report.differing)} boards" if report.differing else "")
        + (f", repaired {len(report.repaired)} boards" if repair else "")
        + (f", dropped {report.dropped} boards held but not loaded" if repair else "")
        + (f", loaded {report.warmed} cold boards" if warm else "")
    )


@dead_letters_app.command("list")
def dead_letters_list(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Show messages that were given up on, with the reason."""
    settings = _settings()
    letters = _in_process(settings, lambda c: c.services.operations.dead_letters(limit))
    table = Table("message id", "attempts", "failed at", "reason")
    for letter in letters:
        table.add_row(
            letter.message.message_id,
            str(letter.attempts),
            letter.failed_at.isoformat(timespec="seconds"),
            letter.reason,
        )
    console.print(table)
    console.print(f"{len(letters)} dead letters")


@dead_letters_app.command("replay")
def dead_letters_replay(
    message_id: Annotated[
        list[str] | None, typer.Argument(help="Ids to replay; all when none given.")
    ] = None,
) -> None:
    """Put dead letters back on the queue for another try."""
    settings = _settings()
    moved = _in_process(
        settings, lambda c: c.services.operations.replay_dead_letters(message_id or None)
    )
    console.print(f"replayed {moved} messages")


@app.command()
def status(
    largest: Annotated[int, typer.Option(min=1, max=100, help="Boards to list.")] = 5,
) -> None:
    """How fitboard stands: the queue's backlog and dead letters, the boards and the memory
    they take, the size of the record."""
    from fitboard.bootstrap import describe

    settings = _settings()
    now = _in_process(settings, lambda c: c.services.operations.status(largest))
    depth, ranking = now.queue, now.boards
    table = Table("", "", show_header=False)
    table.add_row("mode", describe(settings).name)
    # The queue's own messages: on RabbitMQ one may carry several workouts
    # (FITBOARD_QUEUE_ITEMS_PER_MESSAGE).
    table.add_row("messages waiting for a worker", str(depth.ready))
    table.add_row("waiting out a retry", str(depth.retrying))
    if depth.in_flight is not None:
        table.add_row("being processed", str(depth.in_flight))
    if depth.consumers is not None:
        table.add_row("workers consuming", str(depth.consumers))
    table.add_row("oldest waiting workout", _age(now.oldest_unprocessed_age_s))
    table.add_row("dead letters", str(depth.dead_letters))
    table.add_row("record size", _bytes(now.record_bytes))
    if not ranking.shared:
        table.add_row("boards", "held in the memory of `fitboard serve`, not shown here")
    else:
        table.add_row("boards held", str(ranking.boards))
        for key, size in ranking.largest:
            table.add_row(f"  {key}", f"{size} entries")
    if ranking.memory_bytes is not None:
        limit = ranking.memory_limit_bytes
        table.add_row(
            "Redis memory",
            _bytes(ranking.memory_bytes) + (f" of {_bytes(limit)}" if limit else " (no limit)"),
        )
        table.add_row("Redis evicted keys", str(ranking.evicted_keys or 0))
    console.print(table)


# Bounds of `fitboard seed`: a synthetic username holds the seed and the athlete's index
# in 32 characters (domain/synthetic.py).
_SEED_LIMITS = {"--users": (1, 1_000_000), "--workouts": (0, 100_000_000), "--days": (1, 3650)}
_MAX_SEED = 999_999


@app.command()
def seed(
    users: Annotated[int, typer.Option("--users", help="Synthetic athletes to create.")],
    workouts: Annotated[int, typer.Option("--workouts", help="Workouts to submit in all.")],
    days: Annotated[int, typer.Option("--days", help="Spread them over the last D days.")] = 30,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help=f"0-{_MAX_SEED}: the same seed makes the same community; random when not given.",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(help="The athletes' shared password; generated and shown when not given."),
    ] = None,
) -> None:
    """Fill the record with a synthetic community: athletes (shared password), groups,
    and workouts submitted through the queue as the API does, for the workers to
    process. Embedded mode: `fitboard serve` processes them, while it runs or once it
    starts."""
    import secrets

    from fitboard.application.seeding.seeding import SeedingRefused, SeedPlan
    from fitboard.domain.errors import InvalidField

    for option, value in (("--users", users), ("--workouts", workouts), ("--days", days)):
        low, high = _SEED_LIMITS[option]
        if not low <= value <= high:
            _usage_error(f"{option} must be between {low:,} and {high:,}, not {value}")
    if seed is not None and not 0 <= seed <= _MAX_SEED:
        _usage_error(f"--seed must be between 0 and {_MAX_SEED:,}, not {seed}")
    chosen = seed if seed is not None else secrets.randbelow(_MAX_SEED + 1)
    shared_password = password or secrets.token_urlsafe(12)
    settings = _settings()
    plan = SeedPlan(athletes=users, workouts=workouts, days=days, seed=chosen)

    async def work(container: Container) -> Seeded:
        await container.services.seeding.check(plan, shared_password)
        with _progress() as bar:
            athletes = bar.add_task("athletes created", total=users)
            # Its clock starts with its first write, once the athletes are in.
            queued = bar.add_task("workouts queued", total=workouts, start=False)

            def workouts_queued(count: int) -> None:
                bar.start_task(queued)
                bar.advance(queued, count)

            return await container.services.seeding.seed(
                plan,
                shared_password,
                athletes_written=lambda n: bar.advance(athletes, n),
                workouts_queued=workouts_queued,
            )

    try:
        done = _in_process(settings, work)
    except SeedingRefused as exc:
        err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except InvalidField as exc:
        _usage_error(f"--{exc.field}: {exc.message}")
    console.print(
        f"seed {chosen}: {done.athletes} athletes, {done.groups} groups "
        f"({done.memberships} members besides their owners), {done.workouts_queued} workouts "
        "queued" + (f", {done.workouts_refused} refused" if done.workouts_refused else "")
    )
    console.print(
        f"every seeded athlete signs in with the password {shared_password!r} "
        f"(for example {done.first_username})"
    )
    console.print("`fitboard status` shows the workers working through the backlog.")


def _usage_error(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(2)


def _age(seconds: float) -> str:
    """How long the oldest accepted workout has waited; "none" when none waits."""
    if seconds <= 0:
        return "none"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@app.command()
def reports() -> None:
    """Keep monthly reports (a consumer of workout.processed; embedded `serve` runs one)."""
    from fitboard.bootstrap import Role
    from fitboard.entrypoints.reports.runner import run_reports_process

    settings = _settings()
    _logging(settings)
    _in_process(settings, run_reports_process, Role.REPORTS)


@users_app.command("promote")
def users_promote(
    username: Annotated[str, typer.Argument(help="The athlete to make an admin.")],
    revoke: Annotated[bool, typer.Option(help="Take admin rights away instead.")] = False,
) -> None:
    """Grant (or revoke) admin rights: admins create challenges."""
    settings = _settings()
    if not _in_process(settings, lambda c: c.services.admins.promote(username, revoke=revoke)):
        err.print(f"[red]no athlete named {username!r}[/red]")
        raise typer.Exit(1)
    console.print(f"{username} is {'no longer ' if revoke else ''}an admin")


def main() -> None:
    app()
