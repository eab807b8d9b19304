"""The engine's quotes reach a configured RFQ API (PUT /bulk_quotes on a loopback server) while it runs
on a real devnet: the wiring from the capital desk to the pusher, not the pusher alone."""
from __future__ import annotations

import asyncio

import yaml

from engine.config import load_config
from enginekit import make_engine, running, write_engine_config

API_KEY = "engine-rfq-key-do-not-log-4d2e"


async def test_a_running_engine_pushes_its_quotes_to_the_rfq_api(devnet, rfq_api, tmp_path, monkeypatch):
    path = write_engine_config(devnet, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["rfq_api"] = {"url": rfq_api.url, "api_key_env": "MMTUI_TEST_RFQ_KEY"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("MMTUI_TEST_RFQ_KEY", API_KEY)
    engine = make_engine(load_config(path))
    async with running(engine):
        await asyncio.wait_for(rfq_api.received.wait(), 30)
        snapshot = engine.snapshot()
    headers, body = rfq_api.requests[0]
    assert API_KEY not in str(snapshot.events)
    assert snapshot.fatal_error is None and headers["Authorization"]
    pushed = [(q["origin_chain_id"], q["dest_chain_id"]) for q in body["quotes"]]
    assert sorted(pushed) == sorted((q.origin_chain_id, q.dest_chain_id) for q in snapshot.quotes)
    assert all(q["max_origin_amount"].isdigit() and q["dest_amount"].isdigit() for q in body["quotes"])
