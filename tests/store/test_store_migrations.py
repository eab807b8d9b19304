"""The Alembic migrations build exactly the models' schema, on both backends, any number of times."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from engine.store import Database
from engine.store.database import alembic_config
from engine.store.models import Base


def _schema_drift(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def _drift(db: Database) -> list:
    async with db.read() as session:
        return await (await session.connection()).run_sync(_schema_drift)


async def _version(db: Database) -> str:
    async with db.read() as session:
        return (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_migrations_match_the_models(db: Database) -> None:
    assert await _drift(db) == []
    assert await _version(db) == _head()


async def test_migrate_is_idempotent(db: Database) -> None:
    await db.migrate()
    await db.migrate()
    assert await _version(db) == _head()
    assert await _drift(db) == []


async def test_downgrade_to_base_then_upgrade_again(db: Database) -> None:
    def downgrade(connection: Connection) -> list[str]:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return inspect(connection).get_table_names()

    async with db.write() as session:
        remaining = await (await session.connection()).run_sync(downgrade)
    assert remaining == ["alembic_version"]

    await db.migrate()
    assert await _drift(db) == []


async def test_two_processes_migrating_a_new_sqlite_file_together(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    first = Database.from_settings("sqlite", path)
    second = Database.from_settings("sqlite", path)
    try:
        await asyncio.gather(first.migrate(), second.migrate())
        assert await _version(first) == _head()
        assert await _drift(second) == []
    finally:
        await first.close()
        await second.close()


async def test_migrating_a_new_sqlite_file_waits_for_another_process_holding_its_lock(
    tmp_path: Path,
) -> None:
    # Another process has the brand-new file (empty, not WAL yet) write-locked. SQLite refuses the
    # WAL switch's read-to-write upgrade at once, without its busy handler; the store must wait for
    # the lock like any writer, and without blocking the event loop (it releases the lock here).
    path = tmp_path / "locked.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    db = Database.from_settings("sqlite", str(path))
    try:
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        await db.migrate()
        assert await _version(db) == _head()
    finally:
        await db.close()
        other.close()
