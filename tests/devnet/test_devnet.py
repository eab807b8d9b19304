"""The devnet as a whole: real anvil chains, the project's contracts, funded users, files an operator uses."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from web3 import Web3
from web3.providers import HTTPProvider

from engine.config import load_config
from engine.devnet.accounts import RELAYER, dev_account
from engine.devnet.attester import attest
from engine.devnet.contracts_registry import load_artifact
from engine.devnet.devnet import DevnetSettings, start_devnet
from engine.devnet.traffic import TrafficGenerator, load_manifest
from engine.protocol.codec import NATIVE_TOKEN, decode_request
from engine.protocol.events import BRIDGE_REQUESTED, decode_event

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def devnet(anvil_bin, tmp_path_factory):
    # Automine keeps the tests fast; the demo uses interval mining.
    with start_devnet(DevnetSettings(tmp_path_factory.mktemp("devnet"), chains=2, block_time=None)) as net:
        yield net


def w3_for(devnet, chain_id: int) -> Web3:
    return Web3(HTTPProvider(devnet.deployment(chain_id).rpc_url))


def contract(w3: Web3, name: str, address: str):
    return w3.eth.contract(address=address, abi=load_artifact(name).abi)


def test_manifest_and_config_describe_the_running_chains(devnet):
    manifest = json.loads(devnet.manifest_path.read_text())
    assert [c["chain_id"] for c in manifest["chains"]] == [31337, 31338]
    for chain in manifest["chains"]:
        w3 = Web3(HTTPProvider(chain["rpc_url"]))
        assert w3.eth.chain_id == chain["chain_id"]
        for name in ("bridge", "multicall", "token_messenger", "message_transmitter"):
            assert w3.eth.get_code(chain["contracts"][name]), name
        bridge = contract(w3, "FastBridgeV2", chain["contracts"]["bridge"])
        assert bridge.functions.DISPUTE_PERIOD().call() == manifest["dispute_period"]
        assert bridge.functions.NATIVE_GAS_TOKEN().call() == NATIVE_TOKEN
    config = load_config(devnet.config_path)
    assert sorted(config.chains) == [31337, 31338]
    assert config.chain(31337).tokens["USDC"].decimals == 6
    assert len(config.routes) == 6  # USDC, DAI and ETH, both directions
    assert config.database.type == "sqlite"


def test_users_hold_more_than_the_relayers_whole_inventory(devnet):
    manifest = load_manifest(devnet.settings.directory)
    relayer = manifest["accounts"]["relayer"]
    for symbol in ("USDC", "DAI", "ETH"):
        inventory = 0
        user_balances = []
        for d in devnet.deployments:
            w3 = w3_for(devnet, d.chain_id)
            address = d.tokens[symbol]
            if address == NATIVE_TOKEN:
                balance = w3.eth.get_balance
            else:
                token = contract(w3, "DevToken", address)
                balance = lambda a, token=token: token.functions.balanceOf(a).call()  # noqa: E731
            inventory += balance(relayer)
            user_balances += [balance(u) for u in manifest["accounts"]["users"]]
        assert inventory > 0
        assert min(user_balances) > inventory, symbol


def test_a_bridge_request_emits_the_real_topic0_and_a_decodable_request(devnet):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=7)
    order = gen.place("ordinary")
    w3 = w3_for(devnet, order.origin_chain_id)
    logs = w3.eth.get_logs({"address": devnet.deployment(order.origin_chain_id).bridge, "fromBlock": 0,
                            "topics": ["0x" + BRIDGE_REQUESTED.topic0.hex()]})
    assert "0x" + BRIDGE_REQUESTED.topic0.hex() == "0x120ea0364f36cdac7983bcfdd55270ca09d7f9b314a2ebc425a3b01ab1d6403a"
    matching = [log for log in logs if "0x" + bytes(log["topics"][1]).hex() == order.transaction_id]
    assert len(matching) == 1
    event = decode_event([bytes(t) for t in matching[0]["topics"]], bytes(matching[0]["data"]))
    req = decode_request(event.args["request"])
    assert (req.origin_chain_id, req.dest_chain_id) == (order.origin_chain_id, order.dest_chain_id)
    assert req.origin_amount == order.origin_amount == event.args["originAmount"]
    assert req.dest_amount == order.dest_amount == event.args["destAmount"]
    assert req.dest_token == devnet.deployment(order.dest_chain_id).tokens[order.symbol]


def test_the_mix_reaches_the_chain_as_described(devnet):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=3)
    exclusive = gen.place("exclusive_other")
    too_large = gen.place("too_large")
    raced = gen.place("competitor_fills")
    dest_bridge = contract(w3_for(devnet, raced.dest_chain_id), "FastBridgeV2",
                           devnet.deployment(raced.dest_chain_id).bridge)
    details = dest_bridge.functions.bridgeRelayDetails(bytes.fromhex(raced.transaction_id[2:])).call()
    assert details[2] == gen.competitor  # the competitor filled first
    inventory_symbol_chain = devnet.deployment(too_large.dest_chain_id).tokens[too_large.symbol]
    w3 = w3_for(devnet, too_large.dest_chain_id)
    relayer = dev_account(RELAYER).address
    if inventory_symbol_chain == NATIVE_TOKEN:
        inventory = w3.eth.get_balance(relayer)
    else:
        inventory = contract(w3, "DevToken", inventory_symbol_chain).functions.balanceOf(relayer).call()
    assert too_large.dest_amount > inventory
    origin_bridge = contract(w3_for(devnet, exclusive.origin_chain_id), "FastBridgeV2",
                             devnet.deployment(exclusive.origin_chain_id).bridge)
    tx = origin_bridge.functions.bridgeStatuses(bytes.fromhex(exclusive.transaction_id[2:])).call()
    assert tx == 1  # REQUESTED


def _send(w3: Web3, fn, sender: str, value: int = 0):
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "value": value}))
    assert receipt["status"] == 1
    return receipt


def test_relay_prove_and_claim_after_the_dispute_period_across_two_chains(devnet):
    gen = TrafficGenerator(load_manifest(devnet.settings.directory), seed=11)
    order = gen.place("ordinary")
    origin_w3, dest_w3 = w3_for(devnet, order.origin_chain_id), w3_for(devnet, order.dest_chain_id)
    origin = contract(origin_w3, "FastBridgeV2", devnet.deployment(order.origin_chain_id).bridge)
    dest = contract(dest_w3, "FastBridgeV2", devnet.deployment(order.dest_chain_id).bridge)
    relayer = dev_account(RELAYER).address
    tx_id = bytes.fromhex(order.transaction_id[2:])
    request = order.request
    req = decode_request(request)
    if req.dest_token != NATIVE_TOKEN:
        _send(dest_w3, contract(dest_w3, "DevToken", req.dest_token).functions.approve(dest.address, req.dest_amount), relayer)
    relay = _send(dest_w3, dest.functions.relay(request), relayer, req.dest_amount if req.is_native_dest else 0)
    _send(origin_w3, origin.functions.prove(request, relay["transactionHash"]), relayer)
    with pytest.raises(Exception):
        origin.functions.canClaim(tx_id, relayer).call()  # reverts inside the dispute period
    period = origin.functions.DISPUTE_PERIOD().call()
    origin_w3.provider.make_request("evm_increaseTime", [period + 1])
    origin_w3.provider.make_request("evm_mine", [])
    assert origin.functions.canClaim(tx_id, relayer).call() is True
    before = (origin_w3.eth.get_balance(relayer) if req.is_native_origin
              else contract(origin_w3, "DevToken", req.origin_token).functions.balanceOf(relayer).call())
    claim = _send(origin_w3, origin.functions.claim(request, relayer), relayer)
    after = (origin_w3.eth.get_balance(relayer) if req.is_native_origin
             else contract(origin_w3, "DevToken", req.origin_token).functions.balanceOf(relayer).call())
    gas_paid = claim["gasUsed"] * claim["effectiveGasPrice"] if req.is_native_origin else 0
    assert after - before == req.origin_amount - gas_paid
    assert origin.functions.bridgeStatuses(tx_id).call() == 3  # RELAYER_CLAIMED


def test_cctp_shaped_burn_and_mint_with_the_local_attester(devnet):
    a, b = devnet.deployments
    wa, wb = w3_for(devnet, a.chain_id), w3_for(devnet, b.chain_id)
    relayer = dev_account(RELAYER).address
    usdc_a, usdc_b = contract(wa, "DevToken", a.tokens["USDC"]), contract(wb, "DevToken", b.tokens["USDC"])
    amount = 1_234_567_890
    before_a, before_b = usdc_a.functions.balanceOf(relayer).call(), usdc_b.functions.balanceOf(relayer).call()
    _send(wa, usdc_a.functions.approve(a.token_messenger, amount), relayer)
    messenger = contract(wa, "TokenMessenger", a.token_messenger)
    receipt = _send(wa, messenger.functions.depositForBurn(amount, b.cctp_domain, bytes(12) + bytes.fromhex(relayer[2:]),
                                                           a.tokens["USDC"]), relayer)
    transmitter_a = contract(wa, "MessageTransmitter", a.message_transmitter)
    (sent,) = transmitter_a.events.MessageSent().process_receipt(receipt)
    message = sent["args"]["message"]
    transmitter_b = contract(wb, "MessageTransmitter", b.message_transmitter)
    with pytest.raises(Exception):
        transmitter_b.functions.receiveMessage(message, b"\x00" * 65).call({"from": relayer})
    _send(wb, transmitter_b.functions.receiveMessage(message, attest(message)), relayer)
    assert usdc_a.functions.balanceOf(relayer).call() == before_a - amount
    assert usdc_b.functions.balanceOf(relayer).call() == before_b + amount
    with pytest.raises(Exception):  # a message is minted once
        transmitter_b.functions.receiveMessage(message, attest(message)).call({"from": relayer})


def _mmtui(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mmtui.cli", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "devnet did not come up"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_the_devnet_command_leaves_no_anvil_behind(anvil_bin, tmp_path, how):
    proc = _mmtui("devnet", "--dir", str(tmp_path), "--chains", "2", "--block-time", "1")
    try:
        _wait_for(tmp_path / "devnet.json", proc)
        time.sleep(0.2)  # the manifest is written last but one: let the config land too
        pids = json.loads((tmp_path / "devnet.json").read_text())["anvil_pids"]
        assert all(_alive(p) for p in pids)
        proc.send_signal(getattr(signal, how))
        out, err = proc.communicate(timeout=20)
        if how != "SIGKILL":
            assert proc.returncode == 0, err
            assert "stopping the devnet" in out
            assert "Traceback" not in err
        assert _gone(pids), f"anvil left running after {how}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_traffic_command_prints_each_transaction_id(devnet):
    proc = _mmtui("devnet", "traffic", "--dir", str(devnet.settings.directory), "--orders", "3", "--rate", "20",
                  "--seed", "5")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        tx_id = line.split()[0]
        assert tx_id.startswith("0x") and len(tx_id) == 66


def test_operator_errors_are_one_clear_line(tmp_path):
    proc = _mmtui("devnet", "traffic", "--dir", str(tmp_path / "nowhere"), "--orders", "1")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "devnet.json: not found" in err and "Traceback" not in err
    bad = tmp_path / "bad.yml"
    bad.write_text("chains: {}\nnmae: typo\n")
    proc = _mmtui("check-config", str(bad))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "nmae: unknown key" in err and "Traceback" not in err
