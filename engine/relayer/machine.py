"""The relayer's state machine, driven: each step reads stored facts and the chains, takes one
decision (decisions.py), persists it with its trace (orders.py), and performs at most one side effect.

Safety rules, and where they live:
* An order is handled by one task at a time (per-order lock); the queue dedupes wake-ups.
* Commitments: deciding CommittedPending, and moving an order out of the committed statuses because
  its relay was mined (its funds left), both happen under the dest chain+token lock, and the balance
  is read inside that lock. So the committable amount is never computed from a balance that still
  holds funds an order has already spent, and two orders never commit the same funds.
* relay/prove/claim: the move to RelayStarted/ProvePosting/ClaimPending is written in the SAME
  database transaction that stores the signed transaction (submitter `on_persist`). A crash leaves
  either both or neither, so a relay is never sent for an order that does not say so, and an order
  that says RelayStarted always has its signed transaction to follow (re-broadcast by the submitter).
  When the relay may be sent at once, the moves that lead to it share that write: Seen -> CommittedPending
  -> CommittedConfirmed -> RelayStarted when the origin log already has its confirmations
  (`_commit_and_relay`), CommittedPending -> CommittedConfirmed -> RelayStarted when they arrive
  (`_confirm`); anything unexpected falls back to one step per write. Armed, a new request is decided as
  soon as the watcher has decoded it (`on_decoded`, `_intake_one`): the order is created at RelayStarted in
  the write of its signed relay, which is broadcast before the watcher's own write stores the request.
* A failed relay is retried at most MAX_RELAY_FAILURES times, then refused; proves and claims are
  retried with backoff for as long as it takes (our funds are out).
* Chain time decides deadlines, exclusivity and the dispute period; wall time only paces retries.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from fractions import Fraction

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.chain.live import LiveChain
from engine.chain.rpc import ExecutionReverted, RpcError
from engine.chain.ahead import ReadsAhead
from engine.chain.submitter import SubmitError, TxOutcome, TxStatus
from engine.chain.watcher import WatchedLog
from engine.config import MmtuiConfig, ResolvedToken, Route
from engine.protocol import calls
from engine.protocol.codec import BridgeRequest, checksum_address, decode_request
from engine.protocol.events import (
    BRIDGE_DEPOSIT_CLAIMED,
    BRIDGE_DEPOSIT_REFUNDED,
    BRIDGE_PROOF_DISPUTED,
    BRIDGE_PROOF_PROVIDED,
    BRIDGE_RELAYED,
    BRIDGE_REQUESTED,
)
from engine.relayer.decisions import (
    Gate,
    GateName,
    OrderFacts,
    confirmations,
    confirmations_gate,
    evaluate_committed_confirmed,
    evaluate_committed_pending,
    evaluate_seen,
    short_address,
)
from engine.inventory.limits import (
    NotionalWindow,
    max_balance_gate,
    order_notional_gate,
    order_notional_usd,
    route_enabled_gate,
)
from engine.relayer.fees import FeeBreakdown, fee_breakdown
from engine.relayer.orders import (
    OrderEvent,
    Step,
    create_order,
    events_of_orders,
    move_order,
    new_order_row,
    order_events,
    order_status,
    plain_order,
    read_order,
    summary,
)
from engine.relayer.statuses import COMMITTED_STATUSES, PENDING_IN_STATUSES, OrderStatus, OriginBridgeStatus
from engine.store import BridgeOrder, ChainLog, Database, OrderTransition, OutboundTx
from engine.store.prepared import Prepared
from engine.units import format_units

log = logging.getLogger(__name__)

MAX_RELAY_FAILURES = 3
MAX_STEPS_PER_WAKE = 12  # one wake-up walks an order through every step that is ready
KNOWN_ORDERS_MAX = 2048  # orders kept in memory between wakes: ~7 KB each (measured with tracemalloc), ~14 MB in all
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0
# new orders of one fetched block decided and relayed before the watcher stores them (the rest go step by step),
# and how long the watcher's write waits for their reads
INTAKE_MAX_ORDERS = 16
INTAKE_WAIT_SECONDS = 1.0
_REQUESTED_TOPIC0 = "0x" + BRIDGE_REQUESTED.topic0.hex()
# built once: asked inside every write that stores a relay
_REQUEST_STORED = Prepared(select(ChainLog.id).where(
    ChainLog.transaction_id == bindparam("txid"), ChainLog.chain_id == bindparam("on_chain"),
    ChainLog.topic0 == _REQUESTED_TOPIC0).limit(1))


class _Conflict(Exception):
    """The order moved while a transaction for it was being prepared: nothing was stored."""

    def __init__(self, text: str, transaction_id: str | None = None) -> None:
        super().__init__(text)
        self.transaction_id = transaction_id


@dataclass(frozen=True, slots=True)
class _BatchEntry:
    """An order's prove or claim, decided and waiting to go out with others in one transaction."""

    order: BridgeOrder
    call: bytes
    expect: OrderStatus
    to_status: OrderStatus
    reasons: list[Gate]
    tx_field: str


class _Detour(Exception):
    """The commit-and-relay fast path met something the step-by-step path must decide."""


@dataclass(frozen=True, slots=True)
class StepResult:
    status: OrderStatus
    changed: bool
    text: str
    order: BridgeOrder | None = None  # the stored row after a change (saves a reload for the next step)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """A decision not yet written: where to (None: stay without a write, `text` says why), its gates, the
    chain whose clock it is recorded with; `fast`: CommittedPending with the relay sent at once."""

    to_status: OrderStatus | None
    reasons: list[Gate]
    clock_chain: int
    text: str = ""
    fast: bool = False


@dataclass(frozen=True, slots=True)
class _SeenInputs:
    """What a Seen decision needs that takes no lock to know (`_seen_inputs`)."""

    origin: LiveChain
    dest: LiveChain
    origin_token: ResolvedToken
    dest_token: ResolvedToken
    route: Route
    quotable: bool
    fee: FeeBreakdown


OrderListener = Callable[[BridgeOrder], None]
EventListener = Callable[[str, str], None]  # (level, text)
HaltCheck = Callable[[int, str, Route], "str | None"]  # (dest chain, dest token, route) -> halt reason


# Statuses entered by sending a transaction: what moves the order on (its log, the settled receipt)
# cannot be known in the same wake, and either one wakes the order again.
_SENT = frozenset({OrderStatus.RelayStarted, OrderStatus.ProvePosting, OrderStatus.ClaimPending})


def _gate(name: str, passed: bool, value: str, threshold: str, text: str) -> Gate:
    return Gate(name, passed, value, threshold, text)


def _relay_value(request: BridgeRequest) -> int:
    """The native value a relay sends along: the amount itself to a native destination, else the zap."""
    return request.dest_amount if request.is_native_dest else (request.zap_native or 0)


def _short(txid: str) -> str:
    return txid[:10]



class Relayer:
    def __init__(
        self,
        config: MmtuiConfig,
        db: Database,
        chains: Mapping[int, LiveChain],
        relayer_address: str,
        *,
        is_armed: Callable[[], bool],
        on_order: OrderListener | None = None,
        on_event: EventListener | None = None,
        workers: int = 8,
        is_halted: HaltCheck | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.chains = chains
        self.relayer = checksum_address(relayer_address)
        self.is_armed = is_armed
        self.on_order = on_order or (lambda order: None)
        self.on_event = on_event or (lambda level, text: None)
        self.workers = workers
        # (dest chain, dest token, route) -> why new commitments there are halted (a tripped breaker), or None
        self.is_halted: HaltCheck = is_halted or (lambda chain_id, token, route, **_: None)
        # (priority, sequence, txid): new orders first, so a backlog of proves and claims never delays a relay;
        # a follow-up also waits for a new order being relayed at intake to be done (`intake_done`)
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._queued: dict[str, int] = {}  # txid -> the best priority it is queued with
        self._sequence = itertools.count()
        # what a waiting order waits for: (chain, block number) and (chain, chain time), as min-heaps
        self._block_wakes: dict[int, list[tuple[int, str]]] = {}
        self._time_wakes: dict[int, list[tuple[int, str]]] = {}
        self._wakes_pending: dict[str, int] = {}  # per order: its entries in the two heaps above
        self._order_locks: dict[str, asyncio.Lock] = {}
        self._commit_locks: dict[tuple[int, str], asyncio.Lock] = {}
        # commitments decided but not yet written (the fast path writes them with the relay): counted as
        # committed by _committed_dest until their write has committed
        self._reservations: dict[tuple[int, str], dict[str, int]] = {}
        # destAmount of every committed order (COMMITTED_STATUSES) per (dest chain, lowercase token) and txid,
        # kept from the rows this relayer's own writes return (they are the only writers of an order's status);
        # None: not known, read from the database at the next decision (at start, after a reorg or a failure)
        self._committed: dict[tuple[int, str], dict[str, int]] | None = None
        self._orders_written = 0  # counts _note_written: a read of the committed orders that overlapped one is stale
        self._retry_at: dict[str, float] = {}
        self._stay_keys: dict[str, tuple[str, ...]] = {}  # the blockers last recorded for a waiting order
        # Between wakes an order is served from memory: the row its last write returned and the events read
        # at the wake before. Stored logs change only in the watcher's commits, after which `logs_stored` (a
        # roll-back: `forget_all`) runs; a wake during which that happened does not keep what it read.
        self._known: dict[str, tuple[BridgeOrder, list[OrderEvent]]] = {}
        self._wake_stale: dict[str, bool] = {}
        # new orders as the watcher's storing transaction wrote them (`seed`), remembered at its delivery
        self._seeds: dict[str, tuple[BridgeOrder, list[OrderEvent]]] = {}
        self._relayed_at_intake: set[str] = set()  # relayed before the watcher stored their request (`on_decoded`)
        # txid -> the origin status read begun when the watcher decoded the request (`prefetch`)
        self._origin_reads: ReadsAhead[str, asyncio.Future] = ReadsAhead()
        # (chain, purpose) -> the proves or claims waiting for their batch's transaction, by txid
        self._batches: dict[tuple[int, str], dict[str, _BatchEntry]] = {}
        self._batch_tasks: dict[tuple[int, str], asyncio.Task] = {}
        # set while no new order is being relayed at intake: follow-up work waits for it before it starts
        self._no_intake = asyncio.Event()
        self._no_intake.set()
        self._intakes_running = 0
        self.processed = 0
        self.step_errors = 0
        self.notional_window = NotionalWindow(config.limits.window_seconds)

    # ------------------------------------------------------------------ scheduling
    #
    # An order is woken by what it waits for, never by every head: a new log of its own (the watcher),
    # our transaction settling (the submitter's tick), the block that gives it its confirmations or the
    # chain time that ends its dispute period (on_head), the end of a retry back-off (a timer), and the
    # engine's periodic sweep as the safety net.

    URGENT, NORMAL = 0, 1

    def enqueue(self, transaction_id: str, *, urgent: bool = False) -> None:
        priority = self.URGENT if urgent else self.NORMAL
        if self._queued.get(transaction_id, priority + 1) <= priority:
            return
        self._queued[transaction_id] = priority
        self._queue.put_nowait((priority, next(self._sequence), transaction_id))

    def reserved_amounts(self) -> dict[tuple[int, str], int]:
        """destAmount of commitments decided but not yet written, per (chain, lowercase token): every
        other reader of "committed" (quotes, rebalance approval, the inventory view) counts them too."""
        return {key: sum(held.values()) for key, held in self._reservations.items()}

    @property
    def queue_length(self) -> int:
        return len(self._queued)

    def wake_at_block(self, chain_id: int, number: int, transaction_id: str) -> None:
        heapq.heappush(self._block_wakes.setdefault(chain_id, []), (number, transaction_id))
        self._wakes_pending[transaction_id] = self._wakes_pending.get(transaction_id, 0) + 1

    def wake_at_time(self, chain_id: int, chain_time: int, transaction_id: str) -> None:
        heapq.heappush(self._time_wakes.setdefault(chain_id, []), (chain_time, transaction_id))
        self._wakes_pending[transaction_id] = self._wakes_pending.get(transaction_id, 0) + 1

    def has_wake_pending(self, transaction_id: str) -> bool:
        """Whether a block or chain time this order waits for will wake it (`wake_at_block`, `wake_at_time`), or
        its batch's transaction will move it."""
        return transaction_id in self._wakes_pending or self.in_batch(transaction_id)

    async def intake_done(self) -> None:
        """Returns once no new order is being relayed at intake (at once when none is): work that can wait a few
        milliseconds (an order's follow-up, a reading) waits for it, so a new order's relay has the loop first."""
        if not self._no_intake.is_set():
            await self._no_intake.wait()

    def in_batch(self, transaction_id: str) -> bool:
        """Whether the order's prove or claim waits for its batch's transaction (`_submit_or_batch`)."""
        return any(transaction_id in batch for batch in self._batches.values())

    def on_head(self, chain_id: int, number: int, chain_time: int) -> None:
        """Wake the orders whose block or chain time has come on this chain."""
        for heap, now in ((self._block_wakes.get(chain_id), number), (self._time_wakes.get(chain_id), chain_time)):
            while heap and heap[0][0] <= now:
                txid = heapq.heappop(heap)[1]
                left = self._wakes_pending.pop(txid, 1) - 1
                if left > 0:
                    self._wakes_pending[txid] = left
                self.enqueue(txid)

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._worker(stop), name=f"relayer-worker-{i}") for i in range(self.workers)]
        try:
            await stop.wait()
        finally:
            tasks.extend(self._batch_tasks.values())  # a batch not sent is decided again after a restart
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            priority, _, txid = await self._queue.get()
            if self._queued.get(txid) != priority:
                continue  # a stale entry: the order was queued again with a better priority, or ran
            del self._queued[txid]
            if time.monotonic() < self._retry_at.get(txid, 0.0):
                continue  # backing off after a failure; its timer wakes it again
            if priority != self.URGENT:
                await self.intake_done()
            try:
                await self.advance(txid)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one order's trouble must not stop the others
                self.step_errors += 1
                self._forget_committed()  # a write may have committed unseen: count from the database again
                log.exception("order %s: step failed; will retry", _short(txid))
                self._backoff(txid, 1)

    def _backoff(self, txid: str, failures: int) -> None:
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, failures - 1))
        self._retry_at[txid] = time.monotonic() + delay
        asyncio.get_running_loop().call_later(delay + 0.01, self.enqueue, txid)

    async def active_ids(self) -> list[str]:
        """Every order not in a terminal status (the start-up recovery pass wakes them all)."""
        terminal = [int(s) for s in OrderStatus if s.is_terminal]
        async with self.db.read() as s:
            return list((await s.scalars(select(BridgeOrder.transaction_id)
                                         .where(BridgeOrder.status.not_in(terminal)))).all())

    # ------------------------------------------------------------------ one order

    async def advance(self, transaction_id: str, *, manual_relay: bool = False) -> StepResult:
        """Walk the order through every step that is ready now. `manual_relay`: the operator asked
        to relay this order, armed or not. The order and its stored events are read once per wake;
        each step hands the next one the row it wrote."""
        lock = self._order_locks.setdefault(transaction_id, asyncio.Lock())
        try:
            async with lock:
                self._wake_stale[transaction_id] = False
                known = self._known.pop(transaction_id, None)
                if known is not None:
                    order, events = known
                else:
                    order, events = await self.db.run_read(partial(_order_and_events, transaction_id=transaction_id))
                if order is None:
                    raise KeyError(f"no order {transaction_id}")
                result = StepResult(OrderStatus(order.status), False, order.last_reason or "")
                for _ in range(MAX_STEPS_PER_WAKE):
                    step = await self._step(order, events, manual_relay)
                    result = StepResult(step.status, result.changed or step.changed, step.text)
                    if step.order is not None:
                        order = step.order  # the row as this step wrote it
                    elif step.changed:
                        order = None  # moved by someone else ("moved meanwhile"): read again if it goes on
                    if not step.changed or step.status.is_terminal or step.status in _SENT:
                        break
                    order = order or await self._load(transaction_id)
                    if order is None:
                        break
                self._keep(transaction_id, order, events)
                self.processed += 1
                return result
        finally:
            self._wake_stale.pop(transaction_id, None)
            self._drop_order_lock(transaction_id, lock)

    def _drop_order_lock(self, txid: str, lock: asyncio.Lock) -> None:
        """Forget an order's lock once nobody holds it or waits for it."""
        waiting = lock._waiters  # type: ignore[attr-defined]
        if not lock.locked() and not waiting and self._order_locks.get(txid) is lock:
            del self._order_locks[txid]

    def _keep(self, transaction_id: str, order: BridgeOrder | None, events: list[OrderEvent]) -> None:
        """Remember an order for its next wake, unless its stored logs changed during this one."""
        if order is None or self._wake_stale.get(transaction_id) or OrderStatus(order.status).is_terminal:
            return
        self._remember(transaction_id, (order, events))

    def _remember(self, transaction_id: str, known: tuple[BridgeOrder, list[OrderEvent]]) -> None:
        if len(self._known) >= KNOWN_ORDERS_MAX:
            del self._known[next(iter(self._known))]  # the longest unwoken
        self._known[transaction_id] = known

    def seed(self, session: Session, created: Sequence[BridgeOrder]) -> None:
        """Orders the watcher's storing transaction created (called inside it, with the rows as inserted):
        their events are read there, all in one statement, so that their first wake reads nothing. Kept
        once that transaction commits (`logs_stored` takes them); a transaction that did not commit leaves
        seeds that the next one replaces."""
        self._seeds = {}
        if not created:
            return
        events = events_of_orders(session, [order.transaction_id for order in created])
        for order in created:
            self._seeds[order.transaction_id] = (order, events.get(order.transaction_id, []))

    def logs_stored(self, logs: Iterable[WatchedLog]) -> None:
        """The watcher committed these logs (called after its commit): each order they name is woken, a new
        request first. A remembered order gets them added to its events, as a read would find them; a
        BridgeRequested (which may move an existing order's origin block) makes it read again, unless the
        order was created by this very commit (`seed`) and no wake has seen it since."""
        woken: dict[str, bool] = {}  # txid -> urgent
        seeds, self._seeds = self._seeds, {}
        for stored in logs:
            txid = stored.event.args.get("transactionId")
            if not isinstance(txid, bytes):
                continue
            txid = "0x" + txid.hex()
            if stored.request is not None and txid in self._relayed_at_intake:
                # its own request, which the intake relayed: what it remembers of the order stays true
                self._relayed_at_intake.discard(txid)
                continue
            woken[txid] = woken.get(txid, False) or stored.request is not None
            known = self._known.get(txid)  # never there while a wake of the order runs (it took it)
            if stored.request is not None or known is None:
                self.forget([txid])
                seeded = seeds.pop(txid, None)
                if seeded is not None and txid not in self._wake_stale and known is None:
                    self._remember(txid, seeded)
                continue
            event = OrderEvent.of(stored)
            order, events = known
            if all(e.position != event.position for e in events):  # a redelivery at start-up adds nothing
                self._known[txid] = (order, sorted([*events, event], key=lambda e: e.position))
        for txid, urgent in woken.items():
            self.enqueue(txid, urgent=urgent)

    def prefetch(self, logs: Iterable[WatchedLog]) -> None:
        """The watcher decoded these logs and is about to store them. For a new request that the fast path
        will relay at once (armed, route configured, no origin confirmations to wait for), the reads its
        send needs start now, alongside the watcher's write and the decision: the relay's gas limit and
        our balance on the destination, the order's status on the origin. A hint: unused reads are dropped."""
        if not self.is_armed():
            return
        for w in logs:
            request = w.request
            if request is None or self._route_refusal(request) is not None:
                continue
            origin, dest = self.chains[request.origin_chain_id], self.chains[request.dest_chain_id]
            txid = "0x" + w.event.args["transactionId"].hex()
            if origin.config.confirmations > 0 or not self._origin_reads.room_for(txid):
                continue
            dest.submitter.prefetch(dest.bridge, calls.encode_relay(w.event.args["request"]), _relay_value(request))
            read = asyncio.ensure_future(self._origin_status_of(origin, txid))
            self._origin_reads.keep(txid, read, read)

    def on_decoded(self, logs: list[WatchedLog]) -> Awaitable[None] | None:
        """The watcher decoded these logs and is about to store them (its `on_decoded`); the reads of the new
        requests start now (`prefetch`). Armed, the new orders whose relay may go at once are decided now and
        relayed before the watcher's write (`_intake_one`): the answer is the awaitable the watcher awaits."""
        self.prefetch(logs)
        if not self.is_armed():
            return None
        intake = [w for w in logs if w.request is not None and w.event.name == BRIDGE_REQUESTED.name
                  and "0x" + w.event.args["transactionId"].hex() in self._origin_reads][:INTAKE_MAX_ORDERS]
        return self._intake(intake) if intake else None

    async def _intake(self, logs: list[WatchedLog]) -> None:
        """`_intake_one` for each of these new requests at once, for at most INTAKE_WAIT_SECONDS (one not done
        by then is cancelled, and goes step by step once the watcher has stored it)."""
        tasks = [asyncio.ensure_future(self._intake_one(w)) for w in logs]
        self._intakes_running += 1
        self._no_intake.clear()
        try:
            await asyncio.wait(tasks, timeout=INTAKE_WAIT_SECONDS)
        finally:
            self._intakes_running -= 1
            if not self._intakes_running:
                self._no_intake.set()
            for task in tasks:
                if not task.done():
                    task.cancel()  # its own clean-up gives back what it held
                elif not task.cancelled() and task.exception() is not None:
                    log.warning("order intake failed: %r; the order goes step by step", task.exception())

    async def _intake_one(self, w: WatchedLog) -> None:
        """A new order the watcher has not stored yet, decided as `_decide_seen` would, and when it is a fast
        commit-and-relay, relayed as `_commit_and_relay` would: the order is created with its trace up to
        RelayStarted in the write that stores the signed relay (the watcher's write then finds it), and the
        relay is broadcast before the watcher's write. Anything else (a slower decision, a detour, a failure)
        leaves nothing behind: the order goes step by step once the watcher has stored it."""
        request = w.request
        assert request is not None
        txid = "0x" + w.event.args["transactionId"].hex()
        if txid in self._order_locks or txid in self._known:
            return  # not new: a wake of it runs, or this block was fetched again after a failed write
        order = plain_order(new_order_row(w, datetime.now(UTC)))
        events = [OrderEvent.of(w)]
        status = OrderStatus.Seen
        lock = self._order_locks[txid] = asyncio.Lock()
        await lock.acquire()  # free: returns at once
        notional: tuple[int, Fraction] | None = None
        captured: list[BridgeOrder] = []
        stored = False
        try:
            inputs = self._seen_inputs(order, events, request, status)
            if isinstance(inputs, _Verdict):
                return
            async with self._commit_lock(inputs.dest.chain_id, request.dest_token):
                verdict = await self._seen_under_lock(order, events, request, status, False, inputs)
                if not verdict.fast:
                    return
                notional = self._reserve(order, request, inputs.dest_token)
            dest = inputs.dest
            precheck, before = self._commit_steps(order, events, request, verdict.reasons)
            hook, captured = self._relay_hook(order, request, dest, status, False, before=before, create=w)
            reads = await dest.submitter.read_for_send(
                dest.bridge, calls.encode_relay(order.request), _relay_value(request), purpose="relay",
                transaction_id=txid, precheck=asyncio.ensure_future(precheck()))
            row = await dest.submitter.store(reads, on_persist=hook)
            stored = True
            dest.submitter.broadcast_stored(row)
            await asyncio.sleep(0)  # the relay's request goes out before this order's bookkeeping below
        except (_Conflict, _Detour, ExecutionReverted, SubmitError, RpcError) as exc:
            log.debug("order %s: intake detour (%s): step by step", _short(txid), exc)
        finally:
            self._release(txid, request)
            if stored:  # committed with the signed relay
                self._note_written(captured[0])
                self._remember(txid, (captured[0], events))
                self._relayed_at_intake.add(txid)
                self._relay_recorded(txid, status, captured, "committed and relay sent")
            elif captured:
                # the write failed after the hook ran, or was interrupted: it may have committed or not, so the
                # committed amounts are read again and the notional stays counted (the safe side)
                self._forget_committed()
            elif notional is not None:
                self.notional_window.remove(*notional)
            lock.release()
            self._drop_order_lock(txid, lock)

    def _origin_status_soon(self, order: BridgeOrder) -> Awaitable[OriginBridgeStatus]:
        """The order's origin status: the read `prefetch` started if it is young enough, else a new one."""
        return self._origin_reads.take(order.transaction_id) or self._origin_status(order)

    def forget(self, transaction_ids: Iterable[str]) -> None:
        """Stored logs of these orders changed (called after the watcher's commit): read them again."""
        for txid in transaction_ids:
            self._known.pop(txid, None)
            if txid in self._wake_stale:
                self._wake_stale[txid] = True

    def forget_all(self) -> None:
        """Stored logs were rolled back (a reorg): every order is read again at its next wake."""
        self._known.clear()
        self._seeds.clear()
        for txid in self._wake_stale:
            self._wake_stale[txid] = True

    async def _load(self, transaction_id: str) -> BridgeOrder | None:
        return await self.db.run_read(partial(read_order, transaction_id=transaction_id))

    async def _step(self, order: BridgeOrder, events: list[OrderEvent], manual_relay: bool) -> StepResult:
        txid = order.transaction_id
        status = OrderStatus(order.status)
        if status.is_terminal:
            return StepResult(status, False, order.last_reason or "")
        lost = await self._check_lost(order, status, events)
        if lost is not None:
            return lost
        if status in (OrderStatus.CommittedPending, OrderStatus.CommittedConfirmed) \
                and not self._request_stored(order, events):
            # The reorg handler runs before the watcher deletes the removed logs, so an order can be
            # re-committed from a log about to vanish: whoever sees it gone releases the commitment.
            return await self._save(txid, OrderStatus.Seen, [self._request_gone(order)],
                                    **self._clock(order.origin_chain_id), expect=status, rollback=True)
        handler = {
            OrderStatus.Seen: self._decide_seen,
            OrderStatus.NotEnoughInventory: self._decide_seen,
            OrderStatus.CommittedPending: self._confirm,
            OrderStatus.CommittedConfirmed: self._relay,
            OrderStatus.RelayStarted: self._follow_relay,
            OrderStatus.RelayCompleted: self._prove,
            OrderStatus.ProvePosting: self._follow_prove,
            OrderStatus.ProvePosted: self._claim,
            OrderStatus.ClaimPending: self._follow_claim,
        }[status]
        return await handler(order, events, manual_relay)

    # ------------------------------------------------------------------ persistence

    async def _save(self, txid: str, to_status: OrderStatus, reasons: tuple[Gate, ...] | list[Gate], *,
                    chain_id: int, chain_time: int, expect: OrderStatus, tx_hash: str | None = None,
                    rollback: bool = False, failures: int | None = None, **fields) -> StepResult:
        """Write a decision if the order is still in `expect`. Staying with an unchanged reason writes
        nothing: the trace shows changes, not heartbeats."""
        text = summary(reasons)
        # Staying for the same blockers is not news (their numbers move with every head): no write.
        stay_key = tuple(sorted(str(g.name) for g in reasons if not g.passed))
        staying = to_status == expect and not rollback and failures is None and not fields
        if staying and self._stay_keys.get(txid) == stay_key:
            return StepResult(expect, False, text)

        if failures is not None:
            fields["failures"] = failures
        elif to_status != expect and not rollback:
            fields["failures"] = 0
        # staying for the same reason (the stored one) writes nothing either
        same_reason_writes_nothing = to_status == expect and failures is None and len(fields) == 0

        def write(s: Session) -> StepResult | BridgeOrder:
            moved = move_order(s, txid, expect, [Step(to_status, reasons, tx_hash)], chain_id=chain_id,
                               chain_time=chain_time, rollback=rollback, fields=fields,
                               new_reason_only=same_reason_writes_nothing)
            if moved is not None:
                return moved
            current = order_status(s, txid)
            if current is None or current == expect:  # gone (cannot happen), or staying for the same reason
                return StepResult(expect, False, text if current is not None else "moved meanwhile")
            return StepResult(current, True, "moved meanwhile")

        snapshot = await self.db.run_write(write)
        if isinstance(snapshot, StepResult):
            return snapshot
        self._note_written(snapshot)
        if staying:
            self._stay_keys[txid] = stay_key
        else:
            self._stay_keys.pop(txid, None)
        self.on_order(snapshot)
        if to_status != expect:
            self._announce(snapshot, expect, to_status, text)
        return StepResult(to_status, to_status != expect, text, snapshot)

    def _announce(self, order: BridgeOrder, old: OrderStatus, new: OrderStatus, text: str) -> None:
        level = "info"
        if new in (OrderStatus.RelayRaceLost, OrderStatus.DeadlineExceeded, OrderStatus.WillNotProcess):
            level = "warning"
        if new < old:
            level = "warning"
        self.on_event(level, f"{_short(order.transaction_id)} {old.name} -> {new.name}: {text}")

    def _persist_hook(self, txid: str, expect: OrderStatus, to_status: OrderStatus, reasons: list[Gate], *,
                      chain_id: int, chain_time: int, tx_field: str | None,
                      before: Callable[[], list[tuple[OrderStatus, list[Gate]]]] | None = None,
                      origin_log_of: int | None = None, create: WatchedLog | None = None):
        """The submitter's on_persist: the order's move and the signed transaction commit together.
        `before`: the transitions that lead to `to_status`, recorded first in the same write.
        `origin_log_of`: the order's BridgeRequested must still be stored on that chain (not reorged away).
        `create`: the order is created from this BridgeRequested, straight at `to_status` (`expect` is Seen)."""
        captured: list[BridgeOrder] = []

        def hook(session: Session, row: OutboundTx) -> None:
            if origin_log_of is not None and _REQUEST_STORED.first(
                    session, {"txid": txid, "on_chain": origin_log_of}) is None:
                raise _Conflict(f"order {txid}: its BridgeRequested is no longer stored", txid)
            steps = [Step(step_status, step_reasons) for step_status, step_reasons in (before() if before else [])]
            steps.append(Step(to_status, [*reasons, _gate("submit", True, row.tx_hash, "",
                                                          f"{row.purpose} signed: nonce {row.nonce} {row.tx_hash}")],
                              row.tx_hash))
            fields = {tx_field: row.tx_hash} if tx_field else None
            if create is not None:
                moved = create_order(session, create, steps, chain_id=chain_id, chain_time=chain_time, fields=fields)
                if moved is None:
                    raise _Conflict(f"order {txid} is stored already")
            else:
                moved = move_order(session, txid, expect, steps, chain_id=chain_id, chain_time=chain_time,
                                   fields=fields)
            if moved is None:
                raise _Conflict(f"order {txid} is no longer {expect.name}", txid)
            captured.append(moved)

        return hook, captured

    # ------------------------------------------------------------------ facts

    def _chain(self, chain_id: int) -> LiveChain | None:
        return self.chains.get(chain_id)

    async def _check_lost(self, order: BridgeOrder, status: OrderStatus, events: list[OrderEvent]) -> StepResult | None:
        """A refund ends the order whatever we did. Another relayer's BridgeRelayed (dest), ProofProvided
        or Claimed (origin) ends it for us unless our relay is out (then its receipt decides: a
        competitor's relay makes ours revert)."""
        for e in events:
            if e.name == BRIDGE_DEPOSIT_REFUNDED.name and e.chain_id == order.origin_chain_id:
                gate = _gate("origin_status", False, "REFUNDED", "REQUESTED",
                             f"refunded to the user on chain {e.chain_id} (tx {e.tx_hash[:12]})")
                return await self._save(order.transaction_id, OrderStatus.Refunded, [gate],
                                        **self._clock(order.origin_chain_id), expect=status)
            if status >= OrderStatus.RelayStarted:
                continue
            if e.name in (BRIDGE_RELAYED.name, BRIDGE_PROOF_PROVIDED.name, BRIDGE_DEPOSIT_CLAIMED.name):
                who = e.relayer
                if who is not None and checksum_address(who) != self.relayer:
                    short = short_address(who)
                    gate = _gate("race", False, short, "us",
                                 f"{e.name} by {short} on chain {e.chain_id} (tx {e.tx_hash[:12]}): race lost")
                    return await self._save(order.transaction_id, OrderStatus.RelayRaceLost, [gate],
                                            **self._clock(e.chain_id), expect=status)
        return None

    @staticmethod
    def _request_stored(order: BridgeOrder, events: list[OrderEvent]) -> bool:
        """The order's BridgeRequested is among the stored logs (the watcher keeps only canonical ones)."""
        return any(e.name == BRIDGE_REQUESTED.name and e.chain_id == order.origin_chain_id for e in events)

    @staticmethod
    def _request_gone(order: BridgeOrder) -> Gate:
        return _gate("origin_log", False, "missing", "stored",
                     f"BridgeRequested no longer on chain {order.origin_chain_id} (reorged away?)")

    def _clock(self, chain_id: int) -> dict[str, int]:
        chain = self._chain(chain_id)
        return {"chain_id": chain_id, "chain_time": (chain.chain_time or 0) if chain else 0}

    def _commit_lock(self, chain_id: int, token: str) -> asyncio.Lock:
        return self._commit_locks.setdefault((chain_id, token.lower()), asyncio.Lock())

    async def _committed_dest(self, chain_id: int, token: str) -> int:
        """destAmount committed on this chain+token: our committed orders, and the commitments decided but
        not yet written (`_reservations`). Called under the chain+token's commit lock."""
        while self._committed is None:
            written = self._orders_written
            committed = await self.db.run_read(_committed_orders)
            if written == self._orders_written:  # no write of ours was noted meanwhile: nothing is missing
                self._committed = committed
        key = (chain_id, token.lower())
        held = self._committed.get(key)
        # in Python: SUM over uint256 text is not exact on SQLite
        return (sum(held.values()) if held else 0) + self.reserved_amounts().get(key, 0)

    def _forget_committed(self) -> None:
        self._committed = None
        self._orders_written += 1  # a read begun before this is stale too

    def _note_written(self, order: BridgeOrder) -> None:
        """An order as a write of ours committed it: its commitment is counted, moved or released."""
        self._orders_written += 1
        if self._committed is None:
            return
        key = (order.dest_chain_id, order.dest_token.lower())
        held = self._committed.get(key)
        if OrderStatus(order.status) in COMMITTED_STATUSES:
            self._committed.setdefault(key, {})[order.transaction_id] = order.dest_amount
        elif held is not None and held.pop(order.transaction_id, None) is not None and not held:
            del self._committed[key]

    # ------------------------------------------------------------------ Seen / NotEnoughInventory

    def _route_refusal(self, request: BridgeRequest) -> Gate | None:
        origin, dest = self._chain(request.origin_chain_id), self._chain(request.dest_chain_id)
        route = (f"{request.origin_chain_id}:{request.origin_token[:8]}… -> "
                 f"{request.dest_chain_id}:{request.dest_token[:8]}…")
        if origin is None or dest is None:
            missing = request.origin_chain_id if origin is None else request.dest_chain_id
            return _gate("route", False, route, "configured chains", f"chain {missing} is not configured")
        if origin.token(request.origin_token) is None or dest.token(request.dest_token) is None:
            return _gate("route", False, route, "configured tokens", f"route {route}: token not configured")
        return None

    async def _decide_seen(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus(order.status)
        request = decode_request(order.request)
        inputs = self._seen_inputs(order, events, request, status)
        if isinstance(inputs, _Verdict):
            return await self._record(order.transaction_id, status, inputs)
        async with self._commit_lock(inputs.dest.chain_id, request.dest_token):
            verdict = await self._seen_under_lock(order, events, request, status, manual, inputs)
            if not verdict.fast:
                result = await self._record(order.transaction_id, status, verdict)
                if result.changed and result.status == OrderStatus.CommittedPending:
                    self._count_notional(request, inputs.dest_token)
                return result
            notional = self._reserve(order, request, inputs.dest_token)
        return await self._commit_and_relay(order, events, request, status, verdict.reasons, manual, notional)

    async def _record(self, txid: str, status: OrderStatus, verdict: _Verdict) -> StepResult:
        if verdict.to_status is None:
            return StepResult(status, False, verdict.text)
        return await self._save(txid, verdict.to_status, verdict.reasons, **self._clock(verdict.clock_chain),
                                expect=status)

    def _seen_inputs(self, order: BridgeOrder, events: list[OrderEvent], request: BridgeRequest,
                     status: OrderStatus) -> _SeenInputs | _Verdict:
        """What a Seen decision needs besides the commit lock's reads, or the verdict that needs no more."""
        refusal = self._route_refusal(request)
        if refusal is not None:
            return _Verdict(OrderStatus.WillNotProcess, [refusal], request.origin_chain_id)
        origin, dest = self.chains[request.origin_chain_id], self.chains[request.dest_chain_id]
        if not self._request_stored(order, events):
            return _Verdict(status, [self._request_gone(order)], origin.chain_id)
        if dest.head is None or origin.gas_balance is None or dest.gas_balance is None or origin.fees is None \
                or dest.fees is None:
            return _Verdict(None, [], dest.chain_id, "waiting for the first head and balances of both chains")
        origin_token, dest_token = origin.token(request.origin_token), dest.token(request.dest_token)
        assert origin_token is not None and dest_token is not None
        route = Route(request.origin_chain_id, request.origin_token, request.dest_chain_id, request.dest_token)
        quotable = route in self.config.routes
        route_gate = route_enabled_gate(self.config, route, f"{origin.chain_id}:{origin_token.symbol} -> "
                                                           f"{dest.chain_id}:{dest_token.symbol}")
        if quotable and not route_gate.passed:
            return _Verdict(OrderStatus.WillNotProcess, [route_gate], dest.chain_id)
        native_origin, native_dest = origin.native_price_usd(), dest.native_price_usd()
        if native_origin is None or native_dest is None:
            gate = _gate("prices", False, "missing", "configured",
                         "no USD price for a chain's gas token: configure its native token")
            return _Verdict(status, [gate], dest.chain_id)
        fee = fee_breakdown(
            dest_token.decimals, dest_token.price_usd, origin.gas_price_estimate(), dest.gas_price_estimate(),
            origin.config.origin_gas_estimate, dest.config.dest_gas_estimate, native_origin, native_dest,
            dest.config.fixed_fee_multiplier)
        return _SeenInputs(origin, dest, origin_token, dest_token, route, quotable, fee)

    async def _seen_under_lock(self, order: BridgeOrder, events: list[OrderEvent], request: BridgeRequest,
                               status: OrderStatus, manual: bool, inputs: _SeenInputs) -> _Verdict:
        """The Seen decision, under the dest chain+token's commit lock (the caller holds it); `fast`: commit
        and relay at once (`_commit_and_relay`). Writes nothing."""
        origin, dest, origin_token, dest_token = inputs.origin, inputs.dest, inputs.origin_token, inputs.dest_token
        # A tripped circuit breaker halts new commitments in its scope (checked under the lock, so a
        # trip takes effect for the very next decision); the order waits in Seen for a reset.
        halt = self.is_halted(dest.chain_id, request.dest_token, inputs.route)
        if halt is not None:
            return _Verdict(status, [_gate("breaker", False, "tripped", "reset by a person", halt)], dest.chain_id)
        # The balance refreshed on each head is safe to commit against: our relays' outflows drop it
        # from the cache (forget_balance, under this lock) before their orders stop counting as committed.
        balance = dest.cached_balance(request.dest_token)
        if balance is None:
            balance = await dest.balance_of(request.dest_token)
        committed = await self._committed_dest(dest.chain_id, request.dest_token)
        facts = OrderFacts(
            request=request, origin_decimals=origin_token.decimals, dest_decimals=dest_token.decimals,
            origin_symbol=origin_token.symbol, dest_symbol=dest_token.symbol, route_quotable=inputs.quotable,
            max_relay_amount=origin_token.max_relay_amount, screened=False,
            origin_gas_balance=origin.gas_balance, dest_gas_balance=dest.gas_balance,
            origin_min_gas_token=origin.config.min_gas_token, dest_min_gas_token=dest.config.min_gas_token,
            committable_dest=max(0, balance - committed), fee=inputs.fee,
            offset_origin_bps=origin_token.quote_offset_bps, offset_dest_bps=dest_token.quote_offset_bps,
            dest_chain_time=dest.chain_time or 0, deadline_buffer_s=dest.config.deadline_buffer_seconds,
            relayer=self.relayer, origin_native_symbol=origin.native_symbol,
            dest_native_symbol=dest.native_symbol)
        decision = evaluate_seen(facts, status)
        to_status, reasons = decision.next_status or status, list(decision.reasons)
        if to_status == OrderStatus.CommittedPending:
            limits = await self._limit_gates(request, origin, dest_token)
            reasons = [*limits, *reasons]  # the commitment gate stays last: it is the one-line summary
            if not all(g.passed for g in limits):
                to_status = OrderStatus.WillNotProcess
        fast = (to_status == OrderStatus.CommittedPending and (manual or self.is_armed())
                and self._origin_confirmations(order, events) >= origin.config.confirmations)
        return _Verdict(to_status, reasons, dest.chain_id, fast=fast)

    def _reserve(self, order: BridgeOrder, request: BridgeRequest, dest_token) -> tuple[int, Fraction]:
        """Hold a fast commitment in memory, funds and notional alike, so the next decision under the commit
        lock counts it; `_release` gives the funds back. Returns the notional entry."""
        self._reservations.setdefault((request.dest_chain_id, request.dest_token.lower()), {})[
            order.transaction_id] = request.dest_amount
        return self._count_notional(request, dest_token)

    def _release(self, txid: str, request: BridgeRequest) -> None:
        key = (request.dest_chain_id, request.dest_token.lower())
        reserved = self._reservations.get(key, {})
        reserved.pop(txid, None)
        if not reserved:
            self._reservations.pop(key, None)

    def _count_notional(self, request: BridgeRequest, dest_token) -> tuple[int, Fraction]:
        entry = (self._clock(request.dest_chain_id)["chain_time"], order_notional_usd(request.dest_amount, dest_token))
        self.notional_window.add(*entry)
        return entry

    def _origin_confirmations(self, order: BridgeOrder, events: list[OrderEvent]) -> int:
        origin = self.chains[order.origin_chain_id]
        requested = [e for e in events if e.name == BRIDGE_REQUESTED.name and e.chain_id == order.origin_chain_id]
        # The watcher's head is the newest: it delivers a block's logs before the engine's head moves to it.
        head = max(origin.head.number if origin.head is not None else 0, origin.watcher.head or 0)
        if not requested or head == 0:
            return 0
        return confirmations(head, requested[-1].block_number)

    async def _commit_and_relay(self, order: BridgeOrder, events: list[OrderEvent], request: BridgeRequest,
                                status: OrderStatus, seen_reasons: list[Gate], manual: bool,
                                notional: tuple[int, Fraction]) -> StepResult:
        """Seen -> CommittedPending -> CommittedConfirmed -> RelayStarted in ONE database write, taken when
        the origin log already has its confirmations and the relay may be sent. Until that write commits
        the commitment is held in memory (`_reservations`, counted by _committed_dest), so no other order
        can commit the same funds; a crash before it leaves the order Seen with nothing sent.

        The origin status is read alongside the submitter's own reads; a relay already made by anyone
        fails the gas limit's simulation (the contract reverts TransactionRelayed). Anything unexpected (origin
        not REQUESTED, a simulation that reverts, a submit error, an RPC failure) records the commitment alone,
        and the step-by-step path decides with its own checks."""
        txid = order.transaction_id
        dest = self.chains[order.dest_chain_id]
        committed = False
        precheck, before = self._commit_steps(order, events, request, seen_reasons)
        try:
            result = await self._send_relay(order, request, dest, status, manual, "committed and relay sent",
                                            before=before, precheck=precheck)
            committed = True
        except _Conflict:
            return StepResult(status, True, "moved meanwhile")
        except (_Detour, ExecutionReverted, SubmitError, RpcError) as exc:
            log.debug("order %s: commit-and-relay detour (%s): committing step by step", _short(txid), exc)
            result = await self._save(txid, OrderStatus.CommittedPending, seen_reasons, **self._clock(dest.chain_id),
                                      expect=status)
            committed = result.changed and result.status == OrderStatus.CommittedPending
            return result
        finally:
            self._release(txid, request)
            if not committed:
                self.notional_window.remove(*notional)
        return result

    def _commit_steps(self, order: BridgeOrder, events: list[OrderEvent], request: BridgeRequest,
                      seen_reasons: list[Gate]) -> tuple[Callable[[], Awaitable[None]], Callable[[], list]]:
        """For a relay sent with its commitment: the check that the origin still says REQUESTED (raises
        _Detour), and the transitions before RelayStarted it records (once the check has passed)."""
        origin, dest = self.chains[order.origin_chain_id], self.chains[order.dest_chain_id]
        pending: list[Gate] = []

        async def origin_still_requested() -> None:
            origin_status = await self._origin_status_soon(order)
            decision = evaluate_committed_pending(
                request, origin_status=origin_status, observed_confirmations=self._origin_confirmations(order, events),
                required_confirmations=origin.config.confirmations, dest_chain_time=dest.chain_time or 0,
                deadline_buffer_s=dest.config.deadline_buffer_seconds)
            if decision.next_status != OrderStatus.CommittedConfirmed:
                raise _Detour(summary(decision.reasons))
            pending.extend(decision.reasons)

        return origin_still_requested, lambda: [(OrderStatus.CommittedPending, seen_reasons),
                                                (OrderStatus.CommittedConfirmed, pending)]

    def _relay_hook(self, order: BridgeOrder, request: BridgeRequest, dest: LiveChain, expect: OrderStatus,
                    manual: bool, *, before: Callable[[], list[tuple[OrderStatus, list[Gate]]]],
                    origin_log_of: int | None = None, create: WatchedLog | None = None):
        """The persist hook of a relay (see `_send_relay`; `create`: the order does not exist yet, see
        `_intake_one`); raises _Detour when the committed-confirmed gates do not pass."""
        confirmed = evaluate_committed_confirmed(
            request, relayer=self.relayer, relayed_by=None, dest_chain_time=dest.chain_time or 0,
            deadline_buffer_s=dest.config.deadline_buffer_seconds)
        if confirmed.next_status != OrderStatus.RelayStarted:
            raise _Detour(summary(confirmed.reasons))
        relay_reasons = [Gate(g.name, g.passed, g.value, g.threshold, f"{g.text} (its relay runs without "
                              "reverting in a simulation)") if g.name == GateName.dest_relay else g for g in confirmed.reasons]
        relay_reasons.append(_gate("armed", True, "by hand", "armed", "relayed by hand by the operator")
                             if manual else _gate("armed", True, "armed", "armed", "armed"))
        return self._persist_hook(
            order.transaction_id, expect, OrderStatus.RelayStarted, relay_reasons, chain_id=dest.chain_id,
            chain_time=self._clock(dest.chain_id)["chain_time"], tx_field="relay_tx_hash", before=before,
            origin_log_of=origin_log_of, create=create)

    async def _send_relay(self, order: BridgeOrder, request: BridgeRequest, dest: LiveChain, expect: OrderStatus,
                          manual: bool, announce: str, *,
                          before: Callable[[], list[tuple[OrderStatus, list[Gate]]]],
                          precheck: Callable[[], Awaitable[None]] | None = None) -> StepResult:
        """The relay signed and stored in the same write as `before`'s transitions and the move to
        RelayStarted (the committed-confirmed gates judged by a simulation of the relay itself at its gas limit: a relay
        someone already made reverts it). Raises _Detour, _Conflict, ExecutionReverted, SubmitError or
        RpcError for the caller's step-by-step path."""
        txid = order.transaction_id
        hook, captured = self._relay_hook(order, request, dest, expect, manual, before=before,
                                          origin_log_of=order.origin_chain_id)
        try:
            await dest.submitter.submit(dest.bridge, calls.encode_relay(order.request), _relay_value(request),
                                        purpose="relay", transaction_id=txid, on_persist=hook,
                                        precheck=asyncio.ensure_future(precheck()) if precheck else None)
        finally:
            if captured:  # committed with the signed relay, whatever its broadcast did
                self._note_written(captured[0])
        return self._relay_recorded(txid, expect, captured, announce)

    def _relay_recorded(self, txid: str, expect: OrderStatus, captured: list[BridgeOrder], announce: str) -> StepResult:
        self._stay_keys.pop(txid, None)
        if not captured:
            return StepResult(OrderStatus.RelayStarted, True, "relay sent")
        self.on_order(captured[0])
        self._announce(captured[0], expect, OrderStatus.RelayStarted, announce)
        return StepResult(OrderStatus.RelayStarted, True, "relay sent", captured[0])

    async def _limit_gates(self, request: BridgeRequest, origin: LiveChain, dest_token) -> list[Gate]:
        """The operator's exposure limits for an order about to be committed (issue: limits)."""
        origin_token = origin.token(request.origin_token)
        gates = [order_notional_gate(request.dest_amount, dest_token, self.config.limits),
                 self.notional_window.gate(self._clock(dest_token.chain_id)["chain_time"],
                                           order_notional_usd(request.dest_amount, dest_token), self.config.limits)]
        if origin_token is not None and origin_token.max_balance is not None:
            balance = origin.cached_balance(request.origin_token)
            if balance is None:
                balance = await origin.balance_of(request.origin_token)
            owed = await self._owed_on(origin.chain_id, request.origin_token)
            gates.insert(0, max_balance_gate(balance, owed, request.origin_amount, origin_token))
        return gates

    async def _owed_on(self, chain_id: int, token: str) -> int:
        """originAmount of our orders relayed but not yet claimed on `chain_id` (it will arrive there)."""
        query = select(BridgeOrder.origin_amount).where(
            BridgeOrder.origin_chain_id == chain_id, BridgeOrder.origin_token == token.lower(),
            BridgeOrder.status.in_([int(x) for x in PENDING_IN_STATUSES]))
        amounts = await self.db.run_read(lambda s: s.scalars(query).all())
        return sum(amounts)

    async def load_notional_window(self) -> None:
        """Rebuild the rolling notional window from the stored commitments (after a restart)."""
        seconds = self.config.limits.window_seconds
        now = max((c.chain_time or 0 for c in self.chains.values()), default=0)
        async with self.db.read() as s:
            rows = (await s.execute(select(OrderTransition.chain_time, BridgeOrder.dest_chain_id,
                                           BridgeOrder.dest_token, BridgeOrder.dest_amount)
                                    .join(BridgeOrder, BridgeOrder.transaction_id == OrderTransition.transaction_id)
                                    .where(OrderTransition.to_status == int(OrderStatus.CommittedPending),
                                           OrderTransition.chain_time > now - seconds))).all()
        for chain_time, chain_id, token, amount in rows:
            resolved = self.config.token_by_address(chain_id, token)
            if resolved is not None:
                self.notional_window.add(chain_time, order_notional_usd(amount, resolved))

    # ------------------------------------------------------------------ CommittedPending

    async def _origin_status(self, order: BridgeOrder) -> OriginBridgeStatus:
        return await self._origin_status_of(self.chains[order.origin_chain_id], order.transaction_id)

    @staticmethod
    async def _origin_status_of(origin: LiveChain, transaction_id: str) -> OriginBridgeStatus:
        raw = await origin.rpc.call(origin.bridge, calls.encode_bridge_statuses(transaction_id))
        return OriginBridgeStatus(calls.decode_uint(raw))

    async def _confirm(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.CommittedPending
        request = decode_request(order.request)
        origin, dest = self.chains[order.origin_chain_id], self.chains[order.dest_chain_id]
        requested = [e for e in events if e.name == BRIDGE_REQUESTED.name and e.chain_id == order.origin_chain_id]
        observed = self._origin_confirmations(order, events)  # _step checked the log is stored
        origin_status = await self._origin_status(order)
        decision = evaluate_committed_pending(
            request, origin_status=origin_status, observed_confirmations=observed,
            required_confirmations=origin.config.confirmations, dest_chain_time=dest.chain_time or 0,
            deadline_buffer_s=dest.config.deadline_buffer_seconds)
        if decision.next_status is None and observed < origin.config.confirmations:
            self.wake_at_block(origin.chain_id, requested[-1].block_number + origin.config.confirmations,
                               order.transaction_id)
        if decision.next_status == OrderStatus.CommittedConfirmed and (manual or self.is_armed()) \
                and self._in_flight_stop(request) is None:
            # confirmed and relayed in one write; anything unexpected records the confirmation alone
            try:
                return await self._send_relay(order, request, dest, status, manual, "confirmed and relay sent",
                                              before=lambda: [(OrderStatus.CommittedConfirmed, list(decision.reasons))])
            except _Conflict:
                return StepResult(status, True, "moved meanwhile")
            except (_Detour, ExecutionReverted, SubmitError, RpcError) as exc:
                log.debug("order %s: confirm-and-relay detour (%s): step by step", _short(order.transaction_id), exc)
        return await self._save(order.transaction_id, decision.next_status or status, list(decision.reasons),
                                **self._clock(order.origin_chain_id), expect=status)

    # ------------------------------------------------------------------ CommittedConfirmed -> relay

    async def _relayed_by(self, order: BridgeOrder) -> str | None:
        dest = self.chains[order.dest_chain_id]
        raw = await dest.rpc.call(dest.bridge, calls.encode_bridge_relay_details(order.transaction_id))
        return calls.decode_relay_details(raw).relayer

    async def _relay(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.CommittedConfirmed
        request = decode_request(order.request)
        dest = self.chains[order.dest_chain_id]
        relayed_by = await self._relayed_by(order)
        decision = evaluate_committed_confirmed(
            request, relayer=self.relayer, relayed_by=relayed_by, dest_chain_time=dest.chain_time or 0,
            deadline_buffer_s=dest.config.deadline_buffer_seconds)
        clock = self._clock(dest.chain_id)
        if decision.next_status == OrderStatus.RelayCompleted:
            # Relayed by us in an earlier life (e.g. a database restored from backup): find that relay.
            logged = self._our_log(order, events, BRIDGE_RELAYED, dest.chain_id)
            ours = logged.tx_hash if logged is not None else None
            async with self._commit_lock(dest.chain_id, request.dest_token):
                return await self._save(order.transaction_id, OrderStatus.RelayCompleted, decision.reasons,
                                        **clock, expect=status, tx_hash=ours, relay_tx_hash=ours)
        if decision.next_status != OrderStatus.RelayStarted:
            return await self._save(order.transaction_id, decision.next_status or status, decision.reasons,
                                    **clock, expect=status)
        reasons = list(decision.reasons)
        if manual:
            reasons.append(_gate("armed", True, "by hand", "armed", "relayed by hand by the operator"))
        elif not self.is_armed():
            reasons.append(_gate("armed", False, "disarmed", "armed", "DISARMED: would relay now (dry run)"))
            return await self._save(order.transaction_id, status, reasons, **clock, expect=status)
        else:
            reasons.append(_gate("armed", True, "armed", "armed", "armed"))
        return await self._submit(order, dest, "relay", calls.encode_relay(order.request), _relay_value(request), status,
                                  OrderStatus.RelayStarted, reasons, "relay_tx_hash")

    async def _submit(self, order: BridgeOrder, chain: LiveChain, purpose: str, data: bytes, value: int,
                      expect: OrderStatus, to_status: OrderStatus, reasons: list[Gate], tx_field: str) -> StepResult:
        clock = self._clock(chain.chain_id)
        stop = self._in_flight_stop(decode_request(order.request))
        if stop is not None:
            gate = _gate("breaker", False, "stopped", "reset by a person", stop)
            return await self._save(order.transaction_id, expect, [*reasons, gate], **clock, expect=expect)
        hook, captured = self._persist_hook(order.transaction_id, expect, to_status, reasons,
                                            chain_id=chain.chain_id, chain_time=clock["chain_time"],
                                            tx_field=tx_field)
        try:
            await chain.submitter.submit(chain.bridge, data, value, purpose=purpose,
                                         transaction_id=order.transaction_id, on_persist=hook)
        except _Conflict:
            return StepResult(expect, True, "moved meanwhile")
        except ExecutionReverted as exc:
            return await self._attempt_failed(order, expect, purpose, f"{purpose} would revert: {exc.detail}")
        except SubmitError as exc:
            gate = _gate(purpose, False, "not sent", "sent", f"{purpose} not sent: {exc}")
            return await self._save(order.transaction_id, expect, [*reasons, gate], **clock, expect=expect)
        finally:
            if captured:  # committed with the signed transaction, whatever its broadcast did
                self._note_written(captured[0])
        if captured:
            self.on_order(captured[0])
            self._announce(captured[0], expect, to_status, f"{purpose} sent")
        return StepResult(to_status, True, f"{purpose} sent", captured[0] if captured else None)

    # ------------------------------------------------------------------ batched proves and claims

    async def _submit_or_batch(self, order: BridgeOrder, chain: LiveChain, purpose: str, call: bytes,
                               expect: OrderStatus, to_status: OrderStatus, reasons: list[Gate],
                               tx_field: str) -> StepResult:
        """A prove or claim: sent at once when the chain does not batch, else kept for the chain's batch
        of this purpose, which goes out `batch_window_seconds` after its first order or once it is full
        (`_send_batch`). Nothing is written until then: a restart decides a kept order again."""
        window, most = chain.config.batch_window_seconds, chain.config.batch_max_orders
        if window <= 0 or most <= 1:
            return await self._submit(order, chain, purpose, call, 0, expect, to_status, reasons, tx_field)
        stop = self._in_flight_stop(decode_request(order.request))
        if stop is not None:
            gate = _gate("breaker", False, "stopped", "reset by a person", stop)
            return await self._save(order.transaction_id, expect, [*reasons, gate], **self._clock(chain.chain_id),
                                    expect=expect)
        key = (chain.chain_id, purpose)
        batch = self._batches.setdefault(key, {})
        batch[order.transaction_id] = _BatchEntry(order, call, expect, to_status, reasons, tx_field)
        if len(batch) >= most:
            self._start_batch(key, 0.0)
        elif key not in self._batch_tasks:
            self._start_batch(key, float(window))
        return StepResult(expect, False, f"{purpose} waits for its batch ({len(batch)} so far, within {window} s)")

    def _start_batch(self, key: tuple[int, str], delay: float) -> None:
        running = self._batch_tasks.get(key)
        if running is not None and delay > 0:
            return
        task = asyncio.ensure_future(self._send_batch_after(key, delay, running))
        self._batch_tasks[key] = task

    async def _send_batch_after(self, key: tuple[int, str], delay: float, running: asyncio.Task | None) -> None:
        try:
            if running is not None:  # a full batch replaces the timer of the batch it filled
                running.cancel()
            await asyncio.sleep(delay)
            if self._batch_tasks.get(key) is asyncio.current_task():
                del self._batch_tasks[key]
            entries = self._batches.pop(key, {})
            if entries:
                await self._send_batch(self.chains[key[0]], key[1], entries)
        except asyncio.CancelledError:
            raise
        except RpcError as exc:  # its orders stay where they were; the sweep decides them again
            log.warning("chain %s: %s batch not sent (%s); its orders will be decided again", *key, exc)
        except Exception:  # noqa: BLE001 - as above, with the trace of what went wrong
            log.exception("chain %s: %s batch failed; its orders will be decided again", *key)

    async def _send_batch(self, chain: LiveChain, purpose: str, entries: dict[str, _BatchEntry]) -> None:
        """One transaction for these orders' proves (or claims): `multicallNoResults` of their calls, without
        ignoring reverts, so the transaction either does all of them or none. The orders move to their posted
        status in the write that stores it. An order that moved meanwhile leaves the batch; a batch that
        would revert, or a lone order, goes out one order per transaction, each judged on its own."""
        # a breaker that stops in-flight work: such an order records it on its own (`_submit`)
        alone = {txid: e for txid, e in entries.items() if self._in_flight_stop(decode_request(e.order.request))}
        entries = {txid: e for txid, e in entries.items() if txid not in alone}
        while len(entries) > 1:
            hooks = {txid: self._persist_hook(txid, e.expect, e.to_status, [*e.reasons, _gate(
                "batch", True, f"{len(entries)} orders", "", f"one {purpose} transaction for {len(entries)} orders")],
                chain_id=chain.chain_id, chain_time=self._clock(chain.chain_id)["chain_time"], tx_field=e.tx_field)
                for txid, e in entries.items()}

            def persist(session: Session, row: OutboundTx, hooks=hooks) -> None:
                try:
                    for hook, _ in hooks.values():
                        hook(session, row)
                except _Conflict:  # nothing is stored: the members moved so far are not
                    for _, captured in hooks.values():
                        captured.clear()
                    raise

            data = calls.encode_multicall_no_results([e.call for e in entries.values()])
            try:
                await chain.submitter.submit(chain.bridge, data, 0, purpose=purpose, members=list(entries),
                                             on_persist=persist)
            except _Conflict as exc:
                if exc.transaction_id is None:
                    return
                log.info("chain %s: %s leaves the %s batch: %s", chain.chain_id, _short(exc.transaction_id), purpose,
                         exc)
                entries.pop(exc.transaction_id, None)
                continue
            except ExecutionReverted as exc:
                log.info("chain %s: a batch of %d %ss would revert (%s): one by one", chain.chain_id, len(entries),
                         purpose, exc.detail)
                break
            except SubmitError as exc:
                self.on_event("warning", f"{purpose} batch of {len(entries)} orders on chain {chain.chain_id} "
                                         f"not sent: {exc}")
                return
            finally:
                for txid, (_, captured) in hooks.items():
                    if captured:  # committed with the signed batch, whatever its broadcast did
                        self._note_written(captured[0])
                        self._moved_outside_a_wake(txid)
            for txid, (_, captured) in hooks.items():
                self.on_order(captured[0])
                self._announce(captured[0], entries[txid].expect, entries[txid].to_status,
                               f"{purpose} sent in a batch of {len(entries)}")
            return
        for txid, e in {**alone, **entries}.items():
            lock = self._order_locks.setdefault(txid, asyncio.Lock())
            async with lock:
                # it may have moved since it joined (a wake that raced the batch's write): no stale attempt
                if await self.db.run_read(partial(order_status, transaction_id=txid)) == e.expect:
                    result = await self._submit(e.order, chain, purpose, e.call, 0, e.expect, e.to_status,
                                                e.reasons, e.tx_field)
                    if result.changed:
                        self._moved_outside_a_wake(txid)
            self._drop_order_lock(txid, lock)

    def _moved_outside_a_wake(self, txid: str) -> None:
        """A batch moved the order: what a wake remembered or is reading of it is stale (not kept)."""
        self._known.pop(txid, None)
        if txid in self._wake_stale:
            self._wake_stale[txid] = True
        self._stay_keys.pop(txid, None)

    def _in_flight_stop(self, rq: BridgeRequest) -> str | None:
        """A tripped breaker whose rule says stop holds in-flight work too."""
        return self.is_halted(rq.dest_chain_id, rq.dest_token, Route(rq.origin_chain_id, rq.origin_token,
                              rq.dest_chain_id, rq.dest_token), in_flight=True)

    async def _attempt_failed(self, order: BridgeOrder, status: OrderStatus, purpose: str, text: str) -> StepResult:
        """A relay/prove/claim that reverted (at estimate or on chain) or was dropped: count it, back off.
        A relay is refused after MAX_RELAY_FAILURES; a prove or claim is retried for as long as it takes."""
        failures = order.failures + 1
        self._backoff(order.transaction_id, failures)
        origin_or_dest = order.dest_chain_id if purpose == "relay" else order.origin_chain_id
        clock = self._clock(origin_or_dest)
        gate = _gate(purpose, False, f"failure {failures}", "success", text)
        if purpose == "relay" and failures >= MAX_RELAY_FAILURES and status == OrderStatus.CommittedConfirmed:
            gate = _gate(purpose, False, f"failure {failures}", f"< {MAX_RELAY_FAILURES}",
                         f"{text}; giving up after {failures} failures")
            self.on_event("error", f"{_short(order.transaction_id)} relay failed {failures} times: {text}")
            return await self._save(order.transaction_id, OrderStatus.WillNotProcess, [gate], **clock,
                                    expect=status, failures=failures)
        self.on_event("warning", f"{_short(order.transaction_id)} {text} (failure {failures})")
        return await self._save(order.transaction_id, status, [gate], **clock, expect=status, failures=failures)

    # ------------------------------------------------------------------ following our transactions

    async def _settled_outcome(self, order: BridgeOrder, purpose: str, chain: LiveChain,
                               status: OrderStatus) -> TxOutcome | StepResult:
        """Our latest `purpose` transaction's final outcome, or a StepResult to stay while there is none."""
        outcome = await chain.submitter.latest_outcome(order.transaction_id, purpose)
        if outcome is None:
            return StepResult(status, False, f"no {purpose} transaction stored")
        if outcome.status is TxStatus.PENDING:
            return StepResult(status, False, f"{purpose} pending {outcome.tx_hash}")
        return outcome

    async def _follow_relay(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.RelayStarted
        dest = self.chains[order.dest_chain_id]
        clock = self._clock(dest.chain_id)
        # Our BridgeRelayed stored by the watcher proves the relay mined (a reverted one logs nothing),
        # usually before the submitter's next tick has fetched its receipt.
        logged = self._our_log(order, events, BRIDGE_RELAYED, dest.chain_id)
        if logged is not None:
            return await self._relay_mined(order, dest, logged.tx_hash, logged.block_number)
        # No stored relay cannot happen (stored together with the status); never guess it was not sent.
        outcome = await self._settled_outcome(order, "relay", dest, status)
        if isinstance(outcome, StepResult):
            return outcome
        if outcome.status is TxStatus.MINED:
            return await self._relay_mined(order, dest, outcome.tx_hash, outcome.block_number)
        # reverted or dropped: who relayed it, if anyone?
        relayed_by = await self._relayed_by(order)
        what = "reverted" if outcome.status is TxStatus.REVERTED else "was dropped"
        if relayed_by == self.relayer:
            gate = _gate("dest_relay", True, "us", "us", f"relay {what} but the order shows relayed by us")
            return await self._save(order.transaction_id, OrderStatus.RelayCompleted, [gate], **clock, expect=status)
        if relayed_by is not None:
            short = short_address(relayed_by)
            gate = _gate("race", False, short, "us", f"our relay {what}: relayed by {short}: race lost")
            return await self._save(order.transaction_id, OrderStatus.RelayRaceLost, [gate], **clock, expect=status)
        failures = order.failures + 1
        self._backoff(order.transaction_id, failures)
        gate = _gate("relay", False, what, "mined", f"relay {outcome.tx_hash[:12]} {what}"
                     + (f": {outcome.error}" if outcome.error else "") + f" (failure {failures})")
        self.on_event("warning", f"{_short(order.transaction_id)} relay {what} (failure {failures})")
        return await self._save(order.transaction_id, OrderStatus.CommittedConfirmed, [gate], **clock,
                                expect=status, rollback=True, failures=failures)

    async def _relay_mined(self, order: BridgeOrder, dest: LiveChain, tx_hash: str,
                           block_number: int | None) -> StepResult:
        gate = _gate("relay", True, f"#{block_number}", "mined",
                     f"relay mined in block #{block_number} on chain {dest.chain_id}")
        request = decode_request(order.request)
        async with self._commit_lock(dest.chain_id, request.dest_token):
            result = await self._save(order.transaction_id, OrderStatus.RelayCompleted, [gate],
                                      **self._clock(dest.chain_id), expect=OrderStatus.RelayStarted,
                                      tx_hash=tx_hash, relay_tx_hash=tx_hash)
            dest.forget_balance(request.dest_token, reread=True)  # the relay is mined: its outflow is in
        return result

    # ------------------------------------------------------------------ RelayCompleted -> prove

    def _our_log(self, order: BridgeOrder, events: list[OrderEvent], spec, chain_id: int) -> OrderEvent | None:
        """The newest stored `spec` event of this order on `chain_id` emitted for us as the relayer."""
        for e in reversed(events):
            if e.name == spec.name and e.chain_id == chain_id and e.relayer and checksum_address(e.relayer) == self.relayer:
                return e
        return None

    async def _prove(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.RelayCompleted
        origin, dest = self.chains[order.origin_chain_id], self.chains[order.dest_chain_id]
        if order.relay_tx_hash is None:
            ours = self._our_log(order, events, BRIDGE_RELAYED, dest.chain_id)
            found = ours.tx_hash if ours is not None else None
            if found is None:
                return StepResult(status, False, "relayed by us; waiting for our BridgeRelayed log to prove it")
            return await self._save(order.transaction_id, status, [_gate(
                "relay", True, found, "", f"our relay found on chain {dest.chain_id}: {found}")],
                **self._clock(dest.chain_id), expect=status, relay_tx_hash=found)
        logged = self._our_log(order, events, BRIDGE_RELAYED, dest.chain_id)
        if logged is not None and logged.tx_hash == order.relay_tx_hash:
            # our relay's log, stored from a block the watcher checked is canonical, is its receipt's
            # evidence (a reorg that removes it rolls the order back): no receipt read
            relay_block = logged.block_number
        else:
            receipt = await dest.rpc.get_transaction_receipt(order.relay_tx_hash)
            if receipt is None or not self._receipt_relays(receipt, order.transaction_id):
                return await self._relay_receipt_missing(order, dest, status)
            relay_block = receipt.block_number
        head = dest.head.number if dest.head is not None else 0
        observed = confirmations(head, relay_block)
        conf = confirmations_gate(observed, dest.config.confirmations)
        conf = Gate(conf.name, conf.passed, conf.value, conf.threshold, f"relay {conf.text}")
        if not conf.passed:
            self.wake_at_block(dest.chain_id, relay_block + dest.config.confirmations, order.transaction_id)
            return await self._save(order.transaction_id, status, [conf], **self._clock(dest.chain_id), expect=status)
        data = calls.encode_prove(order.request, order.relay_tx_hash)
        return await self._submit_or_batch(order, origin, "prove", data, status, OrderStatus.ProvePosting, [conf],
                                           "prove_tx_hash")

    async def _relay_receipt_missing(self, order: BridgeOrder, dest: LiveChain, status: OrderStatus) -> StepResult:
        """Our relay's receipt is not served, or does not show our relay: not yet, or reorged away."""
        if await self._relayed_by(order) == self.relayer:
            return StepResult(status, False, "relay receipt not served yet")
        gate = _gate("relay_receipt", False, "vanished", "mined",
                     f"relay {order.relay_tx_hash[:12]} no longer on chain {dest.chain_id} (reorged)")
        self.on_event("warning", f"{_short(order.transaction_id)} {gate.text}")
        return await self._save(order.transaction_id, OrderStatus.CommittedConfirmed, [gate],
                                **self._clock(dest.chain_id), expect=status, rollback=True)

    def _receipt_relays(self, receipt, txid: str) -> bool:
        """The receipt holds a BridgeRelayed of this order by us (our relay really landed)."""
        if receipt.status != 1:
            return False
        want = bytes.fromhex(txid[2:])
        for entry in receipt.logs:
            if len(entry.topics) >= 3 and entry.topics[0] == BRIDGE_RELAYED.topic0 and entry.topics[1] == want:
                return checksum_address(entry.topics[2][-20:]) == self.relayer
        return False

    async def _follow_prove(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.ProvePosting
        origin = self.chains[order.origin_chain_id]
        clock = self._clock(origin.chain_id)
        logged = self._our_log(order, events, BRIDGE_PROOF_PROVIDED, origin.chain_id)
        proof = None
        if logged is not None:  # our proof's log is stored: the prove mined, maybe before our tick saw it
            proof = await self._proof_of(order, origin)
            if proof.relayer == self.relayer:
                return await self._proved(order, origin, proof, logged.tx_hash, logged.block_number)
        outcome = await self._settled_outcome(order, "prove", origin, status)
        if isinstance(outcome, StepResult):
            return outcome
        proof = proof or await self._proof_of(order, origin)
        if proof.relayer == self.relayer:
            return await self._proved(order, origin, proof, outcome.tx_hash, outcome.block_number)
        what = "mined but no proof of ours is recorded" if outcome.ok else (
            "reverted" if outcome.status is TxStatus.REVERTED else "was dropped")
        failures = order.failures + 1
        self._backoff(order.transaction_id, failures)
        gate = _gate("prove", False, what, "proved", f"prove {outcome.tx_hash[:12]} {what} (failure {failures}); "
                     "will prove again")
        self.on_event("warning", f"{_short(order.transaction_id)} {gate.text}")
        return await self._save(order.transaction_id, OrderStatus.RelayCompleted, [gate], **clock, expect=status,
                                rollback=True, failures=failures)

    async def _proof_of(self, order: BridgeOrder, origin: LiveChain):
        return calls.decode_proof_details(await origin.rpc.call(
            origin.bridge, calls.encode_bridge_proofs(order.transaction_id)))

    async def _proved(self, order: BridgeOrder, origin: LiveChain, proof, tx_hash: str,
                      block_number: int | None) -> StepResult:
        gate = _gate("prove", True, f"#{block_number}", "mined",
                     f"proof accepted at chain time {proof.timestamp} on chain {origin.chain_id}")
        # the dispute period it now waits out is recorded with the move (not in a write of its own right after)
        waiting = self._dispute_wait(order.transaction_id, proof.timestamp, origin, await origin.dispute_period())
        result = await self._save(order.transaction_id, OrderStatus.ProvePosted, [gate] if waiting is None else
                                  [gate, waiting], **self._clock(origin.chain_id), expect=OrderStatus.ProvePosting,
                                  tx_hash=tx_hash, prove_tx_hash=tx_hash, proof_time=proof.timestamp)
        if waiting is not None and result.changed:
            self._stay_keys[order.transaction_id] = (str(waiting.name),)  # `_claim`'s first wait is recorded
        return result

    # ------------------------------------------------------------------ ProvePosted -> claim

    async def _claim(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.ProvePosted
        origin = self.chains[order.origin_chain_id]
        clock = self._clock(origin.chain_id)
        period = origin.known_dispute_period
        disputed = any(e.name == BRIDGE_PROOF_DISPUTED.name and e.chain_id == origin.chain_id for e in events)
        if period is not None and not disputed:
            # Woken during the dispute period (our own logs, a settled transaction): nothing can be claimed
            # yet, and a dispute would have logged BridgeProofDisputed; the chain is asked once it is over.
            waiting = self._dispute_wait(order.transaction_id, order.proof_time, origin, period)
            if waiting is not None:
                return await self._save(order.transaction_id, status, [waiting], **clock, expect=status)
        origin_status = await self._origin_status(order)
        if origin_status == OriginBridgeStatus.REQUESTED:  # our proof was disputed
            gate = _gate("origin_status", False, "REQUESTED", "RELAYER_PROVED",
                         "proof disputed: origin status back to REQUESTED; will prove again")
            self.on_event("warning", f"{_short(order.transaction_id)} {gate.text}")
            return await self._save(order.transaction_id, OrderStatus.RelayCompleted, [gate], **clock,
                                    expect=status, rollback=True)
        if origin_status == OriginBridgeStatus.RELAYER_CLAIMED:
            return await self._claimed(order, events, status)
        waiting = self._dispute_wait(order.transaction_id, order.proof_time, origin, await origin.dispute_period())
        if waiting is not None:
            return await self._save(order.transaction_id, status, [waiting], **clock, expect=status)
        try:
            await origin.rpc.call(origin.bridge, calls.encode_can_claim(order.transaction_id, self.relayer))
        except ExecutionReverted as exc:  # canClaim reverts instead of returning false
            gate = _gate("can_claim", False, "reverts", "true", f"canClaim reverts: {exc.detail}")
            return await self._save(order.transaction_id, status, [gate], **clock, expect=status)
        gate = _gate("can_claim", True, "true", "true", f"dispute period over ({period} s); canClaim true")
        return await self._submit_or_batch(order, origin, "claim", calls.encode_claim(order.request, self.relayer),
                                           status, OrderStatus.ClaimPending, [gate], "claim_tx_hash")

    def _dispute_wait(self, txid: str, proof_time: int | None, origin: LiveChain, period: int) -> Gate | None:
        """The failing dispute-period gate (and a wake-up at its end), or None once the period is over."""
        now = origin.chain_time or 0
        ready_at = (proof_time or 0) + period + 1  # strictly more than the period
        if now >= ready_at:
            return None
        self.wake_at_time(origin.chain_id, ready_at, txid)
        return _gate("dispute_period", False, f"{now - (proof_time or 0)} s", f"> {period} s",
                     f"dispute period: {ready_at - now} s to go (chain time)")

    async def _claimed(self, order: BridgeOrder, events: list[OrderEvent], status: OrderStatus) -> StepResult:
        clock = self._clock(order.origin_chain_id)
        claims = [e for e in events if e.name == BRIDGE_DEPOSIT_CLAIMED.name and e.chain_id == order.origin_chain_id]
        claimer = claims[-1].relayer if claims else None
        if claimer is not None and checksum_address(claimer) != self.relayer:
            gate = _gate("race", False, claimer, "us", f"claimed by {short_address(claimer)}: race lost")
            return await self._save(order.transaction_id, OrderStatus.RelayRaceLost, [gate], **clock, expect=status)
        tx = claims[-1].tx_hash if claims else None
        gate = _gate("claim", True, "claimed", "claimed", f"claimed on chain {order.origin_chain_id}")
        return await self._save(order.transaction_id, OrderStatus.ClaimCompleted, [gate], **clock, expect=status,
                                tx_hash=tx)

    async def _follow_claim(self, order: BridgeOrder, events: list[OrderEvent], manual: bool) -> StepResult:
        status = OrderStatus.ClaimPending
        origin = self.chains[order.origin_chain_id]
        clock = self._clock(origin.chain_id)
        # Our BridgeDepositClaimed stored by the watcher proves the claim mined (a reverted one logs nothing),
        # usually before the submitter's next tick has fetched its receipt.
        logged = self._our_log(order, events, BRIDGE_DEPOSIT_CLAIMED, origin.chain_id)
        if logged is not None:
            return await self._claim_mined(order, origin, logged.tx_hash, logged.block_number)
        outcome = await self._settled_outcome(order, "claim", origin, status)
        if isinstance(outcome, StepResult):
            return outcome
        if outcome.ok:
            return await self._claim_mined(order, origin, outcome.tx_hash, outcome.block_number)
        if await self._origin_status(order) == OriginBridgeStatus.RELAYER_CLAIMED:
            return await self._claimed(order, events, status)
        failures = order.failures + 1
        self._backoff(order.transaction_id, failures)
        what = "reverted" if outcome.status is TxStatus.REVERTED else "was dropped"
        gate = _gate("claim", False, what, "mined", f"claim {outcome.tx_hash[:12]} {what} (failure {failures}); "
                     "will claim again")
        self.on_event("warning", f"{_short(order.transaction_id)} {gate.text}")
        return await self._save(order.transaction_id, OrderStatus.ProvePosted, [gate], **clock, expect=status,
                                rollback=True, failures=failures)

    async def _claim_mined(self, order: BridgeOrder, origin: LiveChain, tx_hash: str,
                           block_number: int | None) -> StepResult:
        request = decode_request(order.request)
        amount = request.origin_amount + request.origin_fee_amount
        token = origin.token(request.origin_token)
        shown = format_units(amount, token.decimals, token.symbol) if token else str(amount)
        gate = _gate("claim", True, f"#{block_number}", "mined",
                     f"claimed {shown} in block #{block_number} on chain {origin.chain_id}")
        return await self._save(order.transaction_id, OrderStatus.ClaimCompleted, [gate],
                                **self._clock(origin.chain_id), expect=OrderStatus.ClaimPending, tx_hash=tx_hash,
                                claim_tx_hash=tx_hash)

    # ------------------------------------------------------------------ reorgs

    async def on_reorg(self, chain_id: int, ancestor: int) -> list[str]:
        """The chain replaced the blocks above `ancestor`: an order whose request was in them and whose
        relay was not sent goes back to Seen (its commitment released); it moves on again only if the
        request reappears on the new fork and gets its confirmations. Idempotent."""
        pre_relay = [int(s) for s in (OrderStatus.CommittedPending, OrderStatus.CommittedConfirmed,
                                      OrderStatus.NotEnoughInventory)]
        chain = self._chain(chain_id)

        def roll_back(s: Session) -> list[BridgeOrder]:
            found = s.execute(select(BridgeOrder.transaction_id, BridgeOrder.status, BridgeOrder.origin_block_number)
                              .where(BridgeOrder.origin_chain_id == chain_id,
                                     BridgeOrder.origin_block_number > ancestor,
                                     BridgeOrder.status.in_(pre_relay)).with_for_update()).all()
            moved = []
            for txid, status, block_number in found:
                gate = _gate("origin_log", False, "reorged", "canonical",
                             f"origin block #{block_number} on chain {chain_id} reorged away (fork at #{ancestor})")
                # NotEnoughInventory holds no commitment: it stays, with the reason; the others go back to Seen
                stays = OrderStatus(status) == OrderStatus.NotEnoughInventory
                order = move_order(s, txid, OrderStatus(status),
                                   [Step(OrderStatus.NotEnoughInventory if stays else OrderStatus.Seen, [gate])],
                                   chain_id=chain_id, chain_time=(chain.chain_time or 0) if chain else 0,
                                   rollback=not stays)
                if order is not None:
                    moved.append(order)
            return moved

        detached = await self.db.run_write(roll_back)
        self._forget_committed()  # released commitments: counted from the database again
        moved = [order.transaction_id for order in detached]
        self.forget(moved)
        for order in detached:
            self.on_order(order)
            self.on_event("warning", f"{_short(order.transaction_id)} {order.last_reason}")
        return moved


def _committed_orders(s: Session) -> dict[tuple[int, str], dict[str, int]]:
    rows = s.execute(select(BridgeOrder.dest_chain_id, BridgeOrder.dest_token, BridgeOrder.transaction_id,
                            BridgeOrder.dest_amount)
                     .where(BridgeOrder.status.in_([int(x) for x in COMMITTED_STATUSES]))).all()
    committed: dict[tuple[int, str], dict[str, int]] = {}
    for chain_id, token, txid, amount in rows:
        committed.setdefault((chain_id, token.lower()), {})[txid] = amount
    return committed


def _order_and_events(s: Session, *, transaction_id: str) -> tuple[BridgeOrder | None, list[OrderEvent]]:
    order = read_order(s, transaction_id)
    return (order, order_events(s, transaction_id)) if order is not None else (None, [])

