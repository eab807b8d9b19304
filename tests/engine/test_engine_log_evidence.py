"""Our own bridge logs as evidence, on a real 2-chain devnet: a stored BridgeRelayed (or BridgeProofProvided)
emitted for us moves the order on without waiting for the submitter's tick to fetch the receipt, and an order
woken during its dispute period does not ask the chain anything."""
from __future__ import annotations

import asyncio
import time

from engine import core
from engine.api import Arm
from engine.chain.submitter import TickReport
from engine.relayer.statuses import OrderStatus
from enginekit import engine_config, make_engine, mine, running, status_of, wait_for
from test_engine_lifecycle import path_of, place


async def test_our_logs_move_the_order_when_the_submitter_never_settles(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):
        async def no_tick() -> TickReport:  # the submitters never fetch a receipt: only the logs can tell
            return TickReport()

        receipts_read: list[str] = []
        for chain in engine.chains.values():
            chain.submitter.tick = no_tick
            read_receipt = chain.rpc.get_transaction_receipt

            async def recorded(tx_hash, read_receipt=read_receipt):
                receipts_read.append(tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex())
                return await read_receipt(tx_hash)

            chain.rpc.get_transaction_receipt = recorded
        await engine.execute(Arm())
        order = await place(traffic, "USDC")
        await wait_for(lambda: (status_of(engine, order.transaction_id) or 0) >= OrderStatus.ProvePosted, 40,
                       "ProvePosted", tick=lambda: mine(devnet))
        path = await path_of(engine, order.transaction_id)
        assert path[path.index(OrderStatus.RelayStarted):][:4] == [
            OrderStatus.RelayStarted, OrderStatus.RelayCompleted, OrderStatus.ProvePosting, OrderStatus.ProvePosted]
        detail = await engine.order_detail(order.transaction_id)
        relay = {t.tx_hash for t in detail.transactions if t.purpose == "relay"}
        prove = {t.tx_hash for t in detail.transactions if t.purpose == "prove"}
        assert detail.order.relay_tx_hash in relay and detail.order.prove_tx_hash in prove
        # the prove went out on our stored BridgeRelayed: the relay's receipt was never read
        assert detail.order.relay_tx_hash.lower() not in [h.lower() for h in receipts_read]
        # the submitter's own rows still wait for their receipts: the order did not need them
        assert {t.state for t in detail.transactions} <= {"sent", "signed"}


async def _proved_order(engine, devnet, traffic):
    """Armed, a USDC order placed and followed to ProvePosted (its dispute period running)."""
    await engine.execute(Arm())
    order = await place(traffic, "USDC")
    await wait_for(lambda: status_of(engine, order.transaction_id) == OrderStatus.ProvePosted, 40,
                   "ProvePosted", tick=lambda: mine(devnet))
    return order


def _record_wakes(engine) -> list[str]:
    """Every order the relayer is asked to wake from now on, in order."""
    woken: list[str] = []
    enqueue = engine.relayer.enqueue
    engine.relayer.enqueue = lambda txid, **kw: (woken.append(txid), enqueue(txid, **kw))[1]
    return woken


async def test_a_mined_transaction_its_log_has_told_already_does_not_wake_the_order(devnet, traffic, tmp_path,
                                                                                   monkeypatch):
    """The submitter's tick settles our relay and prove after their logs moved the order on: those settlements
    wake nothing (a wake would read the order and decide nothing new)."""
    monkeypatch.setattr(core, "SWEEP_INTERVAL_SECONDS", 1000.0)  # no periodic wake of every order meanwhile
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):
        order = await _proved_order(engine, devnet, traffic)
        woken = _record_wakes(engine)

        async def settled() -> bool:
            detail = await engine.order_detail(order.transaction_id)
            return {t.purpose: t.state for t in detail.transactions} == {"relay": "mined", "prove": "mined"}

        await wait_for(settled, 30, "the relay and the prove settled by the submitters' ticks",
                       tick=lambda: mine(devnet))
        assert order.transaction_id not in woken
        assert status_of(engine, order.transaction_id) == OrderStatus.ProvePosted


async def test_the_sweep_leaves_alone_an_order_its_dispute_period_will_wake(devnet, traffic, tmp_path, monkeypatch):
    """The upkeep's periodic sweep wakes every unfinished order, except one whose chain time is awaited: in its
    dispute period an order is woken by its timer, not by each sweep."""
    monkeypatch.setattr(core, "SWEEP_INTERVAL_SECONDS", 0.2)
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):
        order = await _proved_order(engine, devnet, traffic)
        await engine.relayer.advance(order.transaction_id)  # settles into its wait: the timer is set
        assert engine.relayer.has_wake_pending(order.transaction_id)
        woken = _record_wakes(engine)
        submitter = engine.chains[order.origin_chain_id].submitter
        upkeeps: list[float] = []
        tick = submitter.tick

        async def counted_tick():
            upkeeps.append(time.monotonic())
            return await tick()

        submitter.tick = counted_tick
        for _ in range(3):  # heads (each a chain second: the dispute period is far from over) and sweeps
            await asyncio.to_thread(mine, devnet)
            await asyncio.sleep(0.5)
        assert len(upkeeps) >= 2 and upkeeps[-1] - upkeeps[0] > 0.2, "no sweep ran: nothing was tested"
        assert order.transaction_id not in woken
        assert status_of(engine, order.transaction_id) == OrderStatus.ProvePosted


async def test_an_order_woken_in_its_dispute_period_asks_the_chain_nothing(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path, confirmations=0))
    async with running(engine):
        order = await _proved_order(engine, devnet, traffic)
        asked = 0
        origin_status = engine.relayer._origin_status

        async def counted(o):
            nonlocal asked
            asked += 1
            return await origin_status(o)

        engine.relayer._origin_status = counted
        # the move to ProvePosted recorded the dispute period it waits out: no write of its own for the wait
        detail = await engine.order_detail(order.transaction_id)
        last = detail.transitions[-1]
        assert last.to_status == OrderStatus.ProvePosted
        assert [(g.name, g.passed) for g in last.reasons] == [("prove", True), ("dispute_period", False)]
        for _ in range(5):
            result = await engine.relayer.advance(order.transaction_id)
            assert result.status == OrderStatus.ProvePosted and not result.changed
            assert "dispute period" in result.text
        assert asked == 0
        assert (await engine.order_detail(order.transaction_id)).transitions[-1] == last  # nothing written meanwhile
        # once the period is over (chain time), the chain is asked and the claim goes out
        mine(devnet, seconds=devnet.settings.dispute_period + 5)
        await wait_for(lambda: (status_of(engine, order.transaction_id) or 0) >= OrderStatus.ClaimPending, 40,
                       "the claim", tick=lambda: mine(devnet))
        assert asked >= 1
