"""Rebalances: proposals waiting for the operator, transfers under way, and recent outcomes."""
from __future__ import annotations

from textual.containers import Vertical
from textual.widgets import Static

from engine.api import EngineSnapshot, RebalanceView, StatusFamily
from engine.units import format_units
from widgets.cells import plain
from themes import family_variable
from widgets.keyed_table import KeyedTable

COLUMNS = (("id", "#"), ("route", "Route"), ("amount", "Amount"), ("state", "State"), ("reason", "Reason"))
STATE_VARIABLE = {"proposed": family_variable(StatusFamily.refused),
                  "pending": family_variable(StatusFamily.in_flight), "done": family_variable(StatusFamily.done),
                  "rejected": "status-muted", "failed": family_variable(StatusFamily.lost)}


class RebalancesPane(Vertical):
    DEFAULT_CSS = """
    RebalancesPane KeyedTable { height: 1fr; }
    RebalancesPane.-empty KeyedTable { display: none; }
    RebalancesPane #rebalances-empty { display: none; }
    RebalancesPane.-empty #rebalances-empty { display: block; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.views: dict[str, RebalanceView] = {}

    def compose(self):
        yield KeyedTable(COLUMNS, id="rebalances-table")
        yield Static("no rebalances", id="rebalances-empty", classes="empty")

    def selected(self) -> RebalanceView | None:
        key = self.query_one(KeyedTable).selected_key()
        return self.views.get(key) if key is not None else None

    def show(self, snap: EngineSnapshot, colors: dict[str, str]) -> None:
        self.views = {str(r.id): r for r in snap.rebalances}
        self.set_class(not snap.rebalances, "-empty")
        self.query_one(KeyedTable).apply({
            str(r.id): (plain(r.id), plain(f"{r.origin_chain_id} -> {r.dest_chain_id}"),
                        plain(format_units(r.amount, r.decimals, r.symbol)),
                        plain(r.state, colors.get(STATE_VARIABLE.get(r.state, ""), "")), plain(r.reason))
            for r in snap.rebalances})
