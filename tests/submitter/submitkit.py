"""Helpers for the submitter tests (polling, chain reads, tiny contracts)."""
from __future__ import annotations

import asyncio
import time
from typing import Any

from engine.chain.submitter import OutboundTxRef, TransactionSubmitter, TxOutcome, TxStatus
from engine.devnet.anvil import AnvilNode

# Runtime "PUSH1 0 PUSH1 0 REVERT": every call reverts. Init code copies it (offset 0x0b) and returns it.
REVERTER_RUNTIME = bytes.fromhex("60006000fd")
REVERTER_INITCODE = bytes.fromhex("600580600b6000396000f3") + REVERTER_RUNTIME
DEPLOYER_INDEX = 0  # anvil unlocks its dev accounts: eth_sendTransaction deploys from account 0


async def settle(sub: TransactionSubmitter, refs: list[OutboundTxRef], timeout: float = 15.0) -> list[TxOutcome]:
    """tick() until every ref is final (anvil's automine is asynchronous: poll)."""
    deadline = time.monotonic() + timeout
    while True:
        await sub.tick()
        outcomes = [await sub.status(r) for r in refs]
        if all(o.status is not TxStatus.PENDING for o in outcomes):
            return outcomes
        if time.monotonic() > deadline:
            raise TimeoutError(f"still pending: {[o for o in outcomes if not o.final]}")
        await asyncio.sleep(0.02)


def wait_receipt(node: AnvilNode, tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (receipt := node.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash}")
        time.sleep(0.01)
    return receipt


def chain_nonce(node: AnvilNode, address: str, block: str = "latest") -> int:
    return int(node.rpc("eth_getTransactionCount", [address, block]), 16)


def deploy(node: AnvilNode, initcode: bytes, sender: str) -> str:
    tx_hash = node.rpc("eth_sendTransaction", [{"from": sender, "data": "0x" + initcode.hex(), "gas": hex(3_000_000)}])
    receipt = wait_receipt(node, tx_hash)
    assert int(receipt["status"], 16) == 1
    return receipt["contractAddress"]
