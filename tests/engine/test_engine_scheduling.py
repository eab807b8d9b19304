"""The relayer's scheduling: a new order's relay at intake has the event loop before follow-up work."""
from __future__ import annotations

import asyncio

from enginekit import engine_config, make_engine

from engine.relayer.machine import StepResult
from engine.relayer.statuses import OrderStatus


async def test_follow_up_work_waits_while_a_new_order_is_relayed_at_intake(devnet, tmp_path):
    relayer = make_engine(engine_config(devnet, tmp_path)).relayer
    started: list[str] = []
    intake_may_finish = asyncio.Event()

    async def intake_one(log) -> None:  # a new order's relay, held in flight by the test
        await intake_may_finish.wait()

    async def advance(txid: str, **_) -> StepResult:
        started.append(txid)
        return StepResult(OrderStatus.Seen, False, "")

    relayer._intake_one = intake_one
    relayer.advance = advance
    stop = asyncio.Event()
    workers = asyncio.create_task(relayer.run(stop))
    try:
        intake = asyncio.ensure_future(relayer._intake([object()]))
        await asyncio.sleep(0)
        relayer.enqueue("0xfollow-up")
        relayer.enqueue("0xnew-order", urgent=True)
        await asyncio.sleep(0.2)
        assert started == ["0xnew-order"]  # an urgent wake goes; the follow-up waits for the intake
        intake_may_finish.set()
        await intake
        await asyncio.sleep(0.05)
        assert started == ["0xnew-order", "0xfollow-up"]
        await relayer.intake_done()  # returns at once with no intake running
    finally:
        stop.set()
        await workers
