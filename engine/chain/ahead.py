"""Reads started before anyone asks for them (a send's gas limit and balance, an order's origin status),
kept by what they are for: taken at most once, only while young, and only so many at once. A hint: a read
nobody takes is left to finish (cancelling a request would close its connection) and forgotten."""
from __future__ import annotations

import asyncio
import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

READ_AHEAD_MAX_AGE_SECONDS = 1.0
READ_AHEAD_MAX = 16


def outcome_retrieved(read: asyncio.Future) -> None:
    """A done-callback for a read that nobody may await: no "exception was never retrieved"."""
    if not read.cancelled():
        read.exception()


class ReadsAhead(Generic[K, V]):
    def __init__(self, *, max_age: float = READ_AHEAD_MAX_AGE_SECONDS, limit: int = READ_AHEAD_MAX) -> None:
        self.max_age = max_age
        self.limit = limit
        self._kept: dict[K, tuple[float, V]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, key: object) -> bool:
        return key in self._kept

    def room_for(self, key: K) -> bool:
        """Whether reads for `key` should start now: none kept for it, and fewer than `limit` in all
        (the ones too old to be taken are forgotten first)."""
        now = time.monotonic()
        for old in [k for k, (started, _) in self._kept.items() if now - started > self.max_age]:
            del self._kept[old]
        return key not in self._kept and len(self._kept) < self.limit

    def keep(self, key: K, value: V, *reads: asyncio.Future) -> None:
        """Keep `value` (holding the started `reads`) for `take`."""
        for read in reads:
            read.add_done_callback(outcome_retrieved)
        self._kept[key] = (time.monotonic(), value)

    def take(self, key: K) -> V | None:
        """What was kept for `key`, once, if it is still young enough."""
        entry = self._kept.pop(key, None)
        if entry is None or time.monotonic() - entry[0] > self.max_age:
            return None
        return entry[1]
