"""`mmtui devnet traffic`: simulated users placing a realistic mix of bridge orders on a devnet.

Orders are sent from anvil's unlocked user accounts. The mix covers what a relayer must handle:
ordinary orders, unprofitable ones, ones larger than the relayer's inventory, short deadlines,
exclusivity for another relayer, and a competing relayer that sometimes fills first.

Prices: when the engine's quotes endpoint is reachable (its address is in the file the devnet manifest
names, `quote_api_file`, or given as `quotes_url`), a fairly priced order (ordinary, short deadline,
exclusive, competitor) takes its destAmount from the route's quote exactly as a user of the RFQ API would
(REFERENCE §3: `floor(origin * dest_amount / max_origin_amount) - fixed_fee`, the origin amount capped by
`max_origin_amount`); a route quoted at 0 gives way to another quoted route. Without quotes, or when no
route is quoted, the generator invents a price as before. Unprofitable and too-large orders are never
priced from quotes: they exist to be refused.
"""
from __future__ import annotations

import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable, TextIO

import httpx
from web3 import Web3
from web3.providers import HTTPProvider

from engine.devnet.contracts_registry import load_artifact
from engine.inventory.quote_api import read_address_file
from engine.inventory.quotes import user_dest_amount
from engine.protocol.codec import NATIVE_TOKEN, decode_request
from engine.units import format_units
from engine.protocol.events import BRIDGE_REQUESTED, decode_event

# kind -> weight
ORDER_MIX = {
    "ordinary": 55,
    "unprofitable": 10,
    "too_large": 5,
    "short_deadline": 10,
    "exclusive_other": 10,
    "competitor_fills": 10,
}
# Per symbol: (low, high) whole-token sizes of an ordinary order, and a USD price.
ORDER_SIZES = {"USDC": (10, 2_000), "DAI": (10, 2_000), "ETH": (Decimal("0.01"), Decimal("1"))}
DECIMALS = {"USDC": 6, "DAI": 18, "ETH": 18}
PRICE_USD = {"USDC": Decimal(1), "DAI": Decimal(1), "ETH": Decimal(2600)}
FEE_MARGIN_USD = Decimal(3)  # covers the relayer's gas on both chains at devnet gas prices
EXCLUSIVITY_SECONDS = 20
# Kinds priced from the engine's quotes when it publishes them (the others are deliberately off-price).
QUOTE_PRICED_KINDS = frozenset({"ordinary", "short_deadline", "exclusive_other", "competitor_fills"})
QUOTES_TIMEOUT_SECONDS = 0.5
QUOTES_MAX_AGE_SECONDS = 1.0  # fetched quotes are reused this long (the engine refreshes them every second)
QUOTES_RETRY_SECONDS = 5.0  # after a failed fetch, orders are priced by the generator this long
MAX_UINT256 = 2**256 - 1


class TrafficError(RuntimeError):
    pass


@dataclass(frozen=True)
class RouteQuote:
    """One route of the engine's `GET /quotes` (amounts in base units)."""

    origin_chain_id: int
    origin_token: str  # lowercase
    dest_chain_id: int
    dest_token: str  # lowercase
    max_origin_amount: int
    dest_amount: int
    fixed_fee: int

    @classmethod
    def from_json(cls, q: dict) -> RouteQuote:
        return cls(int(q["origin_chain_id"]), str(q["origin_token_addr"]).lower(), int(q["dest_chain_id"]),
                   str(q["dest_token_addr"]).lower(), int(q["max_origin_amount"]), int(q["dest_amount"]),
                   int(q["fixed_fee"]))

    def user_dest_amount(self, origin_amount: int) -> int | None:
        return user_dest_amount(origin_amount, self.max_origin_amount, self.dest_amount, self.fixed_fee)


@dataclass(frozen=True)
class PlacedOrder:
    transaction_id: str
    kind: str
    origin_chain_id: int
    dest_chain_id: int
    symbol: str
    origin_amount: int
    dest_amount: int
    request: bytes
    quote: RouteQuote | None = None  # the engine's quote it was priced from (None: priced by the generator)

    @property
    def priced_by(self) -> str:
        return "generator" if self.quote is None else "quote"

    def line(self) -> str:
        decimals = DECIMALS[self.symbol]
        return (f"{self.transaction_id} {self.kind:<16} {self.origin_chain_id}->{self.dest_chain_id} "
                f"{format_units(self.origin_amount, decimals, self.symbol)} -> "
                f"{format_units(self.dest_amount, decimals, self.symbol)}"
                + (" (quoted)" if self.priced_by == "quote" else ""))


def load_manifest(directory: Path) -> dict:
    path = directory / "devnet.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TrafficError(f"{path}: not found — start a devnet first: mmtui devnet --dir {directory}") from None
    except json.JSONDecodeError as exc:
        raise TrafficError(f"{path}: not valid JSON ({exc})") from None


class TrafficGenerator:
    def __init__(self, manifest: dict, seed: int | None = None, mix: dict[str, int] | None = None, *,
                 quotes_url: str | None = None, use_quotes: bool = True) -> None:
        """`quotes_url`: the engine's quotes endpoint (base URL or .../quotes); by default found through
        the manifest's `quote_api_file`. `use_quotes=False`: always invent prices."""
        self.manifest = manifest
        self.rng = random.Random(seed)
        self.mix = mix or ORDER_MIX
        self.chains = {c["chain_id"]: c for c in manifest["chains"]}
        self.w3 = {cid: Web3(HTTPProvider(c["rpc_url"], request_kwargs={"timeout": 30}))
                   for cid, c in self.chains.items()}
        self.bridge_abi = load_artifact("FastBridgeV2").abi
        self.users = manifest["accounts"]["users"]
        self.competitor = manifest["accounts"]["competitor"]
        self._competitor_ready = False
        self._competitor_lock = threading.Lock()
        self.use_quotes = use_quotes
        self._quotes_url = quotes_url
        self._quote_file = Path(manifest["quote_api_file"]) if manifest.get("quote_api_file") else None
        self._quotes: tuple[float, dict[tuple[int, str, int, str], RouteQuote]] | None = None
        self._quotes_lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._quotes_failed_at: float | None = None

    def bridge(self, chain_id: int):
        return self.w3[chain_id].eth.contract(address=self.chains[chain_id]["contracts"]["bridge"],
                                              abi=self.bridge_abi)

    def _chain_time(self, chain_id: int) -> int:
        return self.w3[chain_id].eth.get_block("latest")["timestamp"]

    def _amount(self, symbol: str, kind: str) -> int:
        unit = 10 ** DECIMALS[symbol]
        low, high = ORDER_SIZES[symbol]
        if kind == "too_large":
            # Larger than the relayer's whole per-chain inventory; users hold ten times more.
            whole = {"USDC": 150_000, "DAI": 150_000, "ETH": 150}[symbol]
            return whole * unit
        value = Decimal(str(self.rng.uniform(float(low), float(high)))).quantize(Decimal("0.0001"))
        return int(value * unit)

    def _dest_amount(self, symbol: str, origin_amount: int, kind: str) -> int:
        if kind == "unprofitable":
            return origin_amount  # no room for the relayer's fee
        unit = 10 ** DECIMALS[symbol]
        fee = int(FEE_MARGIN_USD / PRICE_USD[symbol] * unit)
        return max(origin_amount * 999 // 1000 - fee, 1)

    # ------------------------------------------------------------------ the engine's quotes

    def quotes_endpoint(self) -> str | None:
        """The URL of `GET /quotes`: given, or read from the address file the engine writes."""
        url = self._quotes_url
        if url is None and self._quote_file is not None:
            url = read_address_file(self._quote_file)
        if url is None:
            return None
        url = url.rstrip("/")
        return url if url.endswith("/quotes") else url + "/quotes"

    def fetch_quotes(self) -> dict[tuple[int, str, int, str], RouteQuote] | None:
        """The engine's current quotes by (origin chain, origin token, dest chain, dest token), reused for
        QUOTES_MAX_AGE_SECONDS; None when no endpoint answers (short timeout: traffic never waits on it)."""
        if not self.use_quotes:
            return None
        with self._quotes_lock:
            if self._quotes is not None and time.monotonic() - self._quotes[0] < QUOTES_MAX_AGE_SECONDS:
                return self._quotes[1]
            if self._quotes_failed_at is not None and time.monotonic() - self._quotes_failed_at < QUOTES_RETRY_SECONDS:
                return None
            url = self.quotes_endpoint()
            if url is None:
                return None
            if self._http is None:
                self._http = httpx.Client(timeout=QUOTES_TIMEOUT_SECONDS)
            try:
                response = self._http.get(url)
                response.raise_for_status()
                quotes = {}
                for q in response.json()["quotes"]:
                    rq = RouteQuote.from_json(q)
                    quotes[(rq.origin_chain_id, rq.origin_token, rq.dest_chain_id, rq.dest_token)] = rq
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                self._quotes, self._quotes_failed_at = None, time.monotonic()
                return None
            self._quotes, self._quotes_failed_at = (time.monotonic(), quotes), None
            return quotes

    def route_quote(self, origin: int, dest: int, symbol: str,
                    quotes: dict[tuple[int, str, int, str], RouteQuote] | None = None) -> RouteQuote | None:
        """The engine's quote for `symbol` from `origin` to `dest` (None: not quoted or no endpoint)."""
        quotes = self.fetch_quotes() if quotes is None else quotes
        if not quotes:
            return None
        tokens = self.chains[origin]["tokens"], self.chains[dest]["tokens"]
        return quotes.get((origin, tokens[0][symbol].lower(), dest, tokens[1][symbol].lower()))

    def _quoted_price(self, origin: int, dest: int, symbol: str,
                      origin_amount: int) -> tuple[int, int, str, int, int, RouteQuote] | None:
        """(origin, dest, symbol, origin amount, dest amount, quote) priced from a quote: the drawn route if
        it is quoted, else another quoted route at random; None when the engine quotes nothing usable."""
        quotes = self.fetch_quotes()
        if not quotes:
            return None
        candidates = [(origin, dest, symbol)]
        others = [(o, d, s) for o in sorted(self.chains) for d in sorted(self.chains) if o != d
                  for s in sorted(ORDER_SIZES) if (o, d, s) != (origin, dest, symbol)]
        self.rng.shuffle(others)
        for o, d, s in candidates + others:
            quote = self.route_quote(o, d, s, quotes)
            if quote is None or quote.max_origin_amount <= 0 or quote.dest_amount <= 0:
                continue
            amount = origin_amount if s == symbol else self._amount(s, "ordinary")
            amount = min(amount, quote.max_origin_amount)
            dest_amount = quote.user_dest_amount(amount)
            if dest_amount is None:  # the fixed fee takes a small order whole: twice its break-even size
                break_even = -(-(quote.fixed_fee + 1) * quote.max_origin_amount // quote.dest_amount)
                amount = min(quote.max_origin_amount, 2 * break_even)
                dest_amount = quote.user_dest_amount(amount)
            if dest_amount is not None:
                return o, d, s, amount, dest_amount, quote
        return None

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def place(self, kind: str | None = None) -> PlacedOrder:
        """Place one order and wait for its BridgeRequested log."""
        return self._settle(*self._submit(kind))

    def _submit(self, kind: str | None) -> tuple[str, int, int, str, int, int, bytes, RouteQuote | None]:
        """Send one user's bridge transaction without waiting for it to be mined."""
        kind = kind or self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
        origin, dest = self.rng.sample(sorted(self.chains), 2)
        symbol = self.rng.choice(sorted(ORDER_SIZES))
        origin_amount = self._amount(symbol, kind)
        quoted = self._quoted_price(origin, dest, symbol, origin_amount) if kind in QUOTE_PRICED_KINDS else None
        quote = None
        if quoted is not None:
            origin, dest, symbol, origin_amount, dest_amount, quote = quoted
        else:
            dest_amount = self._dest_amount(symbol, origin_amount, kind)
        min_period = self.manifest["min_deadline_period"]
        deadline_in = min_period + 5 if kind == "short_deadline" else max(min_period, 3600) + 60
        exclusive_to = self.competitor if kind == "exclusive_other" else None
        tx_hash = self.send_bridge(origin, dest, symbol, origin_amount, dest_amount, deadline_in,
                                   exclusive_to=exclusive_to)
        return kind, origin, dest, symbol, origin_amount, dest_amount, tx_hash, quote

    def send_bridge(self, origin: int, dest: int, symbol: str, origin_amount: int, dest_amount: int,
                    deadline_in: int, *, exclusive_to: str | None = None,
                    exclusivity_seconds: int = EXCLUSIVITY_SECONDS, user: str | None = None) -> bytes:
        """One user's bridge transaction as specified (deadline relative to the origin's chain time)."""
        user = user or self.rng.choice(self.users)
        deadline = self._chain_time(origin) + deadline_in
        params = (dest, user, user, self.chains[origin]["tokens"][symbol], self.chains[dest]["tokens"][symbol],
                  origin_amount, dest_amount, False, deadline)
        bridge = self.bridge(origin)
        value = origin_amount if symbol == "ETH" else 0
        if exclusive_to is not None:
            fn = bridge.functions.bridgeV2(params, (exclusive_to, exclusivity_seconds, b"devnet-quote", 0, b""))
        else:
            fn = bridge.functions.bridge(params)
        return fn.transact({"from": user, "value": value})

    def place_order(self, origin: int, dest: int, symbol: str, origin_amount: int, dest_amount: int,
                    deadline_in: int = 3700, *, kind: str = "custom", **kwargs) -> PlacedOrder:
        """Place one order exactly as specified and wait for its BridgeRequested log."""
        tx_hash = self.send_bridge(origin, dest, symbol, origin_amount, dest_amount, deadline_in, **kwargs)
        return self._settle(kind, origin, dest, symbol, origin_amount, dest_amount, tx_hash)

    def _settle(self, kind: str, origin: int, dest: int, symbol: str, origin_amount: int, dest_amount: int,
                tx_hash: bytes, quote: RouteQuote | None = None) -> PlacedOrder:
        receipt = self.w3[origin].eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            raise TrafficError(f"bridge transaction 0x{bytes(tx_hash).hex()} reverted on chain {origin}")
        request = self._request_from(receipt)
        order = PlacedOrder("0x" + Web3.keccak(request).hex().removeprefix("0x"), kind, origin, dest, symbol,
                            origin_amount, dest_amount, request, quote)
        if kind == "competitor_fills":
            with self._competitor_lock:
                self.competitor_relay(dest, request)
        return order

    def _request_from(self, receipt) -> bytes:
        for log in receipt["logs"]:
            if log["topics"] and bytes(log["topics"][0]) == BRIDGE_REQUESTED.topic0:
                return decode_event([bytes(t) for t in log["topics"]], bytes(log["data"])).args["request"]
        raise TrafficError("bridge receipt has no BridgeRequested log")

    def competitor_relay(self, dest: int, request: bytes) -> None:
        self._approve_competitor()
        req = decode_request(request)
        value = req.dest_amount if req.dest_token == NATIVE_TOKEN else 0
        self.bridge(dest).functions.relay(request).transact({"from": self.competitor, "value": value})

    def _approve_competitor(self) -> None:
        if self._competitor_ready:
            return
        erc20_abi = load_artifact("DevToken").abi
        for cid, chain in self.chains.items():
            for symbol, address in chain["tokens"].items():
                if address == NATIVE_TOKEN:
                    continue
                token = self.w3[cid].eth.contract(address=address, abi=erc20_abi)
                token.functions.approve(chain["contracts"]["bridge"], MAX_UINT256).transact({"from": self.competitor})
        self._competitor_ready = True

    def run(self, orders: int | None, rate: float, out: TextIO = sys.stdout,
            stop: threading.Event | None = None, on_order: Callable[[PlacedOrder], None] | None = None) -> int:
        """Place `orders` orders (None: until stopped) at `rate` per second; returns how many were placed.

        Submission keeps the rate; receipts are awaited by a small pool, so a slow block time does
        not throttle the flow of orders.
        """
        if rate <= 0:
            raise TrafficError("--rate must be positive")
        stop = stop or threading.Event()
        interval = 1.0 / rate
        submitted = 0
        pending = []
        print_lock = threading.Lock()

        def settled(future) -> None:
            order = future.result()
            with print_lock:
                print(order.line(), file=out, flush=True)
            if on_order:
                on_order(order)

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="traffic") as pool:
            next_at = time.monotonic()
            while (orders is None or submitted < orders) and not stop.is_set():
                future = pool.submit(self._settle, *self._submit(None))
                future.add_done_callback(lambda f: f.exception() is None and settled(f))
                pending.append(future)
                submitted += 1
                next_at += interval
                if stop.wait(max(0.0, next_at - time.monotonic())):
                    break
            failures = [f.exception() for f in pending if f.exception() is not None]
        if failures:
            raise TrafficError(f"{len(failures)} of {submitted} orders failed; first: {failures[0]}")
        return submitted
