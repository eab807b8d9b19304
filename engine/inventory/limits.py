"""Exposure limits as decision gates: pure checks that name the limit and its numbers when they fail.

Each check returns a `engine.relayer.decisions.Gate`, so the relayer puts it in an order's decision trace
next to the other gates (a failed limit refuses the order: WillNotProcess). Amounts are integers in base
units; USD notionals are exact Fractions of the configured `price_usd`; windows run on chain time.
"""
from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from engine.config import Limits, MmtuiConfig, ResolvedToken, Route
from engine.relayer.decisions import Gate
from engine.units import format_units

__all__ = [
    "LimitName",
    "order_notional_usd",
    "format_usd",
    "max_relay_amount_gate",
    "max_balance_gate",
    "order_notional_gate",
    "route_enabled_gate",
    "NotionalWindow",
    "order_limit_gates",
]


class LimitName(StrEnum):
    max_relay_amount = "max_relay_amount"
    max_balance = "max_balance"
    max_order_notional = "max_order_notional_usd"
    max_window_notional = "max_window_notional_usd"
    route_enabled = "route_enabled"


def order_notional_usd(amount: int, token: ResolvedToken) -> Fraction:
    """`amount` base units of `token` in USD at its configured price, exactly."""
    return Fraction(amount, 10**token.decimals) * Fraction(token.price_usd)


def format_usd(value: Fraction | Decimal | int) -> str:
    """USD for people: up to 6 decimals, truncated toward zero, trailing zeros trimmed ("25000.5 USD").
    Display only: every comparison is made on the exact value."""
    return format_units(math.trunc(Fraction(value) * 10**6), 6, "USD")


def max_relay_amount_gate(amount: int, token: ResolvedToken) -> Gate:
    """originAmount <= the origin token's `max_relay_amount` (none configured: passes)."""
    shown = format_units(amount, token.decimals, token.symbol)
    if token.max_relay_amount is None:
        return Gate(LimitName.max_relay_amount, True, shown, "none", "no max_relay_amount")
    limit = format_units(token.max_relay_amount, token.decimals, token.symbol)
    passed = amount <= token.max_relay_amount
    return Gate(LimitName.max_relay_amount, passed, shown, limit,
                f"originAmount {shown} {'<=' if passed else '>'} max_relay_amount {limit} on chain {token.chain_id}")


def max_balance_gate(origin_balance: int, incoming: int, origin_amount: int, token: ResolvedToken) -> Gate:
    """After this order is claimed we hold `origin_balance + incoming + origin_amount` of the origin token
    (`incoming`: what is already owed to us there, relayed-not-claimed and rebalances in flight); it must
    stay <= `max_balance` (none configured: passes)."""
    after = origin_balance + incoming + origin_amount
    shown = format_units(after, token.decimals, token.symbol)
    if token.max_balance is None:
        return Gate(LimitName.max_balance, True, shown, "none", "no max_balance")
    limit = format_units(token.max_balance, token.decimals, token.symbol)
    passed = after <= token.max_balance
    return Gate(LimitName.max_balance, passed, shown, limit,
                f"balance after claim {shown} {'<=' if passed else '>'} max_balance {limit} on chain {token.chain_id}")


def order_notional_gate(amount: int, token: ResolvedToken, limits: Limits) -> Gate:
    """The order's notional (`amount` of `token`, the capital we front) <= `max_order_notional_usd`."""
    notional = order_notional_usd(amount, token)
    shown = format_usd(notional)
    if limits.max_order_notional_usd is None:
        return Gate(LimitName.max_order_notional, True, shown, "none", "no max_order_notional_usd")
    limit = format_usd(limits.max_order_notional_usd)
    passed = notional <= limits.max_order_notional_usd
    return Gate(LimitName.max_order_notional, passed, shown, limit,
                f"order notional {shown} ({format_units(amount, token.decimals, token.symbol)} at "
                f"{token.price_usd.normalize():f} USD) {'<=' if passed else '>'} max_order_notional_usd {limit}")


def route_enabled_gate(config: MmtuiConfig, route: Route, label: str | None = None) -> Gate:
    """Fails for a route listed in `limits.disabled_routes`. `label` is how the route is shown (symbols)."""
    shown = label or route.key
    disabled = config.route_disabled(route)
    return Gate(LimitName.route_enabled, not disabled, "disabled" if disabled else "enabled", "enabled",
                f"route {shown} disabled by limits.disabled_routes" if disabled else f"route {shown} enabled")


class NotionalWindow:
    """USD notional of the orders committed within the last `window_seconds` of chain time.

    Fed with (chain time, notional) of each committed order, in any order of arrival; an entry counts
    while `now - window_seconds < time <= now`. Older entries are dropped as time moves on.
    """

    def __init__(self, window_seconds: int, entries: Iterable[tuple[int, Fraction]] = ()) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self.window_seconds = window_seconds
        self._entries: deque[tuple[int, Fraction]] = deque(sorted((t, Fraction(n)) for t, n in entries))
        self._held = sum((n for _, n in self._entries), Fraction(0))  # of every entry held: asked per decision

    def add(self, time: int, notional: Fraction | Decimal | int) -> None:
        entry = (time, Fraction(notional))
        if not self._entries or self._entries[-1][0] <= time:
            self._entries.append(entry)
        else:  # a late arrival: keep the deque sorted by time
            self._entries = deque(sorted((*self._entries, entry)))
        self._held += entry[1]

    def remove(self, time: int, notional: Fraction | Decimal | int) -> None:
        """Take back an entry added for a commitment that was not made after all (if still held)."""
        entry = (time, Fraction(notional))
        try:
            self._entries.remove(entry)
        except ValueError:
            return  # already out of the window
        self._held -= entry[1]

    def total(self, now: int) -> Fraction:
        start = now - self.window_seconds
        while self._entries and self._entries[0][0] <= start:
            self._held -= self._entries.popleft()[1]
        # entries later than `now` (another chain's clock ahead) sit at the end and do not count yet
        ahead = sum((n for _, n in itertools.takewhile(lambda e: e[0] > now, reversed(self._entries))), Fraction(0))
        return self._held - ahead

    def gate(self, now: int, notional: Fraction, limits: Limits) -> Gate:
        """Committing `notional` more at chain time `now` keeps the window <= `max_window_notional_usd`."""
        used = self.total(now)
        after = used + notional
        shown = format_usd(after)
        if limits.max_window_notional_usd is None:
            return Gate(LimitName.max_window_notional, True, shown, "none", "no max_window_notional_usd")
        limit = format_usd(limits.max_window_notional_usd)
        passed = after <= limits.max_window_notional_usd
        return Gate(LimitName.max_window_notional, passed, shown, limit,
                    f"window notional {format_usd(used)} + order {format_usd(notional)} = {shown} "
                    f"{'<=' if passed else '>'} max_window_notional_usd {limit} per {self.window_seconds} s")


def order_limit_gates(
    config: MmtuiConfig,
    route: Route,
    *,
    origin_amount: int,
    dest_amount: int,
    origin_balance: int,
    origin_incoming: int,
    window: NotionalWindow,
    now: int,
) -> tuple[Gate, ...]:
    """Every limit for one order, in this order: route enabled, max_relay_amount, max_balance, order
    notional, window notional. Notionals are the dest amount at the dest token's price (the capital the
    relay fronts). `now` is the chain time the order would be committed at."""
    origin_token = config.token_by_address(route.origin_chain_id, route.origin_token)
    dest_token = config.token_by_address(route.dest_chain_id, route.dest_token)
    if origin_token is None or dest_token is None:
        raise KeyError(f"route {route.key}: token not configured")
    label = f"{route.origin_chain_id}:{origin_token.symbol} -> {route.dest_chain_id}:{dest_token.symbol}"
    return (
        route_enabled_gate(config, route, label),
        max_relay_amount_gate(origin_amount, origin_token),
        max_balance_gate(origin_balance, origin_incoming, origin_amount, origin_token),
        order_notional_gate(dest_amount, dest_token, config.limits),
        window.gate(now, order_notional_usd(dest_amount, dest_token), config.limits),
    )
