"""Snapshots and Pilot tests of the modal screens (confirm, arming, order detail, help, filter).

Fixed data and a frozen clock only: nothing rendered depends on the wall clock or on chance.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Input

from engine.api import ArmingCheck, OrderDetail, OrderView, TransactionView, TransitionView
from engine.relayer.decisions import Gate
from engine.relayer.statuses import OrderStatus, StatusFamily
from screens.arming import ArmingScreen
from screens.confirm import ConfirmScreen
from screens.filter import FilterScreen, OrderFilter
from screens.help import HelpScreen
from screens.order_detail import OrderDetailScreen, countdown_text, status_classes
from themes import DEFAULT_THEME, FAMILY_VARIABLES, THEMES, family_variable
from widgets.cells import native, wei_in_text

SIZE = (120, 40)
NOW = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
_UNSET = object()


class Harness(App[None]):
    """Pushes the screen under test on mount and keeps what it dismissed with."""

    def __init__(self, make_screen: Callable[[], Screen]) -> None:
        super().__init__()
        self.make_screen = make_screen
        self.result: object = _UNSET
        for theme in THEMES:  # the screens use mmtui's theme variables ($status-in-flight...)
            self.register_theme(theme)
        self.theme = DEFAULT_THEME

    def on_mount(self) -> None:
        self.push_screen(self.make_screen(), callback=self._done)

    def _done(self, result: object) -> None:
        self.result = result


# --- fixed data -----------------------------------------------------------------------------------

TX_ID = "0xab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
SENDER = "0x1111111111111111111111111111111111111111"
RECIPIENT = "0x2222222222222222222222222222222222222222"
USDC_A = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
USDC_B = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"


def make_order(**changes) -> OrderView:
    fields = dict(
        transaction_id=TX_ID, origin_chain_id=31337, dest_chain_id=31338,
        origin_token=USDC_A, dest_token=USDC_B, origin_symbol="USDC", dest_symbol="USDC",
        origin_decimals=6, dest_decimals=6, origin_amount=1_000_500_000, dest_amount=1_000_000_000,
        deadline=NOW_TS + 41, status=OrderStatus.RelayCompleted, last_reason="relay confirmed in block 120",
        created_at=datetime(2026, 11, 21, 9, 58, 0, tzinfo=UTC),
        updated_at=datetime(2026, 11, 21, 9, 59, 30, tzinfo=UTC),
        origin_sender=SENDER, dest_recipient=RECIPIENT,
        exclusivity_relayer=None, exclusivity_end_time=None,
        relay_tx_hash="0x" + "77" * 32, prove_tx_hash=None, claim_tx_hash=None, failures=1,
    )
    fields.update(changes)
    return OrderView(**fields)


def gate(name: str, passed: bool, text: str) -> Gate:
    return Gate(name=name, passed=passed, value="", threshold="", text=text)


def make_detail() -> OrderDetail:
    t0 = NOW_TS - 120
    transitions = (
        TransitionView(None, OrderStatus.Seen, 31337, t0, datetime(2026, 11, 21, 9, 58, 0, tzinfo=UTC), (
            gate("route", True, "route 31337:USDC -> 31338:USDC is configured"),
            gate("confirmations", False, "1 of 2 confirmations on 31337"),
        )),
        TransitionView(OrderStatus.Seen, OrderStatus.CommittedConfirmed, 31337, t0 + 12,
                       datetime(2026, 11, 21, 9, 58, 12, tzinfo=UTC), (
            gate("confirmations", True, "2 of 2 confirmations on 31337"),
            gate("inventory", True, "1000 USDC spendable on 31338, needs 1000 USDC"),
            gate("profitability", True, "fee 0.5 USDC >= min 0.1 USDC"),
        )),
        TransitionView(OrderStatus.CommittedConfirmed, OrderStatus.RelayStarted, 31338, t0 + 14,
                       datetime(2026, 11, 21, 9, 58, 14, tzinfo=UTC), (), tx_hash="0x" + "66" * 32),
        TransitionView(OrderStatus.RelayStarted, OrderStatus.RelayCompleted, 31338, t0 + 20,
                       datetime(2026, 11, 21, 9, 58, 20, tzinfo=UTC), (
            gate("dest_relay", True, "BridgeRelayed [/x] by us in block 120"),
        ), tx_hash="0x" + "77" * 32),
    )
    transactions = (
        TransactionView(31338, 7, 1, "relay", "0x" + "66" * 32, "replaced", None,
                        "replacement transaction underpriced [bold]", datetime(2026, 11, 21, 9, 58, 14, tzinfo=UTC)),
        TransactionView(31338, 7, 2, "relay", "0x" + "77" * 32, "confirmed", 120, None,
                        datetime(2026, 11, 21, 9, 58, 17, tzinfo=UTC)),
        TransactionView(31337, 3, 1, "prove", "0x" + "88" * 32, "pending", None, None,
                        datetime(2026, 11, 21, 9, 58, 25, tzinfo=UTC)),
    )
    return OrderDetail(order=make_order(), transitions=transitions, transactions=transactions)


GREEN = (
    ArmingCheck("prices", True, "fresh: newest quote 3 s old (max 30 s)"),
    ArmingCheck("balances", True, "credited on 31337 and 31338"),
    ArmingCheck("pending", True, "pending 0 USDC kept apart from spendable"),
    ArmingCheck("database", True, "sqlite reachable (2 ms)"),
    ArmingCheck("limits", True, "max relay 10000 USDC, daily 50000 USDC"),
    ArmingCheck("rpc 31337", True, "head 120, 1 s ago"),
    ArmingCheck("rpc 31338", True, "head 98, 1 s ago"),
)
RED = GREEN[:4] + (
    ArmingCheck("limits", False, "no max_relay_amount set for [red]USDC[/red]"),
    ArmingCheck("rpc 31337", True, "head 120, 1 s ago"),
    ArmingCheck("rpc 31338", False, "connection refused: http://127.0.0.1:9/ (3 errors)"),
)


def fixed(checks: tuple[ArmingCheck, ...]):
    async def load() -> tuple[ArmingCheck, ...]:
        return checks
    return load


HELP_ROWS = (
    ("?", "this help"), ("/", "filter orders"), ("enter", "order detail"), ("a", "arm (checklist)"),
    ("d", "disarm"), ("f", "freeze withdrawals"), ("r", "relay the selected order by hand"),
    ("t", "next theme"), ("q", "quit"),
)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# --- snapshots ------------------------------------------------------------------------------------

def test_confirm_snapshot(snap_compare) -> None:
    app = Harness(lambda: ConfirmScreen(
        "Relay this order by hand?",
        "Order 0xab12…ab12 sends 1000 USDC [b]now[/b] on 31338, armed or not.",
        confirm_label="Relay", danger=True,
    ))
    assert snap_compare(app, terminal_size=SIZE)


def test_arming_all_green_snapshot(snap_compare) -> None:
    app = Harness(lambda: ArmingScreen(fixed(GREEN), refresh_seconds=3600))
    assert snap_compare(app, terminal_size=SIZE, run_before=_settle)


def test_arming_red_snapshot(snap_compare) -> None:
    app = Harness(lambda: ArmingScreen(fixed(RED), refresh_seconds=3600))
    assert snap_compare(app, terminal_size=SIZE, run_before=_settle)


def test_order_detail_snapshot(snap_compare) -> None:
    app = Harness(lambda: OrderDetailScreen(make_detail(), now=lambda: NOW))
    assert snap_compare(app, terminal_size=SIZE)


def test_order_detail_scrolled_snapshot(snap_compare) -> None:
    app = Harness(lambda: OrderDetailScreen(make_detail(), now=lambda: NOW))
    assert snap_compare(app, terminal_size=SIZE, press=["end"])


def test_help_snapshot(snap_compare) -> None:
    app = Harness(lambda: HelpScreen(HELP_ROWS))
    assert snap_compare(app, terminal_size=SIZE)


async def _no_blink(pilot) -> None:
    pilot.app.screen.query_one(Input).cursor_blink = False
    await pilot.pause()


def test_filter_typed_snapshot(snap_compare) -> None:
    async def type_query(pilot) -> None:
        await _no_blink(pilot)
        await pilot.press(*"status:in_flight chain:31338 token:usdc 0xab12")

    app = Harness(lambda: FilterScreen(OrderFilter()))
    assert snap_compare(app, terminal_size=SIZE, run_before=type_query)


def test_filter_error_snapshot(snap_compare) -> None:
    async def bad_query(pilot) -> None:
        await _no_blink(pilot)
        await pilot.press(*"status:bogus", "enter")

    app = Harness(lambda: FilterScreen(OrderFilter(chain_id=31338)))
    assert snap_compare(app, terminal_size=SIZE, run_before=bad_query)


# --- Pilot: keys return the right results ---------------------------------------------------------

@pytest.mark.parametrize(("keys", "expected"), [
    (("y",), True), (("enter",), True), (("n",), False), (("escape",), False),
])
async def test_confirm_keys(keys, expected) -> None:
    app = Harness(lambda: ConfirmScreen("Freeze?", "Stops withdrawals."))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*keys)
        await pilot.pause()
        assert app.result is expected


async def test_confirm_buttons() -> None:
    app = Harness(lambda: ConfirmScreen("Freeze?", "Stops withdrawals."))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#confirm-cancel")
        await pilot.pause()
        assert app.result is False


async def test_arming_enter_arms_when_all_green() -> None:
    app = Harness(lambda: ArmingScreen(fixed(GREEN), refresh_seconds=3600))
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("o")  # nothing to override: ignored
        await pilot.pause()
        assert app.result is _UNSET
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == "arm"


async def test_arming_red_refuses_enter_and_overrides_on_o() -> None:
    app = Harness(lambda: ArmingScreen(fixed(RED), refresh_seconds=3600))
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("enter", "a")
        await pilot.pause()
        assert app.result is _UNSET
        assert isinstance(app.screen, ArmingScreen)
        await pilot.press("o")
        await pilot.pause()
        assert app.result == "override"


async def test_arming_escape_cancels() -> None:
    app = Harness(lambda: ArmingScreen(fixed(GREEN), refresh_seconds=3600))
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is None


async def test_arming_ignores_keys_until_first_load_and_reloads() -> None:
    calls = 0
    release = asyncio.Event()

    async def load() -> tuple[ArmingCheck, ...]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()
        return GREEN if calls < 3 else RED

    app = Harness(lambda: ArmingScreen(load, refresh_seconds=0.05))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ArmingScreen)
        assert screen.checks is None
        await pilot.press("enter")
        await pilot.pause()
        assert app.result is _UNSET
        assert calls == 1  # no pile-up while the first load hangs
        release.set()
        for _ in range(100):
            await pilot.pause(0.02)
            if calls >= 3:
                break
        await _settle(pilot)
        assert calls >= 3
        assert screen.failing  # the reload replaced the green checks with red ones


async def test_arming_load_error_is_shown() -> None:
    async def broken() -> tuple[ArmingCheck, ...]:
        raise ConnectionError("engine [b]gone[/b]")

    app = Harness(lambda: ArmingScreen(broken, refresh_seconds=3600))
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        error = app.screen.query_one("#arming-error")
        assert "engine [b]gone[/b]" in str(error.render())
        await pilot.press("enter", "o")
        await pilot.pause()
        assert app.result is _UNSET


async def test_filter_enter_applies_escape_cancels_ctrl_u_clears() -> None:
    app = Harness(lambda: FilterScreen(OrderFilter(chain_id=31337, text="0xab")))
    async with app.run_test(size=SIZE) as pilot:
        field = app.screen.query_one(Input)
        assert field.value == "chain:31337 text:0xab"
        await pilot.press("ctrl+u")
        assert field.value == ""
        await pilot.press(*"status:done token:usdc", "enter")
        await pilot.pause()
        assert app.result == OrderFilter(statuses=frozenset({"done"}), token="USDC")

    app = Harness(lambda: FilterScreen(OrderFilter()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"chain:x", "enter")
        await pilot.pause()
        assert app.result is _UNSET
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is None


@pytest.mark.parametrize("keys", ["escape", "q"])
async def test_order_detail_closes(keys) -> None:
    app = Harness(lambda: OrderDetailScreen(make_detail(), now=lambda: NOW))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(keys)
        await pilot.pause()
        assert app.result is None


async def test_order_detail_countdown_follows_the_clock() -> None:
    clock = [NOW]
    app = Harness(lambda: OrderDetailScreen(make_detail(), now=lambda: clock[0]))
    async with app.run_test(size=SIZE) as pilot:
        deadline = app.screen.query_one("#deadline")
        assert str(deadline.render()).endswith("in 41 s")
        clock[0] = datetime(2026, 11, 21, 10, 0, 44, tzinfo=UTC)
        app.screen._update_deadline()
        await pilot.pause()
        assert str(deadline.render()).endswith("passed 3 s ago")


@pytest.mark.parametrize("key", ["escape", "question_mark", "q"])
async def test_help_closes(key) -> None:
    app = Harness(lambda: HelpScreen(HELP_ROWS))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert app.result is None


# --- OrderFilter: pure -----------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "expected"), [
    ("", OrderFilter()),
    ("   ", OrderFilter()),
    ("status:in_flight chain:31338 token:usdc 0xab12",
     OrderFilter(statuses=frozenset({"in_flight"}), chain_id=31338, token="USDC", text="0xab12")),
    ("STATUS:seen,ClaimCompleted status:Lost", OrderFilter(statuses=frozenset({"Seen", "ClaimCompleted", "lost"}))),
    ("status:12", OrderFilter(statuses=frozenset({"ClaimCompleted"}))),
    ("not enough", OrderFilter(text="not enough")),
    ("text:0xab inventory", OrderFilter(text="0xab inventory")),
    ("0xab:cd", OrderFilter(text="0xab:cd")),
])
def test_filter_parse(query, expected) -> None:
    assert OrderFilter.parse(query) == expected


@pytest.mark.parametrize(("query", "message"), [
    ("status:bogus", "unknown status 'bogus'"),
    ("status:", "status: needs a value"),
    ("status:seen,,done", "empty status"),
    ("chain:abc", "chain: must be a chain id"),
    ("chain:0", "chain: must be a chain id"),
    ("chain:1 chain:2", "chain: given twice"),
    ("token:a token:b", "token: given twice"),
    ("colour:red", "unknown filter key 'colour:'"),
])
def test_filter_parse_errors(query, message) -> None:
    with pytest.raises(ValueError, match=message):
        OrderFilter.parse(query)


def test_filter_describe_round_trips() -> None:
    f = OrderFilter.parse("token:weth status:seen,in_flight chain:31338 not enough")
    assert f.describe() == "status:Seen,in_flight chain:31338 token:WETH text:not enough"
    assert OrderFilter.parse(f.describe()) == f
    assert OrderFilter().describe() == ""
    assert OrderFilter().is_empty and not f.is_empty


def test_filter_matches() -> None:
    order = make_order(status=OrderStatus.RelayStarted, dest_symbol="usdc.E",
                       last_reason="not enough inventory on 31338")
    assert OrderFilter().matches(order)
    assert OrderFilter.parse("status:in_flight").matches(order)
    assert OrderFilter.parse("status:RelayStarted").matches(order)
    assert not OrderFilter.parse("status:done,Seen").matches(order)
    assert OrderFilter.parse("chain:31337").matches(order)
    assert OrderFilter.parse("chain:31338").matches(order)
    assert not OrderFilter.parse("chain:1").matches(order)
    assert OrderFilter.parse("token:USDC.e").matches(order)
    assert OrderFilter.parse("token:usdc").matches(order)
    assert not OrderFilter.parse("token:weth").matches(order)
    assert OrderFilter.parse("0XAB12CD").matches(order)  # transaction id prefix, any case
    assert OrderFilter.parse("cd34ef").matches(order)  # substring
    assert OrderFilter.parse("0x1111").matches(order)  # sender
    assert OrderFilter.parse("0x2222").matches(order)  # recipient
    assert OrderFilter.parse("inventory 31338").matches(order)  # reason, every word
    assert not OrderFilter.parse("inventory 99999").matches(order)
    assert not OrderFilter.parse("inventory").matches(make_order(last_reason=None))
    assert not OrderFilter.parse("status:in_flight chain:1").matches(order)  # all parts must match


def test_countdown_text() -> None:
    assert countdown_text(NOW_TS + 41, NOW) == "in 41 s"
    assert countdown_text(NOW_TS - 3, NOW) == "passed 3 s ago"
    assert countdown_text(NOW_TS, NOW) == "now"
    assert countdown_text(NOW_TS + 600, NOW) == "in 10 min 0 s"
    assert countdown_text(NOW_TS - 3 * 3600 - 60, NOW) == "passed 3 h 1 min ago"


@pytest.mark.parametrize("wei, text", [(None, "?"), (0, "0 ETH"), (2 * 10**15, "0.002 ETH"), (10**18, "1 ETH"),
                                       (1_234_567_890_123_456_789, "1.234567 ETH"), (5, "<0.000001 ETH")])
def test_native_amounts_for_operators(wei, text) -> None:
    assert native(wei, "ETH") == text


def test_wei_in_engine_text_is_shown_in_the_native_token() -> None:
    detail = "gas balance 2000000000000000 wei vs min_gas_token 10000000000000000 wei"
    assert wei_in_text(detail, "ETH") == "gas balance 0.002 ETH vs min_gas_token 0.01 ETH"


def test_every_theme_colours_every_status_family() -> None:
    for theme in THEMES:
        assert set(FAMILY_VARIABLES) | {"status-muted"} <= set(theme.variables), theme.name
    assert family_variable(StatusFamily.in_flight) == "status-in-flight"
    assert status_classes(OrderStatus.RelayStarted) == "status status-in-flight"
