"""Between wakes the relayer serves an order from memory (the row its last write returned and the events it
read), on a real 2-chain devnet: a wake after a write reads nothing, and a change of the stored logs (the
watcher's commit, a reorg's roll-back) makes the next wake read them again."""
from __future__ import annotations

import asyncio

from sqlalchemy import delete

from engine.api import Arm
from engine.protocol import calls
from engine.protocol.events import BRIDGE_REQUESTED
from engine.relayer.orders import _ORDER_KEYS, order_events, plain_order, read_order
from engine.relayer.statuses import OrderStatus
from engine.store import ChainLog
from enginekit import engine_config, make_engine, mine, running, status_of, wait_for
from test_engine_lifecycle import DEST, ORIGIN, place, reason_of


def _count_order_reads(engine) -> list[str]:
    """Every read of an order and its events by the relayer (the read a wake starts with)."""
    reads: list[str] = []
    run_read = engine.db.run_read

    async def counted(fn):
        if getattr(fn, "func", None) is not None and fn.func.__name__ == "_order_and_events":
            reads.append(fn.keywords["transaction_id"])
        return await run_read(fn)

    engine.db.run_read = counted
    return reads


async def test_a_wake_reads_the_order_only_when_its_stored_logs_changed(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):  # DISARMED: the order is committed and waits with "would relay now"
        order = await place(traffic, "ETH", amount="0.2")
        txid = order.transaction_id
        await wait_for(lambda: "DISARMED" in reason_of(engine, txid) if status_of(engine, txid) else False, 30,
                       "the dry run", tick=lambda: mine(devnet))
        assert status_of(engine, txid) == OrderStatus.CommittedConfirmed
        reads = _count_order_reads(engine)

        await engine.relayer.advance(txid)
        assert reads == []  # served from memory: the row the dry run's write returned

        # the request's log is deleted as a reorg's roll-back would; memory still holds it...
        topic0 = "0x" + BRIDGE_REQUESTED.topic0.hex()
        await engine.db.run_write(lambda s: s.execute(delete(ChainLog).where(
            ChainLog.transaction_id == txid, ChainLog.topic0 == topic0)))
        await engine.relayer.advance(txid)
        assert reads == [] and status_of(engine, txid) == OrderStatus.CommittedConfirmed
        # ...until the roll-back is announced: the next wake reads, finds the request gone, releases the funds
        engine.relayer.forget_all()
        result = await engine.relayer.advance(txid)
        assert reads == [txid]
        assert result.status == OrderStatus.Seen and "no longer on chain" in result.text

        engine.relayer.forget([txid])  # as the watcher does after storing a log of this order
        await engine.relayer.advance(txid)
        assert reads == [txid, txid]


async def test_the_live_view_keeps_every_active_order_and_the_newest_finished(devnet, traffic, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.core.RECENT_FINISHED_ORDERS", 3)
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):
        order = await place(traffic, "ETH", amount="0.2")
        await wait_for(lambda: status_of(engine, order.transaction_id) is not None, 30, "the order",
                       tick=lambda: mine(devnet))
        row = await engine.db.run_read(lambda s: read_order(s, order.transaction_id))

        def copy(n: int, status: OrderStatus):
            data = {key: getattr(row, key) for key in _ORDER_KEYS}
            data.update(transaction_id=f"0x{n:064x}", status=int(status))
            return plain_order(data)

        # the relayer's memory is bounded too: the longest unwoken order goes first, a finished one is not kept
        monkeypatch.setattr("engine.relayer.machine.KNOWN_ORDERS_MAX", 2)
        engine.relayer._known.clear()
        for n in (1, 2, 3):
            engine.relayer._keep(f"0x{n:064x}", copy(n, OrderStatus.Seen), [])
        engine.relayer._keep(f"0x{4:064x}", copy(4, OrderStatus.ClaimCompleted), [])
        assert list(engine.relayer._known) == [f"0x{2:064x}", f"0x{3:064x}"]

        for n in range(1, 5):
            engine._order_changed(copy(n, OrderStatus.Seen))
        for n in range(10, 17):  # the 7th finished order makes 2 x 3 + 1: trimmed to the newest 3
            engine._order_changed(copy(n, OrderStatus.ClaimCompleted))
        engine._order_changed(copy(16, OrderStatus.ClaimCompleted))  # seen again: not counted twice
        shown = {o.transaction_id for o in engine.snapshot().orders}
        assert {f"0x{n:064x}" for n in range(1, 5)} <= shown  # active orders are never trimmed
        assert {t for t in shown if 10 <= int(t, 16) < 100} == {f"0x{n:064x}" for n in (14, 15, 16)}
        assert order.transaction_id in shown



async def test_a_stored_log_joins_a_remembered_orders_events_as_a_read_would_find_it(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):  # DISARMED: the competitor relays first
        order = await place(traffic, "ETH", amount="0.2")
        txid = order.transaction_id
        await wait_for(lambda: "DISARMED" in reason_of(engine, txid) if status_of(engine, txid) else False, 30,
                       "the dry run", tick=lambda: mine(devnet))
        reads = _count_order_reads(engine)
        judged_on: list[list] = []
        check_lost = engine.relayer._check_lost

        async def recorded(order_row, status, events):
            judged_on.append(list(events))
            return await check_lost(order_row, status, events)

        engine.relayer._check_lost = recorded
        await asyncio.to_thread(traffic.competitor_relay, DEST, order.request)
        await wait_for(lambda: status_of(engine, txid) == OrderStatus.RelayRaceLost, 30, "RelayRaceLost",
                       tick=lambda: mine(devnet))
        assert reads == []  # the competitor's BridgeRelayed came with the delivery, not from a read
        assert "race lost" in reason_of(engine, txid)
        # it was judged on what a read gives: the request, then the competitor's relay
        stored = await engine.db.run_read(lambda s: order_events(s, txid))
        assert [(e.chain_id, e.name) for e in stored] == [(ORIGIN, "BridgeRequested"), (DEST, "BridgeRelayed")]
        assert judged_on[-1] == stored


async def test_a_new_order_is_decided_on_what_the_watchers_write_stored_with_no_read(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    reads = _count_order_reads(engine)
    judged_on: list[tuple] = []
    check_lost = engine.relayer._check_lost

    async def recorded(order_row, status, events):
        judged_on.append((order_row.transaction_id, status, list(events),
                          {key: getattr(order_row, key) for key in _ORDER_KEYS}))
        return await check_lost(order_row, status, events)

    engine.relayer._check_lost = recorded
    async with running(engine):  # DISARMED: the new order goes Seen -> CommittedConfirmed ("would relay")
        order = await place(traffic, "ETH", amount="0.2")
        txid = order.transaction_id
        await wait_for(lambda: "DISARMED" in reason_of(engine, txid) if status_of(engine, txid) else False, 30,
                       "the dry run", tick=lambda: mine(devnet))
        assert txid not in reads  # its first wake started from the watcher's own write
        first = next(j for j in judged_on if j[0] == txid)
        assert first[1] == OrderStatus.Seen
        stored = await engine.db.run_read(lambda s: order_events(s, txid))
        assert [(e.chain_id, e.name) for e in stored] == [(ORIGIN, "BridgeRequested")]
        assert first[2] == stored  # the events a read gives
        row = await engine.db.run_read(lambda s: read_order(s, txid))
        moved = {"status", "last_reason", "updated_at"}  # by the decision since
        assert {k: v for k, v in first[3].items() if k not in moved} == {
            key: getattr(row, key) for key in _ORDER_KEYS if key not in moved}  # the row a read gives

        # a seed is kept only by the delivery of the commit that wrote it: a later one does not use it
        engine.relayer._seeds = {txid: engine.relayer._seeds.get(txid) or (None, [])}
        engine.relayer.forget([txid])
        engine.relayer.logs_stored([])
        await engine.relayer.advance(txid)
        assert reads == [txid]


async def test_armed_the_reads_of_a_new_orders_relay_start_when_the_watcher_decodes_it(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    taken: dict[bytes, bool] = {}  # relay calldata -> did its send find the reads started for it?
    origin_reads: dict[str, bool] = {}  # txid -> the same for its origin status
    async with running(engine):
        dest_submitter = engine.chains[DEST].submitter
        take = dest_submitter._take_prefetched

        def recorded_take(to, data, value):
            found = take(to, data, value)
            taken[data] = found is not None
            return found

        dest_submitter._take_prefetched = recorded_take
        soon = engine.relayer._origin_status_soon

        def recorded_soon(order):
            origin_reads[order.transaction_id] = order.transaction_id in engine.relayer._origin_reads
            return soon(order)

        engine.relayer._origin_status_soon = recorded_soon

        order = await place(traffic, "ETH", amount="0.2")  # disarmed: nothing is read ahead
        await wait_for(lambda: "DISARMED" in reason_of(engine, order.transaction_id)
                       if status_of(engine, order.transaction_id) else False, 30, "the dry run",
                       tick=lambda: mine(devnet))
        assert not dest_submitter._prefetched and not engine.relayer._origin_reads

        assert (await engine.execute(Arm(actor="test", override=True))).ok
        second = await place(traffic, "ETH", amount="0.2")
        await wait_for(lambda: (status_of(engine, second.transaction_id) or 0) >= OrderStatus.RelayCompleted, 60,
                       "the relay", tick=lambda: mine(devnet))
        assert origin_reads[second.transaction_id], "the origin status was read again at the send"
        assert taken[calls.encode_relay(second.request)], "the relay's estimate and balance were read again"
