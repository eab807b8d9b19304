"""Circuit breakers: each rule, its value against its threshold, tripped ones first."""
from __future__ import annotations

from textual.containers import Vertical
from textual.widgets import Static

from engine.api import BreakerView, EngineSnapshot
from widgets.cells import plain
from widgets.keyed_table import KeyedTable

COLUMNS = (("name", "Breaker"), ("scope", "Scope"), ("state", "State"), ("value", "Value"),
           ("threshold", "Threshold"))


class BreakersPane(Vertical):
    DEFAULT_CSS = """
    BreakersPane KeyedTable { height: 1fr; }
    BreakersPane.-empty KeyedTable { display: none; }
    BreakersPane #breakers-empty { display: none; }
    BreakersPane.-empty #breakers-empty { display: block; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.views: dict[str, BreakerView] = {}

    def compose(self):
        yield KeyedTable(COLUMNS, id="breakers-table")
        yield Static("no breaker rules configured", id="breakers-empty", classes="empty")

    def selected(self) -> BreakerView | None:
        key = self.query_one(KeyedTable).selected_key()
        return self.views.get(key) if key is not None else None

    def show(self, snap: EngineSnapshot, colors: dict[str, str]) -> None:
        ordered = sorted(snap.breakers, key=lambda b: (b.state != "tripped", b.name))
        self.views = {b.name: b for b in ordered}
        self.set_class(not ordered, "-empty")
        self.query_one(KeyedTable).apply({
            b.name: (plain(b.name), plain(b.scope),
                     plain(b.state.upper() if b.state == "tripped" else b.state,
                           f"bold {colors['status-lost']}" if b.state == "tripped" else colors["status-done"]),
                     plain(b.value), plain(b.threshold))
            for b in ordered})
