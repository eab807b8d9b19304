"""Reorg and gap detection against real anvil reorgs (anvil_reorg, anvil_rollback, restarts)."""
from __future__ import annotations

import asyncio
import time

import pytest

from chainkit import DEV_ADDRESS, OTHER_ADDRESS, wait_receipt
from engine.chain.heads import HeadKind, HeadTracker, RecentBlocks, ReorgTooDeep, find_common_ancestor
from engine.chain.rpc import RpcUnavailable

pytestmark = pytest.mark.anvil


async def canonical_hashes(rpc, first: int, last: int) -> list[bytes]:
    return [(await rpc.get_block(n)).hash for n in range(first, last + 1)]


async def test_anvil_reorg_detected_with_the_right_ancestor(fresh_anvil, make_rpc):
    node = fresh_anvil(92_001)
    rpc = make_rpc(92_001, node.rpc_url)
    node.rpc("anvil_mine", ["0xa"])  # head 10
    tracker = HeadTracker(rpc, window=64)
    initial = await tracker.poll()
    assert initial.kind is HeadKind.INITIAL and initial.head.number == 10 and len(tracker.recent) == 11
    before = await canonical_hashes(rpc, 0, 10)

    # anvil_reorg [depth, [[tx, block offset], ...]]: replace blocks 8..10, with a transfer in the first
    node.rpc("anvil_reorg", [3, [[{"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1"}, 0]]])
    after = await canonical_hashes(rpc, 0, 10)
    assert after[:8] == before[:8] and all(x != y for x, y in zip(after[8:], before[8:]))

    # the pure detector: the new head does not link to the window
    probe = RecentBlocks(64, headers=list(tracker.recent))
    new_head = await rpc.get_block("latest")
    assert probe.apply(new_head).kind is HeadKind.REORG_PENDING
    ancestor = await find_common_ancestor(rpc, probe)
    assert ancestor.number == 7 and ancestor.hash == before[7]
    assert [h.hash for h in ancestor.fetched] == after[8:]

    # the tracker: one settled REORG update
    update = await tracker.poll()
    assert update.kind is HeadKind.REORG and update.common_ancestor == 7
    assert [h.hash for h in update.removed] == before[8:]
    assert [h.hash for h in update.added] == after[8:]
    assert update.head.hash == after[10] and update.reorg_depth == 3
    assert [tracker.recent.hash_at(n) for n in range(0, 11)] == after
    assert await tracker.poll() is None


async def test_rollback_and_longer_new_branch(fresh_anvil, make_rpc):
    node = fresh_anvil(92_002)
    rpc = make_rpc(92_002, node.rpc_url)
    node.rpc("anvil_mine", ["0xa"])
    tracker = HeadTracker(rpc, window=32)
    await tracker.poll()
    before = await canonical_hashes(rpc, 0, 10)
    node.rpc("anvil_rollback", [2])  # back to 8
    # a transaction makes the re-mined block 9 differ from the old one even within the same second
    wait_receipt(node, node.rpc("eth_sendTransaction", [{"from": DEV_ADDRESS, "to": OTHER_ADDRESS, "value": "0x1"}]))
    node.rpc("anvil_mine", ["0x3"])  # head 12
    after = await canonical_hashes(rpc, 0, 12)
    assert after[:9] == before[:9] and after[9] != before[9]

    update = await tracker.poll()
    assert update.kind is HeadKind.REORG and update.common_ancestor == 8
    assert [h.hash for h in update.removed] == before[9:]
    assert [h.number for h in update.added] == [9, 10, 11, 12]
    assert [h.hash for h in update.added] == after[9:]


async def test_gap_detected_and_backfilled(fresh_anvil, make_rpc):
    node = fresh_anvil(92_003)
    rpc = make_rpc(92_003, node.rpc_url)
    node.rpc("anvil_mine", ["0x3"])
    tracker = HeadTracker(rpc, window=64)
    await tracker.poll()
    node.rpc("anvil_mine", ["0x5"])  # 4..8 while we were not looking
    probe = RecentBlocks(64, headers=list(tracker.recent))
    gap = probe.apply(await rpc.get_block("latest"))
    assert gap.kind is HeadKind.GAP and gap.missing == range(4, 8)
    update = await tracker.poll()
    assert update.kind is HeadKind.EXTENDED
    assert [h.number for h in update.added] == [4, 5, 6, 7, 8]
    assert [h.hash for h in update.added] == await canonical_hashes(rpc, 4, 8)


async def test_gap_larger_than_backfill_jumps(fresh_anvil, make_rpc):
    node = fresh_anvil(92_004)
    rpc = make_rpc(92_004, node.rpc_url)
    node.rpc("anvil_mine", ["0x3"])
    tracker = HeadTracker(rpc, window=8, max_backfill=4)
    await tracker.poll()
    node.rpc("anvil_mine", ["0x14"])  # head 23
    update = await tracker.poll()
    assert update.kind is HeadKind.GAP and update.missing == range(4, 20)
    assert [h.number for h in update.added] == [20, 21, 22, 23]
    assert [h.hash for h in tracker.recent] == await canonical_hashes(rpc, 20, 23)


async def test_reorg_deeper_than_the_window_is_fatal(fresh_anvil, make_rpc):
    node = fresh_anvil(92_005)
    rpc = make_rpc(92_005, node.rpc_url)
    node.rpc("anvil_mine", ["0xa"])
    tracker = HeadTracker(rpc, window=4)
    await tracker.poll()
    assert tracker.recent.oldest.number == 7
    node.rpc("anvil_reorg", [6, []])
    with pytest.raises(ReorgTooDeep, match=r"chain 92005: no block of the window #7..#10 \(4 blocks\)"):
        await tracker.poll()


async def test_node_reset_is_fatal_after_tolerance(fresh_anvil, make_rpc):
    """The devnet anvil restarted on the same port: a brand-new chain below our window."""
    node = fresh_anvil(92_006)
    rpc = make_rpc(92_006, node.rpc_url)
    node.rpc("anvil_mine", ["0x14"])
    tracker = HeadTracker(rpc, window=8, below_window_tolerance=1)
    await tracker.poll()
    port = node.port
    node.stop()
    with pytest.raises(RpcUnavailable):
        await tracker.poll()
    fresh_anvil(92_006, port=port)
    assert await tracker.poll() is None  # tolerated once (could be a lagging backend)
    with pytest.raises(ReorgTooDeep, match="below the window"):
        await tracker.poll()


async def _collect(tracker: HeadTracker, queue: asyncio.Queue) -> None:
    async for update in tracker:
        await queue.put(update)


async def test_polling_follows_new_blocks(fresh_anvil, make_rpc):
    node = fresh_anvil(92_007)
    rpc = make_rpc(92_007, node.rpc_url)
    tracker = HeadTracker(rpc, window=16, poll_interval=0.05)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(_collect(tracker, queue))
    try:
        first = await asyncio.wait_for(queue.get(), 5)
        assert first.kind is HeadKind.INITIAL and first.head.number == 0
        node.rpc("evm_mine")
        update = await asyncio.wait_for(queue.get(), 5)
        assert update.kind is HeadKind.EXTENDED and update.head.number == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_websocket_new_heads_wake_the_tracker(fresh_anvil, make_rpc):
    """poll_interval is 30 s: only the WebSocket newHeads notification can deliver the block quickly."""
    node = fresh_anvil(92_008)
    rpc = make_rpc(92_008, node.rpc_url, ws_url=node.ws_url)
    tracker = HeadTracker(rpc, window=16, poll_interval=30.0)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(_collect(tracker, queue))
    try:
        first = await asyncio.wait_for(queue.get(), 5)
        assert first.kind is HeadKind.INITIAL
        deadline = time.monotonic() + 5
        while not rpc.ws_connected:  # the subscription is established in the background
            assert time.monotonic() < deadline, "WebSocket subscription never came up"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let the tracker consume the (re)connection wake-up
        for expected in (1, 2, 3):
            started = time.monotonic()
            node.rpc("evm_mine")
            update = await asyncio.wait_for(queue.get(), 3)
            assert update.kind is HeadKind.EXTENDED and update.head.number == expected
            assert time.monotonic() - started < 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_tracker_survives_node_outage(fresh_anvil, make_rpc, make_proxy):
    """The node stops answering (HTTP 503 through a proxy) for a while: the iteration goes on,
    reports the error, and follows the chain again once the node is back."""
    node = fresh_anvil(92_009)
    outage = {"on": False}
    proxy = await make_proxy(node.rpc_url, hook=lambda m, p, n: 503 if outage["on"] else None)
    rpc = make_rpc(92_009, proxy.url)
    tracker = HeadTracker(rpc, window=16, poll_interval=0.05)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(_collect(tracker, queue))
    try:
        assert (await asyncio.wait_for(queue.get(), 5)).kind is HeadKind.INITIAL
        outage["on"] = True
        node.rpc("anvil_mine", ["0x2"])
        deadline = time.monotonic() + 10
        while tracker.consecutive_errors < 2:
            assert time.monotonic() < deadline, "the outage was never noticed"
            await asyncio.sleep(0.05)
        assert isinstance(tracker.last_error, RpcUnavailable) and "HTTP 503" in str(tracker.last_error)
        assert not task.done() and queue.empty()
        outage["on"] = False
        update = await asyncio.wait_for(queue.get(), 5)
        assert update.kind is HeadKind.EXTENDED and [h.number for h in update.added] == [1, 2]
        assert tracker.last_error is None and tracker.consecutive_errors == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_unreachable_websocket_falls_back_to_polling(fresh_anvil, make_rpc):
    from engine.devnet.anvil import free_port

    node = fresh_anvil(92_010)
    rpc = make_rpc(92_010, node.rpc_url, ws_url=f"ws://127.0.0.1:{free_port()}/WSKEY123456")
    assert await rpc.wait_for_new_head(0.3) in (True, False)  # never raises
    tracker = HeadTracker(rpc, window=16, poll_interval=0.05)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(_collect(tracker, queue))
    try:
        assert (await asyncio.wait_for(queue.get(), 5)).kind is HeadKind.INITIAL
        node.rpc("evm_mine")
        update = await asyncio.wait_for(queue.get(), 5)
        assert update.kind is HeadKind.EXTENDED and update.head.number == 1
        assert not rpc.ws_connected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
