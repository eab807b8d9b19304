"""The devnet FastBridgeV2 on a real anvil: it reads and writes the real contract's request bytes, and enforces
the dispute period on chain time exactly like the real one (claim needs strictly more than DISPUTE_PERIOD)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.providers import HTTPProvider

from engine.devnet.accounts import dev_account
from engine.devnet.anvil import start_anvil
from engine.devnet.contracts_registry import load_artifact
from engine.protocol.events import decode_event

pytestmark = pytest.mark.anvil

FIXTURES = json.loads((Path(__file__).parent.parent / "fixtures" / "fastbridgev2-request.json").read_text())
VECTORS = FIXTURES["vectors"]
DECODED_FIELDS = (
    "originChainId", "destChainId", "originSender", "destRecipient", "originToken", "destToken", "originAmount",
    "destAmount", "originFeeAmount", "deadline", "nonce", "exclusivityRelayer", "exclusivityEndTime", "zapNative",
    "zapData",
)
NATIVE = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
ZERO = "0x" + "00" * 20
# The fixtures were made on chain 31337 a little before their deadlines: start the chain there.
CHAIN_ID = 31337
GENESIS_TIMESTAMP = 1795250000
DISPUTE_PERIOD = 60
MIN_DEADLINE_PERIOD = 1800  # the real value: the fixture deadlines were accepted under it
# Fixture cast: anvil dev accounts 0 (deployer), 1 (sender), 2 (recipient), 3 (quote relayer).
DEPLOYER, SENDER, RECIPIENT, QUOTE_RELAYER, PROVER, CLAIMANT_USER, GUARD = (dev_account(i).address for i in range(7))
FIXTURE_ORIGIN_TOKEN = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"  # the deployer's 2nd contract
FIXTURE_DEST_TOKEN = "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85"


class Chain:
    def __init__(self, node, w3: Web3) -> None:
        self.node, self.w3 = node, w3

    def deploy(self, name: str, *args):
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor(*args), DEPLOYER)
        return self.w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)

    def send(self, fn, sender: str, value: int = 0, timestamp: int | None = None, gas: int | None = None):
        """One transaction, mined in its own block (at `timestamp` when given); returns the receipt."""
        if timestamp is not None:
            self.node.rpc("evm_setNextBlockTimestamp", [timestamp])
        tx = {"from": sender, "value": value, **({"gas": gas} if gas else {})}
        return self.w3.eth.wait_for_transaction_receipt(fn.transact(tx), timeout=30)

    def latest_timestamp(self) -> int:
        return self.w3.eth.get_block("latest").timestamp

    def block_timestamp(self, receipt) -> int:
        return self.w3.eth.get_block(receipt.blockNumber).timestamp


def revert_error(fn, sender: str, value: int = 0) -> str:
    """The custom error selector (0x + 8 hex) an eth_call of `fn` reverts with, at the latest block."""
    try:
        fn.call({"from": sender, "value": value})
    except (ContractCustomError, ContractLogicError) as exc:
        return str(exc.data)[:10]
    pytest.fail("expected a revert")


def error(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


@pytest.fixture(scope="module")
def chain(anvil_bin):
    node = start_anvil(CHAIN_ID, anvil=Path(anvil_bin), extra_args=("--timestamp", str(GENESIS_TIMESTAMP)))
    try:
        yield Chain(node, Web3(HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30})))
    finally:
        node.stop()


@pytest.fixture(scope="module")
def deployed(chain):
    bridge = chain.deploy("FastBridgeV2", DEPLOYER, DISPUTE_PERIOD, MIN_DEADLINE_PERIOD)
    usdc = chain.deploy("DevToken", "USD Coin (devnet)", "USDC", 6, DEPLOYER)
    assert usdc.address == FIXTURE_ORIGIN_TOKEN  # same deployer nonce as when the fixtures were made
    chain.send(usdc.functions.mint(SENDER, 10**12), DEPLOYER)
    chain.send(usdc.functions.approve(bridge.address, 2**256 - 1), SENDER)
    chain.send(bridge.functions.addProver(PROVER), DEPLOYER)
    chain.send(bridge.functions.addGuard(GUARD), DEPLOYER)
    return bridge, usdc


@pytest.mark.parametrize("vector", VECTORS, ids=[v["label"] for v in VECTORS])
def test_decodes_the_real_contracts_requests(deployed, vector):
    bridge, _ = deployed
    raw = bytes.fromhex(vector["request"][2:])
    decoded = bridge.functions.getBridgeTransactionV2(raw).call()
    got = {
        name: ("0x" + value.hex()) if isinstance(value, bytes) else str(value)
        for name, value in zip(DECODED_FIELDS, decoded)
    }
    assert got == vector["decoded"]
    # The V1 view of a V2 request: zapNative becomes the sendChainGas flag, zapData is dropped.
    v1 = bridge.functions.getBridgeTransaction(raw).call()
    assert v1[9] is (vector["decoded"]["zapNative"] != "0")
    assert v1[11] == int(vector["decoded"]["nonce"])


def test_rejects_requests_that_are_not_v2(deployed):
    bridge, _ = deployed
    raw = bytes.fromhex(VECTORS[0]["request"][2:])
    assert revert_error(bridge.functions.getBridgeTransactionV2(raw[:333]), DEPLOYER) == error(
        "BridgeTransactionV2__InvalidEncodedTx()"
    )
    assert revert_error(bridge.functions.getBridgeTransactionV2(b"\x00\x01" + raw[2:]), DEPLOYER) == error(
        "BridgeTransactionV2__UnsupportedVersion(uint16)"
    )


def test_bridging_writes_byte_identical_requests(chain, deployed):
    """Replaying the fixtures' bridges yields the real contract's bytes, ids and BridgeRequested events."""
    bridge, usdc = deployed
    vec_native, vec_erc20, vec_zap = VECTORS
    assert bridge.functions.senderNonces(SENDER).call() == 0

    def params(vector, dst_chain: int, origin_token: str, dest_token: str) -> tuple:
        d = vector["decoded"]
        return (dst_chain, SENDER, RECIPIENT, origin_token, dest_token, int(d["originAmount"]),
                int(d["destAmount"]), False, int(d["deadline"]))

    receipts = [
        chain.send(bridge.functions.bridge(params(vec_native, 10, NATIVE, NATIVE)), SENDER, value=10**18),
        chain.send(bridge.functions.bridge(params(vec_erc20, 10, usdc.address, FIXTURE_DEST_TOKEN)), SENDER),
    ]
    # The request stores block.timestamp + quoteExclusivitySeconds: pick the block time, derive the seconds.
    ts = chain.latest_timestamp() + 1
    exclusivity_seconds = int(vec_zap["decoded"]["exclusivityEndTime"]) - ts
    params_v2 = (QUOTE_RELAYER, exclusivity_seconds, b"quote-42", 10**15, bytes.fromhex("cafebabe"))
    zap_params = params(vec_zap, 42161, usdc.address, FIXTURE_DEST_TOKEN)
    receipts.append(chain.send(bridge.functions.bridgeV2(zap_params, params_v2), SENDER, timestamp=ts))

    for vector, receipt in zip(VECTORS, receipts):
        assert receipt.status == 1
        requested = [log for log in receipt.logs if log.address == bridge.address]
        event = decode_event(list(requested[0].topics), bytes(requested[0].data))
        assert event.name == "BridgeRequested"
        assert "0x" + event.args["request"].hex() == vector["request"]
        assert "0x" + event.args["transactionId"].hex() == vector["transactionId"]
        expected = {k: v for k, v in vector["event"].items() if k != "transactionId"}
        assert {k: str(event.args[k]) for k in expected} == expected
        tx_id = event.args["transactionId"]
        assert bridge.functions.bridgeStatuses(tx_id).call() == 1  # REQUESTED
        assert bridge.functions.bridgeTxDetails(tx_id).call()[1] == int(vector["decoded"]["destChainId"])
    # BridgeQuoteDetails follows BridgeRequested when a quote id was given.
    quote = decode_event(list(receipts[2].logs[-1].topics), bytes(receipts[2].logs[-1].data))
    assert quote.name == "BridgeQuoteDetails" and quote.args["quoteId"] == b"quote-42"
    assert bridge.functions.senderNonces(SENDER).call() == 3


def _bridge_and_prove(chain, bridge, sender: str) -> tuple[bytes, bytes, int]:
    deadline = chain.latest_timestamp() + 3600
    params = (10, sender, sender, NATIVE, NATIVE, 10**17, 99 * 10**15, False, deadline)
    receipt = chain.send(bridge.functions.bridge(params), sender, value=10**17)
    request = bridge.events.BridgeRequested().process_receipt(receipt)[0].args.request
    proof = chain.send(bridge.functions.prove(request, b"\x11" * 32), PROVER, timestamp=chain.latest_timestamp() + 5)
    assert proof.status == 1
    return request, keccak(request), chain.block_timestamp(proof)



def test_claim_needs_strictly_more_than_the_dispute_period(chain, deployed):
    bridge, _ = deployed
    assert bridge.functions.DISPUTE_PERIOD().call() == DISPUTE_PERIOD
    request, tx_id, proved_at = _bridge_and_prove(chain, bridge, CLAIMANT_USER)
    assert bridge.functions.bridgeProofs(tx_id).call() == [proved_at, PROVER]
    assert bridge.functions.bridgeTxDetails(tx_id).call() == [2, 10, 1, proved_at, PROVER]

    not_passed = error("DisputePeriodNotPassed()")
    assert revert_error(bridge.functions.canClaim(tx_id, PROVER), PROVER) == not_passed
    assert revert_error(bridge.functions.canClaim(tx_id, CLAIMANT_USER), PROVER) == error("SenderIncorrect()")

    # Exactly DISPUTE_PERIOD after the proof: the claim is mined and reverts.
    at_boundary = chain.send(
        bridge.functions.claimV2(request), CLAIMANT_USER, timestamp=proved_at + DISPUTE_PERIOD, gas=300_000
    )
    assert at_boundary.status == 0
    assert chain.block_timestamp(at_boundary) == proved_at + DISPUTE_PERIOD
    assert revert_error(bridge.functions.canClaim(tx_id, PROVER), PROVER) == not_passed

    # One second later anyone may claim, and the funds go to the proving relayer.
    chain.node.rpc("evm_increaseTime", [1])
    chain.node.rpc("evm_mine")
    assert chain.latest_timestamp() >= proved_at + DISPUTE_PERIOD + 1
    assert bridge.functions.canClaim(tx_id, PROVER).call() is True
    assert revert_error(bridge.functions.claim(request, CLAIMANT_USER), CLAIMANT_USER) == error("SenderIncorrect()")
    balance_before = chain.w3.eth.get_balance(PROVER)
    claimed = chain.send(bridge.functions.claimV2(request), CLAIMANT_USER)
    assert claimed.status == 1
    event = bridge.events.BridgeDepositClaimed().process_receipt(claimed)[0].args
    assert (event.relayer, event.to, event.token, event.amount) == (PROVER, PROVER, NATIVE, 10**17)
    assert chain.w3.eth.get_balance(PROVER) == balance_before + 10**17
    assert bridge.functions.bridgeStatuses(tx_id).call() == 3  # RELAYER_CLAIMED
    assert revert_error(bridge.functions.canClaim(tx_id, PROVER), PROVER) == error("StatusIncorrect()")


def test_guard_may_dispute_up_to_the_end_of_the_period(chain, deployed):
    bridge, _ = deployed
    request, tx_id, proved_at = _bridge_and_prove(chain, bridge, CLAIMANT_USER)
    disputed = chain.send(bridge.functions.dispute(tx_id), GUARD, timestamp=proved_at + DISPUTE_PERIOD)
    assert disputed.status == 1
    assert bridge.events.BridgeProofDisputed().process_receipt(disputed)[0].args.relayer == PROVER
    assert bridge.functions.bridgeTxDetails(tx_id).call() == [1, 10, 0, 0, to_checksum_address(ZERO)]

    # Proved again, the dispute window closes after DISPUTE_PERIOD.
    reproved = chain.send(bridge.functions.prove(request, b"\x22" * 32), PROVER)
    chain.node.rpc("evm_setNextBlockTimestamp", [chain.block_timestamp(reproved) + DISPUTE_PERIOD + 1])
    chain.node.rpc("evm_mine")
    assert revert_error(bridge.functions.dispute(tx_id), GUARD) == error("DisputePeriodPassed()")
