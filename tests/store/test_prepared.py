"""`Prepared` gives what SQLAlchemy's own execution gives, on both backends, and raises as it does."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from engine.store import Database, OutboundTx, SignerNonce
from engine.store.prepared import _NO_PLAN, Prepared

SIGNER = "0x" + "5a" * 20
TO = "0x" + "c3" * 20
BIG = 2**256 - 1  # a uint256 stored as text: must come back exact

_TABLE = OutboundTx.__table__
_INSERT = Prepared(insert(_TABLE).returning(_TABLE.c.id))
_BY_SIGNER = Prepared(select(_TABLE.c.nonce, _TABLE.c.value, _TABLE.c.data, _TABLE.c.tx_hash, _TABLE.c.created_at,
                             _TABLE.c.block_number)
                      .where(_TABLE.c.chain_id == 7, _TABLE.c.signer == bindparam("signer"))
                      .order_by(_TABLE.c.nonce))
_MARK = Prepared(update(_TABLE).where(_TABLE.c.nonce == bindparam("of_nonce")).values(state=bindparam("new_state")))
_NONCES = Prepared(insert(SignerNonce.__table__))
_NEXT = Prepared(select(SignerNonce.next_nonce).where(SignerNonce.chain_id == bindparam("chain")))


def _attempt(nonce: int, **over) -> dict:
    row = {"chain_id": 7, "signer": SIGNER, "nonce": nonce, "attempt": 0, "purpose": "relay", "transaction_id": None,
           "to_address": TO, "value": BIG - nonce, "data": bytes([nonce]) * 3, "gas_limit": 21_000,
           "max_fee_per_gas": BIG, "max_priority_fee_per_gas": 1, "raw_tx": b"\x02raw",
           "tx_hash": "0x" + f"{nonce:064x}", "state": "signed", "receipt_status": None, "block_number": None,
           "block_hash": None, "error": None, "broadcast_at": None, "mined_at": None,
           "created_at": datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)}
    return {**row, **over}


async def test_values_round_trip_as_sqlalchemy_reads_them(db: Database) -> None:
    ids = [await db.run_write(lambda s, n=n: _INSERT.scalar(s, _attempt(n))) for n in (1, 2)]
    assert ids[0] is not None and ids[1] > ids[0]

    def both(s):
        plain = [tuple(r) for r in s.connection().execute(_BY_SIGNER.statement, {"signer": SIGNER}).all()]
        return plain, _BY_SIGNER.rows(s, {"signer": SIGNER}), _BY_SIGNER.mapping(s, {"signer": SIGNER})

    plain, prepared, mapping = await db.run_read(both)
    assert prepared == plain
    assert prepared[0][1] == BIG - 1 and prepared[1][2] == b"\x02\x02\x02"
    assert prepared[0][4] == datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)
    assert mapping == {"nonce": 1, "value": BIG - 1, "data": b"\x01\x01\x01", "tx_hash": "0x" + f"{1:064x}",
                       "created_at": datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC), "block_number": None}
    stored = await db.run_read(lambda s: s.get(OutboundTx, ids[1]))
    assert (stored.value, stored.max_fee_per_gas, stored.signer) == (BIG - 2, BIG, SIGNER)


async def test_rowcounts_executemany_and_no_row(db: Database) -> None:
    rows = [{"chain_id": c, "signer": SIGNER, "next_nonce": c * 10} for c in (1, 2, 3)]
    inserted = await db.run_write(lambda s: _NONCES.run(s, rows))
    assert inserted == (3 if db.backend == "sqlite" else -1)  # asyncpg does not count an executemany
    assert await db.run_read(lambda s: _NEXT.scalar(s, {"chain": 2})) == 20
    assert await db.run_read(lambda s: _NEXT.scalar(s, {"chain": 9})) is None
    assert await db.run_read(lambda s: _NEXT.mapping(s, {"chain": 9})) is None
    await db.run_write(lambda s: _INSERT.scalar(s, _attempt(5)))
    assert await db.run_write(lambda s: _MARK.run(s, {"of_nonce": 5, "new_state": "mined"})) == 1
    assert await db.run_write(lambda s: _MARK.run(s, {"of_nonce": 6, "new_state": "mined"})) == 0
    assert await db.run_write(lambda s: _NONCES.run(s, [])) == 0


async def test_errors_are_the_ones_sqlalchemy_raises(db: Database) -> None:
    await db.run_write(lambda s: _INSERT.scalar(s, _attempt(1)))
    with pytest.raises(IntegrityError):  # the same (chain, tx hash)
        await db.run_write(lambda s: _INSERT.scalar(s, _attempt(1)))
    with pytest.raises(ValueError, match="20 bytes"):  # the column type's own check
        await db.run_write(lambda s: _INSERT.scalar(s, _attempt(2, signer="0x1234")))
    with pytest.raises(StatementError):  # a parameter the statement needs is missing
        await db.run_read(lambda s: _NEXT.scalar(s, {}))
    # nothing of the failed writes was kept
    assert await db.run_read(lambda s: [r[0] for r in _BY_SIGNER.rows(s, {"signer": SIGNER})]) == [1]


async def test_sqlite_runs_on_the_driver_and_defaults_go_through_sqlalchemy(sqlite_db: Database) -> None:
    await sqlite_db.run_write(lambda s: _INSERT.scalar(s, _attempt(1)))
    assert all(plan is not _NO_PLAN for plan in _INSERT._plans.values())
    # created_at and state left out: their Python-side defaults need SQLAlchemy's execution
    partial = {k: v for k, v in _attempt(2).items() if k not in ("created_at", "state")}
    new_id = await sqlite_db.run_write(lambda s: _INSERT.scalar(s, partial))
    assert _INSERT._plans[tuple(sorted(partial))] is _NO_PLAN
    stored = await sqlite_db.run_read(lambda s: s.get(OutboundTx, new_id))
    assert stored.state == "signed" and stored.created_at.tzinfo is not None


async def test_in_lists_literal_and_given(db: Database) -> None:
    for n, state in ((1, "signed"), (2, "broadcast"), (3, "mined")):
        await db.run_write(lambda s, n=n, state=state: _INSERT.scalar(s, _attempt(n, state=state)))
    live = Prepared(select(_TABLE.c.nonce).where(_TABLE.c.state.in_(("signed", "broadcast"))).order_by(_TABLE.c.nonce))
    chosen = Prepared(select(_TABLE.c.nonce).where(_TABLE.c.nonce.in_(bindparam("nonces", expanding=True)))
                      .order_by(_TABLE.c.nonce))
    assert await db.run_read(lambda s: live.rows(s)) == [(1,), (2,)]
    assert await db.run_read(lambda s: chosen.rows(s, {"nonces": [3, 1]})) == [(1,), (3,)]
    assert await db.run_read(lambda s: chosen.rows(s, {"nonces": [2]})) == [(2,)]
    if db.backend == "sqlite":
        assert _NO_PLAN not in live._plans.values()  # the literal list is rendered into the statement
        assert list(chosen._plans.values()) == [_NO_PLAN]  # its length is known at execution only
