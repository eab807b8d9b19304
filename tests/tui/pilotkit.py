"""Running the console under Pilot over the fake engine (fakeclient.py), shared by the Pilot tests."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fakeclient import FakeEngineClient, frozen_clock

from mmtui.app import MmtuiApp

SIZE = (160, 50)


async def settle(pilot, seconds: float = 0.1) -> None:
    await pilot.pause(seconds)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@asynccontextmanager
async def console(client: FakeEngineClient, size: tuple[int, int] = SIZE) -> AsyncIterator[tuple[MmtuiApp, object]]:
    """The app over `client` at the test size, its first snapshot shown."""
    app = MmtuiApp(client, clock=frozen_clock)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 0.2)
        yield app, pilot


async def press(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)
