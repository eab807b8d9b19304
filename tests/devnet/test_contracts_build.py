"""The devnet contracts' build: committed artifacts match the sources, and the devnet FastBridgeV2 presents
exactly the interface of the real contract (REFERENCE §1), selector by selector and topic by topic."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_utils import keccak

from engine.devnet.contracts_registry import ARTIFACTS_DIR, artifact_names, load_artifact
from engine.protocol.events import BRIDGE_EVENTS

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES_DIR = REPO_ROOT / "engine" / "devnet" / "contracts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EIP170_MAX_CODE_SIZE = 24_576

EXPECTED_CONTRACTS = [
    "ConstantProductPool", "DevToken", "FastBridgeV2", "MessageTransmitter", "Multicall3", "TokenMessenger",
]

BRIDGE_PARAMS = "(uint32,address,address,address,address,uint256,uint256,bool,uint256)"
BRIDGE_PARAMS_V2 = "(address,int256,bytes,uint256,bytes)"
BRIDGE_TX_V2 = (
    "(uint32,uint32,address,address,address,address,uint256,uint256,uint256,uint256,uint256,address,"
    "uint256,uint256,bytes)"
)
BRIDGE_TX_V1 = "(uint32,uint32,address,address,address,address,uint256,uint256,uint256,bool,uint256,uint256)"

# REFERENCE §1: the selectors it lists, with the canonical signature each must come from.
REFERENCE_SELECTORS = {
    "bridge": (f"bridge({BRIDGE_PARAMS})", "0x45851694"),
    "bridgeV2": (f"bridgeV2({BRIDGE_PARAMS},{BRIDGE_PARAMS_V2})", "0x76443085"),
    "relay": ("relay(bytes)", "0x8f0d6f17"),
    "relayV2": ("relayV2(bytes,address)", "0x3d71e21f"),
    "prove": ("prove(bytes,bytes32)", "0x886d36ff"),
    "proveV2": ("proveV2(bytes32,bytes32,address)", "0x41fdec80"),
    "claim": ("claim(bytes,address)", "0x41fcb612"),
    "claimV2": ("claimV2(bytes)", "0xf76d7278"),
    "cancelV2": ("cancelV2(bytes)", "0x67e60693"),
    "refund": ("refund(bytes)", "0x5eb7d946"),
    "multicallNoResults": ("multicallNoResults(bytes[],bool)", "0x3f61331d"),
    "addProver": ("addProver(address)", "0x1d49e457"),
    "bridgeStatuses": ("bridgeStatuses(bytes32)", "0x051287bc"),
}

# REFERENCE §1: the rest of the interface (no selector listed there): signature -> output types.
REFERENCE_VIEWS_AND_WRITES = {
    "dispute(bytes32)": "",
    "removeProver(address)": "",
    "bridgeStatuses(bytes32)": "uint8",
    "bridgeTxDetails(bytes32)": "uint8,uint32,uint16,uint40,address",
    "bridgeRelayDetails(bytes32)": "uint48,uint48,address",
    "bridgeRelays(bytes32)": "bool",
    "bridgeProofs(bytes32)": "uint96,address",
    "canClaim(bytes32,address)": "bool",
    "getBridgeTransactionV2(bytes)": BRIDGE_TX_V2,
    "getBridgeTransaction(bytes)": BRIDGE_TX_V1,
    "senderNonces(address)": "uint256",
    "deployBlock()": "uint256",
    "DISPUTE_PERIOD()": "uint256",
    "MIN_DEADLINE_PERIOD()": "uint256",
    "NATIVE_GAS_TOKEN()": "address",
}

PAYABLE = {"bridge", "bridgeV2", "relay", "relayV2"}

# REFERENCE §1 event table: signature with indexed flags, topic0.
REFERENCE_EVENTS = {
    "BridgeRequested": (
        "BridgeRequested(bytes32 indexed,address indexed,bytes,uint32,address,address,uint256,uint256,bool)",
        "0x120ea0364f36cdac7983bcfdd55270ca09d7f9b314a2ebc425a3b01ab1d6403a",
    ),
    "BridgeRelayed": (
        "BridgeRelayed(bytes32 indexed,address indexed,address indexed,uint32,address,address,uint256,uint256,"
        "uint256)",
        "0xf8ae392d784b1ea5e8881bfa586d81abf07ef4f1e2fc75f7fe51c90f05199a5c",
    ),
    "BridgeProofProvided": (
        "BridgeProofProvided(bytes32 indexed,address indexed,bytes32)",
        "0x4ac8af8a2cd87193d64dfc7a3b8d9923b714ec528b18725d080aa1299be0c5e4",
    ),
    "BridgeProofDisputed": (
        "BridgeProofDisputed(bytes32 indexed,address indexed)",
        "0x0695cf1d39b3055dcd0fe02d8b47eaf0d5a13e1996de925de59d0ef9b7f7fad4",
    ),
    "BridgeDepositClaimed": (
        "BridgeDepositClaimed(bytes32 indexed,address indexed,address indexed,address,uint256)",
        "0x582211c35a2139ac3bbaac74663c6a1f56c6cbb658b41fe11fd45a82074ac678",
    ),
    "BridgeDepositRefunded": (
        "BridgeDepositRefunded(bytes32 indexed,address indexed,address,uint256)",
        "0xb4c55c0c9bc613519b920e88748090150b890a875d307f21bea7d4fb2e8bc958",
    ),
    "BridgeQuoteDetails": (
        "BridgeQuoteDetails(bytes32 indexed,bytes)",
        "0x3120e2bb59c86aca6890191a589a96af3662838efa374fbdcdf4c95bfe4a6c0e",
    ),
}


def _canonical_type(param: dict) -> str:
    """ABI JSON parameter -> canonical type string, tuples expanded (what the selector hashes)."""
    abi_type = param["type"]
    if abi_type.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){abi_type[len('tuple'):]}"
    return abi_type


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(_canonical_type(p) for p in entry['inputs'])})"


def _selector(entry: dict) -> str:
    return "0x" + keccak(text=_signature(entry))[:4].hex()


def _bridge_abi() -> tuple[dict, ...]:
    return load_artifact("FastBridgeV2").abi


def _functions() -> dict[str, dict]:
    functions = {}
    for entry in _bridge_abi():
        if entry["type"] == "function":
            sig = _signature(entry)
            assert sig not in functions, f"duplicate function {sig}"
            functions[sig] = entry
    return functions


def _events() -> dict[str, dict]:
    return {e["name"]: e for e in _bridge_abi() if e["type"] == "event"}


# ── reproducible artifacts ──────────────────────────────────────────────────────────────────────


def test_committed_artifacts_are_reproducible():
    node = shutil.which("node")
    solc = REPO_ROOT / "tools" / "node_modules" / "solc"
    if node is None or not solc.is_dir():
        reason = "node and tools/node_modules/solc are needed to recompile the devnet contracts (make tools)"
        if IN_CI:
            pytest.fail(f"required in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    proc = subprocess.run(
        [node, "tools/build_contracts.mjs", "--check"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"build_contracts.mjs --check failed:\n{proc.stdout}{proc.stderr}"


def test_artifacts_were_built_from_the_current_sources():
    # The same hash build_contracts.mjs writes: a stale artifact is caught even without Node.
    digest = hashlib.sha256()
    for path in sorted(SOURCES_DIR.glob("*.sol"), key=lambda p: p.name):
        digest.update(f"{path.name}\0".encode() + path.read_bytes() + b"\0")
    for name in artifact_names():
        source_hash = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())["sourceHash"]
        assert source_hash == digest.hexdigest(), f"{name}.json is stale: run `node tools/build_contracts.mjs`"


def test_every_devnet_contract_has_a_deployable_artifact():
    assert artifact_names() == EXPECTED_CONTRACTS
    for name in EXPECTED_CONTRACTS:
        artifact = load_artifact(name)
        assert artifact.name == name
        assert artifact.bytecode and artifact.abi
    with pytest.raises(KeyError):
        load_artifact("NoSuchContract")


def test_fastbridge_runtime_code_fits_eip170():
    # Creation code holds the runtime code plus the constructor: a safe upper bound.
    assert len(load_artifact("FastBridgeV2").bytecode) < EIP170_MAX_CODE_SIZE


# ── FastBridgeV2 interface ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("name", sorted(REFERENCE_SELECTORS))
def test_bridge_function_selectors_match_reference(name):
    signature, selector = REFERENCE_SELECTORS[name]
    functions = _functions()
    assert signature in functions, f"{signature} missing; the ABI has {sorted(functions)}"
    assert _selector(functions[signature]) == selector
    expected_mutability = "payable" if name in PAYABLE else None
    mutability = functions[signature]["stateMutability"]
    if expected_mutability:
        assert mutability == "payable"
    else:
        assert mutability != "payable", f"{signature} must not be payable"


@pytest.mark.parametrize("signature", sorted(REFERENCE_VIEWS_AND_WRITES))
def test_bridge_functions_have_reference_signatures_and_outputs(signature):
    functions = _functions()
    assert signature in functions, f"{signature} missing"
    outputs = ",".join(_canonical_type(o) for o in functions[signature]["outputs"])
    assert outputs == REFERENCE_VIEWS_AND_WRITES[signature]


def test_views_do_not_change_state():
    functions = _functions()
    for signature, outputs in REFERENCE_VIEWS_AND_WRITES.items():
        if outputs:
            assert functions[signature]["stateMutability"] in ("view", "pure"), signature


@pytest.mark.parametrize("name", sorted(REFERENCE_EVENTS))
def test_bridge_event_topics_and_indexing_match_reference(name):
    signature, topic0 = REFERENCE_EVENTS[name]
    event = _events().get(name)
    assert event is not None, f"event {name} missing"
    assert not event["anonymous"]
    with_indexing = f"{name}({','.join(p['type'] + (' indexed' if p['indexed'] else '') for p in event['inputs'])})"
    assert with_indexing == signature
    assert "0x" + keccak(text=_signature(event)).hex() == topic0


def test_bridge_has_no_other_bridge_events():
    bridge_events = {name for name in _events() if name.startswith("Bridge")}
    assert bridge_events == set(REFERENCE_EVENTS)


def test_engine_event_specs_decode_the_devnet_contract():
    # The engine decodes logs with its own specs: names, types and indexing must agree with the ABI.
    events = _events()
    for spec in BRIDGE_EVENTS:
        abi_params = tuple((p["name"], p["type"], p["indexed"]) for p in events[spec.name]["inputs"])
        assert abi_params == spec.params, spec.name
