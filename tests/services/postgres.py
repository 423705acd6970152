"""A PostgreSQL server of the tests' own, which a test may crash and start again.

The machine's PostgreSQL serves other things; the tests never use it. A private server
listens on a free loopback port, keeps its files in a fresh directory under the system's
temporary directory, and comes back on the same port with the same files, as a restarted
server does in production. The session's server (tests/services/session.py) is one; a test
that crashes PostgreSQL starts one of its own with `private_postgres`, which removes
everything when the block ends, whatever happened inside it.

PostgreSQL refuses to run as root (tests do, in CI): then `initdb` and `pg_ctl` run as
the `postgres` OS user (through `runuser`), which owns the directory. The binaries come
from `pg_config --bindir` or /usr/lib/postgresql/*/bin; without them this module fails
loudly rather than skipping, since `make test` installs them (scripts/install-test-tools.sh).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from .running import free_port, private_directory, run_command

# The OS user that runs PostgreSQL when the tests run as root (Debian's package creates it).
POSTGRES_OS_USER = "postgres"
SUPERUSER = "postgres"
# The role and database fitboard uses, as an operator would set them up: not a superuser.
ROLE = "fitboard"
DATABASE = "fitboard"
START_TIMEOUT_S = 60


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are. pg_config may belong to a client library of another
    version than the server installed, so every candidate is checked for both."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=10
        )
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    # Newest first: "15" < "9" as text, so sort by the version as a number.
    installed = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        installed, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise RuntimeError(
        "initdb and pg_ctl not found (pg_config --bindir, /usr/lib/postgresql/*/bin): "
        "install the PostgreSQL server package (scripts/install-test-tools.sh does)"
    )


def _server_user() -> pwd.struct_passwd | None:
    """The OS user to run PostgreSQL as, or None for the current one (when not root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root, and PostgreSQL refuses root: needs the OS user "
            f"{POSTGRES_OS_USER!r} (the PostgreSQL server package creates it)"
        ) from None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster in `directory`, listening on 127.0.0.1:`port` only, trusting
    every loopback connection (nothing else can reach it)."""

    directory: Path
    port: int
    bindir: Path
    server_user: pwd.struct_passwd | None
    running: bool = False

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def database_url(self) -> str:
        """fitboard's database, as FITBOARD_DATABASE_URL (SQLAlchemy, asyncpg)."""
        return f"postgresql+asyncpg://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    async def _run(self, tool: str, *args: str, timeout_s: float = START_TIMEOUT_S) -> str:
        argv = [str(self.bindir / tool), *args]
        if self.server_user is not None:
            argv = ["runuser", "-u", self.server_user.pw_name, "--", *argv]
        code, output = await run_command(*argv, timeout_s=timeout_s)
        if code != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({code}):\n{output}\n{self.log()}")
        return output

    async def init(self) -> None:
        """A new cluster, configured to listen on its port and loopback only."""
        await self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            # Its files are thrown away with the test: no need to wait for the disk.
            "--no-sync",
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            # fsync guards against a crash of the machine, not of the server: a server
            # killed with `pg_ctl stop -m immediate` keeps every commit either way.
            "fsync": "off",
            "max_connections": "100",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{name} = {value}\n" for name, value in settings.items()))

    async def start(self) -> None:
        """Start the server (again) on the same port and files; returns once it accepts
        connections."""
        await self._run(
            "pg_ctl",
            "start",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_path),
            "--wait",
            "--timeout",
            str(START_TIMEOUT_S),
            timeout_s=START_TIMEOUT_S + 10,
        )
        self.running = True

    async def stop(self, *, mode: str = "immediate") -> None:
        """`immediate` is a crash: every connection is cut at once, no checkpoint, and
        the next start recovers from the WAL. `fast` is an orderly shutdown."""
        await self._run("pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode, "--wait")
        self.running = False

    async def create_database(self) -> None:
        connection = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            await connection.execute(f'CREATE ROLE "{ROLE}" LOGIN')
            await connection.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{ROLE}"')
        finally:
            await connection.close()

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return f"===== private PostgreSQL :{self.port} =====\n" + self.log_path.read_text(
            errors="replace"
        )


async def start_postgres() -> PrivatePostgres:
    """A running PostgreSQL with an empty database `fitboard` owned by the role `fitboard`.
    The caller removes it with `remove_postgres`."""
    server_user = _server_user()
    server = PrivatePostgres(
        private_directory("fitboard-pg-", server_user), free_port(), postgres_bindir(), server_user
    )
    try:
        await server.init()
        await server.start()
        await server.create_database()
    except BaseException:
        await remove_postgres(server)
        raise
    return server


async def remove_postgres(server: PrivatePostgres) -> None:
    """Stop the server if it runs and delete its files."""
    try:
        if server.running:
            await server.stop()
    finally:
        shutil.rmtree(server.directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A running PostgreSQL of this block's own with an empty database `fitboard` owned by
    the role `fitboard`. Stopped and deleted afterwards, whatever happened."""
    server = await start_postgres()
    try:
        yield server
    finally:
        try:
            if server.running:
                await server.stop()
        finally:
            # Shown by pytest only when the test failed.
            print(server.log())
            await remove_postgres(server)
