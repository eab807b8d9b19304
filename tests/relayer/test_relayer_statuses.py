"""The transition rules, checked pair by pair against tables written out by hand from REFERENCE §2
and the documented decisions in engine/relayer/statuses.py (never derived from the code under test)."""
import pytest

from engine.relayer.statuses import (
    COMMITTED_STATUSES, IllegalTransition, OrderStatus, StatusFamily, can_rollback, can_transition,
    check_rollback, check_transition, is_terminal,
)

S = OrderStatus

CANONICAL_VALUES = {
    "Seen": 1, "NotEnoughInventory": 2, "DeadlineExceeded": 3, "WillNotProcess": 4,
    "CommittedPending": 5, "CommittedConfirmed": 6, "RelayStarted": 7, "RelayCompleted": 8,
    "ProvePosting": 9, "ProvePosted": 10, "ClaimPending": 11, "ClaimCompleted": 12,
    "RelayRaceLost": 13, "Refunded": 14,
}

# Normal transitions allowed FROM each status (by value), staying excluded (always allowed).
# Live statuses go up freely; 3 DeadlineExceeded only from 1,2,5,6,7; 4 WillNotProcess only from
# 1,2,5,6; 13 RelayRaceLost from every live status; terminals (3, 4, 12, 13, 14) accept nothing.
ALLOWED_FROM = {
    1: {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
    2: {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
    5: {3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14},
    6: {3, 4, 7, 8, 9, 10, 11, 12, 13, 14},
    7: {3, 8, 9, 10, 11, 12, 13, 14},
    8: {9, 10, 11, 12, 13, 14},
    9: {10, 11, 12, 13, 14},
    10: {11, 12, 13, 14},
    11: {12, 13, 14},
    3: set(), 4: set(), 12: set(), 13: set(), 14: set(),
}

# Rollbacks allowed FROM each status: targets 1, 6, 8, 10 only, strictly lower; never out of 3 or 4;
# never to Seen once a relay may have been sent (7..12).
ROLLBACK_FROM = {
    1: set(), 2: {1}, 3: set(), 4: set(), 5: {1}, 6: {1}, 7: {6}, 8: {6}, 9: {6, 8}, 10: {6, 8},
    11: {6, 8, 10}, 12: {6, 8, 10}, 13: {1, 6, 8, 10}, 14: {1, 6, 8, 10},
}

FAMILIES = {
    1: "pending", 2: "pending", 3: "refused", 4: "refused", 5: "in_flight", 6: "in_flight",
    7: "in_flight", 8: "in_flight", 9: "in_flight", 10: "in_flight", 11: "in_flight", 12: "done",
    13: "lost", 14: "lost",
}

PAIRS = [(old, new) for old in range(1, 15) for new in range(1, 15)]


def test_canonical_values_exactly():
    assert {s.name: s.value for s in OrderStatus} == CANONICAL_VALUES


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_every_transition_pair(old, new):
    expected = old == new or new in ALLOWED_FROM[old]
    assert can_transition(S(old), S(new)) is expected
    if expected:
        check_transition(S(old), S(new))
    else:
        with pytest.raises(IllegalTransition) as exc:
            check_transition(S(old), S(new))
        assert exc.value.old == old and exc.value.new == new and exc.value.kind == "transition"


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_every_rollback_pair(old, new):
    expected = new in ROLLBACK_FROM[old]
    assert can_rollback(S(old), S(new)) is expected
    if not expected:
        with pytest.raises(IllegalTransition) as exc:
            check_rollback(S(old), S(new))
        assert exc.value.kind == "rollback"


def test_the_tables_respect_the_reference_rule():
    # REFERENCE §2: never lower, except DeadlineExceeded, WillNotProcess and RelayRaceLost.
    for old, targets in ALLOWED_FROM.items():
        for new in targets:
            assert new > old or new in (3, 4, 13)
    # A rollback is never a normal transition.
    for old, targets in ROLLBACK_FROM.items():
        for new in targets:
            assert new not in ALLOWED_FROM[old]


def test_terminal_and_families():
    assert {s.value for s in OrderStatus if is_terminal(s)} == {3, 4, 12, 13, 14}
    assert {s.value for s in OrderStatus if s.is_terminal} == {3, 4, 12, 13, 14}
    assert {s.value: s.family.value for s in OrderStatus} == FAMILIES
    assert {f.value for f in StatusFamily} == {"pending", "in_flight", "done", "refused", "lost"}
    assert {s.value for s in COMMITTED_STATUSES} == {5, 6, 7}


@pytest.mark.parametrize(("old", "new", "message"), [
    (S.RelayCompleted, S.Seen,
     "illegal transition RelayCompleted(8) -> Seen(1): a status never moves down; a vanished fact or a "
     "retry is a rollback"),
    (S.WillNotProcess, S.CommittedPending,
     "illegal transition WillNotProcess(4) -> CommittedPending(5): WillNotProcess is terminal"),
    (S.RelayStarted, S.WillNotProcess,
     "illegal transition RelayStarted(7) -> WillNotProcess(4): WillNotProcess only before the relay is "
     "sent (up to CommittedConfirmed)"),
    (S.RelayCompleted, S.DeadlineExceeded,
     "illegal transition RelayCompleted(8) -> DeadlineExceeded(3): DeadlineExceeded only before "
     "RelayCompleted"),
])
def test_transition_messages(old, new, message):
    with pytest.raises(IllegalTransition) as exc:
        check_transition(old, new)
    assert str(exc.value) == message
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(("old", "new", "message"), [
    (S.RelayStarted, S.Seen,
     "illegal rollback RelayStarted(7) -> Seen(1): our relay may have been sent: the order keeps its "
     "commitment"),
    (S.DeadlineExceeded, S.Seen,
     "illegal rollback DeadlineExceeded(3) -> Seen(1): DeadlineExceeded rests on configuration and "
     "chain time, not on a log"),
    (S.ProvePosted, S.ProvePosting,
     "illegal rollback ProvePosted(10) -> ProvePosting(9): a rollback lands only on Seen, "
     "CommittedConfirmed, RelayCompleted or ProvePosted"),
    (S.Seen, S.Seen, "illegal rollback Seen(1) -> Seen(1): a rollback moves down"),
])
def test_rollback_messages(old, new, message):
    with pytest.raises(IllegalTransition) as exc:
        check_rollback(old, new)
    assert str(exc.value) == message


def test_plain_ints_are_accepted_as_stored():
    # The store keeps the integer value; the rules accept it as read back.
    assert can_transition(1, 5) and not can_transition(5, 1)
    check_rollback(9, 8)
