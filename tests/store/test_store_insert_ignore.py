"""``insert_ignore``: the idempotent event store's dedupe on (chain_id, tx_hash, log_index)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from engine.store import ChainLog, Database, insert_ignore

TOPIC0 = "0x120ea0364f36cdac7983bcfdd55270ca09d7f9b314a2ebc425a3b01ab1d6403a"


def _log(block: int, tx: int, index: int, chain_id: int = 31337, **overrides: Any) -> dict[str, Any]:
    row = dict(
        chain_id=chain_id,
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        tx_hash="0x" + f"{tx:064x}",
        log_index=index,
        address="0x" + "fb" * 20,
        topic0=TOPIC0,
        topics=[TOPIC0, "0x" + f"{tx:064x}"],
        data=bytes([index]) * 64,
    )
    row.update(overrides)
    return row


async def _count(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(ChainLog))).scalar_one()


async def test_duplicates_are_skipped_and_counted_out(db: Database) -> None:
    first = [_log(10, 1, 0), _log(10, 1, 1), _log(11, 2, 0)]
    async with db.write() as session:
        assert await session.run_sync(insert_ignore, ChainLog, first) == 3

    again = [
        _log(10, 1, 0),  # same key
        _log(10, 1, 1, data=b"different payload, same key"),
        _log(11, 2, 0, tx_hash="0x" + f"{2:064x}".upper()),  # same key, other spelling
        _log(11, 2, 0, chain_id=10),  # other chain: new
        _log(12, 3, 5),  # new
        _log(12, 3, 5),  # duplicate inside one batch
    ]
    async with db.write() as session:
        assert await session.run_sync(insert_ignore, ChainLog, again) == 2
    assert await _count(db) == 5

    async with db.read() as session:
        kept = (
            await session.execute(
                select(ChainLog).where(
                    ChainLog.tx_hash == "0x" + f"{1:064x}", ChainLog.log_index == 1
                )
            )
        ).scalar_one()
    assert kept.data == bytes([1]) * 64  # the first write wins
    assert kept.topics == [TOPIC0, "0x" + f"{1:064x}"]
    assert kept.removed is False and kept.stored_at.tzinfo is not None


async def test_large_batches_are_split_under_the_parameter_limit(db: Database) -> None:
    rows = [_log(100 + i // 4, i // 4, i % 4) for i in range(2500)]
    async with db.write() as session:
        assert await session.run_sync(insert_ignore, ChainLog, rows) == 2500
        assert await session.run_sync(insert_ignore, ChainLog, rows[::2]) == 0
    assert await _count(db) == 2500


async def test_nothing_to_insert(db: Database) -> None:
    async with db.write() as session:
        assert await session.run_sync(insert_ignore, ChainLog, []) == 0
