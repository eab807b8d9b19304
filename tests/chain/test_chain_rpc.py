"""ChainRpc against a real anvil: reads, keep-alive, retries, send classification, redaction."""
from __future__ import annotations

import logging
import time
import traceback

import pytest
from chainkit import (
    DEV_ADDRESS,
    FAST_RETRY,
    OTHER_ADDRESS,
    await_receipt,
    deploy_emitter,
    sign_transfer,
    wait_receipt,
)
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.types import RPCEndpoint

from engine.chain.rpc import (
    AlreadyKnown,
    BlockHeader,
    ChainIdMismatch,
    ExecutionReverted,
    FeeTooLow,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidChainId,
    InvalidTransaction,
    NonceTooLow,
    ReplacementUnderpriced,
    RetryPolicy,
    RpcError,
    RpcHttpError,
    RpcResponseError,
    RpcUnavailable,
    SendErrorKind,
    SendOutcomeUnknown,
    TxRejected,
)
from engine.devnet.anvil import start_anvil
from engine.protocol.codec import bloom_may_contain

CHAIN = 91_001
pytestmark = pytest.mark.anvil


async def test_basic_reads(anvil_node, make_rpc):
    anvil_node.rpc("anvil_mine", ["0x3"])
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    assert await rpc.chain_id() == CHAIN
    assert await rpc.verify_chain_id() == CHAIN
    number = await rpc.block_number()
    assert number >= 3

    latest = await rpc.get_block("latest")
    assert isinstance(latest, BlockHeader) and latest.number >= number
    by_number = await rpc.get_block(latest.number)
    assert by_number == latest
    assert await rpc.get_block_by_hash(latest.hash) == latest
    parent = await rpc.get_block(latest.number - 1)
    assert parent is not None and latest.parent_hash == parent.hash
    assert len(latest.hash) == 32 and latest.base_fee_per_gas is not None and latest.timestamp > 0
    assert await rpc.get_block(latest.number + 1000) is None
    assert {latest: "frozen, hashable"}[by_number] == "frozen, hashable"


async def test_a_headers_logs_bloom_rules_out_the_logs_its_block_cannot_hold(anvil_node, make_rpc):
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    emitter = deploy_emitter(anvil_node)
    topics = (bytes.fromhex("aa" * 32), bytes.fromhex("bb" * 32), bytes.fromhex("cc" * 32))
    receipt = wait_receipt(anvil_node, emitter.emit(topics))
    with_log = await rpc.get_block(int(receipt["blockNumber"], 16))
    anvil_node.rpc("anvil_mine", ["0x1"])
    empty = await rpc.get_block("latest")
    assert with_log is not None and empty is not None and len(with_log.logs_bloom) == 256
    # the node's own bloom holds the log's address and topics: the check agrees with what the chain computed
    assert bloom_may_contain(with_log.logs_bloom, bytes.fromhex(emitter.address[2:]))
    assert all(bloom_may_contain(with_log.logs_bloom, t) for t in topics)
    assert with_log.may_have_logs_of([OTHER_ADDRESS, emitter.address])
    others = [f"0x{n:040x}" for n in range(1, 200)]  # 4 items set at most 12 of 2048 bits: no false positive here
    assert not any(with_log.may_have_logs_of([a]) for a in others)
    assert not empty.may_have_logs_of([emitter.address]) and empty.logs_bloom == bytes(256)
    # a header without a bloom (one stored by the watcher) rules nothing out
    assert BlockHeader(1, bytes(32), bytes(32), 0).may_have_logs_of([emitter.address])


async def test_account_and_fee_reads(anvil_node, make_rpc):
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    assert await rpc.get_balance(DEV_ADDRESS) > 9_000 * 10**18
    assert await rpc.get_balance(DEV_ADDRESS, 0) == 10_000 * 10**18  # genesis balance
    assert await rpc.get_transaction_count(DEV_ADDRESS, "latest") <= await rpc.get_transaction_count(DEV_ADDRESS)
    assert await rpc.gas_price() > 0
    assert await rpc.max_priority_fee() > 0
    history = await rpc.fee_history(2, "latest", [50])
    assert len(history.base_fee_per_gas) == 3 and len(history.gas_used_ratio) == 2
    assert len(history.reward) == 2 and len(history.reward[0]) == 1
    assert history.next_base_fee > 0
    assert await rpc.estimate_gas(OTHER_ADDRESS, b"", from_address=DEV_ADDRESS, value=1) == 21_000


async def test_call_and_revert(anvil_node, make_rpc):
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    # eth_call without `to` runs init code: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    out = await rpc.call(None, bytes.fromhex("602a60005260206000f3"))  # type: ignore[arg-type]
    assert int.from_bytes(out, "big") == 42
    # PUSH4 deadbeef PUSH1 0 MSTORE PUSH1 4 PUSH1 28 REVERT -> revert data 0xdeadbeef
    requests_before = rpc.requests
    with pytest.raises(ExecutionReverted) as info:
        await rpc.call(None, bytes.fromhex("63deadbeef6000526004601cfd"))  # type: ignore[arg-type]
    assert info.value.revert_data == bytes.fromhex("deadbeef")
    assert info.value.code == 3 and not info.value.transient
    assert rpc.requests == requests_before + 1, "a revert is deterministic: never retried"
    assert f"chain {CHAIN} eth_call" in str(info.value)
    with pytest.raises(ExecutionReverted):
        await rpc.estimate_gas(None, bytes.fromhex("60006000fd"))


async def test_chain_id_mismatch(anvil_node, make_rpc):
    rpc = make_rpc(1, anvil_node.rpc_url)
    with pytest.raises(ChainIdMismatch, match=f"node serves chain {CHAIN}, configured 1"):
        await rpc.verify_chain_id()


async def test_keep_alive_reuses_one_connection(anvil_node, make_rpc, make_proxy):
    """Server-side count of TCP connections through a proxy: 50 sequential calls use one connection,
    while web3's default provider (force_close session) opens one per call."""
    proxy = await make_proxy(anvil_node.rpc_url)
    rpc = make_rpc(CHAIN, proxy.url)
    for _ in range(50):
        await rpc.block_number()
    assert rpc.connections_opened == 1
    assert len(proxy.requests) == 50
    assert proxy.connections <= 2, f"{proxy.connections} TCP connections for 50 calls"

    # the contrast this test exists to catch: web3 8's default session
    default_proxy = await make_proxy(anvil_node.rpc_url)
    plain = AsyncWeb3(AsyncHTTPProvider(default_proxy.url))
    try:
        for _ in range(20):
            await plain.provider.make_request(RPCEndpoint("eth_blockNumber"), [])
    finally:
        await plain.provider.disconnect()
    assert default_proxy.connections >= 15


async def test_receipt_after_send(anvil_node, make_rpc):
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    nonce = await rpc.get_transaction_count(DEV_ADDRESS, "pending")
    tx_hash = await rpc.send_raw_transaction(sign_transfer(CHAIN, nonce, value=12345))
    # anvil answers before its automine has produced the block (~1 in 4 receipts is not there yet)
    receipt = await await_receipt(rpc, tx_hash)
    assert receipt.succeeded
    assert receipt.tx_hash == tx_hash and receipt.gas_used == 21_000
    assert receipt.from_address == DEV_ADDRESS and receipt.to_address == OTHER_ADDRESS
    assert receipt.effective_gas_price and receipt.logs == ()
    block = await rpc.get_block(receipt.block_number)
    assert block is not None and block.hash == receipt.block_hash
    assert await rpc.get_transaction_receipt(b"\x00" * 32) is None


async def test_send_raw_transaction_classification(fresh_anvil, make_rpc):
    """What anvil 1.7.1 actually answers, mapped to exception types; one attempt each."""
    chain = 91_010
    node = fresh_anvil(chain)
    rpc = make_rpc(chain, node.rpc_url)

    first = sign_transfer(chain, 0)
    await await_receipt(rpc, await rpc.send_raw_transaction(first))  # mined
    sent = rpc.requests
    # The same (already mined) transaction again: anvil says "nonce too low" (not "already known")
    with pytest.raises(NonceTooLow) as info:
        await rpc.send_raw_transaction(first)
    assert info.value.kind is SendErrorKind.NONCE_TOO_LOW and info.value.rpc_message == "nonce too low"
    assert rpc.requests == sent + 1, "send_raw_transaction is never retried"
    # A different transaction with a stale nonce
    with pytest.raises(NonceTooLow):
        await rpc.send_raw_transaction(sign_transfer(chain, 0, value=2))

    node.rpc("evm_setAutomine", [False])
    pending = sign_transfer(chain, 1)
    await rpc.send_raw_transaction(pending)
    # The same pending transaction again: "transaction already imported"
    with pytest.raises(AlreadyKnown) as known:
        await rpc.send_raw_transaction(pending)
    assert known.value.rpc_message == "transaction already imported"
    # Same nonce, different content, same fees: "replacement transaction underpriced"
    with pytest.raises(ReplacementUnderpriced):
        await rpc.send_raw_transaction(sign_transfer(chain, 1, value=5))
    # A replacement with higher fees is accepted
    await rpc.send_raw_transaction(sign_transfer(chain, 1, value=5, max_fee=4 * 10**9, tip=2 * 10**9))
    # "Insufficient funds for gas * price + value"
    with pytest.raises(InsufficientFunds):
        await rpc.send_raw_transaction(sign_transfer(chain, 2, value=10**30))
    # "max fee per gas less than block base fee"
    with pytest.raises(FeeTooLow):
        await rpc.send_raw_transaction(sign_transfer(chain, 2, max_fee=1, tip=1))
    # "intrinsic gas too low" (code -32000)
    with pytest.raises(IntrinsicGasTooLow):
        await rpc.send_raw_transaction(sign_transfer(chain, 2, gas=20_000))
    # signed for another chain: "invalid chain id for signer"
    with pytest.raises(InvalidChainId):
        await rpc.send_raw_transaction(sign_transfer(1, 2))
    # not a transaction: "Failed to decode transaction" (-32602)
    with pytest.raises(InvalidTransaction) as bad:
        await rpc.send_raw_transaction(b"\x12\x34")
    assert isinstance(bad.value, TxRejected) and isinstance(bad.value, RpcResponseError)
    assert f"chain {chain} eth_sendRawTransaction" in str(bad.value)


async def test_send_to_stopped_node_is_not_sent(fresh_anvil, make_rpc):
    node = fresh_anvil(91_011)
    cold = make_rpc(91_011, node.rpc_url)  # never connected: the send must open a connection
    warm = make_rpc(91_011, node.rpc_url)
    await warm.block_number()  # holds a pooled keep-alive connection
    node.stop()
    with pytest.raises(RpcUnavailable) as info:
        await cold.send_raw_transaction(sign_transfer(91_011, 0))
    assert type(info.value) is RpcUnavailable, "connection refused: certainly not sent"
    assert "eth_sendRawTransaction: not sent" in str(info.value)
    assert info.value.cause == "HttpConnectError"
    # with a pooled connection whose FIN may not have been processed yet, a write on the dead
    # connection is possible: then the outcome is (correctly) unknown
    with pytest.raises(RpcUnavailable):
        await warm.send_raw_transaction(sign_transfer(91_011, 0))


async def test_send_http_failures(anvil_node, make_rpc, make_proxy):
    gateway = await make_proxy(anvil_node.rpc_url, hook=lambda m, p, n: 502)
    rpc = make_rpc(CHAIN, gateway.url)
    with pytest.raises(SendOutcomeUnknown, match="outcome unknown: HTTP 502"):
        await rpc.send_raw_transaction(sign_transfer(CHAIN, 0))
    limited = await make_proxy(anvil_node.rpc_url, hook=lambda m, p, n: 429)
    rpc2 = make_rpc(CHAIN, limited.url)
    with pytest.raises(RpcUnavailable) as info:
        await rpc2.send_raw_transaction(sign_transfer(CHAIN, 0))
    assert type(info.value) is RpcUnavailable and "not sent (rate limited)" in str(info.value)
    assert len(gateway.requests) == 1 and len(limited.requests) == 1


async def test_unavailable_then_recovers_on_restart(fresh_anvil, make_rpc):
    node = fresh_anvil(91_012)
    port = node.port
    policy = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)
    rpc = make_rpc(91_012, node.rpc_url, retry=policy)
    node.rpc("anvil_mine", ["0x2"])
    assert await rpc.block_number() == 2  # a keep-alive connection is now pooled
    node.stop()

    started = time.monotonic()
    with pytest.raises(RpcUnavailable) as info:
        await rpc.block_number()
    elapsed = time.monotonic() - started
    err = info.value
    assert err.attempts == 4 and rpc.retries >= 3
    assert elapsed < policy.worst_case_sleep + 2.0, f"gave up after {elapsed:.2f}s"
    assert "chain 91012 eth_blockNumber: unavailable after 4 attempt(s)" in str(err)
    assert f"127.0.0.1:{port}" in str(err)

    restarted = fresh_anvil(91_012, port=port)
    assert restarted.port == port
    assert await rpc.block_number() == 0  # a new chain, same ChainRpc and session
    assert await rpc.chain_id() == 91_012


async def test_http_errors_retried_or_not(anvil_node, make_rpc, make_proxy):
    # two 503s then pass-through: retried, succeeds
    proxy = await make_proxy(anvil_node.rpc_url, hook=lambda m, p, n: 503 if n <= 2 else None)
    rpc = make_rpc(CHAIN, proxy.url)
    assert await rpc.chain_id() == CHAIN
    assert proxy.requests == ["eth_chainId"] * 3 and rpc.retries == 2

    # 401: a configuration error, not retried
    denied = await make_proxy(anvil_node.rpc_url, hook=lambda m, p, n: 401)
    rpc2 = make_rpc(CHAIN, denied.url)
    with pytest.raises(RpcHttpError) as info:
        await rpc2.block_number()
    assert info.value.status == 401 and len(denied.requests) == 1


async def test_transient_node_errors_retried_deterministic_not(anvil_node, make_rpc, make_proxy):
    header_not_found = {"code": -32000, "message": "header not found"}
    proxy = await make_proxy(anvil_node.rpc_url,
                             hook=lambda m, p, n: header_not_found if n <= 2 else None)
    rpc = make_rpc(CHAIN, proxy.url)
    assert (await rpc.get_block("latest")) is not None
    assert len(proxy.requests) == 3

    always = await make_proxy(anvil_node.rpc_url, hook=lambda m, p, n: header_not_found)
    rpc2 = make_rpc(CHAIN, always.url)
    with pytest.raises(RpcResponseError) as info:
        await rpc2.get_block(5)
    assert info.value.transient and info.value.code == -32000
    assert len(always.requests) == FAST_RETRY.attempts
    assert "header not found (still after 4 attempts)" in str(info.value)

    invalid = await make_proxy(anvil_node.rpc_url,
                               hook=lambda m, p, n: {"code": -32602, "message": "invalid argument 0"})
    rpc3 = make_rpc(CHAIN, invalid.url)
    with pytest.raises(RpcResponseError) as info3:
        await rpc3.block_number()
    assert not info3.value.transient and len(invalid.requests) == 1


async def test_timeouts(anvil_node, make_rpc, make_proxy):
    proxy = await make_proxy(anvil_node.rpc_url, hook=lambda m, p, n: "hang")
    rpc = make_rpc(CHAIN, proxy.url, timeout=0.2, send_timeout=0.2,
                   retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01))
    started = time.monotonic()
    with pytest.raises(RpcUnavailable, match=r"no answer within 0.2s"):
        await rpc.block_number()
    assert time.monotonic() - started < 2
    assert len(proxy.requests) == 2
    with pytest.raises(SendOutcomeUnknown, match="outcome unknown"):
        await rpc.send_raw_transaction(sign_transfer(CHAIN, 0))
    assert proxy.requests.count("eth_sendRawTransaction") == 1


async def test_secrets_never_in_messages_or_logs(fresh_anvil, make_rpc, caplog):
    node = fresh_anvil(91_013)
    secret_url = f"{node.rpc_url}/v3/SUPERSECRETKEY123?apikey=ANOTHERSECRET9"
    caplog.set_level(logging.DEBUG)
    rpc = make_rpc(91_013, secret_url, ws_url=f"{node.ws_url}/ws/WSSECRETKEY77")
    texts: list[str] = [repr(rpc), str(rpc)]
    # anvil answers 404 on that path
    with pytest.raises(RpcHttpError) as http_err:
        await rpc.block_number()
    node.stop()
    with pytest.raises(RpcUnavailable) as unavailable:
        await rpc.send_raw_transaction(sign_transfer(91_013, 0))
    rpc2 = make_rpc(91_013, secret_url)
    with pytest.raises(RpcUnavailable) as down:
        await rpc2.get_block("latest")
    for info in (http_err, unavailable, down):
        exc = info.value
        assert exc.__cause__ is None
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    for text in texts:
        for secret in ("SUPERSECRETKEY123", "ANOTHERSECRET9", "WSSECRETKEY77", "/v3/"):
            assert secret not in text, text
    assert f"http://127.0.0.1:{node.port}" in str(down.value)


async def test_closed_rpc_refuses(anvil_node, make_rpc):
    rpc = make_rpc(CHAIN, anvil_node.rpc_url)
    await rpc.block_number()
    await rpc.close()
    with pytest.raises(RpcError, match="closed"):
        await rpc.block_number()


def test_start_anvil_restart_helper_is_sane(anvil_bin):
    """start_anvil on an explicit port must bind that port (the restart test relies on it)."""
    first = start_anvil(91_014)
    port = first.port
    first.stop()
    again = start_anvil(91_014, port=port)
    try:
        assert again.port == port and int(again.rpc("eth_chainId"), 16) == 91_014
    finally:
        again.stop()
