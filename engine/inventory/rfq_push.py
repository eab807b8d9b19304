"""Pushing quotes to an RFQ API (REFERENCE §3): `PUT {url}/bulk_quotes {"quotes": [...]}`.

Every request carries `Authorization: <unix ts>:<EIP-191 signature of the ts text>` signed with the
relayer's key (what the canonical relayer sends), plus `X-Api-Key` when `rfq_api.api_key_env` names one.
`publish` never blocks its caller: it records the newest quotes and a background task sends them (newest
wins; a push in flight is followed by one more with whatever was published meanwhile). 5xx answers and
connection errors are retried with a backoff. Neither the key, the API key nor the signature ever reaches
a log line or an error message.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from engine.config import RfqApiConfig
from engine.inventory.quotes import Quote

__all__ = ["api_quote", "authorization_header", "PushResult", "QuotePusher"]

log = logging.getLogger(__name__)

BULK_QUOTES_PATH = "/bulk_quotes"


def api_quote(quote: Quote) -> dict[str, object]:
    """One quote in the RFQ API's shape (amounts as decimal strings of base units)."""
    route = quote.route
    return {
        "origin_chain_id": route.origin_chain_id,
        "origin_token_addr": route.origin_token,
        "dest_chain_id": route.dest_chain_id,
        "dest_token_addr": route.dest_token,
        "dest_amount": str(quote.dest_amount),
        "max_origin_amount": str(quote.max_origin_amount),
        "fixed_fee": str(quote.fixed_fee),
        "origin_fast_bridge_address": quote.origin_fast_bridge_address,
        "dest_fast_bridge_address": quote.dest_fast_bridge_address,
    }


def _without_userinfo(url: str) -> str:
    """The URL for logs and errors: credentials in `user:password@host` are dropped."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def authorization_header(account: LocalAccount, now: int) -> str:
    """`<now>:<0x signature>`: EIP-191 personal_sign of the decimal text of `now` (unix seconds)."""
    stamp = str(int(now))
    signed = account.sign_message(encode_defunct(text=stamp))
    return f"{stamp}:0x{bytes(signed.signature).hex()}"


@dataclass(frozen=True, slots=True)
class PushResult:
    ok: bool
    attempts: int
    status_code: int | None  # the last HTTP status, None when no answer came back
    error: str | None  # what went wrong, free of secrets


class QuotePusher:
    """Publishes the newest quotes to one RFQ API. Use as `async with QuotePusher(...) as pusher:` (or
    `start()` / `aclose()`), then call `publish(quotes)` as often as quotes change."""

    def __init__(
        self,
        url: str,
        account: LocalAccount,
        *,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        retries: int = 3,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if account is None:
            raise ValueError("pushing quotes needs a local signing key (not a node-unlocked signer)")
        self.url = url.rstrip("/") + BULK_QUOTES_PATH
        self._shown_url = _without_userinfo(self.url)
        self._account = account
        self._api_key = api_key
        self._client = client
        self._owns_client = client is None
        self._retries = retries
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._latest: tuple[Quote, ...] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.last_result: PushResult | None = None
        self.pushes = 0

    def __repr__(self) -> str:  # the default repr would be fine, but say so explicitly: no key, no api key
        return f"QuotePusher({self._shown_url})"

    @classmethod
    def from_config(cls, rfq_api: RfqApiConfig, account: LocalAccount,
                    environ: Mapping[str, str] | None = None, **kwargs) -> QuotePusher:
        """A pusher for `config.rfq_api`; the API key (if any) is read from the environment variable it names."""
        env = os.environ if environ is None else environ
        api_key = None
        if rfq_api.api_key_env is not None:
            api_key = env.get(rfq_api.api_key_env)
            if not api_key:
                raise ValueError(f"rfq_api.api_key_env: environment variable {rfq_api.api_key_env} is not set")
        return cls(rfq_api.url, account, api_key=api_key, **kwargs)

    async def __aenter__(self) -> QuotePusher:
        self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="rfq-quote-push")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def publish(self, quotes: Sequence[Quote]) -> None:
        """Record the newest quotes for the background task; returns at once."""
        self._latest = tuple(quotes)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            quotes, self._latest = self._latest, None
            if quotes is None:
                continue
            try:
                self.last_result = await self.push(quotes)
            except Exception as exc:  # noqa: BLE001 - the publisher must outlive one bad push
                # Only the type: an exception's text could carry request details.
                self.last_result = PushResult(False, 1, None, f"{type(exc).__name__} while pushing quotes")
                log.error("quote push crashed (%s)", type(exc).__name__)

    async def push(self, quotes: Sequence[Quote]) -> PushResult:
        """One PUT with retries on 5xx and connection errors (a fresh signature per attempt)."""
        if self._client is None:
            raise RuntimeError("QuotePusher not started")
        body = {"quotes": [api_quote(q) for q in quotes]}
        status: int | None = None
        error: str | None = None
        attempts = 0
        for attempt in range(1, self._retries + 2):
            attempts = attempt
            headers = {"Authorization": authorization_header(self._account, int(self._clock()))}
            if self._api_key is not None:
                headers["X-Api-Key"] = self._api_key
            try:
                response = await self._client.put(self.url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                status, error = None, f"{type(exc).__name__} talking to {self._shown_url}"
            else:
                status = response.status_code
                if status < 400:
                    self.pushes += 1
                    log.debug("pushed %d quotes to %s (HTTP %d)", len(quotes), self._shown_url, status)
                    return PushResult(True, attempt, status, None)
                error = f"HTTP {status} from {self._shown_url}"
                if status < 500:
                    break  # the API refused the request itself: retrying the same body will not help
            if attempt <= self._retries:
                log.info("quote push attempt %d failed (%s); retrying", attempt, error)
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        log.warning("quote push failed after %d attempt(s): %s", attempts, error)
        return PushResult(False, attempts, status, error)
