"""Snapshots of the main screen and its modals at 160x50 with a fake engine and a frozen clock."""
from __future__ import annotations

from fakeclient import FakeEngineClient, frozen_clock

from mmtui.app import MmtuiApp
from screens.filter import OrderFilter

SIZE = (160, 50)


def app_for(client: FakeEngineClient) -> MmtuiApp:
    return MmtuiApp(client, clock=frozen_clock, refresh_seconds=0.1)


async def settled(pilot) -> None:
    await pilot.pause(0.3)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_main_screen(snap_compare):
    assert snap_compare(app_for(FakeEngineClient()), terminal_size=SIZE, run_before=settled)


def test_main_screen_filter_active(snap_compare):
    async def filtered(pilot):
        await settled(pilot)
        pilot.app.main.set_filter(OrderFilter.parse("status:in_flight"))
        await pilot.pause()

    assert snap_compare(app_for(FakeEngineClient()), terminal_size=SIZE, run_before=filtered)


def test_main_screen_empty(snap_compare):
    client = FakeEngineClient(orders=(), breakers=(), rebalances=(), quotes=(), capital=())
    assert snap_compare(app_for(client), terminal_size=SIZE, run_before=settled)


def test_main_screen_chain_rpc_down(snap_compare):
    assert snap_compare(app_for(FakeEngineClient(rpc_down=31338)), terminal_size=SIZE, run_before=settled)


def test_help_screen(snap_compare):
    async def help_open(pilot):
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app_for(FakeEngineClient()), terminal_size=SIZE, run_before=help_open)


def test_arming_checklist(snap_compare):
    async def arming(pilot):
        await settled(pilot)
        await pilot.press("a")
        await pilot.pause(0.3)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app_for(FakeEngineClient(arming_ok=False)), terminal_size=SIZE, run_before=arming)


def side_view(presses: int):
    """Settle, then press `v` to bring the quotes (1) or capital (2) view beside the inventory."""
    async def run_before(pilot):
        await settled(pilot)
        for _ in range(presses):
            await pilot.press("v")
        await pilot.pause(0.2)

    return run_before


def test_quotes_view_120x40(snap_compare):
    assert snap_compare(app_for(FakeEngineClient()), terminal_size=(120, 40), run_before=side_view(1))


def test_capital_view_120x40(snap_compare):
    assert snap_compare(app_for(FakeEngineClient()), terminal_size=(120, 40), run_before=side_view(2))


def test_quotes_view_200x50(snap_compare):
    assert snap_compare(app_for(FakeEngineClient()), terminal_size=(200, 50), run_before=side_view(1))
