"""Capital in flight: our funds by stage of their round trip, per chain and token, with the age of the oldest
entry against the time the stage is expected to take; a stage holding funds too long is shown first, in the
error colour."""
from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from engine.api import CapitalStageView, EngineSnapshot
from engine.units import format_units
from widgets.cells import duration
from widgets.keyed_table import KeyedTable

# The age before the entry count: in a narrow pane the columns past the edge are the least needed.
COLUMNS = (("stage", "Stage"), ("chain", "Chain"), ("token", "Token"), ("amount", "Amount"),
           ("age", "Oldest / expected"), ("entries", "#"))
OVERSTAYED_VARIABLE = "status-error"
# The two long stage names shortened, so that the whole row fits a 120-column terminal's pane; the pipeline
# order (committed, relayed, in dispute, claiming) keeps their meaning. Any other stage is shown as named.
STAGE_LABELS = {"relayed, not proved": "relayed", "proved, in dispute period": "in dispute"}


def capital_key(c: CapitalStageView) -> str:
    return f"{c.stage}:{c.chain_id}:{c.token}"


def overstayed(capital: tuple[CapitalStageView, ...]) -> int:
    """How many stage rows hold funds longer than expected (for the pane's title while another view is shown)."""
    return sum(1 for c in capital if c.overstayed)


def expected_duration(seconds: int) -> str:
    # Expected times are round numbers: "10m" reads faster than "10m00s" next to an age.
    return duration(seconds).removesuffix("00s")


class CapitalPane(Vertical):
    DEFAULT_CSS = """
    CapitalPane { height: 1fr; }
    CapitalPane KeyedTable { height: 1fr; }
    CapitalPane.-empty KeyedTable { display: none; }
    CapitalPane #capital-empty { display: none; }
    CapitalPane.-empty #capital-empty { display: block; }
    """

    def compose(self):
        yield KeyedTable(COLUMNS, id="capital-table", cursor_when_focused=True)
        yield Static("no capital in flight", id="capital-empty", classes="empty")

    def show(self, snap: EngineSnapshot, colors: dict[str, str]) -> None:
        # Overstayed rows first (as tripped breakers are); otherwise the engine's order, which follows the stages.
        ordered = sorted(snap.capital, key=lambda c: not c.overstayed)
        self.set_class(not ordered, "-empty")
        self.query_one(KeyedTable).apply({capital_key(c): self._row(c, colors) for c in ordered})

    @staticmethod
    def _row(c: CapitalStageView, colors: dict[str, str]) -> tuple[Text, ...]:
        # Colours as spans (Text.assemble), not a cell's base style: the table's diff compares cells by text and
        # spans, so a row that starts overstaying turns red in every cell, not only in the age whose text changed.
        style = colors[OVERSTAYED_VARIABLE] if c.overstayed else ""
        right = "right"
        age = f"{duration(c.oldest_age_seconds)} / {expected_duration(c.expected_seconds)}"
        return (
            Text.assemble((STAGE_LABELS.get(c.stage, c.stage), style)),
            Text.assemble((str(c.chain_id), style)),
            Text.assemble((c.symbol, style)),
            Text.assemble((format_units(c.amount, c.decimals, ""), style), justify=right),
            Text.assemble((age, f"bold {style}" if style else ""), justify=right),
            Text.assemble((str(c.entries), style), justify=right),
        )
