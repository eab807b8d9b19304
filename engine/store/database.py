"""Sessions, transactions and migrations over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Transactions
------------
``async with db.write() as session`` is one write transaction: committed when the block exits,
rolled back when it raises.

* SQLite: every write transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front),
  so read-then-write code cannot lose updates (REFERENCE §7). Writers of one ``Database`` queue on a
  one-connection pool instead of spinning on SQLite's busy handler; writers in other processes (or
  other ``Database`` objects) wait up to ``busy_timeout`` for the file lock.
* PostgreSQL: READ COMMITTED. Code that reads a row and writes it back must lock it while reading,
  ``select(...).with_for_update()``; inserts that may race use ``insert_ignore`` (ON CONFLICT DO
  NOTHING) or a unique constraint. ``db.write(serializable=True)`` runs SERIALIZABLE instead, for
  the rare decision that reads many rows it cannot lock; a conflict then raises ``StorageBusy``.
  Waiting for a row lock longer than ``busy_timeout`` (``lock_timeout``) raises ``StorageBusy`` too.

``await db.run_write(fn)`` and ``await db.run_read(fn)`` run ``fn(session)``, a plain function over a
synchronous ``Session``, as one write transaction or one read snapshot with the same rules. ``fn``
must not wait for anything but the database (no RPC): read what it needs before. The engine's hot
paths use these. On SQLite a transaction runs right on the calling thread, start to end, without
yielding to the event loop: a local SQLite transaction takes well under a millisecond, while the
async session's one round trip through a busy loop per statement held the write lock for tens of
milliseconds, and a database thread fights the loop for the GIL at every statement (each sqlite3
call releases it). The loop's write connection stays open from one write to the next (each ends with
COMMIT or ROLLBACK): a pool checkout and a new Session transaction per write cost more than its
statements. Only when the file is locked by another connection (another process, or an open
``write()`` block) does the transaction go to a database thread, which waits up to ``busy_timeout``
there instead of blocking the loop; ``write()`` borrows that writer thread while its block runs, so
writers of one ``Database`` never meet in SQLite's busy handler. A ``run_read`` function may run
twice (it is retried on the thread when its snapshot cannot start). On PostgreSQL both run through
``AsyncSession.run_sync``.

``async with db.read() as session`` is a read-only snapshot: a deferred ``BEGIN`` on connections
opened with ``PRAGMA query_only`` on SQLite, a READ ONLY REPEATABLE READ transaction on PostgreSQL.
Nothing in it is committed.

``StorageBusy`` means "the database is contended, retry the whole transaction later"; the store never
retries on its own, because only the caller knows whether re-running its decision is safe.

A ``Database`` belongs to the event loop that first uses it (asyncio drivers and pools are
loop-bound): keep it on the engine's loop.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple, NoReturn, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from engine.store.models import Base
from engine.store.prepared import Prepared

log = logging.getLogger(__name__)

Backend = Literal["sqlite", "postgres"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# PostgreSQL SQLSTATEs that mean "contended, retry later": serialization_failure,
# deadlock_detected, lock_not_available (lock_timeout).
_PG_BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
# pg_advisory_xact_lock key so two processes starting together migrate one after the other.
_MIGRATION_LOCK_KEY = 0x6D6D747569  # "mmtui"
# Bound parameters per statement: PostgreSQL's wire protocol allows 32767; SQLite >= 3.32 32766.
_PG_MAX_PARAMS = 32767
_MAX_ROWS_PER_INSERT = 1000
_SQLITE_INSERT_IGNORE: dict[str, Prepared] = {}  # table name -> INSERT ... ON CONFLICT DO NOTHING
CHECKPOINT_INTERVAL_SECONDS = 0.5  # how often the WAL is copied into the database file (_Checkpointer)

T = TypeVar("T")


class _SyncEngines(NamedTuple):
    """SQLite's synchronous engines for run_write/run_read."""

    thread_write: Engine  # the writer thread's connection (waits up to busy_timeout for the lock)
    thread_read: Engine  # the reader threads' connections
    inline_write: Engine  # the event loop's thread: never waits for a lock
    inline_read: Engine


class StorageError(RuntimeError):
    """Base class of the store's own errors."""


class StorageBusy(StorageError):
    """The database is contended (locked, a serialization failure, a lock wait timed out).

    Nothing was committed; retry the whole transaction later.
    """


class StorageUnavailable(StorageError):
    """The database could not be reached."""


class Database:
    """The engine's database: build it with ``Database.from_settings``, then ``await migrate()``."""

    def __init__(
        self,
        backend: Backend,
        url: URL,
        write_engine: AsyncEngine,
        read_engine: AsyncEngine,
        serializable_engine: AsyncEngine,
        owned_engines: Sequence[AsyncEngine],
        sync_engines: _SyncEngines | None = None,
        read_threads: int = 1,
        busy_timeout: float = 5.0,
    ) -> None:
        self.backend: Backend = backend
        self.busy_timeout = busy_timeout
        self._url = url
        self._write_engine = write_engine
        self._read_engine = read_engine
        self._owned_engines = tuple(owned_engines)  # the ones with their own pool
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._serializable_sessions = async_sessionmaker(serializable_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(read_engine, expire_on_commit=False)
        self._sync_engines = sync_engines  # SQLite only
        self._inline_writer: Connection | None = None  # see _inline_write
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._checkpointer: _Checkpointer | None = None
        if sync_engines is not None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmtui-db-writer")
            self._readers = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="mmtui-db-reader")
            self._checkpointer = _Checkpointer(str(url.database), busy_timeout)

    @classmethod
    def from_settings(
        cls,
        kind: Backend,
        dsn: str,
        *,
        busy_timeout: float = 5.0,
        pool_size: int = 5,
        echo: bool = False,
        sqlite_synchronous: str = "normal",
    ) -> Database:
        """``kind="sqlite"``: ``dsn`` is a file path (parent directories are created).
        ``kind="postgres"``: ``dsn`` is ``postgresql://user[:password]@host[:port]/dbname``.

        ``busy_timeout`` (seconds) bounds every wait for a lock before ``StorageBusy``.
        ``sqlite_synchronous``: ``"normal"`` (a commit is safe from a killed process, not from a power cut;
        no fsync per commit) or ``"full"`` (an fsync per commit, on the calling thread).
        """
        if kind == "sqlite":
            if sqlite_synchronous not in ("normal", "full"):
                raise ValueError(f"sqlite_synchronous must be 'normal' or 'full', not {sqlite_synchronous!r}")
            return cls._sqlite(dsn, busy_timeout=busy_timeout, pool_size=pool_size, echo=echo,
                               synchronous=sqlite_synchronous)
        if kind == "postgres":
            return cls._postgres(dsn, busy_timeout=busy_timeout, pool_size=pool_size, echo=echo)
        raise ValueError(f"unknown database kind {kind!r}: expected 'sqlite' or 'postgres'")

    @classmethod
    def _sqlite(cls, dsn: str, *, busy_timeout: float, pool_size: int, echo: bool, synchronous: str) -> Database:
        if dsn.startswith("sqlite"):
            raise ValueError(f"the sqlite dsn is a file path, not a URL: {dsn!r}")
        if not dsn or dsn == ":memory:":
            # Readers and writers use separate connections, which would see separate databases.
            raise ValueError("the sqlite database must be a file path, not in-memory")
        path = Path(dsn).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = URL.create("sqlite+aiosqlite", database=str(path))

        def prepare(engine: Engine, *, write: bool) -> None:
            @event.listens_for(engine, "connect")
            def on_connect(dbapi_connection: Any, _record: Any) -> None:
                # Take transaction control away from the sqlite3 driver; on_begin emits BEGIN.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                try:
                    _switch_to_wal(dbapi_connection, cursor, busy_timeout)
                    cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")  # checked: normal or full
                    cursor.execute("PRAGMA foreign_keys=ON")
                    # no checkpoint inside a commit: it copies the WAL into the file (milliseconds, an fsync)
                    # on whatever thread committed, often the event loop's; _Checkpointer does it on its own
                    cursor.execute("PRAGMA wal_autocheckpoint=0")
                    if not write:
                        cursor.execute("PRAGMA query_only=ON")
                finally:
                    cursor.close()

            begin_sql = "BEGIN IMMEDIATE" if write else "BEGIN"

            @event.listens_for(engine, "begin")
            def on_begin(connection: Connection) -> None:
                if connection.dialect.driver != "pysqlite":  # aiosqlite: its connection is async
                    connection.exec_driver_sql(begin_sql)
                    return
                # on the driver itself: SQLAlchemy's exec_driver_sql was a fifth of an empty transaction's work
                try:
                    connection.connection.driver_connection.execute(begin_sql)
                except sqlite3.Error as exc:  # as exec_driver_sql raises it ("database is locked" is told by it)
                    raise DBAPIError.instance(begin_sql, None, exc, sqlite3.Error, dialect=connection.dialect) from exc

        def open_engine(*, write: bool) -> AsyncEngine:
            pool = {"pool_size": 1, "max_overflow": 0} if write else {"pool_size": pool_size}
            engine = create_async_engine(
                url,
                echo=echo,
                pool_timeout=busy_timeout,
                connect_args={"timeout": busy_timeout},  # sqlite3's timeout is the busy timeout
                **pool,
            )
            prepare(engine.sync_engine, write=write)
            return engine

        def open_sync_engine(*, write: bool, inline: bool = False) -> Engine:
            # One connection per thread that uses it: the writer thread, one of the reader threads, or
            # the event loop's thread (inline: never waits for a lock, see run_write).
            engine = create_engine(
                url.set(drivername="sqlite"),
                echo=echo,
                pool_size=1 if write or inline else pool_size,
                max_overflow=0,
                pool_timeout=busy_timeout,
                connect_args={"timeout": 0 if inline else busy_timeout, "check_same_thread": False},
            )
            prepare(engine, write=write)
            return engine

        write_engine, read_engine = open_engine(write=True), open_engine(write=False)
        # SQLite is serializable already: BEGIN IMMEDIATE admits one writer at a time.
        return cls(
            "sqlite", url, write_engine, read_engine, write_engine, (write_engine, read_engine),
            sync_engines=_SyncEngines(
                thread_write=open_sync_engine(write=True), thread_read=open_sync_engine(write=False),
                inline_write=open_sync_engine(write=True, inline=True),
                inline_read=open_sync_engine(write=False, inline=True)),
            read_threads=pool_size, busy_timeout=busy_timeout,
        )

    @classmethod
    def _postgres(cls, dsn: str, *, busy_timeout: float, pool_size: int, echo: bool) -> Database:
        url = make_url(dsn)
        if url.drivername not in ("postgresql", "postgres", "postgresql+asyncpg"):
            raise ValueError(f"not a postgresql:// DSN: {_redact(url)}")
        url = url.set(drivername="postgresql+asyncpg")
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            pool_pre_ping=True,  # survive a server restart between uses
            pool_timeout=max(busy_timeout, 10.0),
            connect_args={
                "timeout": 10,
                "server_settings": {
                    "application_name": "mmtui",
                    "lock_timeout": str(int(busy_timeout * 1000)),
                },
            },
        )
        return cls(
            "postgres",
            url,
            engine,
            engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True),
            engine.execution_options(isolation_level="SERIALIZABLE"),
            (engine,),
        )

    # -- transactions -------------------------------------------------------------------------

    @asynccontextmanager
    async def write(self, *, serializable: bool = False) -> AsyncIterator[AsyncSession]:
        """One write transaction, committed on exit, rolled back on error (see module docs)."""
        sessions = self._serializable_sessions if serializable else self._write_sessions
        async with self._writer_thread_borrowed():
            try:
                async with sessions() as session, session.begin():
                    # Begin now: on SQLite this takes the write lock before the caller reads anything.
                    await session.connection()
                    yield session
            except (StatementError, PoolTimeoutError) as exc:
                self._reraise(exc)

    @asynccontextmanager
    async def _writer_thread_borrowed(self) -> AsyncIterator[None]:
        """SQLite: park the writer thread for the duration of the block, so this connection's
        transaction and ``run_write``'s never contend for SQLite's lock (whose busy handler sleeps)."""
        if self._writer is None:
            yield
            return
        loop = asyncio.get_running_loop()
        entered: asyncio.Future[None] = loop.create_future()
        release = threading.Event()

        def park() -> None:
            if not release.is_set():  # not given up while queued
                loop.call_soon_threadsafe(_resolve, entered, None)
                release.wait()

        self._writer.submit(park)
        try:
            try:
                await asyncio.wait_for(asyncio.shield(entered), self.busy_timeout)
            except TimeoutError:
                raise StorageBusy(f"sqlite: the writer was busy for {self.busy_timeout} s") from None
            yield
        finally:
            release.set()

    async def run_write(self, fn: Callable[[Session], T], *, serializable: bool = False) -> T:
        """``fn(session)`` as one write transaction (see module docs): committed when it returns,
        rolled back when it raises. Its result is returned; ORM objects in it are detached."""
        if self._writer is None:
            async with self.write(serializable=serializable) as session:
                return await session.run_sync(fn)
        assert self._sync_engines is not None
        done, result = self._inline(self._sync_engines.inline_write, fn, commit=True)
        if done:
            return result
        return await self._in_thread(self._writer, self._sync_engines.thread_write, fn, commit=True)

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in a read-only snapshot (see module docs)."""
        if self._readers is None:
            async with self.read() as session:
                return await session.run_sync(fn)
        assert self._sync_engines is not None
        done, result = self._inline(self._sync_engines.inline_read, fn, commit=False)
        if done:
            return result
        return await self._in_thread(self._readers, self._sync_engines.thread_read, fn, commit=False)

    def _inline(self, engine: Engine, fn: Callable[[Session], T], *, commit: bool) -> tuple[bool, Any]:
        """The transaction on this thread; (False, None) when the file is locked and it could not
        start (nothing of ``fn`` has run for a write), for the caller to take it to a database thread."""
        try:
            if commit:
                return self._inline_write(engine, fn)
            with Session(engine, expire_on_commit=False) as session:
                return True, fn(session)
        except DBAPIError as exc:
            if not commit and _locked(exc):
                return False, None
            self._reraise(exc)
        except (StatementError, PoolTimeoutError) as exc:
            self._reraise(exc)

    def _inline_write(self, engine: Engine, fn: Callable[[Session], T]) -> tuple[bool, Any]:
        """A write on the event loop thread's own connection, kept open between writes: a pool checkout, a
        new Connection and the Session's own transaction per write were most of an empty write's time. Each
        write ends with COMMIT, or with ROLLBACK when `fn` or the commit fails; after a failed COMMIT the
        connection is given back and the next write opens another. (Reads still take one per snapshot: session
        14 kept both and was slower over 1,000-order runs, cause not found.)"""
        connection = self._inline_writer
        if connection is None or connection.invalidated or connection.closed:
            connection = self._inline_writer = engine.connect()
        try:
            transaction = connection.begin()  # BEGIN IMMEDIATE: fails at once when another holds the lock
        except DBAPIError as exc:
            if _locked(exc):
                return False, None
            raise
        try:
            # joined to the connection's transaction, committed here (the Session only flushes into it)
            with Session(bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False) as session:
                result = fn(session)
                session.flush()
        except BaseException:
            if transaction.is_active:  # the Session rolls it back itself when its flush failed
                transaction.rollback()  # nothing of fn stays
            raise
        try:
            transaction.commit()
        except BaseException:
            self._inline_writer = None
            try:
                # SQLite keeps a transaction whose COMMIT failed open, and SQLAlchemy, having asked for the
                # commit, does not roll back when the connection goes back to its pool: done here
                connection.connection.driver_connection.rollback()
            finally:
                connection.close()
            raise
        return True, result

    async def _in_thread(self, executor: ThreadPoolExecutor, engine: Engine, fn: Callable[[Session], T], *,
                         commit: bool) -> T:
        turn = _Turn()

        def transaction() -> T:
            if not turn.start():
                raise _GivenUp()  # the caller stopped waiting before the thread came to it
            with Session(engine, expire_on_commit=False) as session:
                if not commit:
                    return fn(session)
                with session.begin():
                    session.connection()  # BEGIN IMMEDIATE before fn reads anything
                    return fn(session)

        future = asyncio.get_running_loop().run_in_executor(executor, transaction)
        future.add_done_callback(_retrieve)
        try:
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.busy_timeout)
            except TimeoutError:
                if turn.give_up():  # still queued (a nested write would wait for itself)
                    raise StorageBusy(f"sqlite: the database thread was busy for {self.busy_timeout} s") from None
                return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not turn.give_up():
                # Once started, a transaction runs to its end: wait for it, so that nothing this caller's
                # cancellation leads to (closing the database, say) overlaps it, then pass the cancellation on.
                await asyncio.wait([future])
            raise
        except (StatementError, PoolTimeoutError) as exc:
            self._reraise(exc)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot; writes in it fail, nothing is committed."""
        try:
            async with self._read_sessions() as session:
                yield session
        except (StatementError, PoolTimeoutError) as exc:
            self._reraise(exc)

    def _reraise(self, exc: Exception) -> NoReturn:
        """Raise what a caller should see: ``StorageBusy`` for contention, the column type's own
        ValueError/TypeError for a bad value (SQLAlchemy wraps those in StatementError), else
        ``exc`` unchanged."""
        if isinstance(exc, PoolTimeoutError):
            raise StorageBusy(f"{self.backend}: no free database connection in time ({exc})") from exc
        orig = getattr(exc, "orig", None)
        if not isinstance(exc, DBAPIError) and isinstance(orig, (ValueError, TypeError)):
            raise type(orig)(str(orig)) from exc
        if self.backend == "postgres":
            sqlstate = getattr(orig, "sqlstate", None)
            if sqlstate in _PG_BUSY_SQLSTATES:
                raise StorageBusy(f"postgres: transaction conflict [{sqlstate}] {orig}") from exc
        elif "locked" in str(orig):  # "database is locked", "database table is locked"
            raise StorageBusy(f"sqlite: {orig} (busy timeout exceeded)") from exc
        raise exc

    # -- schema, health, lifecycle --------------------------------------------------------------

    async def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision (a no-op when already there)."""
        try:
            async with self._write_engine.begin() as conn:
                if self.backend == "postgres":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                await conn.run_sync(_upgrade_to_head)
        except (StatementError, PoolTimeoutError) as exc:
            self._reraise(exc)

    async def ping(self) -> float:
        """Round-trip time of ``SELECT 1`` in seconds; ``StorageUnavailable`` when unreachable."""
        started = time.perf_counter()
        try:
            async with self._read_engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except (DBAPIError, PoolTimeoutError, OSError) as exc:
            raise StorageUnavailable(f"{self.describe()}: {exc}") from exc
        return time.perf_counter() - started

    async def close(self) -> None:
        if self._inline_writer is not None:
            self._inline_writer.close()
            self._inline_writer = None
        for engine in self._owned_engines:
            await engine.dispose()
        if self._sync_engines is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._close_threads)

    def _close_threads(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        for executor in (self._writer, self._readers):
            if executor is not None:
                executor.shutdown(wait=True)
        for engine in self._sync_engines or ():
            engine.dispose()

    def describe(self) -> str:
        """Backend and location, safe to show or log (no password)."""
        if self.backend == "sqlite":
            return f"sqlite {self._url.database}"
        return f"postgres {_redact(self._url.set(drivername='postgresql'))}"

    def __repr__(self) -> str:
        return f"<Database {self.describe()}>"


def _switch_to_wal(dbapi_connection: Any, cursor: Any, busy_timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``busy_timeout`` for a concurrent switch.

    On a file that is not in WAL mode yet (a brand-new one), the pragma reads the header and then
    upgrades to a write lock to mark it WAL. If another connection is doing the same, SQLite
    refuses that read-to-write upgrade with SQLITE_BUSY at once, without calling the busy handler
    (deadlock avoidance), so two processes opening a new file together would fail spuriously.
    Retry here instead: once the other connection has committed, the file is WAL and the pragma
    only reads. On a file already in WAL mode the pragma never writes and never gets here.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.fetchall()
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # incl. extended codes
            if not busy or time.monotonic() + delay > deadline:
                raise
        if hasattr(dbapi_connection, "run_async"):
            # An aiosqlite connection: sleep on the event loop, not blocking it.
            dbapi_connection.run_async(lambda _driver_connection: asyncio.sleep(delay))
        else:
            time.sleep(delay)  # a database thread's own connection
        delay = min(delay * 2, 0.05)


class _Checkpointer:
    """SQLite's WAL checkpoints on a thread of their own. The engine's connections never checkpoint
    (``wal_autocheckpoint=0``): SQLite would do it inside the commit that crosses its threshold, on the
    event loop's thread (copying the log into the file and syncing it took milliseconds per commit, twice a
    second in the relay benchmark, each time holding up whatever the loop had to do). Here a PASSIVE
    checkpoint runs every CHECKPOINT_INTERVAL_SECONDS: it waits for no reader or writer, and the sqlite3
    call releases the GIL while it copies. A failure (a locked file, another process checkpointing) is
    left to the next round."""

    def __init__(self, path: str, busy_timeout: float, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._interval = interval
        self._stopped = threading.Event()
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="mmtui-db-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stopped.wait(self._interval):
                try:
                    if connection is None:
                        # mode=rw: never create the file (the engine's first connection makes it, in WAL mode)
                        connection = sqlite3.connect(f"file:{self._path}?mode=rw", uri=True,
                                                     timeout=self._busy_timeout, check_same_thread=False)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.debug("sqlite checkpoint of %s: %s (next round)", self._path, exc)
                except Exception:  # the thread must live on: nothing else checkpoints
                    log.exception("sqlite checkpoint of %s failed (next round)", self._path)
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._busy_timeout + 1)


def _locked(exc: DBAPIError) -> bool:
    return "locked" in str(exc.orig)  # "database is locked", "database table is locked"


class _GivenUp(Exception):
    """A queued transaction whose caller was cancelled before it started: not run."""


class _Turn:
    """A queued transaction's turn on a database thread: it starts, or its caller gives up first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._given_up = False

    def start(self) -> bool:
        with self._lock:
            self._started = not self._given_up
            return self._started

    def give_up(self) -> bool:
        """True when the transaction will never run; False when it has started already."""
        with self._lock:
            self._given_up = not self._started
            return self._given_up


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a caller that gave up never reads it: keep asyncio from warning


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _redact(url: URL) -> str:
    # Rebuilt field by field: URL.set() treats password=None as "leave unchanged".
    safe = URL.create(
        drivername=url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query={k: v for k, v in url.query.items() if k.lower() not in ("password", "passfile")},
    )
    return safe.render_as_string(hide_password=False)


def alembic_config() -> Any:
    """The Alembic configuration, built in code so it works from an installed package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade_to_head(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def insert_ignore(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` into ``model``'s table, skipping any row that violates a unique key
    (ON CONFLICT DO NOTHING on both dialects). Returns how many rows were inserted. A function of a
    synchronous session (``run_write``); on an ``AsyncSession``: ``await session.run_sync(insert_ignore, ...)``."""
    if not rows:
        return 0
    session.flush()  # keep statement order the same as the caller's code order
    conn = session.connection()
    table = model.__table__
    if conn.dialect.name == "sqlite":
        # One statement per table, compiled once, sent as executemany (sqlite3 sums rowcount over the
        # rows): building a multi-row VALUES coerces every value and keys the cache on the row count.
        statement = _SQLITE_INSERT_IGNORE.get(table.name)
        if statement is None:
            statement = _SQLITE_INSERT_IGNORE[table.name] = Prepared(sqlite_insert(table).on_conflict_do_nothing())
        return statement.run(session, list(rows))
    if conn.dialect.name == "postgresql":
        insert, max_params = pg_insert, _PG_MAX_PARAMS
    else:
        raise NotImplementedError(f"insert_ignore on {conn.dialect.name}")
    # Every column may be bound (given or filled by a Python-side default).
    chunk = max(1, min(_MAX_ROWS_PER_INSERT, max_params // len(table.columns)))
    inserted = 0
    for start in range(0, len(rows), chunk):
        statement = insert(table).values(list(rows[start : start + chunk]))
        result = conn.execute(statement.on_conflict_do_nothing())
        inserted += result.rowcount
    return inserted
