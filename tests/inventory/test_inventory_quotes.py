"""REFERENCE §3 quote formulas with numbers worked out by hand."""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from invkit import ETH, GWEI, RFQ, USDC, USDC_UNIT, chain, make_config, route

from engine.config import NATIVE_TOKEN_ADDRESS
from engine.inventory.quotes import build_quote, build_quotes, dest_amount, user_dest_amount
from engine.relayer.fees import fee_breakdown, is_profitable

RICH_GAS = 5 * ETH


def quote(config, r, *, origin_balance=0, committable=100_000 * USDC_UNIT, origin_gas=RICH_GAS,
          dest_gas=RICH_GAS, origin_gas_price=0, dest_gas_price=0):
    return build_quote(config, r, origin_balance=origin_balance, committable_dest=committable,
                       origin_gas_balance=origin_gas, dest_gas_balance=dest_gas,
                       origin_gas_price_wei=origin_gas_price, dest_gas_price_wei=dest_gas_price)


def usdc_config(*, usdc1=None, usdc2=None, base=None, **kw):
    return make_config({1: chain(1, usdc=usdc1), 2: chain(2, usdc=usdc2)}, base=base, **kw)


def test_quote_pct_of_committable_dest_balance():
    config = usdc_config(base={"quote_pct": 90})
    q = quote(config, route(config, 1, "USDC", 2, "USDC"), committable=1_000 * USDC_UNIT)
    assert q.max_origin_amount == 900 * USDC_UNIT
    assert q.limited_by == "quote_pct 90% of committable 1000 USDC"


def test_fractional_quote_pct_rounds_down_to_a_base_unit():
    config = usdc_config(base={"quote_pct": "33.3"})
    q = quote(config, route(config, 1, "USDC", 2, "USDC"), committable=1_000_001)
    assert q.max_origin_amount == 333_000  # 1_000_001 * 0.333 = 333_000.333


@pytest.mark.parametrize(("origin_gas", "dest_gas", "chain_named"), [
    (ETH - 1, RICH_GAS, 1),
    (RICH_GAS, ETH - 1, 2),
])
def test_either_chains_gas_below_min_gas_token_quotes_zero(origin_gas, dest_gas, chain_named):
    config = usdc_config()
    q = quote(config, route(config, 1, "USDC", 2, "USDC"), origin_gas=origin_gas, dest_gas=dest_gas)
    assert (q.max_origin_amount, q.dest_amount) == (0, 0)
    assert q.limited_by == (f"gas balance 0.999999999999999999 ETH < min_gas_token 1 ETH on chain {chain_named}")
    # Exactly min_gas_token is enough.
    assert quote(config, route(config, 1, "USDC", 2, "USDC"), origin_gas=ETH, dest_gas=ETH).max_origin_amount > 0


def test_raised_to_min_quote_amount_then_clipped_to_dest_balance():
    config = usdc_config(base={"quote_pct": 10}, usdc2={"min_quote_amount": 50})
    r = route(config, 1, "USDC", 2, "USDC")
    q = quote(config, r, committable=100 * USDC_UNIT)  # 10 USDC raised to 50
    assert (q.max_origin_amount, q.limited_by) == (50 * USDC_UNIT, "raised to min_quote_amount 50 USDC")
    q = quote(config, r, committable=30 * USDC_UNIT)  # 3 raised to 50, clipped to the 30 we have
    assert (q.max_origin_amount, q.limited_by) == (30 * USDC_UNIT, "committable dest balance 30 USDC")


def test_clipped_to_max_balance_minus_origin_balance():
    config = usdc_config(usdc1={"max_balance": 1_000})
    r = route(config, 1, "USDC", 2, "USDC")
    q = quote(config, r, origin_balance=990 * USDC_UNIT)
    assert q.max_origin_amount == 10 * USDC_UNIT
    assert q.limited_by == "max_balance 1000 USDC - origin balance 990 USDC"
    # Already above max_balance: nothing quoted (floor 0), not a negative amount.
    assert quote(config, r, origin_balance=1_200 * USDC_UNIT).max_origin_amount == 0


def test_clipped_to_max_relay_amount_of_the_origin_token():
    config = usdc_config(usdc1={"max_relay_amount": 50_000}, usdc2={"max_relay_amount": 10})
    q = quote(config, route(config, 1, "USDC", 2, "USDC"))
    assert (q.max_origin_amount, q.limited_by) == (50_000 * USDC_UNIT, "max_relay_amount 50000 USDC")


def test_native_dest_token_keeps_min_gas_token_aside():
    config = make_config({1: chain(1), 2: chain(2)}, routes=[(1, "ETH", 2, "ETH")])
    r = route(config, 1, "ETH", 2, "ETH")
    q = quote(config, r, committable=10 * ETH)
    assert q.max_origin_amount == 9 * ETH
    assert q.limited_by == "quote_pct 100% of committable 10 ETH minus min_gas_token 1 ETH"
    q = quote(config, r, committable=ETH // 2)
    assert q.max_origin_amount == 0 and q.limited_by.endswith("(floor 0)")


def test_dest_amount_keeps_fractional_bps():
    # total = -0.5 + 1.25 + 2.5 = 3.25 bps: 1000 USDC * (1 - 0.000325) = 999.675 USDC.
    # (The Go quoter truncates the bps to 3 and would quote 999.7 USDC.)
    assert dest_amount(1_000 * USDC_UNIT, D("0.5"), D("1.25"), D("2.5")) == 999_675_000
    # A positive origin offset raises what we give; rounding is down.
    assert dest_amount(3, D(0), D(0), D("1")) == 2  # 3 * 0.9999 = 2.9997
    assert dest_amount(10**6, D("10"), D(0), D(0)) == 1_001_000


def test_route_quote_uses_token_offsets_dest_width_and_the_fee_model():
    config = usdc_config(usdc1={"quote_offset_bps": "0.5"}, usdc2={"quote_offset_bps": "1.25"},
                         base={"quote_width_bps": "2.5", "fixed_fee_multiplier": "1.25"})
    r = route(config, 1, "USDC", 2, "USDC")
    q = quote(config, r, committable=1_000 * USDC_UNIT, origin_gas_price=20 * GWEI, dest_gas_price=30 * GWEI)
    assert q.max_origin_amount == 1_000 * USDC_UNIT
    assert q.dest_amount == 999_675_000
    # origin: 20 gwei * 160k gas * 2600 USD * 1.25 = 10.4 USDC; dest: 30 gwei * 100k * 2600 * 1.25 = 9.75 USDC.
    assert q.fixed_fee == 20_150_000
    assert q.fee == fee_breakdown(6, D(1), 20 * GWEI, 30 * GWEI, 160_000, 100_000, D(2600), D(2600), D("1.25"))
    assert (q.origin_fast_bridge_address, q.dest_fast_bridge_address) == (RFQ, RFQ)
    assert (q.origin_symbol, q.dest_symbol, q.origin_decimals, q.dest_decimals) == ("USDC", "USDC", 6, 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.max_origin_amount = 1


def test_users_quote_and_its_profitability_under_the_relayers_own_rule():
    config = usdc_config(base={"quote_width_bps": "2.5"})
    q = quote(config, route(config, 1, "USDC", 2, "USDC"), committable=1_000 * USDC_UNIT,
              origin_gas_price=20 * GWEI, dest_gas_price=30 * GWEI)
    # 100 USDC * 999.75 / 1000 - fee (8.32 + 7.8 = 16.12 USDC at multiplier 1) = 83.855 USDC.
    assert q.fixed_fee == 16_120_000
    assert q.user_dest_amount(100 * USDC_UNIT) == 83_855_000
    for origin in (1_000_000 * 17, 100 * USDC_UNIT, q.max_origin_amount):
        dest = q.user_dest_amount(origin)
        assert is_profitable(origin, dest, q.fixed_fee, D(0), D(0), origin_decimals=6, dest_decimals=6)
        assert not is_profitable(origin, dest + 1 + origin // 1000, q.fixed_fee, D(0), D(0),
                                 origin_decimals=6, dest_decimals=6)
    assert q.user_dest_amount(q.max_origin_amount + 1) is None  # over what we quote
    assert q.user_dest_amount(16 * USDC_UNIT) is None  # the fee takes it all
    assert user_dest_amount(5, 0, 0, 0) is None  # nothing quoted


def test_disabled_route_and_unpriced_gas_token_quote_zero():
    config = usdc_config(limits={"disabled_routes": ["1-USDC>2-USDC"]})
    disabled = quote(config, route(config, 1, "USDC", 2, "USDC"))
    assert (disabled.max_origin_amount, disabled.fee) == (0, None)
    assert disabled.limited_by == "route disabled (limits.disabled_routes)"
    assert quote(config, route(config, 2, "USDC", 1, "USDC")).max_origin_amount > 0
    # Chain 2's gas token has no price entry (its native token is called ETH but only USDC is configured).
    chains = {1: chain(1), 2: chain(2)}
    del chains[2]["tokens"]["ETH"]
    config = make_config(chains)
    q = quote(config, route(config, 1, "USDC", 2, "USDC"))
    assert (q.max_origin_amount, q.limited_by) == (0, "no USD price for the gas token of chain 2")


def test_build_quotes_from_one_refresh():
    config = make_config({1: chain(1), 2: chain(2), 3: chain(3)},
                         routes=[(1, "USDC", 2, "USDC"), (2, "USDC", 1, "USDC"), (1, "USDC", 3, "USDC"),
                                 (1, "ETH", 2, "ETH")], base={"quote_pct": 50})
    balances = {
        (1, USDC[1]): 1_000 * USDC_UNIT, (2, USDC[2]): 4_000 * USDC_UNIT,
        (1, NATIVE_TOKEN_ADDRESS): 3 * ETH, (2, NATIVE_TOKEN_ADDRESS): 5 * ETH,
        # no balance of chain 3 yet: its route is left out
    }
    committed = {(2, USDC[2]): 1_000 * USDC_UNIT, (1, USDC[1]): 1_200 * USDC_UNIT}
    quotes = build_quotes(config, balances, committed, {1: 3 * ETH, 2: 5 * ETH}, {1: GWEI, 2: GWEI})
    by_route = {(q.origin_chain_id, q.origin_symbol, q.dest_chain_id): q for q in quotes}
    assert set(by_route) == {(1, "USDC", 2), (2, "USDC", 1), (1, "ETH", 2)}
    assert by_route[(1, "USDC", 2)].max_origin_amount == 1_500 * USDC_UNIT  # (4000 - 1000) * 50 %
    assert by_route[(2, "USDC", 1)].max_origin_amount == 0  # committed more than held: committable 0
    assert by_route[(1, "ETH", 2)].max_origin_amount == 3 * ETH // 2  # 5 ETH * 50 % - 1 ETH kept for gas
    # No gas price for chain 2 yet: nothing that touches chain 2 is quoted.
    assert [q.route for q in build_quotes(config, balances, committed, {1: ETH, 2: ETH}, {1: GWEI})] == []
