"""`move_order`: the relayer's guarded status change, as one UPDATE ... RETURNING plus its trace, on both backends."""
from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy import select

from engine.relayer.decisions import Gate
from engine.relayer.orders import Step, move_order, order_status, read_order
from engine.relayer.statuses import IllegalTransition, OrderStatus
from engine.store import OrderTransition

GO = Gate("origin_log", True, "#101", "", "BridgeRequested in block #101")
SHORT = Gate("inventory", False, "1 ETH", ">= 2 ETH", "committable 1 ETH < destAmount 2 ETH")


async def _seen(db, make_order):
    order = make_order(1, status=int(OrderStatus.Seen), last_reason="seen")
    async with db.write() as s:
        s.add(order)
    return order.transaction_id


async def _trace(db, txid):
    async with db.read() as s:
        rows = (await s.scalars(select(OrderTransition).where(OrderTransition.transaction_id == txid)
                                .order_by(OrderTransition.id))).all()
    return [(r.from_status, r.to_status, r.tx_hash, [g["gate"] for g in r.reasons]) for r in rows]


async def test_a_move_of_several_steps_is_one_update_and_one_trace_entry_per_step(db, make_order):
    txid = await _seen(db, make_order)
    relay = "0x" + "ab" * 32
    moved = await db.run_write(partial(
        move_order, transaction_id=txid, expect=OrderStatus.Seen,
        steps=[Step(OrderStatus.CommittedPending, [GO]), Step(OrderStatus.CommittedConfirmed, [GO]),
               Step(OrderStatus.RelayStarted, [GO], relay)],
        chain_id=31337, chain_time=1_700_000_000, fields={"relay_tx_hash": relay}))
    assert moved is not None
    assert (moved.status, moved.relay_tx_hash, moved.last_reason) == (int(OrderStatus.RelayStarted), relay, GO.text)
    stored = await db.run_read(partial(read_order, transaction_id=txid))
    assert (stored.status, stored.relay_tx_hash, stored.dest_amount) == (moved.status, relay, 999 * 10**15)
    assert await _trace(db, txid) == [
        (int(OrderStatus.Seen), int(OrderStatus.CommittedPending), None, ["origin_log"]),
        (int(OrderStatus.CommittedPending), int(OrderStatus.CommittedConfirmed), None, ["origin_log"]),
        (int(OrderStatus.CommittedConfirmed), int(OrderStatus.RelayStarted), relay, ["origin_log"]),
    ]


async def test_an_order_no_longer_in_the_expected_status_is_not_written(db, make_order):
    txid = await _seen(db, make_order)
    move = partial(move_order, transaction_id=txid, expect=OrderStatus.Seen,
                   steps=[Step(OrderStatus.CommittedPending, [GO])], chain_id=31337, chain_time=1)
    assert await db.run_write(move) is not None
    assert await db.run_write(move) is None  # a second decision taken from the same stale read
    assert len(await _trace(db, txid)) == 1
    assert await db.run_read(partial(order_status, transaction_id=txid)) == OrderStatus.CommittedPending


async def test_staying_for_the_same_reason_writes_nothing_and_a_new_reason_is_recorded(db, make_order):
    txid = await _seen(db, make_order)
    stay = partial(move_order, transaction_id=txid, expect=OrderStatus.Seen, chain_id=31337, chain_time=1,
                   new_reason_only=True)
    assert await db.run_write(partial(stay, steps=[Step(OrderStatus.Seen, [SHORT])])) is not None
    assert await db.run_write(partial(stay, steps=[Step(OrderStatus.Seen, [SHORT])])) is None
    assert await db.run_write(partial(stay, steps=[Step(OrderStatus.Seen, [GO])])) is not None
    assert [t[3] for t in await _trace(db, txid)] == [["inventory"], ["origin_log"]]


async def test_a_move_the_state_machine_forbids_raises_and_leaves_the_order_as_it_was(db, make_order):
    txid = await _seen(db, make_order)
    with pytest.raises(IllegalTransition):
        await db.run_write(partial(move_order, transaction_id=txid, expect=OrderStatus.Seen,
                                   steps=[Step(OrderStatus.CommittedConfirmed, [GO]),
                                          Step(OrderStatus.CommittedPending, [GO])],  # the second moves down
                                   chain_id=31337, chain_time=1))
    assert await db.run_read(partial(order_status, transaction_id=txid)) == OrderStatus.Seen
    assert await _trace(db, txid) == []
