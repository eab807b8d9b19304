"""The breakers at work inside the engine: per-head readings of every chain (in parallel, off the
watchers' and the relayer's paths), liveness on a timer, failure rates from the database; trips
journaled with their evidence, announced and alerted; halts answered for the relayer; resets by a
person.

The engine owns one ``BreakerMonitor``: it calls ``prepare()`` at start (trips latched before a
restart are re-latched from the operator journal), ``on_head(chain_id)`` from its head callback (never
blocks: it only sets an event), runs ``run(stop)`` as its own task, asks ``halted(...)`` through the
relayer before each new commitment (and, with ``in_flight=True``, before each relay, prove and claim: a
rule with ``stop_in_flight`` holds those too), and routes the operator's ``ResetBreaker`` to ``reset(...)``.
Readings are kept in memory for the rules and written in one transaction about once a second.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select

from engine.alerts import AlertDispatcher, alert_for_reset, alert_for_trip
from engine.api import BreakerView
from engine.breakers.readings import (
    READING_WINDOW_BLOCKS,
    ChainWatch,
    PoolSpec,
    fetch_pool_events,
    load_pool_specs,
    read_chain,
    store_readings,
)
from engine.breakers.rules import BreakerBoard, BreakerState, ChainHealth, ChainReading, FailureTally
from engine.chain.rpc import BlockHeader, scrub
from engine.config import MmtuiConfig, Route
from engine.protocol.codec import checksum_address
from engine.store import BatchMember, BridgeOrder, Database, OperatorJournal, OutboundTx

log = logging.getLogger(__name__)

JOURNAL_ACTOR = "breaker"
TRIP_COMMAND = "breaker_trip"
RESET_COMMAND = "reset_breaker"  # the journal name of engine.api.ResetBreaker
HEALTH_INTERVAL_SECONDS = 0.5
FAILURE_TALLY_INTERVAL_SECONDS = 5.0
DEFAULT_FAILURE_WINDOW_SECONDS = 3600
IDLE_WAKE_SECONDS = 1.0  # a chain's reader looks at its head at least this often
#: readings are written in one transaction at most this often (and at stop); a crash loses at most this much
FLUSH_INTERVAL_SECONDS = 1.0
_FAILURE_STAGES = ("relay", "prove", "claim")


def _jsonable(value: Any) -> Any:
    """Evidence for the journal: exact ints, scrubbed text (an RPC error may quote a URL with a key)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, (Decimal, Fraction)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return scrub(str(value))


def _number(value: Fraction | None, places: int = 2) -> str:
    if value is None:
        return "-"
    scaled = round(value * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


_UNITS = {"supply_jump": "%", "price_drop": "%", "price_deviation": "%", "gas_price_cap": "gwei",
          "gas_balance_low": "", "head_stale": "s", "rpc_failing": "s", "inventory_drain": "%",
          "failure_rate": ""}


class BreakerMonitor:
    def __init__(self, config: MmtuiConfig, db: Database, chains: Mapping[int, Any], relayer_address: str, *,
                 dispatcher: AlertDispatcher, on_event: Callable[[str, str], None],
                 on_change: Callable[[], None] = lambda: None, health_interval: float = HEALTH_INTERVAL_SECONDS,
                 window_blocks: int = READING_WINDOW_BLOCKS, clock: Callable[[], float] = time.time,
                 flush_interval: float = FLUSH_INTERVAL_SECONDS) -> None:
        self.config = config
        self.db = db
        self.chains = chains  # chain id -> engine.chain.live.LiveChain (filled by the engine at start)
        self.relayer_address = checksum_address(relayer_address)
        self.dispatcher = dispatcher
        self.on_event = on_event
        self.on_change = on_change
        self.health_interval = health_interval
        self.window_blocks = window_blocks
        self.clock = clock
        self.board = BreakerBoard.from_config(config)
        self._rules = {rule.name: rule for rule in config.breakers}
        # readings are compared with the one window_blocks earlier: a gap is read back this far
        self._depth = max([rule.window_blocks or 1 for rule in config.breakers], default=1)
        self._wake: dict[int, asyncio.Event] = {}
        self._specs: dict[int, tuple[PoolSpec, ...] | None] = {}
        self._last_read: dict[int, BlockHeader] = {}
        self._read_error: dict[int, str] = {}
        self._failing_since: dict[int, float] = {}
        self.readings_stored: Counter[int] = Counter()
        self.flush_interval = flush_interval
        self.flushes = 0  # write transactions of readings
        self.pool_log_queries: Counter[int] = Counter()  # eth_getLogs of the swap-event watcher, per chain
        self.pool_log_skips: Counter[int] = Counter()  # ...and those its blocks' logsBloom made needless
        self._unsaved: list[ChainReading] = []  # read and observed, not yet written (flushed by _flush_loop)
        self._flush_lock = asyncio.Lock()
        self._needs_readings = any(rule.kind in ("supply_jump", "price_drop", "price_deviation", "gas_price_cap",
                                                 "gas_balance_low", "inventory_drain") for rule in config.breakers)

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> None:
        """Re-latch the trips the journal says are still tripped (a restart must not resume a halted scope)."""
        async with self.db.read() as s:
            rows = (await s.scalars(select(OperatorJournal)
                                    .where(OperatorJournal.command.in_((TRIP_COMMAND, RESET_COMMAND)))
                                    .order_by(OperatorJournal.id))).all()
        latched: dict[str, OperatorJournal] = {}
        for row in rows:
            name = (row.args or {}).get("name")
            if row.command == TRIP_COMMAND:
                latched[name] = row
            elif row.ok:
                latched.pop(name, None)
        for name, row in latched.items():
            if name not in self._rules:
                self.on_event("warning", f"journal: breaker {name} was tripped but is no longer configured")
                continue
            args = row.args
            state = replace(self.board.state(name), tripped=True,
                            value=Fraction(args["value"]) if args.get("value") else None,
                            since=args.get("since"), evidence=args.get("evidence") or {},
                            text=args.get("text", ""))
            self.board.restore(state)
            self.on_event("error", f"breaker {name} still TRIPPED ({state.scope} halted) since the last run: "
                                   f"{state.text}")

    def last_read_block(self, chain_id: int) -> int | None:
        """The number of the newest block of ``chain_id`` the per-head readings have judged (None before the first)."""
        header = self._last_read.get(chain_id)
        return header.number if header is not None else None

    def on_head(self, chain_id: int) -> None:
        """A new head on ``chain_id`` (called from the engine's head callback: must not block)."""
        event = self._wake.get(chain_id)
        if event is not None:
            event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: one reader per chain and the health/failure timer. Never raises: a failing
        read is kept as the chain's RPC error (the rpc_failing rule sees it) and retried."""
        for chain_id in self.chains:
            self._wake.setdefault(chain_id, asyncio.Event()).set()
        tasks = [asyncio.create_task(self._health(stop), name="breakers-health")]
        if self._needs_readings:
            tasks += [asyncio.create_task(self._read_chain_loop(chain, stop), name=f"breakers-{chain.chain_id}")
                      for chain in self.chains.values()]
            tasks.append(asyncio.create_task(self._flush_loop(stop), name="breakers-flush"))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.flush()  # what was read since the last flush

    async def flush(self) -> int:
        """Write the readings not yet stored, with the window's pruning, in ONE transaction. Returns how
        many were written. The rules never wait for this: they work on the in-memory readings."""
        async with self._flush_lock:
            batch, self._unsaved = self._unsaved, []
            if not batch:
                return 0
            try:
                await store_readings(self.db, batch, window_blocks=self.window_blocks)
            except asyncio.CancelledError:
                self._unsaved[:0] = batch
                raise
            except Exception:  # noqa: BLE001 - monitoring data: kept for the next flush, bounded by the window
                self._unsaved[:0] = batch
                per_chain = self.window_blocks * max(1, len(self.chains))
                del self._unsaved[:-per_chain]
                log.exception("breaker readings: write failed, retried at the next flush")
                return 0
            self.flushes += 1
            for reading in batch:
                self.readings_stored[reading.chain_id] += 1
            return len(batch)

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    # ------------------------------------------------------------------ the relayer's question

    def halted(self, chain_id: int, token: str, route: Route | None = None, *, in_flight: bool = False) -> str | None:
        """Why a new commitment on ``chain_id``/``token`` (and ``route``, both ends) must not be made; None: go.
        With ``in_flight``: why work already in flight there (a committed order's relay, a prove, a claim)
        must be held, which only a tripped rule with ``stop_in_flight`` does."""
        if in_flight:
            state = self.stops_in_flight(chain_id, token, route)
            return None if state is None else f"stopped by breaker {state.name} (stop_in_flight): {state.text}"
        halting = self.board.halts(chain_id, token, route)
        if not halting:
            return None
        state = halting[0]
        return f"halted by breaker {state.name}: {state.text}"

    def stops_in_flight(self, chain_id: int, token: str, route: Route | None = None) -> BreakerState | None:
        """The tripped rule (``stop_in_flight: true``) that holds in-flight work on ``chain_id``/``token``
        or ``route`` (both ends), or None: in-flight work goes on. Held work resumes after a reset."""
        stopping = self.board.stops(chain_id, token, route)
        return stopping[0] if stopping else None

    # ------------------------------------------------------------------ the operator

    async def reset(self, name: str, actor: str) -> tuple[bool, str]:
        if name not in self._rules:
            known = ", ".join(sorted(self._rules)) or "none configured"
            return False, f"no breaker named {name!r} (breakers: {known})"
        state = self.board.state(name)
        if not state.tripped:
            return False, f"breaker {name} is not tripped: nothing to reset"
        self.board.reset(name)
        self.dispatcher.notify(alert_for_reset(state, actor, datetime.now(UTC)))
        self.on_change()
        return True, f"breaker {name} reset: {state.scope} resumes (was: {state.text})"

    def views(self) -> tuple[BreakerView, ...]:
        out = []
        for state in self.board.states():
            unit = _UNITS.get(state.kind, "")
            places = 3 if state.kind in ("gas_balance_low", "failure_rate") else 2
            value = _number(state.value, places)
            out.append(BreakerView(
                name=state.name, kind=state.kind, scope=state.scope, state="tripped" if state.tripped else "ok",
                value=f"{value} {unit}".strip() if state.value is not None else "-",
                threshold=("min_gas_token" if state.kind == "gas_balance_low" and not state.threshold  # its fallback
                           else f"{format(state.threshold.normalize(), 'f')} {unit}".strip()),
                since=datetime.fromtimestamp(state.since, UTC) if state.since is not None else None))
        return tuple(out)

    # ------------------------------------------------------------------ readings, per chain

    def _watch(self, chain, specs: tuple[PoolSpec, ...]) -> ChainWatch:
        tokens = tuple(t.address for t in chain.config.tokens.values())
        return ChainWatch(chain.chain_id, chain.config.multicall_address, self.relayer_address, tokens, specs)

    async def _pool_specs(self, chain) -> tuple[PoolSpec, ...]:
        specs = self._specs.get(chain.chain_id)
        if specs is not None:
            return specs
        wanted = {t.reference_pool: t for t in chain.config.tokens.values() if t.reference_pool}
        loaded = await load_pool_specs(chain.rpc, chain.config.multicall_address, list(wanted))
        specs = []
        for spec in loaded:
            token = wanted[spec.pool]
            if spec.token.lower() != token.address.lower():
                self.on_event("error", f"chain {chain.chain_id}: reference pool {spec.pool} of {token.symbol} does "
                                       f"not price it (its token0 is {spec.token}); its price is not watched")
                continue
            specs.append(spec)
        self._specs[chain.chain_id] = tuple(specs)
        return self._specs[chain.chain_id]

    async def _read_chain_loop(self, chain, stop: asyncio.Event) -> None:
        cid = chain.chain_id
        wake = self._wake[cid]
        if not chain.config.multicall_address:
            self.on_event("warning", f"chain {cid}: no multicall_address configured: its per-block breakers "
                                     "(supply, price, gas, inventory) cannot read it")
            return
        while not stop.is_set():
            try:
                async with asyncio.timeout(IDLE_WAKE_SECONDS):
                    await wake.wait()
            except TimeoutError:
                pass
            wake.clear()
            head = chain.head
            last = self._last_read.get(cid)
            if head is None or (last is not None and last.hash == head.hash):
                continue
            try:
                watch = self._watch(chain, await self._pool_specs(chain))
                headers = await self._headers_to_read(chain, head, last)
                swaps = await self._pool_events(chain, watch, headers)
                for header in headers:
                    reading = await read_chain(chain.rpc, watch, header)
                    now = self.clock()
                    tripped = self.board.observe_reading(reading, now=now)
                    if swaps.get(header.number):
                        tripped += self.board.observe_pool_events(cid, header.number, "0x" + header.hash.hex(),
                                                                  "0x" + header.parent_hash.hex(),
                                                                  swaps[header.number], now=now)
                    self._unsaved.append(reading)
                    self._last_read[cid] = header
                    await self._announce(tripped)
                self._read_error.pop(cid, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - kept as the chain's RPC error, retried next head
                self._read_error[cid] = scrub(f"breaker reading failed: {type(exc).__name__}: {exc}")
                log.warning("chain %s: %s", cid, self._read_error[cid])
                await asyncio.sleep(min(IDLE_WAKE_SECONDS, 0.5))

    def _watches_swaps(self, chain_id: int) -> bool:
        return any(rule.kind == "price_drop" and (rule.level == "global" or rule.chain_id == chain_id)
                   for rule in self._rules.values())

    async def _pool_events(self, chain, watch: ChainWatch, headers: list[BlockHeader]) -> dict[int, list]:
        """The swap-event watcher: the reference pools' Swap/Sync logs of ``headers`` (consecutive blocks
        chaining to the head), by block number, in ONE eth_getLogs; none when the chain has no reference
        pool or no price_drop rule covers it. Logs of blocks not among ``headers``' hashes (reorged away
        since) are dropped here, and again by the board, which only takes a block's own hash."""
        if not watch.pools or not headers or not self._watches_swaps(chain.chain_id):
            return {}
        pools = [p.pool for p in watch.pools]
        if not any(h.may_have_logs_of(pools) for h in headers):
            self.pool_log_skips[chain.chain_id] += 1  # the blocks' logsBloom: no log of a pool is in them
            return {}
        self.pool_log_queries[chain.chain_id] += 1
        events = await fetch_pool_events(chain.rpc, pools, headers[0].number,
                                         headers[-1].number, {h.hash for h in headers})
        by_block: dict[int, list] = {}
        for event in events:
            by_block.setdefault(event.block_number, []).append(event)
        return by_block

    async def _headers_to_read(self, chain, head: BlockHeader, last: BlockHeader | None) -> list[BlockHeader]:
        """The new head, preceded by the blocks skipped since the last reading (heads arriving faster
        than a read) as far back as a rule compares; a gap that does not chain to the head (a reorg
        meanwhile) is not read."""
        if last is None or head.number - last.number <= 1:
            return [head]
        first = max(last.number + 1, head.number - self._depth)
        gap = await asyncio.gather(*(chain.rpc.get_block(n) for n in range(first, head.number)))
        headers = [h for h in gap if h is not None] + [head]
        for earlier, later in zip(headers, headers[1:]):
            if earlier.hash != later.parent_hash:
                return [head]
        return headers

    # ------------------------------------------------------------------ health and failures

    async def _health(self, stop: asyncio.Event) -> None:
        next_tally = 0.0
        while not stop.is_set():
            try:
                now = self.clock()
                tripped = []
                for chain in self.chains.values():
                    tripped += self.board.observe_health(self._chain_health(chain, now), now=now)
                if now >= next_tally and any(r.kind == "failure_rate" for r in self._rules.values()):
                    next_tally = now + FAILURE_TALLY_INTERVAL_SECONDS
                    tripped += await self._observe_failures(now)
                await self._announce(tripped)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the timer must go on; the error is logged
                log.exception("breaker health check failed")
            await asyncio.sleep(self.health_interval)

    def _chain_health(self, chain, now: float) -> ChainHealth:
        cid = chain.chain_id
        error = chain.watcher.last_error or chain.last_refresh_error or self._read_error.get(cid)
        if error:
            self._failing_since.setdefault(cid, now)
        else:
            self._failing_since.pop(cid, None)
        seen = chain.head_seen_at.timestamp() if chain.head_seen_at is not None else None
        return ChainHealth(cid, seen, self._failing_since.get(cid), scrub(error) if error else None)

    async def _observe_failures(self, now: float) -> list[BreakerState]:
        windows: dict[int, list[str]] = {}
        for rule in self._rules.values():
            if rule.kind == "failure_rate":
                windows.setdefault(rule.window_seconds or DEFAULT_FAILURE_WINDOW_SECONDS, []).append(rule.name)
        tripped = []
        for seconds, names in windows.items():
            tallies = await self._tallies(datetime.fromtimestamp(now, UTC) - timedelta(seconds=seconds))
            tripped += self.board.observe_failures(tallies, now=now, rules=names)
        return tripped

    async def _tallies(self, since: datetime) -> list[FailureTally]:
        """Our relay/prove/claim transactions settled since ``since``, per route and stage: a reverted
        or failed one is a failure."""
        columns = (BridgeOrder.origin_chain_id, BridgeOrder.origin_token, BridgeOrder.dest_chain_id,
                   BridgeOrder.dest_token, OutboundTx.purpose, OutboundTx.state, OutboundTx.receipt_status)
        settled = (OutboundTx.purpose.in_(_FAILURE_STAGES), OutboundTx.state.in_(("mined", "failed")),
                   OutboundTx.created_at >= since)
        own = select(*columns).join(BridgeOrder, BridgeOrder.transaction_id == OutboundTx.transaction_id)
        # a batched prove or claim counts once for each order it served
        batched = (select(*columns)
                   .join(BatchMember, (BatchMember.chain_id == OutboundTx.chain_id)
                         & (BatchMember.signer == OutboundTx.signer) & (BatchMember.nonce == OutboundTx.nonce))
                   .join(BridgeOrder, BridgeOrder.transaction_id == BatchMember.transaction_id)
                   .where(OutboundTx.transaction_id.is_(None)))
        async with self.db.read() as s:
            rows = [*(await s.execute(own.where(*settled))).all(), *(await s.execute(batched.where(*settled))).all()]
        counts: dict[tuple[Route, str], list[int]] = {}
        for origin_chain, origin_token, dest_chain, dest_token, purpose, state, receipt_status in rows:
            route = Route(origin_chain, checksum_address(origin_token), dest_chain, checksum_address(dest_token))
            entry = counts.setdefault((route, purpose), [0, 0])
            entry[0] += 1
            entry[1] += state == "failed" or receipt_status == 0
        return [FailureTally(route, stage, attempts, failures) for (route, stage), (attempts, failures) in counts.items()]

    # ------------------------------------------------------------------ a trip

    async def _announce(self, tripped: list[BreakerState]) -> None:
        for state in tripped:
            self.on_event("error", f"breaker {state.name} TRIPPED: {state.scope} halted: {state.text}")
            await self._journal_trip(state)
            self.dispatcher.notify(alert_for_trip(state))
        if tripped:
            self.on_change()

    async def _journal_trip(self, state: BreakerState) -> None:
        args = {"name": state.name, "kind": state.kind, "scope": state.scope, "text": state.text,
                "since": state.since, "value": str(state.value) if state.value is not None else None,
                "threshold": str(state.threshold), "evidence": _jsonable(dict(state.evidence))}
        try:
            async with self.db.write() as s:
                s.add(OperatorJournal(actor=JOURNAL_ACTOR, command=TRIP_COMMAND, args=args, ok=True,
                                      result=state.text[:2000]))
        except Exception:  # noqa: BLE001 - the halt stands; the operator is told the journal missed it
            log.exception("journal write failed for the trip of breaker %s", state.name)
            self.on_event("error", f"journal write failed for the trip of breaker {state.name}")


__all__ = ["BreakerMonitor", "JOURNAL_ACTOR", "TRIP_COMMAND"]
