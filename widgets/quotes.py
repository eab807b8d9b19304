"""Quotes: what the engine offers on each route right now (REFERENCE §3), and what bounds it."""
from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from engine.api import EngineSnapshot, QuoteView, StatusFamily
from engine.units import format_units
from themes import family_variable
from widgets.keyed_table import KeyedTable

COLUMNS = (("route", "Route"), ("token", "Token"), ("max_origin", "Max in"), ("dest", "Out for max"),
           ("fee", "Fixed fee"), ("limited_by", "Limited by"))
# A route quoted at zero refuses every order (a breaker halt, low gas, a disabled route...): the refused colour.
NOT_QUOTING_VARIABLE = family_variable(StatusFamily.refused)
ROUTES_NAMED_PER_REASON = 3


def quote_key(q: QuoteView) -> str:
    return f"{q.origin_chain_id}:{q.origin_symbol}->{q.dest_chain_id}:{q.dest_symbol}"


def token_label(q: QuoteView) -> str:
    return q.origin_symbol if q.origin_symbol == q.dest_symbol else f"{q.origin_symbol} -> {q.dest_symbol}"


def route_label(q: QuoteView) -> str:
    return f"{q.origin_chain_id} -> {q.dest_chain_id} {token_label(q)}"


def not_quoting(quotes: tuple[QuoteView, ...]) -> int:
    """How many routes are quoted at zero (for the pane's title while another view is shown)."""
    return sum(1 for q in quotes if q.max_origin_amount == 0)


class QuotesPane(Vertical):
    DEFAULT_CSS = """
    QuotesPane { height: 1fr; }
    QuotesPane KeyedTable { height: 1fr; }
    QuotesPane.-empty KeyedTable { display: none; }
    QuotesPane #quotes-empty { display: none; }
    QuotesPane.-empty #quotes-empty { display: block; }
    QuotesPane #quotes-not-quoting { height: auto; max-height: 4; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._reasons_shown: Text | None = None

    def compose(self):
        yield KeyedTable(COLUMNS, id="quotes-table", cursor_when_focused=True)
        yield Static("no quotes yet: the engine quotes every route once a second", id="quotes-empty",
                     classes="empty")
        yield Static(id="quotes-not-quoting")

    def show(self, snap: EngineSnapshot, colors: dict[str, str]) -> None:
        # Routes not quoting first (what the operator must look at), then by route.
        ordered = sorted(snap.quotes, key=lambda q: (q.max_origin_amount != 0, q.origin_chain_id, q.dest_chain_id,
                                                    q.origin_symbol, q.dest_symbol))
        self.set_class(not ordered, "-empty")
        self.query_one(KeyedTable).apply({quote_key(q): self._row(q, colors) for q in ordered})
        reasons = self._not_quoting_reasons(ordered, colors[NOT_QUOTING_VARIABLE])
        if reasons != self._reasons_shown:
            self._reasons_shown = reasons
            self.query_one("#quotes-not-quoting", Static).update(reasons)

    @staticmethod
    def _not_quoting_reasons(quotes: list[QuoteView], style: str) -> Text:
        """Why each route quoted at zero is, one line per reason: the "Limited by" column is off screen in a
        narrow terminal, and a halted route's reason is what the operator must read."""
        routes_by_reason: dict[str, list[str]] = {}
        for q in quotes:
            if q.max_origin_amount == 0:
                routes_by_reason.setdefault(q.limited_by, []).append(route_label(q))
        lines = []
        for reason, routes in routes_by_reason.items():
            named = ", ".join(routes[:ROUTES_NAMED_PER_REASON])
            more = f" (+{len(routes) - ROUTES_NAMED_PER_REASON} more)" if len(routes) > ROUTES_NAMED_PER_REASON else ""
            lines.append(Text(f"not quoting {named}{more}: {reason}", style=style))
        return Text("\n").join(lines)

    @staticmethod
    def _row(q: QuoteView, colors: dict[str, str]) -> tuple[Text, ...]:
        # Colours as spans (Text.assemble), not a cell's base style: the table's diff compares cells by text and
        # spans, so a route that stops quoting is recoloured in every cell, not only in those whose text changed.
        style = colors[NOT_QUOTING_VARIABLE] if q.max_origin_amount == 0 else ""
        right = "right"
        return (
            Text.assemble((f"{q.origin_chain_id} -> {q.dest_chain_id}", style)),
            Text.assemble((token_label(q), style)),
            Text.assemble((format_units(q.max_origin_amount, q.origin_decimals, ""), f"bold {style}" if style else ""),
                          justify=right),
            Text.assemble((format_units(q.dest_amount, q.dest_decimals, ""), style), justify=right),
            Text.assemble((format_units(q.fixed_fee, q.dest_decimals, ""), style), justify=right),
            Text.assemble((q.limited_by, style)),
        )
