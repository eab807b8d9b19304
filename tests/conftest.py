"""Shared fixtures: real PostgreSQL and real anvil, failing loudly in CI when either is missing."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import asyncio

import pytest
from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULT_PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def require(reason: str) -> None:
    """A missing real dependency: a failure in CI, a visible skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    return os.environ.get("MMTUI_TEST_PG_ADMIN_DSN", DEFAULT_PG_ADMIN_DSN)


@pytest.fixture(scope="session")
def pg_dsn(pg_admin_dsn: str):
    """A fresh PostgreSQL database for this test session (asyncpg DSN), dropped afterwards."""
    import asyncio

    import asyncpg

    name = f"mmtui_test_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_admin_dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        require(f"PostgreSQL not reachable at {pg_admin_dsn}: {exc}")
    base = pg_admin_dsn.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def anvil_bin() -> str:
    from engine.devnet.anvil import find_anvil, AnvilNotFound

    try:
        return str(find_anvil())
    except AnvilNotFound as exc:
        require(str(exc))


def _anvil_pids() -> set[int]:
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "anvil":
                    stat = (proc / "stat").read_text().split()
                    if stat[2] != "Z":
                        pids.add(int(proc.name))
            except OSError:
                continue
    return pids


_ANVILS_BEFORE: set[int] = set()


def pytest_sessionstart(session) -> None:
    _ANVILS_BEFORE.update(_anvil_pids())


def pytest_sessionfinish(session, exitstatus) -> None:
    """No anvil started by the suite may outlive it: a leak fails the run."""
    import time

    deadline = time.monotonic() + 5
    while (leaked := _anvil_pids() - _ANVILS_BEFORE) and time.monotonic() < deadline:
        time.sleep(0.1)
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nFAILED: the test suite left anvil processes running: {sorted(leaked)}")


# Migrated databases on both backends: a fresh SQLite file per test; one PostgreSQL database per
# session (pg_dsn) whose tables are truncated before each test.
@pytest.fixture(scope="session")
async def pg_database(pg_dsn: str):
    from engine.store import Database

    db = Database.from_settings("postgres", pg_dsn, pool_size=8)
    await db.migrate()
    yield db
    await db.close()


@pytest.fixture
async def sqlite_db(tmp_path: Path):
    from engine.store import Database

    db = Database.from_settings("sqlite", str(tmp_path / "mmtui.db"))
    await db.migrate()
    yield db
    await db.close()


@pytest.fixture
async def postgres_db(pg_database):
    from sqlalchemy import text

    from engine.store.models import Base

    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with pg_database.write() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest):
    """A migrated, empty database on each backend."""
    return request.getfixturevalue(f"{request.param}_db")


# One 2-chain automine devnet per test module (engine, watcher and TUI tests share it); tests/devnet defines its own.
@pytest.fixture(scope="module")
def devnet(anvil_bin, tmp_path_factory):
    from engine.devnet.devnet import DevnetSettings, start_devnet

    net = start_devnet(DevnetSettings(tmp_path_factory.mktemp("devnet"), chains=2, block_time=None))
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture
def traffic(devnet):
    import time

    from engine.devnet.traffic import TrafficGenerator, load_manifest

    return TrafficGenerator(load_manifest(devnet.settings.directory), seed=int(time.time() * 1000) % 2**31)


# --------------------------------------------------------------------------- a loopback RFQ API

class RfqApi:
    """A loopback RFQ API: records every PUT /bulk_quotes; answers from a script of status codes."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, dict]] = []
        self.received = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.received.set()
        return web.json_response({}, status=status)


@pytest.fixture
async def rfq_api():
    api = RfqApi()
    app = web.Application()
    app.router.add_put("/bulk_quotes", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    api.url = f"http://127.0.0.1:{port}"
    yield api
    await runner.cleanup()
