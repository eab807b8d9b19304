"""mmtui's themes: dark, light and a 16-colour one for plain terminals, plus the shared stylesheet.

Status colours are theme variables, so a widget's CSS and the Rich text it renders in table cells agree
under every theme. A status family's colour has one name, made from the engine's `StatusFamily` by
`family_variable` (in_flight -> `status-in-flight`): the theme variable `$status-in-flight`, the key in
`status_styles`, and the CSS class of a status label are all that name. Besides the families:
`$status-armed`, `$status-disarmed`, `$status-error`, `$status-muted`.
"""
from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

from engine.api import StatusFamily

STYLESHEET = Path(__file__).with_name("mmtui.tcss")


def family_variable(family: StatusFamily) -> str:
    """The colour name of a status family: a theme variable and a CSS class ("status-in-flight")."""
    return "status-" + family.value.replace("_", "-")


FAMILY_VARIABLES = tuple(family_variable(family) for family in StatusFamily)
STATUS_VARIABLES = (*FAMILY_VARIABLES, "status-armed", "status-disarmed", "status-error", "status-muted")


def _status_variables(families: dict[StatusFamily, str], *, armed: str, disarmed: str, error: str,
                      muted: str) -> dict[str, str]:
    """A theme's status colours, keyed by the one naming (every family must have a colour)."""
    missing = set(StatusFamily) - set(families)
    if missing:
        raise ValueError(f"no colour for status families {sorted(missing)}")
    return {**{family_variable(f): colour for f, colour in families.items()}, "status-armed": armed,
            "status-disarmed": disarmed, "status-error": error, "status-muted": muted}


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
    variables=_status_variables(
        {StatusFamily.pending: "#C9D1D9", StatusFamily.in_flight: "#6CB6FF", StatusFamily.done: "#57AB5A",
         StatusFamily.refused: "#E8A33D", StatusFamily.lost: "#E5534B"},
        armed="#57AB5A", disarmed="#E8A33D", error="#E5534B", muted="#768390"),
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
    variables=_status_variables(
        {StatusFamily.pending: "#1F2328", StatusFamily.in_flight: "#0969DA", StatusFamily.done: "#1A7F37",
         StatusFamily.refused: "#9A6700", StatusFamily.lost: "#CF222E"},
        armed="#1A7F37", disarmed="#9A6700", error="#CF222E", muted="#656D76"),
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
        **_status_variables(
            {StatusFamily.pending: "ansi_white", StatusFamily.in_flight: "ansi_cyan", StatusFamily.done: "ansi_green",
             StatusFamily.refused: "ansi_yellow", StatusFamily.lost: "ansi_red"},
            armed="ansi_green", disarmed="ansi_yellow", error="ansi_red", muted="ansi_bright_black"),
    },
)

THEMES: tuple[Theme, ...] = (MMTUI_DARK, MMTUI_LIGHT, MMTUI_16)
DEFAULT_THEME = MMTUI_DARK.name


def rich_color(value: str) -> str:
    """A theme colour value as a Rich style colour ("ansi_bright_red" -> "bright_red")."""
    return value.removeprefix("ansi_")


def status_styles(theme: Theme) -> dict[str, str]:
    """`status-*` variable name -> Rich colour, for text rendered outside CSS (table cells)."""
    return {name: rich_color(theme.variables[name]) for name in STATUS_VARIABLES}
