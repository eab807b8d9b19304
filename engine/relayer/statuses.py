"""Order statuses of the relayer state machine and every allowed move between them (REFERENCE §2).

The canonical relayer's values are kept (they are persisted and shown); mmtui adds Refunded 14.
All rules live here: `can_transition` for the normal forward moves, `can_rollback` for the one
sanctioned way down. Nothing else in the engine decides whether a status change is legal.

Normal transitions (one rule, checked in order):
- old == new is a "stay": always legal, records nothing new (a re-evaluated Seen order, a log replayed
  after a restart). Decisions express it as `next_status=None`.
- Terminal statuses (DeadlineExceeded, WillNotProcess, ClaimCompleted, RelayRaceLost, Refunded) are
  absorbing: REFERENCE's "allowed from anywhere" is read as "from any live status". Nothing sensible
  follows a terminal one (a claimed order cannot be lost, a lost race cannot pass its deadline).
- WillNotProcess only before the relay is sent (up to CommittedConfirmed): once our funds may have left,
  refusing the order would strand them instead of proving and claiming.
- DeadlineExceeded only before RelayCompleted (REFERENCE). From RelayStarted the caller must first know
  the relay did not land (reverted or replaced receipt): a late BridgeRelayed log of ours could not be
  recorded after a terminal status.
- RelayRaceLost from any live status (someone else's relay, proof or claim can show up at any time).
- Otherwise the status only moves up. Jumps are allowed on purpose: logs arrive late or out of order
  (anyone may claim with to=0, so ProvePosted can see ClaimCompleted without ClaimPending), and refusing a
  fact already on chain would strand funds.

Rollback (NOT a normal transition; used only by the reorg and retry paths, with `check_rollback`):
a fact the current status rests on vanished (its log or receipt was reorged away, detected by block
hash) or our own transaction failed and is retried. The order moves down to a status the machine can
resume from on its own:
- Seen: the origin BridgeRequested log vanished before our relay was sent; the commitment is released
  and the order is re-evaluated (confirmations re-counted) if the log comes back. Never once a relay
  may have been sent (RelayStarted..ClaimCompleted): the funds stay committed.
- CommittedConfirmed: our relay was dropped, replaced, reverted or reorged away, or the competitor's
  relay that made us RelayRaceLost was reorged away: send the relay again.
- RelayCompleted: our proof failed, was reorged away or disputed (a dispute resets the origin status to
  REQUESTED): prove again.
- ProvePosted: our claim failed or was reorged away: claim again.
WillNotProcess and DeadlineExceeded are decided from configuration and chain time, not from a log, so
no reorg can undo them. For the terminal RelayRaceLost and Refunded the caller picks the target from the
order's recorded history (the status it had before the vanished fact).
"""
from __future__ import annotations

from enum import IntEnum, StrEnum


class OrderStatus(IntEnum):
    Seen = 1
    NotEnoughInventory = 2
    DeadlineExceeded = 3
    WillNotProcess = 4
    CommittedPending = 5
    CommittedConfirmed = 6
    RelayStarted = 7
    RelayCompleted = 8
    ProvePosting = 9
    ProvePosted = 10
    ClaimPending = 11
    ClaimCompleted = 12
    RelayRaceLost = 13
    Refunded = 14  # mmtui's own: the user cancelled/refunded on origin

    @property
    def label(self) -> str:
        """Name and value, as the operator and the logs see it: "Seen(1)"."""
        return f"{self.name}({self.value})"

    @property
    def family(self) -> StatusFamily:
        return STATUS_FAMILY[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


class OriginBridgeStatus(IntEnum):
    """The FastBridgeV2 contract's `bridgeStatuses(transactionId)` on the origin chain (REFERENCE §1)."""

    NULL = 0
    REQUESTED = 1
    RELAYER_PROVED = 2
    RELAYER_CLAIMED = 3
    REFUNDED = 4


class StatusFamily(StrEnum):
    """Coarse grouping for the UI's colours and filters."""

    pending = "pending"      # waiting for us to decide or for inventory
    in_flight = "in_flight"  # committed funds: from CommittedPending until our claim lands
    done = "done"            # claimed: the only outcome that pays us
    refused = "refused"      # we declined (configuration, screening, time)
    lost = "lost"            # ended outside our control: another relayer won or the user took it back


TERMINAL_STATUSES = frozenset({
    OrderStatus.DeadlineExceeded, OrderStatus.WillNotProcess, OrderStatus.ClaimCompleted,
    OrderStatus.RelayRaceLost, OrderStatus.Refunded,
})

# Orders whose destAmount is reserved against the dest chain+token balance (REFERENCE §2).
COMMITTED_STATUSES = frozenset({
    OrderStatus.CommittedPending, OrderStatus.CommittedConfirmed, OrderStatus.RelayStarted,
})
# Relayed by us, not yet claimed: the order's originAmount is owed to us on its origin chain.
PENDING_IN_STATUSES = frozenset({
    OrderStatus.RelayCompleted, OrderStatus.ProvePosting, OrderStatus.ProvePosted, OrderStatus.ClaimPending,
})

STATUS_FAMILY: dict[OrderStatus, StatusFamily] = {
    OrderStatus.Seen: StatusFamily.pending,
    OrderStatus.NotEnoughInventory: StatusFamily.pending,
    OrderStatus.CommittedPending: StatusFamily.in_flight,
    OrderStatus.CommittedConfirmed: StatusFamily.in_flight,
    OrderStatus.RelayStarted: StatusFamily.in_flight,
    OrderStatus.RelayCompleted: StatusFamily.in_flight,
    OrderStatus.ProvePosting: StatusFamily.in_flight,
    OrderStatus.ProvePosted: StatusFamily.in_flight,
    OrderStatus.ClaimPending: StatusFamily.in_flight,
    OrderStatus.ClaimCompleted: StatusFamily.done,
    OrderStatus.WillNotProcess: StatusFamily.refused,
    OrderStatus.DeadlineExceeded: StatusFamily.refused,
    OrderStatus.RelayRaceLost: StatusFamily.lost,
    OrderStatus.Refunded: StatusFamily.lost,
}

ROLLBACK_TARGETS = frozenset({
    OrderStatus.Seen, OrderStatus.CommittedConfirmed, OrderStatus.RelayCompleted, OrderStatus.ProvePosted,
})

# Before the relay is sent: the only statuses from which we may still refuse an order.
_REFUSABLE = frozenset({
    OrderStatus.Seen, OrderStatus.NotEnoughInventory, OrderStatus.CommittedPending,
    OrderStatus.CommittedConfirmed,
})
_FUNDS_MAY_HAVE_LEFT = frozenset(
    s for s in OrderStatus if OrderStatus.RelayStarted <= s <= OrderStatus.ClaimCompleted
)


class IllegalTransition(ValueError):
    """A status change the state machine forbids; `kind` is "transition" or "rollback"."""

    def __init__(self, old: OrderStatus, new: OrderStatus, kind: str, why: str) -> None:
        super().__init__(f"illegal {kind} {old.label} -> {new.label}: {why}")
        self.old = old
        self.new = new
        self.kind = kind


def is_terminal(status: OrderStatus) -> bool:
    return status in TERMINAL_STATUSES


def _transition_refusal(old: OrderStatus, new: OrderStatus) -> str | None:
    """Why old -> new is not a legal normal transition, or None when it is."""
    if old == new:
        return None
    if old in TERMINAL_STATUSES:
        return f"{old.name} is terminal"
    if new == OrderStatus.WillNotProcess:
        if old not in _REFUSABLE:
            return "WillNotProcess only before the relay is sent (up to CommittedConfirmed)"
        return None
    if new == OrderStatus.DeadlineExceeded:
        if old >= OrderStatus.RelayCompleted:
            return "DeadlineExceeded only before RelayCompleted"
        return None
    if new == OrderStatus.RelayRaceLost:
        return None
    if new < old:
        return "a status never moves down; a vanished fact or a retry is a rollback"
    return None


def can_transition(old: OrderStatus, new: OrderStatus) -> bool:
    return _transition_refusal(OrderStatus(old), OrderStatus(new)) is None


def check_transition(old: OrderStatus, new: OrderStatus) -> None:
    old, new = OrderStatus(old), OrderStatus(new)
    why = _transition_refusal(old, new)
    if why is not None:
        raise IllegalTransition(old, new, "transition", why)


def _rollback_refusal(old: OrderStatus, new: OrderStatus) -> str | None:
    """Why old -> new is not a legal rollback, or None when it is."""
    if new not in ROLLBACK_TARGETS:
        return "a rollback lands only on Seen, CommittedConfirmed, RelayCompleted or ProvePosted"
    if new >= old:
        return "a rollback moves down"
    if old in (OrderStatus.WillNotProcess, OrderStatus.DeadlineExceeded):
        return f"{old.name} rests on configuration and chain time, not on a log"
    if new == OrderStatus.Seen and old in _FUNDS_MAY_HAVE_LEFT:
        return "our relay may have been sent: the order keeps its commitment"
    return None


def can_rollback(old: OrderStatus, new: OrderStatus) -> bool:
    return _rollback_refusal(OrderStatus(old), OrderStatus(new)) is None


def check_rollback(old: OrderStatus, new: OrderStatus) -> None:
    old, new = OrderStatus(old), OrderStatus(new)
    why = _rollback_refusal(old, new)
    if why is not None:
        raise IllegalTransition(old, new, "rollback", why)
