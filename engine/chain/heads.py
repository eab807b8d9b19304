"""Chain heads and reorg detection by block hash (anvil never emits `removed: true` logs, REFERENCE §7).

* `RecentBlocks` is PURE: a window of the last N canonical headers, contiguous by number and linked by
  parent hash. `apply(header)` classifies a new head without any I/O:
    INITIAL         first header seen (stored)
    EXTENDED        header is tip+1 and its parent is our tip (stored)
    STALE           we already hold this exact header (a lagging node or a repeated poll; ignored)
    GAP             header is above tip+1: `missing` numbers must be fetched and applied first (not stored)
    REORG           header replaces stored blocks and its parent is in the window: `common_ancestor`,
                    `removed` (no longer canonical) and `added` are known (stored)
    REORG_PENDING   header does not link to the window and the fork point is not visible from it: call
                    `find_common_ancestor` (fetches canonical headers backwards), then `rewind` (not stored)
    TOO_DEEP        header is below the window with a hash we do not know: any fork point is older than
                    the window (or the node lags/was reset); nothing can be resolved from memory
* `find_common_ancestor(rpc, recent)` walks canonical headers backwards from the tip until a stored hash
  matches (using parent hashes to stop one fetch early); `ReorgTooDeep` when it leaves the window.
* `HeadTracker` polls `latest` (waking early on a WebSocket newHeads notification when the ChainRpc has
  a ws_url), backfills gaps, resolves reorgs and yields one settled `HeadUpdate` per change.
  `ReorgTooDeep` propagates: it is fatal for the chain (the engine must stop it and alert).
"""
from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.chain.rpc import BlockHeader, RpcError

if TYPE_CHECKING:
    from engine.chain.rpc import ChainRpc

log = logging.getLogger(__name__)


class HeadKind(enum.Enum):
    INITIAL = "initial"
    EXTENDED = "extended"
    STALE = "stale"
    GAP = "gap"
    REORG = "reorg"
    REORG_PENDING = "reorg_pending"
    TOO_DEEP = "too_deep"


@dataclass(frozen=True, slots=True)
class HeadUpdate:
    kind: HeadKind
    head: BlockHeader  # the header this update is about (the new tip once settled)
    added: tuple[BlockHeader, ...] = ()  # newly canonical headers, ascending
    removed: tuple[BlockHeader, ...] = ()  # headers no longer canonical, ascending
    common_ancestor: int | None = None  # REORG: highest block still canonical
    missing: range | None = None  # GAP: numbers to backfill; settled GAP: numbers NOT backfilled
    message: str = ""

    @property
    def reorg_depth(self) -> int:
        return len(self.removed)

    def __str__(self) -> str:
        return self.message or f"{self.kind.value} at #{self.head.number}"


class ReorgTooDeep(RuntimeError):
    """A reorg whose fork point is older than the window of recent blocks: fatal for this chain."""

    def __init__(self, chain_id: int | None, message: str) -> None:
        self.chain_id = chain_id
        prefix = f"chain {chain_id}: " if chain_id is not None else ""
        super().__init__(prefix + message)


class ChainUnsettled(RuntimeError):
    """The chain kept reorganising while the tracker tried to catch up (retried next poll)."""


def _h(b: bytes) -> str:
    return "0x" + b.hex()[:10]


class RecentBlocks:
    """The last `window` canonical headers, contiguous and parent-linked. No I/O."""

    def __init__(self, window: int = 128, *, chain_id: int | None = None,
                 headers: Iterable[BlockHeader] = ()) -> None:
        if window < 2:
            raise ValueError("window must be >= 2")
        self.window = window
        self.chain_id = chain_id
        self._headers: deque[BlockHeader] = deque()
        for header in headers:
            update = self.apply(header)
            if update.kind not in (HeadKind.INITIAL, HeadKind.EXTENDED):
                raise ValueError(f"initial headers are not a contiguous chain at #{header.number}")

    # ------------------------------------------------------------------ inspection

    def __len__(self) -> int:
        return len(self._headers)

    def __iter__(self):
        return iter(self._headers)

    @property
    def tip(self) -> BlockHeader | None:
        return self._headers[-1] if self._headers else None

    @property
    def oldest(self) -> BlockHeader | None:
        return self._headers[0] if self._headers else None

    def get(self, number: int) -> BlockHeader | None:
        if not self._headers:
            return None
        index = number - self._headers[0].number
        if 0 <= index < len(self._headers):
            return self._headers[index]
        return None

    def hash_at(self, number: int) -> bytes | None:
        header = self.get(number)
        return header.hash if header is not None else None

    def __contains__(self, header: object) -> bool:
        return isinstance(header, BlockHeader) and self.hash_at(header.number) == header.hash

    # ------------------------------------------------------------------ mutation

    def reset(self, headers: Iterable[BlockHeader] = ()) -> None:
        self._headers.clear()
        for header in headers:
            update = self.apply(header)
            if update.kind not in (HeadKind.INITIAL, HeadKind.EXTENDED):
                raise ValueError(f"reset headers are not a contiguous chain at #{header.number}")

    def _append(self, header: BlockHeader) -> None:
        self._headers.append(header)
        while len(self._headers) > self.window:
            self._headers.popleft()

    def rewind(self, number: int) -> tuple[BlockHeader, ...]:
        """Drop every header above `number` (the common ancestor); returns them ascending."""
        removed: list[BlockHeader] = []
        while self._headers and self._headers[-1].number > number:
            removed.append(self._headers.pop())
        removed.reverse()
        return tuple(removed)

    def apply(self, header: BlockHeader) -> HeadUpdate:
        """Classify `header` against the window and store it when it extends or re-links the chain."""
        tip = self.tip
        if tip is None:
            self._append(header)
            return HeadUpdate(HeadKind.INITIAL, header, added=(header,),
                              message=f"tracking from #{header.number} {_h(header.hash)}")
        number = header.number
        if number == tip.number + 1 and header.parent_hash == tip.hash:
            self._append(header)
            return HeadUpdate(HeadKind.EXTENDED, header, added=(header,))
        if number > tip.number + 1:
            missing = range(tip.number + 1, number)
            return HeadUpdate(HeadKind.GAP, header, missing=missing,
                              message=f"gap: #{missing.start}..#{missing.stop - 1} missing below #{number}")
        # number <= tip.number + 1 and the header does not simply extend the tip
        if self.hash_at(number) == header.hash:
            return HeadUpdate(HeadKind.STALE, header, message=f"#{number} already known (tip #{tip.number})")
        oldest = self._headers[0]
        if number < oldest.number:
            return HeadUpdate(
                HeadKind.TOO_DEEP, header,
                message=(f"head #{number} {_h(header.hash)} is below the window #{oldest.number}..#{tip.number} "
                         "and unknown: the fork point is deeper than the window (or the node lags/was reset)"),
            )
        if number - 1 >= oldest.number and self.hash_at(number - 1) == header.parent_hash:
            ancestor = number - 1
            removed = self.rewind(ancestor)
            self._append(header)
            return HeadUpdate(
                HeadKind.REORG, header, added=(header,), removed=removed, common_ancestor=ancestor,
                message=(f"reorg: {len(removed)} block(s) above #{ancestor} replaced, "
                         f"new head #{number} {_h(header.hash)}"),
            )
        return HeadUpdate(
            HeadKind.REORG_PENDING, header,
            message=(f"head #{number} {_h(header.hash)} does not link to the window "
                     f"(tip #{tip.number} {_h(tip.hash)}): fork point below #{number - 1}"),
        )


@dataclass(frozen=True, slots=True)
class CommonAncestor:
    number: int
    hash: bytes
    fetched: tuple[BlockHeader, ...] = ()  # canonical headers fetched above the ancestor, ascending


async def find_common_ancestor(rpc: ChainRpc, recent: RecentBlocks,
                               head: BlockHeader | None = None) -> CommonAncestor:
    """The highest stored block that is still canonical, found by fetching canonical headers by number
    backwards from min(tip, head) until a stored hash matches (a fetched header whose parent hash is
    stored ends the walk one fetch early). Raises ReorgTooDeep when the walk leaves the window."""
    tip, oldest = recent.tip, recent.oldest
    if tip is None or oldest is None:
        raise ValueError("find_common_ancestor needs a non-empty window")
    chain_id = recent.chain_id if recent.chain_id is not None else getattr(rpc, "expected_chain_id", None)
    start = tip.number if head is None else min(tip.number, head.number)
    fetched: list[BlockHeader] = []
    number = start
    while number >= oldest.number:
        if head is not None and head.number == number:
            canonical: BlockHeader | None = head
        else:
            canonical = await rpc.get_block(number)
        if canonical is not None:
            if canonical.hash == recent.hash_at(number):
                fetched.reverse()
                return CommonAncestor(number, canonical.hash, tuple(fetched))
            fetched.append(canonical)
            if number - 1 >= oldest.number and canonical.parent_hash == recent.hash_at(number - 1):
                fetched.reverse()
                return CommonAncestor(number - 1, canonical.parent_hash, tuple(fetched))
        number -= 1
    raise ReorgTooDeep(
        chain_id,
        f"no block of the window #{oldest.number}..#{tip.number} ({recent.window} blocks) is canonical any "
        f"more: the reorg is deeper than the window (or the node was reset). Stop this chain, check the "
        f"node, and resume from a checkpoint older than #{oldest.number}.",
    )


@dataclass
class _Settle:
    added: list[BlockHeader] = field(default_factory=list)
    removed: list[BlockHeader] = field(default_factory=list)
    ancestor: int | None = None
    skipped: range | None = None
    initial: bool = False

    def rewound(self, ancestor: int, dropped: Sequence[BlockHeader]) -> None:
        added_hashes = {h.hash for h in self.added}
        for header in dropped:
            if header.hash in added_hashes:
                continue  # added and dropped in the same round: never reported
            self.removed.append(header)
        self.added = [h for h in self.added if h.number <= ancestor]
        self.ancestor = ancestor if self.ancestor is None else min(self.ancestor, ancestor)


class HeadTracker:
    """Follows one chain's head and yields settled HeadUpdates (INITIAL, EXTENDED, REORG, GAP).

    On the first poll the window is seeded with up to `seed_depth` (default window-1) headers below
    the head; INITIAL's `added` lists the seeded window.
    Every `poll_interval` seconds (or as soon as the ChainRpc's WebSocket reports a new head) it reads
    `latest` over HTTP, backfills up to `max_backfill` missing headers, resolves reorgs through
    find_common_ancestor, and yields one update describing the whole change. RPC failures are logged
    and retried on the next poll (`last_error`, `consecutive_errors`); ReorgTooDeep propagates.
    A head below the window with an unknown hash is ignored `below_window_tolerance` times (a lagging
    load-balanced backend) and then raises ReorgTooDeep.
    """

    def __init__(
        self,
        rpc: ChainRpc,
        recent: RecentBlocks | None = None,
        *,
        window: int = 128,
        poll_interval: float = 1.0,
        max_backfill: int | None = None,
        seed_depth: int | None = None,
        backfill_concurrency: int = 8,
        below_window_tolerance: int = 3,
        max_settle_rounds: int = 5,
    ) -> None:
        self.rpc = rpc
        self.recent = recent if recent is not None else RecentBlocks(window, chain_id=rpc.expected_chain_id)
        if self.recent.chain_id is None:
            self.recent.chain_id = rpc.expected_chain_id
        self.poll_interval = poll_interval
        self.max_backfill = max_backfill if max_backfill is not None else self.recent.window
        # headers loaded below the first head so that a reorg right after start is resolvable
        self.seed_depth = min(self.recent.window - 1, seed_depth if seed_depth is not None else self.recent.window)
        self.backfill_concurrency = backfill_concurrency
        self.below_window_tolerance = below_window_tolerance
        self.max_settle_rounds = max_settle_rounds
        self.last_error: BaseException | None = None
        self.consecutive_errors = 0
        self._below_window_seen = 0

    @property
    def chain_id(self) -> int:
        return self.rpc.expected_chain_id

    async def _fetch(self, first: int, last: int) -> list[BlockHeader]:
        """Canonical headers first..last by number (ascending), stopping at the first the node lacks."""
        if last < first:
            return []
        semaphore = asyncio.Semaphore(self.backfill_concurrency)

        async def one(number: int) -> BlockHeader | None:
            async with semaphore:
                return await self.rpc.get_block(number)

        headers = await asyncio.gather(*(one(n) for n in range(first, last + 1)))
        out: list[BlockHeader] = []
        for header in headers:
            if header is None:
                break
            out.append(header)
        return out

    async def _latest(self) -> BlockHeader:
        head = await self.rpc.get_block("latest")
        if head is None:
            raise RpcError(self.chain_id, "eth_getBlockByNumber", "node returned no latest block",
                           self.rpc.endpoint)
        return head

    async def _seed(self, head: BlockHeader) -> bool:
        """Fill the empty window with the `seed_depth` headers below `head`, then head. False when
        they do not link (the chain reorganised meanwhile); the window is left empty then."""
        first = max(0, head.number - self.seed_depth)
        headers = await self._fetch(first, head.number - 1) + [head]
        try:
            self.recent.reset(headers)
        except ValueError:
            self.recent.reset()
            return False
        return True

    async def poll(self, head: BlockHeader | None = None) -> HeadUpdate | None:
        """One step: read `latest` (unless given) and bring the window up to it. None when unchanged."""
        if head is None:
            head = await self._latest()
        recent = self.recent
        st = _Settle()
        for _ in range(self.max_settle_rounds):
            tip = recent.tip
            if tip is None:
                if await self._seed(head):
                    st.initial = True
                    st.added = list(recent)
                    break
                head = await self._latest()  # the chain moved under the seeding: start again
                continue
            oldest = recent.oldest
            assert oldest is not None
            if head.number < oldest.number and recent.hash_at(head.number) != head.hash:
                self._below_window_seen += 1
                if self._below_window_seen <= self.below_window_tolerance:
                    log.warning("chain %s: head #%d is below the window #%d..#%d (seen %d time(s))",
                                self.chain_id, head.number, oldest.number, tip.number, self._below_window_seen)
                    return None
                raise ReorgTooDeep(self.chain_id, recent.apply(head).message)
            self._below_window_seen = 0
            if head.number <= tip.number and recent.hash_at(head.number) == head.hash:
                break  # nothing new (a lagging node answers an older head: not a reorg)
            # headers to apply in order: backfill (tip, head) then head itself
            todo: list[BlockHeader] = []
            first = tip.number + 1
            if head.number - first > self.max_backfill:
                # too far behind: check our window is still canonical, then jump
                canonical_tip = await self.rpc.get_block(tip.number)
                if canonical_tip is None or canonical_tip.hash != tip.hash:
                    ancestor = await find_common_ancestor(self.rpc, recent)
                    st.rewound(ancestor.number, recent.rewind(ancestor.number))
                    continue
                jump_from = head.number - self.max_backfill + 1
                fetched = await self._fetch(jump_from, head.number - 1)
                if len(fetched) != head.number - jump_from:
                    break  # the node lacks some of them: try again next poll, window untouched
                st.skipped = range(first, jump_from)
                recent.reset()
                todo = fetched + [head]
            else:
                fetched = await self._fetch(first, head.number - 1)
                todo = fetched + [head] if len(fetched) == max(0, head.number - first) else fetched
            diverged: BlockHeader | None = None
            for header in todo:
                update = recent.apply(header)
                if update.kind in (HeadKind.INITIAL, HeadKind.EXTENDED):
                    st.added.append(header)
                    st.initial = st.initial or update.kind is HeadKind.INITIAL
                elif update.kind is HeadKind.REORG:
                    assert update.common_ancestor is not None
                    st.rewound(update.common_ancestor, update.removed)
                    st.added.append(header)
                elif update.kind is HeadKind.STALE:
                    continue
                elif update.kind is HeadKind.GAP:
                    break  # the node lacked a header: the rest waits for the next poll
                else:  # REORG_PENDING / TOO_DEEP
                    diverged = header
                    break
            if diverged is None:
                break
            ancestor = await find_common_ancestor(self.rpc, recent, diverged)
            st.rewound(ancestor.number, recent.rewind(ancestor.number))
            # the head we hold may itself be orphaned by now: re-read it, then loop to backfill from
            # the ancestor to the head by number (canonical now), apply, and re-check the links
            head = await self._latest()
        else:
            raise ChainUnsettled(f"chain {self.chain_id}: chain kept reorganising for "
                                 f"{self.max_settle_rounds} rounds while catching up to #{head.number}")
        return self._update(st, head)

    def _update(self, st: _Settle, head: BlockHeader) -> HeadUpdate | None:
        tip = self.recent.tip or head
        added, removed = tuple(st.added), tuple(st.removed)
        if st.initial and not removed and st.skipped is None:
            return HeadUpdate(HeadKind.INITIAL, tip, added=added,
                              message=f"chain {self.chain_id}: tracking from #{tip.number} {_h(tip.hash)}")
        if removed:  # a rewind that dropped nothing we had reported is not a reorg
            return HeadUpdate(
                HeadKind.REORG, tip, added=added, removed=removed, common_ancestor=st.ancestor,
                missing=st.skipped,
                message=(f"chain {self.chain_id}: reorg of {len(removed)} block(s) above #{st.ancestor}, "
                         f"new head #{tip.number} {_h(tip.hash)}"),
            )
        if st.skipped is not None:
            return HeadUpdate(
                HeadKind.GAP, tip, added=added, missing=st.skipped,
                message=(f"chain {self.chain_id}: jumped to #{tip.number}; headers "
                         f"#{st.skipped.start}..#{st.skipped.stop - 1} were not backfilled"),
            )
        if added:
            return HeadUpdate(HeadKind.EXTENDED, tip, added=added)
        return None

    async def updates(self) -> AsyncIterator[HeadUpdate]:
        """Poll forever, yielding settled updates. RpcErrors are logged and retried; ReorgTooDeep
        propagates (fatal for this chain)."""
        while True:
            try:
                update = await self.poll()
            except (RpcError, ChainUnsettled) as exc:
                self.last_error = exc
                self.consecutive_errors += 1
                log.warning("chain %s: head poll failed (%d in a row): %s", self.chain_id,
                            self.consecutive_errors, exc)
                update = None
            else:
                self.last_error = None
                self.consecutive_errors = 0
            if update is not None:
                yield update
                continue  # more may have arrived meanwhile: poll again at once
            await self.rpc.wait_for_new_head(self.poll_interval)

    def __aiter__(self) -> AsyncIterator[HeadUpdate]:
        return self.updates()
