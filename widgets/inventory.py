"""Inventory per chain and token: what we hold, what is promised, what is owed to us, and gas."""
from __future__ import annotations

from collections import defaultdict

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from engine.api import EngineSnapshot
from engine.units import format_units
from widgets.cells import native, plain
from widgets.keyed_table import KeyedTable

COLUMNS = (("chain", "Chain"), ("token", "Token"), ("balance", "Balance"), ("committed", "Committed"),
           ("pending_in", "Pending in"), ("spendable", "Spendable"), ("share", "Share"))


class InventoryPane(Vertical):
    DEFAULT_CSS = """
    InventoryPane { height: 1fr; }
    InventoryPane KeyedTable { height: 1fr; }
    InventoryPane #gas-balances { height: auto; padding: 0 1; }
    """

    def compose(self):
        yield KeyedTable(COLUMNS, id="inventory-table")
        yield Static(id="gas-balances")

    def show(self, snap: EngineSnapshot, colors: dict[str, str]) -> None:
        totals: dict[str, int] = defaultdict(int)
        for inv in snap.inventory:
            totals[inv.symbol] += inv.balance or 0
        rows = {}
        for inv in snap.inventory:
            total = totals[inv.symbol]
            share = f"{100 * (inv.balance or 0) / total:.0f}%" if total else "-"
            right = "right"
            rows[f"{inv.chain_id}:{inv.token.lower()}"] = (
                plain(inv.chain_id),
                plain(inv.symbol),
                Text("?" if inv.balance is None else format_units(inv.balance, inv.decimals, ""), justify=right),
                Text(format_units(inv.committed, inv.decimals, ""), justify=right),
                Text(format_units(inv.pending_in, inv.decimals, ""), justify=right),
                Text(format_units(inv.spendable, inv.decimals, ""), justify=right),
                Text(share, justify=right),
            )
        self.query_one(KeyedTable).apply(rows)
        gas = Text()
        for i, c in enumerate(snap.chains):
            if i:
                gas.append("  ")
            low = c.gas_balance is None or c.gas_balance < c.min_gas_token
            gas.append(f"gas {c.chain_id}: ")
            gas.append(native(c.gas_balance, c.native_symbol), style=f"bold {colors['status-lost']}" if low else "")
            if low:
                gas.append(f" < min {native(c.min_gas_token, c.native_symbol)}", style=colors["status-lost"])
        self.query_one("#gas-balances", Static).update(gas)
