"""Transactions, contention and health of ``Database`` on both backends."""
from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.store import (
    Database,
    EngineFlag,
    SignerNonce,
    StorageBusy,
    StorageUnavailable,
)

SIGNER = "0x" + "5a" * 20
TASKS, INCREMENTS = 20, 10


async def _seed_counter(db: Database) -> None:
    async with db.write() as session:
        session.add(SignerNonce(chain_id=1, signer=SIGNER, next_nonce=0))


async def _increment(db: Database) -> None:
    """Read-then-write: the lost-update trap unless the transaction locks what it read."""
    for _ in range(INCREMENTS):
        async with db.write() as session:
            row = (
                await session.execute(
                    select(SignerNonce)
                    .where(SignerNonce.chain_id == 1, SignerNonce.signer == SIGNER)
                    .with_for_update()
                )
            ).scalar_one()
            current = row.next_nonce
            await asyncio.sleep(0)  # let the other writers run between the read and the write
            row.next_nonce = current + 1


async def _counter(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(SignerNonce.next_nonce))).scalar_one()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- settings and description ---------------------------------------------------------------------


async def test_describe_never_shows_the_password(tmp_path: Path) -> None:
    db = Database.from_settings(
        "postgres",
        "postgresql://relayer:s3cr%40t@db.internal:6543/mmtui?password=hunter2&sslmode=require",
    )
    try:
        described = f"{db.describe()} {db!r}"
        assert "s3cr" not in described and "hunter2" not in described
        assert "relayer@db.internal:6543/mmtui" in described
        assert db.backend == "postgres"
    finally:
        await db.close()

    lite = Database.from_settings("sqlite", str(tmp_path / "deep" / "er" / "mmtui.db"))
    try:
        assert lite.backend == "sqlite"
        assert lite.describe() == f"sqlite {tmp_path / 'deep' / 'er' / 'mmtui.db'}"
        assert (tmp_path / "deep" / "er").is_dir()
    finally:
        await lite.close()


@pytest.mark.parametrize(
    ("kind", "dsn"),
    [
        ("mysql", "x"),
        ("sqlite", ":memory:"),
        ("sqlite", "sqlite:///x.db"),
        ("postgres", "mysql://u@h/d"),
    ],
)
def test_from_settings_refuses_what_it_cannot_serve(kind: str, dsn: str) -> None:
    with pytest.raises(ValueError):
        Database.from_settings(kind, dsn)  # type: ignore[arg-type]


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
async def test_sqlite_synchronous_is_set_on_every_connection(tmp_path: Path, setting: str, pragma: int) -> None:
    db = Database.from_settings("sqlite", str(tmp_path / "sync.db"), sqlite_synchronous=setting)
    try:
        await db.migrate()
        read = lambda s: s.connection().exec_driver_sql("PRAGMA synchronous").scalar()  # noqa: E731
        assert await db.run_write(read) == pragma
        assert await db.run_read(read) == pragma
        async with db.write() as session:
            assert (await session.execute(text("PRAGMA synchronous"))).scalar() == pragma
    finally:
        await db.close()


async def test_sqlite_commits_never_checkpoint_and_a_thread_of_its_own_copies_the_wal_into_the_file(
        tmp_path: Path) -> None:
    """A commit that crosses SQLite's WAL threshold would checkpoint on the committing thread (the event
    loop's): no connection of ours does; the database's own checkpoint thread copies the log into the file."""
    path = tmp_path / "wal.db"
    db = Database.from_settings("sqlite", str(path))
    try:
        await db.migrate()
        pragma = lambda s: s.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()  # noqa: E731
        assert await db.run_write(pragma) == 0
        assert await db.run_read(pragma) == 0
        async with db.write() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        checkpointed = db._checkpointer.checkpoints
        before = path.stat().st_size

        def fill(s) -> None:
            s.add_all([SignerNonce(chain_id=n, signer=SIGNER, next_nonce=n) for n in range(3000)])

        await db.run_write(fill)
        assert Path(f"{path}-wal").stat().st_size > 3000 * 40  # committed to the log, not yet the file
        deadline = time.monotonic() + 10
        while path.stat().st_size <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert path.stat().st_size > before
        assert db._checkpointer.checkpoints > checkpointed
    finally:
        await db.close()
    assert not db._checkpointer._thread.is_alive()


async def test_sqlite_inline_writes_keep_their_connection_and_no_snapshot_between_them(tmp_path: Path) -> None:
    """The event loop's writes share one connection kept open between them. None of them may leave it
    holding a read snapshot (the log could then never be checkpointed past it): after writes that read,
    failed or found the file locked, an outside TRUNCATE checkpoint copies the whole log and empties it."""
    path = tmp_path / "kept.db"
    db = Database.from_settings("sqlite", str(path))
    try:
        await db.migrate()
        connections: set[int] = set()
        chain_ids = iter(range(101, 200))

        def write_and_read(session) -> None:
            connections.add(id(session.connection().connection.driver_connection))
            session.add(SignerNonce(chain_id=next(chain_ids), signer=SIGNER, next_nonce=0))
            session.flush()
            session.execute(select(SignerNonce.chain_id))  # a result left unread

        await db.run_write(write_and_read)
        with pytest.raises(IntegrityError):
            await db.run_write(lambda s: s.execute(text("INSERT INTO signer_nonce (chain_id, signer, next_nonce) "
                                                         "VALUES (101, :signer, 0)"), {"signer": SIGNER}))
        other_process = sqlite3.connect(path, isolation_level=None)
        try:
            other_process.execute("BEGIN IMMEDIATE")
            locked_out = asyncio.ensure_future(db.run_write(write_and_read))  # goes to the writer thread
            await asyncio.sleep(0.05)
            other_process.execute("ROLLBACK")
            await locked_out
            for _ in range(3):
                await db.run_write(write_and_read)
            assert await db.run_read(lambda s: s.scalar(select(func.count()).select_from(SignerNonce))) == 5
            busy, log_frames, _ = other_process.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            other_process.close()
        assert (busy, log_frames) == (0, 0)
        assert Path(f"{path}-wal").stat().st_size == 0
        assert len(connections) == 2  # the loop's kept connection, and the writer thread's for the locked-out one
    finally:
        await db.close()


async def test_sqlite_a_failed_commit_keeps_nothing_and_the_next_write_works(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred foreign key, checked only then) keeps nothing of its write, and
    the loop's write connection is usable again: the next writes commit."""
    db = Database.from_settings("sqlite", str(tmp_path / "commit.db"))
    try:
        await db.migrate()

        def orphan_entry(session) -> None:
            session.execute(text("PRAGMA defer_foreign_keys=ON"))
            session.add(EngineFlag(name="armed", value="true"))
            session.execute(text("INSERT INTO order_transition (transaction_id, to_status, chain_id, chain_time, "
                                 "wall_time, reasons) VALUES (:txid, 1, 1, 0, '2026-01-01 00:00:00', '[]')"),
                            {"txid": "0x" + "ab" * 32})

        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            await db.run_write(orphan_entry)
        for value in ("false", "true"):
            await db.run_write(lambda s, value=value: s.merge(EngineFlag(name="armed", value=value)))
        flags = await db.run_read(lambda s: s.execute(select(EngineFlag.name, EngineFlag.value)).all())
        assert [tuple(f) for f in flags] == [("armed", "true")]
        assert await db.run_read(lambda s: s.execute(text("SELECT count(*) FROM order_transition")).scalar()) == 0
    finally:
        await db.close()


def test_sqlite_synchronous_refuses_other_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        Database.from_settings("sqlite", str(tmp_path / "x.db"), sqlite_synchronous="off")


async def test_ping_measures_a_round_trip(db: Database) -> None:
    latency = await db.ping()
    assert 0 < latency < 5


async def test_ping_reports_an_unreachable_server() -> None:
    db = Database.from_settings("postgres", f"postgresql://postgres@127.0.0.1:{_free_port()}/nothing")
    try:
        with pytest.raises(StorageUnavailable, match="127.0.0.1"):
            await db.ping()
    finally:
        await db.close()


# -- transactions ---------------------------------------------------------------------------------


async def test_write_commits_on_exit_and_rolls_back_on_error(db: Database) -> None:
    async with db.write() as session:
        session.add(EngineFlag(name="armed", value="false"))

    with pytest.raises(RuntimeError, match="boom"):
        async with db.write() as session:
            await session.execute(update(EngineFlag).values(value="true"))
            session.add(EngineFlag(name="frozen", value="true"))
            await session.flush()
            raise RuntimeError("boom")

    async with db.read() as session:
        flags = (await session.execute(select(EngineFlag.name, EngineFlag.value))).all()
    assert flags == [("armed", "false")]


async def test_read_sessions_cannot_write(db: Database) -> None:
    with pytest.raises(DBAPIError):
        async with db.read() as session:
            session.add(EngineFlag(name="armed", value="true"))
            await session.flush()
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(EngineFlag))).scalar_one() == 0


async def test_concurrent_read_then_write_loses_no_update(db: Database) -> None:
    await _seed_counter(db)
    await asyncio.gather(*(_increment(db) for _ in range(TASKS)))
    assert await _counter(db) == TASKS * INCREMENTS


def _increment_in(session) -> None:
    """The same read-then-write as ``_increment``, as a function of a synchronous session."""
    row = session.execute(
        select(SignerNonce).where(SignerNonce.chain_id == 1, SignerNonce.signer == SIGNER).with_for_update()
    ).scalar_one()
    row.next_nonce += 1


async def test_run_write_commits_returns_and_rolls_back_on_error(db: Database) -> None:
    def add(session) -> int:
        session.add(EngineFlag(name="armed", value="false"))
        session.flush()
        return session.scalar(select(func.count()).select_from(EngineFlag))

    assert await db.run_write(add) == 1

    def fail(session) -> None:
        session.execute(update(EngineFlag).values(value="true"))
        session.add(EngineFlag(name="frozen", value="true"))
        session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.run_write(fail)
    flags = await db.run_read(lambda session: session.execute(select(EngineFlag.name, EngineFlag.value)).all())
    assert [tuple(f) for f in flags] == [("armed", "false")]


async def test_run_write_flushes_what_fn_left_pending_and_survives_a_failed_statement(db: Database) -> None:
    """Unflushed ORM changes are committed; after a write whose statement failed the next writes and reads
    work and see only what committed."""
    def add(session) -> EngineFlag:
        flag = EngineFlag(name="armed", value="false")
        session.add(flag)  # not flushed by fn
        return flag

    flag = await db.run_write(add)
    assert inspect(flag).detached and flag.value == "false"

    def duplicate(session) -> None:
        session.add(EngineFlag(name="frozen", value="true"))
        session.flush()
        session.add(EngineFlag(name="armed", value="true"))  # the primary key is taken
        session.flush()

    with pytest.raises(IntegrityError):
        await db.run_write(duplicate)
    for _ in range(3):
        await db.run_write(lambda s: s.execute(update(EngineFlag).values(value=EngineFlag.value + "!")))
    flags = await db.run_read(lambda session: session.execute(select(EngineFlag.name, EngineFlag.value)).all())
    assert [tuple(f) for f in flags] == [("armed", "false!!!")]


async def test_run_read_cannot_write(db: Database) -> None:
    def write(session) -> None:
        session.add(EngineFlag(name="armed", value="true"))
        session.flush()

    with pytest.raises(DBAPIError):
        await db.run_read(write)
    assert await db.run_read(lambda s: s.scalar(select(func.count()).select_from(EngineFlag))) == 0


async def test_run_write_and_write_blocks_interleave_without_lost_updates(db: Database) -> None:
    """Both kinds of writer at once: run_write's thread and write()'s connection never lose an update
    (on SQLite they take turns on the writer thread instead of meeting in the busy handler)."""
    await _seed_counter(db)

    async def by_function() -> None:
        for _ in range(INCREMENTS):
            await db.run_write(_increment_in)

    await asyncio.gather(*(by_function() if i % 2 else _increment(db) for i in range(TASKS)))
    assert await _counter(db) == TASKS * INCREMENTS


async def test_sqlite_run_write_waits_for_an_open_write_block_and_a_cancelled_one_never_runs(tmp_path: Path) -> None:
    """While a write() block holds the lock, run_write cannot start on the loop's thread: it queues on
    the writer thread. Cancelled there, it never runs; otherwise it runs once the block commits."""
    db = Database.from_settings("sqlite", str(tmp_path / "queued.db"))
    try:
        await db.migrate()
        await _seed_counter(db)
        ran: list[str] = []

        def increment(label: str):
            def fn(session) -> None:
                ran.append(label)
                _increment_in(session)
            return fn

        async with db.write() as session:
            await session.execute(update(SignerNonce).values(next_nonce=10))
            cancelled = asyncio.ensure_future(db.run_write(increment("cancelled")))
            waiting = asyncio.ensure_future(db.run_write(increment("waiting")))
            await asyncio.sleep(0.05)
            assert not cancelled.done() and not waiting.done() and ran == []
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        await waiting
        assert ran == ["waiting"] and await _counter(db) == 11
    finally:
        await db.close()


async def test_sqlite_run_write_inside_a_write_block_is_storage_busy_not_a_hang(tmp_path: Path) -> None:
    db = Database.from_settings("sqlite", str(tmp_path / "nested_run.db"), busy_timeout=0.2)
    try:
        await db.migrate()
        async with db.write():
            with pytest.raises(StorageBusy):
                await db.run_write(lambda session: None)
        assert await db.run_write(lambda session: 7) == 7  # and the writer works afterwards
    finally:
        await db.close()


async def test_two_sqlite_pools_on_one_file_lose_no_update(tmp_path: Path) -> None:
    """Two Database objects = two connection pools: only BEGIN IMMEDIATE keeps this exact."""
    path = str(tmp_path / "shared.db")
    first = Database.from_settings("sqlite", path)
    second = Database.from_settings("sqlite", path)
    try:
        await first.migrate()
        await _seed_counter(first)
        await asyncio.gather(*(_increment(first if i % 2 else second) for i in range(TASKS)))
        assert await _counter(first) == TASKS * INCREMENTS
        assert await _counter(second) == TASKS * INCREMENTS
    finally:
        await first.close()
        await second.close()


async def test_sqlite_lock_held_past_busy_timeout_is_storage_busy(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = Database.from_settings("sqlite", str(path), busy_timeout=0.2)
    try:
        await db.migrate()
        other_process = sqlite3.connect(path, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageBusy, match="locked"):
                async with db.write() as session:
                    session.add(EngineFlag(name="armed", value="true"))
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        async with db.write() as session:  # the lock is gone: writes work again
            session.add(EngineFlag(name="armed", value="true"))
    finally:
        await db.close()


async def test_sqlite_nested_write_is_storage_busy_not_a_hang(tmp_path: Path) -> None:
    db = Database.from_settings("sqlite", str(tmp_path / "nested.db"), busy_timeout=0.2)
    try:
        await db.migrate()
        async with db.write():
            with pytest.raises(StorageBusy):
                async with db.write():
                    pass
    finally:
        await db.close()


@pytest.mark.postgres
async def test_postgres_serialization_failure_is_storage_busy(postgres_db: Database) -> None:
    db = postgres_db
    await _seed_counter(db)
    both_read = asyncio.Barrier(2)

    async def bump(first: bool) -> None:
        async with db.write(serializable=True) as session:
            value = (await session.execute(select(SignerNonce.next_nonce))).scalar_one()
            await both_read.wait()
            if not first:
                await asyncio.sleep(0.1)  # let the first one commit
            await session.execute(update(SignerNonce).values(next_nonce=value + 1))

    results = await asyncio.gather(bump(True), bump(False), return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], StorageBusy), results[1]
    assert "40001" in str(results[1])
    assert await _counter(db) == 1


@pytest.mark.postgres
async def test_postgres_lock_wait_past_busy_timeout_is_storage_busy(
    postgres_db: Database, pg_dsn: str
) -> None:
    await _seed_counter(postgres_db)
    impatient = Database.from_settings("postgres", pg_dsn, busy_timeout=0.2)
    locked = asyncio.Event()
    release = asyncio.Event()

    async def hold_lock() -> None:
        async with postgres_db.write() as session:
            await session.execute(select(SignerNonce).with_for_update())
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold_lock())
    try:
        await locked.wait()
        with pytest.raises(StorageBusy, match="55P03"):
            async with impatient.write() as session:
                await session.execute(select(SignerNonce).with_for_update())
    finally:
        release.set()
        await holder
        await impatient.close()
