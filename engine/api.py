"""The engine's public face: immutable views, operator commands and their results (DESIGN.md).

A UI or a control API sees the engine only through these types and the `EngineClient` protocol:
`snapshot()` for the current state, `changes()` for a wake-up when it moved, `execute(command)` for
every operator action, `order_detail(transaction_id)` for one order's whole history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from engine.relayer.decisions import Gate
from engine.relayer.statuses import OrderStatus, StatusFamily  # noqa: F401 - part of the view types


# --- views ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OrderView:
    transaction_id: str
    origin_chain_id: int
    dest_chain_id: int
    origin_token: str
    dest_token: str
    origin_symbol: str
    dest_symbol: str
    origin_decimals: int
    dest_decimals: int
    origin_amount: int  # base units of the origin token
    dest_amount: int  # base units of the dest token
    deadline: int  # chain time (unix seconds)
    status: OrderStatus
    last_reason: str | None
    created_at: datetime
    updated_at: datetime
    origin_sender: str
    dest_recipient: str
    exclusivity_relayer: str | None = None
    exclusivity_end_time: int | None = None
    relay_tx_hash: str | None = None
    prove_tx_hash: str | None = None
    claim_tx_hash: str | None = None
    failures: int = 0


@dataclass(frozen=True, slots=True)
class TransitionView:
    """One entry of an order's decision trace (a status change, or a new reason for staying)."""

    from_status: OrderStatus | None
    to_status: OrderStatus
    chain_id: int
    chain_time: int
    wall_time: datetime
    reasons: tuple[Gate, ...]
    tx_hash: str | None = None


@dataclass(frozen=True, slots=True)
class TransactionView:
    """One signed attempt of ours for an order (relay, prove, claim...)."""

    chain_id: int
    nonce: int
    attempt: int
    purpose: str
    tx_hash: str
    state: str
    block_number: int | None
    error: str | None
    created_at: datetime
    batch_of: int = 1  # how many orders the transaction served (a batched prove or claim serves several)


@dataclass(frozen=True, slots=True)
class OrderDetail:
    order: OrderView
    transitions: tuple[TransitionView, ...]
    transactions: tuple[TransactionView, ...]


@dataclass(frozen=True, slots=True)
class ChainView:
    chain_id: int
    native_symbol: str
    head_number: int | None
    head_time: int | None  # the head's chain time
    head_seen_at: datetime | None  # wall clock when that head was seen
    cursor: int | None  # last block whose logs are durably stored
    lag_blocks: int | None
    rpc_ok: bool
    last_error: str | None
    gas_balance: int | None  # wei, of our signer
    min_gas_token: int  # wei
    base_fee_wei: int | None
    priority_fee_wei: int | None
    pending_transactions: int = 0
    dead_letters: int = 0
    base_fee_history: tuple[tuple[int, int], ...] = ()  # (block number, base fee wei), oldest first


@dataclass(frozen=True, slots=True)
class BreakerView:
    """One circuit-breaker rule (filled by the breaker issue; the pane shows an honest empty state)."""

    name: str
    kind: str
    scope: str  # "global", "chain 31337", "token USDC", "route 31337:USDC -> 31338:USDC"
    state: str  # "ok" | "tripped"
    value: str
    threshold: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class RebalanceView:
    """A rebalance proposal or transfer (filled by the rebalancing issue)."""

    id: int
    symbol: str
    origin_chain_id: int
    dest_chain_id: int
    amount: int
    decimals: int
    state: str  # "proposed" | "initiated" | "pending" | "done" | "rejected" | "failed"
    reason: str
    created_at: datetime
    dest_token: str = ""  # lowercase address on dest_chain_id


@dataclass(frozen=True, slots=True)
class ArmingCheck:
    """One item of the safe arming sequence (runbook), live."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class CapitalStageView:
    """Our funds in one stage of their round trip, on one chain and token (the capital-in-flight ledger)."""

    stage: str  # "committed" | "relayed, not proved" | "proved, in dispute period" | "claiming" | "rebalancing"
    chain_id: int  # where the funds are (committed) or will arrive (owed, rebalancing)
    token: str  # lowercase address
    symbol: str
    decimals: int
    amount: int  # base units
    entries: int  # orders or rebalances
    oldest_age_seconds: int
    expected_seconds: int
    overstayed: bool


@dataclass(frozen=True, slots=True)
class QuoteView:
    """The engine's current quote on one route (REFERENCE §3), in base units."""

    origin_chain_id: int
    origin_symbol: str
    dest_chain_id: int
    dest_symbol: str
    origin_decimals: int
    dest_decimals: int
    max_origin_amount: int  # 0 = not quoting this route now
    dest_amount: int  # received for max_origin_amount, before the fixed fee
    fixed_fee: int  # dest token base units
    limited_by: str  # why max_origin_amount is what it is


@dataclass(frozen=True, slots=True)
class InventoryView:
    chain_id: int
    token: str  # checksum address (the native sentinel for the gas token)
    symbol: str
    decimals: int
    balance: int | None  # on chain, base units; None until first read
    committed: int  # destAmount of orders holding a commitment here
    pending_in: int  # owed to us here (relayed elsewhere, not yet claimed) plus rebalances on their way here

    @property
    def spendable(self) -> int:
        return max(0, (self.balance or 0) - self.committed)


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    level: str  # "info" | "warning" | "error"
    text: str


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    version: int
    taken_at: datetime
    config_name: str
    relayer: str  # checksum address
    database: str  # backend description, no secrets
    armed: bool
    frozen: bool
    started_at: datetime
    heartbeat_at: datetime  # last engine loop iteration
    chains: tuple[ChainView, ...]
    inventory: tuple[InventoryView, ...]
    orders: tuple[OrderView, ...]  # active orders and the most recent finished ones, newest first
    order_counts: dict[OrderStatus, int] = field(default_factory=dict)  # every stored order
    events: tuple[EventView, ...] = ()  # newest first
    breakers: tuple[BreakerView, ...] = ()
    rebalances: tuple[RebalanceView, ...] = ()
    fatal_error: str | None = None
    quotes: tuple[QuoteView, ...] = ()
    capital: tuple[CapitalStageView, ...] = ()


# --- commands -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Command:
    actor: str = "operator"

    @property
    def name(self) -> str:
        return _command_name(type(self).__name__)

    def args(self) -> dict[str, object]:
        return {}


def command_name(command: Command) -> str:
    """The journal name of a command ("reset_breaker"), also for a command with a field called ``name``
    (ResetBreaker's ``name`` is the breaker's and hides ``Command.name``)."""
    return _command_name(type(command).__name__)


def _command_name(class_name: str) -> str:
    out = []
    for i, ch in enumerate(class_name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Arm(Command):
    """Let the executor send relays. `override` acknowledges failing arming checks."""

    override: bool = False

    def args(self) -> dict[str, object]:
        return {"override": self.override}


@dataclass(frozen=True, slots=True)
class Disarm(Command):
    pass


@dataclass(frozen=True, slots=True)
class Freeze(Command):
    """Freeze withdrawals (rebalances and any outbound transfer that is not a relay)."""


@dataclass(frozen=True, slots=True)
class Unfreeze(Command):
    pass


@dataclass(frozen=True, slots=True)
class ApproveRebalance(Command):
    rebalance_id: int = 0

    def args(self) -> dict[str, object]:
        return {"rebalance_id": self.rebalance_id}


@dataclass(frozen=True, slots=True)
class RejectRebalance(Command):
    rebalance_id: int = 0

    def args(self) -> dict[str, object]:
        return {"rebalance_id": self.rebalance_id}


@dataclass(frozen=True, slots=True)
class ResetBreaker(Command):
    name: str = ""

    def args(self) -> dict[str, object]:
        return {"name": self.name}


@dataclass(frozen=True, slots=True)
class RelayOrder(Command):
    """Relay one chosen order now, armed or not (the operator's hand on a single order)."""

    transaction_id: str = ""

    def args(self) -> dict[str, object]:
        return {"transaction_id": self.transaction_id}


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    message: str
    journal_id: int | None = None


class EngineClient(Protocol):
    """What a UI holds. Implementations: the engine itself (same loop), `mmtui.client`'s in-process
    client (engine on its own thread and loop), a fake for tests."""

    async def snapshot(self) -> EngineSnapshot: ...

    async def execute(self, command: Command) -> CommandResult: ...

    async def order_detail(self, transaction_id: str) -> OrderDetail | None: ...

    async def arming_checks(self) -> tuple[ArmingCheck, ...]: ...

    async def list_orders(self, *, statuses: tuple[OrderStatus, ...] = (), text: str = "", offset: int = 0,
                          limit: int = 200) -> tuple[OrderView, ...]: ...
