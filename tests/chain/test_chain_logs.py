"""eth_getLogs into RawLog, decoding a real FastBridge-shaped event, and iter_logs range splitting."""
from __future__ import annotations

import hashlib

import pytest
from eth_utils import to_checksum_address

from chainkit import DEV_ADDRESS, deploy_emitter, wait_receipt
from engine.chain.rpc import LogQueryTooLarge, RawLog, iter_logs
from engine.protocol.events import BRIDGE_PROOF_PROVIDED, decode_event

pytestmark = pytest.mark.anvil

CHAIN = 91_001
RELAYERS = [f"0x{n:040x}" for n in range(0xA11CE, 0xA11CE + 3)]


def tx_id(i: int) -> bytes:
    return hashlib.sha256(f"tx-{i}".encode()).digest()


def dest_tx(i: int) -> bytes:
    return hashlib.sha256(f"dest-{i}".encode()).digest()


@pytest.fixture(scope="module")
def emitted(anvil_node):
    """A LOG3 emitter and 24 BridgeProofProvided events, one per block, with empty blocks between."""
    emitter = deploy_emitter(anvil_node)
    events = []
    for i in range(24):
        relayer = RELAYERS[i % len(RELAYERS)]
        topics = (BRIDGE_PROOF_PROVIDED.topic0, tx_id(i), bytes.fromhex(relayer[2:].rjust(64, "0")))
        tx_hash = emitter.emit(topics, dest_tx(i))
        receipt = wait_receipt(anvil_node, tx_hash)
        events.append({"i": i, "tx_hash": bytes.fromhex(tx_hash[2:]), "block": int(receipt["blockNumber"], 16),
                       "relayer": to_checksum_address(relayer)})
        if i % 5 == 0:
            anvil_node.rpc("anvil_mine", ["0x2"])  # empty blocks inside the range
    head = int(anvil_node.rpc("eth_blockNumber"), 16)
    return emitter, events, head


async def test_get_logs_decodes_a_real_event(anvil_node, make_rpc, emitted):
    emitter, events, head = emitted
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    logs = await rpc.get_logs(emitter.address, 0, head)
    assert len(logs) == len(events)
    for log, expected in zip(logs, events):
        assert isinstance(log, RawLog) and not log.removed
        assert log.block_number == expected["block"] and log.tx_hash == expected["tx_hash"]
        assert log.address == to_checksum_address(emitter.address) and log.log_index == 0
        block = await rpc.get_block(log.block_number)
        assert log.block_hash == block.hash
        decoded = decode_event(list(log.topics), log.data)
        assert decoded.name == "BridgeProofProvided"
        assert decoded.args == {"transactionId": tx_id(expected["i"]), "relayer": expected["relayer"],
                                "transactionHash": dest_tx(expected["i"])}
    # the receipt carries the same logs
    receipt = await rpc.get_transaction_receipt(events[0]["tx_hash"])
    assert receipt.logs == (logs[0],)
    # reorg-safe lookup by block hash
    assert await rpc.get_logs_by_block_hash(emitter.address, logs[3].block_hash) == [logs[3]]


async def test_topic_and_address_filters(anvil_node, make_rpc, emitted):
    emitter, events, head = emitted
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    one = await rpc.get_logs(emitter.address, 0, head, [BRIDGE_PROOF_PROVIDED.topic0, tx_id(7)])
    assert [log.tx_hash for log in one] == [events[7]["tx_hash"]]
    relayer_topic = bytes.fromhex(RELAYERS[1][2:].rjust(64, "0"))
    by_relayer = await rpc.get_logs([emitter.address], 0, head, [None, None, relayer_topic])
    assert [log.tx_hash for log in by_relayer] == [e["tx_hash"] for e in events if e["i"] % 3 == 1]
    either = await rpc.get_logs(None, 0, head, [None, [tx_id(1), tx_id(2)]])
    assert len(either) == 2
    assert await rpc.get_logs(DEV_ADDRESS, 0, head) == []
    with pytest.raises(ValueError):
        await rpc.get_logs(emitter.address, 5, 4)


async def test_iter_logs_splits_with_exact_coverage(anvil_node, make_rpc, emitted):
    emitter, events, head = emitted
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    whole = await rpc.get_logs(emitter.address, 0, head)
    for max_range in (1, 3, 7, head + 1, 10_000):
        batches = [b async for b in iter_logs(rpc, emitter.address, 0, head, max_range=max_range)]
        assert batches[0].from_block == 0 and batches[-1].to_block == head
        for prev, nxt in zip(batches, batches[1:]):
            assert nxt.from_block == prev.to_block + 1  # contiguous, no overlap
        assert all(b.to_block - b.from_block + 1 <= max_range for b in batches)
        assert all(b.from_block <= log.block_number <= b.to_block for b in batches for log in b.logs)
        flat = [log for b in batches for log in b.logs]
        assert flat == whole and len({log.key for log in flat}) == len(flat)
    # a sub-range
    batches = [b async for b in iter_logs(rpc, emitter.address, 10, 20, max_range=4)]
    assert [(b.from_block, b.to_block) for b in batches] == [(10, 13), (14, 17), (18, 20)]
    assert [log for b in batches for log in b.logs] == [log for log in whole if 10 <= log.block_number <= 20]
    assert [b async for b in iter_logs(rpc, emitter.address, 5, 4)] == []


def refuse_ranges_over(limit: int, message: str, code: int = -32005):
    def hook(method, params, n):
        if method != "eth_getLogs":
            return None
        flt = params[0]
        span = int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) + 1
        return {"code": code, "message": message} if span > limit else None
    return hook


@pytest.mark.parametrize("message,code", [
    ("query returned more than 10000 results", -32005),  # Infura
    ("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range "
     "and no limit on the response size, or you can request any block range with a cap of 10K logs "
     "in the response.", -32602),  # Alchemy
    ("block range is too large", -32000),
    ("eth_getLogs is limited to a 10,000 range", -32614),  # QuickNode
])
async def test_iter_logs_halves_on_provider_limits(anvil_node, make_rpc, make_proxy, emitted, message, code):
    emitter, events, head = emitted
    proxy = await make_proxy(anvil_node.rpc_url, hook=refuse_ranges_over(5, message, code))
    rpc = make_rpc(CHAIN, proxy.url)
    direct = make_rpc(CHAIN, anvil_node.rpc_url)
    whole = await direct.get_logs(emitter.address, 0, head)
    batches = [b async for b in iter_logs(rpc, emitter.address, 0, head, max_range=32)]
    assert batches[0].from_block == 0 and batches[-1].to_block == head
    for prev, nxt in zip(batches, batches[1:]):
        assert nxt.from_block == prev.to_block + 1
    assert all(b.to_block - b.from_block + 1 <= 5 for b in batches)
    flat = [log for b in batches for log in b.logs]
    assert flat == whole and len({log.key for log in flat}) == len(flat)
    refused = len(proxy.requests) - len(batches)
    assert 1 <= refused <= len(batches), "halving (then regrowing) must not hammer the provider"
    # refusals are deterministic for get_logs: not retried by the transport layer
    assert rpc.retries == 0


async def test_iter_logs_gives_up_on_a_single_block(anvil_node, make_rpc, make_proxy, emitted):
    emitter, _, head = emitted
    proxy = await make_proxy(anvil_node.rpc_url, hook=refuse_ranges_over(0, "query returned more than 10000 results"))
    rpc = make_rpc(CHAIN, proxy.url)
    with pytest.raises(LogQueryTooLarge, match=r"chain 91001 eth_getLogs: provider refuses even the single block 0"):
        async for _ in iter_logs(rpc, emitter.address, 0, head, max_range=8):
            pass
