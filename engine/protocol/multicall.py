"""Multicall3 ``aggregate3``: many view calls in one ``eth_call``, all answered at the same block.

Shared by the breakers' per-head readings (``engine.breakers.readings``: every call must succeed) and the
inventory refresh (``engine.chain.live``: one balance that cannot be read must not hide the others).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eth_abi import decode as abi_decode
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
    one reverting call reverts the whole batch: a value that cannot be read fails the reading loudly."""
    return AGGREGATE3 + abi_encode(["(address,bool,bytes)[]"],
                                   [[(checksum_address(target), allow_failure, data) for target, data in batch]])


def decode_aggregate3_results(raw: bytes) -> list[tuple[bool, bytes]]:
    """Each call's ``(success, returnData)``; MulticallFailed when ``raw`` is not an aggregate3 answer
    (e.g. no contract at the multicall address answers with empty bytes)."""
    try:
        (results,) = abi_decode(["(bool,bytes)[]"], raw)
    except Exception as exc:  # noqa: BLE001 - eth_abi raises several decoding error types
        raise MulticallFailed(f"not a multicall answer ({type(exc).__name__})") from None
    return [(bool(success), bytes(data)) for success, data in results]


def decode_aggregate3(raw: bytes) -> list[bytes]:
    """Every call's return data; MulticallFailed if any call failed."""
    results = decode_aggregate3_results(raw)
    if not all(success for success, _ in results):
        raise MulticallFailed("a call in the multicall batch failed")
    return [data for _, data in results]


def encode_get_eth_balance(owner: str) -> bytes:
    """Multicall3's own ``getEthBalance(address)``: the native balance, read inside the same batch."""
    return GET_ETH_BALANCE + abi_encode(["address"], [checksum_address(owner)])


async def aggregate3(rpc: _Caller, multicall: str, batch: Sequence[tuple[str, bytes]],
                     block: bytes | str = "latest") -> list[bytes]:
    """One ``eth_call`` of ``batch`` through the Multicall3 at ``multicall``; every call must succeed."""
    return decode_aggregate3(await rpc.call(multicall, encode_aggregate3(batch), block))
