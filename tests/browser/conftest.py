"""The browser app, end to end, in Debian's headless Chromium driven by Playwright.

Each test runs its own `fitboard serve` (embedded mode, a fresh data directory, a free
loopback port) and talks to it only through the app; a test marked `production` runs it in
production mode instead (`production_visitors`): `fitboard serve` and a separate
`fitboard worker` on the tests' private PostgreSQL, Redis and RabbitMQ (tests/services),
started by tests/integration/processes.py's `Deployment`. Chromium is launched from
/usr/bin/chromium (never `playwright install`) with its background networking off; every
request a page makes that is not for the server is refused and recorded, and a test fails
if there was one: the app must work without internet. Screenshots are written under
tmp/artifacts/browser/ for people to look at.

scripts/install-browser-test-tools.sh installs what these tests need (chromium, and
axe-core by `npm ci` in web/)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.integration.processes import Deployment, deployment, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tmp" / "artifacts" / "browser"
FITBOARD = str(Path(sys.executable).with_name("fitboard"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
# Every wait in these tests is bounded by this (Playwright's expect and waits).
WAIT_MS = 15_000
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
expect.set_options(timeout=WAIT_MS)
T = TypeVar("T")


class Served(Protocol):
    """A running fitboard the browser talks to: its loopback port and base URL."""

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...


@dataclass
class Server:
    """`fitboard serve` in embedded mode, as `make run` starts it."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
        return {
            **env,
            "FITBOARD_MODE": "embedded",
            "FITBOARD_DATA_DIR": str(self.data_dir),
            # Several sign-ups and sign-ins from one address in a few seconds.
            "FITBOARD_LOGIN_ATTEMPTS_PER_MINUTE_PER_USERNAME": "1000",
            "FITBOARD_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP": "1000",
            "FITBOARD_REGISTRATIONS_PER_HOUR_PER_IP": "1000",
        }

    @property
    def log_path(self) -> Path:
        """Where the server's output goes (appended to across restarts)."""
        return self.data_dir.with_name("serve.log")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [FITBOARD, "serve", "--port", str(self.port)],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"fitboard serve exited at start:\n{self.output()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2, trust_env=False).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError("fitboard serve was not ready within 60 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def fitboard(self, *args: str) -> None:
        """Run a `fitboard` command on this server's data directory."""
        subprocess.run(
            [FITBOARD, *args], env=self.env(), check=True, capture_output=True, timeout=60
        )

    def token(self, username: str) -> str:
        answer = httpx.post(
            f"{self.url}/v1/auth/token",
            data={"username": username, "password": PASSWORD},
            timeout=10,
            trust_env=False,
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        # Shown by pytest only when the test failed.
        print(f"===== fitboard serve =====\n{running.output()}")


# Module-scoped, not session-scoped: Playwright's sync API runs an event loop in this
# thread for as long as it is open, and the rest of the suite's async tests cannot start
# theirs beside it ("Runner.run() cannot be called from a running event loop").
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser-test-tools.sh")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Visitor:
    """One person in one browser context: their page, and what went wrong in it."""

    context: BrowserContext
    page: Page
    outside_requests: list[str]
    console_errors: list[str]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class Visitors:
    def __init__(self, browser: Browser, server: Served) -> None:
        self.browser = browser
        self.server = server
        self.opened: list[Visitor] = []

    def open(self, viewport: ViewportSize = DESKTOP, *, bypass_csp: bool = False) -> Visitor:
        context = self.browser.new_context(
            base_url=self.server.url,
            viewport=viewport,
            bypass_csp=bypass_csp,
            # The tests write local times into the form (app.log_workout).
            timezone_id="UTC",
        )
        context.set_default_timeout(WAIT_MS)
        outside: list[str] = []
        errors: list[str] = []

        def only_the_server(route: Route) -> None:
            url = route.request.url
            if urlparse(url).netloc == f"127.0.0.1:{self.server.port}":
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        context.route("**/*", only_the_server)
        page = context.new_page()

        def console(message: object) -> None:
            kind = getattr(message, "type", "")
            text = str(getattr(message, "text", ""))
            # A refused request (a 4xx the app shows to the person) is logged by Chromium
            # itself; anything else logged as an error is the app's or a CSP refusal.
            if kind == "error" and "Failed to load resource" not in text:
                errors.append(text)

        page.on("console", console)
        page.on("pageerror", lambda error: errors.append(str(error)))
        visitor = Visitor(context, page, outside, errors)
        self.opened.append(visitor)
        return visitor

    def close(self) -> None:
        for visitor in self.opened:
            visitor.context.close()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@contextlib.contextmanager
def opened_visitors(
    browser: Browser, server: Served, request: pytest.FixtureRequest
) -> Iterator[Visitors]:
    opened = Visitors(browser, server)
    try:
        yield opened
        if request.node.stash.get(FAILED, False):
            # What each person saw when the test failed, for whoever reads the failure.
            for number, visitor in enumerate(opened.opened):
                visitor.shot(f"failed-{request.node.name}-{number}")
        for visitor in opened.opened:
            assert visitor.outside_requests == [], "the app reached outside the server"
    finally:
        opened.close()


@pytest.fixture
def visitors(
    browser: Browser, server: Server, request: pytest.FixtureRequest
) -> Iterator[Visitors]:
    """People in browsers, on the embedded `server`."""
    with opened_visitors(browser, server, request) as opened:
        yield opened


class LoopThread:
    """An event loop in a thread of its own, for the async helpers of
    tests/integration/processes.py: Playwright's sync API keeps a loop running in the
    test's thread, where no other loop can run (see the `playwright` fixture)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="deployment", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], within_s: float = 300) -> T:
        """Run `coro` on the thread's loop and wait for its result (bounded)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(within_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@dataclass
class Production:
    """A production deployment: `fitboard serve` and one `fitboard worker`, separate
    processes on the private PostgreSQL, Redis and RabbitMQ. The API and the worker meet
    only through those servers: a workout goes to the worker through RabbitMQ, and the
    live events it causes come back to the API's Socket.IO clients through Redis."""

    deployment: Deployment

    @property
    def port(self) -> int:
        return self.deployment.port

    @property
    def url(self) -> str:
        return self.deployment.api_url


@pytest.fixture
def production(tmp_path: Path) -> Iterator[Production]:
    """A fresh migrated database, an empty Redis and a RabbitMQ namespace of its own, the
    worker consuming and the API ready; stopped and removed afterwards. The processes'
    output is printed at teardown (shown when the test failed)."""
    loop = LoopThread()
    try:
        stack = contextlib.AsyncExitStack()

        async def start() -> Deployment:
            try:
                running = await stack.enter_async_context(deployment(tmp_path))
                await running.start(workers=1)
            except BaseException:
                await stack.aclose()
                raise
            return running

        running = loop.run(start())
        try:
            yield Production(running)
        finally:
            loop.run(stack.aclose())
    finally:
        loop.close()


@pytest.fixture
def production_visitors(
    browser: Browser, production: Production, request: pytest.FixtureRequest
) -> Iterator[Visitors]:
    """People in browsers, on the `production` deployment."""
    with opened_visitors(browser, production, request) as opened:
        yield opened
