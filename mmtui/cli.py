"""The `mmtui` command: composition root wiring config -> engine -> UI, headless, or devnet."""
from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from engine.core import Engine
    from engine.devnet.devnet import Devnet, DevnetSettings

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
LOG_LEVELS = ("debug", "info", "warning", "error")
TRAFFIC_STOP_SECONDS = 15.0  # orders already sent settle within a few blocks

log = logging.getLogger("mmtui")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmtui",
        description="Operator console for an intent-bridge (FastBridgeV2) market maker / relayer.",
    )
    parser.add_argument("--no-ui", action="store_true",
                        help="run the engine without the console: JSON logs on stdout, SIGINT/SIGTERM/SIGHUP stop it")
    parser.add_argument("--config", type=Path, metavar="FILE", help="the configuration to run")
    parser.add_argument("--devnet", action="store_true", help="start a local devnet and run on its configuration")
    parser.add_argument("--arm", action="store_true",
                        help="arm the executor at start (journaled; stays disarmed if the arming checks fail)")
    parser.add_argument("--dir", type=Path, default=Path("devnet-run"), dest="devnet_dir", metavar="DIR",
                        help="with --devnet: where its config.yml, devnet.json and database go (default devnet-run)")
    parser.add_argument("--traffic", action="store_true", dest="devnet_traffic",
                        help="with --devnet: also run simulated users placing orders")
    parser.add_argument("--rate", type=float, default=0.5, dest="devnet_rate", metavar="PER_SECOND",
                        help="orders per second with --traffic (default 0.5)")
    parser.add_argument("--mouse", action="store_true",
                        help="console: enable mouse support (off by default: tmux/SSH reattach can break it)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="default info")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check-config", help="validate a config file and report every problem")
    check.add_argument("config", type=Path)

    devnet = sub.add_parser("devnet", help="run a local multi-chain devnet with the project's contracts")
    devnet.add_argument("--dir", type=Path, default=Path("devnet-run"), help="where config.yml and devnet.json go")
    devnet.add_argument("--chains", type=int, default=3, help="number of anvil chains (default 3)")
    devnet.add_argument("--block-time", type=int, default=1, help="seconds per block; 0 mines on every transaction")
    devnet.add_argument("--dispute-period", type=int, default=10, help="bridge dispute period in seconds (real: 1800)")
    devnet.add_argument("--traffic", action="store_true", help="also run simulated users placing orders")
    devnet.add_argument("--rate", type=float, default=0.5, help="orders per second with --traffic")
    devnet_sub = devnet.add_subparsers(dest="devnet_command", metavar="SUBCOMMAND")
    traffic = devnet_sub.add_parser("traffic", help="place simulated user orders on a running devnet")
    traffic.add_argument("--dir", type=Path, default=Path("devnet-run"), dest="traffic_dir")
    traffic.add_argument("--orders", type=int, default=10)
    traffic.add_argument("--rate", type=float, default=1.0, dest="traffic_rate")
    traffic.add_argument("--seed", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command and args.no_ui:
            raise OperatorError(f"--no-ui runs the engine; it does not go with {args.command}", EXIT_USAGE)
        if args.command == "check-config":
            return check_config(args.config)
        if args.command == "devnet":
            if args.devnet_command == "traffic":
                return run_traffic(args.traffic_dir, args.orders, args.traffic_rate, args.seed)
            return run_devnet(args)
        if args.no_ui:
            return run_no_ui(args)
        if args.config is not None or args.devnet:
            return run_tui(args)
        build_parser().print_help()
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OperatorError as exc:
        print(f"mmtui: {exc}", file=sys.stderr)
        return exc.exit_code


class OperatorError(Exception):
    """A problem the operator can fix: printed as one clear message, never a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_config(path: Path) -> int:
    from engine.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        raise OperatorError(f"{path}: invalid configuration\n{exc}", EXIT_USAGE) from None
    print(f"{path}: ok ({len(config.chains)} chains, {len(config.routes)} routes)")
    return EXIT_OK


def run_no_ui(args: argparse.Namespace) -> int:
    """`mmtui --no-ui`: the engine headless until a stop signal (exit 0), or an operator error."""
    _check_engine_args(args, "--no-ui needs")
    from engine.core import EngineError
    from mmtui.headless import run_headless
    from mmtui.logs import configure_json_logging

    configure_json_logging(args.log_level)
    with engine_config_path(args) as config_path:
        engine = build_engine(config_path, devnet=args.devnet)
        try:
            run_headless(engine, arm=args.arm)
        except EngineError as exc:
            raise OperatorError(str(exc)) from None
    return EXIT_OK


def run_tui(args: argparse.Namespace) -> int:
    """`mmtui --config FILE` / `mmtui --devnet`: the console, with the engine on its own thread; quitting
    the console (or SIGTERM/SIGHUP) stops the engine cleanly, its state in the database."""
    _check_engine_args(args)
    from engine.core import EngineError
    from mmtui.app import MmtuiApp
    from mmtui.client import InProcessEngineClient
    from mmtui.logs import configure_json_logging

    with engine_config_path(args) as config_path:
        engine = build_engine(config_path, devnet=args.devnet)
        log_path = (args.devnet_dir if args.devnet else args.config.parent) / "mmtui.log"
        with log_path.open("a", encoding="utf-8") as log_file:  # the terminal belongs to the console
            configure_json_logging(args.log_level, log_file)
            client = InProcessEngineClient(engine)
            try:
                client.start()
            except EngineError as exc:
                raise OperatorError(str(exc)) from None
            try:
                if args.arm:
                    _arm_at_start(client)
                MmtuiApp(client, mouse=args.mouse).run(mouse=args.mouse)
            finally:
                client.stop()
        if client.error is not None:
            raise OperatorError(f"engine stopped: {client.error}")
    return EXIT_OK


def _arm_at_start(client) -> None:
    """--arm: the same journaled command the headless mode sends; a refusal leaves the console DISARMED."""
    import asyncio

    from engine.api import Arm
    from mmtui.headless import ARM_ACTOR

    async def arm():
        return await client.execute(Arm(actor=ARM_ACTOR))

    result = asyncio.run(arm())
    (log.info if result.ok else log.warning)("--arm: %s", result.message)


def _check_engine_args(args: argparse.Namespace, needs: str = "give") -> None:
    if (args.config is None) == (not args.devnet):
        raise OperatorError(f"{needs} exactly one of --config FILE or --devnet", EXIT_USAGE)
    if args.devnet_traffic and not args.devnet:
        raise OperatorError("--traffic needs --devnet", EXIT_USAGE)
    if args.devnet_traffic and args.devnet_rate <= 0:
        raise OperatorError("--rate must be positive", EXIT_USAGE)


@contextmanager
def engine_config_path(args: argparse.Namespace) -> Iterator[Path]:
    """The configuration the engine runs on: --config FILE, or that of a devnet started here (with its
    traffic when asked) and stopped, every anvil with it, when the block ends."""
    if not args.devnet:
        yield args.config
        return
    from engine.devnet.devnet import DEVNET_KEYSTORE_PASSWORD, KEYSTORE_PASSWORD_ENV, DevnetSettings

    os.environ.setdefault(KEYSTORE_PASSWORD_ENV, DEVNET_KEYSTORE_PASSWORD)
    log.info("starting a devnet in %s", args.devnet_dir)
    with start_devnet_or_explain(DevnetSettings(directory=args.devnet_dir)) as devnet:
        for d in devnet.deployments:
            log.info("devnet chain %s: %s bridge %s", d.chain_id, d.rpc_url, d.bridge)
        if not args.devnet_traffic:
            yield devnet.config_path
            return
        stop = threading.Event()
        traffic = start_traffic(devnet.settings.directory, args.devnet_rate, stop,
                                out=_LogLines(logging.getLogger("mmtui.traffic")),
                                on_error=lambda exc: log.warning("traffic stopped: %s", exc))
        try:
            yield devnet.config_path
        finally:
            stop.set()
            traffic.join(TRAFFIC_STOP_SECONDS)  # before the anvils stop under its pending receipts


def build_engine(config_path: Path, *, devnet: bool = False) -> Engine:
    """Config and signer -> Engine; a problem the operator can fix is an OperatorError (exit 2).
    CCTP attestations come from the devnet's local attester on the devnet, from Circle's API elsewhere."""
    from engine.config import ConfigError, load_config, resolve_signer_key
    from engine.core import Engine
    from engine.inventory.cctp import CIRCLE_ATTESTATION_API, CircleAttestationApi, LocalAttester

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise OperatorError(f"{config_path}: invalid configuration: {'; '.join(exc.problems)}", EXIT_USAGE) from None
    try:
        account = resolve_signer_key(config.signer)
    except ConfigError as exc:
        raise OperatorError(f"{config_path}: {'; '.join(exc.problems)}", EXIT_USAGE) from None
    if account is None:
        raise OperatorError("signer type devnet_unlocked cannot sign; use keystore or env", EXIT_USAGE)
    attestations = LocalAttester() if devnet else CircleAttestationApi(CIRCLE_ATTESTATION_API)
    return Engine(config, account, attestations=attestations)


def start_devnet_or_explain(settings: DevnetSettings) -> Devnet:
    from engine.devnet.anvil import AnvilNotFound, AnvilStartError
    from engine.devnet.devnet import DevnetError, start_devnet

    try:
        return start_devnet(settings)  # from the main thread: anvils die with the thread that forked them
    except (AnvilNotFound, AnvilStartError, DevnetError) as exc:
        raise OperatorError(str(exc)) from None


def start_traffic(directory: Path, rate: float, stop: threading.Event, *, out: TextIO,
                  on_error: Callable[[Exception], None]) -> threading.Thread:
    """Simulated users placing orders on a running devnet, on a daemon thread, until `stop` is set."""
    from engine.devnet.traffic import TrafficError, TrafficGenerator, load_manifest

    generator = TrafficGenerator(load_manifest(directory))

    def traffic() -> None:
        try:
            generator.run(None, rate, out=out, stop=stop)
        except TrafficError as exc:
            on_error(exc)

    thread = threading.Thread(target=traffic, name="traffic", daemon=True)
    thread.start()
    return thread


class _LogLines(io.TextIOBase):
    """A text stream whose every line becomes one INFO log record: traffic prints each order it placed."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self._logger.info("order placed: %s", " ".join(line.split()))
        return len(text)


def run_devnet(args: argparse.Namespace) -> int:
    from engine.devnet.devnet import DevnetSettings, wait_for_stop_signal

    settings = DevnetSettings(
        directory=args.dir, chains=args.chains, block_time=args.block_time or None,
        dispute_period=args.dispute_period,
    )
    devnet = start_devnet_or_explain(settings)
    stop = threading.Event()
    with devnet:
        for d in devnet.deployments:
            print(f"chain {d.chain_id}: {d.rpc_url}  bridge {d.bridge}", flush=True)
        print(f"config:   {devnet.config_path}\nmanifest: {devnet.manifest_path}", flush=True)
        print("devnet running; Ctrl-C stops it and every anvil it started", flush=True)
        if args.traffic:
            start_traffic(args.dir, args.rate, stop, out=sys.stdout,
                          on_error=lambda exc: print(f"mmtui: traffic stopped: {exc}", file=sys.stderr, flush=True))
        signal_name = wait_for_stop_signal()
        stop.set()
        print(f"{signal_name}: stopping the devnet", flush=True)
    return EXIT_OK


def run_traffic(directory: Path, orders: int, rate: float, seed: int | None) -> int:
    from engine.devnet.traffic import TrafficError, TrafficGenerator, load_manifest

    if orders < 1:
        raise OperatorError("--orders must be at least 1", EXIT_USAGE)
    try:
        TrafficGenerator(load_manifest(directory), seed=seed).run(orders, rate)
    except TrafficError as exc:
        raise OperatorError(str(exc)) from None
    except OSError as exc:  # requests' connection errors are OSErrors
        raise OperatorError(f"devnet in {directory} is not reachable: {exc}") from None
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
