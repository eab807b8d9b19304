"""An engine in its own process, for crash tests: `python tests/engine/engine_proc.py CONFIG [POLL]`.

Loads the config, builds the Engine with the devnet relayer key, starts it (migrate, reconcile,
approvals), arms it with override, prints "ready" on stdout and runs until killed. Logs go to stderr.
"""
from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, whatever the cwd

from eth_account import Account  # noqa: E402

from engine.api import Arm  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.core import Engine  # noqa: E402
from engine.devnet.accounts import RELAYER, dev_account  # noqa: E402


async def main(config_path: str, poll_interval: float) -> None:
    config = load_config(config_path)
    account = Account.from_key(dev_account(RELAYER).private_key)
    engine = Engine(config, account, poll_interval=poll_interval)
    await engine.start()
    result = await engine.execute(Arm(override=True))
    if not result.ok:
        raise SystemExit(f"cannot arm: {result.message}")
    print("ready", flush=True)
    await engine.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.1))
