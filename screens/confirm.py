"""A yes/no question before an action that matters (arm, freeze, relay one order by hand...)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (y, enter, the confirm button) or False (n, escape, the cancel button).

    `title` and `body` are shown as plain text (they may carry token symbols or order ids).
    `danger` paints the dialog and the confirm button in the error colour.
    """

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > #confirm-dialog {
        width: 72;
        max-width: 90%;
        height: auto;
        padding: 1 2;
        border: thick $primary;
        background: $surface;
    }
    ConfirmScreen.-danger > #confirm-dialog {
        border: thick $error;
    }
    ConfirmScreen #confirm-title {
        text-style: bold;
        margin-bottom: 1;
    }
    ConfirmScreen.-danger #confirm-title {
        color: $error;
    }
    ConfirmScreen #confirm-body {
        height: auto;
    }
    ConfirmScreen #confirm-buttons {
        height: auto;
        margin-top: 1;
        align-horizontal: right;
    }
    ConfirmScreen #confirm-buttons Button {
        margin-left: 2;
    }
    ConfirmScreen #confirm-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("y,enter", "confirm", "Confirm", id="confirm.yes"),
        Binding("n,escape", "cancel", "Cancel", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str, confirm_label: str = "Confirm", danger: bool = False) -> None:
        super().__init__(classes="-danger" if danger else None)
        self.title_text = title
        self.body_text = body
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.title_text, id="confirm-title", markup=False)
            yield Static(self.body_text, id="confirm-body", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-cancel")
                yield Button(
                    self.confirm_label, id="confirm-ok", variant="error" if self.danger else "primary"
                )
            yield Static("y / enter confirm · n / esc cancel", id="confirm-keys", markup=False)

    def on_mount(self) -> None:
        self.query_one("#confirm-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-ok")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
