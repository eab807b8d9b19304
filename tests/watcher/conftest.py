"""Fixtures for the chain watcher: one real 2-chain devnet per module (automine, always stopped),
migrated databases (SQLite per test; PostgreSQL truncated per test), ChainRpc instances (closed)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.chain.rpc import ChainRpc, RetryPolicy
from engine.devnet.devnet import DevnetSettings, start_devnet
from engine.store import Database
from engine.store.models import Base

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)


@pytest.fixture(scope="module")
def devnet(anvil_bin, tmp_path_factory):
    net = start_devnet(DevnetSettings(tmp_path_factory.mktemp("devnet"), chains=2, block_time=None))
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.from_settings("sqlite", str(tmp_path / "watcher.db"))
    await db.migrate()
    yield db
    await db.close()


@pytest.fixture(scope="session")
async def pg_database(pg_dsn: str) -> AsyncIterator[Database]:
    db = Database.from_settings("postgres", pg_dsn)
    await db.migrate()
    yield db
    await db.close()


@pytest.fixture
async def postgres_db(pg_database: Database) -> Database:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with pg_database.write() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return pg_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"{request.param}_db")


@pytest.fixture
async def make_rpc() -> AsyncIterator[Callable[..., ChainRpc]]:
    made: list[ChainRpc] = []

    def make(chain_id: int, url: str, **kwargs) -> ChainRpc:
        kwargs.setdefault("retry", FAST_RETRY)
        rpc = ChainRpc(chain_id, url, **kwargs)
        made.append(rpc)
        return rpc

    yield make
    for rpc in made:
        await rpc.close()
