"""Durable transaction submission for one chain and one signer (REFERENCE §5).

Life of a transaction
---------------------
``submit`` estimates gas (+20 %) and fees first, then in ONE write transaction: locks the
``signer_nonce`` row, allocates the next nonce (never below a nonce we already stored), checks that
``value + gas_limit * max_fee`` fits in the gas balance minus what our other unmined nonces may still
spend, signs, stores the attempt as ``signed`` with its raw bytes and hash, and COMMITS. Only then is
the raw transaction broadcast (``signed`` -> ``broadcast``). A crash in between leaves a ``signed`` row
that ``reconcile``/``tick`` re-broadcast: the same bytes, idempotent by hash.

``tick`` (each new head) looks at every unfinished nonce:
* a receipt for one attempt settles the nonce: status 1 -> ``mined``, status 0 -> ``failed`` (final,
  never retried: the caller decides), every other live attempt of the nonce -> ``replaced``;
* the nonce consumed on chain by a transaction that is none of ours -> every attempt ``dropped``;
* ``signed`` attempts are (re-)broadcast;
* the newest attempt older than ``bump_after_seconds`` -> a replacement at the SAME nonce, attempt+1,
  fees +12.5 % or more (FeePolicy.bump), within the fee ceiling and the gas balance; when it cannot
  bump, it keeps waiting and reports the nonce as stuck.
A nonce whose transaction the node rejects permanently (intrinsic gas, gas limit, invalid...) is filled
with a 0-value self-transfer so that later nonces are not stuck.

``reconcile`` (at start): next nonce = max(stored next, chain pending count, highest stored nonce + 1);
nonces in [chain pending, next) with no live or mined attempt get a self-transfer; every live attempt is
re-broadcast; then one ``tick``.

State of a nonce's attempts: signed/broadcast = live; mined / failed(receipt_status 0) = the winner;
replaced = lost to another attempt; failed with no receipt = rejected by the node; dropped = never mined.

The private key stays in the eth_account LocalAccount and the submitter's signing key object: it is never
logged, stored or put in a message.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from functools import partial
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session, defer

from engine.chain.ahead import ReadsAhead
from engine.chain.fees import FeePolicy, Fees
from engine.chain.signing import Eip1559Signer, Eip1559Tx
from engine.chain.rpc import (
    AlreadyKnown,
    ChainRpc,
    FeeTooLow,
    NonceTooHigh,
    NonceTooLow,
    PoolFull,
    ReplacementUnderpriced,
    RpcError,
    RpcUnavailable,
    TxRejected,
)
from engine.protocol.codec import checksum_address
from engine.store import BatchMember, Database, OutboundTx, SignerNonce, insert_ignore
from engine.store.models import TX_PURPOSES, detached
from engine.store.prepared import Prepared

log = logging.getLogger(__name__)

UINT256_MAX = 2**256 - 1
APPROVE_SELECTOR = bytes.fromhex("095ea7b3")
ALLOWANCE_SELECTOR = bytes.fromhex("dd62ed3e")
SELF_TRANSFER_GAS = 21_000

LIVE_STATES = ("signed", "broadcast")
FEES_MAX_AGE_SECONDS = 1.0
#: a gas balance the engine read this recently, with no transaction of ours settled since, stands in for a new read
#: (only our own transactions spend it, and those still live are reserved at every send)
GAS_BALANCE_MAX_AGE_SECONDS = 2.0
# runs inside the write that stores the signed attempt (Database.run_write), once it is signed and before its row
# is inserted (the row has no id yet): a plain function, no awaits
OnPersist = Callable[[Session, OutboundTx], None]
# a signed attempt stored with one statement built once (not an ORM flush); its id comes back from the insert
_INSERT_ATTEMPT = Prepared(insert(OutboundTx.__table__).returning(OutboundTx.__table__.c.id))
_ATTEMPT_KEYS = tuple(c.key for c in OutboundTx.__table__.columns if c.key != "id")
# Rejections that may pass later (fees, pool, a nonce gap being filled, an earlier attempt in the pool).
_RETRYABLE_REJECTIONS = (FeeTooLow, PoolFull, NonceTooHigh, ReplacementUnderpriced)


# --------------------------------------------------------------------------------------------------
# Public types
# --------------------------------------------------------------------------------------------------


class SubmitError(RuntimeError):
    """submit() refused before anything was allocated or stored."""


class InsufficientGasBalance(SubmitError):
    def __init__(self, chain_id: int, signer: str, needed: int, balance: int, reserved: int) -> None:
        self.chain_id, self.signer = chain_id, signer
        self.needed, self.balance, self.reserved = needed, balance, reserved
        super().__init__(
            f"chain {chain_id}: insufficient gas balance for {signer}: the transaction may cost "
            f"{_eth(needed)} ETH (value + gas limit x max fee) but only {_eth(balance - reserved)} ETH is "
            f"available (balance {_eth(balance)} ETH, {_eth(reserved)} ETH reserved by pending transactions); "
            "nothing was sent and no nonce was used")


class FeesAboveCeiling(SubmitError):
    def __init__(self, chain_id: int, fees: Fees, ceiling: int) -> None:
        self.fees, self.ceiling = fees, ceiling
        super().__init__(
            f"chain {chain_id}: the next base fee ({_gwei(fees.base_fee)} gwei) is above the fee ceiling "
            f"({_gwei(ceiling)} gwei): not sending now; nothing was allocated")


class StaleBalance(SubmitError):
    """Our transactions settled while the gas balance was being read: read it again."""


@dataclass(frozen=True, slots=True)
class SendReads:
    """What a send read before its write (`read_for_send`); `balance` None: read it again."""

    to: str
    data: bytes
    value: int
    gas_limit: int
    fees: Fees
    purpose: str
    transaction_id: str | None
    balance: int | None
    settlements: int  # the submitter's settlement count when `balance` was read
    members: tuple[str, ...] = ()  # a batch: the orders it serves (its transaction_id is None)


class TxStatus(str, Enum):
    PENDING = "pending"
    MINED = "mined"  # mined and succeeded
    REVERTED = "reverted"  # mined with status 0 (final, not retried)
    DROPPED = "dropped"  # will never be mined (rejected, nonce filled by another transaction)


@dataclass(frozen=True, slots=True)
class OutboundTxRef:
    """Identifies a submitted transaction: its nonce (all attempts) and the first attempt's row."""

    id: int
    chain_id: int
    signer: str  # lowercase
    nonce: int
    attempt: int
    tx_hash: str
    purpose: str
    transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class TxOutcome:
    status: TxStatus
    ref: OutboundTxRef
    tx_hash: str  # the winning attempt's hash when settled, else the newest attempt's
    block_number: int | None = None
    block_hash: str | None = None
    attempts: int = 1
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.status is not TxStatus.PENDING

    @property
    def ok(self) -> bool:
        return self.status is TxStatus.MINED


@dataclass(frozen=True, slots=True)
class OutboundTxView:
    """A snapshot of one stored attempt (no raw bytes)."""

    id: int
    chain_id: int
    signer: str
    nonce: int
    attempt: int
    purpose: str
    transaction_id: str | None
    to_address: str
    value: int
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    tx_hash: str
    state: str
    receipt_status: int | None
    block_number: int | None
    error: str | None
    created_at: datetime
    broadcast_at: datetime | None
    mined_at: datetime | None
    members: tuple[str, ...] = ()  # a batch's orders (transaction_id is None), where the reader looked them up

    @classmethod
    def of(cls, row: OutboundTx, members: tuple[str, ...] = ()) -> OutboundTxView:
        return cls(row.id, row.chain_id, row.signer, row.nonce, row.attempt, row.purpose, row.transaction_id,
                   row.to_address, row.value, row.gas_limit, row.max_fee_per_gas, row.max_priority_fee_per_gas,
                   row.tx_hash, row.state, row.receipt_status, row.block_number, row.error, row.created_at,
                   row.broadcast_at, row.mined_at, members)

    @property
    def orders(self) -> tuple[str, ...]:
        """The orders this attempt serves: its own, or a batch's members."""
        return (self.transaction_id,) if self.transaction_id else self.members


@dataclass
class TickReport:
    mined: list[OutboundTxView] = field(default_factory=list)
    reverted: list[OutboundTxView] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)  # nonces
    rebroadcast: list[str] = field(default_factory=list)  # tx hashes
    bumped: list[OutboundTxView] = field(default_factory=list)  # the new attempts
    filled: list[OutboundTxView] = field(default_factory=list)  # self-transfers created
    stuck: list[tuple[int, str]] = field(default_factory=list)  # (nonce, why it could not be bumped)
    errors: list[str] = field(default_factory=list)
    # live attempts left after the tick's settlements, plus its new ones (sends meanwhile count next tick)
    still_live: int = 0

    @property
    def empty(self) -> bool:
        return not any((self.mined, self.reverted, self.dropped, self.rebroadcast, self.bumped, self.filled,
                        self.stuck, self.errors))


def _eth(wei: int) -> str:
    return f"{Decimal(wei) / 10**18:f}"


def _gwei(wei: int) -> str:
    return f"{Decimal(wei) / 10**9:f}"


# a first send's record, written with the tick's next write (see _send_and_record)
_MARK_BROADCAST = Prepared(update(OutboundTx.__table__)
                           .where(OutboundTx.__table__.c.id == bindparam("row_id"),
                                  OutboundTx.__table__.c.state == "signed")
                           .values(state="broadcast", broadcast_at=bindparam("at"), error=None))


def _now() -> datetime:
    return datetime.now(UTC)


async def _ready(value: Any) -> Any:
    return value


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _fees(row: OutboundTx) -> Fees:
    return Fees(row.max_fee_per_gas, row.max_priority_fee_per_gas)


def _ref(row: OutboundTx) -> OutboundTxRef:
    return OutboundTxRef(row.id, row.chain_id, row.signer, row.nonce, row.attempt, row.tx_hash, row.purpose,
                         row.transaction_id)


def encode_approve(spender: str, amount: int) -> bytes:
    return APPROVE_SELECTOR + abi_encode(["address", "uint256"], [checksum_address(spender), amount])


def encode_allowance(owner: str, spender: str) -> bytes:
    return ALLOWANCE_SELECTOR + abi_encode(["address", "address"],
                                           [checksum_address(owner), checksum_address(spender)])


_LIGHT = (defer(OutboundTx.raw_tx), defer(OutboundTx.data))


def order_attempts(s: Session, transaction_id: str, *, light: bool = False) -> list[OutboundTx]:
    """Every attempt sent for an order, by chain, signer, nonce and attempt: its own, and every attempt at the
    nonce of a batch it is a member of (a bump of the batch, the self-transfer that replaced it). Each read
    uses an index. `light`: without the raw and call bytes."""
    txid = transaction_id.lower()
    options = _LIGHT if light else ()
    rows = list(s.scalars(select(OutboundTx).options(*options).where(OutboundTx.transaction_id == txid)))
    for chain_id, signer, nonce in s.execute(select(BatchMember.chain_id, BatchMember.signer, BatchMember.nonce)
                                             .where(BatchMember.transaction_id == txid)).all():
        rows.extend(s.scalars(select(OutboundTx).options(*options).where(
            OutboundTx.chain_id == chain_id, OutboundTx.signer == signer, OutboundTx.nonce == nonce)))
    return sorted(rows, key=lambda r: (r.chain_id, r.signer, r.nonce, r.attempt))


def batch_members(s: Session, chain_id: int, signer: str, nonce: int) -> tuple[str, ...]:
    """The orders a batch at this nonce serves (none: not a batch)."""
    return tuple(s.scalars(select(BatchMember.transaction_id).where(
        BatchMember.chain_id == chain_id, BatchMember.signer == signer, BatchMember.nonce == nonce)))


async def list_outbound_txs(db: Database, transaction_id: str) -> list[OutboundTxView]:
    """Every attempt stored for an order (all chains and signers, its batches' too), by chain, nonce and attempt."""
    async with db.read() as s:
        rows = await s.run_sync(order_attempts, transaction_id)
    return [OutboundTxView.of(r) for r in rows]


# --------------------------------------------------------------------------------------------------
# The submitter
# --------------------------------------------------------------------------------------------------


class TransactionSubmitter:
    """Durable nonce allocation, broadcast, receipt tracking and fee bumps for one (chain, signer)."""

    def __init__(
        self,
        db: Database,
        rpc: ChainRpc,
        account: LocalAccount,
        fee_policy: FeePolicy | None = None,
        *,
        bump_after_seconds: float = 30.0,
        gas_margin: Fraction = Fraction(6, 5),
    ) -> None:
        self.db = db
        self.rpc = rpc
        self.chain_id = rpc.expected_chain_id
        self.fees = fee_policy or FeePolicy(rpc)
        self.bump_after_seconds = bump_after_seconds
        self.gas_margin = gas_margin
        self._signing_key = Eip1559Signer(account)
        self.address = checksum_address(account.address)
        self.signer = self.address.lower()
        self._nonce_synced = False
        self._tick_lock = asyncio.Lock()
        self._stuck_warned: set[int] = set()
        # bumped whenever a transaction of ours leaves the live states because the chain spent its nonce:
        # a gas balance read before that may predate the spend (see _persist_new)
        self._settlements = 0
        self._noted_balance: tuple[int, int, float] | None = None  # (balance, settlements then, noted at)
        self._broadcast_marks: dict[int, datetime] = {}  # row id -> sent at, written with the next tick
        # the marks the running tick wrote: its snapshot of the live attempts still shows them "signed"
        self._marks_written: dict[int, datetime] = {}
        # first sends in flight: a tick meanwhile must not send the same bytes again (on an automining
        # node the first one is already mined, and the second is answered "nonce too low")
        self._sending: set[int] = set()
        self._sends_running: set[asyncio.Task] = set()  # broadcast_stored's tasks, referenced until done
        # (to, data, value) -> (settlements then, gas limit read, balance read)
        self._prefetched: ReadsAhead[tuple[str, bytes, int], tuple[int, asyncio.Future, asyncio.Future]] = ReadsAhead()
        # (to, selector, sends value) -> the gas limit the last estimate of such a call gave: the next such call is
        # checked at that limit by ONE eth_call (an estimate is a binary search of many executions: ~3x the time)
        self._known_limits: dict[tuple[str, bytes, bool], int] = {}
        # the statements of every allocation, built once (building one costs more than running it on SQLite)
        self._highest_nonce = Prepared(select(func.max(OutboundTx.nonce)).where(*self._mine()))
        nonce_key = (SignerNonce.chain_id == bindparam("of_chain"), SignerNonce.signer == bindparam("of_signer"))
        self._next_nonce = Prepared(select(SignerNonce.next_nonce).where(*nonce_key).with_for_update())
        self._move_next_nonce = Prepared(update(SignerNonce).where(*nonce_key).values(next_nonce=bindparam("new_next")))
        # the four columns only: loading whole rows (raw bytes and calldata) costs more than the sum
        self._live_costs = Prepared(select(OutboundTx.nonce, OutboundTx.value, OutboundTx.gas_limit,
                                           OutboundTx.max_fee_per_gas)
                                    .where(*self._mine(), OutboundTx.state.in_(LIVE_STATES)))
        # sorted by the caller: an ORDER BY here makes SQLite walk the (chain, signer, nonce) index through every
        # attempt the signer ever made, to save sorting a handful of rows
        self._live_attempts = (select(OutboundTx).options(*_LIGHT)
                               .where(*self._mine(), OutboundTx.state.in_(LIVE_STATES)))

    def __repr__(self) -> str:
        return f"TransactionSubmitter(chain {self.chain_id}, {self.address})"

    # ---------------------------------------------------------------- submit

    async def submit(
        self,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        *,
        purpose: str,
        transaction_id: str | None = None,
        members: Sequence[str] = (),
        gas_limit: int | None = None,
        on_persist: OnPersist | None = None,
        precheck: Awaitable[Any] | None = None,
    ) -> OutboundTxRef:
        """Allocate a nonce, sign, persist (committed), then broadcast. Returns the reference even when the
        broadcast outcome is unknown (tick re-broadcasts). Raises SubmitError subclasses, or the RPC's
        ExecutionReverted when the call reverts in the gas limit's simulation, before anything is allocated.

        `on_persist(session, row)` (a plain function) runs inside the transaction that stores the signed attempt: what it
        writes (e.g. the order's move to RelayStarted) commits together with the attempt, and if it
        raises, nothing is stored, no nonce is used and nothing is broadcast. `precheck`: the caller's own
        read, awaited alongside the reads a send needs; if it raises, nothing is allocated. `members`: a batch
        (one call serving several orders, `transaction_id` None): the orders it serves, stored with it."""
        row = await self._prepare_row(to, data, value, purpose=purpose, transaction_id=transaction_id,
                                      members=members, gas_limit=gas_limit, on_persist=on_persist, precheck=precheck)
        await self._broadcast(row.id, stored=row)
        return _ref(row)

    def prefetch(self, to: str, data: bytes, value: int = 0) -> None:
        """Start the reads a send of exactly this call needs (its gas limit, our gas balance) before the
        caller has decided to send it, so that they overlap the decision; `submit` of the same call takes
        them while they are young (`ReadsAhead`)."""
        key = (checksum_address(to), bytes(data), value)
        if not self._prefetched.room_for(key):
            return
        limit = asyncio.ensure_future(self._gas_limit(*key))
        settlements, balance_read = self._balance_read()
        balance = asyncio.ensure_future(balance_read)
        self._prefetched.keep(key, (settlements, limit, balance), limit, balance)

    @property
    def settlements(self) -> int:
        """How many of our transactions have left the live states so far: a gas balance read is stamped with it."""
        return self._settlements

    def note_gas_balance(self, balance: int, settlements: int) -> None:
        """Our gas balance as the engine's refresh read it, begun when `settlements` was this count: until one
        of our transactions settles (or it ages), a send takes it instead of reading the balance again."""
        self._noted_balance = (balance, settlements, time.monotonic())

    def _balance_read(self) -> tuple[int, Awaitable[int]]:
        """(settlements when read, our gas balance): the noted one while it stands, else a new read."""
        noted = self._noted_balance
        if noted is not None and noted[1] == self._settlements \
                and time.monotonic() - noted[2] <= GAS_BALANCE_MAX_AGE_SECONDS:
            return noted[1], _ready(noted[0])
        return self._settlements, self.rpc.get_balance(self.address, "latest")

    async def _gas_limit(self, to: str, data: bytes, value: int) -> int:
        """The gas limit a send of this call gets: the limit an earlier estimate gave a call of the same shape
        (contract, selector, with or without value), if this call runs at it without failing in one eth_call,
        which then behaves exactly as the transaction would; else the estimate plus the margin. A call
        that reverts raises what the estimate raises (ExecutionReverted)."""
        shape = (to, data[:4], value > 0)
        known = self._known_limits.get(shape)
        if known is not None:
            try:
                await self.rpc.call(to, data, from_address=self.address, value=value or None, gas=known)
                return known
            except RpcError:  # out of gas at that limit, a revert, or a failed read: the estimate tells which
                pass
        estimate = await self.rpc.estimate_gas(to, data, from_address=self.address, value=value or None)
        product = estimate * self.gas_margin
        limit = -(-product.numerator // product.denominator)
        self._known_limits[shape] = limit
        return limit

    def _take_prefetched(self, to: str, data: bytes, value: int) -> tuple[int, asyncio.Future, asyncio.Future] | None:
        return self._prefetched.take((to, data, value))

    async def _prepare(self, to: str, data: bytes | str = b"", value: int = 0, **kwargs: Any) -> OutboundTxRef:
        """Everything but the broadcast: the durable half of submit (state 'signed' when it returns)."""
        return _ref(await self._prepare_row(to, data, value, **kwargs))

    async def _prepare_row(
        self,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        *,
        purpose: str,
        transaction_id: str | None = None,
        members: Sequence[str] = (),
        gas_limit: int | None = None,
        on_persist: OnPersist | None = None,
        precheck: Awaitable[Any] | None = None,
    ) -> OutboundTx:
        if on_persist is not None and inspect.iscoroutinefunction(on_persist):
            raise TypeError("on_persist runs inside the write (Database.run_write): a plain function, not async")
        send = await self.read_for_send(to, data, value, purpose=purpose, transaction_id=transaction_id,
                                        members=members, gas_limit=gas_limit, precheck=precheck)
        return await self.store(send, on_persist=on_persist)

    async def read_for_send(
        self,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        *,
        purpose: str,
        transaction_id: str | None = None,
        members: Sequence[str] = (),
        gas_limit: int | None = None,
        precheck: Awaitable[Any] | None = None,
    ) -> SendReads:
        """The reads a send needs (fees, the gas limit, our gas balance) and the caller's `precheck`, at
        once and outside any write; raises what `submit` raises before anything is allocated. The result is
        stored by `store`."""
        if purpose not in TX_PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}; expected one of {', '.join(TX_PURPOSES)}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
            raise ValueError(f"value must be a uint256 int, got {value!r}")
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        data = bytes(data)
        to = checksum_address(to)
        if gas_limit is not None and gas_limit <= 0:
            raise ValueError("gas_limit must be positive")
        if members and transaction_id is not None:
            raise ValueError("a batch serves its members: it has no transaction_id of its own")
        # fees younger than a second are reused (the engine refreshes them on every head)
        prefetched = self._take_prefetched(to, data, value) if gas_limit is None else None
        if prefetched is not None:
            settlements, limit_read, balance_read = prefetched
        else:
            limit_read = self._gas_limit(to, data, value) if gas_limit is None else _ready(gas_limit)
            settlements, balance_read = self._balance_read()
        fees, gas_limit, balance, checked = await asyncio.gather(
            self.fees.suggest(max_age=FEES_MAX_AGE_SECONDS), limit_read, balance_read,
            precheck or _ready(None), return_exceptions=True)
        for outcome in (checked, fees, gas_limit, balance):
            if isinstance(outcome, BaseException):
                raise outcome
        if fees.capped and fees.max_fee_per_gas < fees.base_fee:
            raise FeesAboveCeiling(self.chain_id, fees, self.fees.ceiling_wei)
        return SendReads(to=to, data=data, value=value, gas_limit=gas_limit, fees=fees, purpose=purpose,
                         transaction_id=transaction_id, balance=balance, settlements=settlements,
                         members=tuple(m.lower() for m in members))

    async def store(self, send: SendReads, *, on_persist: OnPersist | None = None) -> OutboundTx:
        """The durable half of a send `read_for_send` read: the nonce allocated, the attempt signed and
        committed, with what `on_persist(session, row)` writes in the same transaction (if it raises,
        nothing is stored and no nonce is used). `broadcast_stored(row)` sends it."""
        row = await self._persist_new(send, on_persist=on_persist)
        log.info("chain %s: %s nonce %d signed (%s) %s", self.chain_id, row.purpose, row.nonce, send.fees,
                 row.tx_hash)
        return row

    def broadcast_stored(self, row: OutboundTx) -> asyncio.Task:
        """Send an attempt `store` stored, once its transaction has committed (a task: the caller's
        work goes on meanwhile; a tick will not send the same bytes while it runs)."""
        self._sending.add(row.id)
        task = asyncio.ensure_future(self._send_stored(row))
        self._sends_running.add(task)
        task.add_done_callback(self._sends_running.discard)
        return task

    async def _send_stored(self, row: OutboundTx) -> None:
        try:
            await self._send_and_record(row, None, first=True)
        except Exception:  # the row is stored: the tick sends it again
            log.exception("chain %s: broadcast of nonce %d failed; the tick will retry", self.chain_id, row.nonce)
        finally:
            self._sending.discard(row.id)

    async def _persist_new(self, send: SendReads, *, on_persist: OnPersist | None = None) -> OutboundTx:
        pending: int | None = None
        for _ in range(3):
            if not self._nonce_synced:
                pending = await self.rpc.get_transaction_count(self.address, "pending")
            if send.balance is None:
                settlements = self._settlements
                send = replace(send, balance=await self.rpc.get_balance(self.address, "latest"),
                               settlements=settlements)
            try:
                row = await self.db.run_write(partial(self._store_new, send=send, on_persist=on_persist,
                                                      pending=pending))
            except StaleBalance:
                send = replace(send, balance=None)
                continue
            self._nonce_synced = True  # only once the reconciled value is committed
            return row
        raise StaleBalance("our transactions kept settling while the gas balance was read")

    def _store_new(self, s: Session, send: SendReads, *, on_persist: OnPersist | None,
                   pending: int | None) -> OutboundTx:
        to, data, value, gas_limit, fees = send.to, send.data, send.value, send.gas_limit, send.fees
        balance = send.balance
        assert balance is not None
        next_nonce = self._locked_next_nonce(s, pending)
        highest = self._highest_nonce.scalar(s)
        nonce = max(next_nonce, -1 if highest is None else highest + 1)
        cost = value + gas_limit * fees.max_fee_per_gas
        reserved = self._reserved(s)
        if send.settlements != self._settlements:
            # a transaction of ours left `reserved` since the balance was read: its spend may be missing
            raise StaleBalance()
        if cost > balance - reserved:
            raise InsufficientGasBalance(self.chain_id, self.address, cost, balance, reserved)
        row = self._sign(nonce, 0, to=to, data=data, value=value, gas_limit=gas_limit, fees=fees,
                         purpose=send.purpose, transaction_id=send.transaction_id)
        if on_persist is not None:
            on_persist(s, row)  # first: what it writes may be the order the attempt refers to
        row.id = _INSERT_ATTEMPT.scalar(s, {key: getattr(row, key) for key in _ATTEMPT_KEYS})
        if send.members:
            s.execute(insert(BatchMember), [{"chain_id": self.chain_id, "signer": self.signer, "nonce": nonce,
                                             "transaction_id": txid} for txid in send.members])
        self._set_next_nonce(s, nonce + 1)
        return row

    def _mine(self) -> tuple[Any, ...]:
        return (OutboundTx.chain_id == self.chain_id, OutboundTx.signer == self.signer)

    def _locked_next_nonce(self, s: Session, pending: int | None) -> int:
        """The next nonce to allocate, its signer_nonce row locked (FOR UPDATE on PostgreSQL; SQLite's
        BEGIN IMMEDIATE already is). The row is created from the chain's pending count on first use, and
        the value moved up to it until a sync is committed; the caller writes what it allocates with
        `_set_next_nonce`. `pending`: the chain's pending count, read by the caller before the transaction
        whenever the nonce is not synced yet."""
        key = {"of_chain": self.chain_id, "of_signer": self.signer}
        stored = self._next_nonce.scalar(s, key)
        if stored is not None and self._nonce_synced:
            return stored
        if pending is None:
            raise RuntimeError("the chain's pending nonce was not read before an unsynced allocation")
        if stored is None:
            insert_ignore(s, SignerNonce, [{"chain_id": self.chain_id, "signer": self.signer, "next_nonce": pending}])
            stored = self._next_nonce.scalar(s, key)
            assert stored is not None  # inserted just above, or by a writer before us
        if pending > stored:
            log.warning("chain %s: %s: chain pending nonce %d is ahead of stored next nonce %d "
                        "(transactions sent outside this engine?); moving forward",
                        self.chain_id, self.address, pending, stored)
            return pending
        return stored

    def _set_next_nonce(self, s: Session, value: int) -> None:
        self._move_next_nonce.run(s, {"of_chain": self.chain_id, "of_signer": self.signer,
                                                       "new_next": value})

    def _reserved(self, s: Session, *, exclude_nonce: int | None = None) -> int:
        """What our unmined nonces may still spend: per nonce the costliest live attempt."""
        rows = self._live_costs.rows(s)
        per_nonce: dict[int, int] = {}
        for nonce, value, gas_limit, max_fee in rows:
            if nonce != exclude_nonce:
                per_nonce[nonce] = max(per_nonce.get(nonce, 0), value + gas_limit * max_fee)
        return sum(per_nonce.values())  # in Python: SUM over uint256 text is not exact on SQLite

    def _sign(self, nonce: int, attempt: int, *, to: str, data: bytes, value: int, gas_limit: int, fees: Fees,
              purpose: str, transaction_id: str | None) -> OutboundTx:
        tx = Eip1559Tx(self.chain_id, nonce, fees.max_priority_fee_per_gas, fees.max_fee_per_gas, gas_limit,
                       bytes.fromhex(to[2:]), value, data)
        raw_tx, tx_hash = self._signing_key.sign(tx)
        return detached(OutboundTx, {
            "chain_id": self.chain_id, "signer": self.signer, "nonce": nonce, "attempt": attempt, "purpose": purpose,
            "transaction_id": transaction_id.lower() if transaction_id else None, "to_address": to.lower(),
            "value": value, "data": data, "gas_limit": gas_limit, "max_fee_per_gas": fees.max_fee_per_gas,
            "max_priority_fee_per_gas": fees.max_priority_fee_per_gas, "raw_tx": raw_tx,
            "tx_hash": _hex(tx_hash), "state": "signed", "created_at": _now(),
        })

    # ---------------------------------------------------------------- broadcast

    async def _broadcast(self, row_id: int, report: TickReport | None = None, *,
                         stored: OutboundTx | None = None) -> None:
        """Send a stored attempt's raw bytes once and record the outcome. `stored`: the row as just
        committed by this submitter (no need to read it back)."""
        row = stored
        if row is None:
            row = await self.db.run_read(lambda s: s.get(OutboundTx, row_id))
        if row is None or row.state not in LIVE_STATES:
            return
        self._sending.add(row_id)
        try:
            await self._send_and_record(row, report, first=stored is not None)
        finally:
            self._sending.discard(row_id)

    async def _send_and_record(self, row: OutboundTx, report: TickReport | None, *, first: bool) -> None:
        row_id = row.id
        try:
            await self.rpc.send_raw_transaction(row.raw_tx)
        except AlreadyKnown:
            pass
        except RpcUnavailable as exc:  # includes SendOutcomeUnknown: tick sends the same bytes again
            log.warning("chain %s: broadcast of nonce %d attempt %d not confirmed (%s); will re-broadcast",
                        self.chain_id, row.nonce, row.attempt, exc.detail)
            await self._set_error(row_id, str(exc))
            return
        except NonceTooLow as exc:
            await self._nonce_taken(row, exc, report)
            return
        except ReplacementUnderpriced as exc:
            if row.state == "signed" and row.attempt > 0 and row.purpose != "self_transfer":
                # A replacement the node finds too cheap never entered the pool: the next bump starts above it.
                await self._mark(row_id, "dropped", f"replacement rejected: {exc.detail}")
            else:
                await self._set_error(row_id, str(exc))
            return
        except _RETRYABLE_REJECTIONS as exc:
            log.warning("chain %s: nonce %d attempt %d rejected for now (%s); will retry",
                        self.chain_id, row.nonce, row.attempt, exc.kind.value)
            await self._set_error(row_id, str(exc))
            return
        except TxRejected as exc:
            await self._rejected(row, exc, report)
            return
        except RpcError as exc:  # HTTP 401/403, malformed answer...: the stored bytes are sent again later
            log.error("chain %s: broadcast of nonce %d attempt %d failed: %s", self.chain_id, row.nonce,
                      row.attempt, exc)
            await self._set_error(row_id, str(exc))
            return
        if first:
            # A first send is recorded with the tick's next write, not a write of its own: if the mark is
            # lost in a crash the stored bytes are only sent again, which the node answers "already known".
            self._broadcast_marks[row_id] = _now()
        else:
            await self.db.run_write(partial(self._write_broadcast_marks, marks={row_id: _now()}))
        log.info("chain %s: nonce %d attempt %d broadcast %s", self.chain_id, row.nonce, row.attempt, row.tx_hash)

    async def _set_error(self, row_id: int, error: str) -> None:
        statement = update(OutboundTx).where(OutboundTx.id == row_id).values(error=error[:1000])
        await self.db.run_write(lambda s: s.execute(statement))

    async def _mark(self, row_id: int, state: str, error: str | None = None) -> None:
        statement = (update(OutboundTx).where(OutboundTx.id == row_id, OutboundTx.state.in_(LIVE_STATES))
                     .values(state=state, error=error[:1000] if error else None))
        await self.db.run_write(lambda s: s.execute(statement))

    async def _nonce_taken(self, row: OutboundTx, exc: TxRejected, report: TickReport | None) -> None:
        """The chain is past this nonce: one of our attempts mined (settle it) or someone else's did."""
        log.warning("chain %s: nonce %d attempt %d: %s", self.chain_id, row.nonce, row.attempt, exc.kind.value)
        await self._settle_nonces([row.nonce], report or TickReport())

    async def _rejected(self, row: OutboundTx, exc: TxRejected, report: TickReport | None) -> None:
        log.error("chain %s: nonce %d attempt %d (%s) rejected permanently: %s",
                  self.chain_id, row.nonce, row.attempt, row.purpose, exc.kind.value)
        if row.purpose == "self_transfer" or row.state != "signed":
            # The filler itself: keep trying it (e.g. until funded). An attempt the node accepted before
            # (a re-broadcast refused now, e.g. the balance moved) may still be in its pool: keep watching it.
            await self._set_error(row.id, str(exc))
            return
        fees = await self.fees.suggest()

        def fail(s: Session) -> OutboundTx | None:
            rows = self._nonce_rows(s, row.nonce)
            current = next((r for r in rows if r.id == row.id), None)
            if current is None or current.state not in LIVE_STATES:
                return None
            current.state, current.error = "failed", str(exc)[:1000]
            if not any(r.state in LIVE_STATES + ("mined",) for r in rows if r.id != row.id) and not any(
                    r.state == "failed" and r.receipt_status is not None for r in rows):
                return self._make_filler(s, row.nonce, rows, fees)
            return None

        filler = await self.db.run_write(fail)
        if filler is not None:
            log.warning("chain %s: nonce %d filled with a self-transfer %s", self.chain_id, row.nonce,
                        filler.tx_hash)
            if report is not None:
                report.filled.append(OutboundTxView.of(filler))
            await self._broadcast(filler.id, report)

    def _make_filler(self, s: Session, nonce: int, rows: Sequence[OutboundTx], fees: Fees) -> OutboundTx:
        previous = [r for r in rows if r.state in LIVE_STATES]
        if previous:  # something of ours may still sit in a pool at this nonce: outbid it
            top = max(previous, key=lambda r: r.max_fee_per_gas)
            fees = self.fees.bump(_fees(top), fees) or fees
        filler = self._sign(nonce, max(r.attempt for r in rows) + 1 if rows else 0, to=self.address, data=b"",
                            value=0, gas_limit=SELF_TRANSFER_GAS, fees=fees, purpose="self_transfer",
                            transaction_id=rows[0].transaction_id if rows else None)
        s.add(filler)
        s.flush()
        return filler

    def _nonce_rows(self, s: Session, nonce: int) -> list[OutboundTx]:
        return list(s.scalars(
            select(OutboundTx).where(*self._mine(), OutboundTx.nonce == nonce).order_by(OutboundTx.attempt)
            .with_for_update()).all())

    # ---------------------------------------------------------------- tick

    async def tick(self) -> TickReport:
        """Track receipts, re-broadcast, bump stuck nonces. Call it periodically (each new head)."""
        async with self._tick_lock:
            report = TickReport()
            await self._tick(report, rebroadcast_all=False)
            report.still_live += len(report.bumped) + len(report.filled)
            return report

    async def _live_rows(self) -> list[OutboundTx]:
        """Without their signed bytes and calldata (read each tick; a send reads its row again by id)."""
        rows = await self.db.run_read(lambda s: list(s.scalars(self._live_attempts).all()))
        return sorted(rows, key=lambda r: (r.nonce, r.attempt))

    async def _tick(self, report: TickReport, *, rebroadcast_all: bool) -> None:
        self._marks_written = {}
        live = await self._live_rows()
        if not live:
            return
        settled = await self._settle_nonces(sorted({r.nonce for r in live}), report, live)
        by_nonce: dict[int, list[OutboundTx]] = defaultdict(list)
        for r in live:
            if r.nonce not in settled:
                by_nonce[r.nonce].append(r)
        report.still_live = sum(map(len, by_nonce.values()))
        for nonce, attempts in sorted(by_nonce.items()):
            newest: OutboundTx | None = max(attempts, key=lambda r: r.attempt)
            for r in attempts:
                if r.id in self._sending:
                    continue
                first_sent = r.id in self._broadcast_marks or r.id in self._marks_written
                if (r.state == "signed" and not first_sent) or rebroadcast_all:
                    report.rebroadcast.append(r.tx_hash)
                    await self._broadcast(r.id, report)
                    newest = None  # the send just changed its row: read it again
            if newest is None:
                newest = await self._newest_live(nonce)
            if newest is not None and self._due_for_bump(newest):
                await self._bump(nonce, report)

    async def _newest_live(self, nonce: int) -> OutboundTx | None:
        query = (select(OutboundTx).where(*self._mine(), OutboundTx.nonce == nonce,
                                          OutboundTx.state.in_(LIVE_STATES))
                 .order_by(OutboundTx.attempt.desc()).limit(1))
        return await self.db.run_read(lambda s: s.scalar(query))

    def _due_for_bump(self, newest: OutboundTx) -> bool:
        """The newest live attempt (as read by this tick) is older than bump_after_seconds: in the pool
        since then without a receipt, or refused for now (fee below the base fee, pool full...) since it
        was signed. _bump re-reads the nonce's rows under the write lock before acting."""
        sent_at = self._broadcast_marks.get(newest.id) or self._marks_written.get(newest.id)
        if sent_at is not None:
            since = sent_at
        elif newest.state == "broadcast":
            since = newest.broadcast_at or newest.created_at
        elif newest.error is not None:
            since = newest.created_at
        else:
            return False
        return (_now() - since).total_seconds() >= self.bump_after_seconds

    async def _settle_nonces(self, nonces: Iterable[int], report: TickReport,
                             live: Sequence[OutboundTx] | None = None) -> set[int]:
        """Look up receipts of every live attempt of `nonces`; settle the mined ones and the ones the chain
        has passed without any of our attempts. Returns the nonces settled."""
        nonces = list(nonces)
        if not nonces:
            return set()
        # Count first, receipts after: a nonce the count shows as used has its receipt by then.
        latest = await self.rpc.get_transaction_count(self.address, "latest")
        if live is not None:  # the caller's read of the live rows (the receipts decide, not this snapshot)
            wanted = set(nonces)
            rows = [r for r in live if r.nonce in wanted]
        else:
            query = select(OutboundTx).where(*self._mine(), OutboundTx.nonce.in_(nonces),
                                             OutboundTx.state.in_(LIVE_STATES))
            rows = await self.db.run_read(lambda s: s.scalars(query).all())
        # a nonce the count does not show as used cannot have a receipt yet: not asked (a backlog of sends
        # would otherwise be asked for every one of its receipts at every tick)
        rows = [r for r in rows if r.nonce < latest]
        receipts = await asyncio.gather(*(self.rpc.get_transaction_receipt(r.tx_hash) for r in rows),
                                        return_exceptions=True)
        found: dict[int, tuple[OutboundTx, Any]] = {}
        for r, receipt in zip(rows, receipts):
            if isinstance(receipt, BaseException):
                report.errors.append(f"receipt of {r.tx_hash}: {receipt}")
                continue
            if receipt is not None and _hex(receipt.tx_hash) == r.tx_hash:
                found[r.nonce] = (r, receipt)
        settled: set[int] = set(found)
        for view in await self._settle_mined(found):
            (report.mined if view.receipt_status == 1 else report.reverted).append(view)
        for nonce in nonces:
            if nonce not in found and latest > nonce:
                errors = [e for e in receipts if isinstance(e, BaseException)]
                if errors:
                    continue
                # Nothing of ours has a receipt yet the chain is past the nonce: someone else used it.
                await self._drop_nonce(nonce)
                report.dropped.append(nonce)
                settled.add(nonce)
        return settled

    async def _settle_mined(self, found: dict[int, tuple[OutboundTx, Any]]) -> list[OutboundTxView]:
        """Record every receipt found in one write (a block often mines many of our transactions):
        the winner of each nonce mined or failed, its other live attempts replaced."""
        if not found and not self._broadcast_marks:
            return []
        views: list[OutboundTxView] = []
        marks, self._broadcast_marks = self._broadcast_marks, {}

        def settle(s: Session) -> list[OutboundTxView]:
            self._write_broadcast_marks(s, marks)
            return self._write_settlements(s, found)

        try:
            views = await self.db.run_write(settle)
        except BaseException:
            self._broadcast_marks = {**marks, **self._broadcast_marks}
            raise
        self._marks_written.update(marks)
        for view in views:
            log.log(logging.INFO if view.receipt_status == 1 else logging.WARNING,
                    "chain %s: nonce %d attempt %d (%s) %s in block %d: %s", self.chain_id, view.nonce, view.attempt,
                    view.purpose, "mined" if view.receipt_status == 1 else "REVERTED", view.block_number,
                    view.tx_hash)
        return views

    @staticmethod
    def _write_broadcast_marks(s: Session, marks: dict[int, datetime]) -> None:
        if marks:  # one statement for all, below the ORM: a tick often records several
            _MARK_BROADCAST.run(s, [{"row_id": row_id, "at": at} for row_id, at in marks.items()])

    def _write_settlements(self, s: Session, found: dict[int, tuple[OutboundTx, Any]]) -> list[OutboundTxView]:
        """The settlement counter moves inside the write, before it commits: a gas balance check
        that runs after this commit sees it moved (see _store_new)."""
        views: list[OutboundTxView] = []
        if found:
            rows = s.scalars(select(OutboundTx).where(
                *self._mine(), OutboundTx.nonce.in_(list(found)))).all()
            by_nonce: dict[int, list[OutboundTx]] = defaultdict(list)
            for r in rows:
                by_nonce[r.nonce].append(r)
            for nonce, (found_row, receipt) in sorted(found.items()):
                winner = next((r for r in by_nonce[nonce] if r.id == found_row.id), None)
                if winner is None or winner.state not in LIVE_STATES:
                    continue
                winner.state = "mined" if receipt.status == 1 else "failed"
                winner.receipt_status = receipt.status
                winner.block_number = receipt.block_number
                winner.block_hash = _hex(receipt.block_hash)
                winner.mined_at = _now()
                if receipt.status != 1:
                    winner.error = "reverted on chain"
                for r in by_nonce[nonce]:
                    if r.id != winner.id and r.state in LIVE_STATES:
                        r.state = "replaced"
                members = batch_members(s, self.chain_id, self.signer, nonce) if winner.transaction_id is None else ()
                views.append(OutboundTxView.of(winner, members))
            if views:
                self._settlements += 1
        return views

    async def _drop_nonce(self, nonce: int) -> None:
        def drop(s: Session) -> None:
            self._settlements += 1
            for r in self._nonce_rows(s, nonce):
                if r.state in LIVE_STATES:
                    r.state = "dropped"
                    r.error = "nonce used on chain by a transaction that is not ours"

        await self.db.run_write(drop)
        log.warning("chain %s: %s nonce %d was used by another transaction; our attempts are dropped",
                    self.chain_id, self.address, nonce)
        self._nonce_synced = False  # the chain moved on without us: re-read its pending count
        pending = await self.rpc.get_transaction_count(self.address, "pending")

        def skip(s: Session) -> None:  # never hand the nonce out again
            self._set_next_nonce(s, max(self._locked_next_nonce(s, pending), nonce + 1))

        await self.db.run_write(skip)
        self._nonce_synced = True

    async def _bump(self, nonce: int, report: TickReport) -> None:
        current = await self.fees.suggest()
        balance = await self.rpc.get_balance(self.address, "latest")

        def bump(s: Session) -> tuple[OutboundTxView | None, Fees | None]:
            rows = self._nonce_rows(s, nonce)
            live = [r for r in rows if r.state in LIVE_STATES]
            if not live or any(r.state == "mined" or r.receipt_status is not None for r in rows):
                return None, None
            template = max(live, key=lambda r: r.attempt)
            top = max((r for r in rows if r.state in LIVE_STATES + ("dropped",)), key=lambda r: r.max_fee_per_gas)
            fees = self.fees.bump(Fees(top.max_fee_per_gas, max(r.max_priority_fee_per_gas for r in rows)), current)
            if fees is None:
                why = f"fee ceiling {_gwei(self.fees.ceiling_wei)} gwei reached (at {_fees(top)})"
            else:
                cost = template.value + template.gas_limit * fees.max_fee_per_gas
                available = balance - self._reserved(s, exclude_nonce=nonce)
                why = "" if cost <= available else (
                    f"gas balance too low to bump: needs {_eth(cost)} ETH, {_eth(available)} ETH available")
            if why:
                level = logging.DEBUG if nonce in self._stuck_warned else logging.WARNING
                self._stuck_warned.add(nonce)
                log.log(level, "chain %s: nonce %d is stuck and cannot be bumped: %s", self.chain_id, nonce, why)
                report.stuck.append((nonce, why))
                return None, None
            self._stuck_warned.discard(nonce)
            new = self._sign(nonce, max(r.attempt for r in rows) + 1, to=template.to_address, data=template.data,
                             value=template.value, gas_limit=template.gas_limit, fees=fees,
                             purpose=template.purpose, transaction_id=template.transaction_id)
            s.add(new)
            s.flush()
            return OutboundTxView.of(new), fees

        view, fees = await self.db.run_write(bump)
        if view is None:
            return
        log.info("chain %s: nonce %d bumped to attempt %d (%s) %s", self.chain_id, nonce, view.attempt, fees,
                 view.tx_hash)
        report.bumped.append(view)
        await self._broadcast(view.id, report)

    # ---------------------------------------------------------------- reconcile

    async def reconcile(self) -> TickReport:
        """At start: fix the next nonce against the chain, fill nonce gaps, re-broadcast every live attempt,
        settle what was mined or dropped meanwhile."""
        async with self._tick_lock:
            report = TickReport()
            pending = await self.rpc.get_transaction_count(self.address, "pending")
            fees = await self.fees.suggest()
            self._nonce_synced = False

            def reconcile(s: Session) -> list[OutboundTx]:
                fillers: list[OutboundTx] = []
                highest = self._highest_nonce.scalar(s)
                next_nonce = max(self._locked_next_nonce(s, pending), -1 if highest is None else highest + 1)
                self._set_next_nonce(s, next_nonce)
                for nonce in range(pending, next_nonce):
                    rows = self._nonce_rows(s, nonce)
                    if not any(r.state in LIVE_STATES + ("mined",) or r.receipt_status is not None for r in rows):
                        fillers.append(self._make_filler(s, nonce, rows, fees))
                return fillers

            fillers = await self.db.run_write(reconcile)
            self._nonce_synced = True
            for filler in fillers:
                log.warning("chain %s: nonce gap at %d filled with a self-transfer", self.chain_id, filler.nonce)
                report.filled.append(OutboundTxView.of(filler))
            await self._tick(report, rebroadcast_all=True)
            return report

    # ---------------------------------------------------------------- queries

    async def status(self, ref: OutboundTxRef) -> TxOutcome:
        """The outcome of a submitted transaction (all attempts at its nonce), as stored (tick updates it)."""
        rows = await self.db.run_read(partial(self._attempts_at, chain_id=ref.chain_id, signer=ref.signer,
                                              nonce=ref.nonce))
        if not rows:
            raise KeyError(f"no stored transaction for {ref}")
        return self._outcome(ref, rows)

    async def latest_outcome(self, transaction_id: str, purpose: str) -> TxOutcome | None:
        """The outcome of our latest `purpose` transaction for an order on this chain, its own or a batch's
        (None: none stored), read in one snapshot."""
        def read(s: Session) -> tuple[OutboundTx | None, list[OutboundTx]]:
            rows = [r for r in order_attempts(s, transaction_id, light=True)
                    if r.chain_id == self.chain_id and r.purpose == purpose]
            if not rows:
                return None, []
            row = max(rows, key=lambda r: r.id)
            return row, self._attempts_at(s, chain_id=row.chain_id, signer=row.signer, nonce=row.nonce)

        row, rows = await self.db.run_read(read)
        if row is None:
            return None
        return self._outcome(_ref(row), rows)

    @staticmethod
    def _attempts_at(s: Session, *, chain_id: int, signer: str, nonce: int) -> list[OutboundTx]:
        return list(s.scalars(select(OutboundTx).options(*_LIGHT)
                              .where(OutboundTx.chain_id == chain_id, OutboundTx.signer == signer,
                                     OutboundTx.nonce == nonce)
                              .order_by(OutboundTx.attempt)).all())

    @staticmethod
    def _outcome(ref: OutboundTxRef, rows: list[OutboundTx]) -> TxOutcome:
        payload = rows if ref.purpose == "self_transfer" else [r for r in rows if r.purpose == ref.purpose]
        newest = rows[-1]
        for r in payload:
            if r.state == "mined":
                return TxOutcome(TxStatus.MINED, ref, r.tx_hash, r.block_number, r.block_hash, len(rows))
            if r.receipt_status == 0:
                return TxOutcome(TxStatus.REVERTED, ref, r.tx_hash, r.block_number, r.block_hash, len(rows),
                                 r.error)
        if any(r.state in LIVE_STATES for r in payload):
            return TxOutcome(TxStatus.PENDING, ref, newest.tx_hash, attempts=len(rows),
                             error=next((r.error for r in reversed(rows) if r.error), None))
        error = next((r.error for r in reversed(payload) if r.error), None)
        return TxOutcome(TxStatus.DROPPED, ref, newest.tx_hash, newest.block_number, newest.block_hash, len(rows),
                         error)

    async def transactions(self, transaction_id: str) -> list[OutboundTxView]:
        """This chain and signer's attempts for an order (``list_outbound_txs`` for all chains)."""
        return [v for v in await list_outbound_txs(self.db, transaction_id)
                if v.chain_id == self.chain_id and v.signer == self.signer]

    async def pending(self) -> list[OutboundTxView]:
        return [self._view(r) for r in await self._live_rows()]

    def _view(self, row: OutboundTx) -> OutboundTxView:
        """The row as the operator should see it: a first send not yet recorded shows as broadcast."""
        view = OutboundTxView.of(row)
        sent_at = self._broadcast_marks.get(row.id)
        if sent_at is not None and view.state == "signed":
            view = replace(view, state="broadcast")
        return view

    # ---------------------------------------------------------------- ERC20 approval

    async def allowance(self, token: str, spender: str) -> int:
        raw = await self.rpc.call(token, encode_allowance(self.address, spender))
        (value,) = abi_decode(["uint256"], raw)
        return value

    async def ensure_approval(self, token: str, spender: str, minimum: int) -> OutboundTxRef | None:
        """Approve `spender` for max uint256 of `token` when the allowance is below `minimum`. Returns the
        approve transaction (an already pending identical one is reused), or None when nothing is needed."""
        if await self.allowance(token, spender) >= minimum:
            return None
        data = encode_approve(spender, UINT256_MAX)
        async with self.db.read() as s:
            existing = (await s.scalars(select(OutboundTx).where(
                *self._mine(), OutboundTx.purpose == "approve", OutboundTx.to_address == token.lower(),
                OutboundTx.state.in_(LIVE_STATES)).order_by(OutboundTx.nonce, OutboundTx.attempt))).all()
        for r in existing:
            if r.data == data:
                first = await self._first_attempt(r.nonce)
                return first
        return await self.submit(token, data, purpose="approve")

    async def _first_attempt(self, nonce: int) -> OutboundTxRef:
        async with self.db.read() as s:
            row = await s.scalar(select(OutboundTx).where(*self._mine(), OutboundTx.nonce == nonce)
                                 .order_by(OutboundTx.attempt).limit(1))
        assert row is not None
        return _ref(row)


__all__ = [
    "FeesAboveCeiling",
    "InsufficientGasBalance",
    "OutboundTxRef",
    "OutboundTxView",
    "SubmitError",
    "TickReport",
    "TransactionSubmitter",
    "TxOutcome",
    "TxStatus",
    "encode_allowance",
    "encode_approve",
    "batch_members",
    "list_outbound_txs",
    "order_attempts",
]
