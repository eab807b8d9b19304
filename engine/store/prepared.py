"""Hot statements run below SQLAlchemy's per-execution work, on SQLite.

`Prepared(statement)` wraps a Core statement built once. On SQLite through the synchronous pysqlite driver
(the engine's `run_write` / `run_read`), the statement is compiled once (per set of inserted columns) and
run straight on the sqlite3 connection of the session's transaction, with the statement's own type
processing (bind and result processors of its columns and TypeDecorators). Anywhere else (PostgreSQL, the
aiosqlite sessions of `db.write()`) it is `session.connection().execute(statement, params)`. Both give the
same values back and raise the same errors (tests/store/test_prepared.py, on both backends).

Why: for each execution SQLAlchemy builds the statement's cache key, an execution context and the result's
metadata. On the engine's hot writes that was ~2/3 of the time of the write that stores a signed relay
(py-spy), ~3x the work SQLite itself does there, and the write is on the path from a new order to its relay.

A statement that needs SQLAlchemy at execution (Python-side column defaults to fill, an IN list the caller
gives) always takes the SQLAlchemy path: `Prepared` is an optimisation, never a second meaning. It reads a
few private attributes of SQLAlchemy 2.1's compiled statements (bind and result processors, positional
names): the dependency is pinned below 2.2, and the tests above fail if they change.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError, InvalidRequestError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

Params = Mapping[str, Any]


class _Plan:
    """A statement compiled for pysqlite: its SQL, where each parameter comes from, its result columns."""

    __slots__ = ("binds", "keys", "result_processors", "sql")

    def __init__(self, sql: str, binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...],
                 keys: tuple[str, ...], result_processors: tuple[Callable[[Any], Any] | None, ...]) -> None:
        self.sql = sql
        self.binds = binds  # (name, bind processor or None, the statement's own value) in positional order
        self.keys = keys
        self.result_processors = result_processors

    def args(self, params: Params) -> list[Any]:
        out = []
        for name, process, own in self.binds:
            if name in params:
                value = params[name]
            elif own is _REQUIRED:
                raise StatementError(f"a value is required for bind parameter {name!r}", self.sql, params, None)
            else:
                value = own
            out.append(value if process is None else process(value))
        return out

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(value if process is None else process(value)
                     for process, value in zip(self.result_processors, raw, strict=True))


_NO_PLAN = object()  # this statement (for these columns) goes through SQLAlchemy
_REQUIRED = object()  # a parameter the caller must give


class Prepared:
    """A Core statement built once, run in a session's transaction (see the module's docs)."""

    __slots__ = ("_is_insert", "_plans", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._is_insert = bool(getattr(statement, "is_insert", False))
        self._plans: dict[tuple[str, ...] | None, Any] = {}

    # -- the results a caller asks for -------------------------------------------------------

    def run(self, session: Session, params: Params | Sequence[Params] | None = None) -> int:
        """Execute (`params` a list: once per row, as executemany); the rows it changed (-1 when the driver
        does not count them: asyncpg's executemany)."""
        return self._execute(session, params, want_rows=False)[0]

    def rows(self, session: Session, params: Params | None = None) -> list[tuple[Any, ...]]:
        return self._execute(session, params, want_rows=True)[2]

    def first(self, session: Session, params: Params | None = None) -> tuple[Any, ...] | None:
        rows = self.rows(session, params)
        return rows[0] if rows else None

    def scalar(self, session: Session, params: Params | None = None) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(session, params)
        return None if row is None else row[0]

    def mapping(self, session: Session, params: Params | None = None) -> dict[str, Any] | None:
        """The first row as {column key: value}, or None."""
        _, keys, rows = self._execute(session, params, want_rows=True)
        return dict(zip(keys, rows[0], strict=True)) if rows else None

    # -- execution ---------------------------------------------------------------------------

    def _execute(self, session: Session, params: Params | Sequence[Params] | None, *,
                 want_rows: bool) -> tuple[int, tuple[str, ...], list[tuple[Any, ...]]]:
        connection, raw = _connections(session)
        many = isinstance(params, list)
        if many and not params:
            return 0, (), []
        plan = self._plan(connection, params[0] if many else params)
        if plan is _NO_PLAN:
            result = connection.execute(self.statement, params if params is not None else {})
            if want_rows:
                return -1, tuple(result.keys()), [tuple(r) for r in result.all()]
            return result.rowcount, (), []
        error = connection.dialect.loaded_dbapi.Error
        try:
            args: Any = [plan.args(p) for p in params] if many else plan.args(params or {})
            cursor = raw.executemany(plan.sql, args) if many else raw.execute(plan.sql, args)
            try:
                rows = [plan.row(r) for r in cursor.fetchall()] if want_rows else []
                return cursor.rowcount, plan.keys, rows
            finally:
                cursor.close()
        except error as exc:
            # as SQLAlchemy raises it: the store tells "locked" and integrity errors apart by it
            raise DBAPIError.instance(plan.sql, params, exc, error, dialect=connection.dialect,
                                      ismulti=many) from exc

    def _plan(self, connection: Any, params: Params | None) -> Any:
        dialect = connection.dialect
        if dialect.name != "sqlite" or dialect.driver != "pysqlite":
            return _NO_PLAN
        columns = tuple(sorted(params)) if self._is_insert and params else None
        plan = self._plans.get(columns)
        if plan is None:
            plan = self._plans[columns] = _compile(self.statement, dialect, columns)
        return plan


_CONNECTIONS = "engine.store.prepared.connections"  # the key in Session.info


def _connections(session: Session) -> tuple[Any, Any]:
    """The session's Connection and its driver connection, looked up once per transaction of the session:
    `Session.connection()` walks SQLAlchemy's transaction state at every call (a relay's write runs 8
    statements)."""
    transaction = session.get_transaction()
    if transaction is not None:
        kept = session.info.get(_CONNECTIONS)
        if kept is not None and kept[0] is transaction:
            return kept[1], kept[2]
    connection = session.connection()
    raw = connection.connection.driver_connection
    session.info[_CONNECTIONS] = (session.get_transaction(), connection, raw)
    return connection, raw


def _compile(statement: Executable, dialect: Any, columns: tuple[str, ...] | None) -> Any:
    if any(not _anonymous(p.key) for p in getattr(statement, "_get_embedded_bindparams", list)()
           if p.expanding):
        return _NO_PLAN  # an IN list the caller gives: its length is known at execution only
    try:
        # a literal IN list (`state.in_(LIVE_STATES)`) rendered as one placeholder per value
        compiled = statement.compile(dialect=dialect, column_keys=list(columns) if columns is not None else None,
                                     compile_kwargs={"render_postcompile": True})
    except InvalidRequestError:
        return _NO_PLAN
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params \
            or not compiled.positional:
        return _NO_PLAN  # Python-side column defaults are filled by SQLAlchemy's execution
    processors = compiled._bind_processors
    own = compiled.construct_params(_check=False)
    binds = []
    for name in compiled.positiontup or ():
        declared = compiled.binds.get(name)  # None: one value of a rendered literal IN list
        binds.append((name, processors.get(name),
                      _REQUIRED if declared is not None and declared.required else own.get(name)))
    result_columns = compiled._result_columns or []
    keys = tuple(entry[0] for entry in result_columns)
    result_processors = tuple(entry[3]._cached_result_processor(dialect, None) for entry in result_columns)
    return _Plan(compiled.string, tuple(binds), keys, result_processors)


def _anonymous(key: str) -> bool:
    return key.startswith("%(")  # SQLAlchemy's label of a bound value the statement itself carries
