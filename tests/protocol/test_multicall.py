"""The hand-written aggregate3 answer decoder reads what eth_abi reads, and refuses what is not an answer."""
from __future__ import annotations

import random

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from engine.protocol.multicall import (
    AGGREGATE3,
    MulticallFailed,
    decode_aggregate3,
    decode_aggregate3_results,
    encode_aggregate3,
)


def _answer(results: list[tuple[bool, bytes]]) -> bytes:
    return abi_encode(["(bool,bytes)[]"], [results])


def test_decodes_as_eth_abi_does() -> None:
    rng = random.Random(7)
    shapes = [[], [(True, b"")], [(False, b"\x01")], [(True, (5).to_bytes(32, "big"))]]
    shapes += [[(rng.random() < 0.8, rng.randbytes(rng.choice([0, 1, 31, 32, 33, 64, 100, 300])))
                for _ in range(rng.randint(1, 12))] for _ in range(200)]
    for results in shapes:
        raw = _answer(results)
        (expected,) = abi_decode(["(bool,bytes)[]"], raw)
        assert decode_aggregate3_results(raw) == [(bool(ok), bytes(data)) for ok, data in expected] == results


def test_all_must_succeed_for_decode_aggregate3() -> None:
    assert decode_aggregate3(_answer([(True, b"a"), (True, b"b")])) == [b"a", b"b"]
    with pytest.raises(MulticallFailed, match="failed"):
        decode_aggregate3(_answer([(True, b"a"), (False, b"")]))


@pytest.mark.parametrize("raw", [
    b"",  # no contract at the address
    b"\x00" * 31,
    _answer([(True, b"abc")])[:-40],  # cut inside the return data
    (32).to_bytes(32, "big") + (2**200).to_bytes(32, "big"),  # a count far beyond the answer
    (2**255).to_bytes(32, "big"),  # an offset beyond the answer
    _answer([(True, b"x")]).replace((1).to_bytes(32, "big") + (64).to_bytes(32, "big"),
                                    (2).to_bytes(32, "big") + (64).to_bytes(32, "big"), 1),  # success = 2
])
def test_refuses_what_is_not_an_answer(raw: bytes) -> None:
    with pytest.raises(MulticallFailed, match="not a multicall answer"):
        decode_aggregate3_results(raw)


def test_encoding_is_eth_abis_and_cached() -> None:
    batch = [("0x" + "11" * 20, b"\x01\x02"), ("0x" + "22" * 20, b"")]
    encoded = encode_aggregate3(batch)
    assert encoded[:4] == AGGREGATE3
    (calls,) = abi_decode(["(address,bool,bytes)[]"], encoded[4:])
    assert [(target.lower(), allow, data) for target, allow, data in calls] == [
        ("0x" + "11" * 20, False, b"\x01\x02"), ("0x" + "22" * 20, False, b"")]
    assert encode_aggregate3(list(batch)) is encoded  # the same batch again: not encoded again
    assert encode_aggregate3(batch, allow_failure=True) != encoded
