"""Exposure limits: each gate passes at its limit, fails one base unit (or cent) past it, and names the
limit with its numbers."""
from __future__ import annotations

from fractions import Fraction

import pytest
from invkit import ETH, USDC_UNIT, chain, make_config, route

from engine.inventory.limits import (
    LimitName,
    NotionalWindow,
    format_usd,
    max_balance_gate,
    max_relay_amount_gate,
    order_limit_gates,
    order_notional_gate,
    order_notional_usd,
    route_enabled_gate,
)
from engine.relayer.decisions import Decision, Gate

LIMITS = {"max_order_notional_usd": 25_000, "max_window_notional_usd": 60_000, "window_seconds": 3600,
          "disabled_routes": ["2-ETH>1-ETH"]}


@pytest.fixture(scope="module")
def config():
    return make_config(
        {1: chain(1, usdc={"max_relay_amount": 50_000, "max_balance": 200_000}),
         2: chain(2, usdc={"price_usd": "0.999"}, eth={"price_usd": "2600.5"})},
        routes=[(1, "USDC", 2, "USDC"), (2, "USDC", 1, "USDC"), (1, "ETH", 2, "ETH"), (2, "ETH", 1, "ETH")],
        limits=LIMITS)


def test_max_relay_amount(config):
    usdc = config.token(1, "USDC")
    ok = max_relay_amount_gate(50_000 * USDC_UNIT, usdc)
    assert isinstance(ok, Gate) and ok.passed and ok.name == LimitName.max_relay_amount
    bad = max_relay_amount_gate(50_000 * USDC_UNIT + 1, usdc)
    assert not bad.passed
    assert bad.text == "originAmount 50000.000001 USDC > max_relay_amount 50000 USDC on chain 1"
    assert (bad.value, bad.threshold) == ("50000.000001 USDC", "50000 USDC")
    assert max_relay_amount_gate(10**30, config.token(2, "USDC")).passed  # none configured


def test_max_balance_counts_what_is_already_owed_to_us(config):
    usdc = config.token(1, "USDC")
    assert max_balance_gate(150_000 * USDC_UNIT, 30_000 * USDC_UNIT, 20_000 * USDC_UNIT, usdc).passed
    bad = max_balance_gate(150_000 * USDC_UNIT, 30_000 * USDC_UNIT, 20_000 * USDC_UNIT + 1, usdc)
    assert not bad.passed and bad.name == "max_balance"
    assert bad.text == "balance after claim 200000.000001 USDC > max_balance 200000 USDC on chain 1"
    assert max_balance_gate(10**30, 0, 1, config.token(2, "USDC")).passed


def test_order_notional_at_the_configured_price(config):
    usdc2 = config.token(2, "USDC")  # 0.999 USD
    assert order_notional_usd(1_000 * USDC_UNIT, usdc2) == Fraction(999)
    # 25025.025025 USDC * 0.999 = 24999.999999975 USD: under the limit, shown truncated.
    ok = order_notional_gate(25_025_025_025, usdc2, config.limits)
    assert ok.passed and ok.value == "24999.999999 USD"
    bad = order_notional_gate(25_025_025_026, usdc2, config.limits)  # 25000.000000974 USD
    assert not bad.passed
    assert bad.text == ("order notional 25000 USD (25025.025026 USDC at 0.999 USD) > "
                        "max_order_notional_usd 25000 USD")
    eth2 = config.token(2, "ETH")
    assert not order_notional_gate(10 * ETH, eth2, config.limits).passed  # 26005 USD


def test_route_switch(config):
    on = route_enabled_gate(config, route(config, 1, "ETH", 2, "ETH"))
    off = route_enabled_gate(config, route(config, 2, "ETH", 1, "ETH"), "2:ETH -> 1:ETH")
    assert on.passed and not off.passed
    assert off.text == "route 2:ETH -> 1:ETH disabled by limits.disabled_routes"


def test_rolling_window_on_chain_time(config):
    window = NotionalWindow(3600)
    window.add(1_000, Fraction(20_000))
    window.add(2_000, Fraction(30_000))
    assert window.total(2_000) == 50_000
    gate = window.gate(2_000, Fraction(10_000), config.limits)
    assert gate.passed and gate.value == "60000 USD"
    bad = window.gate(2_000, Fraction(10_000) + Fraction(1, 100), config.limits)
    assert not bad.passed
    assert bad.text == ("window notional 50000 USD + order 10000.01 USD = 60000.01 USD > "
                        "max_window_notional_usd 60000 USD per 3600 s")
    # The first order leaves the window exactly window_seconds later (an entry counts while now - 3600 < t).
    assert window.total(4_599) == 50_000
    assert window.total(4_600) == 30_000
    assert window.gate(4_600, Fraction(30_000), config.limits).passed
    # A late arrival (another chain's clock lags) is still counted in order.
    window.add(1_500, Fraction(5))
    assert window.total(4_600) == 30_005
    assert window.total(5_100) == 30_000
    assert window.total(5_600) == 0
    # An entry stamped later than `now` (another chain's clock ahead) counts only once its time has come;
    # a commitment taken back leaves the total once, however often it is taken back.
    window.add(5_700, Fraction(7))
    window.add(5_650, Fraction(3))
    assert window.total(5_600) == 0 and window.total(5_650) == 3 and window.total(5_700) == 10
    window.remove(5_650, Fraction(3))
    window.remove(5_650, Fraction(3))
    assert window.total(5_700) == 7
    assert window.total(5_700 + 3600) == 0
    with pytest.raises(ValueError):
        NotionalWindow(0)


def test_order_limit_gates_fit_a_decision_trace(config):
    window = NotionalWindow(config.limits.window_seconds, [(100, Fraction(50_000))])
    r = route(config, 1, "USDC", 2, "USDC")
    gates = order_limit_gates(config, r, origin_amount=20_000 * USDC_UNIT, dest_amount=19_990 * USDC_UNIT,
                              origin_balance=100_000 * USDC_UNIT, origin_incoming=0, window=window, now=200)
    assert [g.name for g in gates] == ["route_enabled", "max_relay_amount", "max_balance",
                                       "max_order_notional_usd", "max_window_notional_usd"]
    # 19990 USDC at 0.999 = 19970.01 USD; the window already holds 50000 of 60000.
    blocker = Decision(None, gates).blocker
    assert blocker is not None and blocker.name == "max_window_notional_usd"
    assert blocker.text == ("window notional 50000 USD + order 19970.01 USD = 69970.01 USD > "
                            "max_window_notional_usd 60000 USD per 3600 s")
    assert all(g.passed for g in order_limit_gates(
        config, r, origin_amount=1, dest_amount=1, origin_balance=0, origin_incoming=0,
        window=NotionalWindow(3600), now=0))


def test_format_usd_never_rounds_up():
    assert format_usd(Fraction(24_999_999_999_999, 10**9)) == "24999.999999 USD"
    assert format_usd(Fraction(1, 3)) == "0.333333 USD"
    assert format_usd(25_000) == "25000 USD"


def test_a_window_entry_taken_back_no_longer_counts_and_a_pruned_one_is_ignored():
    window = NotionalWindow(3600)
    window.add(1_000, Fraction(500))
    window.add(1_010, Fraction(300))
    window.remove(1_010, Fraction(300))  # a commitment held in memory that was not made after all
    assert window.total(1_020) == 500
    window.remove(1_010, Fraction(300))  # twice: nothing more goes
    window.remove(1_000, 500)
    assert window.total(1_020) == 0
    window.add(1_000, 200)
    assert window.total(5_000) == 0  # pruned
    window.remove(1_000, 200)  # no error once pruned
