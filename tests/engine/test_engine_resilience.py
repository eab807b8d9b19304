"""The engine keeps going through a chain's RPC going away and a malformed bridge log.

* An RPC that stops answering (a TCP proxy in front of anvil, closed then reopened: stopping anvil
  itself would lose its state) shows as an unhealthy chain; once it is back, the engine catches up
  and relays, proves and claims the order placed meanwhile.
* A BridgeRequested log that does not decode (the bridge's code swapped for a log emitter with
  anvil_setCode, then restored) goes to the dead letters; the chain goes on and the next order is relayed.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
import yaml
from eth_abi import encode as abi_encode
from eth_utils import keccak
from sqlalchemy import select

from engine.api import Arm
from engine.config import load_config
from engine.devnet.devnet import Devnet
from engine.devnet.traffic import PlacedOrder, TrafficGenerator
from engine.protocol.events import BRIDGE_REQUESTED
from engine.relayer.statuses import OrderStatus
from engine.store import DeadLetter
from enginekit import make_engine, mine, running, status_of, wait_for, write_engine_config

pytestmark = pytest.mark.anvil

USDC = 10**6


class TcpProxy:
    """A plain TCP forwarder on loopback. `close()` refuses new connections and cuts the open ones
    (the client sees resets and refused connections, as with a node that went away); `open()` listens
    again on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._open = False
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        self._open = True
        return self

    async def close(self) -> None:
        self._open = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        if not self._open:  # closed while this connection was being set up
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))]
        self._tasks.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in pipes:
                t.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            self._tasks.difference_update(pipes)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()


def _chain_view(engine, chain_id: int):
    return next(c for c in engine.snapshot().chains if c.chain_id == chain_id)


async def _place(traffic: TrafficGenerator, origin: int, dest: int, whole_usdc: int = 100) -> PlacedOrder:
    """A profitable USDC order from `origin` to `dest` (placed straight on anvil, not through any proxy)."""
    amount = whole_usdc * USDC
    return await asyncio.to_thread(traffic.place_order, origin, dest, "USDC", amount, amount * 999 // 1000 - 3 * USDC,
                                   kind="ordinary")


def _at_least(engine, txid: str, status: OrderStatus):
    def check() -> bool:
        current = status_of(engine, txid)
        assert current is None or not current.is_terminal or current == OrderStatus.ClaimCompleted, \
            f"order ended {current.name}"
        return current is not None and current >= status
    return check


# ---------------------------------------------------------------------------------------------- RPC outage


async def test_an_rpc_that_goes_away_and_comes_back_is_caught_up(devnet: Devnet, traffic: TrafficGenerator,
                                                                 tmp_path: Path) -> None:
    origin, dest = (n.chain_id for n in devnet.nodes)
    proxy = await TcpProxy(devnet.node(origin).port).open()
    try:
        path = write_engine_config(devnet, tmp_path)
        data = yaml.safe_load(path.read_text())
        chain = data["chains"][origin] if origin in data["chains"] else data["chains"][str(origin)]
        chain["rpc_url"] = proxy.url
        chain.pop("ws_url", None)  # polled: the WebSocket would bypass the proxy
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        engine = make_engine(load_config(path))
        async with running(engine):
            assert (await engine.execute(Arm(override=True))).ok
            await wait_for(lambda: all(c.rpc_ok and c.cursor is not None for c in engine.snapshot().chains), 20,
                           "both chains watched")
            assert proxy.connections > 0

            await proxy.close()
            order = await _place(traffic, origin, dest)
            await wait_for(lambda: not _chain_view(engine, origin).rpc_ok, 20, f"chain {origin} shown unhealthy")
            view = _chain_view(engine, origin)
            assert view.last_error, view
            await asyncio.sleep(2)  # the outage goes on for a while; the other chain is unaffected
            await asyncio.to_thread(mine, devnet)
            assert status_of(engine, order.transaction_id) is None  # not seen: its chain is unreachable
            await wait_for(lambda: _chain_view(engine, dest).rpc_ok, 10, f"chain {dest} still healthy")
            assert engine.fatal_error is None

            await proxy.open()
            await wait_for(_at_least(engine, order.transaction_id, OrderStatus.RelayCompleted), 45,
                           "the order placed during the outage relayed", tick=lambda: mine(devnet))
            await wait_for(_at_least(engine, order.transaction_id, OrderStatus.ClaimCompleted), 45,
                           "the order claimed", tick=lambda: mine(devnet, 3))
            await wait_for(lambda: _chain_view(engine, origin).rpc_ok, 20, f"chain {origin} healthy again")
            assert _chain_view(engine, origin).last_error is None
            assert engine.fatal_error is None
    finally:
        await proxy.close()


# ---------------------------------------------------------------------------------------------- dead letters


def _emitter(logs: list[tuple[list[bytes], bytes]]) -> bytes:
    """Runtime bytecode that emits `logs` (topics, data) in order, then stops."""
    code = bytearray()
    for topics, data in logs:
        assert len(topics) <= 4 and all(len(t) == 32 for t in topics)
        padded = data + b"\0" * (-len(data) % 32)
        for offset in range(0, len(padded), 32):
            code += b"\x7f" + padded[offset:offset + 32] + b"\x61" + offset.to_bytes(2, "big") + b"\x52"  # MSTORE
        for topic in reversed(topics):
            code += b"\x7f" + topic  # PUSH32
        code += b"\x61" + len(data).to_bytes(2, "big") + b"\x60\x00" + bytes([0xA0 + len(topics)])  # LOGn
    code += b"\x00"  # STOP
    return bytes(code)


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


async def test_a_malformed_request_log_is_dead_lettered_and_the_chain_goes_on(
        devnet: Devnet, traffic: TrafficGenerator, tmp_path: Path) -> None:
    origin, dest = (n.chain_id for n in devnet.nodes)
    node = devnet.node(origin)
    bridge = devnet.deployment(origin).bridge
    user = traffic.users[0]
    sender = b"\0" * 12 + bytes.fromhex(user[2:])
    # 1. data that is not the event's ABI at all; 2. well-formed event data whose request bytes are
    # not a FastBridge request (transactionId = keccak of them, as the contract would emit).
    junk_request = b"\x00\x02" + b"\xab" * 100
    well_formed = abi_encode(["bytes", "uint32", "address", "address", "uint256", "uint256", "bool"],
                             [junk_request, dest, "0x" + "11" * 20, "0x" + "22" * 20, 5, 4, False])
    emitted = [
        ([BRIDGE_REQUESTED.topic0, keccak(b"garbage"), sender], b"\xde\xad\xbe\xef" * 10),
        ([BRIDGE_REQUESTED.topic0, keccak(junk_request), sender], well_formed),
    ]
    engine = make_engine(load_config(write_engine_config(devnet, tmp_path)))
    async with running(engine):
        assert (await engine.execute(Arm(override=True))).ok
        await wait_for(lambda: all(c.rpc_ok for c in engine.snapshot().chains), 20, "both chains healthy")

        def emit_malformed() -> dict:
            original = node.rpc("eth_getCode", [bridge, "latest"])
            node.rpc("anvil_setCode", [bridge, "0x" + _emitter(emitted).hex()])
            try:
                tx = node.rpc("eth_sendTransaction", [{"from": user, "to": bridge, "gas": hex(200_000)}])
                deadline = time.monotonic() + 20
                while (receipt := node.rpc("eth_getTransactionReceipt", [tx])) is None:  # automine is async
                    assert time.monotonic() < deadline, f"no receipt for {tx}"
                    time.sleep(0.05)
            finally:
                node.rpc("anvil_setCode", [bridge, original])
            assert node.rpc("eth_getCode", [bridge, "latest"]) == original
            return receipt

        receipt = await asyncio.to_thread(emit_malformed)
        assert receipt["status"] == "0x1" and len(receipt["logs"]) == 2, receipt
        bad_block = int(receipt["blockNumber"], 16)

        async def dead_letters() -> list[DeadLetter]:
            async with engine.db.read() as s:
                return list((await s.scalars(select(DeadLetter).where(DeadLetter.chain_id == origin)
                                             .order_by(DeadLetter.log_index))).all())

        letters = await wait_for(lambda: _two(dead_letters()), 20, "two dead letters")
        assert [d.tx_hash for d in letters] == [receipt["transactionHash"]] * 2
        assert all(d.topic0 == "0x" + BRIDGE_REQUESTED.topic0.hex() and d.block_number == bad_block for d in letters)
        assert "EventDecodeError" in letters[0].error, letters[0].error
        assert "RequestDecodeError" in letters[1].error and "not a FastBridge request" in letters[1].error, \
            letters[1].error
        assert letters[1].payload and letters[1].payload["data"] == "0x" + well_formed.hex()

        # the chain goes on: the next order from the same chain is relayed
        order = await _place(traffic, origin, dest)
        await wait_for(_at_least(engine, order.transaction_id, OrderStatus.RelayCompleted), 45,
                       "the next order relayed", tick=lambda: mine(devnet))
        view = _chain_view(engine, origin)
        assert view.dead_letters >= 2, view
        assert view.rpc_ok and view.cursor is not None and view.cursor > bad_block, view
        assert engine.fatal_error is None
        assert not [o for o in engine.snapshot().orders if o.transaction_id != order.transaction_id], \
            "a malformed log became an order"


async def _two(pending):
    rows = await pending
    return rows if len(rows) >= 2 else None
