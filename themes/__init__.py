"""mmtui's themes: dark, light and a 16-colour one for plain terminals, plus the shared stylesheet.

Status colours are theme variables (`$status-pending`, `$status-in-flight`, `$status-done`,
`$status-refused`, `$status-lost`, `$status-armed`, `$status-disarmed`, `$status-error`), so a widget's
CSS and the Rich text it renders in table cells agree under every theme.
"""
from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

STYLESHEET = Path(__file__).with_name("mmtui.tcss")

MMTUI_DARK = Theme(
    name="mmtui-dark",
    primary="#4C9BE8",
    secondary="#2D6A9F",
    accent="#E8A33D",
    warning="#E8A33D",
    error="#E5534B",
    success="#57AB5A",
    foreground="#D8DEE4",
    background="#14181D",
    surface="#1C2128",
    panel="#22272E",
    dark=True,
    variables={
        "status-pending": "#C9D1D9",
        "status-in-flight": "#6CB6FF",
        "status-done": "#57AB5A",
        "status-refused": "#E8A33D",
        "status-lost": "#E5534B",
        "status-armed": "#57AB5A",
        "status-disarmed": "#E8A33D",
        "status-error": "#E5534B",
        "status-muted": "#768390",
    },
)

MMTUI_LIGHT = Theme(
    name="mmtui-light",
    primary="#0969DA",
    secondary="#218BFF",
    accent="#9A6700",
    warning="#9A6700",
    error="#CF222E",
    success="#1A7F37",
    foreground="#1F2328",
    background="#FFFFFF",
    surface="#F6F8FA",
    panel="#EAEEF2",
    dark=False,
    variables={
        "status-pending": "#1F2328",
        "status-in-flight": "#0969DA",
        "status-done": "#1A7F37",
        "status-refused": "#9A6700",
        "status-lost": "#CF222E",
        "status-armed": "#1A7F37",
        "status-disarmed": "#9A6700",
        "status-error": "#CF222E",
        "status-muted": "#656D76",
    },
)

MMTUI_16 = Theme(
    name="mmtui-16",
    ansi=True,
    primary="ansi_blue",
    secondary="ansi_cyan",
    warning="ansi_yellow",
    error="ansi_red",
    success="ansi_green",
    accent="ansi_yellow",
    foreground="ansi_default",
    background="ansi_default",
    surface="ansi_default",
    panel="ansi_default",
    boost="ansi_default",
    dark=True,
    variables={
        "ansi-background": "ansi_black",
        "ansi-foreground": "ansi_white",
        "border-blurred": "ansi_black",
        "block-cursor-foreground": "ansi_black",
        "block-cursor-background": "ansi_white",
        "input-cursor-background": "ansi_black",
        "input-cursor-foreground": "ansi_bright_white",
        "input-cursor-text-style": "none",
        "status-pending": "ansi_white",
        "status-in-flight": "ansi_cyan",
        "status-done": "ansi_green",
        "status-refused": "ansi_yellow",
        "status-lost": "ansi_red",
        "status-armed": "ansi_green",
        "status-disarmed": "ansi_yellow",
        "status-error": "ansi_red",
        "status-muted": "ansi_bright_black",
    },
)

THEMES: tuple[Theme, ...] = (MMTUI_DARK, MMTUI_LIGHT, MMTUI_16)
DEFAULT_THEME = MMTUI_DARK.name
STATUS_VARIABLES = ("status-pending", "status-in-flight", "status-done", "status-refused", "status-lost",
                    "status-armed", "status-disarmed", "status-error", "status-muted")


def rich_color(value: str) -> str:
    """A theme colour value as a Rich style colour ("ansi_bright_red" -> "bright_red")."""
    return value.removeprefix("ansi_")


def status_styles(theme: Theme) -> dict[str, str]:
    """`status-*` variable name -> Rich colour, for text rendered outside CSS (table cells)."""
    return {name: rich_color(theme.variables[name]) for name in STATUS_VARIABLES}
