"""The devnet contracts' compiled artifacts (engine/devnet/artifacts, built by tools/build_contracts.mjs).

The artifacts are committed, so running the devnet needs neither Node nor solc; `node
tools/build_contracts.mjs --check` (run by the test suite) proves they match the Solidity sources.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: tuple[dict, ...]
    bytecode: bytes


def artifact_names() -> list[str]:
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def load_artifact(name: str) -> Artifact:
    """The ABI and creation bytecode of one devnet contract, e.g. load_artifact("FastBridgeV2")."""
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyError(f"no devnet artifact {name!r}; known: {', '.join(artifact_names())}") from None
    if data.get("contractName") != name:
        raise ValueError(f"{path} holds contract {data.get('contractName')!r}, not {name!r}")
    return Artifact(name=name, abi=tuple(data["abi"]), bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")))
