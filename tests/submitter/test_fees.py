"""FeePolicy: suggestion, floor, ceiling and the +12.5 % bump rule (pure, with a stub RPC)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from engine.chain.fees import FeeConfig, FeePolicy, Fees, gwei_to_wei
from engine.chain.rpc import FeeHistory, MethodNotSupported

GWEI = 10**9


class StubRpc:
    def __init__(self, base: int, rewards: list[int], tip: int | None = None) -> None:
        self.history = FeeHistory(1, (base,) * (len(rewards) + 1), (0.5,) * len(rewards),
                                  tuple((r,) for r in rewards))
        self.tip = tip

    async def fee_history(self, block_count, newest_block="latest", reward_percentiles=()):
        return self.history

    async def max_priority_fee(self) -> int:
        if self.tip is None:
            raise MethodNotSupported(1, "eth_maxPriorityFeePerGas", "method not found")
        return self.tip


def policy(rpc=None, **config) -> FeePolicy:
    return FeePolicy(rpc or StubRpc(GWEI, []), FeeConfig(**config))


async def test_suggest_uses_median_reward_and_twice_the_base_fee():
    fees = await policy(StubRpc(10 * GWEI, [0, 3 * GWEI, 1 * GWEI, 2 * GWEI])).suggest()
    assert fees == Fees(22 * GWEI, 2 * GWEI, 10 * GWEI, False)


async def test_suggest_falls_back_to_max_priority_fee_then_to_the_floor():
    assert (await policy(StubRpc(GWEI, [0, 0], tip=GWEI)).suggest()).max_priority_fee_per_gas == GWEI
    fees = await policy(StubRpc(GWEI, [0], tip=None), priority_fee_floor_gwei=Decimal("0.5")).suggest()
    assert fees.max_priority_fee_per_gas == GWEI // 2 and fees.max_fee_per_gas == 2 * GWEI + GWEI // 2


async def test_floor_and_ceiling():
    low = await policy(StubRpc(1, [0], tip=0), max_fee_floor_gwei=Decimal(3)).suggest()
    assert low.max_fee_per_gas == 3 * GWEI and not low.capped
    high = await policy(StubRpc(100 * GWEI, [GWEI]), max_fee_ceiling_gwei=Decimal(50)).suggest()
    assert high.max_fee_per_gas == 50 * GWEI and high.capped and high.base_fee == 100 * GWEI


def test_bump_is_at_least_twelve_and_a_half_percent():
    p = policy()
    bumped = p.bump(Fees(10 * GWEI, GWEI))
    assert bumped.max_fee_per_gas == 11_250_000_000 and bumped.max_priority_fee_per_gas == 1_125_000_000
    odd = p.bump(Fees(7, 3))  # rounded up, never down
    assert Fraction(odd.max_fee_per_gas, 7) >= Fraction(9, 8) and Fraction(odd.max_priority_fee_per_gas, 3) >= Fraction(9, 8)
    zero_tip = p.bump(Fees(10, 0))
    assert zero_tip.max_priority_fee_per_gas >= 1
    market = p.bump(Fees(10 * GWEI, GWEI), Fees(30 * GWEI, 2 * GWEI))
    assert (market.max_fee_per_gas, market.max_priority_fee_per_gas) == (30 * GWEI, 2 * GWEI)


def test_bump_respects_the_ceiling():
    p = policy(max_fee_ceiling_gwei=Decimal(12))
    assert p.bump(Fees(10 * GWEI, GWEI)).max_fee_per_gas == 11_250_000_000
    assert p.bump(Fees(11 * GWEI, GWEI)) is None  # 12.375 gwei needed, 12 allowed
    capped = p.bump(Fees(10 * GWEI, GWEI), Fees(20 * GWEI, GWEI))
    assert capped.max_fee_per_gas == 12 * GWEI and capped.capped


def test_config_validation():
    with pytest.raises(ValueError, match="12.5"):
        FeeConfig(bump_percent=Decimal(10))
    with pytest.raises(ValueError):
        FeeConfig(max_fee_ceiling_gwei=Decimal(1), max_fee_floor_gwei=Decimal(2))
    with pytest.raises(TypeError):
        gwei_to_wei(1.5)
    assert gwei_to_wei(Decimal("0.000000001")) == 1 and gwei_to_wei("2.5") == 2_500_000_000
    with pytest.raises(ValueError):
        gwei_to_wei(Decimal("0.0000000001"))
