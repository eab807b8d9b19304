"""One configured chain while the engine runs: its RPC, watcher and submitter, and what was last read
from it (head, our balances, fees), refreshed on each new head."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import UTC, datetime

from engine.chain.fees import FeePolicy, Fees
from engine.chain.rpc import BlockHeader, ChainRpc, RpcError
from engine.chain.submitter import TransactionSubmitter
from engine.chain.watcher import ChainWatcher
from engine.config import ResolvedChain, ResolvedToken
from engine.protocol import calls
from engine.protocol.codec import NATIVE_TOKEN
from engine.protocol.multicall import (
    MulticallFailed,
    decode_aggregate3_results,
    encode_aggregate3,
    encode_get_eth_balance,
)

log = logging.getLogger(__name__)

BASE_FEE_HISTORY = 120  # heads kept for the gas chart


class LiveChain:
    def __init__(self, config: ResolvedChain, rpc: ChainRpc, watcher: ChainWatcher,
                 submitter: TransactionSubmitter, fee_policy: FeePolicy) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.rpc = rpc
        self.watcher = watcher
        self.submitter = submitter
        self.fee_policy = fee_policy
        self.bridge = config.rfq_address
        self.head: BlockHeader | None = None
        self.head_seen_at: datetime | None = None
        self.head_seen_monotonic: float | None = None
        self.gas_balance: int | None = None
        self.fees: Fees | None = None
        self.token_balances: dict[str, int] = {}  # lowercase token address -> our balance
        # bumped when a balance is known to be stale, so a read already in flight does not store it back
        self._balance_generation: dict[str, int] = {}
        self._rereads: set[asyncio.Task] = set()  # balance reads started by forget_balance
        self.last_refresh_error: str | None = None
        self.pending_transactions = 0
        self._dispute_period: int | None = None
        self.base_fee_history: deque[tuple[int, int]] = deque(maxlen=BASE_FEE_HISTORY)
        self.multicall = config.multicall_address  # None: balances are read one call each

    @property
    def address(self) -> str:
        return self.submitter.address

    @property
    def native_symbol(self) -> str:
        return self.config.native_token

    @property
    def chain_time(self) -> int | None:
        return self.head.timestamp if self.head is not None else None

    def token(self, address: str) -> ResolvedToken | None:
        return self.config.token_by_address(address)

    def native_price_usd(self):
        return self.config.native_price_usd()

    def gas_price_estimate(self) -> int:
        """What one unit of gas costs now for the fee model: next base fee plus our tip."""
        if self.fees is None:
            return 0
        return (self.fees.base_fee or 0) + self.fees.max_priority_fee_per_gas

    def on_head(self, header: BlockHeader) -> None:
        if self.head is None or header.hash != self.head.hash:
            self.head = header
            self.head_seen_at = datetime.now(UTC)
            self.head_seen_monotonic = time.monotonic()

    async def balance_of(self, token: str) -> int:
        """Our on-chain balance of `token` (the native sentinel: the gas token), read now and cached
        unless forget_balance was called while the read was in flight."""
        key = token.lower()
        generation = self._balance_generation.get(key, 0)
        if key == NATIVE_TOKEN.lower():
            value = await self.rpc.get_balance(self.address, "latest")
        else:
            value = calls.decode_uint(await self.rpc.call(token, calls.encode_balance_of(self.address)))
        if self._balance_generation.get(key, 0) == generation:
            self.token_balances[key] = value
        return value

    def cached_balance(self, token: str) -> int | None:
        return self.token_balances.get(token.lower())

    def forget_balance(self, token: str, *, reread: bool = False) -> None:
        """Our funds of `token` just left (a relay mined): the cached balance, and any read in flight,
        may predate that and must not be used. `reread`: the outflow is mined, so read it again now rather
        than on the next head (on a quiet chain that may be long, and meanwhile the routes through this
        token are not quoted); never for funds only about to leave."""
        key = token.lower()
        self._balance_generation[key] = self._balance_generation.get(key, 0) + 1
        self.token_balances.pop(key, None)
        if not reread:
            return
        task = asyncio.get_running_loop().create_task(self._reread_balance(token))
        self._rereads.add(task)
        task.add_done_callback(self._rereads.discard)

    async def _reread_balance(self, token: str) -> None:
        try:
            await self.balance_of(token)
        except (RpcError, OSError, asyncio.TimeoutError) as exc:  # the next head's refresh reads it again
            log.debug("chain %s: re-read of %s balance failed: %s", self.chain_id, token, exc)

    async def refresh(self) -> None:
        """Gas balance, fees and every configured token balance, concurrently: with a `multicall_address`
        the balances are ONE Multicall3 aggregate3 call (all at the same block), else one call each.
        Failures are kept for the operator and retried on the next head; the last good values stay."""
        tokens = [t.address for t in self.config.tokens.values()]
        settlements = self.submitter.settlements  # before the read: a settlement meanwhile makes it stale
        if self.multicall:
            results = await asyncio.gather(self._read_balances_multicall(tokens), self.fee_policy.suggest(),
                                           return_exceptions=True)
            balances, fees = results
            errors = [r for r in results if isinstance(r, BaseException)]
            if not isinstance(balances, BaseException):
                gas, failed = balances
                self.gas_balance = gas
                self.submitter.note_gas_balance(gas, settlements)
                errors += failed
        else:
            results = await asyncio.gather(
                self.rpc.get_balance(self.address, "latest"), self.fee_policy.suggest(),
                *(self.balance_of(t) for t in tokens), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            gas, fees = results[0], results[1]
            if not isinstance(gas, BaseException):
                self.gas_balance = gas
                self.submitter.note_gas_balance(gas, settlements)
        if not isinstance(fees, BaseException):
            self.fees = fees
            if self.head is not None and (not self.base_fee_history or self.base_fee_history[-1][0] != self.head.number):
                self.base_fee_history.append((self.head.number, fees.base_fee))
        self.last_refresh_error = str(errors[0]) if errors else None
        for e in errors:
            if not isinstance(e, (RpcError, OSError, asyncio.TimeoutError, MulticallFailed)):
                raise e

    async def _read_balances_multicall(self, tokens: list[str]) -> tuple[int, list[BaseException]]:
        """Our gas balance and every token's balance in one aggregate3 eth_call (`getEthBalance` of the
        Multicall3 itself + `balanceOf` per ERC20; the native sentinel is the gas balance). Each balance is
        cached under the same generation guard as `balance_of`: a `forget_balance` while this read is in
        flight keeps its (older) value out of the cache. Returns the gas balance and the per-token failures."""
        native = NATIVE_TOKEN.lower()
        keys = [t.lower() for t in tokens]
        generations = {key: self._balance_generation.get(key, 0) for key in keys}
        erc20s = [t for t in tokens if t.lower() != native]
        batch = [(self.multicall, encode_get_eth_balance(self.address))]
        batch += [(token, calls.encode_balance_of(self.address)) for token in erc20s]
        raw = await self.rpc.call(self.multicall, encode_aggregate3(batch, allow_failure=True), "latest")
        try:
            results = decode_aggregate3_results(raw)
        except MulticallFailed as exc:  # most likely no Multicall3 at multicall_address
            raise MulticallFailed(f"chain {self.chain_id}: multicall_address {self.multicall}: {exc}") from None
        if len(results) != len(batch):
            raise MulticallFailed(f"chain {self.chain_id}: multicall answered {len(results)} of {len(batch)} calls")
        values: dict[str, int] = {}
        failures: list[BaseException] = []
        ok, data = results[0]
        try:
            if not ok:
                raise MulticallFailed("reverted")
            gas = calls.decode_uint(data)
        except Exception as exc:  # noqa: BLE001 - not a Multicall3 at multicall_address, most likely
            raise MulticallFailed(f"chain {self.chain_id}: getEthBalance failed in the multicall at "
                                  f"{self.multicall} ({exc})") from None
        if native in generations:
            values[native] = gas
        for token, (ok, data) in zip(erc20s, results[1:]):
            try:
                if not ok:
                    raise MulticallFailed("reverted")
                values[token.lower()] = calls.decode_uint(data)
            except Exception as exc:  # noqa: BLE001 - one unreadable token must not hide the others
                failures.append(MulticallFailed(f"chain {self.chain_id}: balanceOf on token {token} failed "
                                                f"in the multicall ({exc})"))
        for key, value in values.items():
            if self._balance_generation.get(key, 0) == generations[key]:
                self.token_balances[key] = value
        return gas, failures

    async def dispute_period(self) -> int:
        if self._dispute_period is None:
            self._dispute_period = calls.decode_uint(await self.rpc.call(self.bridge, calls.DISPUTE_PERIOD))
        return self._dispute_period

    @property
    def known_dispute_period(self) -> int | None:
        """The bridge's dispute period if it has been read (by dispute_period())."""
        return self._dispute_period

    @property
    def head_age_seconds(self) -> float | None:
        if self.head_seen_monotonic is None:
            return None
        return time.monotonic() - self.head_seen_monotonic
