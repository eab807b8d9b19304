"""The engine's read-only quotes endpoint: `GET /quotes` on loopback (config `quote_api`).

A deliberately tiny HTTP/1.1 server on `asyncio.start_server` (no dependency): one request per
connection (`Connection: close`), `GET`/`HEAD /quotes` answered with the quotes the capital desk computed
last, anything else 404 (unknown path), 405 (another method on /quotes) or 400 (not HTTP). It only reads
what the desk already holds — building the answer is a few microseconds of JSON, cached per refresh — and
every connection is bounded in time, size and number, so a slow or hostile client cannot hold up the
engine's loop or its memory.

The body (amounts are decimal strings of integer base units, never JSON numbers):

    {"computed_at": "2026-01-02T03:04:05.678Z", "computed_at_unix_ms": 1767323045678,
     "quotes": [{"origin_chain_id": 31337, "origin_token_addr": "0x…", "origin_symbol": "USDC",
                 "origin_decimals": 6, "dest_chain_id": 31338, "dest_token_addr": "0x…", "dest_symbol": "USDC",
                 "dest_decimals": 6, "max_origin_amount": "…", "dest_amount": "…", "fixed_fee": "…",
                 "origin_fast_bridge_address": "0x…", "dest_fast_bridge_address": "0x…",
                 "limited_by": "…"}, …]}

A user sending `origin` (0 < origin <= max_origin_amount) receives
`floor(origin * dest_amount / max_origin_amount) - fixed_fee` (REFERENCE §3). Before the first refresh the
answer is 503 with `Retry-After: 1`.

When `quote_api.address_file` is set, the bound `http://HOST:PORT` is written there (atomically, JSON
`{"url": …, "pid": …}`) once listening, and removed when the server stops: that is how the devnet traffic
generator finds a port the system picked (`listen: "127.0.0.1:0"`).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from engine.config import QuoteApiConfig
from engine.inventory.quotes import Quote
from engine.inventory.rfq_push import api_quote

__all__ = ["QUOTES_PATH", "QuoteServer", "QuoteSource", "quote_json", "quotes_document", "read_address_file"]

log = logging.getLogger(__name__)

QUOTES_PATH = "/quotes"
MAX_HEAD_BYTES = 16 * 1024  # request line + headers
MAX_CONNECTIONS = 32
READ_TIMEOUT_SECONDS = 5.0
WRITE_TIMEOUT_SECONDS = 5.0
LINGER_SECONDS = 0.5  # at most this long, and this many bytes, read and dropped before closing
LINGER_MAX_BYTES = 256 * 1024
EventListener = Callable[[str, str], None]  # (level, text)

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            431: "Request Header Fields Too Large", 503: "Service Unavailable"}


class QuoteSource(Protocol):
    """What the server reads (the engine's CapitalDesk): the last quotes and when (time.monotonic())."""

    quotes: tuple[Quote, ...]
    quotes_at: float | None


def quote_json(quote: Quote) -> dict[str, object]:
    """One quote: the RFQ API's fields plus symbols, decimals and why max_origin_amount is what it is."""
    out = api_quote(quote)
    out.update({
        "origin_symbol": quote.origin_symbol,
        "origin_decimals": quote.origin_decimals,
        "dest_symbol": quote.dest_symbol,
        "dest_decimals": quote.dest_decimals,
        "limited_by": quote.limited_by,
    })
    return out


def quotes_document(quotes: Sequence[Quote], computed_at: datetime) -> dict[str, object]:
    ms = int(computed_at.timestamp() * 1000)
    return {
        "computed_at": computed_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "computed_at_unix_ms": ms,
        "quotes": [quote_json(q) for q in quotes],
    }


def read_address_file(path: Path) -> str | None:
    """The URL a running quotes endpoint wrote to `path`, or None (no file, or not one of ours)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url.startswith("http://") else None


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class QuoteServer:
    """Serves `source`'s quotes. `await start()` binds (returns the base URL); `await aclose()` stops;
    `run(stop)` does both around an engine's lifetime and never fails the engine (a bind error is
    reported and the engine goes on without the endpoint)."""

    def __init__(self, source: QuoteSource, *, host: str = "127.0.0.1", port: int = 0,
                 address_file: Path | None = None, on_event: EventListener | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.host = host
        self.port = port
        self.address_file = address_file
        self.on_event = on_event or (lambda level, text: None)
        self._wall = wall_clock
        self._monotonic = monotonic
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._cache: tuple[tuple[Quote, ...], float, bytes] | None = None
        self.url: str | None = None  # http://HOST:PORT once listening
        self.requests = 0

    @classmethod
    def from_config(cls, config: QuoteApiConfig, source: QuoteSource, **kwargs) -> QuoteServer:
        return cls(source, host=config.host, port=config.port, address_file=config.address_file, **kwargs)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        if self._server is not None:
            return self.url
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port,
                                                  limit=MAX_HEAD_BYTES, reuse_address=True)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        if self.address_file is not None:
            self._write_address_file()
        self.on_event("info", f"quotes endpoint: GET {self.url}{QUOTES_PATH}")
        return self.url

    async def aclose(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
        self._remove_address_file()

    async def __aenter__(self) -> QuoteServer:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (an engine loop: returns only then, or when cancelled)."""
        try:
            try:
                await self.start()
            except OSError as exc:
                self.on_event("error", f"quotes endpoint not served: cannot listen on {self.host}:{self.port} "
                                       f"({exc.strerror or type(exc).__name__})")
            await stop.wait()
        finally:
            await asyncio.shield(self.aclose())

    def _write_address_file(self) -> None:
        path = Path(self.address_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"url": self.url, "pid": os.getpid()}) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            self.on_event("warning", f"quotes endpoint: cannot write its address to {path} "
                                     f"({exc.strerror or type(exc).__name__})")

    def _remove_address_file(self) -> None:
        if self.address_file is None:
            return
        path = Path(self.address_file)
        if read_address_file(path) == self.url:  # another engine may have taken the file over since
            with contextlib.suppress(OSError):
                path.unlink()

    # ------------------------------------------------------------------ the body

    def body(self) -> bytes | None:
        """The JSON of the current quotes (None before the first refresh), cached per refresh."""
        quotes, at = self.source.quotes, self.source.quotes_at
        if at is None:
            return None
        cached = self._cache
        if cached is not None and cached[0] is quotes and cached[1] == at:
            return cached[2]
        computed_at = datetime.fromtimestamp(self._wall() - (self._monotonic() - at), UTC)
        raw = json.dumps(quotes_document(quotes, computed_at), separators=(",", ":")).encode()
        self._cache = (quotes, at, raw)
        return raw

    # ------------------------------------------------------------------ HTTP

    def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            writer.close()  # over the bound: refused at once, nothing is read
            return
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer), name="quote-api-conn")
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                method, path = await asyncio.wait_for(self._read_head(reader), READ_TIMEOUT_SECONDS)
            except _BadRequest as bad:
                await self._respond(writer, bad.status, b'{"error":"bad request"}')
                return
            except TimeoutError:
                await self._respond(writer, 408, b'{"error":"request timeout"}')
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            self.requests += 1
            if path != QUOTES_PATH:
                await self._respond(writer, 404, b'{"error":"not found; try GET /quotes"}', head=method == "HEAD")
            elif method not in ("GET", "HEAD"):
                await self._respond(writer, 405, b'{"error":"method not allowed"}', extra=(("Allow", "GET, HEAD"),))
            else:
                body = self.body()
                if body is None:
                    await self._respond(writer, 503, b'{"error":"quotes not computed yet"}',
                                        extra=(("Retry-After", "1"),), head=method == "HEAD")
                else:
                    await self._respond(writer, 200, body, extra=(("Cache-Control", "no-store"),),
                                        head=method == "HEAD")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad connection never takes the endpoint down
            log.debug("quotes endpoint: connection failed (%s)", type(exc).__name__)
        finally:
            await self._linger(reader, writer)

    @staticmethod
    async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Close gently: our side first, then a bounded read of what the client still sends (a body we
        never read, the rest of oversized headers), so the kernel does not reset the connection before
        the client has read our answer."""
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            deadline = asyncio.get_running_loop().time() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_MAX_BYTES:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                chunk = await asyncio.wait_for(reader.read(16 * 1024), left)
                if not chunk:
                    break
                drained += len(chunk)
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1)

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
        """(method, path without query) of one request; its headers are read and ignored, its body never."""
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(431) from None
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise
            raise _BadRequest(400) from None
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper() \
                or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
            raise _BadRequest(400)
        method, target = parts[0], parts[1]
        total = len(line)
        while True:
            try:
                header = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                raise _BadRequest(431) from None
            except asyncio.IncompleteReadError:
                raise _BadRequest(400) from None
            total += len(header)
            if total > MAX_HEAD_BYTES:
                raise _BadRequest(431)
            if header in (b"\r\n", b"\n"):
                break
        return method, target.split("?", 1)[0].split("#", 1)[0]

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, *,
                       extra: Sequence[tuple[str, str]] = (), head: bool = False) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS[status]}", "Content-Type: application/json",
                 f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in extra)]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else body))
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_SECONDS)
