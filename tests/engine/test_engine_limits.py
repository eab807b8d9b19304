"""Exposure limits on a real devnet: an order beyond a limit is refused (WillNotProcess) with the limit
named in its decision trace; orders within the limits are committed as usual."""
from __future__ import annotations

from engine.relayer.statuses import OrderStatus
from enginekit import describe_order, engine_config, make_engine, mine, running, status_of, wait_for
from test_engine_lifecycle import DEST, ORIGIN, place, reason_of

FINAL_FOR_A_DISARMED_ENGINE = (OrderStatus.CommittedConfirmed, OrderStatus.WillNotProcess)


async def settled(engine, devnet, order) -> OrderStatus:
    await wait_for(lambda: status_of(engine, order.transaction_id) in FINAL_FOR_A_DISARMED_ENGINE, 30,
                   "a decision", tick=lambda: mine(devnet), describe=describe_order(engine, order.transaction_id))
    return status_of(engine, order.transaction_id)


async def test_order_and_window_notional_limits_refuse_with_the_limit_named(devnet, traffic, tmp_path):
    limits = {"max_order_notional_usd": 500, "max_window_notional_usd": 700, "window_seconds": 3600}
    engine = make_engine(engine_config(devnet, tmp_path, limits=limits))  # disarmed: commits, never sends
    async with running(engine):
        too_big = await place(traffic, "USDC", "600")
        assert await settled(engine, devnet, too_big) == OrderStatus.WillNotProcess
        assert "max_order_notional_usd 500 USD" in reason_of(engine, too_big.transaction_id)

        first = await place(traffic, "USDC", "400")
        assert await settled(engine, devnet, first) == OrderStatus.CommittedConfirmed
        committed = [r for r in engine.snapshot().capital if r.stage == "committed"]
        assert [(r.chain_id, r.symbol, r.amount, r.entries) for r in committed] == [(DEST, "USDC", first.dest_amount, 1)]
        second = await place(traffic, "USDC", "400")  # 396.6 + 396.6 USD committed > 700 in the window
        assert await settled(engine, devnet, second) == OrderStatus.WillNotProcess
        reason = reason_of(engine, second.transaction_id)
        assert "max_window_notional_usd 700 USD per 3600 s" in reason, reason

        detail = await engine.order_detail(second.transaction_id)
        refused = detail.transitions[-1]
        assert refused.to_status == OrderStatus.WillNotProcess
        failing = [g.name for g in refused.reasons if not g.passed]
        assert failing == ["max_window_notional_usd"], failing

    # the window is rebuilt from the stored commitments after a restart
    again = make_engine(engine_config(devnet, tmp_path, limits=limits))
    async with running(again):
        third = await place(traffic, "USDC", "400")
        assert await settled(again, devnet, third) == OrderStatus.WillNotProcess


async def test_a_disabled_route_is_refused_by_name(devnet, traffic, tmp_path):
    limits = {"disabled_routes": [f"{ORIGIN}-USDC>{DEST}-USDC"]}
    engine = make_engine(engine_config(devnet, tmp_path, limits=limits))
    async with running(engine):
        blocked = await place(traffic, "USDC", "100")
        other = await place(traffic, "ETH", "0.5")
        assert await settled(engine, devnet, blocked) == OrderStatus.WillNotProcess
        assert "disabled by limits.disabled_routes" in reason_of(engine, blocked.transaction_id)
        assert await settled(engine, devnet, other) == OrderStatus.CommittedConfirmed
