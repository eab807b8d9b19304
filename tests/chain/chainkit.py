"""Helpers for engine.chain tests: the dev key, a LOG3 emitter contract assembled from raw EVM
bytecode, and an HTTP JSON-RPC proxy in front of anvil that counts TCP connections (server side) and
can inject faults (HTTP errors, JSON-RPC errors, hangs, provider log-range limits)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from eth_account import Account

from engine.chain.rpc import RetryPolicy
from engine.devnet.anvil import AnvilNode, free_port

# Anvil's first dev account: a public key pair that exists only on devnets.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ACCOUNT = Account.from_key(DEV_KEY)
DEV_ADDRESS = DEV_ACCOUNT.address
OTHER_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # dev account #1

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2)

# Runtime: LOG3 whose three topics are calldata[0:96] and whose data is calldata[96:].
#   PUSH1 0x60 CALLDATASIZE SUB DUP1 PUSH1 0x60 PUSH1 0 CALLDATACOPY      mem[0:size] = calldata[96:]
#   PUSH1 0x40 CALLDATALOAD PUSH1 0x20 CALLDATALOAD PUSH1 0 CALLDATALOAD  topics t2, t1, t0
#   DUP4 PUSH1 0 LOG3 STOP
EMITTER_RUNTIME = bytes.fromhex("60603603806060600037604035602035600035836000a300")
assert len(EMITTER_RUNTIME) == 0x18
# Init code: CODECOPY the runtime (appended at offset 0x0b) to memory and RETURN it.
EMITTER_INITCODE = bytes.fromhex("601880600b6000396000f3") + EMITTER_RUNTIME


def sign_transfer(chain_id: int, nonce: int, *, value: int = 1, gas: int = 21_000,
                  max_fee: int = 3 * 10**9, tip: int = 10**9, to: str = OTHER_ADDRESS,
                  data: bytes = b"") -> bytes:
    tx = dict(chainId=chain_id, nonce=nonce, to=to, value=value, gas=gas, maxFeePerGas=max_fee,
              maxPriorityFeePerGas=tip, type=2, data=data)
    return bytes(DEV_ACCOUNT.sign_transaction(tx).raw_transaction)


@dataclass
class Emitter:
    node: AnvilNode
    address: str

    def emit(self, topics: tuple[bytes, bytes, bytes], data: bytes = b"") -> str:
        """One transaction (one block under automine) emitting LOG3(topics, data). Returns the tx hash."""
        assert all(len(t) == 32 for t in topics)
        calldata = b"".join(topics) + data
        return self.node.rpc("eth_sendTransaction", [
            {"from": DEV_ADDRESS, "to": self.address, "data": "0x" + calldata.hex(), "gas": hex(200_000)}
        ])


def wait_receipt(node: AnvilNode, tx_hash: str, timeout: float = 5.0) -> dict:
    """anvil's automine can answer eth_sendTransaction a moment before the receipt exists."""
    deadline = time.monotonic() + timeout
    while True:
        receipt = node.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash}")
        time.sleep(0.005)


async def await_receipt(rpc, tx_hash: bytes, timeout: float = 5.0):
    """Async twin of wait_receipt, through a ChainRpc."""
    deadline = time.monotonic() + timeout
    while (receipt := await rpc.get_transaction_receipt(tx_hash)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for 0x{tx_hash.hex()}")
        await asyncio.sleep(0.005)
    return receipt


def deploy_emitter(node: AnvilNode) -> Emitter:
    tx_hash = node.rpc("eth_sendTransaction", [{"from": DEV_ADDRESS, "data": "0x" + EMITTER_INITCODE.hex()}])
    receipt = wait_receipt(node, tx_hash)
    assert receipt["status"] == "0x1"
    code = node.rpc("eth_getCode", [receipt["contractAddress"], "latest"])
    assert bytes.fromhex(code[2:]) == EMITTER_RUNTIME
    return Emitter(node, receipt["contractAddress"])


# ------------------------------------------------------------------------------------------------
# Fault-injecting JSON-RPC proxy
# ------------------------------------------------------------------------------------------------

Hook = Callable[[str, list, int], Any]  # (method, params, request number) -> None (forward) or a fault


@dataclass
class Proxy:
    upstream: str
    port: int = 0
    hook: Hook | None = None
    peers: set = field(default_factory=set)  # distinct client (ip, port): distinct TCP connections
    requests: list = field(default_factory=list)  # JSON-RPC methods seen
    _runner: web.AppRunner | None = None
    _client: aiohttp.ClientSession | None = None
    _hangs: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return len(self.peers)

    async def start(self) -> Proxy:
        self._client = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        return self

    async def stop(self) -> None:
        for event in self._hangs:
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        body = await request.read()
        payload = json.loads(body)
        method, params = payload.get("method", ""), payload.get("params", [])
        self.requests.append(method)
        fault = self.hook(method, params, len(self.requests)) if self.hook else None
        if fault == "hang":
            event = asyncio.Event()
            self._hangs.append(event)
            await event.wait()
            return web.Response(status=503)
        if isinstance(fault, int):
            return web.Response(status=fault, text=f"injected HTTP {fault}")
        if isinstance(fault, dict):
            return web.json_response({"jsonrpc": "2.0", "id": payload.get("id"), "error": fault})
        assert self._client is not None
        async with self._client.post(self.upstream, data=body,
                                     headers={"Content-Type": "application/json"}) as upstream:
            return web.Response(body=await upstream.read(), status=upstream.status,
                                content_type="application/json")


