"""The order filter (`/`): a small query language and the modal that edits it.

A query is words separated by spaces: `status:in_flight chain:31338 token:usdc 0xab12`.
- `status:` a status name (Seen, RelayStarted...) or a family (pending, in_flight, done, refused, lost),
  case-insensitive; several with commas or by repeating the key; an order matches any of them.
- `chain:` a chain id; an order matches when it is its origin or its destination.
- `token:` a token symbol, case-insensitive; an order matches when either side uses it.
- `text:` or any other word: each word must appear (case-insensitive) in the transaction id, the
  sender, the recipient or the last reason.
All given parts must match. `describe()` writes a filter back as a query `parse()` reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from engine.api import OrderStatus, OrderView, StatusFamily

_KEYS = ("status", "chain", "token", "text")
_STATUS_BY_NAME = {status.name.casefold(): status.name for status in OrderStatus}
_FAMILY_BY_NAME = {family.value.casefold(): family.value for family in StatusFamily}


def _canonical_status(word: str) -> str:
    key = word.strip().casefold()
    if key in _FAMILY_BY_NAME:
        return _FAMILY_BY_NAME[key]
    if key in _STATUS_BY_NAME:
        return _STATUS_BY_NAME[key]
    if key.isdigit() and int(key) in OrderStatus._value2member_map_:
        return OrderStatus(int(key)).name
    raise ValueError(
        f"unknown status {word!r}: use a status name (Seen, RelayStarted, ClaimCompleted...) "
        "or a family (pending, in_flight, done, refused, lost)"
    )


@dataclass(frozen=True)
class OrderFilter:
    """Which orders to show. Statuses hold canonical OrderStatus names and StatusFamily values."""

    statuses: frozenset[str] = frozenset()
    chain_id: int | None = None
    token: str = ""
    text: str = ""

    @classmethod
    def parse(cls, query: str) -> OrderFilter:
        """A filter from a query string; ValueError with an operator sentence for bad input."""
        statuses: set[str] = set()
        chain_id: int | None = None
        token = ""
        words: list[str] = []
        for word in query.split():
            key, sep, value = word.partition(":")
            key = key.casefold()
            if not sep or key not in _KEYS:
                if sep and key.isalpha():
                    raise ValueError(f"unknown filter key {key + ':'!r}: use status:, chain:, token: or text:")
                words.append(word)
                continue
            if not value:
                raise ValueError(f"{key}: needs a value")
            if key == "status":
                for part in value.split(","):
                    if not part:
                        raise ValueError(f"empty status in {word!r}")
                    statuses.add(_canonical_status(part))
            elif key == "chain":
                if chain_id is not None:
                    raise ValueError("chain: given twice (an order matches one chain filter)")
                if not value.isdigit() or int(value) <= 0:
                    raise ValueError(f"chain: must be a chain id (a positive number), got {value!r}")
                chain_id = int(value)
            elif key == "token":
                if token:
                    raise ValueError("token: given twice (an order matches one token filter)")
                token = value.upper()
            else:
                words.append(value)
        return cls(statuses=frozenset(statuses), chain_id=chain_id, token=token, text=" ".join(words))

    def stored_statuses(self) -> tuple[OrderStatus, ...]:
        """The statuses to ask the database for (every status when the filter names none)."""
        if not self.statuses:
            return ()
        return tuple(s for s in OrderStatus if s.name in self.statuses or s.family.value in self.statuses)

    @property
    def is_empty(self) -> bool:
        return not (self.statuses or self.chain_id is not None or self.token or self.text)

    def matches(self, order: OrderView) -> bool:
        if self.statuses and not (
            order.status.name in self.statuses or order.status.family.value in self.statuses
        ):
            return False
        if self.chain_id is not None and self.chain_id not in (order.origin_chain_id, order.dest_chain_id):
            return False
        if self.token:
            token = self.token.casefold()
            if token not in (order.origin_symbol.casefold(), order.dest_symbol.casefold()):
                return False
        if self.text:
            haystack = "\n".join((
                order.transaction_id, order.origin_sender, order.dest_recipient, order.last_reason or "",
            )).casefold()
            if not all(word in haystack for word in self.text.casefold().split()):
                return False
        return True

    def describe(self) -> str:
        """The filter as a query (parseable again), e.g. "status:in_flight chain:31338 text:0xab"."""
        parts = []
        if self.statuses:
            parts.append("status:" + ",".join(sorted(self.statuses)))
        if self.chain_id is not None:
            parts.append(f"chain:{self.chain_id}")
        if self.token:
            parts.append(f"token:{self.token}")
        if self.text:
            parts.append(f"text:{self.text}")
        return " ".join(parts)


_SYNTAX = (
    "status:  a status (Seen, RelayStarted, ...) or a family (pending, in_flight, done, refused, lost);"
    " several with commas\n"
    "chain:   a chain id (origin or destination)\n"
    "token:   a token symbol (either side)\n"
    "words:   found in the transaction id, sender, recipient or last reason"
)


class FilterScreen(ModalScreen[OrderFilter | None]):
    """Edit the order filter. Dismisses with the new OrderFilter (enter) or None (escape)."""

    DEFAULT_CSS = """
    FilterScreen {
        align: center middle;
    }
    FilterScreen > #filter-dialog {
        width: 96;
        height: auto;
        padding: 1 2;
        border: thick $primary;
        background: $surface;
    }
    FilterScreen #filter-title {
        text-style: bold;
        margin-bottom: 1;
    }
    FilterScreen #filter-error {
        color: $error;
        height: auto;
        display: none;
    }
    FilterScreen #filter-error.-shown {
        display: block;
    }
    FilterScreen #filter-syntax {
        color: $text-muted;
        margin-top: 1;
    }
    FilterScreen #filter-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="filter.cancel"),
        Binding("ctrl+u", "clear", "Clear", priority=True, id="filter.clear"),
    ]

    def __init__(self, initial: OrderFilter) -> None:
        super().__init__()
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-dialog"):
            yield Static("Filter orders", id="filter-title")
            yield Input(
                value=self.initial.describe(),
                placeholder="status:in_flight chain:31338 token:usdc 0xab12",
                id="filter-input",
            )
            yield Static("", id="filter-error", markup=False)
            yield Static(_SYNTAX, id="filter-syntax", markup=False)
            yield Static("enter apply · ctrl+u clear · esc cancel", id="filter-keys", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            new = OrderFilter.parse(event.value)
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.dismiss(new)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_error("")

    def _show_error(self, message: str) -> None:
        error = self.query_one("#filter-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    def action_clear(self) -> None:
        self.query_one("#filter-input", Input).value = ""
        self._show_error("")

    def action_cancel(self) -> None:
        self.dismiss(None)
