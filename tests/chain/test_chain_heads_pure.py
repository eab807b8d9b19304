"""RecentBlocks, find_common_ancestor and HeadTracker on synthetic chains (no node needed)."""
from __future__ import annotations

import hashlib

import pytest

from engine.chain.heads import (
    HeadKind,
    HeadTracker,
    RecentBlocks,
    ReorgTooDeep,
    find_common_ancestor,
)
from engine.chain.rpc import BlockHeader


def branch(start: int, count: int, fork: str, parent: bytes | None = None) -> list[BlockHeader]:
    """`count` linked headers from `start`; `fork` makes the hashes of this branch unique."""
    out: list[BlockHeader] = []
    prev = parent if parent is not None else hashlib.sha256(f"parent-of-{start}".encode()).digest()
    for number in range(start, start + count):
        h = hashlib.sha256(f"{fork}:{number}".encode()).digest()
        out.append(BlockHeader(number, h, prev, 1_700_000_000 + number, 10**9))
        prev = h
    return out


class FakeRpc:
    """Serves a mutable canonical chain the way ChainRpc does (get_block by number/tag/hash)."""

    expected_chain_id = 424242
    endpoint = "http://fake:0"

    def __init__(self, canonical: list[BlockHeader]) -> None:
        self.canonical = list(canonical)
        self.by_hash = {h.hash: h for h in canonical}
        self.fetches: list[int | str] = []

    def set_chain(self, canonical: list[BlockHeader]) -> None:
        self.canonical = list(canonical)
        self.by_hash.update({h.hash: h for h in canonical})

    async def get_block(self, block="latest"):
        self.fetches.append(block)
        if block == "latest":
            return self.canonical[-1]
        return self.canonical[block] if 0 <= block < len(self.canonical) else None

    async def get_block_by_hash(self, block_hash):
        return self.by_hash.get(block_hash)

    async def wait_for_new_head(self, timeout):
        return False


def test_extend_trim_stale():
    chain = branch(0, 10, "a")
    recent = RecentBlocks(4)
    kinds = [recent.apply(h).kind for h in chain]
    assert kinds == [HeadKind.INITIAL] + [HeadKind.EXTENDED] * 9
    assert len(recent) == 4 and recent.oldest.number == 6 and recent.tip == chain[9]
    assert recent.get(5) is None and recent.hash_at(7) == chain[7].hash and chain[8] in recent
    assert recent.apply(chain[9]).kind is HeadKind.STALE
    assert recent.apply(chain[7]).kind is HeadKind.STALE  # a lagging node: not a reorg


def test_gap_reports_missing_and_stores_nothing():
    chain = branch(0, 10, "a")
    recent = RecentBlocks(8, headers=chain[:3])
    update = recent.apply(chain[7])
    assert update.kind is HeadKind.GAP and update.missing == range(3, 7)
    assert recent.tip == chain[2]
    for h in chain[3:8]:
        assert recent.apply(h).kind is HeadKind.EXTENDED


def test_reorg_resolved_from_the_window():
    a = branch(0, 10, "a")
    recent = RecentBlocks(16, headers=a)
    b = branch(7, 3, "b", parent=a[6].hash)  # replaces 7, 8, 9
    update = recent.apply(b[0])
    assert update.kind is HeadKind.REORG and update.common_ancestor == 6
    assert update.removed == tuple(a[7:10]) and update.added == (b[0],)
    assert recent.tip == b[0]
    assert recent.apply(b[1]).kind is HeadKind.EXTENDED


def test_reorg_pending_when_the_fork_point_is_not_visible():
    a = branch(0, 10, "a")
    recent = RecentBlocks(16, headers=a)
    b = branch(7, 4, "b", parent=a[6].hash)  # new head at 10, fork below 9
    update = recent.apply(b[3])
    assert update.kind is HeadKind.REORG_PENDING and recent.tip == a[9]  # nothing stored
    update = recent.apply(b[2])  # at 9, parent 8' unknown
    assert update.kind is HeadKind.REORG_PENDING


def test_too_deep_below_the_window():
    a = branch(0, 20, "a")
    recent = RecentBlocks(5, headers=a)
    other = branch(0, 10, "restart")
    update = recent.apply(other[9])
    assert update.kind is HeadKind.TOO_DEEP and "below the window #15..#19" in update.message
    assert recent.tip == a[19]


def test_rewind_reset_and_validation():
    a = branch(0, 6, "a")
    recent = RecentBlocks(10, headers=a)
    assert recent.rewind(3) == tuple(a[4:])
    assert recent.tip == a[3]
    with pytest.raises(ValueError, match="contiguous"):
        recent.reset([a[0], a[2]])
    with pytest.raises(ValueError):
        RecentBlocks(1)


async def test_find_common_ancestor_walks_back_and_uses_parent_hashes():
    a = branch(0, 30, "a")
    recent = RecentBlocks(16, headers=a)
    b = a[:21] + branch(21, 12, "b", parent=a[20].hash)  # fork after 20, new head 32
    rpc = FakeRpc(b)
    ancestor = await find_common_ancestor(rpc, recent)
    assert ancestor.number == 20 and ancestor.hash == a[20].hash
    assert [h.number for h in ancestor.fetched] == list(range(21, 30))
    # fetched 29..21 by number; 21's parent hash is stored: no fetch of 20 needed
    assert rpc.fetches == list(range(29, 20, -1))


async def test_find_common_ancestor_too_deep():
    a = branch(0, 30, "a")
    recent = RecentBlocks(8, headers=a)
    rpc = FakeRpc(a[:10] + branch(10, 25, "b", parent=a[9].hash))
    with pytest.raises(ReorgTooDeep, match=r"chain 424242: no block of the window #22..#29 \(8 blocks\)"):
        await find_common_ancestor(rpc, recent)


async def test_tracker_seeds_extends_and_backfills():
    a = branch(0, 40, "a")
    rpc = FakeRpc(a[:11])
    tracker = HeadTracker(rpc, window=16)
    first = await tracker.poll()
    assert first.kind is HeadKind.INITIAL and first.head == a[10]
    assert first.added == tuple(a[0:11]) and len(tracker.recent) == 11
    assert await tracker.poll() is None
    rpc.set_chain(a[:12])
    update = await tracker.poll()
    assert update.kind is HeadKind.EXTENDED and update.added == (a[11],)
    rpc.set_chain(a[:20])  # gap of 7 below the head: backfilled
    update = await tracker.poll()
    assert update.kind is HeadKind.EXTENDED and update.added == tuple(a[12:20])


async def test_tracker_reorg_longer_branch_with_gap():
    a = branch(0, 40, "a")
    rpc = FakeRpc(a[:31])
    tracker = HeadTracker(rpc, window=16)
    await tracker.poll()
    b = a[:26] + branch(26, 10, "b", parent=a[25].hash)  # 26..30 replaced, head 35
    rpc.set_chain(b)
    update = await tracker.poll()
    assert update.kind is HeadKind.REORG and update.common_ancestor == 25
    assert update.removed == tuple(a[26:31])
    assert update.added == tuple(b[26:36]) and update.head == b[35]
    assert [tracker.recent.hash_at(n) for n in range(20, 36)] == [h.hash for h in b[20:36]]


async def test_tracker_shorter_branch_is_a_reorg_once_seen():
    a = branch(0, 40, "a")
    rpc = FakeRpc(a[:31])
    tracker = HeadTracker(rpc, window=16)
    await tracker.poll()
    b = a[:27] + branch(27, 2, "b", parent=a[26].hash)  # head 28 < old head 30, different hash
    rpc.set_chain(b)
    update = await tracker.poll()
    assert update.kind is HeadKind.REORG and update.common_ancestor == 26
    assert update.removed == tuple(a[27:31]) and update.added == tuple(b[27:29])


async def test_tracker_jumps_over_a_large_gap():
    a = branch(0, 200, "a")
    rpc = FakeRpc(a[:11])
    tracker = HeadTracker(rpc, window=16, max_backfill=8)
    await tracker.poll()
    rpc.set_chain(a[:100])
    update = await tracker.poll()
    assert update.kind is HeadKind.GAP and update.missing == range(11, 92)
    assert update.added == tuple(a[92:100]) and tracker.recent.oldest == a[92]


async def test_tracker_reorg_then_jump():
    a = branch(0, 200, "a")
    rpc = FakeRpc(a[:21])
    tracker = HeadTracker(rpc, window=16, max_backfill=8)
    await tracker.poll()
    b = a[:18] + branch(18, 100, "b", parent=a[17].hash)
    rpc.set_chain(b)
    update = await tracker.poll()
    assert update.kind is HeadKind.REORG and update.common_ancestor == 17
    assert update.removed == tuple(a[18:21]) and update.missing == range(18, 110)
    assert tracker.recent.tip == b[117]


async def test_tracker_below_window_tolerance_then_fatal():
    a = branch(0, 50, "a")
    rpc = FakeRpc(a)
    tracker = HeadTracker(rpc, window=8, below_window_tolerance=2)
    await tracker.poll()
    rpc.set_chain(branch(0, 5, "reset"))  # the node was reset to a new chain
    assert await tracker.poll() is None
    assert await tracker.poll() is None
    with pytest.raises(ReorgTooDeep, match="below the window"):
        await tracker.poll()
    # a lagging node answering a head we still hold is not an error
    tracker2 = HeadTracker(FakeRpc(a), window=8)
    await tracker2.poll()
    assert await tracker2.poll(head=a[45]) is None


async def test_tracker_given_an_orphaned_head_settles_on_the_canonical_one():
    a = branch(0, 40, "a")
    rpc = FakeRpc(a[:21])
    tracker = HeadTracker(rpc, window=16)
    await tracker.poll()
    orphan = branch(21, 1, "orphan", parent=branch(20, 1, "x")[0].hash)[0]  # links to nothing we know
    rpc.set_chain(a[:23])
    update = await tracker.poll(head=orphan)
    assert update.kind is HeadKind.EXTENDED and update.added == (a[21], a[22])
    assert tracker.recent.tip == a[22]
