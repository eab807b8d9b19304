"""Gate evaluations: outcomes, the order of the gates and the operator sentences, exactly."""
import json
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.protocol.codec import NATIVE_TOKEN, BridgeRequest, decode_request
from engine.relayer.decisions import (
    Decision, Gate, OrderFacts, committable, confirmations, confirmations_gate, deadline_gate,
    evaluate_committed_confirmed, evaluate_committed_pending, evaluate_seen, exclusivity_gate,
)
from engine.relayer.fees import fee_breakdown
from engine.relayer.statuses import OrderStatus as S
from engine.relayer.statuses import OriginBridgeStatus

T = 1_795_250_000  # dest chain time in most tests
USDC = 10**6
ETH = 10**18
OURS = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
FIXTURES = json.loads((Path(__file__).parent.parent / "fixtures" / "fastbridgev2-request.json").read_text())

SEEN_GATES = ["route", "decimals", "max_relay_amount", "screening", "deadline", "exclusivity",
              "profitability", "origin_gas", "dest_gas", "inventory"]

# 2 gwei * 100k gas at 2000 USD/ETH = 0.4 USD = 0.4 USDC
FEE_0_4_USDC = fee_breakdown(6, D(1), 0, 2 * 10**9, 160_000, 100_000, D(2000), D(2000), D(1))
NO_FEE = fee_breakdown(6, D(1), 0, 0, 160_000, 100_000, D(2000), D(2000), D(1))


def request(**overrides) -> BridgeRequest:
    fields = dict(
        version=2, origin_chain_id=1, dest_chain_id=10, origin_sender="0x" + "11" * 20,
        dest_recipient="0x" + "22" * 20, origin_token="0x" + "33" * 20, dest_token="0x" + "44" * 20,
        origin_amount=1000 * USDC, dest_amount=999 * USDC, origin_fee_amount=0, deadline=T + 3600,
        nonce=1,
    )
    fields.update(overrides)
    return BridgeRequest(**fields)


def facts(req: BridgeRequest | None = None, **overrides) -> OrderFacts:
    fields = dict(
        request=req or request(), origin_decimals=6, dest_decimals=6, origin_symbol="USDC",
        dest_symbol="USDC", route_quotable=True, max_relay_amount=None, screened=False,
        origin_gas_balance=1 * ETH, dest_gas_balance=1 * ETH, origin_min_gas_token=ETH // 10,
        dest_min_gas_token=ETH // 10, committable_dest=5000 * USDC, fee=FEE_0_4_USDC,
        offset_origin_bps=D(0), offset_dest_bps=D(0), dest_chain_time=T, deadline_buffer_s=600,
        relayer=OURS,
    )
    fields.update(overrides)
    return OrderFacts(**fields)


def texts(decision: Decision) -> list[str]:
    return [g.text for g in decision.reasons]


def failed(decision: Decision) -> list[str]:
    return [g.text for g in decision.reasons if not g.passed]


def test_everything_passes_commits():
    d = evaluate_seen(facts())
    assert d.next_status == S.CommittedPending
    assert [g.name for g in d.reasons] == SEEN_GATES
    assert d.blocker is None
    assert texts(d) == [
        "route 1:USDC -> 10:USDC quotable",
        "decimals 6 = 6",
        "no max_relay_amount",
        "sender and recipient not flagged",
        "deadline in 3600 s >= buffer 600 s",
        "no exclusivity",
        "profitable: origin 1000 USDC vs dest 999 USDC + fee 0.4 USDC",
        "gas balance 1 ETH >= min_gas_token 0.1 ETH on chain 1",
        "gas balance 1 ETH >= min_gas_token 0.1 ETH on chain 10",
        "committable 5000 USDC >= destAmount 999 USDC",
    ]
    profit = d.reasons[6]
    assert isinstance(profit, Gate)
    assert (profit.value, profit.threshold) == ("origin 1000 USDC", "dest 999 USDC + fee 0.4 USDC")


@pytest.mark.parametrize(("overrides", "gate_count", "text"), [
    ({"route_quotable": False}, 1, "route 1:USDC -> 10:USDC not quotable"),
    ({"dest_decimals": 18, "fee": fee_breakdown(18, D(1), 0, 0, 1, 1, D(1), D(1), D(1))}, 2,
     "decimals mismatch: USDC has 6 on chain 1, USDC has 18 on chain 10"),
    ({"max_relay_amount": 500 * USDC}, 3, "originAmount 1000 USDC > max_relay_amount 500 USDC"),
    ({"screened": True}, 4, "screened: sender or recipient flagged"),
])
def test_hard_refusals_are_terminal_and_stop_the_trace(overrides, gate_count, text):
    for current in (S.Seen, S.NotEnoughInventory):
        # Every later gate would fail too: the refusal still wins and the trace stops there.
        d = evaluate_seen(facts(committable_dest=0, origin_gas_balance=0, **overrides), current)
        assert d.next_status == S.WillNotProcess
        assert len(d.reasons) == gate_count
        assert d.blocker.text == text and failed(d) == [text]


def test_max_relay_amount_boundary():
    d = evaluate_seen(facts(max_relay_amount=1000 * USDC))
    assert d.next_status == S.CommittedPending
    assert d.reasons[2].text == "originAmount 1000 USDC <= max_relay_amount 1000 USDC"


@pytest.mark.parametrize(("deadline", "outcome", "text"), [
    (T + 600, S.CommittedPending, "deadline in 600 s >= buffer 600 s"),  # now + buffer == deadline
    (T + 599, S.DeadlineExceeded, "deadline in 599 s < buffer 600 s"),
    (T + 41, S.DeadlineExceeded, "deadline in 41 s < buffer 600 s"),
    (T - 30, S.DeadlineExceeded, "deadline passed 30 s ago (buffer 600 s)"),
])
def test_deadline_buffer_boundary(deadline, outcome, text):
    d = evaluate_seen(facts(request(deadline=deadline)))
    assert d.next_status == outcome
    assert d.reasons[4].name == "deadline" and d.reasons[4].text == text
    if outcome == S.DeadlineExceeded:
        assert len(d.reasons) == 5


def test_deadline_gate_values():
    g = deadline_gate(T + 41, T, 600)
    assert (g.passed, g.value, g.threshold) == (False, "41 s", "600 s")
    assert deadline_gate(T, T, 0).passed  # the contract relays while block.timestamp <= deadline
    assert not deadline_gate(T - 1, T, 0).passed


def real_exclusive_request() -> BridgeRequest:
    vector = FIXTURES["vectors"][2]  # real bridgeV2 request, exclusive to 0x90F7...b906
    return decode_request(bytes.fromhex(vector["request"][2:]))


@pytest.mark.parametrize(("offset", "passed", "text"), [
    (-11, False, "exclusive to 0x90F7…b906 for 12 s more (dest chain time)"),
    (0, False, "exclusive to 0x90F7…b906 for 1 s more (dest chain time)"),  # active at end time
    (1, True, "exclusivity of 0x90F7…b906 ended at 1795254660 (dest chain time 1795254661)"),
])
def test_exclusivity_boundary_on_a_real_request(offset, passed, text):
    req = real_exclusive_request()
    assert req.exclusivity_relayer == OTHER and req.exclusivity_end_time == 1795254660
    now = req.exclusivity_end_time + offset
    g = exclusivity_gate(req, OURS, now)
    assert (g.passed, g.text) == (passed, text)
    # 1.234567 -> 1.23 USDC: profitable without a fee.
    f = facts(req, origin_symbol="DEV", dest_symbol="USDC", dest_chain_time=now, fee=NO_FEE)
    d = evaluate_seen(f)
    if passed:
        assert d.next_status == S.CommittedPending, failed(d)
    else:
        # Stays Seen (re-evaluated later) and every gate after it is still reported.
        assert d.next_status is None
        assert [g.name for g in d.reasons] == SEEN_GATES
        assert failed(d) == [text]


def test_exclusivity_for_us_or_nobody_passes():
    req = real_exclusive_request()
    mine = exclusivity_gate(req, OTHER.lower(), req.exclusivity_end_time)
    assert mine.passed and mine.text == "exclusive to us until 1795254660 (dest chain time)"
    assert exclusivity_gate(request(), OURS, T).text == "no exclusivity"


def test_not_profitable_stays_seen():
    d = evaluate_seen(facts(request(dest_amount=999_900_000)))
    assert d.next_status is None
    assert failed(d) == ["not profitable: origin 1000 USDC vs dest 999.9 USDC + fee 0.4 USDC"]
    # Exactly break-even is profitable.
    assert evaluate_seen(facts(request(dest_amount=999_600_000))).next_status == S.CommittedPending


def test_offsets_are_shown_when_set():
    d = evaluate_seen(facts(offset_origin_bps=D("-2.50"), offset_dest_bps=D("10")))
    assert failed(d) == [
        "not profitable: origin 1000 USDC vs dest 999 USDC + fee 0.4 USDC "
        "(offsets origin -2.5 bps, dest +10 bps)"
    ]


def test_gas_gates_name_the_chain():
    d = evaluate_seen(facts(origin_gas_balance=5 * 10**16))
    assert d.next_status is None
    assert failed(d) == ["gas balance 0.05 ETH < min_gas_token 0.1 ETH on chain 1"]
    d = evaluate_seen(facts(dest_gas_balance=5 * 10**16, dest_native_symbol="xDAI"))
    assert failed(d) == ["gas balance 0.05 xDAI < min_gas_token 0.1 xDAI on chain 10"]
    # Exactly the minimum is enough.
    assert evaluate_seen(facts(dest_gas_balance=ETH // 10)).next_status == S.CommittedPending


def test_not_enough_inventory():
    req = request(origin_amount=501 * USDC, dest_amount=500 * USDC)
    d = evaluate_seen(facts(req, committable_dest=120 * USDC))
    assert d.next_status == S.NotEnoughInventory
    assert failed(d) == ["committable 120 USDC < destAmount 500 USDC"]
    assert (d.blocker.value, d.blocker.threshold) == ("120 USDC", "500 USDC")
    # Re-evaluated from NotEnoughInventory: still short -> stays, enough -> commits.
    assert evaluate_seen(facts(req, committable_dest=120 * USDC), S.NotEnoughInventory).next_status is None
    again = evaluate_seen(facts(req, committable_dest=500 * USDC), S.NotEnoughInventory)
    assert again.next_status == S.CommittedPending


def test_not_enough_inventory_order_waits_without_moving_down():
    req = request(dest_amount=999_900_000)  # unprofitable now
    d = evaluate_seen(facts(req), S.NotEnoughInventory)
    assert d.next_status is None and d.blocker.name == "profitability"


def native_facts(committable_dest: int) -> OrderFacts:
    req = request(origin_token=NATIVE_TOKEN, dest_token=NATIVE_TOKEN, origin_amount=ETH + ETH // 100,
                  dest_amount=ETH)
    fee = fee_breakdown(18, D(2000), 0, 10**9, 160_000, 100_000, D(2000), D(2000), D(1))
    return facts(req, origin_decimals=18, dest_decimals=18, origin_symbol="ETH", dest_symbol="ETH",
                 committable_dest=committable_dest, fee=fee, dest_gas_balance=committable_dest)


def test_native_dest_keeps_min_gas_token_aside():
    ok = evaluate_seen(native_facts(ETH + ETH // 10))
    assert ok.next_status == S.CommittedPending
    assert ok.reasons[-1].text == "committable 1 ETH (min_gas_token 0.1 ETH kept aside) >= destAmount 1 ETH"
    short = evaluate_seen(native_facts(ETH + 5 * 10**16))
    assert short.next_status == S.NotEnoughInventory
    assert failed(short) == ["committable 0.95 ETH (min_gas_token 0.1 ETH kept aside) < destAmount 1 ETH"]
    # Less than min_gas_token in total: the gas gate already waits; inventory floors at 0.
    broke = evaluate_seen(native_facts(5 * 10**16))
    assert broke.next_status is None
    assert broke.reasons[-1].text == "committable 0 ETH (min_gas_token 0.1 ETH kept aside) < destAmount 1 ETH"
    # An ERC20 dest token needs no such margin.
    assert evaluate_seen(facts(committable_dest=999 * USDC)).next_status == S.CommittedPending


def test_every_blocker_of_a_waiting_order_is_reported():
    req = replace(real_exclusive_request(), dest_amount=1_234_567)  # unprofitable, exclusive
    now = req.exclusivity_end_time - 4
    d = evaluate_seen(facts(req, dest_chain_time=now, origin_gas_balance=0, committable_dest=0))
    assert d.next_status is None  # the first blocker (a wait) decides, not the inventory
    assert d.blocker.name == "exclusivity"
    assert failed(d) == [
        "exclusive to 0x90F7…b906 for 5 s more (dest chain time)",
        "not profitable: origin 1.234567 USDC vs dest 1.234567 USDC + fee 0.4 USDC",
        "gas balance 0 ETH < min_gas_token 0.1 ETH on chain 31337",
        "committable 0 USDC < destAmount 1.234567 USDC",
    ]


def test_facts_refuse_a_fee_priced_for_other_decimals():
    with pytest.raises(ValueError, match="fee priced for 6 decimals, dest token has 18"):
        facts(dest_decimals=18)


def test_evaluate_seen_refuses_other_statuses():
    with pytest.raises(ValueError, match="CommittedPending"):
        evaluate_seen(facts(), S.CommittedPending)


def test_committable_and_confirmations_helpers():
    assert committable(1000 * USDC, [300 * USDC, 200 * USDC]) == 500 * USDC
    assert committable(1000 * USDC, iter([800 * USDC, 300 * USDC])) == 0
    assert committable(7, []) == 7
    assert confirmations(105, 100) == 5
    assert confirmations(99, 100) == 0
    g = confirmations_gate(1, 3)
    assert (g.passed, g.value, g.threshold, g.text) == (False, "1", "3", "confirmations 1/3")
    assert confirmations_gate(3, 3).passed


def pending(**overrides) -> Decision:
    args = dict(origin_status=OriginBridgeStatus.REQUESTED, observed_confirmations=3,
                required_confirmations=3, dest_chain_time=T, deadline_buffer_s=600)
    args.update(overrides)
    return evaluate_committed_pending(request(), **args)


def test_committed_pending_waits_for_confirmations():
    d = pending(observed_confirmations=1)
    assert d.next_status is None and failed(d) == ["confirmations 1/3"]
    assert [g.name for g in d.reasons] == ["origin_status", "deadline", "confirmations"]
    assert pending().next_status == S.CommittedConfirmed


@pytest.mark.parametrize(("status", "outcome", "text"), [
    (OriginBridgeStatus.REFUNDED, S.Refunded, "origin status REFUNDED: the user was refunded"),
    (OriginBridgeStatus.RELAYER_PROVED, S.RelayRaceLost,
     "origin status RELAYER_PROVED: another relayer proved it"),
    (OriginBridgeStatus.RELAYER_CLAIMED, S.RelayRaceLost,
     "origin status RELAYER_CLAIMED: another relayer claimed it"),
    (OriginBridgeStatus.NULL, None,
     "origin status NULL: request not on the origin chain (reorged away?)"),
])
def test_committed_pending_reads_the_origin_status_first(status, outcome, text):
    # Past the deadline: a refund can only happen then, and the origin's word still wins.
    d = pending(origin_status=status, dest_chain_time=T + 7200)
    assert d.next_status == outcome
    assert failed(d)[0] == text


def test_committed_pending_deadline():
    d = pending(observed_confirmations=0, dest_chain_time=T + 3001)
    assert d.next_status == S.DeadlineExceeded
    assert failed(d) == ["deadline in 599 s < buffer 600 s"]


def confirmed(req: BridgeRequest | None = None, **overrides) -> Decision:
    args = dict(relayer=OURS, relayed_by=None, dest_chain_time=T, deadline_buffer_s=600)
    args.update(overrides)
    return evaluate_committed_confirmed(req or request(), **args)


def test_committed_confirmed_sends_the_relay():
    d = confirmed()
    assert d.next_status == S.RelayStarted
    assert texts(d) == ["not relayed yet on chain 10", "deadline in 3600 s >= buffer 600 s",
                        "no exclusivity"]
    assert confirmed(relayed_by="0x" + "00" * 20).next_status == S.RelayStarted


def test_committed_confirmed_sees_an_existing_relay():
    ours = confirmed(relayed_by=OURS.lower())
    assert ours.next_status == S.RelayCompleted
    assert failed(ours) == ["already relayed by us on chain 10"]
    lost = confirmed(relayed_by=OTHER.lower())
    assert lost.next_status == S.RelayRaceLost
    assert failed(lost) == ["relayed by 0x90F7…b906 on chain 10: race lost"]


def test_committed_confirmed_rechecks_deadline_and_exclusivity():
    assert confirmed(dest_chain_time=T + 3001).next_status == S.DeadlineExceeded
    req = real_exclusive_request()
    d = confirmed(req, dest_chain_time=req.exclusivity_end_time)
    assert d.next_status is None
    assert failed(d) == ["exclusive to 0x90F7…b906 for 1 s more (dest chain time)"]
