"""Orders in the database: creation from BridgeRequested logs, status changes with their decision
trace, and reading an order's whole history back.

Every status change goes through `move_order`: each step is checked against the state machine, the
order row and its trace entries are written in the caller's transaction, so a status and the reasons
for it are never apart.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.chain.watcher import WatchedLog
from engine.chain.submitter import batch_members, order_attempts
from engine.protocol.events import BRIDGE_REQUESTED, DecodedEvent, decode_event
from engine.relayer.decisions import Gate
from engine.relayer.statuses import OrderStatus, check_rollback, check_transition
from engine.store import BridgeOrder, ChainLog, Database, OrderTransition, OutboundTx, insert_ignore
from engine.store.models import detached
from engine.store.prepared import Prepared


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def gate_to_json(gate: Gate) -> dict[str, Any]:
    return {"gate": str(gate.name), "passed": gate.passed, "value": gate.value,
            "threshold": gate.threshold, "text": gate.text}


def gate_from_json(data: dict[str, Any]) -> Gate:
    return Gate(str(data.get("gate", "")), bool(data.get("passed")), str(data.get("value", "")),
                str(data.get("threshold", "")), str(data.get("text", "")))


def summary(reasons: Sequence[Gate]) -> str:
    """The one line the operator sees: the deciding gate's text, or the last gate's when all passed."""
    blocker = next((g for g in reasons if not g.passed), None)
    if blocker is not None:
        return blocker.text
    return reasons[-1].text if reasons else ""


# built once: the watcher's storing transaction runs these for every block with a request
_ORIGIN_BLOCKS_BY_ID = select(BridgeOrder.transaction_id, BridgeOrder.origin_block_hash).where(
    BridgeOrder.transaction_id.in_(bindparam("ids", expanding=True)))
_MOVE_ORIGIN_LOG = Prepared(update(BridgeOrder.__table__).where(BridgeOrder.transaction_id == bindparam("txid")).values(
    origin_block_number=bindparam("to_number"), origin_block_hash=bindparam("to_hash"),
    origin_tx_hash=bindparam("to_tx_hash"), origin_log_index=bindparam("to_log_index")))
_INSERT_TRANSITIONS = Prepared(insert(OrderTransition.__table__))


# the columns an OrderEvent needs (not whole rows), in chain order; built once: read at every wake of an order
_EVENTS_OF_ORDER = Prepared(select(ChainLog.chain_id, ChainLog.topics, ChainLog.data, ChainLog.block_number,
                                    ChainLog.block_hash, ChainLog.tx_hash, ChainLog.log_index)
                             .where(ChainLog.transaction_id == bindparam("txid"))
                             .order_by(ChainLog.chain_id, ChainLog.block_number, ChainLog.log_index))
_EVENTS_OF_ORDERS = (select(ChainLog.transaction_id, *_EVENTS_OF_ORDER.statement.selected_columns)
                     .where(ChainLog.transaction_id.in_(bindparam("txids", expanding=True)))
                     .order_by(ChainLog.transaction_id, ChainLog.chain_id, ChainLog.block_number, ChainLog.log_index))


def new_order_row(w: WatchedLog, now: datetime) -> dict[str, Any]:
    """The columns of the Seen order a decoded BridgeRequested creates."""
    r = w.request
    assert r is not None
    return dict(
        transaction_id=_hex(w.event.args["transactionId"]), request=bytes(w.event.args["request"]),
        version=r.version, origin_chain_id=r.origin_chain_id, dest_chain_id=r.dest_chain_id,
        origin_sender=r.origin_sender.lower(), dest_recipient=r.dest_recipient.lower(),
        origin_token=r.origin_token.lower(), dest_token=r.dest_token.lower(),
        origin_amount=r.origin_amount, dest_amount=r.dest_amount, origin_fee_amount=r.origin_fee_amount,
        deadline=r.deadline, nonce=r.nonce,
        exclusivity_relayer=r.exclusivity_relayer.lower() if r.version == 2 else None,
        exclusivity_end_time=r.exclusivity_end_time if r.version == 2 else None,
        zap_native=r.zap_native if r.version == 2 else None,
        zap_data=r.zap_data if r.version == 2 else None,
        send_chain_gas=r.send_chain_gas,
        origin_block_number=w.block_number, origin_block_hash=_hex(w.block_hash),
        origin_tx_hash=_hex(w.raw.tx_hash), origin_log_index=w.raw.log_index,
        status=int(OrderStatus.Seen), last_reason=f"BridgeRequested in block #{w.block_number}",
        failures=0, relay_tx_hash=None, prove_tx_hash=None, claim_tx_hash=None, proof_time=None,
        created_at=now, updated_at=now,
    )


def store_requests(session: Session, logs: Sequence[WatchedLog]) -> list[BridgeOrder]:
    """Create a Seen order for every new BridgeRequested (dedupe by transactionId), in the watcher's
    storing transaction. A request seen again in another block (re-included after a reorg) moves the
    order's origin block to where it is now. Returns the orders created, exactly as stored."""
    requested = [w for w in logs if w.request is not None and w.event.name == BRIDGE_REQUESTED.name]
    if not requested:
        return []
    by_id: dict[str, WatchedLog] = {}
    for w in requested:
        by_id[_hex(w.event.args["transactionId"])] = w
    connection = session.connection()
    existing = dict(connection.execute(_ORIGIN_BLOCKS_BY_ID, {"ids": sorted(by_id)}).all())
    rows = []
    created: list[BridgeOrder] = []
    now = datetime.now(UTC)
    for txid, w in by_id.items():
        if txid in existing:
            if existing[txid] != _hex(w.block_hash):
                _MOVE_ORIGIN_LOG.run(session, {
                    "txid": txid, "to_number": w.block_number, "to_hash": _hex(w.block_hash),
                    "to_tx_hash": _hex(w.raw.tx_hash), "to_log_index": w.raw.log_index})
            continue
        rows.append(new_order_row(w, now))
    if rows:
        insert_ignore(session, BridgeOrder, rows)
        _INSERT_TRANSITIONS.run(session, [_seen_entry(by_id[row["transaction_id"]], now) for row in rows])
        created = [plain_order(row) for row in rows]
    return created


def _seen_entry(w: WatchedLog, now: datetime) -> dict[str, Any]:
    """The trace entry of an order's creation from its BridgeRequested."""
    gate = Gate("origin_log", True, f"#{w.block_number}", "", f"BridgeRequested in block "
                f"#{w.block_number} on chain {w.chain_id}")
    return dict(transaction_id=_hex(w.event.args["transactionId"]), from_status=None, to_status=int(OrderStatus.Seen),
                chain_id=w.chain_id, chain_time=w.block_timestamp, wall_time=now, reasons=[gate_to_json(gate)],
                tx_hash=_hex(w.raw.tx_hash))


def create_order(session: Session, w: WatchedLog, steps: Sequence[Step], *, chain_id: int, chain_time: int,
                 fields: Mapping[str, Any] | None = None) -> BridgeOrder | None:
    """A new order stored straight at the last of `steps`, in the caller's transaction: its row, its creation
    entry as `store_requests` writes it, then one trace entry per step (checked against the state machine).
    For the relayer's intake, which decides and relays a request before the watcher stores it (the watcher
    then finds the order). None when the order exists already: nothing was written."""
    now = datetime.now(UTC)
    row = new_order_row(w, now)
    entries = [_seen_entry(w, now), *_trace_entries(row["transaction_id"], OrderStatus.Seen, steps, chain_id=chain_id,
                                               chain_time=chain_time, rollback=False, now=now)]
    row.update(status=int(steps[-1].to_status), last_reason=summary(steps[-1].reasons)[:2000], **(fields or {}))
    if insert_ignore(session, BridgeOrder, [row]) == 0:
        return None
    _INSERT_TRANSITIONS.run(session, entries)
    return plain_order(row)


class Step(NamedTuple):
    """One status change of a move: where to, why, and the transaction it records (if any)."""

    to_status: OrderStatus
    reasons: Sequence[Gate]
    tx_hash: str | None = None


_ORDER_TABLE = BridgeOrder.__table__
_ORDER_KEYS = tuple(c.key for c in _ORDER_TABLE.columns)
# built once: every wake of an order reads it, every decision moves it
_ORDER_BY_ID = Prepared(select(_ORDER_TABLE).where(_ORDER_TABLE.c.transaction_id == bindparam("txid")))
_STATUS_BY_ID = Prepared(select(_ORDER_TABLE.c.status).where(_ORDER_TABLE.c.transaction_id == bindparam("txid")))
_MOVES: dict[tuple[tuple[str, ...], bool], Prepared] = {}


def plain_order(row: Mapping[str, Any]) -> BridgeOrder:
    """A BridgeOrder outside any session, from a row's columns: safe to hand out once the session closes."""
    return detached(BridgeOrder, {key: row[key] for key in _ORDER_KEYS})


def read_order(session: Session, transaction_id: str) -> BridgeOrder | None:
    row = _ORDER_BY_ID.mapping(session, {"txid": transaction_id})
    return plain_order(row) if row is not None else None


def _move_statement(fields: tuple[str, ...], new_reason_only: bool) -> Prepared:
    """UPDATE ... WHERE the order is still in the expected status, RETURNING the row (built once per shape).
    Bound names differ from the column names: SQLAlchemy reserves those in a statement that sets them."""
    key = (fields, new_reason_only)
    statement = _MOVES.get(key)
    if statement is None:
        c = _ORDER_TABLE.c
        where = [c.transaction_id == bindparam("txid"), c.status == bindparam("expect")]
        if new_reason_only:
            where.append(or_(c.last_reason.is_(None), c.last_reason != bindparam("new_reason")))
        statement = _MOVES[key] = Prepared(
            update(_ORDER_TABLE).where(*where)
            .values(status=bindparam("new_status"), last_reason=bindparam("new_reason"),
                    updated_at=bindparam("new_updated_at"), **{f: bindparam("set_" + f) for f in fields})
            .returning(*_ORDER_TABLE.columns))
    return statement


def _trace_entries(transaction_id: str, expect: OrderStatus, steps: Sequence[Step], *, chain_id: int,
                   chain_time: int, rollback: bool, now: datetime) -> list[dict[str, Any]]:
    """One trace entry per step from `expect`, each checked against the state machine (`rollback`: a single
    step back); raises before anything is written."""
    current = expect
    entries = []
    for step in steps:
        (check_rollback if rollback else check_transition)(current, step.to_status)
        entries.append(dict(
            transaction_id=transaction_id, from_status=int(current), to_status=int(step.to_status),
            chain_id=chain_id, chain_time=chain_time, wall_time=now,
            reasons=[gate_to_json(g) for g in step.reasons], tx_hash=step.tx_hash))
        current = step.to_status
    return entries


def move_order(session: Session, transaction_id: str, expect: OrderStatus, steps: Sequence[Step], *,
               chain_id: int, chain_time: int, rollback: bool = False, fields: Mapping[str, Any] | None = None,
               new_reason_only: bool = False) -> BridgeOrder | None:
    """Record `steps`, in order, for an order that is still in `expect`: one guarded UPDATE of the order
    (its last step's status and reason, plus `fields`) and one trace entry per step, in the caller's
    transaction. Each step is checked against the state machine first (`rollback`: a single step back).
    Returns the order as stored after the move, or None when it is not in `expect` any more (or, with
    `new_reason_only`, already stays there for the same reason): nothing was written then."""
    fields = dict(fields or {})
    now = datetime.now(UTC)
    transitions = _trace_entries(transaction_id, expect, steps, chain_id=chain_id, chain_time=chain_time,
                                 rollback=rollback, now=now)
    row = _move_statement(tuple(sorted(fields)), new_reason_only).mapping(session, {
        "txid": transaction_id, "expect": int(expect), "new_status": int(steps[-1].to_status),
        "new_reason": summary(steps[-1].reasons)[:2000], "new_updated_at": now,
        **{"set_" + key: value for key, value in fields.items()}})
    if row is None:
        return None
    _INSERT_TRANSITIONS.run(session, transitions)
    return plain_order(row)


def order_status(session: Session, transaction_id: str) -> OrderStatus | None:
    status = _STATUS_BY_ID.scalar(session, {"txid": transaction_id})
    return OrderStatus(status) if status is not None else None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A decoded bridge event about one order, as stored by a watcher."""

    chain_id: int
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @classmethod
    def of(cls, log: WatchedLog) -> OrderEvent:
        """The event of a log the watcher has just stored, as `order_events` would read it back."""
        return cls(log.chain_id, log.event.name, dict(log.event.args), log.block_number, _hex(log.block_hash),
                   _hex(log.raw.tx_hash), log.raw.log_index)

    @property
    def position(self) -> tuple[int, int, int]:
        """Where it sits in an order's events: chain order, as `order_events` reads them."""
        return self.chain_id, self.block_number, self.log_index

    @property
    def relayer(self) -> str | None:
        value = self.args.get("relayer")
        return value if isinstance(value, str) else None


@functools.lru_cache(maxsize=2048)
def _decoded(topics: tuple[str, ...], data: bytes) -> DecodedEvent:
    """A stored log decoded once, not at every wake of its order (a few KB per entry; ABI decoding was
    ~4 % of the engine's CPU). Callers copy `args` before handing it on."""
    return decode_event([bytes.fromhex(t[2:]) for t in topics], data)


def order_events(session: Session, transaction_id: str) -> list[OrderEvent]:
    """Every stored bridge event of an order, on any chain, in chain order. Logs that do not decode
    were dead-lettered when stored and are skipped here."""
    return _events(_EVENTS_OF_ORDER.rows(session, {"txid": transaction_id}))


def events_of_orders(session: Session, transaction_ids: Sequence[str]) -> dict[str, list[OrderEvent]]:
    """`order_events` of several orders in one statement."""
    by_order: dict[str, list] = {}
    for r in session.connection().execute(_EVENTS_OF_ORDERS, {"txids": list(transaction_ids)}).all():
        by_order.setdefault(r[0], []).append(tuple(r)[1:])
    return {txid: _events(rows) for txid, rows in by_order.items()}


def _events(rows: Sequence[Sequence[Any]]) -> list[OrderEvent]:
    """OrderEvents of `_EVENTS_OF_ORDER`'s rows."""
    out = []
    for chain_id, topics, data, block_number, block_hash, tx_hash, log_index in rows:
        try:
            event = _decoded(tuple(topics), bytes(data))
        except ValueError:
            continue
        out.append(OrderEvent(chain_id, event.name, dict(event.args), block_number, block_hash, tx_hash, log_index))
    return out


async def load_history(db: Database, transaction_id: str) -> tuple[BridgeOrder | None, list[OrderTransition],
                                                                    list[OutboundTx], dict[tuple[int, str, int], int]]:
    """The order, its transitions, the transactions sent for it, and how many orders each batch among them
    served, by (chain, signer, nonce)."""
    async with db.read() as s:
        order = await s.get(BridgeOrder, transaction_id)
        if order is None:
            return None, [], [], {}
        transitions = list((await s.scalars(
            select(OrderTransition).where(OrderTransition.transaction_id == transaction_id)
            .order_by(OrderTransition.id))).all())
        txs = sorted(await s.run_sync(order_attempts, transaction_id), key=lambda r: (r.created_at, r.id))
        sizes = {key: len(await s.run_sync(batch_members, *key))
                 for key in {(r.chain_id, r.signer, r.nonce) for r in txs if r.transaction_id is None}}
    return order, transitions, txs, sizes
