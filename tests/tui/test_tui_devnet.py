"""End to end: a real engine on its own thread (InProcessEngineClient) on a 2-chain automine devnet, the
console under Pilot: arm through the checklist with keys, place an order, see it relayed in the table."""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable

from engine.relayer.statuses import OrderStatus
from enginekit import engine_config, make_engine, mine, wait_for
from mmtui.app import MmtuiApp
from mmtui.client import InProcessEngineClient
from screens.arming import ArmingScreen

pytestmark = pytest.mark.anvil
ORIGIN, DEST = 31337, 31338


async def test_arm_and_relay_an_order_in_the_console(devnet, traffic, tmp_path):
    engine = make_engine(engine_config(devnet, tmp_path))
    client = InProcessEngineClient(engine)
    await asyncio.to_thread(client.start)
    try:
        app = MmtuiApp(client, refresh_seconds=0.1)
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(lambda: app.snapshot is not None and all(c.rpc_ok for c in app.snapshot.chains), 30,
                           "first snapshot with every chain up", tick=lambda: mine(devnet))
            assert not app.snapshot.armed
            await wait_for(lambda: app.snapshot.chains[0].gas_balance is not None, 30, "gas balances read",
                           tick=lambda: mine(devnet))
            await pilot.press("a")
            await wait_for(lambda: isinstance(app.screen, ArmingScreen) and app.screen.checks is not None, 30,
                           "arming checklist loaded",
                           describe=lambda: f"screen {type(app.screen).__name__}, focused {app.focused!r}, "
                                            f"'a' applicable: {app.main.check_action('toggle_arm', ())}")
            assert not app.screen.failing, app.screen.checks
            await pilot.press("enter")
            await wait_for(lambda: app.snapshot.armed, 10, "ARMED in the snapshot")

            usdc = 10**6
            placed = await asyncio.to_thread(traffic.place_order, ORIGIN, DEST, "USDC", 100 * usdc,
                                             100 * usdc * 999 // 1000 - 3 * usdc)
            table = app.main.query_one("#orders", DataTable)

            def status_cell() -> str | None:
                if placed.transaction_id not in table.rows:
                    return None
                return table.get_cell(placed.transaction_id, "status").plain

            await wait_for(lambda: status_cell() in {s.name for s in OrderStatus
                                                     if OrderStatus.RelayCompleted <= s <= OrderStatus.ClaimCompleted},
                           60, "the order shown RelayCompleted (or later) in the table",
                           tick=lambda: mine(devnet, 1), describe=lambda: str(status_cell()))
            journal = [e.text for e in app.snapshot.events if "arm" in e.text]
            assert any("operator: arm -> ARMED" in text for text in journal), journal
            await pilot.press("q")  # armed with the order in flight: asks first
            await pilot.pause(0.2)
            await pilot.press("y")
            await pilot.pause(0.2)
    finally:
        await asyncio.to_thread(client.stop)
    assert not client.running and client.error is None
