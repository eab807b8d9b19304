"""Gas per chain: base fee and tip now, and the base fee history as a chart."""
from __future__ import annotations

from textual.containers import Vertical
from textual_plotext import PlotextPlot

from engine.api import EngineSnapshot
from widgets.cells import gwei, native, plain
from widgets.keyed_table import KeyedTable

COLUMNS = (("chain", "Chain"), ("base", "Base fee"), ("tip", "Tip"), ("pending", "Pending tx"),
           ("balance", "Signer gas"))


class GasPane(Vertical):
    DEFAULT_CSS = """
    GasPane { height: 1fr; }
    GasPane KeyedTable { height: auto; max-height: 5; }
    GasPane PlotextPlot { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._plotted: tuple = ()

    def compose(self):
        yield KeyedTable(COLUMNS, id="gas-table")
        yield PlotextPlot(id="gas-chart")

    def show(self, snap: EngineSnapshot) -> None:
        self.query_one(KeyedTable).apply({
            str(c.chain_id): (plain(c.chain_id), plain(gwei(c.base_fee_wei)), plain(gwei(c.priority_fee_wei)),
                              plain(c.pending_transactions), plain(native(c.gas_balance, c.native_symbol)))
            for c in snap.chains})
        series = tuple((c.chain_id, c.base_fee_history) for c in snap.chains)
        if series == self._plotted:
            return
        self._plotted = series
        chart = self.query_one(PlotextPlot)
        plt = chart.plt
        plt.clear_data()
        plt.title("base fee (gwei) by block")
        for chain_id, history in series:
            if history:
                plt.plot([b for b, _ in history], [fee / 1e9 for _, fee in history], label=str(chain_id))
        chart.refresh()
