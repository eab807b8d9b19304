"""`mmtui --no-ui`: the engine as a server process. Real subprocesses, real anvil chains, real SQLite."""
from __future__ import annotations

import io
import json
import logging
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from engine.api import ChainView, EngineSnapshot
from engine.devnet.anvil import free_port
from engine.relayer.statuses import OrderStatus
from mmtui.headless import status_summary
from mmtui.logs import JsonFormatter

REPO_ROOT = Path(__file__).resolve().parent.parent
# anvil's public dev key #0: a throwaway, never a real secret.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
NATIVE = "0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE"
BRIDGE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
STARTED = "engine started"


def _mmtui(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k != "MMTUI_KEYSTORE_PASSWORD"} | (env or {})
    return subprocess.Popen([sys.executable, "-m", "mmtui.cli", *args], cwd=REPO_ROOT, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class _StdoutLines:
    """Collects a process's stdout lines on a thread, so a test can wait for one with a deadline."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, msg: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {msg!r} log line within {timeout:g}s; got:\n{''.join(self.lines)}") from None
            if line is None:
                raise AssertionError(f"stdout closed before {msg!r}; got:\n{''.join(self.lines)}")
            self.lines.append(line)
            entry = json.loads(line)
            if entry["msg"] == msg:
                return entry

    def rest(self) -> list[str]:
        self._thread.join(timeout=10)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return self.lines


def _gone(pids: list[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _json_entries(lines: list[str]) -> list[dict]:
    entries = [json.loads(line) for line in lines]  # every stdout line is one JSON object
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= entry.keys(), entry
        assert datetime.fromisoformat(entry["ts"]).utcoffset().total_seconds() == 0
    return entries


def _run_devnet_until(signal_name: str, directory: Path, *extra: str) -> list[dict]:
    """Start `mmtui --no-ui --devnet`, wait for the engine, stop it with `signal_name`: its log entries."""
    proc = _mmtui("--no-ui", "--devnet", "--dir", str(directory), *extra)
    try:
        stdout = _StdoutLines(proc)
        stdout.wait_for(STARTED, timeout=60)
        pids = json.loads((directory / "devnet.json").read_text())["anvil_pids"]
        proc.send_signal(getattr(signal, signal_name))
        returncode = proc.wait(timeout=20)
        err = proc.stderr.read()
        assert returncode == 0, err
        assert "Traceback" not in err
        assert _gone(pids), f"anvil left running after {signal_name}"
        return _json_entries(stdout.rest())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stop_signal_stops_engine_and_devnet_cleanly(anvil_bin, tmp_path, signal_name):
    entries = _run_devnet_until(signal_name, tmp_path)
    messages = [e["msg"] for e in entries]
    assert f"stopping on {signal_name}" in messages
    assert messages.index(STARTED) < messages.index("engine stopped")
    started = next(e for e in entries if e["msg"] == STARTED)
    assert started["chains"] == [31337, 31338, 31339]
    assert not [e for e in entries if e["level"] == "error"]


def test_arm_at_start_is_journaled(anvil_bin, tmp_path):
    entries = _run_devnet_until("SIGTERM", tmp_path, "--arm")
    arm_lines = [e for e in entries if e["msg"].startswith("--arm")]
    assert len(arm_lines) == 1 and arm_lines[0]["journal_id"] is not None
    with sqlite3.connect(tmp_path / "mmtui.db") as db:
        rows = db.execute("SELECT actor, command FROM operator_journal").fetchall()
    assert ("cli --arm", "arm") in rows


def test_broken_config_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "broken.yml"
    bad.write_text("chains: {\n  31337: [1,\n")
    proc = _mmtui("--no-ui", "--config", str(bad))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert len(err.splitlines()) == 1 and err.startswith(f"mmtui: {bad}: invalid configuration: "), err
    assert "YAML syntax error" in err and "Traceback" not in err
    _json_entries(out.splitlines())


@pytest.mark.parametrize("args", [(), ("--config", "x.yml", "--devnet")], ids=["neither", "both"])
def test_no_ui_needs_config_or_devnet(args):
    proc = _mmtui("--no-ui", *args)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err == "mmtui: --no-ui needs exactly one of --config FILE or --devnet\n"
    assert out == ""


def test_unreachable_rpc_at_start_is_one_line_and_exit_1(tmp_path):
    closed = free_port()  # bound and released: nothing listens there
    secret = "v2-apikey-0123456789"

    def chain() -> dict:
        return {"rpc_url": f"http://127.0.0.1:{closed}/{secret}", "rfq_address": BRIDGE,
                "tokens": {"ETH": {"address": NATIVE, "decimals": 18, "price_usd": 2600}}}

    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({
        "name": "unreachable",
        "database": {"type": "sqlite", "dsn": "mmtui.db"},
        "signer": {"type": "env", "env": "MMTUI_TEST_SIGNER_KEY"},
        "chains": {"31337": chain(), "31338": chain()},
        "quotable_tokens": {f"31337-{NATIVE}": [f"31338-{NATIVE}"]},
    }))
    proc = _mmtui("--no-ui", "--config", str(config), env={"MMTUI_TEST_SIGNER_KEY": DEV_KEY})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert len(err.splitlines()) == 1 and err.startswith("mmtui: chain 31337"), err
    assert "Traceback" not in err
    entries = _json_entries(out.splitlines())
    assert entries[-1]["level"] == "error" and "chain 31337" in entries[-1]["msg"]
    assert secret not in out + err and DEV_KEY[2:] not in out + err


def test_missing_keystore_password_names_the_variable(tmp_path):
    config = tmp_path / "config.yml"
    keystore = tmp_path / "relayer.keystore.json"
    keystore.write_text(json.dumps({"crypto": {}}))
    config.write_text(yaml.safe_dump({
        "name": "no-password",
        "database": {"type": "sqlite", "dsn": "mmtui.db"},
        "signer": {"type": "keystore", "path": keystore.name, "password_env": "MMTUI_KEYSTORE_PASSWORD"},
        "chains": {"31337": {"rpc_url": "http://127.0.0.1:1", "rfq_address": BRIDGE,
                             "tokens": {"ETH": {"address": NATIVE, "decimals": 18, "price_usd": 2600}}}},
    }))
    proc = _mmtui("--no-ui", "--config", str(config))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err == f"mmtui: {config}: signer.password_env: environment variable MMTUI_KEYSTORE_PASSWORD is not set\n"


def test_json_lines_carry_the_exception_and_never_an_rpc_url_secret():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.headless.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ConnectionError("cannot reach https://rpc.example/v2/SECRET-KEY-123456")
    except ConnectionError:
        logger.exception("boom at %s", "https://user:pw@rpc.example/v2/SECRET-KEY-123456",
                         extra={"fields": {"chain_id": 1, "msg": "must not replace msg"}})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "error" and entry["logger"] == "tests.headless.json"
    assert entry["msg"] == "boom at https://rpc.example:443" and entry["chain_id"] == 1
    assert "ConnectionError" in entry["exc"] and "Traceback" in entry["exc"]
    assert "SECRET" not in stream.getvalue() and "pw@" not in stream.getvalue()


def test_status_summary_names_heads_and_order_counts():
    now = datetime.now(UTC)
    chains = tuple(ChainView(chain_id=cid, native_symbol="ETH", head_number=head, head_time=None, head_seen_at=None,
                             cursor=None, lag_blocks=None, rpc_ok=error is None, last_error=error, gas_balance=None,
                             min_gas_token=0, base_fee_wei=None, priority_fee_wei=None)
                   for cid, head, error in ((31337, 120, None), (31338, None, "connection refused")))
    snapshot = EngineSnapshot(version=1, taken_at=now, config_name="t", relayer="0x0", database="sqlite", armed=False,
                              frozen=True, started_at=now, heartbeat_at=now, chains=chains, inventory=(), orders=(),
                              order_counts={OrderStatus.RelayCompleted: 2, OrderStatus.Seen: 3})
    message, fields = status_summary(snapshot)
    assert message == ("status: DISARMED; heads 31337 #120, 31338 #?; orders Seen 3, RelayCompleted 2; "
                       "1 chain(s) with errors")
    assert fields["heads"] == {"31337": 120, "31338": None}
    assert fields["orders"] == {"Seen": 3, "RelayCompleted": 2}
    assert fields["chain_errors"] == {"31338": "connection refused"}
    assert json.dumps(fields)
