"""Pure parts of engine.chain.rpc: error classification, URL redaction, retry delays."""
from __future__ import annotations

import logging

import pytest

from engine.chain.rpc import (
    ChainRpc,
    ExecutionReverted,
    LogQueryTooLarge,
    MethodNotSupported,
    RetryPolicy,
    RpcResponseError,
    SendErrorKind,
    classify_response_error,
    classify_send_error,
    redact_url,
    scrub,
)


@pytest.mark.parametrize("message,kind", [
    # anvil 1.7.1 (measured, see test_send_raw_transaction_classification)
    ("nonce too low", SendErrorKind.NONCE_TOO_LOW),
    ("transaction already imported", SendErrorKind.ALREADY_KNOWN),
    ("replacement transaction underpriced", SendErrorKind.REPLACEMENT_UNDERPRICED),
    ("Insufficient funds for gas * price + value", SendErrorKind.INSUFFICIENT_FUNDS),
    ("max fee per gas less than block base fee", SendErrorKind.FEE_TOO_LOW),
    ("intrinsic gas too low", SendErrorKind.INTRINSIC_GAS_TOO_LOW),
    ("invalid chain id for signer", SendErrorKind.INVALID_CHAIN_ID),
    ("Failed to decode transaction", SendErrorKind.INVALID_TRANSACTION),
    # geth / erigon / nethermind / besu spellings
    ("nonce too low: next nonce 5, tx nonce 3", SendErrorKind.NONCE_TOO_LOW),
    ("already known", SendErrorKind.ALREADY_KNOWN),
    ("AlreadyKnown", SendErrorKind.ALREADY_KNOWN),
    ("ALREADY_EXISTS: already known", SendErrorKind.ALREADY_KNOWN),
    ("OldNonce, Current nonce: 5, nonce of rejected tx: 3", SendErrorKind.NONCE_TOO_LOW),
    ("nonce too high", SendErrorKind.NONCE_TOO_HIGH),
    ("insufficient funds for gas * price + value: balance 0, tx cost 21000", SendErrorKind.INSUFFICIENT_FUNDS),
    ("transaction underpriced", SendErrorKind.FEE_TOO_LOW),
    ("exceeds block gas limit", SendErrorKind.GAS_LIMIT_EXCEEDED),
    ("only replay-protected (EIP-155) transactions allowed over RPC", SendErrorKind.INVALID_CHAIN_ID),
    ("txpool is full", SendErrorKind.POOL_FULL),
    ("execution reverted: Ownable: caller is not the owner", SendErrorKind.EXECUTION_REVERTED),
    ("something new and strange", SendErrorKind.OTHER),
])
def test_send_error_classification(message, kind):
    assert classify_send_error(message) is kind


@pytest.mark.parametrize("code,message,cls,transient", [
    (3, "execution reverted", ExecutionReverted, False),
    (-32000, "execution reverted: insufficient allowance", ExecutionReverted, False),
    (-32601, "Method not found", MethodNotSupported, False),
    (-32601, "the method eth_maxPriorityFeePerGas does not exist/is not available", MethodNotSupported, False),
    (-32005, "query returned more than 10000 results", LogQueryTooLarge, False),
    (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
     LogQueryTooLarge, False),
    (-32000, "exceed maximum block range: 50000", LogQueryTooLarge, False),
    (-32000, "header not found", RpcResponseError, True),
    (-32000, "unknown block", RpcResponseError, True),
    (-32602, "BlockOutOfRangeError: block height is 1 but requested was 5", RpcResponseError, True),
    (-32005, "daily request count exceeded, request rate limited", RpcResponseError, True),
    (429, "Your app has exceeded its compute units per second capacity", RpcResponseError, True),
    (-32603, "request timed out", RpcResponseError, True),
    (-32602, "invalid argument 0: hex string without 0x prefix", RpcResponseError, False),
    (-32603, "EVM error StackUnderflow", RpcResponseError, False),
    (-32000, "missing trie node abc (path )", RpcResponseError, False),
])
def test_response_error_classification(code, message, cls, transient):
    assert classify_response_error(code, message) == (cls, transient)


@pytest.mark.parametrize("url,redacted", [
    ("https://eth-mainnet.g.alchemy.com/v2/abcdefSECRET", "https://eth-mainnet.g.alchemy.com:443"),
    ("https://user:pass@rpc.example.org:8443/path?key=SECRET#frag", "https://rpc.example.org:8443"),
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("wss://mainnet.infura.io/ws/v3/PROJECTID", "wss://mainnet.infura.io:443"),
    ("ws://[::1]:8546/x", "ws://[::1]:8546"),
])
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


def test_scrub_removes_urls_and_secret_fragments():
    url = "https://rpc.example.org/v3/0123456789abcdef?apikey=TOPSECRET1"
    rpc = ChainRpc(1, url)
    text = f"failed: 401, message='Unauthorized', url='{url}' key 0123456789abcdef TOPSECRET1"
    out = rpc._scrub(text)
    assert "0123456789abcdef" not in out and "TOPSECRET1" not in out
    assert "https://rpc.example.org:443" in out
    assert scrub("see http://h:1/secret-path") == "see http://h:1"
    assert "0123456789abcdef" not in repr(rpc) and "0123456789abcdef" not in str(rpc)


def test_constructor_rejects_bad_urls_without_echoing_them():
    with pytest.raises(ValueError) as info:
        ChainRpc(1, "ftp://host/SECRETPATH")
    assert "SECRETPATH" not in str(info.value)
    with pytest.raises(ValueError) as info:
        ChainRpc(1, "http://host", ws_url="http://host/WSSECRET")
    assert "WSSECRET" not in str(info.value)


def test_web3_log_records_are_redacted(caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("web3.providers.AsyncHTTPProvider").debug(
        "Making request HTTP. URI: %s, Method: %s", "https://h.example/v2/APIKEY12345", "eth_call")
    assert caplog.records and "APIKEY12345" not in caplog.records[-1].getMessage()
    assert "https://h.example:443" in caplog.records[-1].getMessage()


def test_retry_policy_delays_grow_bounded_and_jittered():
    policy = RetryPolicy(attempts=6, base_delay=0.1, max_delay=1.0, jitter=0.5)
    for i in range(8):
        nominal = min(1.0, 0.1 * 2**i)
        samples = [policy.delay(i) for _ in range(200)]
        assert all(nominal * 0.5 <= s <= nominal for s in samples)
        assert len(set(samples)) > 1
    assert policy.worst_case_sleep == pytest.approx(0.1 + 0.2 + 0.4 + 0.8 + 1.0)


def test_a_newheads_notification_gives_its_header_or_nothing_when_malformed():
    from hexbytes import HexBytes

    from engine.chain.rpc import BlockHeader, _announced_header

    h, p = "0x" + "ab" * 32, "0x" + "cd" * 32
    want = BlockHeader(7, bytes.fromhex("ab" * 32), bytes.fromhex("cd" * 32), 1_700_000_000, 10**9)
    formatted = {"result": {"number": 7, "hash": HexBytes(h), "parentHash": HexBytes(p), "timestamp": 1_700_000_000,
                            "baseFeePerGas": 10**9}}
    raw = {"result": {"number": "0x7", "hash": h, "parentHash": p, "timestamp": hex(1_700_000_000),
                      "baseFeePerGas": hex(10**9)}}
    assert _announced_header(formatted) == want and _announced_header(raw) == want
    for broken in ({}, {"result": None}, {"result": {**raw["result"], "hash": 32}},
                   {"result": {**raw["result"], "hash": "0xabcd"}}, {"result": {**raw["result"], "number": "7"}},
                   {"result": {k: v for k, v in raw["result"].items() if k != "parentHash"}}):
        assert _announced_header(broken) is None, broken
