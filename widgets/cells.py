"""Small formatting helpers shared by the panes: every string from the engine or the chain is shown as
plain `rich.text.Text` (a token named `[/x]` must not be parsed as markup, REFERENCE §7)."""
from __future__ import annotations

import re
from datetime import datetime

from rich.text import Text

from textual.theme import Theme

from engine.units import format_units

from themes import status_styles


class SortableText(Text):
    """A table cell that sorts by a value of its own (a number or a time), not by its rendered text."""

    def __init__(self, text: str, sort_value: object, style: str = "", justify=None) -> None:
        super().__init__(text, style=style, justify=justify)
        self.sort_value = sort_value


def plain(value: object, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style)


def duration(seconds: float | None) -> str:
    """12s, 5m03s, 2h15m, 3d04h: compact and exact enough for an operator."""
    if seconds is None:
        return "?"
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"


def age(now: datetime, then: datetime | None) -> str:
    return "?" if then is None else duration((now - then).total_seconds())


def gwei(wei: int | None) -> str:
    if wei is None:
        return "?"
    value = wei / 1e9
    return f"{value:.3f} gwei" if value < 100 else f"{value:.0f} gwei"


NATIVE_DECIMALS = 18
NATIVE_DECIMALS_SHOWN = 6
_NATIVE_STEP = 10 ** (NATIVE_DECIMALS - NATIVE_DECIMALS_SHOWN)


def native(wei: int | None, symbol: str) -> str:
    """A native-token amount held in wei, for an operator: "0.002 ETH", at most 6 decimals, rounded down
    (a gas balance is never shown larger than it is); a non-zero dust amount says so instead of "0"."""
    if wei is None:
        return "?"
    if 0 < wei < _NATIVE_STEP:
        return f"<{format_units(_NATIVE_STEP, NATIVE_DECIMALS, symbol)}"
    return format_units(wei - wei % _NATIVE_STEP, NATIVE_DECIMALS, symbol)


_WEI = re.compile(r"\b(\d+) wei\b")


def wei_in_text(text: str, symbol: str) -> str:
    """Every "<integer> wei" of an engine message written in the native token ("2000000000000000 wei" ->
    "0.002 ETH"); the rest of the text is left as it is."""
    return _WEI.sub(lambda m: native(int(m.group(1)), symbol), text)


def styles_for(theme: Theme) -> dict[str, str]:
    return status_styles(theme)
