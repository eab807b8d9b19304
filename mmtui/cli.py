"""The `mmtui` command: composition root wiring config -> engine -> UI, headless, or devnet."""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmtui",
        description="Operator console for an intent-bridge (FastBridgeV2) market maker / relayer.",
    )
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
        if args.command == "check-config":
            return check_config(args.config)
        if args.command == "devnet":
            if args.devnet_command == "traffic":
                return run_traffic(args.traffic_dir, args.orders, args.traffic_rate, args.seed)
            return run_devnet(args)
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


def run_devnet(args: argparse.Namespace) -> int:
    from engine.devnet.anvil import AnvilNotFound, AnvilStartError
    from engine.devnet.devnet import DevnetError, DevnetSettings, start_devnet, wait_for_stop_signal
    from engine.devnet.traffic import TrafficError, TrafficGenerator, load_manifest

    settings = DevnetSettings(
        directory=args.dir, chains=args.chains, block_time=args.block_time or None,
        dispute_period=args.dispute_period,
    )
    try:
        devnet = start_devnet(settings)
    except (AnvilNotFound, AnvilStartError, DevnetError) as exc:
        raise OperatorError(str(exc)) from None
    stop = threading.Event()
    with devnet:
        for d in devnet.deployments:
            print(f"chain {d.chain_id}: {d.rpc_url}  bridge {d.bridge}", flush=True)
        print(f"config:   {devnet.config_path}\nmanifest: {devnet.manifest_path}", flush=True)
        print("devnet running; Ctrl-C stops it and every anvil it started", flush=True)
        traffic_error: list[BaseException] = []
        if args.traffic:
            generator = TrafficGenerator(load_manifest(args.dir))

            def traffic() -> None:
                try:
                    generator.run(None, args.rate, stop=stop)
                except TrafficError as exc:
                    traffic_error.append(exc)
                    print(f"mmtui: traffic stopped: {exc}", file=sys.stderr, flush=True)

            threading.Thread(target=traffic, name="traffic", daemon=True).start()
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
