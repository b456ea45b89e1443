"""Shared fixtures: configs, real databases (SQLite and PostgreSQL), the app, a live server
process and headless Chromium.

PostgreSQL and Redis tests skip when the service is absent, except in CI (CI=true), where a
missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.config import AppConfig
from server.storage import migrate

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get(
    "JMDCHAT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("JMDCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("JMDCHAT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


BROWSER_FIXTURES = {"browser", "context", "page"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, where pytest-asyncio could not run async tests."""
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def missing_service(what: str) -> None:
    """Skip locally, fail in CI: CI must exercise every real part."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI but not reachable")
    pytest.skip(f"{what} not reachable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_config(database_url: str, **sections: dict[str, object]) -> AppConfig:
    data: dict[str, dict[str, object]] = {
        "server": {"log_format": "text", "log_level": "WARNING"},
        "database": {"url": database_url},
        "security": {"secret_key": "test-secret-" + "x" * 32},
        # Abuse limits off unless a test turns them on (tests/transport/test_rate_limits.py):
        # bursts and fuzzing on a frozen clock would otherwise run into them.
        "rate_limits": {"enabled": False},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return AppConfig.model_validate(data)


# --- databases ---------------------------------------------------------------------------


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def _pg_admin(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _run_sync(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion even when called from inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped afterwards)."""
    if not _pg_reachable():
        missing_service("PostgreSQL on 127.0.0.1:5432")
    name = f"jmdchat_test_{uuid.uuid4().hex[:10]}"
    _run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    yield url
    _run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


async def _truncate_all(url: str) -> None:
    from server.storage.models import Base

    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            if names:
                await connection.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "jmdchat.db"
    target.write_bytes(sqlite_template.read_bytes())
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Runs a test on SQLite and on PostgreSQL, each starting from empty migrated tables."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    url = request.getfixturevalue("postgres_url")
    await _truncate_all(url)
    yield url


@pytest.fixture
def config(sqlite_url: str) -> AppConfig:
    return make_config(sqlite_url)


# --- redis -------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except OSError:
        missing_service("Redis on 127.0.0.1:6379")
    return REDIS_URL


# --- a live server process ---------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_server(
    tmp: Path,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    demo: bool = True,
) -> LiveServer:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JMDCHAT_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp / 'live.db'}",
        "JMDCHAT_SERVER_PORT": str(port),
        "JMDCHAT_SERVER_PUBLIC_URL": url,
        "JMDCHAT_SERVER_ALLOWED_ORIGINS": url,
        "JMDCHAT_SERVER_DATA_DIR": str(tmp),
        "JMDCHAT_SERVER_QUICK_EXIT_URL": "https://neutral.example/",
        "JMDCHAT_SECURITY_SECRET_KEY": "live-test-secret-" + "y" * 32,
        # One shared server for every browser test, all from 127.0.0.1, and tests that type
        # 45 messages in a few seconds: abuse limits on, but roomier than the defaults
        # (tests/browser/test_moderation.py starts its own server with tight ones).
        "JMDCHAT_RATE_LIMITS_REGISTRATIONS_PER_SOURCE_PER_HOUR": "1000",
        "JMDCHAT_RATE_LIMITS_MESSAGES_PER_ACCOUNT_PER_MINUTE": "600",
        "JMDCHAT_RATE_LIMITS_MESSAGES_PER_CONNECTION_PER_10S": "100",
        **(extra_env or {}),
    }
    for args in (["db", "upgrade"], *([["demo"]] if demo else [])):
        subprocess.run(
            [sys.executable, "-m", "server", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    log_path = tmp / f"server-{port}.log"
    handle = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(url, port, process, env, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start:\n{server.log()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real `jmdchat serve` process on SQLite with demo data, shared by browser tests."""
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    stop_server(server)


# --- headless Chromium -------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def context(browser: object) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: object) -> Iterator[object]:
    from playwright.sync_api import BrowserContext

    assert isinstance(context, BrowserContext)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshot_path(name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT / name


def axe_source() -> str:
    path = ROOT / "client" / "node_modules" / "axe-core" / "axe.min.js"
    return path.read_text(encoding="utf-8")
