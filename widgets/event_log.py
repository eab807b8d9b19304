"""The engine's event log, newest first."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.api import EngineSnapshot

LEVEL_VARIABLE = {"warning": "status-refused", "error": "status-lost"}
SHOWN = 100


class EventLog(Static):
    DEFAULT_CSS = """
    EventLog { height: 1fr; padding: 0 1; overflow-y: auto; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(Text(""), **kwargs)
        self._shown: tuple = ()

    def show(self, snap: EngineSnapshot, colors: dict[str, str], *, force: bool = False) -> None:
        events = snap.events[:SHOWN]
        if events == self._shown and not force:
            return
        self._shown = events
        if not events:
            self.update(Text("no events yet", style=colors["status-muted"]))
            return
        lines = []
        for e in events:
            line = Text(e.at.strftime("%H:%M:%S "), style=colors["status-muted"])
            line.append(e.text, style=colors.get(LEVEL_VARIABLE.get(e.level, ""), ""))
            lines.append(line)
        self.update(Text("\n").join(lines))
