"""The main screen: header, orders, and the panes around them; the operator's keys live here.

It renders only snapshots the engine produced (`show`), and every action goes to the app, which sends
it to the engine as a command and reports the engine's answer.
"""
from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer

from engine.api import BreakerView, EngineSnapshot, OrderStatus, OrderView, RebalanceView, StatusFamily
from screens.filter import OrderFilter
from widgets.breakers import BreakersPane
from widgets.capital import CapitalPane, overstayed
from widgets.cells import styles_for
from widgets.event_log import EventLog
from widgets.gas import GasPane
from widgets.header import EngineHeader
from widgets.inventory import InventoryPane
from widgets.keyed_table import KeyedTable
from widgets.orders import OrdersTable
from widgets.quotes import QuotesPane, not_quoting
from widgets.rebalances import RebalancesPane

MANUAL_RELAY_STATUSES = frozenset({OrderStatus.Seen, OrderStatus.NotEnoughInventory, OrderStatus.CommittedPending,
                                   OrderStatus.CommittedConfirmed})
# The views that share the pane beside the inventory (`v` cycles them), in cycling order: (widget id, title).
SIDE_VIEWS = (("gas", "Gas"), ("quotes", "Quotes"), ("capital", "Capital"))


class MainScreen(Screen):
    BINDINGS = [
        Binding("a", "toggle_arm", "Arm/Disarm", id="arm"),
        Binding("f", "toggle_freeze", "Freeze", id="freeze"),
        Binding("enter", "order_detail", "Detail", id="order_detail"),
        Binding("p", "relay_order", "Relay", id="relay_order"),
        Binding("r", "approve_rebalance", "Approve", id="approve_rebalance"),
        Binding("x", "reject_rebalance", "Reject", id="reject_rebalance"),
        Binding("b", "reset_breaker", "Reset breaker", id="reset_breaker"),
        Binding("v", "cycle_side_view", "Gas/Quotes/Capital", id="cycle_side_view"),
        Binding("slash", "filter", "Filter", id="filter", key_display="/"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.order_filter = OrderFilter()
        self.snapshot: EngineSnapshot | None = None
        self._bindings_state: tuple = ()
        self._side_titles: tuple = ()
        self._mounted = False

    def compose(self) -> ComposeResult:
        yield EngineHeader(id="header")
        with Vertical(id="body"):
            orders = OrdersTable(id="orders", classes="pane")
            orders.border_title = "Orders"
            yield orders
            with Horizontal(id="side"):
                inventory = InventoryPane(id="inventory", classes="pane")
                inventory.border_title = "Inventory"
                yield inventory
                # Gas, quotes and capital in flight take turns in one pane; its title names all three and
                # its subtitle says when a hidden one needs a look (a route not quoting, capital overstaying).
                with ContentSwitcher(id="side-views", classes="pane", initial=SIDE_VIEWS[0][0]):
                    yield GasPane(id="gas")
                    yield QuotesPane(id="quotes")
                    yield CapitalPane(id="capital")
            with Horizontal(id="lower"):
                breakers = BreakersPane(id="breakers", classes="pane")
                breakers.border_title = "Breakers"
                yield breakers
                rebalances = RebalancesPane(id="rebalances", classes="pane")
                rebalances.border_title = "Rebalances"
                yield rebalances
                events = EventLog(id="events", classes="pane")
                events.border_title = "Events"
                yield events
        yield Footer()

    # ------------------------------------------------------------------ rendering

    def on_mount(self) -> None:
        self._mounted = True
        # A snapshot that arrived before the panes existed is shown now, not at the next pull: until it is,
        # the screen's keys would judge the engine's state unknown and drop the operator's key press.
        self.app.render_snapshot()

    def show(self, snap: EngineSnapshot, now: datetime, *, force: bool = False) -> None:
        if not self._mounted:  # on_mount shows it
            return
        unchanged = not force and self.snapshot is not None and snap.version == self.snapshot.version
        self.snapshot = snap
        colors = styles_for(self.app.current_theme)
        self.query_one(EngineHeader).show(snap, now)
        if unchanged:  # the engine moved nothing: only the clock-driven cells change
            self.query_one(OrdersTable).refresh_times({c.chain_id: c.head_time for c in snap.chains}, now)
            self._show_capital(snap, colors)  # its ages, measured by the engine at each snapshot
            return
        self._show_orders(now, colors, force=force)
        self.query_one(InventoryPane).show(snap, colors)
        self.query_one(GasPane).show(snap)
        self.query_one(QuotesPane).show(snap, colors)
        self._show_capital(snap, colors)
        self.query_one(BreakersPane).show(snap, colors)
        self.query_one(RebalancesPane).show(snap, colors)
        self.query_one(EventLog).show(snap, colors, force=force)
        self._refresh_bindings_if_changed()

    def _show_capital(self, snap: EngineSnapshot, colors: dict[str, str]) -> None:
        self.query_one(CapitalPane).show(snap, colors)
        self._title_side_views(colors)

    def _title_side_views(self, colors: dict[str, str]) -> None:
        """Title: every view of the pane, the one shown in bold. Subtitle: what needs a look, in any view."""
        switcher = self.query_one("#side-views", ContentSwitcher)
        title = Text()
        for i, (view_id, label) in enumerate(SIDE_VIEWS):
            if i:
                title.append(" · ")
            title.append(label, style="bold reverse" if view_id == switcher.current else "")
        title.append("  (v)")
        alerts = []
        snap = self.snapshot
        if snap is not None and (count := not_quoting(snap.quotes)):
            alerts.append(Text(f"{count} route{'s' if count != 1 else ''} not quoting", style=colors["status-refused"]))
        if snap is not None and (count := overstayed(snap.capital)):
            alerts.append(Text(f"{count} capital stage{'s' if count != 1 else ''} overstayed",
                               style=f"bold {colors['status-error']}"))
        if (title, alerts) != self._side_titles:  # setting a title redraws the border: only on a change
            self._side_titles = (title, alerts)
            switcher.border_title = title
            switcher.border_subtitle = Text(" · ").join(alerts) if alerts else None

    def _refresh_bindings_if_changed(self) -> None:
        """The footer recomposes on every refresh_bindings (tens of ms): only when a key's applicability
        changed, not whenever the selected order moves on (with hundreds of changes a second, it often does)."""
        state = (self.focused, *(self.check_action(b.action, ()) for b in self.BINDINGS))
        if state != self._bindings_state:
            self._bindings_state = state
            self.refresh_bindings()

    def _show_orders(self, now: datetime, colors: dict[str, str], *, force: bool = False) -> None:
        snap = self.snapshot
        if snap is None:
            return
        table = self.query_one(OrdersTable)
        table.apply(snap.orders, {c.chain_id: c.head_time for c in snap.chains}, now, colors, force=force)
        self._title_orders()
        if table.total < table.window and sum(snap.order_counts.values()) > table.total:
            self.app.load_older_orders()  # the screen has room and the database has more: the newest of them

    def _title_orders(self) -> None:
        table, flt, snap = self.query_one(OrdersTable), self.order_filter, self.snapshot
        shown = table.total
        title = f"Orders {shown}" if flt.is_empty else f"Orders {shown} · filter: {flt.describe()}"
        if not table.live and not table.history and flt.is_empty:
            title += " · none seen yet: orders appear when users bridge on a watched route"
        table.border_title = title
        stored = sum(snap.order_counts.values()) if snap is not None else 0
        place = f"{table.cursor + 1} of {shown} · " if shown > table.window else ""
        table.border_subtitle = f"{place}{stored} stored" if stored else place.removesuffix(" · ")

    def set_filter(self, flt: OrderFilter) -> None:
        self.order_filter = flt
        self.query_one(OrdersTable).set_filter(None if flt.is_empty else flt.matches)
        self._title_orders()

    def add_older(self, orders: tuple[OrderView, ...]) -> None:
        self.query_one(OrdersTable).add_history(orders)
        self._title_orders()

    def wants_older(self) -> bool:
        """Whether the orders cursor is within a screenful of the last order loaded."""
        table = self.query_one(OrdersTable)
        return table.total - table.cursor <= table.window

    # ------------------------------------------------------------------ selection

    def selected_order(self) -> OrderView | None:
        table = self.query_one(OrdersTable)
        return table.selected() if table.has_focus else None

    def selected_rebalance(self) -> RebalanceView | None:
        return self._selected_in(RebalancesPane)

    def selected_breaker(self) -> BreakerView | None:
        return self._selected_in(BreakersPane)

    def _selected_in(self, pane_type: type[RebalancesPane] | type[BreakersPane]):
        """The pane's selected row, only while its table has the focus (the keys act on what is focused)."""
        pane = self.query_one(pane_type)
        return pane.selected() if pane.query_one(KeyedTable).has_focus else None

    def orders_in_flight(self) -> int:
        if self.snapshot is None:
            return 0
        return sum(1 for o in self.snapshot.orders if o.status.family == StatusFamily.in_flight)

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """None greys a key out in the footer: it does not apply to what is selected now."""
        snap = self.snapshot
        if action in ("toggle_arm", "toggle_freeze"):
            return True  # always taken: before the first snapshot the app says why it cannot act yet
        if action == "order_detail":
            return True if self.selected_order() is not None else None
        if action == "relay_order":
            order = self.selected_order()
            ok = snap is not None and not snap.armed and order is not None and order.status in MANUAL_RELAY_STATUSES
            return True if ok else None
        if action in ("approve_rebalance", "reject_rebalance"):
            rebalance = self.selected_rebalance()
            return True if rebalance is not None and rebalance.state == "proposed" else None
        if action == "reset_breaker":
            breaker = self.selected_breaker()
            return True if breaker is not None and breaker.state == "tripped" else None
        return True

    def action_toggle_arm(self) -> None:
        self.app.toggle_arm()

    def action_toggle_freeze(self) -> None:
        self.app.toggle_freeze()

    def action_order_detail(self) -> None:
        order = self.selected_order()
        if order is not None:
            self.app.open_order_detail(order.transaction_id)

    def action_relay_order(self) -> None:
        order = self.selected_order()
        if order is not None and self.check_action("relay_order", ()):
            self.app.relay_order(order)

    def action_approve_rebalance(self) -> None:
        self._decide_rebalance(approve=True)

    def action_reject_rebalance(self) -> None:
        self._decide_rebalance(approve=False)

    def _decide_rebalance(self, *, approve: bool) -> None:
        rebalance = self.selected_rebalance()
        if rebalance is not None and rebalance.state == "proposed":
            self.app.decide_rebalance(rebalance, approve=approve)

    def action_reset_breaker(self) -> None:
        breaker = self.selected_breaker()
        if breaker is not None and breaker.state == "tripped":
            self.app.reset_breaker(breaker)

    def action_cycle_side_view(self) -> None:
        switcher = self.query_one("#side-views", ContentSwitcher)
        ids = [view_id for view_id, _ in SIDE_VIEWS]
        switcher.current = ids[(ids.index(switcher.current) + 1) % len(ids)] if switcher.current in ids else ids[0]
        self._title_side_views(styles_for(self.app.current_theme))

    def action_filter(self) -> None:
        self.app.open_filter(self.order_filter)

    def on_descendant_focus(self) -> None:
        self._refresh_bindings_if_changed()

    def on_data_table_row_highlighted(self, event: OrdersTable.RowHighlighted) -> None:
        if isinstance(event.data_table, OrdersTable):
            self._title_orders()
        self._refresh_bindings_if_changed()

    def on_data_table_row_selected(self, event: OrdersTable.RowSelected) -> None:
        if isinstance(event.data_table, OrdersTable):
            event.stop()
            self.action_order_detail()

    def on_orders_table_need_older(self) -> None:
        self.app.load_older_orders()
