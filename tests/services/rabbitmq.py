"""A RabbitMQ node of the tests' own, which a test may kill, stop, block and start again.

The machine's broker serves other things; the tests never use it: a test that stops a
broker or raises its memory alarm breaks whatever else is using it. A private node has a name of its
own (`fitboard-test-<hex>@localhost`), its own AMQP and distribution ports on loopback,
its own data, log and Erlang cookie in a fresh directory, and no plugins; the default
`guest` user may connect from loopback. `rabbitmqctl -n <node>` with the same cookie
controls it and nothing else. It comes back on the same ports with the same data, as a
restarted broker does in production. The session's node (tests/services/session.py) is
one; a test that kills the broker starts one of its own with `private_rabbitmq`, which
removes everything when the block ends, whatever happened inside it.

The node runs as the current user (root in CI: RabbitMQ allows that). The scripts come
from Debian's rabbitmq-server package (/usr/lib/rabbitmq/bin); without them this module
fails loudly rather than skipping, since `make test` installs them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from .running import (
    eventually,
    free_port,
    private_directory,
    refuses_connections,
    run_command,
)

SCRIPTS = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT_S = 120.0

# For `await_dead_letter_workers`: how many quorum queues with at-least-once dead-lettering
# this node leads, and how many of their dead-letter workers here are done starting (a
# worker answers `sys:get_state` only once its `handle_continue` is over, the step that
# looks its queue up and crashes if the queue is gone); or that their supervisor is gone.
_DEAD_LETTER_WORKERS = """
Want = length([Q || Q <- rabbit_amqqueue:list(),
                    amqqueue:get_type(Q) =:= rabbit_quorum_queue,
                    element(2, amqqueue:get_pid(Q)) =:= node(),
                    rabbit_misc:table_lookup(amqqueue:get_arguments(Q),
                                             <<"x-dead-letter-strategy">>)
                        =:= {longstr, <<"at-least-once">>}]),
case catch supervisor:which_children(rabbit_fifo_dlx_sup) of
    Children when is_list(Children) ->
        Ready = length([P || {_, P, _, _} <- Children, is_pid(P),
                             (catch element(1, sys:get_state(P, 5000))) =:= state]),
        io:format("dead-letter workers ~b of ~b~n", [Ready, Want]);
    _ ->
        io:format("dead-letter supervisor gone~n")
end.
"""


def _script(name: str) -> str:
    """The real script, not Debian's /usr/sbin wrapper, which switches to the `rabbitmq`
    user and that user's cookie and data directory."""
    if (SCRIPTS / name).is_file():
        return str(SCRIPTS / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} not found ({SCRIPTS}, PATH): install rabbitmq-server "
            "(scripts/install-test-tools.sh does)"
        )
    return found


@dataclass
class PrivateRabbitMQ:
    directory: Path
    port: int
    dist_port: int
    nodename: str = field(default_factory=lambda: f"fitboard-test-{secrets.token_hex(4)}@localhost")
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            # The cookie in this HOME is what lets rabbitmqctl talk to this node alone.
            "HOME": str(self.directory / "home"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.directory / "node.pid"),
            # A VM that dies (this node, or a rabbitmqctl run for it, which runs in the
            # caller's directory) writes its dump here, not into the checkout; where the
            # directory is gone already (a rabbitmqctl outliving the node), nowhere.
            "ERL_CRASH_DUMP": str(self.directory / "erl_crash.dump"),
        }

    def prepare(self) -> None:
        home = self.directory / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            # guest may log in from loopback, the only address the node listens on.
            "loopback_users = none\n"
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [_script("rabbitmq-server")],
                cwd=self.directory,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group, so `kill` takes the whole Erlang VM with it.
                start_new_session=True,
            )

    async def start(self, within_s: float = START_TIMEOUT_S) -> None:
        """Start the node (again) on the same ports and data; returns once it accepts AMQP
        connections."""
        assert self.process is None, "already running"
        self.process = process = self._spawn()

        async def accepts() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited {process.returncode}:\n{self.log()}")
            try:
                connection = await aio_pika.connect(self.url, timeout=2)
            except (*CONNECTION_EXCEPTIONS, TimeoutError):
                return False
            await connection.close()
            return True

        await eventually(accepts, within_s=within_s, every_s=0.25)

    async def kill(self, within_s: float = 30.0) -> None:
        """SIGKILL to the whole node: a crash, every connection cut at once. What was
        confirmed is on disk; the next `start` recovers it."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await eventually(lambda: process.poll() is not None, within_s=within_s)
        # The script that was killed first is not the Erlang VM, which may take a moment
        # longer to die and let go of its port: the node is gone once nothing listens.
        await eventually(lambda: refuses_connections(self.port), within_s=within_s, every_s=0.1)
        self.process = None

    async def ctl(self, *args: str, timeout_s: float = 60.0) -> str:
        """rabbitmqctl against this node only."""
        code, output = await run_command(
            _script("rabbitmqctl"), "-n", self.nodename, *args, timeout_s=timeout_s, env=self._env()
        )
        if code != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed ({code}):\n{output}")
        return output

    async def start_app(self) -> None:
        """`rabbitmqctl start_app` after a `stop_app`; returns once the node is up and its
        dead-letter workers have started (`await_dead_letter_workers`)."""
        await self.ctl("start_app")
        await self.ctl("await_startup")
        await self.await_dead_letter_workers()

    async def await_dead_letter_workers(self, within_s: float = 60.0) -> None:
        """Wait until every quorum queue with at-least-once dead-lettering that this node
        leads has its dead-letter worker started, as the node starts them after a start.

        RabbitMQ 3.10: a queue deleted while its worker is starting crashes that worker on
        each restart until their supervisor (one for every queue on the node) gives up;
        from then on every such queue fails to start, so declaring one is refused with
        INTERNAL_ERROR, until the app is restarted. A test that deletes its queues right
        after a restart (its cleanup) would break the node for the rest of the session, as
        seen in CI; waiting here first avoids it. For a single node: in a cluster a queue
        led elsewhere has its worker there."""
        last = ""

        async def started() -> bool:
            nonlocal last
            last = await self.ctl("eval", _DEAD_LETTER_WORKERS)
            if "dead-letter supervisor gone" in last:
                raise RuntimeError(
                    f"{self.nodename} lost its dead-letter workers' supervisor: a quorum "
                    "queue was deleted while its worker was starting (RabbitMQ 3.10); every "
                    "queue with at-least-once dead-lettering now fails until start_app:\n"
                    + self.log()[-20_000:]
                )
            found = re.search(r"dead-letter workers (\d+) of (\d+)", last)
            return found is not None and int(found[1]) >= int(found[2])

        try:
            await eventually(started, within_s=within_s, every_s=0.2)
        except TimeoutError:
            raise RuntimeError(
                f"the dead-letter workers of {self.nodename} did not start within "
                f"{within_s:.0f} s ({last.strip()}):\n{self.log()[-20_000:]}"
            ) from None

    def log(self) -> str:
        parts = [self.log_path, *sorted((self.directory / "log").glob("*.log"))]
        return "".join(
            f"===== private RabbitMQ {self.nodename}: {path.name} =====\n"
            + path.read_text(errors="replace")
            for path in parts
            if path.exists()
        )


async def start_rabbitmq() -> PrivateRabbitMQ:
    """A running node; the caller removes it with `remove_rabbitmq`."""
    node = PrivateRabbitMQ(private_directory("fitboard-rabbitmq-"), free_port(), free_port())
    try:
        node.prepare()
        await node.start()
    except BaseException:
        await remove_rabbitmq(node)
        raise
    return node


async def remove_rabbitmq(node: PrivateRabbitMQ) -> None:
    """Kill the node and delete its directory."""
    try:
        await node.kill()
    finally:
        shutil.rmtree(node.directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_rabbitmq() -> AsyncIterator[PrivateRabbitMQ]:
    """A running RabbitMQ node of this block's own; killed and deleted afterwards."""
    node = await start_rabbitmq()
    try:
        yield node
    finally:
        try:
            await node.kill()
        finally:
            # Shown by pytest only when the test failed.
            print(node.log()[-20_000:])
            await remove_rabbitmq(node)
