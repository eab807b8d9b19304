"""The engine: watchers, the relayer state machine and the submitters of every configured chain, wired
together, with the operator's door (`execute`), the view (`snapshot`, `changes`) and a clean stop.

Start-up order matters for safety: the schema is migrated, each chain's id is verified, each
submitter reconciles its stored transactions with the chain (re-broadcasting what was signed but
maybe never sent), bridge approvals are ensured, and only then are stored orders resumed and new
logs watched. The executor always starts DISARMED: orders are decided and "would relay" is recorded,
nothing is sent until the operator arms (or `--arm` did, journaled).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.api import (
    ApproveRebalance,
    Arm,
    ArmingCheck,
    CapitalStageView,
    ChainView,
    Command,
    CommandResult,
    Disarm,
    EngineSnapshot,
    EventView,
    Freeze,
    InventoryView,
    OrderDetail,
    OrderView,
    RejectRebalance,
    RelayOrder,
    ResetBreaker,
    TransactionView,
    TransitionView,
    Unfreeze,
    command_name,
)
from engine.chain.fees import FeeConfig, FeePolicy
from engine.chain.live import LiveChain
from engine.chain.rpc import BlockHeader, ChainRpc, RpcError
from engine.chain.submitter import TransactionSubmitter
from engine.chain.watcher import ChainWatcher, WatchedLog
from engine.config import MmtuiConfig
from engine.protocol.codec import NATIVE_TOKEN, checksum_address
from engine.inventory.cctp import AttestationSource
from engine.inventory.ledger import capital_in_flight
from engine.inventory.manager import CapitalDesk
from engine.inventory.quote_api import QuoteServer
from engine.relayer.machine import Relayer
from engine.alerts import Alert, AlertConfigError, AlertDispatcher, AlertStats
from engine.breakers.monitor import BreakerMonitor
from engine.relayer.orders import gate_from_json, load_history, store_requests
from engine.relayer.statuses import COMMITTED_STATUSES, PENDING_IN_STATUSES, OrderStatus
from engine.store import BridgeOrder, Database, DeadLetter, OperatorJournal
from engine.units import format_units

log = logging.getLogger(__name__)

RECENT_FINISHED_ORDERS = 500  # finished orders kept in the live view (the database has them all)
EVENT_LOG_SIZE = 500
GIL_SWITCH_INTERVAL_SECONDS = 0.0005  # see Engine._start
STOP_TIMEOUT_SECONDS = 15
ALERT_STOP_TIMEOUT_SECONDS = 5
APPROVAL_MINIMUM = 2**255  # re-approve once a max approval has been spent down this far
# Upkeep (tick, balances, fees) runs per head but at most this often: an automining devnet makes a
# block per transaction, and reading everything 60 times a second would starve the relays.
MIN_UPKEEP_INTERVAL_SECONDS = 0.2
# the status an order's own log of a mined transaction of this purpose has moved it to (at least)
_MINED_AND_LOGGED = {"relay": OrderStatus.RelayCompleted, "prove": OrderStatus.ProvePosted,
                     "claim": OrderStatus.ClaimCompleted}
# Every order not finished is woken this often whatever it waits for: the safety net under the
# targeted wake-ups (a tick that missed a drop, a receipt not served yet, a deadline passing).
SWEEP_INTERVAL_SECONDS = 10.0
# Orders still deciding (Seen, NotEnoughInventory) depend on prices, balances and chain time:
# they are re-evaluated on their chains' upkeep.
_DECIDING = frozenset({OrderStatus.Seen, OrderStatus.NotEnoughInventory})


class EngineError(RuntimeError):
    """A fatal start-up or runtime problem, worded for the operator."""


class _ChangeFeed:
    """A bounded change stream: each subscriber holds at most one pending wake-up (newest wins)."""

    def __init__(self) -> None:
        self.version = 0
        self._subscribers: set[asyncio.Queue[int]] = set()

    def bump(self) -> None:
        self.version += 1
        for q in self._subscribers:
            if q.full():
                q.get_nowait()
            q.put_nowait(self.version)

    async def subscribe(self) -> AsyncIterator[int]:
        q: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._subscribers.add(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.discard(q)


class Engine:
    def __init__(self, config: MmtuiConfig, account: LocalAccount, *, db: Database | None = None,
                 workers: int = 8, poll_interval: float = 1.0, bump_after_seconds: float = 30.0,
                 rpc_timeout: float = 10.0, attestations: AttestationSource | None = None) -> None:
        self.config = config
        self._account = account
        self.address = checksum_address(account.address)
        self.db = db or Database.from_settings(config.database.type, config.database.dsn,
                                               sqlite_synchronous=config.database.sqlite_synchronous)
        self._owns_db = db is None
        self.poll_interval = poll_interval
        self.bump_after_seconds = bump_after_seconds
        self.rpc_timeout = rpc_timeout
        self.chains: dict[int, LiveChain] = {}
        self.armed = False
        self.frozen = True  # withdrawals start FROZEN (runbook)
        self.relayer = Relayer(config, self.db, self.chains, self.address, is_armed=lambda: self.armed,
                               on_order=self._order_changed, on_event=self._event, workers=workers)
        self._orders: dict[str, OrderView] = {}
        self._finished: dict[str, None] = {}  # the finished orders in _orders, oldest first
        self._counts: Counter[OrderStatus] = Counter()
        self._events: deque[EventView] = deque(maxlen=EVENT_LOG_SIZE)
        self._feed = _ChangeFeed()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._head_events: dict[int, asyncio.Event] = {}
        self.started_at = datetime.now(UTC)
        self.heartbeat_at = self.started_at
        self.fatal_error: str | None = None
        self._started = False
        self._closed = False
        self._dead_letters: Counter[int] = Counter()
        self._overstays: set[tuple[str, int, str]] = set()  # capital stages already alerted as overstaying
        # circuit breakers and alerts (issue 6): the monitor holds the rules; the relayer asks it before committing
        try:
            self.alerts = AlertDispatcher(config.alerts, os.environ)
        except AlertConfigError as exc:  # names the target and the variable, never a value
            raise EngineError(str(exc)) from None
        self.breakers = BreakerMonitor(config, self.db, self.chains, self.address, dispatcher=self.alerts,
                                       on_event=self._event, on_change=lambda: self._feed.bump())
        self.relayer.is_halted = self.breakers.halted
        # quotes and rebalancing (issue 5)
        self.desk = CapitalDesk(config, self.db, self.chains, account, committed=self._committed_amounts,
                                attestations=attestations, on_event=self._event, environ=os.environ,
                                is_halted=self.breakers.halted)
        # the read-only quotes endpoint (config quote_api), served while the engine runs
        self.quote_api = (QuoteServer.from_config(config.quote_api, self.desk, on_event=self._event)
                          if config.quote_api is not None else None)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Everything before the loops run; raises EngineError with an operator sentence (and then
        has closed what it opened)."""
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        # Every database statement is a hop to a driver thread and back. With the default 5 ms switch
        # interval a busy event loop keeps the GIL that long before the thread's answer can land, so
        # each hop of a write transaction waits, and the single SQLite writer is held that much longer.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        try:
            await self.db.migrate()
        except Exception as exc:  # noqa: BLE001 - any storage failure is fatal at start, said plainly
            raise EngineError(f"database {self.db.describe()}: cannot open or migrate ({exc})") from None
        for chain_cfg in self.config.chains.values():
            self.chains[chain_cfg.chain_id] = self._build_chain(chain_cfg)
        for chain in self.chains.values():
            try:
                await chain.rpc.verify_chain_id()
            except RpcError as exc:  # its text names the chain
                raise EngineError(str(exc)) from None
        await self._count_orders()
        for chain in self.chains.values():
            report = await chain.submitter.reconcile()
            for filled in report.filled:
                self._event("warning", f"chain {chain.chain_id}: nonce gap {filled.nonce} filled by a self-transfer")
            await chain.refresh()
            head = await chain.rpc.get_block("latest")
            if head is not None:
                chain.on_head(head)
            await self._ensure_approvals(chain)
        await self.relayer.load_notional_window()
        await self.breakers.prepare()
        await self.desk.load()
        for txid in await self.relayer.active_ids():
            self.relayer.enqueue(txid)
        self._event("info", f"engine started: {len(self.chains)} chains, relayer {self.address}, DISARMED")
        self._started = True

    def _build_chain(self, cfg) -> LiveChain:
        rpc = ChainRpc(cfg.chain_id, cfg.rpc_url, ws_url=cfg.ws_url, timeout=self.rpc_timeout)
        fee_cfg = FeeConfig(
            max_fee_ceiling_gwei=cfg.max_gas_price_gwei if cfg.max_gas_price_gwei is not None else Decimal(500),
            max_fee_floor_gwei=cfg.min_gas_price_gwei if cfg.min_gas_price_gwei is not None else Decimal(0))
        policy = FeePolicy(rpc, fee_cfg)
        submitter = TransactionSubmitter(self.db, rpc, self._account, policy,
                                         bump_after_seconds=self.bump_after_seconds)
        chain_id = cfg.chain_id
        watcher = ChainWatcher(
            chain_id, rpc, self.db, cfg.rfq_address, start_block=cfg.start_block or 1,
            on_stored=self._on_stored, on_logs=self._on_logs,
            on_reorg=lambda cid, ancestor, removed: self.relayer.on_reorg(cid, ancestor),
            on_rolled_back=lambda cid, ancestor: self.relayer.forget_all(),
            on_decoded=lambda logs: self.relayer.on_decoded(logs),
            on_head=lambda header: self._on_head(chain_id, header), poll_interval=self.poll_interval)
        self._head_events[chain_id] = asyncio.Event()
        return LiveChain(cfg, rpc, watcher, submitter, policy)

    async def _ensure_approvals(self, chain: LiveChain) -> None:
        for token in chain.config.tokens.values():
            if token.address.lower() == NATIVE_TOKEN.lower():
                continue
            try:
                ref = await chain.submitter.ensure_approval(token.address, chain.bridge, APPROVAL_MINIMUM)
            except Exception as exc:  # noqa: BLE001 - reported; relays of this token will revert until fixed
                self._event("error", f"chain {chain.chain_id}: cannot approve the bridge for {token.symbol}: {exc}")
                continue
            if ref is not None:
                self._event("info", f"chain {chain.chain_id}: approving the bridge for {token.symbol} ({ref.tx_hash})")

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until `stop` is set (or `request_stop`). In-flight state is in the database at every step."""
        if not self._started:
            await self.start()
        outer = stop
        await self.alerts.start()
        loops = [
            *(asyncio.create_task(c.watcher.run(self._stop), name=f"watcher-{c.chain_id}") for c in self.chains.values()),
            *(asyncio.create_task(self._upkeep(c), name=f"upkeep-{c.chain_id}") for c in self.chains.values()),
            asyncio.create_task(self.relayer.run(self._stop), name="relayer"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self.breakers.run(self._stop), name="breakers"),
            asyncio.create_task(self.desk.run(self._stop), name="capital-desk"),
            *([asyncio.create_task(self.quote_api.run(self._stop), name="quote-api")]
              if self.quote_api is not None else []),
        ]
        self._tasks = loops
        waiter = asyncio.create_task(outer.wait()) if outer is not None else None
        stopper = asyncio.create_task(self._stop.wait())
        try:
            watched = {stopper, *loops} | ({waiter} if waiter else set())
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t in loops and t.exception() is not None:
                    exc = t.exception()
                    self.fatal_error = f"{t.get_name()}: {exc}"
                    log.error("engine loop %s failed", t.get_name(), exc_info=exc)
                    raise EngineError(f"engine loop {t.get_name()} failed: {exc}") from exc
        finally:
            self._stop.set()
            for t in (waiter, stopper):
                if t is not None:
                    t.cancel()
            for t in loops:
                t.cancel()
            _, stuck = await asyncio.wait(loops, timeout=STOP_TIMEOUT_SECONDS)
            if stuck:  # state is in the database at every step: a task that will not stop is abandoned
                log.error("engine tasks did not stop within %d s: %s", STOP_TIMEOUT_SECONDS,
                          ", ".join(sorted(t.get_name() for t in stuck)))
            await self.alerts.stop(ALERT_STOP_TIMEOUT_SECONDS)  # bounded: queued alerts get a last chance
            await self.close()

    def request_stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        for chain in self.chains.values():
            await chain.rpc.close()
        if self._owns_db and not self._closed:
            await self.db.close()
        self._closed = True

    # ------------------------------------------------------------------ chain events

    def _on_stored(self, session: Session, logs: list[WatchedLog]) -> None:
        self.relayer.seed(session, store_requests(session, logs))

    def _on_logs(self, chain_id: int, logs: list[WatchedLog]) -> None:
        self.relayer.logs_stored(logs)
        if any(w.request is not None for w in logs):
            self._feed.bump()

    def _on_head(self, chain_id: int, header: BlockHeader) -> None:
        chain = self.chains[chain_id]
        chain.on_head(header)
        self.relayer.on_head(chain_id, header.number, header.timestamp)
        self._dead_letters[chain_id] = chain.watcher.dead_letters
        self._head_events[chain_id].set()
        self.breakers.on_head(chain_id)

    async def _upkeep(self, chain: LiveChain) -> None:
        """Per new head: settle/bump our transactions, refresh balances and fees, wake the orders that
        wait on this chain."""
        event = self._head_events[chain.chain_id]
        last_sweep = time.monotonic()
        while not self._stop.is_set():
            try:
                async with asyncio.timeout(max(self.poll_interval * 5, 5.0)):
                    await event.wait()
            except TimeoutError:
                pass
            await asyncio.sleep(MIN_UPKEEP_INTERVAL_SECONDS)  # heads arriving meanwhile are one upkeep
            event.clear()
            try:
                report = await chain.submitter.tick()
                # a settled transaction wakes its order, unless the order finished already or, for a mined one,
                # its own log has moved it past what the transaction was for (a wake that would change nothing)
                for view, mined in (*((v, True) for v in report.mined), *((v, False) for v in report.reverted)):
                    for txid in view.orders:  # its own order, or a batch's members
                        order = self._orders.get(txid)
                        logged = mined and order is not None and view.purpose in _MINED_AND_LOGGED \
                            and order.status >= _MINED_AND_LOGGED[view.purpose]
                        if order is None or not (order.status.is_terminal or logged):
                            self.relayer.enqueue(txid)
                chain.pending_transactions = report.still_live  # no read of its own after every head
                await chain.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - shown to the operator, retried next head
                chain.last_refresh_error = f"{type(exc).__name__}: {exc}"
                log.warning("chain %s: upkeep failed: %s", chain.chain_id, chain.last_refresh_error)
            sweep = time.monotonic() - last_sweep >= SWEEP_INTERVAL_SECONDS
            if sweep:
                last_sweep = time.monotonic()
            for view in self._orders.values():
                if view.status.is_terminal or chain.chain_id not in (view.origin_chain_id, view.dest_chain_id):
                    continue
                # the sweep leaves out an order that a block or chain time will wake (a dispute period running)
                if view.status in _DECIDING or sweep and not self.relayer.has_wake_pending(view.transaction_id):
                    self.relayer.enqueue(view.transaction_id)
            self._feed.bump()

    async def _heartbeat(self) -> None:
        beats = 0
        while not self._stop.is_set():
            self.heartbeat_at = datetime.now(UTC)
            beats += 1
            if beats % 10 == 0:
                self._alert_overstays()
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ views

    async def _count_orders(self) -> None:
        async with self.db.read() as s:
            counts = (await s.execute(select(BridgeOrder.status, func.count()).group_by(BridgeOrder.status))).all()
            terminal = [int(x) for x in OrderStatus if x.is_terminal]
            active = (await s.scalars(select(BridgeOrder).where(BridgeOrder.status.not_in(terminal)))).all()
            recent = (await s.scalars(select(BridgeOrder).where(BridgeOrder.status.in_(terminal))
                                      .order_by(BridgeOrder.updated_at.desc()).limit(RECENT_FINISHED_ORDERS))).all()
            dead = (await s.execute(select(DeadLetter.chain_id, func.count()).where(DeadLetter.resolved_at.is_(None))
                                    .group_by(DeadLetter.chain_id))).all()
        self._counts = Counter({OrderStatus(status): n for status, n in counts})
        self._dead_letters = Counter({cid: n for cid, n in dead})
        for row in (*reversed(recent), *active):
            self._orders[row.transaction_id] = self._view(row)
        self._finished = dict.fromkeys(row.transaction_id for row in reversed(recent))

    def _token_meta(self, chain_id: int, token: str) -> tuple[str, int]:
        chain = self.config.chains.get(chain_id)
        t = chain.token_by_address(token) if chain else None
        if t is None:
            return f"{token[:6]}…{token[-4:]}", 0
        return t.symbol, t.decimals

    def _view(self, row: BridgeOrder) -> OrderView:
        origin_symbol, origin_decimals = self._token_meta(row.origin_chain_id, row.origin_token)
        dest_symbol, dest_decimals = self._token_meta(row.dest_chain_id, row.dest_token)
        return OrderView(
            transaction_id=row.transaction_id, origin_chain_id=row.origin_chain_id, dest_chain_id=row.dest_chain_id,
            origin_token=checksum_address(row.origin_token), dest_token=checksum_address(row.dest_token),
            origin_symbol=origin_symbol, dest_symbol=dest_symbol, origin_decimals=origin_decimals,
            dest_decimals=dest_decimals, origin_amount=row.origin_amount, dest_amount=row.dest_amount,
            deadline=row.deadline, status=OrderStatus(row.status), last_reason=row.last_reason,
            created_at=row.created_at, updated_at=row.updated_at,
            origin_sender=checksum_address(row.origin_sender), dest_recipient=checksum_address(row.dest_recipient),
            exclusivity_relayer=checksum_address(row.exclusivity_relayer) if row.exclusivity_relayer else None,
            exclusivity_end_time=row.exclusivity_end_time, relay_tx_hash=row.relay_tx_hash,
            prove_tx_hash=row.prove_tx_hash, claim_tx_hash=row.claim_tx_hash, failures=row.failures or 0)

    def _order_changed(self, row: BridgeOrder) -> None:
        view = self._view(row)
        old = self._orders.get(view.transaction_id)
        if old is None:
            self._counts[view.status] += 1
        elif old.status != view.status:
            self._counts[old.status] -= 1
            self._counts[view.status] += 1
        self._orders[view.transaction_id] = view
        if view.status.is_terminal and view.transaction_id not in self._finished:
            self._finished[view.transaction_id] = None
            self._trim_finished()
        self._feed.bump()

    def _trim_finished(self) -> None:
        """Keep the newest RECENT_FINISHED_ORDERS finished orders once twice as many are held (amortized O(1))."""
        if len(self._finished) > RECENT_FINISHED_ORDERS * 2:
            while len(self._finished) > RECENT_FINISHED_ORDERS:
                oldest = next(iter(self._finished))
                del self._finished[oldest]
                self._orders.pop(oldest, None)

    def _event(self, level: str, text: str) -> None:
        self._events.appendleft(EventView(datetime.now(UTC), level, text))
        log.log({"info": logging.INFO, "warning": logging.WARNING}.get(level, logging.ERROR), "%s", text)
        self._feed.bump()

    def snapshot(self) -> EngineSnapshot:
        """The current view. Call it on the engine's loop (a client on another thread goes through
        mmtui.client, which runs it there)."""
        orders = sorted(self._orders.values(), key=lambda v: v.created_at, reverse=True)
        chains = tuple(self._chain_view(c) for c in self.chains.values())
        return EngineSnapshot(
            version=self._feed.version, taken_at=datetime.now(UTC), config_name=self.config.name,
            relayer=self.address, database=self.db.describe(), armed=self.armed, frozen=self.frozen,
            started_at=self.started_at, heartbeat_at=self.heartbeat_at, chains=chains,
            inventory=self._inventory(), orders=tuple(orders),
            order_counts={k: v for k, v in self._counts.items() if v > 0}, events=tuple(self._events),
            breakers=self.breakers.views(), rebalances=self.desk.views(), quotes=self.desk.quote_views(),
            capital=self._capital(),
            fatal_error=self.fatal_error)

    def _chain_view(self, c: LiveChain) -> ChainView:
        error = c.watcher.last_error or c.last_refresh_error
        return ChainView(
            chain_id=c.chain_id, native_symbol=c.native_symbol, head_number=c.head.number if c.head else None,
            head_time=c.chain_time, head_seen_at=c.head_seen_at, cursor=c.watcher.cursor,
            lag_blocks=c.watcher.lag_blocks, rpc_ok=error is None and c.head is not None, last_error=error,
            gas_balance=c.gas_balance, min_gas_token=c.config.min_gas_token,
            base_fee_wei=c.fees.base_fee if c.fees else None,
            priority_fee_wei=c.fees.max_priority_fee_per_gas if c.fees else None,
            pending_transactions=c.pending_transactions, dead_letters=self._dead_letters.get(c.chain_id, 0),
            base_fee_history=tuple(c.base_fee_history))

    def _capital(self) -> tuple[CapitalStageView, ...]:
        def symbol(chain_id: int, token: str) -> tuple[str, int]:
            resolved = self.config.token_by_address(chain_id, token)
            return (resolved.symbol, resolved.decimals) if resolved else (token[:10], 0)

        def dispute(chain_id: int) -> int:
            chain = self.chains.get(chain_id)
            return chain.known_dispute_period or 0 if chain else 0

        return capital_in_flight(self._orders.values(), self.desk.views(), now=datetime.now(UTC),
                                 dispute_period=dispute, symbols=symbol)

    def _alert_overstays(self) -> None:
        """A stage of capital holding funds longer than expected: an engine event and an alert, once per
        stage, chain and token until it clears."""
        current = set()
        for row in self._capital():
            if not row.overstayed:
                continue
            key = (row.stage, row.chain_id, row.token)
            current.add(key)
            if key in self._overstays:
                continue
            shown = format_units(row.amount, row.decimals, row.symbol)
            text = (f"{shown} {row.stage} on chain {row.chain_id} for {row.oldest_age_seconds} s "
                    f"(expected under {row.expected_seconds} s, {row.entries} entries)")
            self._event("warning", f"capital overstaying: {text}")
            self.alerts.notify(Alert("capital_overstay", "warning", f"capital overstaying: {row.stage}", text,
                                     f"token {row.chain_id}:{row.symbol}",
                                     {"amount": row.amount, "entries": row.entries,
                                      "age_seconds": row.oldest_age_seconds}))
        self._overstays = current

    def _committed_amounts(self) -> Counter[tuple[int, str]]:
        """destAmount held by committed orders per (chain, lowercase token), with the relayer's
        commitments held in memory until their write."""
        committed: Counter[tuple[int, str]] = Counter(self.relayer.reserved_amounts())
        for v in self._orders.values():
            if v.status in COMMITTED_STATUSES:
                committed[(v.dest_chain_id, v.dest_token.lower())] += v.dest_amount
        return committed

    def _inventory(self) -> tuple[InventoryView, ...]:
        committed = self._committed_amounts()
        owed: Counter[tuple[int, str]] = Counter()
        for v in self._orders.values():
            if v.status in PENDING_IN_STATUSES:
                owed[(v.origin_chain_id, v.origin_token.lower())] += v.origin_amount
        out = []
        for c in self.chains.values():
            for t in c.config.tokens.values():
                key = (c.chain_id, t.address.lower())
                pending_in = owed[key] + self.desk.in_flight_to(c.chain_id, t.address)
                out.append(InventoryView(c.chain_id, t.address, t.symbol, t.decimals,
                                         c.token_balances.get(t.address.lower()), committed[key], pending_in))
        return tuple(out)

    def alert_stats(self) -> AlertStats:
        """Deliveries of the alert dispatcher (sent, failed, pending per target; no URLs or secrets)."""
        return self.alerts.stats()

    def changes(self) -> AsyncIterator[int]:
        return self._feed.subscribe()

    async def list_orders(self, *, statuses: tuple[OrderStatus, ...] = (), text: str = "", offset: int = 0,
                          limit: int = 200) -> tuple[OrderView, ...]:
        """Stored orders, newest first, beyond the live view: the UI pages through history with it.
        `text` matches the start of a transactionId, sender or recipient."""
        q = select(BridgeOrder).order_by(BridgeOrder.created_at.desc(), BridgeOrder.transaction_id)
        if statuses:
            q = q.where(BridgeOrder.status.in_([int(x) for x in statuses]))
        needle = text.strip().lower()
        if needle:
            q = q.where(BridgeOrder.transaction_id.startswith(needle) | BridgeOrder.origin_sender.startswith(needle)
                        | BridgeOrder.dest_recipient.startswith(needle))
        async with self.db.read() as s:
            rows = (await s.scalars(q.offset(max(0, offset)).limit(max(1, min(limit, 5000))))).all()
        return tuple(self._view(r) for r in rows)

    async def order_detail(self, transaction_id: str) -> OrderDetail | None:
        order, transitions, txs, batch_sizes = await load_history(self.db, transaction_id.lower())
        if order is None:
            return None
        return OrderDetail(
            order=self._view(order),
            transitions=tuple(TransitionView(
                OrderStatus(t.from_status) if t.from_status is not None else None, OrderStatus(t.to_status),
                t.chain_id, t.chain_time, t.wall_time, tuple(gate_from_json(g) for g in t.reasons or ()), t.tx_hash)
                for t in transitions),
            transactions=tuple(TransactionView(x.chain_id, x.nonce, x.attempt, x.purpose, x.tx_hash, x.state,
                                               x.block_number, x.error, x.created_at,
                                               batch_sizes.get((x.chain_id, x.signer, x.nonce), 1)) for x in txs))

    # ------------------------------------------------------------------ the operator's door

    async def arming_checks(self) -> tuple[ArmingCheck, ...]:
        """The runbook's safe arming sequence, as far as this engine knows it."""
        checks = []
        try:
            rtt = await self.db.ping()
            checks.append(ArmingCheck("database", True, f"{self.db.describe()} reachable ({rtt * 1000:.1f} ms)"))
        except Exception as exc:  # noqa: BLE001
            checks.append(ArmingCheck("database", False, f"{self.db.describe()} unreachable: {exc}"))
        for c in self.chains.values():
            age = c.head_age_seconds
            ok = c.head is not None and c.watcher.last_error is None and age is not None and age < 60
            detail = (f"head #{c.head.number}, seen {age:.0f} s ago" if c.head is not None and age is not None
                      else "no head yet")
            if c.watcher.last_error:
                detail += f"; {c.watcher.last_error}"
            checks.append(ArmingCheck(f"chain {c.chain_id} rpc", ok, detail))
            gas_ok = c.gas_balance is not None and c.gas_balance >= c.config.min_gas_token
            checks.append(ArmingCheck(f"chain {c.chain_id} gas", gas_ok,
                                      f"gas balance {c.gas_balance} wei vs min_gas_token {c.config.min_gas_token} wei"))
        return tuple(checks)

    async def execute(self, command: Command) -> CommandResult:
        """Validate and perform one operator command; every command, accepted or refused, is journaled."""
        try:
            ok, message = await self._perform(command)
        except Exception as exc:  # noqa: BLE001 - the operator sees the failure, the engine goes on
            log.exception("command %s failed", command_name(command))
            ok, message = False, f"{command_name(command)} failed: {type(exc).__name__}: {exc}"
        journal_id = await self._journal(command, ok, message)
        self._event("info" if ok else "warning", f"{command.actor}: {command_name(command)} -> {message}")
        return CommandResult(ok, message, journal_id)

    async def _perform(self, command: Command) -> tuple[bool, str]:
        if isinstance(command, Arm):
            if self.armed:
                return True, "already ARMED"
            failing = [c for c in await self.arming_checks() if not c.ok]
            if failing and not command.override:
                return False, "not armed: " + "; ".join(f"{c.name}: {c.detail}" for c in failing)
            self.armed = True
            for view in self._orders.values():
                if view.status == OrderStatus.CommittedConfirmed:
                    self.relayer.enqueue(view.transaction_id)
            suffix = f" (override of {len(failing)} failing checks)" if failing else ""
            return True, "ARMED" + suffix
        if isinstance(command, Disarm):
            self.armed = False
            return True, "DISARMED"
        if isinstance(command, Freeze):
            self.frozen = True
            return True, "withdrawals FROZEN"
        if isinstance(command, Unfreeze):
            self.frozen = False
            return True, "withdrawals UNFROZEN"
        if isinstance(command, RelayOrder):
            return await self._relay_one(command.transaction_id)
        if isinstance(command, ApproveRebalance):
            return await self.desk.approve(command.rebalance_id, actor=command.actor)
        if isinstance(command, RejectRebalance):
            return await self.desk.reject(command.rebalance_id, actor=command.actor)
        if isinstance(command, ResetBreaker):
            ok, message = await self.breakers.reset(command.name, command.actor)
            if ok:  # the orders its halt kept waiting decide again now
                for view in self._orders.values():
                    if view.status in _DECIDING:
                        self.relayer.enqueue(view.transaction_id)
            return ok, message
        return False, f"unknown command {command.name}"

    async def _relay_one(self, transaction_id: str) -> tuple[bool, str]:
        txid = transaction_id.strip().lower()
        if len(txid) != 66 or not txid.startswith("0x"):
            return False, f"not a transactionId: {transaction_id!r}"
        async with self.db.read() as s:
            order = await s.get(BridgeOrder, txid)
        if order is None:
            return False, f"no order {txid}"
        status = OrderStatus(order.status)
        if status not in (OrderStatus.Seen, OrderStatus.NotEnoughInventory, OrderStatus.CommittedPending,
                          OrderStatus.CommittedConfirmed):
            return False, f"order is {status.name}: nothing to relay"
        result = await self.relayer.advance(txid, manual_relay=True)
        if result.status >= OrderStatus.RelayStarted and not result.status.is_terminal:
            return True, f"relay sent: {result.status.name}"
        return False, f"not relayed: {result.status.name}: {result.text}"

    async def _journal(self, command: Command, ok: bool, message: str) -> int | None:
        try:
            async with self.db.write() as s:
                row = OperatorJournal(actor=command.actor[:128], command=command_name(command), args=command.args(), ok=ok,
                                      result=message[:2000])
                s.add(row)
                await s.flush()
                return row.id
        except Exception:  # noqa: BLE001 - the command happened; its journal line failing is reported
            log.exception("operator journal write failed for %s", command_name(command))
            self._event("error", f"journal write failed for {command_name(command)}")
            return None
