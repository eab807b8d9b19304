"""The fee model and the profitability rule with numbers worked out by hand."""
from decimal import Decimal as D

import pytest

from engine.relayer.fees import FeeBreakdown, fee_breakdown, is_profitable

GWEI = 10**9


def usdc_fee(**overrides):
    args = dict(
        dest_token_decimals=6, dest_price_usd=D(1), origin_gas_price_wei=0, dest_gas_price_wei=0,
        origin_gas_estimate=160_000, dest_gas_estimate=100_000, native_price_usd_origin=D(2600),
        native_price_usd_dest=D(2600), multiplier=D("1.25"),
    )
    args.update(overrides)
    return args


def test_dest_fee_worked_example():
    # 30 gwei * 100k gas = 0.003 ETH; * 2600 USD = 7.8 USD = 7.8 USDC; * 1.25 = 9.75 USDC.
    assert fee_breakdown(**usdc_fee(dest_gas_price_wei=30 * GWEI)).total == 9_750_000


def test_origin_plus_dest_breakdown():
    # origin: 20 gwei * 160k = 0.0032 ETH * 2600 = 8.32 USD * 1.25 = 10.4 USDC.
    b = fee_breakdown(**usdc_fee(origin_gas_price_wei=20 * GWEI, dest_gas_price_wei=30 * GWEI))
    assert isinstance(b, FeeBreakdown)
    assert (b.origin_fee, b.dest_fee, b.total) == (10_400_000, 9_750_000, 20_150_000)
    assert b.origin_gas_price_wei == 20 * GWEI and b.dest_gas_estimate == 100_000
    assert b.multiplier == D("1.25") and b.native_price_usd_dest == D(2600)
    with pytest.raises(AttributeError):
        b.origin_fee = 0  # frozen


def test_fees_round_up_never_down():
    # 1 wei of gas at 2600 USD/ETH is 2.6e-15 USD = 2.6e-9 USDC base units: still one base unit.
    assert fee_breakdown(**usdc_fee(dest_gas_price_wei=1, dest_gas_estimate=1, multiplier=D(1))).total == 1
    # 9.75 USD at 0.999 USD per token = 9.759759759... tokens = 9_759_759.76 base units -> 9_759_760.
    assert fee_breakdown(**usdc_fee(dest_gas_price_wei=30 * GWEI, dest_price_usd=D("0.999"))).total == 9_759_760
    # Each component rounds up on its own: two 2.6e-9 components make 2 base units.
    both = usdc_fee(origin_gas_price_wei=1, origin_gas_estimate=1, dest_gas_price_wei=1,
                    dest_gas_estimate=1, multiplier=D(1))
    assert fee_breakdown(**both).total == 2


def test_native_dest_token_and_cheap_origin_gas_token():
    # Dest token is ETH itself (18 decimals): 0.003 ETH * 1.25 = 0.00375 ETH.
    assert fee_breakdown(**usdc_fee(dest_token_decimals=18, dest_price_usd=D(2600),
                                    dest_gas_price_wei=30 * GWEI)).total == 3_750_000_000_000_000
    # Origin gas token at 0.5 USD: 100 gwei * 160k = 0.016 * 0.5 = 0.008 USD = 8000 USDC units.
    b = fee_breakdown(**usdc_fee(origin_gas_price_wei=100 * GWEI, native_price_usd_origin=D("0.5"),
                                 multiplier=D(1)))
    assert (b.origin_fee, b.dest_fee) == (8_000, 0)


@pytest.mark.parametrize(("overrides", "error"), [
    ({"dest_price_usd": 1.0}, TypeError),
    ({"multiplier": 1.25}, TypeError),
    ({"dest_price_usd": D(0)}, ValueError),
    ({"native_price_usd_origin": D(-1)}, ValueError),
    ({"native_price_usd_dest": D("NaN")}, ValueError),
    ({"dest_gas_price_wei": -1}, ValueError),
    ({"dest_token_decimals": 6.0}, ValueError),
])
def test_bad_inputs_are_refused(overrides, error):
    with pytest.raises(error):
        fee_breakdown(**usdc_fee(**overrides))


def profitable(origin, dest, fee, off_o, off_d, od=6, dd=6):
    return is_profitable(origin, dest, fee, D(off_o), D(off_d), origin_decimals=od, dest_decimals=dd)


def test_exactly_equal_is_profitable_one_unit_less_is_not():
    # (999.6 + 0.4) * (1 + 2.5/10000) = 1000.25 USDC.
    assert profitable(1_000_250_000, 999_600_000, 400_000, "0", "2.5")
    assert not profitable(1_000_249_999, 999_600_000, 400_000, "0", "2.5")
    # Negative fractional origin offset: 20 * (1 - 0.5/10000) = 19.999 USDC.
    assert profitable(20_000_000, 19_999_000, 0, "-0.5", "0")
    assert not profitable(20_000_000, 19_999_001, 0, "-0.5", "0")
    # No offsets: origin must cover dest + fee.
    assert profitable(1_000_000_000, 999_600_000, 400_000, 0, 0)
    assert not profitable(1_000_000_000, 999_600_001, 400_000, 0, 0)


def test_tiny_fractional_bps_on_huge_amounts_stay_exact():
    # 0.0001 bps = 1e-8: 10**30 * (1 + 1e-8) = 10**30 + 10**22 exactly (a float would lose it).
    assert profitable(10**30 + 10**22, 10**30, 0, "0", "0.0001", 18, 18)
    assert not profitable(10**30 + 10**22 - 1, 10**30, 0, "0", "0.0001", 18, 18)


def test_mixed_decimals_are_normalised():
    # 18-decimals origin vs 6-decimals dest: 1000 USDC * 1.00025 = 1000.25 tokens.
    assert profitable(1000_250_000_000_000_000_000, 999_600_000, 400_000, "0", "2.5", 18, 6)
    assert not profitable(1000_250_000_000_000_000_000 - 1, 999_600_000, 400_000, "0", "2.5", 18, 6)
    # 6-decimals origin vs 18-decimals dest (fee in dest units too).
    assert profitable(1_000_000, 999_000_000_000_000_000, 1_000_000_000_000_000, 0, 0, 6, 18)
    assert not profitable(1_000_000, 999_000_000_000_000_000, 1_000_000_000_000_001, 0, 0, 6, 18)


def test_more_than_18_decimals_is_not_truncated():
    # 1.0000000000000000005 < 1.0000000000000000006; truncating both to 18 decimals would tie them.
    assert not profitable(10**24 + 5 * 10**5, 10**24 + 6 * 10**5, 0, 0, 0, 24, 24)


def test_float_offsets_are_refused():
    with pytest.raises(TypeError):
        is_profitable(1, 1, 0, 2.5, D(0), origin_decimals=6, dest_decimals=6)
