"""Orders in the database: creation from BridgeRequested logs, status changes with their decision
trace, and reading an order's whole history back.

Every status change goes through `record` (or `record_rollback`): the transition is checked against
the state machine, the order row and its trace entry are written in the caller's transaction, so a
status and the reasons for it are never apart.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from engine.chain.watcher import WatchedLog
from engine.protocol.events import BRIDGE_REQUESTED, decode_event
from engine.relayer.decisions import Gate
from engine.relayer.statuses import OrderStatus, check_rollback, check_transition
from engine.store import BridgeOrder, ChainLog, Database, OrderTransition, OutboundTx, insert_ignore


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
_ORDERS_BY_ID = select(BridgeOrder).where(BridgeOrder.transaction_id.in_(bindparam("ids", expanding=True)))
_INSERT_TRANSITIONS = insert(OrderTransition.__table__)


# the columns an OrderEvent needs (not whole rows), in chain order; built once: read at every wake of an order
_EVENTS_OF_ORDER = (select(ChainLog.chain_id, ChainLog.topics, ChainLog.data, ChainLog.block_number,
                           ChainLog.block_hash, ChainLog.tx_hash)
                    .where(ChainLog.transaction_id == bindparam("txid"))
                    .order_by(ChainLog.chain_id, ChainLog.block_number, ChainLog.log_index))


def store_requests(session: Session, logs: Sequence[WatchedLog]) -> list[str]:
    """Create a Seen order for every new BridgeRequested (dedupe by transactionId), in the watcher's
    storing transaction. A request seen again in another block (re-included after a reorg) moves the
    order's origin block to where it is now. Returns the transaction ids of the orders created."""
    requested = [w for w in logs if w.request is not None and w.event.name == BRIDGE_REQUESTED.name]
    if not requested:
        return []
    by_id: dict[str, WatchedLog] = {}
    for w in requested:
        by_id[_hex(w.event.args["transactionId"])] = w
    existing = {
        row.transaction_id: row for row in session.scalars(_ORDERS_BY_ID, {"ids": sorted(by_id)}).all()
    }
    rows = []
    created: list[str] = []
    for txid, w in by_id.items():
        if txid in existing:
            order = existing[txid]
            if order.origin_block_hash != _hex(w.block_hash):
                order.origin_block_number = w.block_number
                order.origin_block_hash = _hex(w.block_hash)
                order.origin_tx_hash = _hex(w.raw.tx_hash)
                order.origin_log_index = w.raw.log_index
            continue
        r = w.request
        assert r is not None
        rows.append(dict(
            transaction_id=txid, request=bytes(w.event.args["request"]), version=r.version,
            origin_chain_id=r.origin_chain_id, dest_chain_id=r.dest_chain_id,
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
            failures=0,
        ))
    if rows:
        insert_ignore(session, BridgeOrder, rows)
        transitions = []
        for row in rows:
            w = by_id[row["transaction_id"]]
            gate = Gate("origin_log", True, f"#{w.block_number}", "", f"BridgeRequested in block "
                        f"#{w.block_number} on chain {w.chain_id}")
            transitions.append(dict(
                transaction_id=row["transaction_id"], from_status=None, to_status=int(OrderStatus.Seen),
                chain_id=w.chain_id, chain_time=w.block_timestamp, reasons=[gate_to_json(gate)],
                tx_hash=_hex(w.raw.tx_hash)))
            created.append(row["transaction_id"])
        session.connection().execute(_INSERT_TRANSITIONS, transitions)
    return created


def _write(session: Session, order: BridgeOrder, to_status: OrderStatus, reasons: Sequence[Gate], *,
           chain_id: int, chain_time: int, tx_hash: str | None) -> None:
    from_status = OrderStatus(order.status)
    order.status = int(to_status)
    order.last_reason = summary(reasons)[:2000]
    order.updated_at = datetime.now(UTC)
    session.add(OrderTransition(
        transaction_id=order.transaction_id, from_status=int(from_status), to_status=int(to_status),
        chain_id=chain_id, chain_time=chain_time, reasons=[gate_to_json(g) for g in reasons], tx_hash=tx_hash))


def record(session: Session, order: BridgeOrder, to_status: OrderStatus, reasons: Sequence[Gate], *,
           chain_id: int, chain_time: int, tx_hash: str | None = None) -> None:
    """A forward status change (or, with to_status == the current status, a new reason for staying)."""
    check_transition(OrderStatus(order.status), to_status)
    _write(session, order, to_status, reasons, chain_id=chain_id, chain_time=chain_time, tx_hash=tx_hash)


def record_rollback(session: Session, order: BridgeOrder, to_status: OrderStatus, reasons: Sequence[Gate],
                    *, chain_id: int, chain_time: int, tx_hash: str | None = None) -> None:
    """A step back because a fact vanished (reorg) or an attempt failed and must be made again."""
    check_rollback(OrderStatus(order.status), to_status)
    _write(session, order, to_status, reasons, chain_id=chain_id, chain_time=chain_time, tx_hash=tx_hash)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A decoded bridge event about one order, as stored by a watcher."""

    chain_id: int
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str

    @property
    def relayer(self) -> str | None:
        value = self.args.get("relayer")
        return value if isinstance(value, str) else None


def order_events(session: Session, transaction_id: str) -> list[OrderEvent]:
    """Every stored bridge event of an order, on any chain, in chain order. Logs that do not decode
    were dead-lettered when stored and are skipped here."""
    rows = session.execute(_EVENTS_OF_ORDER, {"txid": transaction_id}).all()
    out = []
    for r in rows:
        try:
            event = decode_event([bytes.fromhex(t[2:]) for t in r.topics], bytes(r.data))
        except ValueError:
            continue
        out.append(OrderEvent(r.chain_id, event.name, dict(event.args), r.block_number, r.block_hash, r.tx_hash))
    return out


async def load_history(db: Database, transaction_id: str) -> tuple[BridgeOrder | None, list[OrderTransition],
                                                                    list[OutboundTx]]:
    async with db.read() as s:
        order = await s.get(BridgeOrder, transaction_id)
        if order is None:
            return None, [], []
        transitions = list((await s.scalars(
            select(OrderTransition).where(OrderTransition.transaction_id == transaction_id)
            .order_by(OrderTransition.id))).all())
        txs = list((await s.scalars(
            select(OutboundTx).where(OutboundTx.transaction_id == transaction_id)
            .order_by(OutboundTx.created_at, OutboundTx.id))).all())
    return order, transitions, txs
