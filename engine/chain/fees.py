"""EIP-1559 fee policy for the transaction submitter (REFERENCE §5).

* A fresh transaction: ``max_fee = next_base_fee * base_fee_multiplier + priority`` where the priority fee
  is the median of the ``reward_percentile`` rewards of the last ``history_blocks`` blocks (non-zero ones),
  or ``eth_maxPriorityFeePerGas`` when those blocks carry no rewards (empty blocks, devnets). The priority
  fee has a floor, the max fee a floor and a ceiling (configured in gwei, exact).
* A replacement at the same nonce: both fees raised by at least ``bump_percent`` (>= 12.5 %: real nodes
  want +10 %) and at least to the current suggestion, never above the ceiling. When the ceiling leaves no
  room for a valid bump, ``bump`` answers None: keep waiting.

Everything is integer wei; percentages are exact fractions (no float anywhere).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from engine.chain.rpc import ChainRpc, MethodNotSupported, RpcResponseError
from engine.config import to_base_units

log = logging.getLogger(__name__)

GWEI = 10**9
MIN_BUMP_PERCENT = Decimal("12.5")


def gwei_to_wei(amount: Decimal | int | str) -> int:
    """Exact gwei -> wei (Decimal, int or decimal string; a float is refused)."""
    if isinstance(amount, float) or isinstance(amount, bool):
        raise TypeError("gwei amounts must be Decimal, int or str, never float")
    value = Decimal(amount) if not isinstance(amount, Decimal) else amount
    if value < 0:
        raise ValueError(f"gwei amount must not be negative, got {value}")
    return to_base_units(value, 9)


def _ceil_mul(value: int, factor: Fraction) -> int:
    product = value * factor
    return -(-product.numerator // product.denominator)


@dataclass(frozen=True, slots=True)
class FeeConfig:
    """Fee limits and policy knobs. Amounts in gwei (exact Decimal), converted once to wei."""

    max_fee_ceiling_gwei: Decimal = Decimal(500)
    max_fee_floor_gwei: Decimal = Decimal(0)
    priority_fee_floor_gwei: Decimal = Decimal("0.001")
    base_fee_multiplier: int = 2
    reward_percentile: float = 50.0
    history_blocks: int = 10
    bump_percent: Decimal = MIN_BUMP_PERCENT

    def __post_init__(self) -> None:
        if Decimal(self.bump_percent) < MIN_BUMP_PERCENT:
            raise ValueError(f"bump_percent must be >= {MIN_BUMP_PERCENT} (got {self.bump_percent})")
        if self.base_fee_multiplier < 1:
            raise ValueError("base_fee_multiplier must be >= 1")
        if not 1 <= self.history_blocks <= 1024:
            raise ValueError("history_blocks must be in [1, 1024]")
        if not 0 <= self.reward_percentile <= 100:
            raise ValueError("reward_percentile must be in [0, 100]")
        if self.ceiling_wei < self.floor_wei:
            raise ValueError("max_fee_ceiling_gwei is below max_fee_floor_gwei")
        if self.priority_floor_wei > self.ceiling_wei:
            raise ValueError("priority_fee_floor_gwei is above max_fee_ceiling_gwei")

    @property
    def ceiling_wei(self) -> int:
        return gwei_to_wei(self.max_fee_ceiling_gwei)

    @property
    def floor_wei(self) -> int:
        return gwei_to_wei(self.max_fee_floor_gwei)

    @property
    def priority_floor_wei(self) -> int:
        return gwei_to_wei(self.priority_fee_floor_gwei)

    @property
    def bump_factor(self) -> Fraction:
        return 1 + Fraction(Decimal(self.bump_percent)) / 100


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int = 0  # the next block's base fee when suggested (0 when unknown)
    capped: bool = False  # the ceiling cut the suggestion

    def __post_init__(self) -> None:
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValueError("priority fee above max fee")

    def __str__(self) -> str:
        return (f"max {Decimal(self.max_fee_per_gas) / GWEI:f} gwei, "
                f"tip {Decimal(self.max_priority_fee_per_gas) / GWEI:f} gwei")


class FeePolicy:
    """Suggests fees for one chain from its RPC, within the configured floor and ceiling."""

    def __init__(self, rpc: ChainRpc, config: FeeConfig | None = None) -> None:
        self.rpc = rpc
        self.config = config or FeeConfig()
        self._ceiling = self.config.ceiling_wei
        self._floor = self.config.floor_wei
        self._tip_floor = self.config.priority_floor_wei
        self._bump = self.config.bump_factor
        self._last: tuple[float, Fees] | None = None  # (monotonic time, suggestion)

    @property
    def ceiling_wei(self) -> int:
        return self._ceiling

    async def suggest(self, max_age: float = 0.0) -> Fees:
        """Fees from the chain's fee history now, or the last suggestion if it is younger than
        `max_age` seconds (the engine refreshes it on every head; a send need not ask again)."""
        if self._last is not None and time.monotonic() - self._last[0] < max_age:
            return self._last[1]
        fees = await self._suggest()
        self._last = (time.monotonic(), fees)
        return fees

    async def _suggest(self) -> Fees:
        cfg = self.config
        history = await self.rpc.fee_history(cfg.history_blocks, "latest", [cfg.reward_percentile])
        base = history.next_base_fee
        rewards = sorted(row[0] for row in history.reward if row and row[0] > 0)
        if rewards:
            tip = rewards[len(rewards) // 2]
        else:
            try:
                tip = await self.rpc.max_priority_fee()
            except (MethodNotSupported, RpcResponseError):
                tip = 0
        return self.clamp(base * cfg.base_fee_multiplier + max(tip, self._tip_floor),
                          max(tip, self._tip_floor), base)

    def clamp(self, max_fee: int, tip: int, base: int = 0) -> Fees:
        """Apply floor and ceiling: max_fee in [floor, ceiling], tip in [tip floor, max_fee]."""
        max_fee = max(max_fee, self._floor, tip)
        capped = max_fee > self._ceiling
        max_fee = min(max_fee, self._ceiling)
        tip = min(max(tip, self._tip_floor), max_fee)
        return Fees(max_fee, tip, base, capped)

    def bump(self, previous: Fees, current: Fees | None = None) -> Fees | None:
        """Fees for a replacement of `previous` at the same nonce: both raised by >= bump_percent (and at
        least +1 wei) and at least to `current`; None when the ceiling leaves no room for that."""
        min_max = max(_ceil_mul(previous.max_fee_per_gas, self._bump), previous.max_fee_per_gas + 1)
        min_tip = max(_ceil_mul(previous.max_priority_fee_per_gas, self._bump),
                      previous.max_priority_fee_per_gas + 1)
        max_fee, tip = min_max, min_tip
        if current is not None:
            max_fee = max(max_fee, current.max_fee_per_gas)
            tip = max(tip, current.max_priority_fee_per_gas)
        max_fee = max(max_fee, tip)
        if max_fee > self._ceiling:
            max_fee = self._ceiling
        if max_fee < min_max:
            return None
        tip = min(tip, max_fee)
        if tip < min_tip:
            return None
        return Fees(max_fee, tip, current.base_fee if current else 0, max_fee == self._ceiling)
