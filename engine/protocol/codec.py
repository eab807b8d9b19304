"""FastBridge request codec: the packed V2 layout and the ABI-encoded V1 layout (REFERENCE §1).

The raw request bytes are the order's identity (transactionId = keccak256(request)) and are reused
byte-exact in relay, prove and claim; decoding never re-encodes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sha3  # safe-pysha3
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address


def keccak256(data: bytes) -> bytes:
    """Keccak-256 in one C call. eth_utils' keccak goes through eth_hash's pycryptodome backend, several
    Python layers a call: ~100 us against ~20 us here on a cold CPU cache, as the engine meets it between
    orders (measured), and a new order's way to its relay hashes three times."""
    return sha3.keccak_256(data).digest()


@lru_cache(maxsize=1024)
def _bloom_bits(item: bytes) -> tuple[tuple[int, int], ...]:
    digest = keccak256(item)
    # the yellow paper's M3:2048: three 11-bit indexes from the hash's first three byte pairs, bit 0 being the
    # lowest bit of the bloom's LAST byte
    return tuple((255 - (index >> 3), 1 << (index & 7))
                 for index in (((digest[i] << 8) | digest[i + 1]) & 0x7FF for i in (0, 2, 4)))


def bloom_may_contain(bloom: bytes, item: bytes) -> bool:
    """Whether a block's logsBloom may hold ``item`` (a log's address or one of its topics, as bytes). False is
    certain (the block has no such log); True may be a false positive."""
    return all(bloom[position] & mask for position, mask in _bloom_bits(bytes(item)))


@lru_cache(maxsize=65536)
def checksum_address(value: str | bytes) -> str:
    """to_checksum_address, remembered: it hashes (keccak) on every call, and the engine checks the same
    few addresses (ours, the bridges, the tokens, the users) over and over."""
    return to_checksum_address(value)


NATIVE_TOKEN = to_checksum_address("0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE")
ZERO_ADDRESS = to_checksum_address("0x" + "00" * 20)

V2_MIN_LENGTH = 334
V1_LENGTH = 384
_V1_TYPES = (
    "uint32", "uint32", "address", "address", "address", "address",
    "uint256", "uint256", "uint256", "bool", "uint256", "uint256",
)


class RequestDecodeError(ValueError):
    """The bytes are not a FastBridge request this codec understands."""


@dataclass(frozen=True, slots=True)
class BridgeRequest:
    """One decoded bridge request. Amounts are exact integers in the token's base units."""

    version: int
    origin_chain_id: int
    dest_chain_id: int
    origin_sender: str
    dest_recipient: str
    origin_token: str
    dest_token: str
    origin_amount: int
    dest_amount: int
    origin_fee_amount: int
    deadline: int
    nonce: int
    exclusivity_relayer: str = ZERO_ADDRESS
    exclusivity_end_time: int = 0
    zap_native: int = 0
    zap_data: bytes = b""
    send_chain_gas: bool = False  # V1 only; V2 expresses it as zap_native > 0

    @property
    def is_native_dest(self) -> bool:
        return self.dest_token == NATIVE_TOKEN

    @property
    def is_native_origin(self) -> bool:
        return self.origin_token == NATIVE_TOKEN

    def exclusive_for_other(self, relayer: str, dest_chain_time: int) -> bool:
        """Whether another relayer's exclusivity forbids `relayer` at this destination chain time."""
        return (
            self.exclusivity_relayer != ZERO_ADDRESS
            and self.exclusivity_relayer != checksum_address(relayer)
            and dest_chain_time <= self.exclusivity_end_time
        )


def transaction_id(request: bytes) -> bytes:
    return keccak256(request)


def _address(raw: bytes) -> str:
    return checksum_address(bytes(raw))


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def decode_request(request: bytes) -> BridgeRequest:
    """Decode V2 (packed, version prefix 2) or V1 (abi.encode of 12 words) request bytes."""
    if len(request) >= V2_MIN_LENGTH and request[:2] == b"\x00\x02":
        return _decode_v2(request)
    if len(request) == V1_LENGTH:
        return _decode_v1(request)
    raise RequestDecodeError(
        f"not a FastBridge request: {len(request)} bytes, version prefix 0x{request[:2].hex()}"
    )


def _decode_v2(r: bytes) -> BridgeRequest:
    return BridgeRequest(
        version=2,
        origin_chain_id=_uint(r[2:6]),
        dest_chain_id=_uint(r[6:10]),
        origin_sender=_address(r[10:30]),
        dest_recipient=_address(r[30:50]),
        origin_token=_address(r[50:70]),
        dest_token=_address(r[70:90]),
        origin_amount=_uint(r[90:122]),
        dest_amount=_uint(r[122:154]),
        origin_fee_amount=_uint(r[154:186]),
        deadline=_uint(r[186:218]),
        nonce=_uint(r[218:250]),
        exclusivity_relayer=_address(r[250:270]),
        exclusivity_end_time=_uint(r[270:302]),
        zap_native=_uint(r[302:334]),
        zap_data=bytes(r[334:]),
    )


def _decode_v1(r: bytes) -> BridgeRequest:
    try:
        (o_chain, d_chain, sender, recipient, o_token, d_token, o_amt, d_amt, fee, gas, deadline,
         nonce) = abi_decode(_V1_TYPES, r, strict=True)
    except Exception as exc:  # eth_abi raises several unrelated types for malformed words
        raise RequestDecodeError(f"malformed V1 request: {exc}") from exc
    return BridgeRequest(
        version=1, origin_chain_id=o_chain, dest_chain_id=d_chain,
        origin_sender=checksum_address(sender), dest_recipient=checksum_address(recipient),
        origin_token=checksum_address(o_token), dest_token=checksum_address(d_token),
        origin_amount=o_amt, dest_amount=d_amt, origin_fee_amount=fee, deadline=deadline,
        nonce=nonce, send_chain_gas=gas,
    )


def _word(value: int) -> bytes:
    if not 0 <= value < 2**256:
        raise ValueError(f"uint256 out of range: {value}")
    return value.to_bytes(32, "big")


def _addr_bytes(address: str) -> bytes:
    return bytes.fromhex(checksum_address(address)[2:])


def encode_request(req: BridgeRequest) -> bytes:
    """Encode in the request's own version (used by tests and the devnet, never to relay)."""
    if req.version == 1:
        return abi_encode(_V1_TYPES, (
            req.origin_chain_id, req.dest_chain_id, req.origin_sender, req.dest_recipient,
            req.origin_token, req.dest_token, req.origin_amount, req.dest_amount,
            req.origin_fee_amount, req.send_chain_gas, req.deadline, req.nonce,
        ))
    return b"".join((
        (2).to_bytes(2, "big"),
        req.origin_chain_id.to_bytes(4, "big"),
        req.dest_chain_id.to_bytes(4, "big"),
        _addr_bytes(req.origin_sender),
        _addr_bytes(req.dest_recipient),
        _addr_bytes(req.origin_token),
        _addr_bytes(req.dest_token),
        _word(req.origin_amount),
        _word(req.dest_amount),
        _word(req.origin_fee_amount),
        _word(req.deadline),
        _word(req.nonce),
        _addr_bytes(req.exclusivity_relayer),
        _word(req.exclusivity_end_time),
        _word(req.zap_native),
        req.zap_data,
    ))
