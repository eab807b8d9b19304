"""Route quotes with the canonical formulas of REFERENCE §3, exact.

Amounts are integers in base units; percentages, offsets and widths are Decimal (fractional bps kept,
where the canonical Go quoter truncates them) and every intermediate is a `Fraction`. Each result is
rounded DOWN to a base unit: a quote never offers more than the formula allows. The fixed fee is the
relayer's own fee model (`engine.relayer.fees.fee_breakdown`), so a quoted order and an incoming one are
priced by the same code.

`build_quotes` is pure: the engine passes the live facts of one refresh (balances, committed amounts,
gas balances and gas prices) and publishes what comes back.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from engine.config import MmtuiConfig, ResolvedChain, ResolvedToken, Route
from engine.relayer.decisions import committable
from engine.relayer.fees import BPS, NATIVE_DECIMALS, FeeBreakdown, fee_breakdown
from engine.units import format_units

__all__ = [
    "Quote",
    "MaxOriginAmount",
    "max_origin_amount",
    "dest_amount",
    "user_dest_amount",
    "build_quote",
    "build_quotes",
]

#: (chain id, checksum token address) -> an amount in that token's base units.
TokenAmounts = Mapping[tuple[int, str], int]


@dataclass(frozen=True, slots=True)
class MaxOriginAmount:
    """The largest origin amount quoted on a route and the step of §3 that bounded it (for the operator)."""

    amount: int
    limited_by: str


@dataclass(frozen=True, slots=True)
class Quote:
    """One route's quote: what the RFQ API publishes, plus what it was computed from.

    A user sending `origin` (<= max_origin_amount) receives `user_dest_amount(origin)` on the dest chain.
    """

    route: Route
    origin_symbol: str
    dest_symbol: str
    origin_decimals: int
    dest_decimals: int
    max_origin_amount: int  # origin token base units; 0 = not quoting this route now
    dest_amount: int  # dest token base units received for max_origin_amount, before the fixed fee
    fixed_fee: int  # dest token base units
    fee: FeeBreakdown | None  # None when the route is not quoted (no prices or a gate closed)
    origin_fast_bridge_address: str
    dest_fast_bridge_address: str
    limited_by: str  # why max_origin_amount is what it is, e.g. "max_relay_amount 50000 USDC"

    @property
    def origin_chain_id(self) -> int:
        return self.route.origin_chain_id

    @property
    def dest_chain_id(self) -> int:
        return self.route.dest_chain_id

    def user_dest_amount(self, origin_amount: int) -> int | None:
        """What a user sending `origin_amount` gets: None when this quote does not cover it."""
        return user_dest_amount(origin_amount, self.max_origin_amount, self.dest_amount, self.fixed_fee)


def _pct(value: Decimal) -> Fraction:
    return Fraction(value) / 100


def max_origin_amount(
    *,
    origin_chain: ResolvedChain,
    dest_chain: ResolvedChain,
    origin_token: ResolvedToken,
    dest_token: ResolvedToken,
    origin_balance: int,
    committable_dest: int,
    origin_gas_balance: int,
    dest_gas_balance: int,
) -> MaxOriginAmount:
    """REFERENCE §3, in its order: 0 if either chain's gas balance < its `min_gas_token`; else
    `committable_dest * quote_pct / 100` (dest chain's quote_pct), raised to the dest token's
    `min_quote_amount`, clipped to `max_balance - origin_balance` (origin token), to the committable dest
    balance and to `max_relay_amount` (origin token); for a native dest token minus the dest chain's
    `min_gas_token`; floor 0. Origin and dest tokens share decimals on a quotable route (the relayer
    refuses any other), so the amount is the same number of base units on both sides."""
    sym = dest_token.symbol
    dec = dest_token.decimals
    for chain, gas in ((origin_chain, origin_gas_balance), (dest_chain, dest_gas_balance)):
        if gas < chain.min_gas_token:
            return MaxOriginAmount(0, (
                f"gas balance {format_units(gas, NATIVE_DECIMALS, chain.native_token)} < min_gas_token "
                f"{format_units(chain.min_gas_token, NATIVE_DECIMALS, chain.native_token)} on chain {chain.chain_id}"))
    if origin_token.decimals != dest_token.decimals:
        return MaxOriginAmount(0, f"decimals mismatch {origin_token.decimals} -> {dest_token.decimals}")
    committable_dest = max(0, committable_dest)
    amount = Fraction(committable_dest) * _pct(dest_chain.quote_pct)
    limited_by = f"quote_pct {dest_chain.quote_pct.normalize():f}% of committable {format_units(committable_dest, dec, sym)}"
    if amount < dest_token.min_quote_amount:
        amount = Fraction(dest_token.min_quote_amount)
        limited_by = f"raised to min_quote_amount {format_units(dest_token.min_quote_amount, dec, sym)}"
    clips: list[tuple[int, str]] = []
    if origin_token.max_balance is not None:
        room = max(0, origin_token.max_balance - origin_balance)
        clips.append((room, f"max_balance {format_units(origin_token.max_balance, dec, origin_token.symbol)} "
                            f"- origin balance {format_units(origin_balance, dec, origin_token.symbol)}"))
    clips.append((committable_dest, f"committable dest balance {format_units(committable_dest, dec, sym)}"))
    if origin_token.max_relay_amount is not None:
        clips.append((origin_token.max_relay_amount,
                      f"max_relay_amount {format_units(origin_token.max_relay_amount, dec, origin_token.symbol)}"))
    for cap, why in clips:
        if amount > cap:
            amount, limited_by = Fraction(cap), why
    whole = math.floor(amount)
    if dest_token.is_native:
        # The dest gas token also pays for the relay: keep min_gas_token aside.
        whole -= dest_chain.min_gas_token
        limited_by += (f" minus min_gas_token "
                       f"{format_units(dest_chain.min_gas_token, NATIVE_DECIMALS, dest_chain.native_token)}")
    if whole <= 0:
        return MaxOriginAmount(0, limited_by + " (floor 0)")
    return MaxOriginAmount(whole, limited_by)


def dest_amount(max_origin: int, offset_origin_bps: Decimal, offset_dest_bps: Decimal, width_bps: Decimal) -> int:
    """`max_origin * (1 - (-offset_origin + offset_dest + width) / 10000)`, fractional bps kept, rounded down
    (floor 0)."""
    total_bps = -Fraction(offset_origin_bps) + Fraction(offset_dest_bps) + Fraction(width_bps)
    return max(0, math.floor(max_origin * (1 - total_bps / BPS)))


def user_dest_amount(origin_amount: int, max_origin: int, quoted_dest: int, fixed_fee: int) -> int | None:
    """A user's quote: `origin * dest_amount / max_origin - fixed_fee`, rounded down. None when the quote
    does not cover `origin_amount` (nothing quoted, 0 or above max_origin) or the fee takes all of it."""
    if max_origin <= 0 or not 0 < origin_amount <= max_origin:
        return None
    out = math.floor(Fraction(origin_amount * quoted_dest, max_origin)) - fixed_fee
    return out if out > 0 else None


def build_quote(
    config: MmtuiConfig,
    route: Route,
    *,
    origin_balance: int,
    committable_dest: int,
    origin_gas_balance: int,
    dest_gas_balance: int,
    origin_gas_price_wei: int,
    dest_gas_price_wei: int,
) -> Quote:
    """One route's quote from one refresh's facts. A disabled route, or a chain without a USD price for
    its gas token, is quoted at 0 (so a stale quote is withdrawn) with the reason in `limited_by`."""
    origin_chain, dest_chain = config.chain(route.origin_chain_id), config.chain(route.dest_chain_id)
    origin_token = origin_chain.token_by_address(route.origin_token)
    dest_token = dest_chain.token_by_address(route.dest_token)
    if origin_token is None or dest_token is None:
        raise KeyError(f"route {route.key}: token not configured")

    def quote(max_origin: MaxOriginAmount, fee: FeeBreakdown | None) -> Quote:
        dest = 0
        if max_origin.amount:
            dest = dest_amount(max_origin.amount, origin_token.quote_offset_bps, dest_token.quote_offset_bps,
                               dest_chain.quote_width_bps)
        return Quote(route, origin_token.symbol, dest_token.symbol, origin_token.decimals, dest_token.decimals,
                     max_origin.amount, dest, fee.total if fee is not None else 0, fee, origin_chain.rfq_address,
                     dest_chain.rfq_address, max_origin.limited_by)

    if config.route_disabled(route):
        return quote(MaxOriginAmount(0, "route disabled (limits.disabled_routes)"), None)
    native_origin, native_dest = origin_chain.native_price_usd(), dest_chain.native_price_usd()
    if native_origin is None or native_dest is None:
        chain = origin_chain if native_origin is None else dest_chain
        return quote(MaxOriginAmount(0, f"no USD price for the gas token of chain {chain.chain_id}"), None)
    fee = fee_breakdown(
        dest_token.decimals, dest_token.price_usd, origin_gas_price_wei, dest_gas_price_wei,
        origin_chain.origin_gas_estimate, dest_chain.dest_gas_estimate, native_origin, native_dest,
        dest_chain.fixed_fee_multiplier)
    max_origin = max_origin_amount(
        origin_chain=origin_chain, dest_chain=dest_chain, origin_token=origin_token, dest_token=dest_token,
        origin_balance=origin_balance, committable_dest=committable_dest,
        origin_gas_balance=origin_gas_balance, dest_gas_balance=dest_gas_balance)
    return quote(max_origin, fee)


def build_quotes(
    config: MmtuiConfig,
    balances: TokenAmounts,
    committed: TokenAmounts,
    gas_balances: Mapping[int, int],
    gas_prices: Mapping[int, int],
) -> tuple[Quote, ...]:
    """Quotes for every route of `quotable_tokens` from one refresh.

    `balances`: on-chain balance per (chain id, checksum token address); `committed`: the sum of destAmount
    of our committed orders per (chain, token) (absent = 0); `gas_balances` and `gas_prices` (wei) per
    chain. A route whose balances, gas balances or gas prices are not known yet is left out rather than
    quoted from a guess."""
    out: list[Quote] = []
    for route in config.routes:
        origin_key = (route.origin_chain_id, route.origin_token)
        dest_key = (route.dest_chain_id, route.dest_token)
        chains = (route.origin_chain_id, route.dest_chain_id)
        if origin_key not in balances or dest_key not in balances or any(
                c not in gas_balances or c not in gas_prices for c in chains):
            continue
        out.append(build_quote(
            config, route,
            origin_balance=balances[origin_key],
            committable_dest=committable(balances[dest_key], (committed.get(dest_key, 0),)),
            origin_gas_balance=gas_balances[route.origin_chain_id],
            dest_gas_balance=gas_balances[route.dest_chain_id],
            origin_gas_price_wei=gas_prices[route.origin_chain_id],
            dest_gas_price_wei=gas_prices[route.dest_chain_id],
        ))
    return tuple(out)
