"""One chain's FastBridge log watcher: durable cursor, bounded eth_getLogs, reorgs by block hash,
idempotent ingest, dead letters.

Design
------
* Per chain a persisted cursor (``chain_cursor``: number + hash of the last block whose logs are
  durably stored) and a window of recent canonical headers (``recent_block``, also kept in memory as
  a ``RecentBlocks``).
* ``step()`` does one round:
  1. read ``latest``; check the cursor block is still canonical (its hash by number). If not, the
     chain reorganised below/at the cursor: the fork point is found by walking back through the
     stored recent headers (``find_common_ancestor``), ``on_reorg(chain_id, ancestor, removed)`` is
     called FIRST, then one write transaction deletes the ``chain_log`` and ``recent_block`` rows
     above the ancestor and moves the cursor back to it. Calling the callback before the commit makes
     the rollback notice at-least-once: a crash in between finds the same stale cursor on restart
     and reports the same reorg again. ``on_reorg`` must therefore be idempotent.
  2. fetch the logs of cursor+1 .. head in bounded ranges (``max_range``, halved when the provider
     refuses a range). Per range: the end header is pinned BEFORE eth_getLogs, the headers of the
     range's last ``window`` blocks and of every block holding a log are fetched after it, and the
     batch is accepted only if those headers link up to the pinned end header (and, for a range
     that fits the window, down to the cursor) and every log's block hash matches its header: a
     reorg during the fetch is detected and the round retried. Then ONE write transaction inserts
     the logs (``insert_ignore``: dedupe on chain, tx hash, log index), stores the headers, prunes
     ``recent_block`` below the window, moves the cursor to the range's end block, and dead-letters
     every newly inserted log that does not decode.
  3. after the commit, ``on_logs(chain_id, [WatchedLog...])`` receives the newly inserted, decoded
     logs in chain order. Only logs actually inserted are delivered, so a replayed range delivers
     nothing twice. If ``on_logs`` raises, the logs stay pending in memory and are delivered again
     (before anything newer) on the next round: within a process delivery is at-least-once and
     ordered, so ``on_logs`` MUST be idempotent (dedupe by transaction id / (tx hash, log index)).
     A process crash between the commit and the callback loses that delivery (the logs are in
     ``chain_log``; ``redeliver_stored()`` re-reads them): state that must not be lost is written by
     ``on_stored(session, logs)`` instead, which runs INSIDE the storing transaction (a plain function
     of a synchronous session run by ``Database.run_write``), so the logs
     and what was derived from them commit together or not at all.
* Only the bridge's own events (topic0 in ``BRIDGE_EVENTS``) are requested. A bridge log whose data
  does not decode, or a BridgeRequested whose request bytes do not decode (or whose transactionId is
  not keccak(request)), goes to ``dead_letter`` with the error and the raw log, in the same
  transaction, and is not passed on; the chain continues.
* Confirmations are not the watcher's business: it exposes ``head`` (and each WatchedLog carries
  its block number); the relayer computes ``head - log.block_number``.
* ``run(stop_event)`` loops: step, then wait for a new head (WebSocket wake-up or a poll sleep).
  Every error is logged, recorded in ``last_error`` and retried with backoff; the loop never dies.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from engine.chain.heads import RecentBlocks, ReorgTooDeep, find_common_ancestor
from engine.chain.rpc import BlockHeader, ChainRpc, LogQueryTooLarge, RawLog, RpcError
from engine.protocol.codec import BridgeRequest, RequestDecodeError, decode_request, keccak256
from engine.protocol.events import BRIDGE_EVENTS, BRIDGE_REQUESTED, DecodedEvent, EventDecodeError, decode_event
from engine.store import ChainCursor, ChainLog, Database, DeadLetter, RecentBlock, insert_ignore
from engine.store.prepared import Prepared
from engine.store.types import utc_now

log = logging.getLogger(__name__)

BRIDGE_TOPIC0S: tuple[bytes, ...] = tuple(e.topic0 for e in BRIDGE_EVENTS)

#: stored headers below the window are deleted at most this often (they are read back by number, newest first)
PRUNE_EVERY_BLOCKS = 32

# The statements of every round, built once (building one costs more than running it on SQLite).
_STORED_LOG_KEYS = select(ChainLog.tx_hash, ChainLog.log_index).where(
    ChainLog.chain_id == bindparam("chain_id"), ChainLog.tx_hash.in_(bindparam("tx_hashes", expanding=True)))
_DROP_HEADERS = delete(RecentBlock.__table__).where(
    RecentBlock.chain_id == bindparam("chain_id"), RecentBlock.number.in_(bindparam("numbers", expanding=True)))
_PRUNE_HEADERS = Prepared(delete(RecentBlock.__table__).where(
    RecentBlock.chain_id == bindparam("chain_id"), RecentBlock.number <= bindparam("up_to")))
# updated_at given, not left to its Python-side default: Prepared runs these below SQLAlchemy's execution
_MOVE_CURSOR = Prepared(update(ChainCursor.__table__).where(ChainCursor.chain_id == bindparam("of_chain")).values(
    block_number=bindparam("to_number"), block_hash=bindparam("to_hash"), updated_at=bindparam("at")))
_NEW_CURSOR = Prepared(insert(ChainCursor.__table__))


@dataclass(frozen=True, slots=True)
class WatchedLog:
    """A newly stored, decoded bridge log. ``block_timestamp`` is chain time (unix seconds)."""

    chain_id: int
    raw: RawLog
    event: DecodedEvent
    block_timestamp: int
    request: BridgeRequest | None = None  # decoded request bytes of a BridgeRequested

    @property
    def block_number(self) -> int:
        return self.raw.block_number

    @property
    def block_hash(self) -> bytes:
        return self.raw.block_hash


OnLogs = Callable[[int, list[WatchedLog]], Awaitable[None] | None]
OnReorg = Callable[[int, int, list[int]], Awaitable[None] | None]
# Called INSIDE the write transaction that stores new logs: what it writes commits (or not) with them.
OnStored = Callable[[Session, list[WatchedLog]], None]
OnHead = Callable[[BlockHeader], Awaitable[None] | None]
OnRolledBack = Callable[[int, int], None]  # (chain id, ancestor): the removed blocks' logs are deleted
# the decoded logs of a fetch, before they are stored (they may be stored already, or the write may fail); an
# awaitable it answers with is awaited before the write (the relayer's relays of new orders)
OnDecoded = Callable[[list[WatchedLog]], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Cursor:
    number: int
    hash: bytes


class _Retry(Exception):
    """The chain moved under a batch (a reorg during the fetch): start the round again."""


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


async def _maybe_await(result: Any) -> None:
    if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
        await result


def _decode(chain_id: int, raw: RawLog, timestamp: int) -> WatchedLog:
    """Decode one bridge log; raises EventDecodeError/RequestDecodeError (-> dead letter)."""
    event = decode_event(list(raw.topics), raw.data)
    request = None
    if event.name == BRIDGE_REQUESTED.name:
        request_bytes = event.args["request"]
        request = decode_request(request_bytes)
        if keccak256(request_bytes) != event.args["transactionId"]:
            raise RequestDecodeError(
                f"transactionId 0x{event.args['transactionId'].hex()} is not keccak256(request)"
            )
    return WatchedLog(chain_id, raw, event, timestamp, request)


def _log_payload(raw: RawLog) -> dict[str, Any]:
    return {
        "block_number": raw.block_number,
        "block_hash": _hex(raw.block_hash),
        "tx_hash": _hex(raw.tx_hash),
        "log_index": raw.log_index,
        "address": raw.address,
        "topics": [_hex(t) for t in raw.topics],
        "data": _hex(raw.data),
    }


class ChainWatcher:
    """Watches one chain's bridge contract. See the module docstring for guarantees.

    Public state for a UI: ``head`` (latest head number seen), ``cursor`` (last durably processed
    block number), ``lag_blocks``, ``last_error`` (text or None), ``healthy``, ``consecutive_errors``,
    ``reorgs``, ``dead_letters``, ``delivered``.
    """

    def __init__(
        self,
        chain_id: int,
        rpc: ChainRpc,
        db: Database,
        bridge_address: str,
        *,
        start_block: int,
        max_range: int = 2000,
        window: int = 128,
        on_logs: OnLogs | None = None,
        on_reorg: OnReorg | None = None,
        on_stored: OnStored | None = None,
        on_head: OnHead | None = None,
        on_rolled_back: OnRolledBack | None = None,
        on_decoded: OnDecoded | None = None,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        header_concurrency: int = 8,
    ) -> None:
        if max_range < 1:
            raise ValueError("max_range must be >= 1")
        self.chain_id = chain_id
        self.rpc = rpc
        self.db = db
        self.bridge_address = bridge_address
        self.start_block = max(1, start_block)  # genesis holds no transactions
        self.max_range = max_range
        self.window = window
        self.on_logs = on_logs
        self.on_reorg = on_reorg
        self.on_stored = on_stored
        self.on_head = on_head
        self.on_rolled_back = on_rolled_back
        self.on_decoded = on_decoded
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._sem = asyncio.Semaphore(header_concurrency)
        self._recent = RecentBlocks(window, chain_id=chain_id)
        self._pruned_at: int | None = None  # the block at the last deletion of headers below the window
        self._cursor: Cursor | None = None
        self._loaded = False
        self._pending: list[WatchedLog] = []
        self._head: BlockHeader | None = None
        self.last_error: str | None = None
        self.consecutive_errors = 0
        self.reorgs = 0
        self.dead_letters = 0
        self.delivered = 0
        self.last_step_at: float | None = None  # time.monotonic() of the last successful round

    # ------------------------------------------------------------------ observable state

    @property
    def head(self) -> int | None:
        return self._head.number if self._head is not None else None

    @property
    def head_header(self) -> BlockHeader | None:
        return self._head

    @property
    def cursor(self) -> int | None:
        return self._cursor.number if self._cursor is not None else None

    @property
    def cursor_hash(self) -> bytes | None:
        return self._cursor.hash if self._cursor is not None else None

    @property
    def lag_blocks(self) -> int | None:
        if self._head is None or self._cursor is None:
            return None
        return max(0, self._head.number - self._cursor.number)

    @property
    def healthy(self) -> bool:
        return self._loaded and self.last_error is None and not self._pending

    # ------------------------------------------------------------------ start-up

    async def _load(self) -> None:
        """Resume from the stored cursor and recent headers, or start at start_block - 1."""
        async with self.db.read() as s:
            row = await s.get(ChainCursor, self.chain_id)
            rows = (await s.execute(
                select(RecentBlock).where(RecentBlock.chain_id == self.chain_id)
                .order_by(RecentBlock.number.desc()).limit(self.window)
            )).scalars().all()
        headers = [BlockHeader(r.number, bytes.fromhex(r.hash[2:]), bytes.fromhex(r.parent_hash[2:]), r.timestamp)
                   for r in reversed(rows)]
        # keep the highest contiguous, parent-linked run
        run: list[BlockHeader] = []
        for h in reversed(headers):
            if run and not (h.number == run[-1].number - 1 and h.hash == run[-1].parent_hash):
                break
            run.append(h)
        run.reverse()
        if row is not None:
            self._cursor = Cursor(row.block_number, bytes.fromhex(row.block_hash[2:]))
            self._recent.reset([h for h in run if h.number <= row.block_number])
            log.info("chain %s: resuming after #%d %s", self.chain_id, row.block_number, row.block_hash[:12])
        else:
            number = self.start_block - 1
            header = await self.rpc.get_block(number)
            if header is None:
                raise RpcError(self.chain_id, "eth_getBlockByNumber", f"start block #{number} not found",
                               self.rpc.endpoint)

            def store_start(s: Session) -> None:
                self._store_headers(s, [header])
                self._set_cursor(s, header)

            await self.db.run_write(store_start)
            self._cursor = Cursor(header.number, header.hash)
            self._recent.reset([header])
            log.info("chain %s: starting at #%d", self.chain_id, self.start_block)
        self._loaded = True

    # ------------------------------------------------------------------ one round

    async def step(self) -> bool:
        """One round. Returns True when caught up with the head seen at its start."""
        if not self._loaded:
            await self._load()
        await self._deliver_pending()
        for _ in range(5):
            try:
                caught_up = await self._round()
            except _Retry as exc:
                log.info("chain %s: %s; retrying the round", self.chain_id, exc)
                continue
            self.last_step_at = time.monotonic()
            return caught_up
        raise _Retry("the chain kept moving under the watcher for 5 rounds")

    async def _round(self) -> bool:
        assert self._cursor is not None
        announced = self.rpc.take_announced_head()
        if announced is not None and announced.number == self._cursor.number + 1 \
                and announced.parent_hash == self._cursor.hash:
            # the common case: the stream announced the block after the cursor; its logs are read by hash,
            # with no `latest` read (a node that lacks the block answers an error: then the usual way)
            self._head = announced
            try:
                await self._batch(announced.number, announced.number, announced, by_hash=True)
                return True
            except RpcError as exc:
                log.debug("chain %s: logs of announced #%d by hash: %s; reading the head", self.chain_id,
                          announced.number, exc)
        head = await self.rpc.get_block("latest")
        if head is None:
            raise RpcError(self.chain_id, "eth_getBlockByNumber", "node returned no latest block", self.rpc.endpoint)
        self._head = head
        assert self._cursor is not None
        cur = self._cursor
        if head.number < cur.number:
            if self._recent.hash_at(head.number) == head.hash:
                return True  # a lagging node: not a reorg
            await self._reorg(head)
        elif not (head.number == cur.number + 1 and head.parent_hash == cur.hash):  # the common case: no read
            canonical = head if head.number == cur.number else await self.rpc.get_block(cur.number)
            if canonical is None or canonical.hash != cur.hash:
                await self._reorg(head)
        # after a rollback the blocks above the ancestor are fetched again in this same round
        # (a head orphaned meanwhile is caught by the batch's link checks)
        start = self._cursor.number + 1
        span = self.max_range
        while start <= head.number:
            end = min(head.number, start + span - 1)
            try:
                await self._batch(start, end, head if end == head.number else None)
            except LogQueryTooLarge:
                if end == start:
                    raise
                span = max(1, (end - start + 1) // 2)
                continue
            start = end + 1
        return True

    async def _headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        async def one(n: int) -> BlockHeader | None:
            async with self._sem:
                return await self.rpc.get_block(n)

        got = await asyncio.gather(*(one(n) for n in numbers))
        out: dict[int, BlockHeader] = {}
        for n, h in zip(numbers, got):
            if h is None:
                raise _Retry(f"block #{n} vanished")
            out[n] = h
        return out

    async def _batch(self, start: int, end: int, end_header: BlockHeader | None = None, *,
                     by_hash: bool = False) -> None:
        """Fetch, check and store the logs of [start, end]. `by_hash`: one block (start == end, its
        header given), its logs read by the header's hash."""
        assert self._cursor is not None
        cur = self._cursor
        pinned = end_header or await self.rpc.get_block(end)
        if pinned is None:
            raise _Retry(f"block #{end} vanished")
        if by_hash:
            assert start == end == pinned.number
            raws = await self.rpc.get_logs_by_block_hash(self.bridge_address, pinned.hash, [list(BRIDGE_TOPIC0S)])
        else:
            raws = await self.rpc.get_logs(self.bridge_address, start, end, [list(BRIDGE_TOPIC0S)])
        low = max(start, end - self.window + 1)
        wanted = sorted(set(range(low, end)) | {r.block_number for r in raws if r.block_number < low})
        headers = await self._headers(wanted)
        headers[end] = pinned
        # the fetched window must be one chain up to the pinned end (and down to the cursor)
        for n in range(low + 1, end + 1):
            if headers[n].parent_hash != headers[n - 1].hash:
                raise _Retry(f"headers #{n - 1}..#{n} do not link (reorg during fetch)")
        if low == start and headers[start].parent_hash != cur.hash:
            raise _Retry(f"#{start} does not link to the cursor #{cur.number} (reorg)")
        for r in raws:
            if r.block_hash != headers[r.block_number].hash:
                raise _Retry(f"log in #{r.block_number} is from another fork (reorg during fetch)")
        raws.sort(key=lambda r: (r.block_number, r.log_index))
        window_headers = [headers[n] for n in range(low, end + 1)]

        decoded: dict[tuple[bytes, int], WatchedLog | Exception] = {}
        for r in raws:  # before the transaction: the write lock is held for writes only
            try:
                decoded[(r.tx_hash, r.log_index)] = _decode(self.chain_id, r, headers[r.block_number].timestamp)
            except (EventDecodeError, RequestDecodeError) as exc:
                decoded[(r.tx_hash, r.log_index)] = exc
        if self.on_decoded is not None and decoded:
            try:
                pending = self.on_decoded([w for w in decoded.values() if isinstance(w, WatchedLog)])
                if pending is not None:
                    await pending
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a hint: it must never hold the chain up
                log.exception("chain %s: on_decoded failed", self.chain_id)
            # one turn of the loop: the requests the hook started (reads, a broadcast) go out now, so that the
            # node answers them during the write below (which holds the loop), not after it
            await asyncio.sleep(0)

        prune = self._pruned_at is None or end - self._pruned_at >= PRUNE_EVERY_BLOCKS

        def store(s: Session) -> tuple[list[WatchedLog], int]:
            inserted_keys = self._insert_logs(s, raws)
            fresh: list[WatchedLog] = []
            dead = 0
            for r in raws:
                if (r.tx_hash, r.log_index) not in inserted_keys:
                    continue  # already stored: handled (or dead-lettered) before
                outcome = decoded[(r.tx_hash, r.log_index)]
                if isinstance(outcome, Exception):
                    dead += 1
                    s.add(DeadLetter(
                        chain_id=self.chain_id, block_number=r.block_number, tx_hash=_hex(r.tx_hash),
                        log_index=r.log_index, topic0=_hex(r.topics[0]) if r.topics else None,
                        error=f"{type(outcome).__name__}: {outcome}", payload=_log_payload(r),
                    ))
                    log.warning("chain %s: log %s#%d in #%d dead-lettered: %s", self.chain_id,
                                _hex(r.tx_hash)[:12], r.log_index, r.block_number, outcome)
                else:
                    fresh.append(outcome)
            if fresh and self.on_stored is not None:
                self.on_stored(s, fresh)
            self._store_headers(s, window_headers)
            if prune:
                _PRUNE_HEADERS.run(s, {"chain_id": self.chain_id, "up_to": end - self.window})
            self._set_cursor(s, pinned)
            return fresh, dead

        fresh, dead = await self.db.run_write(store)
        if prune:
            self._pruned_at = end
        self.dead_letters += dead
        if low > start:
            self._recent.reset(window_headers)
        else:
            for h in window_headers:
                self._recent.apply(h)
        self._cursor = Cursor(pinned.number, pinned.hash)
        if fresh:
            self._pending.extend(fresh)
            await self._deliver_pending()

    def _insert_logs(self, s: Session, raws: Sequence[RawLog]) -> set[tuple[bytes, int]]:
        """insert_ignore the logs; return the (tx hash, log index) keys actually inserted."""
        if not raws:
            return set()
        tx_hexes = sorted({_hex(r.tx_hash) for r in raws})
        before = set(s.connection().execute(_STORED_LOG_KEYS, {"chain_id": self.chain_id, "tx_hashes": tx_hexes}).all())
        now = utc_now()
        rows = [dict(chain_id=self.chain_id, block_number=r.block_number, block_hash=_hex(r.block_hash),
                     tx_hash=_hex(r.tx_hash), log_index=r.log_index, address=r.address.lower(),
                     topic0=_hex(r.topics[0]) if r.topics else None, topics=[_hex(t) for t in r.topics],
                     data=r.data, removed=r.removed,
                     transaction_id=_hex(r.topics[1]) if len(r.topics) > 1 else None, stored_at=now)
                for r in raws]
        insert_ignore(s, ChainLog, rows)
        # write transactions hold the lock (BEGIN IMMEDIATE / row locks): "before" is exact
        return {(r.tx_hash, r.log_index) for r in raws if (_hex(r.tx_hash), r.log_index) not in before}

    def _store_headers(self, s: Session, headers: Sequence[BlockHeader]) -> None:
        """Store these headers, replacing any stored at the same numbers (another fork's)."""
        if not headers:
            return
        rows = [dict(chain_id=self.chain_id, number=h.number, hash=_hex(h.hash), parent_hash=_hex(h.parent_hash),
                     timestamp=h.timestamp) for h in headers]
        if insert_ignore(s, RecentBlock, rows) == len(rows):
            return  # the common case: all new numbers, one statement
        s.connection().execute(_DROP_HEADERS, {"chain_id": self.chain_id, "numbers": [h.number for h in headers]})
        insert_ignore(s, RecentBlock, rows)

    def _set_cursor(self, s: Session, header: BlockHeader | Cursor) -> None:
        now = utc_now()
        if _MOVE_CURSOR.run(s, {"of_chain": self.chain_id, "to_number": header.number, "to_hash": _hex(header.hash),
                                "at": now}) == 0:
            _NEW_CURSOR.run(s, {"chain_id": self.chain_id, "block_number": header.number,
                                "block_hash": _hex(header.hash), "updated_at": now})

    # ------------------------------------------------------------------ reorgs

    async def _reorg(self, head: BlockHeader) -> None:
        assert self._cursor is not None
        old = self._cursor
        if self._recent.tip is None:
            raise ReorgTooDeep(self.chain_id, f"cursor #{old.number} is not canonical and no recent blocks "
                                              "are stored to find the fork point")
        ancestor = await find_common_ancestor(self.rpc, self._recent)
        removed = list(range(ancestor.number + 1, old.number + 1))
        log.warning("chain %s: reorg: blocks #%d..#%d replaced (cursor was %s), rolling back to #%d",
                    self.chain_id, ancestor.number + 1, old.number, _hex(old.hash)[:12], ancestor.number)
        # drop undelivered logs of removed blocks, then tell the relayer (before our commit: at-least-once)
        self._pending = [w for w in self._pending if w.block_number <= ancestor.number]
        if self.on_reorg is not None:
            await _maybe_await(self.on_reorg(self.chain_id, ancestor.number, removed))

        def roll_back(s: Session) -> None:
            s.execute(delete(ChainLog).where(ChainLog.chain_id == self.chain_id,
                                             ChainLog.block_number > ancestor.number))
            s.execute(delete(RecentBlock).where(RecentBlock.chain_id == self.chain_id,
                                                RecentBlock.number > ancestor.number))
            self._set_cursor(s, Cursor(ancestor.number, ancestor.hash))

        await self.db.run_write(roll_back)
        if self.on_rolled_back is not None:
            self.on_rolled_back(self.chain_id, ancestor.number)
        self._recent.rewind(ancestor.number)
        self._cursor = Cursor(ancestor.number, ancestor.hash)
        self.reorgs += 1

    # ------------------------------------------------------------------ delivery

    async def _deliver_pending(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending)
        if self.on_logs is not None:
            await _maybe_await(self.on_logs(self.chain_id, batch))
        del self._pending[: len(batch)]
        self.delivered += len(batch)

    async def redeliver_stored(self, from_block: int, to_block: int | None = None) -> int:
        """Recovery pass: decode the stored chain_log rows of [from_block, to_block] and pass them to
        on_logs again (e.g. after a crash between a commit and its callback). Undecodable rows are
        skipped (they were dead-lettered when stored). Returns how many logs were passed on."""
        async with self.db.read() as s:
            q = select(ChainLog).where(ChainLog.chain_id == self.chain_id, ChainLog.block_number >= from_block)
            if to_block is not None:
                q = q.where(ChainLog.block_number <= to_block)
            rows = (await s.execute(q.order_by(ChainLog.block_number, ChainLog.log_index))).scalars().all()
            numbers = sorted({r.block_number for r in rows})
            times = dict((await s.execute(
                select(RecentBlock.number, RecentBlock.timestamp).where(
                    RecentBlock.chain_id == self.chain_id, RecentBlock.number.in_(numbers))
            )).all()) if numbers else {}
        missing = [n for n in numbers if n not in times]
        if missing:
            times.update({n: h.timestamp for n, h in (await self._headers(missing)).items()})
        out: list[WatchedLog] = []
        for r in rows:
            raw = RawLog(r.block_number, bytes.fromhex(r.block_hash[2:]), bytes.fromhex(r.tx_hash[2:]), r.log_index,
                         r.address, tuple(bytes.fromhex(t[2:]) for t in r.topics), bytes(r.data), r.removed)
            try:
                out.append(_decode(self.chain_id, raw, times[r.block_number]))
            except (EventDecodeError, RequestDecodeError):
                continue
        if out and self.on_logs is not None:
            await _maybe_await(self.on_logs(self.chain_id, out))
        return len(out)

    # ------------------------------------------------------------------ loop

    async def run(self, stop_event: asyncio.Event) -> None:
        """Step until `stop_event` is set. Errors are logged, kept in `last_error`, retried with backoff."""
        while not stop_event.is_set():
            try:
                caught_up = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop never dies; the operator sees last_error
                self.consecutive_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(self.max_backoff, 0.5 * 2 ** min(self.consecutive_errors - 1, 10))
                level = logging.ERROR if isinstance(exc, ReorgTooDeep) else logging.WARNING
                log.log(level, "chain %s: watcher round failed (%d in a row), retrying in %.1fs: %s",
                        self.chain_id, self.consecutive_errors, delay, self.last_error)
                await self._sleep_or_stop(stop_event, delay)
                continue
            self.consecutive_errors = 0
            self.last_error = None
            if self.on_head is not None and self._head is not None:
                try:
                    await _maybe_await(self.on_head(self._head))
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a listener's failure must not stop the watcher
                    log.exception("chain %s: on_head listener failed", self.chain_id)
            if caught_up:
                await self._wait_head_or_stop(stop_event)

    @staticmethod
    async def _sleep_or_stop(stop_event: asyncio.Event, delay: float) -> None:
        try:
            await asyncio.wait_for(stop_event.wait(), delay)
        except TimeoutError:
            pass

    async def _wait_head_or_stop(self, stop_event: asyncio.Event) -> None:
        head_task = asyncio.ensure_future(self.rpc.wait_for_new_head(self.poll_interval))
        stop_task = asyncio.ensure_future(stop_event.wait())
        try:
            await asyncio.wait({head_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (head_task, stop_task):
                if not t.done():
                    t.cancel()
            await asyncio.gather(head_task, stop_task, return_exceptions=True)
