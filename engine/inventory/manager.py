"""The engine's capital desk: quotes refreshed every second, rebalance proposals every
`rebalance_interval`, and the execution of approved rebalances (CCTP burn/mint), durable across restarts.

Safety rules:
* A rebalance never spends committed funds: at approval its amount must fit in the origin's spendable
  balance (on-chain balance minus what orders have committed there).
* Each transaction of a rebalance is recorded in the SAME database transaction as its signed bytes
  (the submitter's `on_persist`), so a crash never makes it burn twice.
* Funds leaving a chain by a burn drop that chain's cached balance (`forget_balance`) before any
  commitment is judged against it again.
* At most one rebalance per token is proposed or in flight (the canonical rule).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.api import QuoteView, RebalanceView
from engine.chain.live import LiveChain
from engine.chain.rpc import TxReceipt
from engine.chain.submitter import OutboundTxRef, TxStatus
from engine.config import MmtuiConfig, Route
from engine.inventory.cctp import AttestationSource, CctpRebalance, CctpRebalanceDriver, RebalanceStatus
from engine.inventory.quotes import Quote, build_quotes
from engine.inventory.rebalance import RebalanceProposal, propose_rebalances
from engine.inventory.rfq_push import QuotePusher
from engine.protocol.codec import checksum_address
from engine.store import Database, OutboundTx, Rebalance
from engine.store.models import REBALANCE_ACTIVE_STATES
from engine.units import format_units

log = logging.getLogger(__name__)

QUOTE_INTERVAL_SECONDS = 1.0
REBALANCE_TIMEOUT_SECONDS = 3600
EventListener = Callable[[str, str], None]  # (level, text)
# (chain id, lowercase token) -> committed destAmount there
CommittedAmounts = Callable[[], Mapping[tuple[int, str], int]]

_STATE_OF = {RebalanceStatus.Initiated: "initiated", RebalanceStatus.Pending: "pending",
             RebalanceStatus.Completed: "done", RebalanceStatus.Failed: "failed"}


def progress_to_json(r: CctpRebalance) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(r):
        value = getattr(r, f.name)
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # JSON numbers are not exact beyond 2**53
        elif isinstance(value, RebalanceStatus):
            value = value.value
        out[f.name] = value
    return out


_INT_FIELDS = frozenset({"amount", "decimals", "origin_chain_id", "dest_chain_id", "origin_domain", "dest_domain",
                         "started_at", "timeout_seconds"})


def progress_from_json(data: Mapping[str, Any]) -> CctpRebalance:
    kwargs: dict[str, Any] = {}
    for f in fields(CctpRebalance):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in ("message", "attestation") and value is not None:
            value = bytes.fromhex(value[2:])
        elif f.name == "status":
            value = RebalanceStatus(value)
        elif f.name in _INT_FIELDS:
            value = int(value)
        kwargs[f.name] = value
    return CctpRebalance(**kwargs)


class CapitalDesk:
    def __init__(self, config: MmtuiConfig, db: Database, chains: Mapping[int, LiveChain], account: LocalAccount,
                 *, committed: CommittedAmounts, attestations: AttestationSource | None,
                 on_event: EventListener | None = None, environ: Mapping[str, str] | None = None,
                 is_halted: Callable[[int, str, Route], str | None] | None = None) -> None:
        self.config = config
        self.db = db
        self.chains = chains
        self.address = checksum_address(account.address)
        self._committed = committed
        self._attestations = attestations
        self.on_event = on_event or (lambda level, text: None)
        self.is_halted = is_halted or (lambda chain_id, token, route: None)  # the circuit breakers
        self.quotes: tuple[Quote, ...] = ()
        self.quotes_at: float | None = None
        self._rows: dict[int, Rebalance] = {}  # active and recent rebalances, by id
        self._last_proposal_run = 0.0
        self.last_proposals: tuple[str, ...] = ()  # why each token was or was not proposed, last run
        self._lock = asyncio.Lock()  # one decision about rebalances at a time (propose, approve, step)
        self.pusher: QuotePusher | None = None
        if config.rfq_api is not None:
            try:
                self.pusher = QuotePusher.from_config(config.rfq_api, account, environ or {})
            except Exception as exc:  # noqa: BLE001 - quoting still works locally; the operator is told
                self.on_event("error", f"RFQ quote push disabled: {exc}")

    # ------------------------------------------------------------------ lifecycle

    async def load(self) -> None:
        async with self.db.read() as s:
            rows = (await s.scalars(select(Rebalance).order_by(Rebalance.id.desc()).limit(50))).all()
            active = (await s.scalars(select(Rebalance).where(Rebalance.state.in_(REBALANCE_ACTIVE_STATES)))).all()
        self._rows = {r.id: r for r in (*rows, *active)}

    async def run(self, stop: asyncio.Event) -> None:
        if self.pusher is not None:
            self.pusher.start()
        try:
            while not stop.is_set():
                self.refresh_quotes()
                try:
                    await self._tick()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - retried next second; the operator sees it
                    log.exception("rebalancing step failed")
                    self.on_event("error", f"rebalancing: {type(exc).__name__}: {exc}")
                try:
                    await asyncio.wait_for(stop.wait(), QUOTE_INTERVAL_SECONDS)
                except TimeoutError:
                    pass
        finally:
            if self.pusher is not None:
                await self.pusher.aclose()

    async def _tick(self) -> None:
        if time.monotonic() - self._last_proposal_run >= self.config.rebalance_interval_seconds:
            self._last_proposal_run = time.monotonic()
            await self.propose()
        for row in [r for r in self._rows.values() if r.state in ("initiated", "pending")]:
            await self._step(row.id)

    # ------------------------------------------------------------------ quotes

    def _balances(self) -> dict[tuple[int, str], int]:
        out = {}
        for chain in self.chains.values():
            for token in chain.config.tokens.values():
                value = chain.cached_balance(token.address)
                if value is not None:
                    out[(chain.chain_id, token.address)] = value
        return out

    def refresh_quotes(self) -> None:
        committed = {(c, checksum_address(t)): v for (c, t), v in self._committed().items()}
        gas = {c.chain_id: c.gas_balance for c in self.chains.values() if c.gas_balance is not None}
        prices = {c.chain_id: c.gas_price_estimate() for c in self.chains.values() if c.fees is not None}
        quotes = build_quotes(self.config, self._balances(), committed, gas, prices)
        # a route a breaker halts is quoted at zero, with the rule named
        self.quotes = tuple(q if (why := self.is_halted(q.dest_chain_id, q.route.dest_token, q.route)) is None
                            else replace(q, max_origin_amount=0, dest_amount=0, limited_by=why) for q in quotes)
        self.quotes_at = time.monotonic()
        if self.pusher is not None and self.quotes:
            self.pusher.publish(self.quotes)

    def quote_views(self) -> tuple[QuoteView, ...]:
        return tuple(QuoteView(q.origin_chain_id, q.origin_symbol, q.dest_chain_id, q.dest_symbol, q.origin_decimals,
                               q.dest_decimals, q.max_origin_amount, q.dest_amount, q.fixed_fee, q.limited_by)
                     for q in self.quotes)

    # ------------------------------------------------------------------ proposals

    def pending_symbols(self) -> set[str]:
        return {r.symbol for r in self._rows.values() if r.state in REBALANCE_ACTIVE_STATES}

    async def propose(self) -> list[int]:
        """Run the canonical algorithm once; store each proposal (manual) or start it (auto)."""
        created: list[int] = []
        async with self._lock:
            outcomes = propose_rebalances(self.config, self._balances(), self.pending_symbols())
            self.last_proposals = tuple(f"{o.token}/{o.method}: {o.reason}" for o in outcomes)
            for outcome in outcomes:
                if outcome.proposal is None:
                    continue
                row = await self._store_proposal(outcome.proposal)
                created.append(row.id)
                self.on_event("info", f"rebalance #{row.id} proposed: {self._label(row)} ({row.mode}): "
                                      f"{outcome.reason}")
        for rebalance_id in created:
            if self._rows[rebalance_id].mode == "auto":
                ok, message = await self.approve(rebalance_id, actor="auto")
                self.on_event("info" if ok else "warning", f"rebalance #{rebalance_id} (auto): {message}")
        return created

    async def _store_proposal(self, p: RebalanceProposal) -> Rebalance:
        async with self.db.write() as s:
            row = Rebalance(symbol=p.token, method=p.method, mode=p.mode, origin_chain_id=p.origin_chain_id,
                            dest_chain_id=p.dest_chain_id, origin_token=p.origin_token.lower(),
                            dest_token=p.dest_token.lower(), amount=p.amount, decimals=p.decimals, state="proposed",
                            reason="; ".join(p.reasons)[:2000], progress=None)
            s.add(row)
            await s.flush()
        self._rows[row.id] = row
        return row

    # ------------------------------------------------------------------ operator decisions

    async def approve(self, rebalance_id: int, *, actor: str = "operator") -> tuple[bool, str]:
        async with self._lock:
            row = self._rows.get(rebalance_id)
            if row is None:
                return False, f"no rebalance #{rebalance_id}"
            if row.state != "proposed":
                return False, f"rebalance #{rebalance_id} is {row.state}, not proposed"
            origin = self.chains.get(row.origin_chain_id)
            if origin is None or origin.chain_time is None:
                return False, f"chain {row.origin_chain_id} has no head yet"
            balance = await origin.balance_of(row.origin_token)
            committed = self._committed().get((row.origin_chain_id, row.origin_token.lower()), 0)
            spendable = max(0, balance - committed)
            if row.amount > spendable:
                return False, (f"not approved: {self._units(row, row.amount)} exceeds the spendable "
                               f"{self._units(row, spendable)} on chain {row.origin_chain_id} "
                               f"(balance {self._units(row, balance)}, committed {self._units(row, committed)})")
            if row.method not in ("cctp", "circlecctp"):
                return False, f"rebalance method {row.method!r} cannot be executed by this engine"
            if self._attestations is None:
                return False, "no attestation source configured for CCTP"
            try:
                progress = CctpRebalance.initiate(self._proposal_of(row), self.config, self.address,
                                                  now=origin.chain_time, timeout_seconds=REBALANCE_TIMEOUT_SECONDS)
            except ValueError as exc:
                return False, f"not approved: {exc}"
            await self._update(row.id, state="initiated", progress=progress_to_json(progress),
                               reason=f"approved by {actor}")
        await self._step(rebalance_id)
        return True, f"rebalance #{rebalance_id} approved: {self._label(self._rows[rebalance_id])}"

    async def reject(self, rebalance_id: int, *, actor: str = "operator") -> tuple[bool, str]:
        async with self._lock:
            row = self._rows.get(rebalance_id)
            if row is None:
                return False, f"no rebalance #{rebalance_id}"
            if row.state != "proposed":
                return False, f"rebalance #{rebalance_id} is {row.state}, not proposed"
            await self._update(row.id, state="rejected", reason=f"rejected by {actor}")
        return True, f"rebalance #{rebalance_id} rejected"

    # ------------------------------------------------------------------ execution

    async def _step(self, rebalance_id: int) -> None:
        async with self._lock:
            row = self._rows[rebalance_id]
            if row.state not in ("initiated", "pending") or row.progress is None:
                return
            current = progress_from_json(row.progress)
            origin = self.chains[row.origin_chain_id]
            driver = CctpRebalanceDriver(self._sender(row.id, current), self._receipt, self._call,
                                         self._attestations)
            new = await driver.step(current, origin.chain_time or 0)
            if new == current:
                return
            if (current.burn_tx is None and new.burn_tx is not None) or new.status != current.status:
                origin.forget_balance(row.origin_token)  # funds left (or are about to): re-read before committing
                self.chains[row.dest_chain_id].forget_balance(row.dest_token)
            state = _STATE_OF[new.status]
            reason = new.failure or row.reason
            await self._update(row.id, state=state, progress=progress_to_json(new), reason=reason)
        if new.status != current.status:
            level = "error" if new.status is RebalanceStatus.Failed else "info"
            self.on_event(level, f"rebalance #{row.id} {current.status} -> {new.status}: {self._label(row)}"
                                 + (f": {new.failure}" if new.failure else ""))

    def _sender(self, rebalance_id: int, current: CctpRebalance):
        """The driver's send, bound to one rebalance: the tx hash is written into the rebalance's
        progress in the same database transaction as the signed transaction."""
        field = "approve_tx" if current.approve_tx is None else "burn_tx" if current.burn_tx is None \
            else "receive_tx"

        async def send(chain_id: int, to: str, data: bytes, *, purpose: str) -> str:
            def on_persist(session: Session, tx_row: OutboundTx) -> None:
                row = session.get(Rebalance, rebalance_id, with_for_update=True)
                row.progress = progress_to_json(replace(current, **{field: tx_row.tx_hash}))

            ref = await self.chains[chain_id].submitter.submit(to, data, purpose=purpose, on_persist=on_persist)
            return ref.tx_hash

        return send

    async def _receipt(self, chain_id: int, tx_hash: str) -> TxReceipt | None:
        """The receipt of whichever attempt of that transaction's nonce was mined (fee bumps replace it)."""
        chain = self.chains[chain_id]
        async with self.db.read() as s:
            row = await s.scalar(select(OutboundTx).where(OutboundTx.chain_id == chain_id,
                                                          OutboundTx.tx_hash == tx_hash.lower()))
        if row is None:
            return None
        outcome = await chain.submitter.status(OutboundTxRef(row.id, row.chain_id, row.signer, row.nonce, row.attempt,
                                                             row.tx_hash, row.purpose, row.transaction_id))
        if outcome.status is TxStatus.PENDING or outcome.tx_hash is None:
            return None
        return await chain.rpc.get_transaction_receipt(outcome.tx_hash)

    async def _call(self, chain_id: int, to: str, data: bytes) -> bytes:
        return await self.chains[chain_id].rpc.call(to, data)

    async def _update(self, rebalance_id: int, **values: Any) -> None:
        async with self.db.write() as s:
            row = await s.get(Rebalance, rebalance_id, with_for_update=True)
            for key, value in values.items():
                setattr(row, key, value)
            await s.flush()
        self._rows[rebalance_id] = row

    # ------------------------------------------------------------------ views

    def in_flight_to(self, chain_id: int, token: str) -> int:
        """Rebalanced funds on their way to (chain, token): pending in for the inventory view."""
        return sum(r.amount for r in self._rows.values() if r.state in ("initiated", "pending")
                   and r.dest_chain_id == chain_id and r.dest_token == token.lower())

    def views(self) -> tuple[RebalanceView, ...]:
        rows = sorted(self._rows.values(), key=lambda r: r.id, reverse=True)
        return tuple(RebalanceView(r.id, r.symbol, r.origin_chain_id, r.dest_chain_id, r.amount, r.decimals,
                                   r.state, r.reason, r.created_at, r.dest_token) for r in rows)

    def _proposal_of(self, row: Rebalance) -> RebalanceProposal:
        return RebalanceProposal(row.symbol, row.method, row.origin_chain_id, row.dest_chain_id,
                                 checksum_address(row.origin_token), checksum_address(row.dest_token), row.amount,
                                 row.decimals, row.mode, 0, 0, 0, (row.reason,))

    @staticmethod
    def _units(row: Rebalance, amount: int) -> str:
        return format_units(amount, row.decimals, row.symbol)

    def _label(self, row: Rebalance) -> str:
        return f"{self._units(row, row.amount)} chain {row.origin_chain_id} -> chain {row.dest_chain_id}"
