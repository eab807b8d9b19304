"""The relayer's decisions as pure functions: stored facts in, a `Decision` with its reasons out.

No I/O and no clock: every time is a chain's block timestamp passed in (REFERENCE §1). A step of the
state machine is one of these decisions plus one side effect, so a crash between steps resumes
correctly, and every gate's measured value is kept for the "why not filled?" trace.

Reporting rule: gates are evaluated in REFERENCE §2 order and the first failing gate decides. A gate
whose failure moves the order (WillNotProcess, DeadlineExceeded, RelayRaceLost, ...) ends the
evaluation at once: the numbers after it are moot. A gate whose failure only keeps the order where it
is (exclusivity, profitability, gas) lets the remaining gates run and report, so the operator sees
every blocker of a waiting order at once instead of discovering them one by one.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from engine.protocol.codec import ZERO_ADDRESS, BridgeRequest, checksum_address
from engine.relayer.fees import NATIVE_DECIMALS, FeeBreakdown, is_profitable
from engine.relayer.statuses import OrderStatus, OriginBridgeStatus, check_transition
from engine.units import format_units


class GateName(StrEnum):
    route = "route"
    decimals = "decimals"
    max_relay_amount = "max_relay_amount"
    screening = "screening"
    deadline = "deadline"
    exclusivity = "exclusivity"
    profitability = "profitability"
    origin_gas = "origin_gas"
    dest_gas = "dest_gas"
    inventory = "inventory"
    origin_status = "origin_status"
    confirmations = "confirmations"
    dest_relay = "dest_relay"


@dataclass(frozen=True, slots=True)
class Gate:
    """One check with what was measured, against what, and an operator sentence saying so."""

    name: str
    passed: bool
    value: str
    threshold: str
    text: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The next status (None: stay where it is, recorded without a status change) and why."""

    next_status: OrderStatus | None
    reasons: tuple[Gate, ...]

    @property
    def blocker(self) -> Gate | None:
        """The gate that decided a refusal or a wait; None when every gate passed."""
        return next((g for g in self.reasons if not g.passed), None)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """Everything the Seen / NotEnoughInventory gates read, as stored facts (no handles, no I/O).

    Amounts are base units: origin-token units for `max_relay_amount`, dest-token units for
    `committable_dest` (see `committable`), wei of each chain's gas token for the gas fields.
    """

    request: BridgeRequest
    origin_decimals: int
    dest_decimals: int
    origin_symbol: str
    dest_symbol: str
    route_quotable: bool
    max_relay_amount: int | None  # None: no limit configured
    screened: bool  # True: the screener flagged the sender or the recipient
    origin_gas_balance: int
    dest_gas_balance: int
    origin_min_gas_token: int
    dest_min_gas_token: int
    committable_dest: int
    fee: FeeBreakdown
    offset_origin_bps: Decimal
    offset_dest_bps: Decimal
    dest_chain_time: int  # the dest chain's latest block timestamp
    deadline_buffer_s: int
    relayer: str  # our relayer address
    origin_native_symbol: str = "ETH"
    dest_native_symbol: str = "ETH"

    def __post_init__(self) -> None:
        # A fee priced for other decimals would be off by powers of ten: refuse it loudly.
        if self.fee.dest_token_decimals != self.dest_decimals:
            raise ValueError(f"fee priced for {self.fee.dest_token_decimals} decimals, "
                             f"dest token has {self.dest_decimals}")


def committable(on_chain_balance: int, committed_dest_amounts: Iterable[int]) -> int:
    """CommittedInventory: the balance minus the destAmount of every order holding a commitment on
    this chain+token (statuses.COMMITTED_STATUSES), never negative."""
    return max(0, on_chain_balance - sum(committed_dest_amounts))


def confirmations(head_block: int, log_block: int) -> int:
    """Blocks built on top of the log's block: the canonical relayer's meaning of `confirmations`
    (ready when head >= log block + confirmations). Never negative."""
    return max(0, head_block - log_block)


def short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def _bps(offset: Decimal) -> str:
    return f"{offset.normalize():+f}"


# --- gates used at more than one step: plain inputs ----------------------------------------------

def deadline_gate(deadline: int, dest_chain_time: int, buffer_s: int) -> Gate:
    """Passes while `dest_chain_time + buffer_s <= deadline` (the relay reverts after the deadline on
    the dest chain's clock; the buffer leaves time for the relay to land)."""
    remaining = deadline - dest_chain_time
    passed = dest_chain_time + buffer_s <= deadline
    if passed:
        text = f"deadline in {remaining} s >= buffer {buffer_s} s"
    elif remaining >= 0:
        text = f"deadline in {remaining} s < buffer {buffer_s} s"
    else:
        text = f"deadline passed {-remaining} s ago (buffer {buffer_s} s)"
    return Gate(GateName.deadline, passed, f"{remaining} s", f"{buffer_s} s", text)


def exclusivity_gate(request: BridgeRequest, relayer: str, dest_chain_time: int) -> Gate:
    """Fails while another relayer's exclusivity is active: `dest_chain_time <= exclusivityEndTime`
    (the contract's rule, on the dest chain's clock). "for N s more" counts the seconds until the
    order becomes open to us, at exclusivityEndTime + 1."""
    holder, end = request.exclusivity_relayer, request.exclusivity_end_time
    threshold = f"dest chain time > {end}"
    if holder == ZERO_ADDRESS:
        return Gate(GateName.exclusivity, True, "none", "none", "no exclusivity")
    if holder == checksum_address(relayer):
        return Gate(GateName.exclusivity, True, "us", threshold,
                    f"exclusive to us until {end} (dest chain time)")
    if request.exclusive_for_other(relayer, dest_chain_time):
        return Gate(GateName.exclusivity, False, short_address(holder), threshold,
                    f"exclusive to {short_address(holder)} for {end - dest_chain_time + 1} s more "
                    "(dest chain time)")
    return Gate(GateName.exclusivity, True, short_address(holder), threshold,
                f"exclusivity of {short_address(holder)} ended at {end} (dest chain time {dest_chain_time})")


def confirmations_gate(observed: int, required: int) -> Gate:
    """Passes once the origin log has `required` blocks on top (see `confirmations`)."""
    return Gate(GateName.confirmations, observed >= required, str(observed), str(required),
                f"confirmations {observed}/{required}")


# --- gates of the Seen evaluation -----------------------------------------------------------------

def _route_gate(f: OrderFacts) -> Gate:
    r = f.request
    route = f"{r.origin_chain_id}:{f.origin_symbol} -> {r.dest_chain_id}:{f.dest_symbol}"
    text = f"route {route} quotable" if f.route_quotable else f"route {route} not quotable"
    return Gate(GateName.route, f.route_quotable, route, "quotable_tokens", text)


def _decimals_gate(f: OrderFacts) -> Gate:
    # The canonical relayer's safety rule: a route between tokens of different decimals is refused.
    r = f.request
    passed = f.origin_decimals == f.dest_decimals
    text = (f"decimals {f.origin_decimals} = {f.dest_decimals}" if passed else
            f"decimals mismatch: {f.origin_symbol} has {f.origin_decimals} on chain "
            f"{r.origin_chain_id}, {f.dest_symbol} has {f.dest_decimals} on chain {r.dest_chain_id}")
    return Gate(GateName.decimals, passed, f"{f.origin_decimals} -> {f.dest_decimals}", "equal", text)


def _max_relay_gate(f: OrderFacts) -> Gate:
    amount = format_units(f.request.origin_amount, f.origin_decimals, f.origin_symbol)
    if f.max_relay_amount is None:
        return Gate(GateName.max_relay_amount, True, amount, "none", "no max_relay_amount")
    limit = format_units(f.max_relay_amount, f.origin_decimals, f.origin_symbol)
    passed = f.request.origin_amount <= f.max_relay_amount
    text = (f"originAmount {amount} <= max_relay_amount {limit}" if passed else
            f"originAmount {amount} > max_relay_amount {limit}")
    return Gate(GateName.max_relay_amount, passed, amount, limit, text)


def _screening_gate(f: OrderFacts) -> Gate:
    if f.screened:
        return Gate(GateName.screening, False, "flagged", "clear",
                    "screened: sender or recipient flagged")
    return Gate(GateName.screening, True, "clear", "clear", "sender and recipient not flagged")


def _profitability_gate(f: OrderFacts) -> Gate:
    r = f.request
    passed = is_profitable(r.origin_amount, r.dest_amount, f.fee.total, f.offset_origin_bps,
                           f.offset_dest_bps, origin_decimals=f.origin_decimals,
                           dest_decimals=f.dest_decimals)
    value = f"origin {format_units(r.origin_amount, f.origin_decimals, f.origin_symbol)}"
    threshold = (f"dest {format_units(r.dest_amount, f.dest_decimals, f.dest_symbol)} + fee "
                 f"{format_units(f.fee.total, f.dest_decimals, f.dest_symbol)}")
    text = f"{'profitable' if passed else 'not profitable'}: {value} vs {threshold}"
    if f.offset_origin_bps or f.offset_dest_bps:
        text += f" (offsets origin {_bps(f.offset_origin_bps)} bps, dest {_bps(f.offset_dest_bps)} bps)"
    return Gate(GateName.profitability, passed, value, threshold, text)


def _gas_gate(name: GateName, chain_id: int, balance: int, minimum: int, symbol: str) -> Gate:
    value = format_units(balance, NATIVE_DECIMALS, symbol)
    threshold = format_units(minimum, NATIVE_DECIMALS, symbol)
    passed = balance >= minimum
    text = f"gas balance {value} {'>=' if passed else '<'} min_gas_token {threshold} on chain {chain_id}"
    return Gate(name, passed, value, threshold, text)


def _inventory_gate(f: OrderFacts) -> Gate:
    r = f.request
    # A native dest token is also the gas that pays for the relay: keep min_gas_token aside.
    kept = f.dest_min_gas_token if r.is_native_dest else 0
    available = max(0, f.committable_dest - kept)
    value = format_units(available, f.dest_decimals, f.dest_symbol)
    threshold = format_units(r.dest_amount, f.dest_decimals, f.dest_symbol)
    passed = available >= r.dest_amount
    aside = (f" (min_gas_token {format_units(kept, NATIVE_DECIMALS, f.dest_native_symbol)} kept aside)"
             if r.is_native_dest else "")
    text = f"committable {value}{aside} {'>=' if passed else '<'} destAmount {threshold}"
    return Gate(GateName.inventory, passed, value, threshold, text)


# --- evaluations ----------------------------------------------------------------------------------

_STAY = None


def _decide(current: OrderStatus, checks: Sequence[tuple[Gate, OrderStatus | None]],
            success: OrderStatus) -> Decision:
    """Walk (gate, outcome if it fails) in order; see the module docstring for the reporting rule."""
    reasons: list[Gate] = []
    outcome: OrderStatus | None = success
    waiting = False
    for gate, on_failure in checks:
        reasons.append(gate)
        if gate.passed or waiting:
            continue
        if on_failure is not _STAY:
            outcome = on_failure
            break
        outcome, waiting = _STAY, True
    next_status = None if outcome is None or outcome == current else outcome
    if next_status is not None:
        check_transition(current, next_status)
    return Decision(next_status, tuple(reasons))


def evaluate_seen(facts: OrderFacts, current: OrderStatus = OrderStatus.Seen) -> Decision:
    """Seen / NotEnoughInventory -> WillNotProcess, DeadlineExceeded, NotEnoughInventory,
    CommittedPending, or stay (None). An order already in NotEnoughInventory whose outcome is
    NotEnoughInventory or a wait stays where it is (a status never moves down).

    The caller holds the per chain+token commit lock while deciding and recording CommittedPending,
    with `committable_dest` read under that lock, so two orders never commit the same funds.
    """
    current = OrderStatus(current)
    if current not in (OrderStatus.Seen, OrderStatus.NotEnoughInventory):
        raise ValueError(f"evaluate_seen decides Seen or NotEnoughInventory orders, not {current.label}")
    r = facts.request
    return _decide(current, (
        (_route_gate(facts), OrderStatus.WillNotProcess),
        (_decimals_gate(facts), OrderStatus.WillNotProcess),
        (_max_relay_gate(facts), OrderStatus.WillNotProcess),
        (_screening_gate(facts), OrderStatus.WillNotProcess),
        (deadline_gate(r.deadline, facts.dest_chain_time, facts.deadline_buffer_s),
         OrderStatus.DeadlineExceeded),
        (exclusivity_gate(r, facts.relayer, facts.dest_chain_time), _STAY),
        (_profitability_gate(facts), _STAY),
        (_gas_gate(GateName.origin_gas, r.origin_chain_id, facts.origin_gas_balance,
                   facts.origin_min_gas_token, facts.origin_native_symbol), _STAY),
        (_gas_gate(GateName.dest_gas, r.dest_chain_id, facts.dest_gas_balance,
                   facts.dest_min_gas_token, facts.dest_native_symbol), _STAY),
        (_inventory_gate(facts), OrderStatus.NotEnoughInventory),
    ), OrderStatus.CommittedPending)


_ORIGIN_STATUS_GATE = {
    OriginBridgeStatus.NULL: ("origin status NULL: request not on the origin chain (reorged away?)",
                              _STAY),
    OriginBridgeStatus.REQUESTED: ("origin status REQUESTED", _STAY),
    OriginBridgeStatus.RELAYER_PROVED: ("origin status RELAYER_PROVED: another relayer proved it",
                                        OrderStatus.RelayRaceLost),
    OriginBridgeStatus.RELAYER_CLAIMED: ("origin status RELAYER_CLAIMED: another relayer claimed it",
                                         OrderStatus.RelayRaceLost),
    OriginBridgeStatus.REFUNDED: ("origin status REFUNDED: the user was refunded", OrderStatus.Refunded),
}


def evaluate_committed_pending(
    request: BridgeRequest,
    *,
    origin_status: OriginBridgeStatus,
    observed_confirmations: int,
    required_confirmations: int,
    dest_chain_time: int,
    deadline_buffer_s: int,
) -> Decision:
    """CommittedPending -> CommittedConfirmed once the origin log has its confirmations and the
    origin status is still REQUESTED; RelayRaceLost / Refunded when the origin says the order is gone
    (checked first: a refund only happens after the deadline, so the deadline would hide it);
    DeadlineExceeded; otherwise stay. NULL (the request is not on origin) stays: the reorg handler
    rolls the order back, this decision never guesses."""
    status = OriginBridgeStatus(origin_status)
    text, on_failure = _ORIGIN_STATUS_GATE[status]
    origin_gate = Gate(GateName.origin_status, status == OriginBridgeStatus.REQUESTED, status.name,
                       OriginBridgeStatus.REQUESTED.name, text)
    return _decide(OrderStatus.CommittedPending, (
        (origin_gate, on_failure),
        (deadline_gate(request.deadline, dest_chain_time, deadline_buffer_s),
         OrderStatus.DeadlineExceeded),
        (confirmations_gate(observed_confirmations, required_confirmations), _STAY),
    ), OrderStatus.CommittedConfirmed)


def evaluate_committed_confirmed(
    request: BridgeRequest,
    *,
    relayer: str,
    relayed_by: str | None,
    dest_chain_time: int,
    deadline_buffer_s: int,
) -> Decision:
    """CommittedConfirmed -> RelayStarted (send `relay` now) unless the dest chain already shows a
    relay (`relayed_by`, from bridgeRelayDetails or a stored BridgeRelayed log; None or the zero
    address: not relayed): by us -> RelayCompleted, by another relayer -> RelayRaceLost. Deadline
    and exclusivity are checked again right before sending, since the contract would revert."""
    chain = request.dest_chain_id
    if relayed_by is None or relayed_by == ZERO_ADDRESS:
        relay_gate = Gate(GateName.dest_relay, True, "none", "none", f"not relayed yet on chain {chain}")
        on_relayed = _STAY
    elif checksum_address(relayed_by) == checksum_address(relayer):
        relay_gate = Gate(GateName.dest_relay, False, "us", "none", f"already relayed by us on chain {chain}")
        on_relayed = OrderStatus.RelayCompleted
    else:
        who = short_address(checksum_address(relayed_by))
        relay_gate = Gate(GateName.dest_relay, False, who, "none",
                          f"relayed by {who} on chain {chain}: race lost")
        on_relayed = OrderStatus.RelayRaceLost
    return _decide(OrderStatus.CommittedConfirmed, (
        (relay_gate, on_relayed),
        (deadline_gate(request.deadline, dest_chain_time, deadline_buffer_s),
         OrderStatus.DeadlineExceeded),
        (exclusivity_gate(request, relayer, dest_chain_time), _STAY),
    ), OrderStatus.RelayStarted)
