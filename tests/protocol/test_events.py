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


def _eth_abi_or_error(types: list[str], data: bytes):
    try:
        values = abi_decode(types, data, strict=True)
    except Exception as exc:  # noqa: BLE001 - any refusal counts
        return exc
    return [checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)]


@pytest.mark.parametrize("spec", BRIDGE_EVENTS, ids=lambda s: s.name)
def test_event_data_read_directly_only_when_eth_abi_reads_the_same(spec):
    """The data of a log is read directly when it is the canonical encoding; whatever else (flipped bytes,
    cut or longer data, bad padding, out-of-range values, odd offsets) is eth_abi's to decode or refuse, so
    decode_event returns what eth_abi returns and refuses what it refuses."""
    rng = random.Random("mutations " + spec.name)
    indexed = [n for n, _, i in spec.params if i]
    plain = [(n, t) for n, t, i in spec.params if not i]
    types = [t for _, t in plain]
    topics = [spec.topic0] + [bytes(12) + rng.randbytes(20) if t == "address" else rng.randbytes(32)
                              for n, t, i in spec.params if i]
    assert len(topics) == 1 + len(indexed)
    read_directly = refused = 0
    for round_ in range(400):
        data = bytearray(abi_encode(types, [_value(t, rng) for t in types]))
        if round_ % 4:  # three rounds in four: one to three bytes changed, or the data cut or lengthened
            for _ in range(rng.randrange(1, 4)):
                kind = rng.randrange(4)
                if kind == 0 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif kind == 1 and len(data) >= 32:  # a small value in a word's last byte: offsets, lengths, bools
                    data[rng.randrange(len(data) // 32) * 32 + 31] = rng.choice((0, 1, 2, 32, 64, 96, 255))
                elif kind == 2:
                    del data[rng.randrange(len(data) + 1):]
                else:
                    data += bytes(rng.choice((1, 31, 32)))
        expected = _eth_abi_or_error(types, bytes(data))
        if isinstance(expected, Exception):
            with pytest.raises(EventDecodeError):
                decode_event(topics, bytes(data))
            refused += 1
            continue
        event = decode_event(topics, bytes(data))
        assert [event.args[n] for n, _ in plain] == expected
        read_directly += 1
    assert read_directly > 100 and (refused > 50 or not any(t in ("bytes", "bool", "address", "uint32")
                                                              for t in types))
