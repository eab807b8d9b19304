"""Circuit-breaker rules: pure, deterministic evaluation of per-block readings against configured rules.

Nothing here does I/O or reads a clock: the caller passes the readings and the wall time ``now``
(unix seconds), so the same inputs always give the same states. Money and percentages are exact:
token amounts are ints, ratios are ``Fraction``, configured thresholds are ``Decimal`` converted
exactly.

A rule LATCHES: once tripped it stays tripped with the evidence of the trip, whatever later readings
say, until a person calls ``BreakerBoard.reset(name)``.

Thresholds per kind (the units the YAML uses, see examples/config.example.yml):

==================  =============================================================================
supply_jump         % move of a token's total supply against ``window_blocks`` (default 1) earlier
price_drop          % drop of a pool's spot price against ``window_blocks`` (default 1) earlier
price_deviation     % deviation of the pool's USD spot price from the token's configured price_usd
gas_price_cap       gwei; the head's base fee (eth_gasPrice when the chain has no base fee)
gas_balance_low     native tokens (e.g. 0.1 ETH); 0 means the chain's ``min_gas_token``
head_stale          seconds since the last new head was seen (wall time)
rpc_failing         seconds the chain's RPC has been failing without a success in between
inventory_drain     % drop of the relayer's balance of a token within ``window_blocks`` (default 1)
failure_rate        share 0..1 of failed relay/prove/claim attempts among those in the window
==================  =============================================================================

A value strictly above the threshold trips (below it for gas_balance_low); equal does not.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from engine.config import NATIVE_TOKEN_ADDRESS, BreakerRule, MmtuiConfig, Route, to_base_units
from engine.units import format_units

GWEI = 10**9
NATIVE = NATIVE_TOKEN_ADDRESS.lower()
#: kinds evaluated from per-block chain readings (the others from health or failure tallies)
READING_KINDS = ("supply_jump", "price_drop", "price_deviation", "gas_price_cap", "gas_balance_low",
                 "inventory_drain")
HEALTH_KINDS = ("head_stale", "rpc_failing")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({key.lower(): value for key, value in mapping.items()})


@dataclass(frozen=True, slots=True)
class PoolReading:
    """A constant-product reference pool at one block: ``token`` priced in ``quote_token``."""

    pool: str  # lowercase address
    token: str  # lowercase address of the priced token (the pool's token0)
    quote_token: str  # lowercase address (token1)
    reserve_token: int  # base units
    reserve_quote: int  # base units
    token_decimals: int
    quote_decimals: int

    @property
    def spot_price(self) -> Fraction | None:
        """Whole quote tokens per whole token; None for an empty pool."""
        if self.reserve_token == 0:
            return None
        return Fraction(self.reserve_quote * 10**self.token_decimals,
                        self.reserve_token * 10**self.quote_decimals)


@dataclass(frozen=True, slots=True)
class ChainReading:
    """What the breakers watch on one chain at one block, read in one multicall."""

    chain_id: int
    block_number: int
    block_hash: str  # 0x lowercase hex
    block_timestamp: int  # chain time, unix seconds
    total_supplies: Mapping[str, int]  # lowercase token address -> total supply
    pools: Mapping[str, PoolReading]  # lowercase pool address -> reading
    balances: Mapping[str, int]  # lowercase token address -> relayer balance (native: the gas token)
    gas_balance: int  # relayer's native balance, wei
    base_fee: int | None  # wei; None on chains without EIP-1559
    gas_price: int | None = None  # wei, eth_gasPrice, used when base_fee is None

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_supplies", _frozen(self.total_supplies))
        object.__setattr__(self, "pools", _frozen(self.pools))
        object.__setattr__(self, "balances", _frozen(self.balances))
        object.__setattr__(self, "block_hash", self.block_hash.lower())


@dataclass(frozen=True, slots=True)
class ChainHealth:
    """A chain's liveness as the engine sees it (wall time, unix seconds)."""

    chain_id: int
    last_head_at: float | None  # when the last NEW head was seen; None before the first
    failing_since: float | None = None  # first RPC failure with no success after it; None when healthy
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class FailureTally:
    """Relay/prove/claim attempts and failures of one route in the rule's window, counted by the engine."""

    route: Route
    stage: str  # "relay" | "prove" | "claim"
    attempts: int
    failures: int


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What the rules need to know about a configured token to explain and price it."""

    symbol: str
    decimals: int
    price_usd: Decimal


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One rule's state for the operator and the relayer. ``value``/``threshold`` are in the kind's unit."""

    name: str
    kind: str
    level: str  # global | chain | token | route
    chain_id: int | None
    token: str | None  # checksum address (level token)
    route: Route | None
    tripped: bool
    value: Fraction | None  # the last measured worst value in scope; None when nothing to measure
    threshold: Decimal
    since: float | None = None  # wall time of the trip
    evidence: Mapping[str, Any] = field(default_factory=dict)  # the readings that tripped it
    text: str = ""  # "USDC total supply +250.00 % in 1 block > 50 %"
    token_symbol: str | None = None  # level token

    @property
    def scope(self) -> str:
        if self.level == "global":
            return "global"
        if self.level == "chain":
            return f"chain {self.chain_id}"
        if self.level == "token":
            return f"token {self.chain_id}:{self.token_symbol or self.token}"
        assert self.route is not None
        return f"route {self.route.key}"


@dataclass(frozen=True, slots=True)
class _Measurement:
    value: Fraction
    tripped: bool
    text: str
    evidence: dict[str, Any]


def _fixed(value: Fraction, places: int = 2) -> str:
    """Exact decimal text of ``value`` rounded half-even to ``places`` (no float on the way)."""
    scaled = round(abs(value) * 10**places)
    whole, frac = divmod(scaled, 10**places)
    sign = "-" if value < 0 and scaled else ""
    return f"{sign}{whole}.{frac:0{places}d}" if places else f"{sign}{whole}"


def _pct(value: Fraction) -> str:
    return _fixed(value, 2)


def _signed_pct(value: Fraction) -> str:
    return ("+" if value >= 0 else "-") + _pct(abs(value))


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _blocks(n: int) -> str:
    return "1 block" if n == 1 else f"{n} blocks"


class BreakerBoard:
    """The configured rules, their latched states and the recent readings they compare against.

    Feed it with ``observe_reading`` (each new canonical head), ``observe_health`` (on every poll)
    and ``observe_failures``; each returns the states that tripped just now, for the journal and alerts.
    The relayer asks ``halts(...)`` before every new commitment or quote.
    """

    def __init__(self, rules: Sequence[BreakerRule], tokens: Mapping[tuple[int, str], TokenFacts],
                 min_gas_token: Mapping[int, int], *, native_decimals: int = 18) -> None:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError("breaker rule names must be unique")
        self._rules = {rule.name: rule for rule in rules}
        self._tokens = {(chain, address.lower()): facts for (chain, address), facts in tokens.items()}
        self._min_gas_token = dict(min_gas_token)
        self._native_decimals = native_decimals
        self._states = {rule.name: self._idle(rule) for rule in rules}
        depth = max([rule.window_blocks or 1 for rule in rules], default=1)
        self._history_depth = depth
        self._history: dict[int, deque[ChainReading]] = {}

    @classmethod
    def from_config(cls, config: MmtuiConfig,
                    extra_tokens: Mapping[tuple[int, str], TokenFacts] = MappingProxyType({})) -> BreakerBoard:
        """Rules and token facts from the config; ``extra_tokens`` adds pools' quote tokens the
        config does not list (the devnet's USDR reference stable)."""
        tokens = {(chain.chain_id, token.address.lower()): TokenFacts(token.symbol, token.decimals, token.price_usd)
                  for chain in config.chains.values() for token in chain.tokens.values()}
        tokens.update(extra_tokens)
        return cls(config.breakers, tokens, {cid: chain.min_gas_token for cid, chain in config.chains.items()})

    # ------------------------------------------------------------------ queries

    def states(self) -> tuple[BreakerState, ...]:
        return tuple(self._states.values())

    def state(self, name: str) -> BreakerState:
        return self._states[name]

    def tripped(self) -> tuple[BreakerState, ...]:
        return tuple(s for s in self._states.values() if s.tripped)

    def halts(self, chain_id: int | None = None, token: str | None = None,
              route: Route | None = None) -> tuple[BreakerState, ...]:
        """The tripped rules that halt a new commitment or quote on ``chain_id``/``token`` or on
        ``route`` (both of its ends count: a bad origin token must not be paid for with good ones).
        Empty means go."""
        places: set[tuple[int, str | None]] = set()
        if chain_id is not None:
            places.add((chain_id, token.lower() if token else None))
        if route is not None:
            places.add((route.origin_chain_id, route.origin_token.lower()))
            places.add((route.dest_chain_id, route.dest_token.lower()))
        halting = []
        for state in self._states.values():
            if not state.tripped:
                continue
            if state.level == "global":
                halting.append(state)
            elif state.level == "chain" and any(c == state.chain_id for c, _ in places):
                halting.append(state)
            elif state.level == "token" and (state.chain_id, (state.token or "").lower()) in places:
                halting.append(state)
            elif state.level == "route" and route is not None and state.route == route:
                halting.append(state)
        return tuple(halting)

    def stops(self, chain_id: int | None = None, token: str | None = None,
              route: Route | None = None) -> tuple[BreakerState, ...]:
        """The tripped rules in scope whose rule says ``stop_in_flight``: work already in flight there
        (relays of committed orders, proves, claims) is held too, not only new commitments."""
        return tuple(s for s in self.halts(chain_id, token, route) if self._rules[s.name].stop_in_flight)

    # ------------------------------------------------------------------ operator

    def reset(self, name: str) -> BreakerState:
        """A person resumes the scope: the rule starts measuring afresh (KeyError for an unknown name)."""
        rule = self._rules[name]
        self._states[name] = self._idle(rule)
        return self._states[name]

    def restore(self, state: BreakerState) -> None:
        """Re-latch a trip remembered across a restart (from the journal); unknown names are ignored."""
        if state.name in self._rules and state.tripped:
            self._states[state.name] = state

    # ------------------------------------------------------------------ inputs

    def observe_reading(self, reading: ChainReading, *, now: float) -> list[BreakerState]:
        """A new canonical head's reading. A reading at or below a remembered block number (a reorg)
        replaces the history from that block on, so comparisons never span two forks."""
        history = self._history.setdefault(reading.chain_id, deque(maxlen=self._history_depth + 1))
        while history and history[-1].block_number >= reading.block_number:
            history.pop()
        history.append(reading)
        return self._evaluate(READING_KINDS, now, lambda rule: self._measure_reading(rule, reading, history))

    def observe_pool_events(self, chain_id: int, block_number: int, block_hash: str, parent_hash: str,
                            events: Iterable[Any], *, now: float) -> list[BreakerState]:
        """The swap-event watcher: a canonical block's Swap/Sync logs of the reference pools (see
        readings.canonical_pool_events). For each pool that synced in the block, its LOWEST spot price
        within the block is compared with its closing price of the previous block, so a crash undone
        within the same block (a flash loan) trips price_drop even though the block's closing reading
        looks calm. The previous close is the reading of the parent block (matched by hash, never a
        block of another fork); when the reading at the previous height is of another fork, the pool's
        reserves before the block's first swap. A block with no reading before it is not judged.
        Events whose block hash is not ``block_hash`` (logs of a block reorged away) are ignored."""
        block_hash = block_hash.lower()
        events = [e for e in events if e.block_number == block_number and e.block_hash.lower() == block_hash]
        if not events:
            return []
        history = self._history.get(chain_id, ())
        if not any(r.block_number == block_number - 1 for r in history):
            return []  # the first block this run sees is not judged (as no rule compares it with anything)
        parent = next((r for r in history if r.block_number == block_number - 1
                       and r.block_hash == parent_hash.lower()), None)
        lows: dict[str, tuple[PoolReading, PoolReading | None, Any]] = {}
        pending_swap: dict[str, Any] = {}
        for event in sorted(events, key=lambda e: e.log_index):
            pool = event.pool.lower()
            if not hasattr(event, "reserve_token"):  # a Swap: its Sync follows in the same call
                pending_swap[pool] = event
                continue
            template = (parent.pools.get(pool) if parent is not None else None) or self._pool_template(chain_id, pool)
            if template is None:
                continue
            after = replace(template, reserve_token=event.reserve_token, reserve_quote=event.reserve_quote)
            swap = pending_swap.pop(pool, None)
            if pool not in lows:
                opening = parent.pools.get(pool) if parent is not None else None
                if opening is None and swap is not None:  # undo the block's first swap
                    into_token = swap.token_in == template.token
                    opening = replace(template,
                                      reserve_token=after.reserve_token - swap.amount_in if into_token
                                      else after.reserve_token + swap.amount_out,
                                      reserve_quote=after.reserve_quote + swap.amount_out if into_token
                                      else after.reserve_quote - swap.amount_in)
                lows[pool] = (after, opening, event)
            else:
                low, opening, at = lows[pool]
                if after.spot_price is not None and (low.spot_price is None or after.spot_price < low.spot_price):
                    lows[pool] = (after, opening, event)
        return self._evaluate(("price_drop",), now, lambda rule: [
            self._intra_block_drop(rule, chain_id, block_number, block_hash, low, opening, at, parent is not None)
            for low, opening, at in lows.values()])

    def _pool_template(self, chain_id: int, pool: str) -> PoolReading | None:
        for reading in reversed(self._history.get(chain_id, ())):
            if pool in reading.pools:
                return reading.pools[pool]
        return None

    def _intra_block_drop(self, rule: BreakerRule, chain: int, block_number: int, block_hash: str,
                          low: PoolReading, opening: PoolReading | None, at: Any,
                          from_parent: bool) -> _Measurement | None:
        if opening is None or not self._in_scope(rule, chain, low.token):
            return None
        now_price, then_price = low.spot_price, opening.spot_price
        if now_price is None or not then_price:
            return None
        drop = (then_price - now_price) / then_price * 100
        tripped = drop > Fraction(rule.threshold)
        return _Measurement(drop, tripped,
                            f"{self._symbol(chain, low.token)} spot price {_signed_pct(-drop)} % within block "
                            f"#{block_number} (swap) {'>' if tripped else '<='} -{_num(rule.threshold)} %",
                            {"chain_id": chain, "block_number": block_number, "block_hash": block_hash,
                             "source": "swap_events", "pool": low.pool, "token": low.token,
                             "log_index": at.log_index, "reserves": [low.reserve_token, low.reserve_quote],
                             "previous_reserves": [opening.reserve_token, opening.reserve_quote],
                             "previous_from": "parent block reading" if from_parent else "before the first swap"})

    def observe_health(self, health: ChainHealth, *, now: float) -> list[BreakerState]:
        return self._evaluate(HEALTH_KINDS, now, lambda rule: self._measure_health(rule, health, now))

    def observe_failures(self, tallies: Iterable[FailureTally], *, now: float,
                         rules: Collection[str] | None = None) -> list[BreakerState]:
        """``tallies`` counted over one window; ``rules`` limits the evaluation to the failure_rate rules
        of that window (rules with different windows are fed their own tallies)."""
        tallies = tuple(tallies)
        return self._evaluate(("failure_rate",), now, lambda rule: self._measure_failures(rule, tallies),
                              only=rules)

    # ------------------------------------------------------------------ evaluation

    def _idle(self, rule: BreakerRule) -> BreakerState:
        return BreakerState(rule.name, rule.kind, rule.level, rule.chain_id, rule.token_address, rule.route,
                            tripped=False, value=None, threshold=rule.threshold, token_symbol=rule.token)

    def _evaluate(self, kinds: Sequence[str], now: float, measure,
                  only: Collection[str] | None = None) -> list[BreakerState]:
        newly_tripped = []
        for name, rule in self._rules.items():
            state = self._states[name]
            if rule.kind not in kinds or state.tripped or (only is not None and name not in only):
                continue
            measurements = [m for m in measure(rule) if m is not None]
            if not measurements:
                continue
            worst = max(measurements, key=lambda m: (m.tripped, m.value))
            if worst.tripped:
                state = replace(state, tripped=True, value=worst.value, since=now,
                                evidence=MappingProxyType(worst.evidence), text=worst.text)
                newly_tripped.append(state)
            else:
                # Below gas_balance_low's threshold the smallest balance is the worst one.
                shown = min(measurements, key=lambda m: m.value) if rule.kind == "gas_balance_low" else worst
                state = replace(state, value=shown.value, text=shown.text, evidence=MappingProxyType(shown.evidence))
            self._states[name] = state
        return newly_tripped

    def _in_scope(self, rule: BreakerRule, chain_id: int, token: str | None = None) -> bool:
        if rule.level == "global":
            return True
        if rule.chain_id != chain_id:
            return False
        return rule.level == "chain" or token is None or (rule.token_address or "").lower() == token

    def _symbol(self, chain_id: int, token: str) -> str:
        facts = self._tokens.get((chain_id, token))
        return facts.symbol if facts else token

    def _earlier(self, rule: BreakerRule, history: deque[ChainReading]) -> ChainReading | None:
        """The reading ``window_blocks`` before the newest one, exactly that block or None."""
        blocks = rule.window_blocks or 1
        newest = history[-1]
        for reading in history:
            if reading.block_number == newest.block_number - blocks:
                return reading
        return None

    def _measure_reading(self, rule: BreakerRule, reading: ChainReading,
                         history: deque[ChainReading]) -> list[_Measurement | None]:
        chain = reading.chain_id
        if not self._in_scope(rule, chain):
            return []
        threshold = Fraction(rule.threshold)
        base = {"chain_id": chain, "block_number": reading.block_number, "block_hash": reading.block_hash,
                "block_timestamp": reading.block_timestamp}
        if rule.kind == "gas_price_cap":
            price = reading.base_fee if reading.base_fee is not None else reading.gas_price
            if price is None:
                return []
            cap = to_base_units(rule.threshold, 9)
            label = "base fee" if reading.base_fee is not None else "gas price"
            return [_Measurement(Fraction(price, GWEI), price > cap,
                                 f"chain {chain} {label} {_num(Decimal(price) / GWEI)} gwei "
                                 f"{'>' if price > cap else '<='} {_num(rule.threshold)} gwei",
                                 {**base, "gas_price_wei": price, "cap_wei": cap})]
        if rule.kind == "gas_balance_low":
            floor = (to_base_units(rule.threshold, self._native_decimals) if rule.threshold
                     else self._min_gas_token.get(chain, 0))
            balance = reading.gas_balance
            low = balance < floor
            return [_Measurement(Fraction(balance, 10**self._native_decimals), low,
                                 f"chain {chain} gas balance {format_units(balance, self._native_decimals, '')} "
                                 f"{'<' if low else '>='} {format_units(floor, self._native_decimals, '')}",
                                 {**base, "gas_balance_wei": balance, "floor_wei": floor})]
        if rule.kind == "price_deviation":
            return [self._deviation(rule, threshold, chain, pool, base) for pool in reading.pools.values()
                    if self._in_scope(rule, chain, pool.token)]
        earlier = self._earlier(rule, history)
        if earlier is None:
            return []
        blocks = reading.block_number - earlier.block_number
        base["previous_block_number"] = earlier.block_number
        base["previous_block_hash"] = earlier.block_hash
        out: list[_Measurement | None] = []
        if rule.kind == "supply_jump":
            for token, supply in reading.total_supplies.items():
                before = earlier.total_supplies.get(token)
                if before is None or not self._in_scope(rule, chain, token):
                    continue
                if not before:  # a move from zero supply has no percentage; watched tokens are never empty
                    continue
                move = Fraction(supply - before, before) * 100
                tripped = abs(move) > threshold
                out.append(_Measurement(abs(move), tripped,
                           f"{self._symbol(chain, token)} total supply {_signed_pct(move)} % in {_blocks(blocks)} "
                           f"{'>' if tripped else '<='} {_num(rule.threshold)} %",
                           {**base, "token": token, "supply": supply, "previous_supply": before}))
        elif rule.kind == "price_drop":
            for address, pool in reading.pools.items():
                before = earlier.pools.get(address)
                if before is None or not self._in_scope(rule, chain, pool.token):
                    continue
                now_price, then_price = pool.spot_price, before.spot_price
                if now_price is None or then_price is None:
                    continue
                drop = (then_price - now_price) / then_price * 100
                tripped = drop > threshold
                out.append(_Measurement(drop, tripped,
                           f"{self._symbol(chain, pool.token)} spot price {_signed_pct(-drop)} % in {_blocks(blocks)} "
                           f"{'>' if tripped else '<='} -{_num(rule.threshold)} %",
                           {**base, "pool": address, "token": pool.token,
                            "reserves": [pool.reserve_token, pool.reserve_quote],
                            "previous_reserves": [before.reserve_token, before.reserve_quote]}))
        elif rule.kind == "inventory_drain":
            for token, balance in reading.balances.items():
                before = earlier.balances.get(token)
                if not before or not self._in_scope(rule, chain, token):
                    continue
                drain = Fraction(before - balance, before) * 100
                tripped = drain > threshold
                out.append(_Measurement(drain, tripped,
                           f"{self._symbol(chain, token)} inventory {_signed_pct(-drain)} % in {_blocks(blocks)} "
                           f"{'>' if tripped else '<='} -{_num(rule.threshold)} %",
                           {**base, "token": token, "balance": balance, "previous_balance": before}))
        return out

    def _deviation(self, rule: BreakerRule, threshold: Fraction, chain: int, pool: PoolReading,
                   base: dict[str, Any]) -> _Measurement | None:
        token, quote = self._tokens.get((chain, pool.token)), self._tokens.get((chain, pool.quote_token))
        spot = pool.spot_price
        if token is None or quote is None or spot is None or not token.price_usd:
            return None
        expected = Fraction(token.price_usd)
        spot_usd = spot * Fraction(quote.price_usd)
        deviation = abs(spot_usd - expected) / expected * 100
        tripped = deviation > threshold
        return _Measurement(deviation, tripped,
                            f"{token.symbol} spot {_fixed(spot_usd, 6)} USD deviates {_pct(deviation)} % from "
                            f"{_num(token.price_usd)} USD {'>' if tripped else '<='} {_num(rule.threshold)} %",
                            {**base, "pool": pool.pool, "token": pool.token,
                             "reserves": [pool.reserve_token, pool.reserve_quote],
                             "configured_price_usd": str(token.price_usd)})

    def _measure_health(self, rule: BreakerRule, health: ChainHealth, now: float) -> list[_Measurement | None]:
        chain = health.chain_id
        if not self._in_scope(rule, chain):
            return []
        threshold = Fraction(rule.threshold)
        if rule.kind == "head_stale":
            if health.last_head_at is None:
                return []
            age = Fraction(now) - Fraction(health.last_head_at)
            tripped = age > threshold
            return [_Measurement(age, tripped,
                                 f"chain {chain} no new head for {_fixed(age, 1)} s "
                                 f"{'>' if tripped else '<='} {_num(rule.threshold)} s",
                                 {"chain_id": chain, "last_head_at": health.last_head_at, "now": now,
                                  "last_error": health.last_error})]
        if health.failing_since is None:
            return [_Measurement(Fraction(0), False, f"chain {chain} RPC healthy", {"chain_id": chain})]
        failing = Fraction(now) - Fraction(health.failing_since)
        tripped = failing > threshold
        return [_Measurement(failing, tripped,
                             f"chain {chain} RPC failing for {_fixed(failing, 1)} s "
                             f"{'>' if tripped else '<='} {_num(rule.threshold)} s",
                             {"chain_id": chain, "failing_since": health.failing_since, "now": now,
                              "last_error": health.last_error})]

    def _measure_failures(self, rule: BreakerRule, tallies: tuple[FailureTally, ...]) -> list[_Measurement | None]:
        if rule.level == "route":
            groups = {rule.route: [t for t in tallies if t.route == rule.route]}
        elif rule.level == "chain":
            # A route touches a chain at either end; its failures count against both.
            groups = {rule.chain_id: [t for t in tallies
                                      if rule.chain_id in (t.route.origin_chain_id, t.route.dest_chain_id)]}
        else:
            groups = {"all": list(tallies)}
        out = []
        for group in groups.values():
            attempts = sum(t.attempts for t in group)
            failures = sum(t.failures for t in group)
            if attempts == 0:
                continue
            by_stage: dict[str, list[int]] = {}
            for t in group:
                counts = by_stage.setdefault(t.stage, [0, 0])
                counts[0] += t.failures
                counts[1] += t.attempts
            rate = Fraction(failures, attempts)
            judged = attempts >= (rule.min_attempts or 1)
            tripped = judged and rate > Fraction(rule.threshold)
            text = (f"{failures}/{attempts} relay/prove/claim attempts failed "
                    f"({_pct(rate * 100)} %) {'>' if tripped else '<='} {_pct(Fraction(rule.threshold) * 100)} %")
            if not judged:
                text = (f"{failures}/{attempts} relay/prove/claim attempts failed: fewer than "
                        f"{rule.min_attempts} attempts, not judged")
            out.append(_Measurement(rate, tripped, text,
                                    {"failures": failures, "attempts": attempts,
                                     "min_attempts": rule.min_attempts, "by_stage": by_stage}))
        return out
