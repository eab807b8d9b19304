"""Fixtures for the engine against a real devnet: one 2-chain automine devnet per module; helpers
(an engine per test on a fresh database watching from the current head, waits, mining) are in
enginekit.py."""
from __future__ import annotations

import time

import pytest

from engine.devnet.devnet import Devnet, DevnetSettings, start_devnet
from engine.devnet.traffic import TrafficGenerator, load_manifest


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
