"""`mmtui --no-ui`: the engine on its own, for servers.

The engine runs on this process's asyncio loop until SIGINT, SIGTERM or SIGHUP; each sets the stop
event, the engine finishes its current steps and closes (everything in flight is already in the
database, so a restart resumes it). Logs are JSON lines (see mmtui.logs); a status line every
STATUS_INTERVAL seconds shows the operator that the engine is alive.
"""
from __future__ import annotations

import asyncio
import logging
import signal

from engine.api import Arm, EngineSnapshot
from engine.chain.rpc import scrub
from engine.core import Engine, EngineError

log = logging.getLogger("mmtui.headless")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STATUS_INTERVAL = 10.0  # seconds
ARM_ACTOR = "cli --arm"


def run_headless(engine: Engine, *, arm: bool = False, status_interval: float = STATUS_INTERVAL) -> None:
    """Run `engine` until a stop signal. Raises EngineError (worded for the operator) when it cannot
    start or dies; an unexpected exception is logged with its traceback and raised as EngineError."""
    try:
        asyncio.run(_run(engine, arm, status_interval))
    except EngineError as exc:
        log.error("%s", exc)
        raise
    except Exception as exc:  # noqa: BLE001 - a bug: the traceback goes to the log, one line to the operator
        log.exception("engine failed unexpectedly")
        raise EngineError(f"engine failed unexpectedly: {type(exc).__name__}: {scrub(str(exc))}") from None


async def _run(engine: Engine, arm: bool, status_interval: float) -> None:
    stop = asyncio.Event()
    _stop_on_signals(stop)
    if not await _start(engine, stop):
        return
    try:
        snapshot = engine.snapshot()
        log.info("engine started", extra={"fields": {
            "config": snapshot.config_name, "relayer": snapshot.relayer, "database": snapshot.database,
            "chains": [c.chain_id for c in snapshot.chains]}})
        if arm:
            await _arm(engine)
    except BaseException:
        await engine.close()  # run() closes the engine; until it runs, that is ours to do
        raise
    status = asyncio.create_task(_log_status_every(engine, status_interval), name="status")
    try:
        await engine.run(stop)
    finally:
        status.cancel()
    log.info("engine stopped")


async def _arm(engine: Engine) -> None:
    """--arm: the same journaled command an operator sends; refused arming leaves the engine running DISARMED."""
    result = await engine.execute(Arm(actor=ARM_ACTOR))
    fields = {"fields": {"journal_id": result.journal_id}}
    if result.ok:
        log.info("--arm: %s", result.message, extra=fields)
    else:
        log.warning("--arm refused, running DISARMED: %s", result.message, extra=fields)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.info("%s received; already stopping", sig.name)
            return
        log.info("stopping on %s", sig.name)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)


async def _start(engine: Engine, stop: asyncio.Event) -> bool:
    """Start the engine unless a stop signal comes first: start-up may wait on RPC retries, and an
    operator's Ctrl-C must not wait for them. False when stopped before the engine was running."""
    starting = asyncio.create_task(engine.start(), name="engine-start")
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
    if starting.cancelled() or starting.exception() is not None:
        await engine.close()  # start() leaves its database and RPC sessions open when it fails
        if not starting.cancelled():
            raise starting.exception()
        log.info("stopped before the engine finished starting")
        return False
    return True


async def _log_status_every(engine: Engine, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        message, fields = status_summary(engine.snapshot())
        log.info("%s", message, extra={"fields": fields})


def status_summary(snapshot: EngineSnapshot) -> tuple[str, dict[str, object]]:
    """One status line for the log: armed, each chain's head, order counts by status name."""
    heads = {str(c.chain_id): c.head_number for c in snapshot.chains}
    orders = {status.name: n for status, n in sorted(snapshot.order_counts.items())}
    chain_errors = {str(c.chain_id): c.last_error for c in snapshot.chains if c.last_error}
    fields: dict[str, object] = {"armed": snapshot.armed, "frozen": snapshot.frozen, "heads": heads, "orders": orders}
    if chain_errors:
        fields["chain_errors"] = chain_errors
    text = ", ".join(f"{cid} #{head if head is not None else '?'}" for cid, head in heads.items())
    counts = ", ".join(f"{name} {n}" for name, n in orders.items()) or "none"
    message = f"status: {'ARMED' if snapshot.armed else 'DISARMED'}; heads {text}; orders {counts}"
    if chain_errors:
        message += f"; {len(chain_errors)} chain(s) with errors"
    return message, fields
