"""The header: who we are, whether we may send, and whether every chain is alive."""
from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from engine.api import EngineSnapshot
from widgets.cells import duration, styles_for

HEARTBEAT_STALE_SECONDS = 5.0


class EngineHeader(Static):
    DEFAULT_CSS = """
    EngineHeader {
        height: auto;
        min-height: 3;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("connecting to the engine…"), id=id)

    def show(self, snap: EngineSnapshot, now: datetime) -> None:
        colors = styles_for(self.app.current_theme)
        line = Text()
        line.append("mmtui ", style="bold")
        line.append(snap.config_name)
        line.append("  relayer ")
        line.append(snap.relayer, style="bold")
        line.append("  ")
        if snap.armed:
            line.append(" ARMED ", style=f"bold reverse {colors['status-armed']}")
        else:
            line.append(" DISARMED ", style=f"bold reverse {colors['status-disarmed']}")
        line.append("  withdrawals ")
        line.append("FROZEN" if snap.frozen else "UNFROZEN",
                    style=f"bold {colors['status-disarmed'] if snap.frozen else colors['status-armed']}")
        beat = (now - snap.heartbeat_at).total_seconds()
        line.append("  heartbeat ")
        line.append(duration(beat), style=colors["status-error"] if beat > HEARTBEAT_STALE_SECONDS else "")
        line.append("  db ")
        line.append(snap.database)
        lines = [line]
        if snap.fatal_error:
            lines.append(Text(f"ENGINE STOPPED: {snap.fatal_error}", style=f"bold {colors['status-error']}"))
        chains = Text()
        for i, c in enumerate(snap.chains):
            if i:
                chains.append("   ")
            ok = c.rpc_ok
            chains.append(f"● {c.chain_id}", style=colors["status-done"] if ok else colors["status-error"])
            chains.append(f" #{c.head_number if c.head_number is not None else '?'}")
            if c.lag_blocks is not None:
                chains.append(f" lag {c.lag_blocks}", style=colors["status-refused"] if c.lag_blocks > 2 else "")
            if c.head_seen_at is not None:
                chains.append(f" {duration((now - c.head_seen_at).total_seconds())} ago",
                              style=colors["status-muted"])
            if c.pending_transactions:
                chains.append(f" {c.pending_transactions} tx pending")
            if c.dead_letters:
                chains.append(f" {c.dead_letters} dead letters", style=colors["status-refused"])
        lines.append(chains)
        for c in snap.chains:
            if not c.rpc_ok:
                lines.append(Text(f"chain {c.chain_id}: {c.last_error or 'no head yet'}", style=colors["status-error"]))
        self.update(Text("\n").join(lines))
