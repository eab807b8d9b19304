"""REFERENCE §4: the worked example exactly, a table of edge cases, and the config sums it relies on."""
from __future__ import annotations

import dataclasses

import pytest
from invkit import USDC, USDC_UNIT, chain, make_config

from engine.config import ConfigError
from engine.inventory.rebalance import RebalanceMember, propose_rebalance, propose_rebalances


def usdc(**settings):
    return {"rebalance_method": "cctp", "maintenance_balance_pct": 20, "initial_balance_pct": 50, **settings}


def worked_example_config():
    # Chains 1 and 2 support CCTP, chain 3 does not; maintenance 20 %, initial 40 % (REFERENCE §4).
    # The sums rule makes initial percentages of the CCTP chains total 100: chain 2 takes the other 60 %.
    return make_config({
        1: chain(1, usdc=usdc(initial_balance_pct=40)),
        2: chain(2, usdc=usdc(initial_balance_pct=60)),
        3: chain(3, cctp=False),
    })


def test_worked_example_of_reference_section_4():
    config = worked_example_config()
    balances = {(1, USDC[1]): 100 * USDC_UNIT, (2, USDC[2]): 900 * USDC_UNIT, (3, USDC[3]): 2_000 * USDC_UNIT}
    (outcome,) = propose_rebalances(config, balances)
    p = outcome.proposal
    assert p is not None
    assert (p.token, p.method, p.origin_chain_id, p.dest_chain_id) == ("USDC", "cctp", 2, 1)
    assert p.amount == 300 * USDC_UNIT  # brings chain 1 to 40 % of 1000; chain 3's 2000 is not counted
    assert (p.total, p.origin_balance, p.dest_balance) == (1_000 * USDC_UNIT, 900 * USDC_UNIT, 100 * USDC_UNIT)
    assert (p.origin_token, p.dest_token, p.decimals, p.mode) == (USDC[2], USDC[1], 6, "manual")
    assert p.reasons == (
        "chain 1 holds 100 USDC <= maintenance 20% of 1000 USDC (200 USDC)",
        "chain 2 excess over its initial 60%: 300 USDC",
        # the lowering step is not taken: the dest need (40 % of 1000 - 100 = 300) is not smaller
    )
    assert outcome.reason == "move 300 USDC from chain 2 to chain 1 by cctp"


def test_worked_example_with_equal_initial_percentages_takes_the_lower_to_dest_need_branch():
    # REFERENCE's own numbers: both chains at 40 % initial (sums checked by the config, so built directly).
    config = worked_example_config()
    t1 = config.token(1, "USDC")
    t2 = config.token(2, "USDC")
    t2_40 = dataclasses.replace(t2, initial_balance_pct=t1.initial_balance_pct)
    outcome = propose_rebalance("USDC", "cctp", [RebalanceMember(t1, 100 * USDC_UNIT),
                                                 RebalanceMember(t2_40, 900 * USDC_UNIT)])
    assert outcome.proposal.amount == 300 * USDC_UNIT  # not chain 2's own excess over 40 %, which is 500
    assert outcome.proposal.reasons[1:] == (
        "chain 2 excess over its initial 40%: 500 USDC",
        "lowered to 300 USDC, which brings chain 1 to its initial 40%",
    )


def members(*balances, **token_settings):
    """USDC on chains 1..n with the given whole-token balances: maintenance 20 %, initial split evenly."""
    initial = {2: (50, 50), 3: (34, 33, 33)}[len(balances)]
    config = make_config({cid: chain(cid, usdc=usdc(initial_balance_pct=pct, **token_settings))
                          for cid, pct in enumerate(initial, 1)}, routes=[])
    return [RebalanceMember(config.token(cid, "USDC"), b * USDC_UNIT) for cid, b in enumerate(balances, 1)]


@pytest.mark.parametrize(("case", "balances", "settings", "pending", "expected"), [
    ("dest above maintenance", (210, 790), {}, (),
     "chain 1 holds 210 USDC > maintenance 20% of 1000 USDC (200 USDC): nothing to do"),
    ("dest exactly at maintenance rebalances", (200, 800), {}, (), (2, 1, 300)),
    ("below minimum", (200, 800), {"min_rebalance_amount": "300.000001"}, (),
     "amount 300 USDC < min_rebalance_amount 300.000001 USDC"),
    ("at minimum", (200, 800), {"min_rebalance_amount": 300}, (), (2, 1, 300)),
    ("max clamp", (0, 1000), {"max_rebalance_amount": 123}, (), (2, 1, 123)),
    ("one pending per token", (0, 1000), {}, ("USDC",), "a USDC rebalance is already pending (at most one per token)"),
    ("another token pending does not block", (0, 1000), {}, ("DAI",), (2, 1, 500)),
    ("empty", (0, 0), {}, (), "no USDC on the chains rebalancing by cctp"),
    ("richest to poorest of three", (100, 500, 400), {}, (), (2, 1, 170)),
])
def test_edge_cases(case, balances, settings, pending, expected):
    outcome = propose_rebalance("USDC", "cctp", members(*balances, **settings), pending)
    if isinstance(expected, str):
        assert outcome.proposal is None, case
        assert outcome.reason == expected, case
    else:
        origin, dest, amount = expected
        p = outcome.proposal
        assert p is not None, (case, outcome.reason)
        assert (p.origin_chain_id, p.dest_chain_id, p.amount) == (origin, dest, amount * USDC_UNIT), case


def test_origin_would_drop_below_its_own_maintenance():
    # Chain 2 holds 300 of 1000 with maintenance 25 % and initial 10 %: its excess over 10 % is 200, the
    # dest need (chain 1 at 90 % initial) is larger; sending 200 leaves 100 < 250.
    config = make_config({
        1: chain(1, usdc=usdc(maintenance_balance_pct=75, initial_balance_pct=90)),
        2: chain(2, usdc=usdc(maintenance_balance_pct=25, initial_balance_pct=10)),
    }, routes=[])
    ms = [RebalanceMember(config.token(1, "USDC"), 700 * USDC_UNIT),
          RebalanceMember(config.token(2, "USDC"), 300 * USDC_UNIT)]
    outcome = propose_rebalance("USDC", "cctp", ms)
    # The poorest chain is 2 (300 <= 75 % of 1000? no: its own maintenance is 25 % = 250): nothing to do.
    assert outcome.proposal is None and outcome.reason.startswith("chain 2 holds 300 USDC > maintenance 25%")
    ms = [RebalanceMember(config.token(1, "USDC"), 400 * USDC_UNIT),
          RebalanceMember(config.token(2, "USDC"), 600 * USDC_UNIT)]
    # dest chain 1: 400 <= 75 % of 1000. Origin chain 2: excess over 10 % = 500, lowered to the dest need
    # (900 - 400 = 500: not smaller); 600 - 500 = 100 < its maintenance 250.
    outcome = propose_rebalance("USDC", "cctp", ms)
    assert outcome.proposal is None
    assert outcome.reason == "chain 2 would drop to 100 USDC < its maintenance 25% (250 USDC)"


def test_amounts_are_exact_and_rounded_down():
    # total 1000.000001 USDC, dest at 0: dest need 50 % = 500.0000005 -> origin excess 500.0000005 -> 500.
    ms = members(0, 1)
    ms = [RebalanceMember(ms[0].token, 0), RebalanceMember(ms[1].token, 1_000_000_001)]
    assert propose_rebalance("USDC", "cctp", ms).proposal.amount == 500_000_000


def test_auto_mode_only_when_every_chain_says_auto():
    assert propose_rebalance("USDC", "cctp", members(0, 1000, rebalance_mode="auto")).proposal.mode == "auto"
    config = make_config({1: chain(1, usdc=usdc(rebalance_mode="auto")), 2: chain(2, usdc=usdc())}, routes=[])
    ms = [RebalanceMember(config.token(1, "USDC"), 0), RebalanceMember(config.token(2, "USDC"), 1000)]
    assert propose_rebalance("USDC", "cctp", ms).proposal.mode == "manual"


def test_groups_by_token_and_method_and_waits_for_every_balance():
    config = make_config({
        1: chain(1, usdc=usdc()), 2: chain(2, usdc=usdc()),
        3: chain(3, usdc=usdc(rebalance_method="circlecctp", initial_balance_pct=100)),
    }, routes=[])
    outcomes = propose_rebalances(config, {(1, USDC[1]): 0, (2, USDC[2]): 1_000 * USDC_UNIT})
    assert [(o.token, o.method) for o in outcomes] == [("USDC", "cctp"), ("USDC", "circlecctp")]
    cctp, circle = outcomes
    assert (cctp.proposal.origin_chain_id, cctp.proposal.dest_chain_id) == (2, 1)
    assert circle.proposal is None and circle.reason == "USDC balance not known yet on chain(s) 3"
    outcomes = propose_rebalances(config, {(1, USDC[1]): 0, (2, USDC[2]): 0, (3, USDC[3]): 5})
    assert [o.reason for o in outcomes] == ["no USDC on the chains rebalancing by cctp",
                                            "USDC by circlecctp needs at least two chains (has 1)"]


# --- the config sums REFERENCE §4 relies on (engine/config.py _check_rebalance_groups) ------------------------------

@pytest.mark.parametrize(("maintenance", "initial", "problem"), [
    ((20, 20), (40, 60), None),
    ((50, 50), (50, 50), None),  # maintenance may sum to exactly 100
    ((50, "50.5"), (50, 50), "maintenance_balance_pct: must sum to at most 100"),
    ((20, 20), (40, 59), "initial_balance_pct: must sum to 100"),
    ((20, 20), (40, "60.1"), "initial_balance_pct: must sum to 100"),
])
def test_config_sums(maintenance, initial, problem):
    chains = {cid: chain(cid, usdc=usdc(maintenance_balance_pct=m, initial_balance_pct=i))
              for cid, m, i in zip((1, 2), maintenance, initial)}
    chains[3] = chain(3, cctp=False)  # a chain without the method is not counted
    if problem is None:
        make_config(chains)
        return
    with pytest.raises(ConfigError) as err:
        make_config(chains)
    assert f"chains.*.tokens.USDC.{problem} across the chains rebalancing USDC by cctp" in str(err.value)
