"""The in-process EngineClient: the engine on its own thread with its own asyncio loop.

A stalled terminal (a frozen SSH session) blocks Textual's event loop; an engine sharing that loop
would stop relaying within seconds (REFERENCE §7). So the engine gets a thread and a loop of its own,
and every call from the UI is a coroutine scheduled onto that loop with `run_coroutine_threadsafe`
and awaited from the UI's loop with `asyncio.wrap_future`. Even `snapshot()`, which is synchronous,
runs on the engine loop: it reads dicts the engine mutates there.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

from engine.api import ArmingCheck, Command, CommandResult, EngineSnapshot, OrderDetail, OrderView
from engine.core import Engine, EngineError
from engine.relayer.statuses import OrderStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_TIMEOUT = 60.0  # seconds for the engine to finish its current steps and close


class EngineNotRunning(RuntimeError):
    """A call after the engine stopped (or before it started)."""


class InProcessEngineClient:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self.error: BaseException | None = None  # how the engine's run ended, if it failed
        self._finished = False  # the engine ran and stopped: its state no longer moves

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float | None = None) -> None:
        """Start the engine thread; block until the engine started, or raise its start error."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._thread_main, name="engine", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise EngineError(f"engine did not start within {timeout} s")
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.engine.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that called start()
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            await self.engine.run(self._stop)
        except BaseException as exc:  # noqa: BLE001 - the UI sees it through snapshot().fatal_error
            self.error = exc
            log.error("engine stopped: %s", exc)
        finally:
            self._finished = True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._start_error is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Set the engine's stop and wait for it to close (its state is in the database)."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop already closed
                pass
        thread.join(timeout)
        if thread.is_alive():
            log.warning("engine thread did not stop within %.0f s", timeout)

    # ------------------------------------------------------------------ EngineClient

    async def _on_engine(self, make: Callable[[], Awaitable[T]]) -> T:
        loop = self._loop
        if loop is None or loop.is_closed() or not self.running:
            raise EngineNotRunning("the engine is not running")

        async def call() -> T:
            return await make()

        future: Future[T] = asyncio.run_coroutine_threadsafe(call(), loop)
        return await asyncio.wrap_future(future)

    async def snapshot(self) -> EngineSnapshot:
        if self._finished:  # the engine loop is gone and nothing mutates its state: its last word, read here
            return self.engine.snapshot()

        async def take() -> EngineSnapshot:
            return self.engine.snapshot()
        return await self._on_engine(take)

    async def execute(self, command: Command) -> CommandResult:
        return await self._on_engine(lambda: self.engine.execute(command))

    async def order_detail(self, transaction_id: str) -> OrderDetail | None:
        return await self._on_engine(lambda: self.engine.order_detail(transaction_id))

    async def arming_checks(self) -> tuple[ArmingCheck, ...]:
        return await self._on_engine(self.engine.arming_checks)

    async def list_orders(self, *, statuses: tuple[OrderStatus, ...] = (), text: str = "", offset: int = 0,
                          limit: int = 200) -> tuple[OrderView, ...]:
        return await self._on_engine(lambda: self.engine.list_orders(statuses=statuses, text=text, offset=offset,
                                                                     limit=limit))
