"""Every key of the current screen with what it does (`?`, as in k9s)."""
from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    """A table of (key, description) pairs, in the given order. Escape, ? or q closes (dismisses None)."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > #help-dialog {
        width: 80;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        padding: 1 2;
        border: thick $primary;
        background: $surface;
    }
    HelpScreen #help-title {
        text-style: bold;
        margin-bottom: 1;
    }
    HelpScreen #help-scroll {
        height: auto;
        max-height: 30;
    }
    HelpScreen #help-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, bindings: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.key_rows = tuple(bindings)

    def compose(self) -> ComposeResult:
        table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False)
        table.add_column("Key", no_wrap=True, style="bold")
        table.add_column("Does", ratio=1)
        for key, description in self.key_rows:
            table.add_row(Text(key), Text(description))
        with Vertical(id="help-dialog"):
            yield Static("Keys", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(table if self.key_rows else Text("no keys here"), id="help-table")
            yield Static("esc / ? / q close", id="help-keys", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
