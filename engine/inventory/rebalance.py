"""The canonical rebalancing algorithm of REFERENCE §4, exact and pure.

Per token symbol and rebalance method, over the chains whose token uses that method:
1. `total` = sum of their balances; the candidate is the ordered pair (origin, dest) with the largest
   `balance(origin) - balance(dest)` (the richest chain to the poorest; ties go to the lower chain id).
2. Only if `balance(dest) <= total * maintenance_pct(dest)`.
3. amount = `balance(origin) - total * initial_pct(origin)`, lowered to `total * initial_pct(dest) -
   balance(dest)` when that is positive and smaller.
4. No rebalance when amount < `min_rebalance_amount`; clipped to `max_rebalance_amount`; no rebalance when
   the origin would then drop below its own maintenance threshold (checked on the final amount: the
   amount actually sent is what drains the origin). Min/max are the origin token's settings.
5. At most one pending rebalance per token: a token in `pending` gets no proposal.
Thresholds are exact Fractions; the amount is rounded down to a base unit at the end.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from engine.config import MmtuiConfig, ResolvedToken
from engine.units import format_units

__all__ = ["RebalanceMember", "RebalanceProposal", "RebalanceOutcome", "propose_rebalance", "propose_rebalances"]


@dataclass(frozen=True, slots=True)
class RebalanceMember:
    """One chain's token in a (symbol, method) group and its balance (base units)."""

    token: ResolvedToken
    balance: int

    @property
    def chain_id(self) -> int:
        return self.token.chain_id


@dataclass(frozen=True, slots=True)
class RebalanceProposal:
    """Move `amount` of `token` from `origin_chain_id` to `dest_chain_id` by `method`, and why."""

    token: str  # symbol
    method: str  # cctp | circlecctp
    origin_chain_id: int
    dest_chain_id: int
    origin_token: str  # checksum address
    dest_token: str  # checksum address
    amount: int  # base units
    decimals: int
    mode: str  # "auto" only when every chain of the group says auto, else "manual" (operator approves)
    total: int  # the group's total balance the percentages apply to
    origin_balance: int
    dest_balance: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RebalanceOutcome:
    """The verdict for one (token, method): a proposal, or None and the reason why not."""

    token: str
    method: str
    proposal: RebalanceProposal | None
    reason: str


def _share(total: int, pct: Decimal) -> Fraction:
    return Fraction(total) * Fraction(pct) / 100


def _pct_text(pct: Decimal) -> str:
    return f"{pct.normalize():f}%"


def propose_rebalance(
    symbol: str, method: str, members: Sequence[RebalanceMember], pending: Collection[str] = ()
) -> RebalanceOutcome:
    """REFERENCE §4 for one token and method (see the module docstring). `pending`: the symbols of tokens
    with a rebalance in flight."""

    def no(reason: str) -> RebalanceOutcome:
        return RebalanceOutcome(symbol, method, None, reason)

    if symbol in pending:
        return no(f"a {symbol} rebalance is already pending (at most one per token)")
    if len(members) < 2:
        return no(f"{symbol} by {method} needs at least two chains (has {len(members)})")
    for m in members:
        if m.token.maintenance_balance_pct is None or m.token.initial_balance_pct is None:
            return no(f"{symbol} on chain {m.chain_id}: maintenance/initial percentages not configured")
        if m.balance < 0:
            raise ValueError(f"negative balance {m.balance} for {symbol} on chain {m.chain_id}")
    decimals = members[0].token.decimals

    def units(amount: int | Fraction) -> str:
        return format_units(math.floor(amount), decimals, symbol)

    total = sum(m.balance for m in members)
    if total == 0:
        return no(f"no {symbol} on the chains rebalancing by {method}")
    ordered = sorted(members, key=lambda m: m.chain_id)
    # The largest balance(origin) - balance(dest) over ordered pairs: the richest chain to the poorest.
    origin = max(ordered, key=lambda m: m.balance)  # max/min keep the first (lowest chain id) on ties
    dest = min(ordered, key=lambda m: m.balance)
    if origin is dest or origin.balance == dest.balance:
        return no(f"{symbol} balances are even across chains {', '.join(str(m.chain_id) for m in ordered)}")
    o, d = origin.token, dest.token
    dest_floor = _share(total, d.maintenance_balance_pct)
    if dest.balance > dest_floor:
        return no(f"chain {dest.chain_id} holds {units(dest.balance)} > maintenance "
                  f"{_pct_text(d.maintenance_balance_pct)} of {units(total)} ({units(dest_floor)}): nothing to do")
    reasons = [f"chain {dest.chain_id} holds {units(dest.balance)} <= maintenance "
               f"{_pct_text(d.maintenance_balance_pct)} of {units(total)} ({units(dest_floor)})"]
    origin_excess = origin.balance - _share(total, o.initial_balance_pct)
    if origin_excess <= 0:
        return no(f"chain {origin.chain_id} holds {units(origin.balance)}, not above its initial "
                  f"{_pct_text(o.initial_balance_pct)} ({units(_share(total, o.initial_balance_pct))})")
    amount = origin_excess
    reasons.append(f"chain {origin.chain_id} excess over its initial {_pct_text(o.initial_balance_pct)}: "
                   f"{units(origin_excess)}")
    dest_need = _share(total, d.initial_balance_pct) - dest.balance
    if 0 < dest_need < amount:
        amount = dest_need
        reasons.append(f"lowered to {units(dest_need)}, which brings chain {dest.chain_id} to its initial "
                       f"{_pct_text(d.initial_balance_pct)}")
    whole = math.floor(amount)
    if whole < o.min_rebalance_amount or whole == 0:
        return no(f"amount {units(whole)} < min_rebalance_amount {units(o.min_rebalance_amount)}")
    if o.max_rebalance_amount is not None and whole > o.max_rebalance_amount:
        whole = o.max_rebalance_amount
        reasons.append(f"clipped to max_rebalance_amount {units(o.max_rebalance_amount)}")
    origin_floor = _share(total, o.maintenance_balance_pct)
    if origin.balance - whole < origin_floor:
        return no(f"chain {origin.chain_id} would drop to {units(origin.balance - whole)} < its maintenance "
                  f"{_pct_text(o.maintenance_balance_pct)} ({units(origin_floor)})")
    mode = "auto" if all(m.token.rebalance_mode == "auto" for m in members) else "manual"
    proposal = RebalanceProposal(
        token=symbol, method=method, origin_chain_id=origin.chain_id, dest_chain_id=dest.chain_id,
        origin_token=o.address, dest_token=d.address, amount=whole, decimals=decimals, mode=mode, total=total,
        origin_balance=origin.balance, dest_balance=dest.balance, reasons=tuple(reasons))
    return RebalanceOutcome(symbol, method, proposal,
                            f"move {units(whole)} from chain {origin.chain_id} to chain {dest.chain_id} by {method}")


def propose_rebalances(
    config: MmtuiConfig, balances: Mapping[tuple[int, str], int], pending: Collection[str] = ()
) -> tuple[RebalanceOutcome, ...]:
    """One outcome per (token symbol, rebalance method) configured, from `balances` per (chain id, checksum
    token address). A group with a chain whose balance is not known yet gets no proposal (and says so)."""
    groups: dict[tuple[str, str], list[ResolvedToken]] = {}
    for chain in config.chains.values():
        for token in chain.tokens.values():
            if token.rebalance_method is not None:
                groups.setdefault((token.symbol, token.rebalance_method), []).append(token)
    out: list[RebalanceOutcome] = []
    for (symbol, method), tokens in sorted(groups.items()):
        missing = [t.chain_id for t in tokens if (t.chain_id, t.address) not in balances]
        if missing:
            out.append(RebalanceOutcome(symbol, method, None,
                                        f"{symbol} balance not known yet on chain(s) {', '.join(map(str, missing))}"))
            continue
        members = [RebalanceMember(t, balances[(t.chain_id, t.address)]) for t in tokens]
        out.append(propose_rebalance(symbol, method, members, pending))
    return tuple(out)
