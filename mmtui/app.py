"""The Textual app: pulls engine snapshots a few times a second and sends the operator's commands.

The engine is reached only through an `EngineClient` (engine/api.py). The app never shows state the
engine has not confirmed: a key sends a command, the answer is a notification, and the next snapshot
shows the new state.
"""
from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

from textual.app import App
from textual.binding import Binding

from engine.api import (
    ApproveRebalance,
    Arm,
    BreakerView,
    Command,
    Disarm,
    EngineClient,
    EngineSnapshot,
    Freeze,
    OrderView,
    RebalanceView,
    RejectRebalance,
    RelayOrder,
    ResetBreaker,
    Unfreeze,
)
from screens.arming import ArmingScreen
from screens.confirm import ConfirmScreen
from screens.filter import FilterScreen, OrderFilter
from screens.help import HelpScreen
from screens.main import MainScreen
from screens.order_detail import OrderDetailScreen
from themes import DEFAULT_THEME, STYLESHEET, THEMES

EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
OLDER_PAGE = 200
OLDER_RETRY_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class MmtuiApp(App):
    TITLE = "mmtui"
    CSS_PATH = str(STYLESHEET)
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("t", "cycle_theme", "Theme", id="theme"),
        Binding("colon", "command_palette", "Commands", id="commands", key_display=":"),
        Binding("q", "quit_console", "Quit", id="quit"),
    ]

    def __init__(self, client: EngineClient, *, clock: Callable[[], datetime] = utc_now,
                 refresh_seconds: float = 0.25, mouse: bool = False) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.mouse_enabled = mouse  # run(mouse=...) by the CLI: off unless asked (REFERENCE §7)
        self.snapshot: EngineSnapshot | None = None
        self._refreshing = False
        self._loading_older = False
        self._older_offset = 0  # next page of list_orders, under the current filter
        self._older_exhausted = False
        self._older_generation = 0  # bumped by a new filter: a page of the old one is dropped
        self._older_retry_at = 0.0  # monotonic time before which a failed page is not asked again
        self.snapshot_error: str | None = None
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = DEFAULT_THEME

    @property
    def main(self) -> MainScreen:
        return self.get_screen("main")  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.install_screen(MainScreen(), "main")
        self.push_screen("main")
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_exit_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
                pass
        self.theme_changed_signal.subscribe(self, lambda _theme: self.render_snapshot(force=True))
        self.pull_snapshot()
        self.set_interval(self.refresh_seconds, self.pull_snapshot)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def _on_exit_signal(self, sig: signal.Signals) -> None:
        self.exit(return_code=0, message=f"{sig.name}: stopping")

    # ------------------------------------------------------------------ snapshots

    def pull_snapshot(self) -> None:
        """Ask for a snapshot unless one is still on its way (a slow engine is not queued up on)."""
        if not self._refreshing:
            self._refreshing = True
            self.run_worker(self._refresh, group="refresh", exclusive=True)

    async def _refresh(self) -> None:
        try:
            snap = await self.client.snapshot()
        except Exception as exc:  # noqa: BLE001 - the header keeps the last confirmed state; say why
            message = f"engine unreachable: {exc}"
            if message != self.snapshot_error:
                self.snapshot_error = message
                self.notify(message, severity="error", timeout=10)
            return
        finally:
            self._refreshing = False
        self.snapshot_error = None
        self.snapshot = snap
        self.render_snapshot()

    def render_snapshot(self, *, force: bool = False) -> None:
        """Show the latest confirmed snapshot (not while the app shuts down: its widgets are going)."""
        if self.snapshot is None or not self.is_running or not self.is_screen_installed("main"):
            return
        with self.batch_update():
            self.main.show(self.snapshot, self.clock(), force=force)

    def load_older_orders(self) -> None:
        """Page older orders in from the database (the orders cursor neared the last one known)."""
        if self._loading_older or self._older_exhausted or time.monotonic() < self._older_retry_at:
            return
        self._loading_older = True
        self.run_worker(self._load_older(self._older_generation), group="older")

    async def _load_older(self, generation: int) -> None:
        try:
            while generation == self._older_generation and not self._older_exhausted:
                statuses = self.main.order_filter.stored_statuses()
                orders = await self.client.list_orders(statuses=statuses, offset=self._older_offset,
                                                       limit=OLDER_PAGE)
                if generation != self._older_generation:  # the filter changed meanwhile: a page of the old one
                    return
                self._older_offset += len(orders)
                self._older_exhausted = len(orders) < OLDER_PAGE
                self.main.add_older(orders)
                if not self.main.wants_older():  # a filter may match few orders per page: fill the screen
                    return
        except Exception as exc:  # noqa: BLE001 - said once, retried after a pause (not at every refresh)
            self._older_retry_at = time.monotonic() + OLDER_RETRY_SECONDS
            self.notify(f"could not load older orders: {exc}", severity="error")
        finally:
            if generation == self._older_generation:
                self._loading_older = False

    def _restart_older(self) -> None:
        """Forget the history pages (a new filter): the next pages come from the start."""
        self._older_generation += 1
        self._older_offset = 0
        self._older_exhausted = False
        self._loading_older = False

    # ------------------------------------------------------------------ commands

    def send(self, command: Command) -> None:
        self.run_worker(self._send(command), group="commands")

    async def _send(self, command: Command) -> None:
        try:
            result = await self.client.execute(command)
        except Exception as exc:  # noqa: BLE001 - the engine's door failed: the operator must know
            self.notify(f"{command.name}: {exc}", title="command failed", severity="error", timeout=10)
            return
        if result.ok:
            self.notify(result.message, title=command.name)
        else:
            self.notify(result.message, title=f"{command.name} refused", severity="error", timeout=10)
        self.pull_snapshot()

    def _engine_state_known(self) -> bool:
        """Whether a key that depends on the engine's state can act; if not, the operator is told why."""
        if self.snapshot is None:
            self.notify("no engine state yet: waiting for the engine's first snapshot",
                        severity="warning", timeout=4)
            return False
        return True

    def toggle_arm(self) -> None:
        if not self._engine_state_known():
            return
        if self.snapshot.armed:
            self.send(Disarm())
            return

        def armed(choice: str | None) -> None:
            if choice == "arm":
                self.send(Arm())
            elif choice == "override":
                self.send(Arm(override=True))

        symbols = {c.chain_id: c.native_symbol for c in self.snapshot.chains}
        self.push_screen(ArmingScreen(self.client.arming_checks, native_symbols=symbols), armed)

    def toggle_freeze(self) -> None:
        if not self._engine_state_known():
            return
        if not self.snapshot.frozen:
            self.send(Freeze())
            return
        self.push_screen(
            ConfirmScreen("Unfreeze withdrawals?",
                          "Rebalances and other outbound transfers will be allowed again.",
                          confirm_label="Unfreeze", danger=True),
            lambda ok: self.send(Unfreeze()) if ok else None)

    def relay_order(self, order: OrderView) -> None:
        body = (f"Relay {order.transaction_id} now, by hand?\n"
                f"{order.origin_chain_id} -> {order.dest_chain_id}, status {order.status.name}.")
        self.push_screen(ConfirmScreen("Relay this order?", body, confirm_label="Relay", danger=True),
                         lambda ok: self.send(RelayOrder(transaction_id=order.transaction_id)) if ok else None)

    def decide_rebalance(self, rebalance: RebalanceView, *, approve: bool) -> None:
        self.send(ApproveRebalance(rebalance_id=rebalance.id) if approve else RejectRebalance(rebalance_id=rebalance.id))

    def reset_breaker(self, breaker: BreakerView) -> None:
        self.push_screen(ConfirmScreen("Reset breaker?", f"Reset {breaker.name} ({breaker.scope})?",
                                       confirm_label="Reset", danger=True),
                         lambda ok: self.send(ResetBreaker(name=breaker.name)) if ok else None)

    def open_order_detail(self, transaction_id: str) -> None:
        self.run_worker(self._order_detail(transaction_id), group="detail", exclusive=True)

    async def _order_detail(self, transaction_id: str) -> None:
        try:
            detail = await self.client.order_detail(transaction_id)
        except Exception as exc:  # noqa: BLE001
            self.notify(f"order detail: {exc}", severity="error")
            return
        if detail is None:
            self.notify(f"no order {transaction_id}", severity="warning")
            return
        self.push_screen(OrderDetailScreen(detail, self.clock))

    def open_filter(self, current: OrderFilter) -> None:
        def chosen(flt: OrderFilter | None) -> None:
            if flt is not None:
                self._restart_older()
                self.main.set_filter(flt)
                if not flt.is_empty:  # matches beyond the live view are in the database
                    self.load_older_orders()

        self.push_screen(FilterScreen(current), chosen)

    # ------------------------------------------------------------------ app keys

    def all_bindings(self) -> list[tuple[str, str]]:
        out = []
        for binding in (*MainScreen.BINDINGS, *self.BINDINGS):
            key = binding.key_display or binding.key
            out.append((key, binding.description))
        out.append(("s", "Sort orders by the next column"))
        out.append(("esc", "Back / close"))
        out.append(("ctrl+p", "Command palette"))
        return out

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.all_bindings()))

    def action_cycle_theme(self) -> None:
        names = [t.name for t in THEMES]
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"theme {self.theme}", timeout=2)

    def action_quit_console(self) -> None:
        snap = self.snapshot
        in_flight = self.main.orders_in_flight() if self.is_screen_installed("main") else 0
        if snap is not None and snap.armed and in_flight:
            body = (f"The engine is ARMED with {in_flight} order(s) in flight. Quitting stops the engine; "
                    "they resume from the database at the next start.")
            self.push_screen(ConfirmScreen("Quit while armed?", body, confirm_label="Quit", danger=True),
                             lambda ok: self.exit() if ok else None)
            return
        self.exit()
