"""Starting and stopping anvil nodes: free loopback ports, readiness, and no orphans, ever.

Each node is started in its own session (a terminal's Ctrl-C reaches us, not anvil) with
PR_SET_PDEATHSIG so that even a kill -9 of the devnet process takes its anvils down with it.
"""
from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL_ENV = "MMTUI_ANVIL"
# Anvil's standard dev mnemonic: its accounts are public knowledge and exist only on devnets.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class AnvilNotFound(RuntimeError):
    pass


class AnvilStartError(RuntimeError):
    pass


def _npm_platform_dir() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    system = {"linux": "linux", "darwin": "darwin"}.get(platform.system().lower(), platform.system().lower())
    return f"anvil-{system}-{arch}"


def find_anvil() -> Path:
    """The anvil binary: $MMTUI_ANVIL, the project-local npm install (make tools), then PATH."""
    candidates: list[Path] = []
    if os.environ.get(ANVIL_ENV):
        candidates.append(Path(os.environ[ANVIL_ENV]))
    candidates.append(REPO_ROOT / "tools" / "node_modules" / "@foundry-rs" / _npm_platform_dir() / "bin" / "anvil")
    on_path = shutil.which("anvil")
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise AnvilNotFound(
        "anvil not found: run `make tools` (installs the npm package @foundry-rs/anvil into tools/) "
        f"or set {ANVIL_ENV} to the binary"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the devnet process dies, the kernel kills anvil.
    # The signal follows the forking *thread*: call start_anvil from a long-lived thread.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class AnvilNode:
    chain_id: int
    port: int
    process: subprocess.Popen
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def rpc(self, method: str, params: list | None = None, timeout: float = 5.0):
        """A synchronous JSON-RPC call (devnet tooling and tests; the engine has its own client)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
        req = urllib.request.Request(self.rpc_url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply["result"]

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_anvil(
    chain_id: int,
    *,
    port: int | None = None,
    block_time: float | None = None,
    accounts: int = 10,
    balance_eth: int = 10_000,
    log_dir: Path | None = None,
    anvil: Path | None = None,
    ready_timeout: float = 15.0,
    extra_args: tuple[str, ...] = (),
) -> AnvilNode:
    """Start one anvil on a free loopback port and wait until it answers eth_chainId."""
    binary = anvil or find_anvil()
    last_error = ""
    for _ in range(5):  # a free port can be taken between probing and binding: retry on a new one
        chosen = port or free_port()
        args = [
            str(binary), "--host", "127.0.0.1", "--port", str(chosen), "--chain-id", str(chain_id),
            "--accounts", str(accounts), "--balance", str(balance_eth), "--mnemonic", DEV_MNEMONIC,
            *(["--block-time", str(block_time)] if block_time else []), *extra_args,
        ]
        log_path = (log_dir / f"anvil-{chain_id}.log") if log_dir else None
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        finally:
            if log_path:
                out.close()
        node = AnvilNode(chain_id, chosen, proc, log_path)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_error = f"anvil exited with code {proc.returncode}"
                break
            try:
                if int(node.rpc("eth_chainId", timeout=1.0), 16) == chain_id:
                    return node
            except (urllib.error.URLError, ConnectionError, OSError, RuntimeError):
                time.sleep(0.02)
        node.stop()
        if port:
            break
        last_error = last_error or "anvil did not answer in time"
    raise AnvilStartError(f"could not start anvil for chain {chain_id}: {last_error}")
