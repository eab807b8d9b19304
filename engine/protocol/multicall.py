"""Multicall3 ``aggregate3``: many view calls in one ``eth_call``, all answered at the same block.

Shared by the breakers' per-head readings (``engine.breakers.readings``: every call must succeed) and the
inventory refresh (``engine.chain.live``: one balance that cannot be read must not hide the others).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

from eth_abi import encode as abi_encode

from engine.protocol.calls import selector
from engine.protocol.codec import checksum_address

__all__ = [
    "AGGREGATE3",
    "GET_ETH_BALANCE",
    "MulticallFailed",
    "encode_aggregate3",
    "decode_aggregate3",
    "decode_aggregate3_results",
    "encode_get_eth_balance",
    "aggregate3",
]

AGGREGATE3 = selector("aggregate3((address,bool,bytes)[])")
GET_ETH_BALANCE = selector("getEthBalance(address)")


class MulticallFailed(RuntimeError):
    """A call inside the batch reverted (or the answer was not an aggregate3 result): the whole batch is
    refused rather than half-read."""


class _Caller(Protocol):
    async def call(self, to: str, data: bytes, block: bytes | str = "latest") -> bytes: ...


def encode_aggregate3(batch: Sequence[tuple[str, bytes]], *, allow_failure: bool = False) -> bytes:
    """``aggregate3`` calldata for ``(target, calldata)`` pairs. With ``allow_failure=False`` (the default)
    one reverting call reverts the whole batch: a value that cannot be read fails the reading loudly.
    The same batches are read at every head: each is encoded once (a bounded cache)."""
    return _encoded_aggregate3(tuple(batch), allow_failure)


@functools.lru_cache(maxsize=64)
def _encoded_aggregate3(batch: tuple[tuple[str, bytes], ...], allow_failure: bool) -> bytes:
    return AGGREGATE3 + abi_encode(["(address,bool,bytes)[]"],
                                   [[(checksum_address(target), allow_failure, data) for target, data in batch]])


def decode_aggregate3_results(raw: bytes) -> list[tuple[bool, bytes]]:
    """Each call's ``(success, returnData)``; MulticallFailed when ``raw`` is not an aggregate3 answer
    (e.g. no contract at the multicall address answers with empty bytes). Decoded by hand, with every
    offset and length checked against the answer: eth_abi's generic decoder cost more than the rest of a
    breaker reading (one per head per chain), and this is the only shape we read."""
    raw = bytes(raw)
    try:
        array_at = _word(raw, 0)
        count = _word(raw, array_at)
        heads_at = array_at + 32
        if count > (len(raw) - heads_at) // 32:
            raise ValueError("more results than the answer holds")
        results = []
        for i in range(count):
            tuple_at = heads_at + _word(raw, heads_at + 32 * i)
            success = _word(raw, tuple_at)
            if success > 1:
                raise ValueError("a success flag that is not a bool")
            data_at = tuple_at + _word(raw, tuple_at + 32)
            end = data_at + 32 + _word(raw, data_at)
            if end > len(raw):
                raise ValueError("return data past the end of the answer")
            results.append((success == 1, raw[data_at + 32:end]))
    except ValueError as exc:
        raise MulticallFailed(f"not a multicall answer ({exc})") from None
    return results


def _word(raw: bytes, at: int) -> int:
    """The 32-byte big-endian word at byte `at` of an ABI answer (ValueError past its end)."""
    if at + 32 > len(raw):
        raise ValueError("the answer is too short")
    return int.from_bytes(raw[at:at + 32], "big")


def decode_aggregate3(raw: bytes) -> list[bytes]:
    """Every call's return data; MulticallFailed if any call failed."""
    results = decode_aggregate3_results(raw)
    if not all(success for success, _ in results):
        raise MulticallFailed("a call in the multicall batch failed")
    return [data for _, data in results]


@functools.lru_cache(maxsize=64)
def encode_get_eth_balance(owner: str) -> bytes:
    """Multicall3's own ``getEthBalance(address)``: the native balance, read inside the same batch."""
    return GET_ETH_BALANCE + abi_encode(["address"], [checksum_address(owner)])


async def aggregate3(rpc: _Caller, multicall: str, batch: Sequence[tuple[str, bytes]],
                     block: bytes | str = "latest") -> list[bytes]:
    """One ``eth_call`` of ``batch`` through the Multicall3 at ``multicall``; every call must succeed."""
    return decode_aggregate3(await rpc.call(multicall, encode_aggregate3(batch), block))
