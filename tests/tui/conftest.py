"""TUI tests: the fake engine client for screens and keys; a real 2-chain devnet for the end-to-end test
(the engine tests' fixtures and helpers, shared through tests/engine)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # enginekit

from engine.devnet.devnet import Devnet, DevnetSettings, start_devnet  # noqa: E402
from engine.devnet.traffic import TrafficGenerator, load_manifest  # noqa: E402


@pytest.fixture(scope="module")
def devnet(anvil_bin, tmp_path_factory) -> Devnet:
    net = start_devnet(DevnetSettings(tmp_path_factory.mktemp("devnet"), chains=2, block_time=None))
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture
def traffic(devnet) -> TrafficGenerator:
    return TrafficGenerator(load_manifest(devnet.settings.directory), seed=int(time.time() * 1000) % 2**31)
