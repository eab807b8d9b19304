"""The safe arming checklist (runbook): every check live, arm when all are green, override on purpose."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.api import ArmingCheck
from widgets.cells import wei_in_text

LoadChecks = Callable[[], Awaitable[tuple[ArmingCheck, ...]]]
_CHAIN = re.compile(r"\bchain (\d+)\b")


class ArmingScreen(ModalScreen[str | None]):
    """Shows the engine's arming checks, reloaded every `refresh_seconds`.

    Dismisses with "arm" (a / enter, only when every check is green), "override" (o, only when some
    check is red: pressing it is the operator's explicit acknowledgement) or None (escape).
    Until the first load completes (started on mount) it shows "checking…" and accepts no arming.
    """

    DEFAULT_CSS = """
    ArmingScreen {
        align: center middle;
    }
    ArmingScreen > #arming-dialog {
        width: 90;
        max-width: 95%;
        height: auto;
        padding: 1 2;
        border: thick $primary;
        background: $surface;
    }
    ArmingScreen #arming-title {
        text-style: bold;
        margin-bottom: 1;
    }
    ArmingScreen #arming-checks {
        height: auto;
    }
    ArmingScreen #arming-error {
        color: $error;
        display: none;
    }
    ArmingScreen #arming-error.-shown {
        display: block;
    }
    ArmingScreen #arming-hint {
        margin-top: 1;
        text-style: bold;
    }
    ArmingScreen #arming-hint.-ready {
        color: $success;
    }
    ArmingScreen #arming-hint.-failing {
        color: $warning;
    }
    ArmingScreen #arming-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("a,enter", "arm", "Arm", id="arming.arm"),
        Binding("o", "override", "Arm with override", id="arming.override"),
        Binding("escape", "cancel", "Cancel", id="arming.cancel"),
    ]

    def __init__(self, load_checks: LoadChecks, refresh_seconds: float = 1.0, *,
                 native_symbols: Mapping[int, str] | None = None) -> None:
        super().__init__()
        self.load_checks = load_checks
        self.native_symbols = dict(native_symbols or {})  # chain id -> gas token, to show wei as "0.002 ETH"
        self.refresh_seconds = refresh_seconds
        self.checks: tuple[ArmingCheck, ...] | None = None  # None until the first load completes
        self._loading = False

    def compose(self) -> ComposeResult:
        with Vertical(id="arming-dialog"):
            yield Static("Arm the relayer: safe arming checklist", id="arming-title")
            yield Static("checking…", id="arming-checks", markup=False)
            yield Static("", id="arming-error", markup=False)
            yield Static("", id="arming-hint", markup=False)
            yield Static("a / enter arm · o arm with override · esc cancel", id="arming-keys", markup=False)

    def on_mount(self) -> None:
        self._reload()
        self.set_interval(self.refresh_seconds, self._reload)

    @property
    def failing(self) -> tuple[ArmingCheck, ...]:
        return tuple(check for check in self.checks or () if not check.ok)

    def _reload(self) -> None:
        # A slow engine must not pile up loads: skip a tick while one is in flight.
        if self._loading:
            return
        self._loading = True
        self.run_worker(self._load(), group="arming-checks", exit_on_error=False)

    async def _load(self) -> None:
        try:
            checks = await self.load_checks()
        except Exception as exc:  # noqa: BLE001 - any failure to load is shown, never raised into the UI
            self._show_error(f"could not load the checks: {exc}")
        else:
            self._show_error("")
            self.checks = tuple(checks)
            self._render_checks()
        finally:
            self._loading = False

    def _show_error(self, message: str) -> None:
        error = self.query_one("#arming-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    def _render_checks(self) -> None:
        checks = self.checks or ()
        width = max((len(check.name) for check in checks), default=0)
        lines = [
            Content.assemble(
                ("✔", "$success bold") if check.ok else ("✘", "$error bold"),
                " ",
                (check.name.ljust(width), "bold"),
                "  ",
                self._readable(check),
            )
            for check in checks
        ]
        self.query_one("#arming-checks", Static).update(
            Content("\n").join(lines) if lines else Content("the engine reported no checks")
        )
        hint = self.query_one("#arming-hint", Static)
        failing = len(self.failing)
        if failing:
            noun = "check" if failing == 1 else "checks"
            hint.update(f"{failing} {noun} failing: press o to override")
        else:
            hint.update("all checks green: press enter to arm")
        hint.set_class(failing == 0, "-ready")
        hint.set_class(failing > 0, "-failing")

    def _readable(self, check: ArmingCheck) -> str:
        """The check's detail with gas amounts in the chain's native token (the engine words them in wei)."""
        chain = _CHAIN.search(check.name)
        symbol = self.native_symbols.get(int(chain.group(1)), "ETH") if chain else "ETH"
        return wei_in_text(check.detail, symbol)

    def action_arm(self) -> None:
        if self.checks is None:
            self.notify("still checking…", severity="warning")
            return
        if self.failing:
            self.notify(f"{len(self.failing)} checks failing: press o to override", severity="warning")
            return
        self.dismiss("arm")

    def action_override(self) -> None:
        if self.checks is None:
            self.notify("still checking…", severity="warning")
            return
        if not self.failing:
            self.notify("every check is green: press enter to arm", severity="information")
            return
        self.dismiss("override")

    def action_cancel(self) -> None:
        self.dismiss(None)
