"""uint256, UTC timestamps and hex columns: exact and identical on SQLite and PostgreSQL."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite

from engine.store import BridgeOrder, ChainCursor, Database, Uint256, UtcDateTime
from engine.store.types import AddressHex, Bytes32Hex

UINT256_VALUES = [
    0,
    1,
    7,  # mostly leading zeros once padded
    10**18,  # trailing zeros
    2**255,
    2**256 - 1,
]


@pytest.mark.parametrize("value", UINT256_VALUES)
async def test_uint256_round_trip_is_exact(db: Database, make_order, value: int) -> None:
    async with db.write() as session:
        session.add(make_order(origin_amount=value, dest_amount=value, zap_native=value))

    async with db.read() as session:
        order = (await session.execute(select(BridgeOrder))).scalar_one()
    assert (order.origin_amount, order.dest_amount, order.zap_native) == (value, value, value)
    assert type(order.origin_amount) is int


async def test_uint256_is_padded_text_on_sqlite(sqlite_db: Database, make_order) -> None:
    async with sqlite_db.write() as session:
        session.add(make_order(origin_amount=12345))
    async with sqlite_db.read() as session:
        raw = (await session.execute(text("SELECT origin_amount FROM bridge_order"))).scalar_one()
    assert raw == "0" * 73 + "12345"


async def test_uint256_orders_and_compares_like_integers(db: Database, make_order) -> None:
    values = [0, 1, 9, 10, 99, 100, 10**18, 10**18 + 1, 2**128, 2**255, 10**77, 2**256 - 1]
    shuffled = values[:]
    random.Random(7).shuffle(shuffled)
    async with db.write() as session:
        session.add_all(make_order(n, origin_amount=v) for n, v in enumerate(shuffled, start=1))

    async with db.read() as session:
        ordered = (
            await session.execute(select(BridgeOrder.origin_amount).order_by(BridgeOrder.origin_amount))
        ).scalars().all()
        above = (
            await session.execute(
                select(BridgeOrder.origin_amount)
                .where(BridgeOrder.origin_amount > 10**18)
                .order_by(BridgeOrder.origin_amount.desc())
            )
        ).scalars().all()
    assert ordered == values
    assert above == sorted((v for v in values if v > 10**18), reverse=True)


@pytest.mark.parametrize("bad", [-1, 2**256])
async def test_uint256_out_of_range_is_refused_on_write(db: Database, make_order, bad: int) -> None:
    # SQLAlchemy wraps the type's ValueError in StatementError; the store hands back the original.
    with pytest.raises(ValueError, match="uint256"):
        async with db.write() as session:
            session.add(make_order(origin_amount=bad))
    async with db.read() as session:
        assert (await session.execute(select(BridgeOrder))).first() is None


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
def test_uint256_bind_checks_range_and_type(dialect) -> None:
    column_type = Uint256()
    with pytest.raises(ValueError, match="negative"):
        column_type.process_bind_param(-1, dialect)
    with pytest.raises(ValueError, match="below 2\\*\\*256"):
        column_type.process_bind_param(2**256, dialect)
    for not_an_int in (True, 1.0, "1"):
        with pytest.raises(TypeError):
            column_type.process_bind_param(not_an_int, dialect)
    assert column_type.process_bind_param(None, dialect) is None


def test_uint256_sql_arithmetic_is_refused() -> None:
    with pytest.raises(TypeError, match="arithmetic"):
        BridgeOrder.origin_amount + 1
    with pytest.raises(TypeError, match="arithmetic"):
        1 + BridgeOrder.origin_amount


async def test_timestamps_come_back_aware_utc(db: Database) -> None:
    moment = datetime(2026, 11, 21, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with db.write() as session:
        session.add(
            ChainCursor(chain_id=1, block_number=5, block_hash="0x" + "ab" * 32, updated_at=moment)
        )

    async with db.read() as session:
        cursor = (await session.execute(select(ChainCursor))).scalar_one()
        later = (
            await session.execute(
                select(ChainCursor.chain_id).where(
                    ChainCursor.updated_at > moment - timedelta(seconds=1)
                )
            )
        ).scalars().all()
    assert cursor.updated_at == moment
    assert cursor.updated_at.tzinfo is UTC
    assert later == [1]


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 1, 1), sqlite.dialect())


async def test_hex_columns_are_lowercased_and_checked(db: Database, make_order) -> None:
    checksummed = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    tx_id = "0x" + "AB" * 32
    async with db.write() as session:
        session.add(make_order(transaction_id=tx_id, origin_sender=checksummed))

    async with db.read() as session:
        order = (
            await session.execute(
                select(BridgeOrder).where(BridgeOrder.origin_sender == checksummed)
            )
        ).scalar_one()
    assert order.transaction_id == tx_id.lower()
    assert order.origin_sender == checksummed.lower()

    with pytest.raises(ValueError, match="20 bytes"):
        AddressHex().process_bind_param("0x1234", sqlite.dialect())
    with pytest.raises(ValueError, match="32 bytes"):
        Bytes32Hex().process_bind_param("ab" * 32, sqlite.dialect())
