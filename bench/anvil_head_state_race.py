"""Does anvil answer a state query at its newest block's hash with that block's state while it mines more?

The breakers read each head by hash (EIP-1898). This measures, on a real anvil under a stream of automined
transfers, how often a balance read at the latest block's hash differs from the balance at that block read
again once mining has stopped (the truth), and by how many later blocks' transfers. Printed as a table,
beside the same reads taken with no mining going on (the baseline: always exact).

    .venv/bin/python bench/anvil_head_state_race.py [--seconds 8]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.devnet.anvil import start_anvil

TARGET = "0x000000000000000000000000000000000000dEaD"


def sample(node, seconds: float) -> list[tuple[int, str, int]]:
    """(number, hash, balance of TARGET read at that hash) of the latest block, as fast as the node answers."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        block = node.rpc("eth_getBlockByNumber", ["latest", False])
        balance = int(node.rpc("eth_getBalance", [TARGET, {"blockHash": block["hash"]}]), 16)
        out.append((int(block["number"], 16), block["hash"], balance))
    return out


def judge(node, samples) -> tuple[int, int, list[int]]:
    """(reads, reads that differ from the balance at their block read afterwards, the differences in wei)."""
    diffs = []
    for number, _, balance in samples:
        truth = int(node.rpc("eth_getBalance", [TARGET, hex(number)]), 16)
        if truth != balance:
            diffs.append(balance - truth)
    return len(samples), len(diffs), diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="sampling time of each phase")
    args = parser.parse_args()
    node = start_anvil(92_900)
    try:
        sender = node.rpc("eth_accounts")[0]
        node.rpc("eth_sendTransaction", [{"from": sender, "to": TARGET, "value": "0x1"}])
        time.sleep(0.2)
        rows = [("idle (baseline)", *judge(node, sample(node, args.seconds)))]
        stop = threading.Event()

        def transfers() -> None:  # 1 wei each, one block each (automine)
            while not stop.is_set():
                node.rpc("eth_sendTransaction", [{"from": sender, "to": TARGET, "value": "0x1"}])

        thread = threading.Thread(target=transfers)
        thread.start()
        try:
            mining = sample(node, args.seconds)
        finally:
            stop.set()
            thread.join()
        rows.append(("while transfers mine", *judge(node, mining)))
        version = node.rpc("web3_clientVersion")
    finally:
        node.stop()
    print(f"anvil: {version}")
    print(f"{'phase':<22} {'reads':>7} {'ahead':>7} {'share':>7}  blocks ahead (1 wei each)")
    for name, reads, ahead, diffs in rows:
        spread = f"{min(diffs)}..{max(diffs)}" if diffs else "-"
        print(f"{name:<22} {reads:>7} {ahead:>7} {ahead / max(reads, 1):>7.1%}  {spread}")


if __name__ == "__main__":
    main()
