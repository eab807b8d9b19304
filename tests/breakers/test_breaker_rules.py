"""Breaker rules as pure tables: each kind trips above its threshold and not at it, latches, resets."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from engine.breakers import BreakerBoard, ChainHealth, ChainReading, FailureTally, PoolReading, TokenFacts
from engine.config import NATIVE_TOKEN_ADDRESS, BreakerRule, Route

CHAIN, OTHER = 31337, 31338
USDC = "0x00000000000000000000000000000000000000a1"
DAI = "0x00000000000000000000000000000000000000a2"
USDR = "0x00000000000000000000000000000000000000b0"
POOL = "0x00000000000000000000000000000000000000c1"
OTHER_USDC = "0x00000000000000000000000000000000000000d1"
TOKENS = {
    (CHAIN, USDC): TokenFacts("USDC", 6, Decimal("1")),
    (CHAIN, DAI): TokenFacts("DAI", 18, Decimal("1")),
    (CHAIN, USDR): TokenFacts("USDR", 18, Decimal("1")),
    (OTHER, OTHER_USDC): TokenFacts("USDC", 6, Decimal("1")),
}
MIN_GAS = {CHAIN: 10**17, OTHER: 10**17}
NOW = 1_800_000_000.0
ROUTE = Route(CHAIN, USDC, OTHER, OTHER_USDC)


def rule(kind: str, threshold: str, level: str = "global", **kw) -> BreakerRule:
    return BreakerRule(name=kw.pop("name", kind), kind=kind, level=level, threshold=Decimal(threshold), **kw)


def pool(reserve_usdc: int, reserve_usdr: int) -> PoolReading:
    return PoolReading(POOL, USDC, USDR, reserve_usdc, reserve_usdr, 6, 18)


def reading(number: int, *, supply: int = 1_000_000 * 10**6, dai_supply: int = 10**24, balance: int = 10**11,
            reserves: tuple[int, int] = (10**12, 10**24), gas_balance: int = 10**18, base_fee: int | None = 10**9,
            chain: int = CHAIN) -> ChainReading:
    return ChainReading(chain, number, "0x" + f"{number:064x}", 1_700_000_000 + number,
                        {USDC: supply, DAI: dai_supply}, {POOL: pool(*reserves)},
                        {USDC: balance, NATIVE_TOKEN_ADDRESS: gas_balance}, gas_balance, base_fee)


def board(*rules: BreakerRule) -> BreakerBoard:
    return BreakerBoard(rules, TOKENS, MIN_GAS)


def two_blocks(b: BreakerBoard, **after) -> list:
    b.observe_reading(reading(100), now=NOW)
    return b.observe_reading(reading(101, **after), now=NOW + 1)


# (rule, reading-after kwargs that sit exactly at the threshold, kwargs just past it)
READING_CASES = [
    pytest.param(rule("supply_jump", "50"), dict(supply=1_500_000 * 10**6), dict(supply=1_500_000 * 10**6 + 1),
                 id="supply_jump_up"),
    pytest.param(rule("supply_jump", "50"), dict(supply=500_000 * 10**6), dict(supply=500_000 * 10**6 - 1),
                 id="supply_jump_down"),
    # spot falls 10 %: USDR reserve 10**24 -> 9 * 10**23 with the USDC reserve unchanged
    pytest.param(rule("price_drop", "10"), dict(reserves=(10**12, 9 * 10**23)),
                 dict(reserves=(10**12, 9 * 10**23 - 1)), id="price_drop"),
    pytest.param(rule("price_deviation", "5"), dict(reserves=(10**12, 105 * 10**22)),
                 dict(reserves=(10**12, 105 * 10**22 + 1)), id="price_deviation_up"),
    pytest.param(rule("gas_price_cap", "200"), dict(base_fee=200 * 10**9), dict(base_fee=200 * 10**9 + 1),
                 id="gas_price_cap"),
    pytest.param(rule("gas_balance_low", "0"), dict(gas_balance=10**17), dict(gas_balance=10**17 - 1),
                 id="gas_balance_low_min_gas_token"),
    pytest.param(rule("gas_balance_low", "0.5"), dict(gas_balance=5 * 10**17), dict(gas_balance=5 * 10**17 - 1),
                 id="gas_balance_low_threshold"),
    pytest.param(rule("inventory_drain", "20"), dict(balance=8 * 10**10), dict(balance=8 * 10**10 - 1),
                 id="inventory_drain"),
]


@pytest.mark.parametrize("breaker, at_threshold, past_threshold", READING_CASES)
def test_reading_rules_trip_past_the_threshold_only(breaker, at_threshold, past_threshold) -> None:
    calm = board(breaker)
    assert two_blocks(calm, **at_threshold) == []
    assert not calm.state(breaker.name).tripped
    assert calm.state(breaker.name).value is not None

    tripping = board(breaker)
    tripped = two_blocks(tripping, **past_threshold)
    assert [s.name for s in tripped] == [breaker.name]
    state = tripping.state(breaker.name)
    assert state.tripped and state.since == NOW + 1
    assert state.evidence["block_number"] == 101
    assert state.text


def test_supply_jump_text_and_evidence_are_exact() -> None:
    b = board(rule("supply_jump", "50", "token", name="usdc-supply", chain_id=CHAIN, token="USDC",
                   token_address=USDC, window_blocks=1))
    (state,) = two_blocks(b, supply=3_500_000 * 10**6)
    assert state.text == "USDC total supply +250.00 % in 1 block > 50 %"
    assert state.value == Fraction(250)
    assert state.evidence["supply"] == 3_500_000 * 10**6
    assert state.evidence["previous_supply"] == 1_000_000 * 10**6
    assert state.evidence["previous_block_number"] == 100
    assert state.scope == "token 31337:USDC"


def test_a_tripped_rule_stays_tripped_until_reset() -> None:
    b = board(rule("supply_jump", "50"))
    two_blocks(b, supply=10**20)
    first = b.state("supply_jump")
    # calm blocks after the trip change nothing: only a person resumes
    for n in range(102, 110):
        assert b.observe_reading(reading(n, supply=10**20), now=NOW + n) == []
    assert b.state("supply_jump") == first
    resumed = b.reset("supply_jump")
    assert not resumed.tripped and resumed.since is None and not b.tripped()
    assert b.observe_reading(reading(110, supply=10**20), now=NOW + 200) == []
    with pytest.raises(KeyError):
        b.reset("no-such-rule")


def test_scope_limits_what_a_rule_watches_and_halts() -> None:
    dai_only = rule("supply_jump", "50", "token", name="dai", chain_id=CHAIN, token="DAI", token_address=DAI)
    other_chain = rule("supply_jump", "50", "chain", name="other", chain_id=OTHER)
    b = board(dai_only, other_chain)
    assert two_blocks(b, supply=10**20) == []  # USDC minted: neither the DAI rule nor chain OTHER's rule sees it
    tripped = b.observe_reading(reading(102, dai_supply=10**30), now=NOW + 2)
    assert [s.name for s in tripped] == ["dai"]
    assert [s.name for s in b.halts(CHAIN, DAI)] == ["dai"]
    assert b.halts(CHAIN, USDC) == ()
    assert b.halts(OTHER, OTHER_USDC) == ()
    dai_route = Route(OTHER, OTHER_USDC, CHAIN, DAI)
    assert [s.name for s in b.halts(route=dai_route)] == ["dai"]  # DAI at either end halts the route


def test_halts_by_level() -> None:
    b = board(rule("gas_price_cap", "1", name="global-gas"),
              rule("gas_price_cap", "1", "chain", name="chain-gas", chain_id=OTHER),
              rule("failure_rate", "0.5", "route", name="route-failures", route=ROUTE))
    b.observe_reading(reading(1, base_fee=2 * 10**9, chain=OTHER), now=NOW)
    assert {s.name for s in b.tripped()} == {"global-gas", "chain-gas"}
    assert {s.name for s in b.halts(CHAIN, USDC)} == {"global-gas"}
    assert {s.name for s in b.halts(OTHER)} == {"global-gas", "chain-gas"}
    b.reset("global-gas")
    assert b.halts(CHAIN, USDC) == ()
    assert {s.name for s in b.halts(route=ROUTE)} == {"chain-gas"}  # ROUTE ends on OTHER
    b.observe_failures([FailureTally(ROUTE, "relay", 4, 3)], now=NOW)
    assert {s.name for s in b.halts(route=ROUTE)} == {"chain-gas", "route-failures"}
    assert {s.name for s in b.halts(route=Route(OTHER, OTHER_USDC, CHAIN, USDC))} == {"chain-gas"}


def test_comparisons_need_the_block_exactly_window_blocks_back() -> None:
    b = board(rule("supply_jump", "50", window_blocks=3))
    b.observe_reading(reading(100), now=NOW)
    assert b.observe_reading(reading(102, supply=10**20), now=NOW) == []  # nothing stored at block 99
    assert b.state("supply_jump").value is None
    assert [s.name for s in b.observe_reading(reading(103, supply=10**20), now=NOW)] == ["supply_jump"]
    assert b.state("supply_jump").text.endswith("in 3 blocks > 50 %")


def test_a_reorged_reading_replaces_the_history_from_its_height() -> None:
    b = board(rule("supply_jump", "50"))
    b.observe_reading(reading(100), now=NOW)
    b.observe_reading(reading(101, supply=10**9), now=NOW)  # -99.9 %: trips
    b.reset("supply_jump")
    # block 101 reorged away; the new 101 compares with 100, not with the dead 101
    replacement = ChainReading(CHAIN, 101, "0x" + "ee" * 32, 1_700_000_101, {USDC: 1_000_000 * 10**6}, {}, {}, 10**18,
                               10**9)
    assert b.observe_reading(replacement, now=NOW) == []
    assert b.state("supply_jump").value == 0


@pytest.mark.parametrize("kind, health, at, past", [
    ("head_stale", dict(last_head_at=NOW), NOW + 30, NOW + 30.5),
    ("rpc_failing", dict(last_head_at=NOW, failing_since=NOW + 10, last_error="ConnectError"), NOW + 40, NOW + 41),
])
def test_dead_man_rules(kind, health, at, past) -> None:
    b = board(rule(kind, "30", "chain", chain_id=OTHER))
    h = ChainHealth(OTHER, **health)
    assert b.observe_health(ChainHealth(CHAIN, last_head_at=0, failing_since=0), now=past + 100) == []  # other chain
    assert b.observe_health(h, now=at) == []
    (state,) = b.observe_health(h, now=past)
    assert state.tripped and state.since == past
    assert str(OTHER) in state.text
    # recovery does not clear it
    assert b.observe_health(ChainHealth(OTHER, last_head_at=past), now=past + 1) == []
    assert b.state(kind).tripped


def test_failure_rate_is_a_share_over_the_window() -> None:
    b = board(rule("failure_rate", "0.5", "chain", chain_id=CHAIN))
    unrelated = Route(OTHER, OTHER_USDC, 99, USDC)
    assert b.observe_failures([FailureTally(unrelated, "relay", 10, 10)], now=NOW) == []
    at = [FailureTally(ROUTE, "relay", 6, 2), FailureTally(ROUTE, "prove", 4, 3)]
    assert b.observe_failures(at, now=NOW) == []
    assert b.state("failure_rate").value == Fraction(1, 2)
    (state,) = b.observe_failures([*at, FailureTally(ROUTE, "claim", 1, 1)], now=NOW)
    assert state.value == Fraction(6, 11)
    assert state.evidence["by_stage"] == {"relay": [2, 6], "prove": [3, 4], "claim": [1, 1]}


def test_price_rules_are_exact_for_large_reserves() -> None:
    # a one-wei move in a 10**30 reserve: no float could see it
    big = 10**30
    b = board(rule("price_drop", "0"))
    b.observe_reading(reading(1, reserves=(big, big)), now=NOW)
    assert b.observe_reading(reading(2, reserves=(big, big)), now=NOW) == []
    assert [s.name for s in b.observe_reading(reading(3, reserves=(big, big - 1)), now=NOW)] == ["price_drop"]
    assert b.state("price_drop").value == Fraction(100, big)


def test_restore_relatches_a_remembered_trip() -> None:
    b = board(rule("supply_jump", "50"))
    two_blocks(b, supply=10**20)
    remembered = b.state("supply_jump")
    fresh = board(rule("supply_jump", "50"))
    fresh.restore(remembered)
    assert fresh.state("supply_jump") == remembered
    assert fresh.halts(CHAIN, USDC) == (remembered,)


def test_failure_rate_is_not_judged_below_min_attempts() -> None:
    b = board(rule("failure_rate", "0.5", min_attempts=3))
    assert b.observe_failures([FailureTally(ROUTE, "relay", 1, 1)], now=NOW) == []  # 1 of 1: not judged
    state = b.state("failure_rate")
    assert not state.tripped and state.value == 1 and "fewer than 3 attempts, not judged" in state.text
    assert b.observe_failures([FailureTally(ROUTE, "relay", 2, 2)], now=NOW) == []
    (tripped,) = b.observe_failures([FailureTally(ROUTE, "relay", 3, 2)], now=NOW)
    assert tripped.value == Fraction(2, 3) and tripped.evidence["min_attempts"] == 3
    # without min_attempts a single failed attempt is 100 % and trips (the old behaviour)
    assert [s.name for s in board(rule("failure_rate", "0.5")).observe_failures(
        [FailureTally(ROUTE, "relay", 1, 1)], now=NOW)] == ["failure_rate"]


def test_only_rules_that_say_stop_hold_in_flight_work() -> None:
    b = board(rule("supply_jump", "50", "token", chain_id=CHAIN, token="USDC", token_address=USDC,
                   name="halt-only"),
              rule("price_drop", "20", "token", chain_id=CHAIN, token="USDC", token_address=USDC,
                   name="stopper", stop_in_flight=True))
    two_blocks(b, supply=10**20)
    assert [s.name for s in b.halts(CHAIN, USDC)] == ["halt-only"]
    assert b.stops(CHAIN, USDC) == ()  # halt-only: in-flight work continues
    b.observe_reading(reading(102, supply=10**20, reserves=(10**12, 10**23)), now=NOW + 2)
    assert [s.name for s in b.stops(CHAIN, USDC)] == ["stopper"]
    assert [s.name for s in b.stops(route=ROUTE)] == ["stopper"]  # either end of a route counts
    assert b.stops(CHAIN, DAI) == ()
    b.reset("stopper")
    assert b.stops(CHAIN, USDC) == ()


def _sync(number: int, index: int, reserves: tuple[int, int], block_hash: str | None = None):
    from engine.breakers.readings import PoolSync
    return PoolSync(POOL, number, block_hash or "0x" + f"{number:064x}", index, *reserves)


def _swap(number: int, index: int, token_in: str, amount_in: int, amount_out: int):
    from engine.breakers.readings import PoolSwap
    return PoolSwap(POOL, number, "0x" + f"{number:064x}", index, USDR, token_in, amount_in, amount_out, USDR)


def test_swap_events_see_a_crash_undone_within_the_block() -> None:
    b = board(rule("price_drop", "20", "token", chain_id=CHAIN, token="USDC", token_address=USDC))
    b.observe_reading(reading(100), now=NOW)
    assert b.observe_reading(reading(101), now=NOW + 1) == []  # the block closes where it opened
    crash = [_swap(101, 0, USDC, 10**12, 5 * 10**23), _sync(101, 1, (2 * 10**12, 5 * 10**23)),
             _swap(101, 2, USDR, 5 * 10**23, 10**12), _sync(101, 3, (10**12, 10**24))]
    parent = "0x" + f"{100:064x}"
    (state,) = b.observe_pool_events(CHAIN, 101, "0x" + f"{101:064x}", parent, crash, now=NOW + 1)
    assert state.value == 75  # 1.0 -> 0.25 USDR per USDC at log 1
    assert state.evidence["source"] == "swap_events" and state.evidence["log_index"] == 1
    assert state.evidence["previous_reserves"] == [10**12, 10**24]
    assert "within block #101" in state.text


def test_swap_events_of_a_reorged_block_or_another_parent_are_not_trusted() -> None:
    b = board(rule("price_drop", "20"))
    b.observe_reading(reading(100), now=NOW)
    b.observe_reading(reading(101), now=NOW)
    crash = [_sync(101, 1, (2 * 10**12, 5 * 10**23), block_hash="0x" + "ee" * 32)]  # a block reorged away
    assert b.observe_pool_events(CHAIN, 101, "0x" + f"{101:064x}", "0x" + f"{100:064x}", crash, now=NOW) == []
    assert b.state("price_drop").value is None or b.state("price_drop").value <= 0
    # a parent on another fork is no reference; without a swap to undo there is nothing to compare
    alone = [_sync(101, 1, (2 * 10**12, 5 * 10**23))]
    assert b.observe_pool_events(CHAIN, 101, "0x" + f"{101:064x}", "0x" + "dd" * 32, alone, now=NOW) == []
    # ... with the block's first swap, the price before it is the reference
    undone = [_swap(101, 0, USDC, 10**12, 5 * 10**23), *alone]
    fresh = board(rule("price_drop", "20"))  # the first block a run sees is not judged
    fresh.observe_reading(reading(101), now=NOW)
    assert fresh.observe_pool_events(CHAIN, 101, "0x" + f"{101:064x}", "0x" + "dd" * 32, undone, now=NOW) == []
    (state,) = b.observe_pool_events(CHAIN, 101, "0x" + f"{101:064x}", "0x" + "dd" * 32, undone, now=NOW)
    assert state.evidence["previous_reserves"] == [10**12, 10**24] and state.value == 75
    assert state.evidence["previous_from"] == "before the first swap"
