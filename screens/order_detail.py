"""One order's whole story: its fields, the decision trace with every gate, and our transactions."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich import box
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from engine.api import OrderDetail, OrderStatus, OrderView, TransitionView
from engine.units import format_units
from themes import FAMILY_VARIABLES, family_variable


def status_classes(status: OrderStatus) -> str:
    """The CSS classes of a status label: "status status-in-flight" (coloured by the theme's variable)."""
    return f"status {family_variable(status.family)}"


def chain_time_text(chain_time: int) -> str:
    return datetime.fromtimestamp(chain_time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def wall_time_text(at: datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if at.tzinfo is not None else "")


def _span(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def countdown_text(deadline: int, now: datetime) -> str:
    """"in 41 s" / "passed 3 s ago" / "now": the deadline (chain time) against the wall clock."""
    delta = deadline - int(now.timestamp())
    if delta > 0:
        return f"in {_span(delta)}"
    if delta < 0:
        return f"passed {_span(-delta)} ago"
    return "now"


def _field(label: str, value: str | Content) -> ComposeResult:
    yield Static(label, classes="field-label", markup=False)
    yield Static(value, classes="field-value", markup=False)


class OrderDetailScreen(Screen[None]):
    """Full-size, scrollable detail of one order. Escape or q closes (dismisses None).

    `now` is the wall clock (a frozen one in tests); the deadline countdown is refreshed every second.
    """

    DEFAULT_CSS = """
    OrderDetailScreen {
        background: $background;
    }
    OrderDetailScreen #detail-title {
        dock: top;
        height: 1;
        padding: 0 1;
        background: $panel;
        text-style: bold;
    }
    OrderDetailScreen #detail-keys {
        dock: bottom;
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    OrderDetailScreen #detail-scroll {
        padding: 0 1;
    }
    OrderDetailScreen .section {
        margin-top: 1;
        text-style: bold underline;
        color: $primary;
    }
    OrderDetailScreen #fields {
        grid-size: 2;
        grid-columns: 14 1fr;
        grid-gutter: 0 1;
        height: auto;
    }
    OrderDetailScreen .field-label {
        color: $text-muted;
    }
    OrderDetailScreen .field-value {
        height: auto;
    }
    OrderDetailScreen .status {
        text-style: bold;
        width: auto;
    }
    """ + "".join(f"OrderDetailScreen .{name} {{ color: ${name}; }}\n" for name in FAMILY_VARIABLES) + """
    OrderDetailScreen .transition {
        height: auto;
        margin-bottom: 1;
        padding-left: 1;
        border-left: outer $primary;
    }
    OrderDetailScreen .transition-head {
        height: 1;
    }
    OrderDetailScreen .transition-head Static {
        width: auto;
        margin-right: 1;
    }
    OrderDetailScreen .transition-meta {
        color: $text-muted;
        height: auto;
    }
    OrderDetailScreen .gates {
        padding-left: 2;
        height: auto;
    }
    OrderDetailScreen .empty {
        color: $text-muted;
    }
    """

    BINDINGS = [Binding("escape,q", "close", "Close", id="detail.close")]

    def __init__(self, detail: OrderDetail, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.detail = detail
        self.now = now

    def compose(self) -> ComposeResult:
        order = self.detail.order
        yield Static(Content(f"Order {order.transaction_id}"), id="detail-title")
        yield Static("esc / q close · ↑↓ pgup pgdn scroll", id="detail-keys", markup=False)
        with VerticalScroll(id="detail-scroll"):
            yield Static("Order", classes="section")
            with Grid(id="fields"):
                yield from self._fields(order)
            yield Static(f"Timeline ({len(self.detail.transitions)})", classes="section")
            if not self.detail.transitions:
                yield Static("no transitions recorded", classes="empty")
            for transition in self.detail.transitions:
                yield self._transition(transition)
            yield Static(f"Transactions ({len(self.detail.transactions)})", classes="section")
            yield Static(self._transactions(), id="transactions")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()
        self.set_interval(1.0, self._update_deadline)

    def _deadline_text(self) -> str:
        deadline = self.detail.order.deadline
        return f"{chain_time_text(deadline)} (chain time {deadline}) · {countdown_text(deadline, self.now())}"

    def _update_deadline(self) -> None:
        self.query_one("#deadline", Static).update(self._deadline_text())

    def _fields(self, order: OrderView) -> ComposeResult:
        yield Static("status", classes="field-label")
        status_line = f"{order.status.label} · {order.status.family.value}"
        if order.failures:
            status_line += f" · {order.failures} failures"
        yield Static(status_line, classes=f"field-value {status_classes(order.status)}", markup=False)
        yield from _field("route", f"chain {order.origin_chain_id} -> chain {order.dest_chain_id}")
        yield from _field(
            "sends",
            f"{format_units(order.origin_amount, order.origin_decimals, order.origin_symbol)} "
            f"on {order.origin_chain_id} (token {order.origin_token})",
        )
        yield from _field(
            "receives",
            f"{format_units(order.dest_amount, order.dest_decimals, order.dest_symbol)} "
            f"on {order.dest_chain_id} (token {order.dest_token})",
        )
        yield Static("deadline", classes="field-label")
        yield Static(self._deadline_text(), classes="field-value", id="deadline", markup=False)
        yield from _field("sender", order.origin_sender)
        yield from _field("recipient", order.dest_recipient)
        if order.exclusivity_relayer:
            until = (
                f" until {chain_time_text(order.exclusivity_end_time)}"
                if order.exclusivity_end_time is not None else ""
            )
            exclusivity = f"{order.exclusivity_relayer}{until}"
        else:
            exclusivity = "none (open to any relayer)"
        yield from _field("exclusivity", exclusivity)
        yield from _field("last reason", order.last_reason or "—")
        yield from _field("relay tx", order.relay_tx_hash or "—")
        yield from _field("prove tx", order.prove_tx_hash or "—")
        yield from _field("claim tx", order.claim_tx_hash or "—")
        yield from _field("created", wall_time_text(order.created_at))
        yield from _field("updated", wall_time_text(order.updated_at))

    def _transition(self, transition: TransitionView) -> Vertical:
        head: list[Static] = [Static(wall_time_text(transition.wall_time), markup=False)]
        if transition.from_status is not None:
            head.append(Static(transition.from_status.label, classes=status_classes(transition.from_status)))
            head.append(Static("->", markup=False))
        else:
            head.append(Static("new ->", markup=False))
        head.append(Static(transition.to_status.label, classes=status_classes(transition.to_status)))
        meta = (
            f"chain {transition.chain_id} · chain time {chain_time_text(transition.chain_time)}"
            f" ({transition.chain_time})"
        )
        if transition.tx_hash:
            meta += f" · tx {transition.tx_hash}"
        gates = [
            Content.assemble(
                ("✔", "$success bold") if gate.passed else ("✘", "$error bold"), " ", gate.text,
            )
            for gate in transition.reasons
        ]
        return Vertical(
            Horizontal(*head, classes="transition-head"),
            Static(meta, classes="transition-meta", markup=False),
            Static(Content("\n").join(gates) if gates else Content("(no gates recorded)"), classes="gates"),
            classes="transition",
        )

    def _transactions(self) -> Table | Text:
        transactions = self.detail.transactions
        if not transactions:
            return Text("no transactions of ours for this order")
        table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False, collapse_padding=True)
        table.add_column("chain", justify="right", no_wrap=True)
        table.add_column("nonce", justify="right", no_wrap=True)
        table.add_column("try", justify="right", no_wrap=True)
        table.add_column("purpose", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("block", justify="right", no_wrap=True)
        # The hash column also carries the attempt's error on the line below (folded when long).
        table.add_column("tx hash / error", overflow="fold", ratio=1)
        for tx in transactions:
            block = "—" if tx.block_number is None else str(tx.block_number)
            hash_and_error = Text(tx.tx_hash)
            if tx.error:
                hash_and_error.append("\nerror: ")
                hash_and_error.append(tx.error)
            table.add_row(
                Text(str(tx.chain_id)), Text(str(tx.nonce)), Text(str(tx.attempt)),
                Text(tx.purpose if tx.batch_of == 1 else f"{tx.purpose} ×{tx.batch_of}"),
                Text(tx.state), Text(block), hash_and_error,
            )
        return table

    def action_close(self) -> None:
        self.dismiss(None)
