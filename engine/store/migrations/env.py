"""Alembic environment for the engine's store.

Normally driven by ``Database.migrate()``, which passes its own connection in
``config.attributes["connection"]``. For writing a new revision, point Alembic at a scratch
database and autogenerate, e.g.::

    from alembic import command
    from engine.store.database import alembic_config
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "sqlite+aiosqlite:////tmp/scratch.db")
    command.upgrade(config, "head")
    command.revision(config, message="what changed", autogenerate=True, rev_id="0002")

then read the generated file and check it on both backends (tests/store/test_migrations.py).
"""
from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from engine.store import types as store_types
from engine.store.models import Base

config = context.config
target_metadata = Base.metadata

_STORE_TYPES = (
    store_types.Uint256,
    store_types.UtcDateTime,
    store_types.Bytes32Hex,
    store_types.AddressHex,
)


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the store's own column types as themselves, not as their SQLite/PG impl."""
    if kind == "type" and isinstance(obj, _STORE_TYPES):
        autogen_context.imports.add("from engine.store import types as store_types")
        return f"store_types.{type(obj).__name__}()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def _run_with(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: later revisions get batch (copy-and-move) ops.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_with)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run_with(connection)
else:
    asyncio.run(_run_with_url(config.get_main_option("sqlalchemy.url")))
