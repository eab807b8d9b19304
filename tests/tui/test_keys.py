"""Keys send the right command through the client, or none when they do not apply."""
from __future__ import annotations

from dataclasses import replace

import pytest
from fakeclient import FakeEngineClient, frozen_clock, make_orders
from textual.widgets import DataTable

from engine.api import ApproveRebalance, Arm, Disarm, Freeze, RejectRebalance, RelayOrder, ResetBreaker, Unfreeze
from engine.relayer.statuses import OrderStatus
from mmtui.app import MmtuiApp
from screens.arming import ArmingScreen
from screens.confirm import ConfirmScreen
from screens.filter import FilterScreen
from screens.help import HelpScreen
from screens.order_detail import OrderDetailScreen

SIZE = (160, 50)


async def ready(pilot) -> None:
    await pilot.pause(0.2)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def settle(pilot) -> None:
    await pilot.pause(0.1)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def select_row(app: MmtuiApp, table_id: str, row: int) -> None:
    table = app.main.query_one(table_id, DataTable)
    table.focus()
    table.move_cursor(row=row, animate=False)


def order_row(app: MmtuiApp, status: OrderStatus) -> int:
    table = app.main.query_one("#orders", DataTable)
    txid = next(o.transaction_id for o in app.snapshot.orders if o.status == status)
    return table.get_row_index(txid)


async def test_arm_through_checklist_sends_arm():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ArmingScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert client.executed == [Arm()]


async def test_arm_override_when_checks_fail():
    client = FakeEngineClient(arming_ok=False)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("enter")  # refused by the checklist: a check fails
        await settle(pilot)
        assert client.executed == []
        await pilot.press("o")
        await settle(pilot)
        assert client.executed == [Arm(override=True)]


async def test_arming_cancelled_sends_nothing():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert client.executed == []


async def test_disarm_is_immediate():
    client = FakeEngineClient(armed=True)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert client.executed == [Disarm()]


async def test_freeze_is_immediate_unfreeze_confirms():
    client = FakeEngineClient(frozen=False)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert client.executed == [Freeze()]
    client = FakeEngineClient(frozen=True)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert client.executed == []
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert client.executed == [Unfreeze()]


async def test_relay_selected_order_while_disarmed():
    client = FakeEngineClient(armed=False)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        select_row(app, "#orders", order_row(app, OrderStatus.NotEnoughInventory))
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        txid = next(o.transaction_id for o in client.state.orders if o.status == OrderStatus.NotEnoughInventory)
        assert client.executed == [RelayOrder(transaction_id=txid)]


@pytest.mark.parametrize("armed, status", [(True, OrderStatus.Seen), (False, OrderStatus.RelayStarted),
                                           (False, OrderStatus.ClaimCompleted)])
async def test_relay_not_applicable_sends_nothing(armed, status):
    client = FakeEngineClient(armed=armed)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        select_row(app, "#orders", order_row(app, status))
        await pilot.pause()
        assert app.main.check_action("relay_order", ()) is None  # greyed out in the footer
        await pilot.press("p")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert client.executed == []


async def test_approve_and_reject_proposed_rebalance():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        select_row(app, "#rebalances-table", 0)  # id 7, proposed
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert client.executed == [ApproveRebalance(rebalance_id=7), RejectRebalance(rebalance_id=7)]


async def test_rebalance_keys_without_proposed_selection_send_nothing():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        select_row(app, "#rebalances-table", 1)  # id 6, done
        await pilot.press("r", "x")
        await settle(pilot)
        select_row(app, "#orders", 0)  # a proposed rebalance exists, but the orders table has the focus
        await pilot.press("r", "x")
        await settle(pilot)
        assert client.executed == []


async def test_reset_tripped_breaker_confirms():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        select_row(app, "#breakers-table", 1)  # ok breaker: not applicable
        await pilot.press("b")
        await settle(pilot)
        assert client.executed == [] and not isinstance(app.screen, ConfirmScreen)
        select_row(app, "#breakers-table", 0)  # the tripped one sorts first
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert client.executed == [ResetBreaker(name="max-loss-24h")]


async def test_failing_command_shows_error_notification():
    client = FakeEngineClient(frozen=False)
    client.fail["freeze"] = "journal unavailable"
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f")
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert [n.message for n in errors] == ["journal unavailable"]


async def test_command_that_raises_shows_error_notification():
    client = FakeEngineClient(armed=True)
    client.raise_on.add("disarm")
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert any("engine thread gone" in n.message and n.severity == "error" for n in app._notifications)


async def test_enter_opens_order_detail():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        select_row(app, "#orders", 2)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OrderDetailScreen)
        assert client.executed == []


async def test_filter_help_and_theme():
    client = FakeEngineClient()
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, FilterScreen)
        await pilot.press(*"status:done", "enter")
        await settle(pilot)
        table = app.main.query_one("#orders", DataTable)
        assert table.row_count == 1 and "filter" in str(table.border_title)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        before = app.theme
        await pilot.press("t")
        await settle(pilot)
        assert app.theme != before
        assert client.executed == []


async def test_quit_while_armed_with_orders_in_flight_asks_first():
    client = FakeEngineClient(armed=True)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert app.is_running
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("y")
        await pilot.pause()
    assert client.executed == []


async def test_quit_disarmed_is_immediate():
    client = FakeEngineClient(armed=False)
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
    assert app.return_code == 0


async def test_older_orders_load_at_the_bottom():
    client = FakeEngineClient()
    older = tuple(replace(o, transaction_id="0x" + "ee" * 31 + f"{i:02x}", status=OrderStatus.ClaimCompleted)
                  for i, o in enumerate(make_orders()[:3]))
    client.older = older
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.main.query_one("#orders", DataTable)
        table.focus()
        table.move_cursor(row=table.row_count - 2, animate=False)
        await pilot.press("down")  # the cursor reaches the bottom row
        await settle(pilot)
        assert client.list_calls[:1] == [0]
        assert table.row_count == 12 + 3
