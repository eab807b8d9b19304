"""Structured logs for headless mode: one JSON object per line on stdout, for journald, Loki and friends.

Each line holds `ts` (ISO-8601 UTC), `level`, `logger`, `msg`, the record's `fields` (structured extras
passed as `extra={"fields": {...}}`) and `exc` when an exception is attached. Every URL in the text is
cut down to scheme://host:port, because RPC URLs carry API keys in their path or query.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from engine.chain.rpc import scrub

# Chatty at INFO/DEBUG about their own plumbing; an operator needs only their warnings.
QUIET_LOGGERS = ("web3.providers.WebSocketProvider", "web3.providers.persistent.subscription_manager", "aiosqlite",
                 "asyncio", "urllib3", "alembic.runtime.plugins")
_RESERVED_KEYS = frozenset(("ts", "level", "logger", "msg", "exc", "stack"))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update((k, scrub(v) if isinstance(v, str) else v)
                         for k, v in fields.items() if k not in _RESERVED_KEYS)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_json_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (stdout) as JSON lines, replacing any earlier handlers."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)  # Python warnings become JSON lines too, not loose stderr text
