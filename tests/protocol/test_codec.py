import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth_utils import keccak

from engine.protocol.codec import (
    NATIVE_TOKEN, ZERO_ADDRESS, BridgeRequest, RequestDecodeError, decode_request, encode_request,
    transaction_id,
)
from engine.protocol.events import BRIDGE_EVENTS, EventDecodeError, decode_event

FIXTURES = json.loads((Path(__file__).parent.parent / "fixtures" / "fastbridgev2-request.json").read_text())
VECTORS = FIXTURES["vectors"]

FIELD_MAP = {
    "originChainId": "origin_chain_id", "destChainId": "dest_chain_id", "originSender": "origin_sender",
    "destRecipient": "dest_recipient", "originToken": "origin_token", "destToken": "dest_token",
    "originAmount": "origin_amount", "destAmount": "dest_amount", "originFeeAmount": "origin_fee_amount",
    "deadline": "deadline", "nonce": "nonce", "exclusivityRelayer": "exclusivity_relayer",
    "exclusivityEndTime": "exclusivity_end_time", "zapNative": "zap_native", "zapData": "zap_data",
}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["label"] for v in VECTORS])
def test_real_contract_vectors_decode_exactly(vector):
    raw = bytes.fromhex(vector["request"][2:])
    assert len(raw) == vector["length"]
    assert "0x" + transaction_id(raw).hex() == vector["transactionId"]
    req = decode_request(raw)
    for src, dst in FIELD_MAP.items():
        got = getattr(req, dst)
        want = vector["decoded"][src]
        if isinstance(got, bytes):
            assert "0x" + got.hex() == want, src
        elif isinstance(got, int):
            assert got == int(want), src
        else:
            assert got == want, src
    # Re-encoding gives the very same bytes, so the codec is a bijection on real requests.
    assert encode_request(req) == raw


def test_v1_round_trip():
    req = BridgeRequest(
        version=1, origin_chain_id=1, dest_chain_id=10, origin_sender="0x" + "11" * 20,
        dest_recipient="0x" + "22" * 20, origin_token=NATIVE_TOKEN, dest_token=NATIVE_TOKEN,
        origin_amount=2**256 - 1, dest_amount=5, origin_fee_amount=0, deadline=123, nonce=7,
        send_chain_gas=True,
    )
    raw = encode_request(req)
    assert len(raw) == 384
    back = decode_request(raw)
    assert back.origin_amount == 2**256 - 1 and back.send_chain_gas is True
    assert back.origin_sender == "0x" + "11" * 20 and back.version == 1


@pytest.mark.parametrize("raw", [b"", b"\x00\x02" + b"\x00" * 100, b"\x00\x03" + b"\x00" * 340, b"\x00" * 383])
def test_garbage_is_rejected_with_a_clear_error(raw):
    with pytest.raises(RequestDecodeError):
        decode_request(raw)


def test_exclusivity_is_judged_on_dest_chain_time():
    v = VECTORS[2]
    req = decode_request(bytes.fromhex(v["request"][2:]))
    other = "0x" + "ab" * 20
    assert req.exclusivity_relayer != ZERO_ADDRESS
    assert req.exclusive_for_other(other, req.exclusivity_end_time)
    assert not req.exclusive_for_other(other, req.exclusivity_end_time + 1)
    assert not req.exclusive_for_other(req.exclusivity_relayer, 0)
    assert not replace(req, exclusivity_relayer=ZERO_ADDRESS).exclusive_for_other(other, 0)


REFERENCE_TOPIC0 = {
    "BridgeRequested": "0x120ea0364f36cdac7983bcfdd55270ca09d7f9b314a2ebc425a3b01ab1d6403a",
    "BridgeRelayed": "0xf8ae392d784b1ea5e8881bfa586d81abf07ef4f1e2fc75f7fe51c90f05199a5c",
    "BridgeProofProvided": "0x4ac8af8a2cd87193d64dfc7a3b8d9923b714ec528b18725d080aa1299be0c5e4",
    "BridgeProofDisputed": "0x0695cf1d39b3055dcd0fe02d8b47eaf0d5a13e1996de925de59d0ef9b7f7fad4",
    "BridgeDepositClaimed": "0x582211c35a2139ac3bbaac74663c6a1f56c6cbb658b41fe11fd45a82074ac678",
    "BridgeDepositRefunded": "0xb4c55c0c9bc613519b920e88748090150b890a875d307f21bea7d4fb2e8bc958",
    "BridgeQuoteDetails": "0x3120e2bb59c86aca6890191a589a96af3662838efa374fbdcdf4c95bfe4a6c0e",
}


def test_event_topic0s_match_the_real_contract():
    assert {e.name: "0x" + e.topic0.hex() for e in BRIDGE_EVENTS} == REFERENCE_TOPIC0


def test_decode_event_strictness():
    proof = next(e for e in BRIDGE_EVENTS if e.name == "BridgeProofProvided")
    tx_id = keccak(b"x")
    relayer = b"\x00" * 12 + b"\x42" * 20
    ev = decode_event([proof.topic0, tx_id, relayer], b"\x07" * 32)
    assert ev.args["transactionId"] == tx_id and ev.args["transactionHash"] == b"\x07" * 32
    assert ev.args["relayer"].lower() == "0x" + "42" * 20
    with pytest.raises(EventDecodeError):
        decode_event([proof.topic0, tx_id], b"\x07" * 32)  # missing indexed topic
    with pytest.raises(EventDecodeError):
        decode_event([proof.topic0, tx_id, relayer], b"\x07" * 31)  # short data
    with pytest.raises(EventDecodeError):
        decode_event([keccak(b"other")], b"")
