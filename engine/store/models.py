"""The relay engine's tables: one declarative model set for SQLite and PostgreSQL.

Conventions: 32-byte values and addresses are lowercase ``0x`` hex (``Bytes32Hex``/``AddressHex``),
raw bytes are ``LargeBinary``, every on-chain uint256 is ``Uint256``, every wall-clock timestamp is
an aware UTC ``UtcDateTime``; chain time (block timestamps) is a plain integer of unix seconds.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, configure_mappers, mapped_column

from engine.store.types import AddressHex, AutoId, Bytes32Hex, Uint256, UtcDateTime, utc_now

# Deterministic constraint names, so later migrations can drop or alter them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Relayer order statuses (REFERENCE §2) plus Refunded; the state machine owns their meaning.
ORDER_STATUS_MIN = 1  # Seen
ORDER_STATUS_MAX = 14  # Refunded

TX_PURPOSES = ("relay", "prove", "claim", "approve", "cancel", "self_transfer", "rebalance")
TX_STATES = ("signed", "broadcast", "mined", "failed", "replaced", "dropped")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_Model = TypeVar("_Model", bound=Base)


def detached(model: type[_Model], values: Mapping[str, Any]) -> _Model:
    """An instance of `model` in no session whose attributes are `values` (column keys): for a row the
    engine wrote or read through Core and hands out to be read. Built without the ORM's event per
    attribute set, ~10x cheaper than the constructor: new orders and their relays make several."""
    if not model.__mapper__.configured:
        configure_mappers()  # what the constructor's first call would do
    instance = model._sa_class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


class ChainCursor(Base):
    """How far a chain's watcher has durably processed."""

    __tablename__ = "chain_cursor"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(Bytes32Hex())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)


class RecentBlock(Base):
    """Recent canonical blocks per chain: a reorg shows as a parent hash that no longer matches."""

    __tablename__ = "recent_block"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(Bytes32Hex())
    parent_hash: Mapped[str] = mapped_column(Bytes32Hex())
    timestamp: Mapped[int] = mapped_column(BigInteger)  # chain time, unix seconds


class ChainLog(Base):
    """Every contract log the watchers kept, stored once (dedupe key: chain, tx hash, log index)."""

    __tablename__ = "chain_log"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index"),
        Index(None, "chain_id", "block_number"),
        # an order's logs in chain order (read at a wake) and "is its request still stored on chain X" (asked
        # in every relay's write): with the transaction id alone, SQLite took (chain, block) and scanned the chain
        Index(None, "transaction_id", "chain_id", "block_number", "log_index"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(Bytes32Hex())
    tx_hash: Mapped[str] = mapped_column(Bytes32Hex())
    log_index: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(AddressHex())
    topic0: Mapped[str | None] = mapped_column(Bytes32Hex())  # anonymous events have none
    topics: Mapped[list[Any]] = mapped_column(JSON)  # all topics, lowercase hex strings
    data: Mapped[bytes] = mapped_column(LargeBinary)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The order a bridge event speaks of (its first indexed topic): an order's on-chain facts by one lookup.
    transaction_id: Mapped[str | None] = mapped_column(Bytes32Hex())
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


class BridgeOrder(Base):
    """A FastBridge order as the relayer knows it: the decoded request plus our progress on it."""

    __tablename__ = "bridge_order"
    __table_args__ = (
        CheckConstraint(
            f"status BETWEEN {ORDER_STATUS_MIN} AND {ORDER_STATUS_MAX}", name="status_range"
        ),
        Index(None, "status"),
        Index(None, "dest_chain_id", "dest_token", "status"),
        Index(None, "updated_at"),
    )

    transaction_id: Mapped[str] = mapped_column(Bytes32Hex(), primary_key=True)  # keccak(request)
    request: Mapped[bytes] = mapped_column(LargeBinary)  # byte-exact, reused in relay/prove/claim
    version: Mapped[int] = mapped_column(SmallInteger)
    origin_chain_id: Mapped[int] = mapped_column(BigInteger)
    dest_chain_id: Mapped[int] = mapped_column(BigInteger)
    origin_sender: Mapped[str] = mapped_column(AddressHex())
    dest_recipient: Mapped[str] = mapped_column(AddressHex())
    origin_token: Mapped[str] = mapped_column(AddressHex())
    dest_token: Mapped[str] = mapped_column(AddressHex())
    origin_amount: Mapped[int] = mapped_column(Uint256())
    dest_amount: Mapped[int] = mapped_column(Uint256())
    origin_fee_amount: Mapped[int] = mapped_column(Uint256())
    deadline: Mapped[int] = mapped_column(Uint256())
    nonce: Mapped[int] = mapped_column(Uint256())
    # V2-only request fields; NULL for V1 requests.
    exclusivity_relayer: Mapped[str | None] = mapped_column(AddressHex())
    exclusivity_end_time: Mapped[int | None] = mapped_column(Uint256())
    zap_native: Mapped[int | None] = mapped_column(Uint256())
    zap_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    send_chain_gas: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the BridgeRequested log was seen (reorg checks and confirmations).
    origin_block_number: Mapped[int] = mapped_column(BigInteger)
    origin_block_hash: Mapped[str] = mapped_column(Bytes32Hex())
    origin_tx_hash: Mapped[str] = mapped_column(Bytes32Hex())
    origin_log_index: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(SmallInteger)
    last_reason: Mapped[str | None] = mapped_column(Text)
    relay_tx_hash: Mapped[str | None] = mapped_column(Bytes32Hex())
    prove_tx_hash: Mapped[str | None] = mapped_column(Bytes32Hex())
    claim_tx_hash: Mapped[str | None] = mapped_column(Bytes32Hex())
    failures: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")  # of the current step
    proof_time: Mapped[int | None] = mapped_column(BigInteger)  # origin chain time of our accepted proof
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)


class OrderTransition(Base):
    """The decision trace: every status change of an order and the gates that decided it.

    ``reasons`` is a list of ``{"gate", "value", "threshold", "passed", "text"}`` objects.
    """

    __tablename__ = "order_transition"
    __table_args__ = (Index(None, "transaction_id", "id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(
        Bytes32Hex(), ForeignKey("bridge_order.transaction_id")
    )
    from_status: Mapped[int | None] = mapped_column(SmallInteger)  # NULL when the order appears
    to_status: Mapped[int] = mapped_column(SmallInteger)
    chain_id: Mapped[int] = mapped_column(BigInteger)  # whose clock decided
    chain_time: Mapped[int] = mapped_column(BigInteger)  # that chain's block timestamp
    wall_time: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tx_hash: Mapped[str | None] = mapped_column(Bytes32Hex())


class SignerNonce(Base):
    """The next nonce to allocate per chain and signer (reconciled with the pending nonce)."""

    __tablename__ = "signer_nonce"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    signer: Mapped[str] = mapped_column(AddressHex(), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class OutboundTx(Base):
    """One signed transaction attempt; the signed bytes are stored before they are broadcast.

    A fee bump or a self-transfer replacement is a new row at the same nonce with the next attempt.
    """

    __tablename__ = "outbound_tx"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash"),
        # Also serves the (chain_id, signer, nonce) lookups.
        UniqueConstraint("chain_id", "signer", "nonce", "attempt"),
        CheckConstraint(_one_of("purpose", TX_PURPOSES), name="purpose"),
        CheckConstraint(_one_of("state", TX_STATES), name="state"),
        Index(None, "state"),
        Index(None, "transaction_id"),
        # a signer's live attempts, read at every send: without it the (chain, signer) prefix of the
        # unique constraint is chosen and every attempt the signer ever made is scanned
        Index(None, "chain_id", "signer", "state"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[str] = mapped_column(AddressHex())
    nonce: Mapped[int] = mapped_column(BigInteger)
    attempt: Mapped[int] = mapped_column(SmallInteger, default=0)
    purpose: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str | None] = mapped_column(
        Bytes32Hex(), ForeignKey("bridge_order.transaction_id")
    )
    to_address: Mapped[str] = mapped_column(AddressHex())
    value: Mapped[int] = mapped_column(Uint256(), default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int] = mapped_column(Uint256())
    max_priority_fee_per_gas: Mapped[int] = mapped_column(Uint256())
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    tx_hash: Mapped[str] = mapped_column(Bytes32Hex())
    state: Mapped[str] = mapped_column(String(16), default="signed")
    receipt_status: Mapped[int | None] = mapped_column(SmallInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(Bytes32Hex())
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    broadcast_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    mined_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BatchMember(Base):
    """An order a batched transaction (one ``multicallNoResults`` of several proves or claims) serves. Keyed by
    the nonce, not an attempt: a fee bump of the batch, or the self-transfer that replaces it, serves the same
    orders. Its outbound_tx rows have no transaction_id of their own."""

    __tablename__ = "batch_member"
    __table_args__ = (Index(None, "transaction_id"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signer: Mapped[str] = mapped_column(AddressHex(), primary_key=True)
    nonce: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[str] = mapped_column(
        Bytes32Hex(), ForeignKey("bridge_order.transaction_id"), primary_key=True)


class OperatorJournal(Base):
    """Every operator command, accepted or refused, with its result."""

    __tablename__ = "operator_journal"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    actor: Mapped[str] = mapped_column(String(128))
    command: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ok: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """A log the engine could not process, set aside so it never blocks its chain."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index(None, "resolved_at"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(Bytes32Hex())
    log_index: Mapped[int | None] = mapped_column(BigInteger)
    topic0: Mapped[str | None] = mapped_column(Bytes32Hex())
    error: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class EngineFlag(Base):
    """Persisted engine switches (armed, frozen, ...), so a restart keeps the operator's choice."""

    __tablename__ = "engine_flag"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)


REBALANCE_STATES = ("proposed", "initiated", "pending", "done", "failed", "rejected")
REBALANCE_ACTIVE_STATES = ("proposed", "initiated", "pending")


class Rebalance(Base):
    """A rebalance of one token between two chains: proposed by the canonical algorithm, approved by the
    operator (or automatic), then executed through its method. `progress` holds the executor's state
    between steps (for CCTP: the transactions sent, the burn message and its attestation)."""

    __tablename__ = "rebalance"
    __table_args__ = (
        Index(None, "state"),
        CheckConstraint(_one_of("state", REBALANCE_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    origin_chain_id: Mapped[int] = mapped_column(BigInteger)
    dest_chain_id: Mapped[int] = mapped_column(BigInteger)
    origin_token: Mapped[str] = mapped_column(AddressHex())
    dest_token: Mapped[str] = mapped_column(AddressHex())
    amount: Mapped[int] = mapped_column(Uint256())
    decimals: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)
