"""The first fee model and the profitability rule (REFERENCE §3), exact.

Amounts are integers in base units; prices, multipliers and offsets are Decimal (fractional bps kept);
every intermediate is a `Fraction`, so nothing is rounded until the one deliberate rounding: each fee
component is rounded UP to a whole base unit of the dest token (a fee is never under-estimated; the
canonical Go pricer truncates through big.Float). Floats are refused outright.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

NATIVE_DECIMALS = 18  # every EVM chain's gas token (REFERENCE §2: native = 18)
BPS = 10_000


@dataclass(frozen=True, slots=True)
class FeeBreakdown:
    """A fixed fee in dest token base units and every number it was computed from (for the trace).

    origin_fee pays our prove and claim on the origin chain, dest_fee our relay on the dest chain.
    """

    origin_fee: int
    dest_fee: int
    dest_token_decimals: int
    dest_price_usd: Decimal
    origin_gas_price_wei: int
    dest_gas_price_wei: int
    origin_gas_estimate: int
    dest_gas_estimate: int
    native_price_usd_origin: Decimal
    native_price_usd_dest: Decimal
    multiplier: Decimal

    @property
    def total(self) -> int:
        return self.origin_fee + self.dest_fee


def _exact(value: Decimal | int, name: str) -> Fraction:
    # bool is an int subclass and a float is already inexact: both are caller mistakes here.
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{name} must be a Decimal or an int, got {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")
    return Fraction(value)


def _non_negative_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _gas_cost_in_dest_units(
    gas_price_wei: int, gas_estimate: int, native_price_usd: Fraction, dest_price_usd: Fraction,
    dest_token_decimals: int, multiplier: Fraction,
) -> int:
    cost_usd = Fraction(gas_price_wei * gas_estimate, 10**NATIVE_DECIMALS) * native_price_usd
    return math.ceil(cost_usd / dest_price_usd * 10**dest_token_decimals * multiplier)


@functools.lru_cache(maxsize=256, typed=True)  # pure; its inputs change once per head, not per order
def fee_breakdown(
    dest_token_decimals: int,
    dest_price_usd: Decimal,
    origin_gas_price_wei: int,
    dest_gas_price_wei: int,
    origin_gas_estimate: int,
    dest_gas_estimate: int,
    native_price_usd_origin: Decimal,
    native_price_usd_dest: Decimal,
    multiplier: Decimal,
) -> FeeBreakdown:
    """Origin fee + dest fee, each `gas_price * gas_estimate` in the chain's gas token, converted to
    the dest token through USD prices, times `multiplier`, rounded up to a base unit."""
    for name, value in (
        ("dest_token_decimals", dest_token_decimals), ("origin_gas_price_wei", origin_gas_price_wei),
        ("dest_gas_price_wei", dest_gas_price_wei), ("origin_gas_estimate", origin_gas_estimate),
        ("dest_gas_estimate", dest_gas_estimate),
    ):
        _non_negative_int(value, name)
    dest_price = _exact(dest_price_usd, "dest_price_usd")
    if dest_price <= 0:
        raise ValueError(f"dest_price_usd must be > 0, got {dest_price_usd}")
    native_origin = _exact(native_price_usd_origin, "native_price_usd_origin")
    native_dest = _exact(native_price_usd_dest, "native_price_usd_dest")
    mult = _exact(multiplier, "multiplier")
    for name, value in (("native_price_usd_origin", native_origin),
                        ("native_price_usd_dest", native_dest), ("multiplier", mult)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    return FeeBreakdown(
        origin_fee=_gas_cost_in_dest_units(
            origin_gas_price_wei, origin_gas_estimate, native_origin, dest_price, dest_token_decimals, mult),
        dest_fee=_gas_cost_in_dest_units(
            dest_gas_price_wei, dest_gas_estimate, native_dest, dest_price, dest_token_decimals, mult),
        dest_token_decimals=dest_token_decimals,
        dest_price_usd=dest_price_usd,
        origin_gas_price_wei=origin_gas_price_wei,
        dest_gas_price_wei=dest_gas_price_wei,
        origin_gas_estimate=origin_gas_estimate,
        dest_gas_estimate=dest_gas_estimate,
        native_price_usd_origin=native_price_usd_origin,
        native_price_usd_dest=native_price_usd_dest,
        multiplier=multiplier,
    )


def is_profitable(
    origin_amount: int,
    dest_amount: int,
    fee: int,
    offset_origin_bps: Decimal,
    offset_dest_bps: Decimal,
    *,
    origin_decimals: int,
    dest_decimals: int,
) -> bool:
    """`originAmount * (1 + off_origin) >= (destAmount + fee) * (1 + off_dest)`, offsets in bps.

    Each side is taken in whole tokens of its own decimals, exactly (the same comparison as on a
    common 18-decimals scale, and still exact for tokens with more than 18 decimals). Like the
    canonical relayer it assumes the origin and dest tokens are the same asset (a quotable route).
    """
    origin = Fraction(origin_amount, 10**_non_negative_int(origin_decimals, "origin_decimals"))
    cost = Fraction(dest_amount + fee, 10**_non_negative_int(dest_decimals, "dest_decimals"))
    origin_factor = 1 + _exact(offset_origin_bps, "offset_origin_bps") / BPS
    dest_factor = 1 + _exact(offset_dest_bps, "offset_dest_bps") / BPS
    return origin * origin_factor >= cost * dest_factor
