"""Event decoding: the indexed arguments read straight from their topics agree with eth_abi, as strictly."""
from __future__ import annotations

import random

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from engine.protocol.codec import checksum_address
from engine.protocol.events import BRIDGE_EVENTS, EventDecodeError, decode_event


def _value(abi_type: str, rng: random.Random):
    if abi_type == "address":
        return checksum_address("0x" + rng.randbytes(20).hex())
    if abi_type == "bytes32":
        return rng.randbytes(32)
    if abi_type == "bytes":
        return rng.randbytes(rng.randrange(0, 200))
    if abi_type == "bool":
        return rng.random() < 0.5
    bits = int(abi_type.removeprefix("uint"))
    return rng.randrange(2**bits)


@pytest.mark.parametrize("spec", BRIDGE_EVENTS, ids=lambda s: s.name)
def test_every_event_decodes_as_eth_abi_does(spec):
    rng = random.Random(spec.name)
    for _ in range(20):
        args = {name: _value(abi_type, rng) for name, abi_type, _ in spec.params}
        topics = [spec.topic0] + [abi_encode([t], [args[n]]) for n, t, indexed in spec.params if indexed]
        plain = [(n, t) for n, t, indexed in spec.params if not indexed]
        data = abi_encode([t for _, t in plain], [args[n] for n, _ in plain])
        event = decode_event(topics, data)
        assert event.name == spec.name
        for name, abi_type, indexed in spec.params:
            if indexed:  # what eth_abi itself reads from the topic
                (expected,) = abi_decode([abi_type], topics[1 + [n for n, _, i in spec.params if i].index(name)])
                expected = checksum_address(expected) if abi_type == "address" else expected
            else:
                expected = args[name]
            assert event.args[name] == expected, name


def test_a_malformed_indexed_topic_is_refused():
    relayed = next(s for s in BRIDGE_EVENTS if s.name == "BridgeRelayed")
    txid, relayer, to = bytes(32), b"\x00" * 12 + b"\x11" * 20, b"\x00" * 12 + b"\x22" * 20
    data = abi_encode(["uint32", "address", "address", "uint256", "uint256", "uint256"],
                      [1, "0x" + "33" * 20, "0x" + "44" * 20, 5, 6, 7])
    assert decode_event([relayed.topic0, txid, relayer, to], data).args["relayer"] == checksum_address(
        "0x" + "11" * 20)
    with pytest.raises(EventDecodeError, match="non-zero padding"):
        decode_event([relayed.topic0, txid, b"\x01" + relayer[1:], to], data)
    with pytest.raises(EventDecodeError, match="32 bytes"):
        decode_event([relayed.topic0, txid, relayer[1:], to], data)
