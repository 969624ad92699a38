"""The ``flurm`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from flurm import __version__


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load_config(path: str):  # type: ignore[no-untyped-def]
    from flurm.config.slurmconf import ConfigError, load

    try:
        return load(path)
    except ConfigError as exc:
        print(f"flurm: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"flurm: error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from flurm.auth.authenticator import MungeAuthenticator
    from flurm.controller.engine import Controller

    config = _load_config(args.config)
    _setup_logging(args.log_level)
    auth = MungeAuthenticator.from_slurm_conf(config.auth_info, config.raw.get("communicationparameters"))
    ctl = Controller(
        config,
        auth,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        port=args.port,
        listen_host=args.listen,
    )
    try:
        asyncio.run(ctl.run())
    except OSError as exc:
        print(f"flurm: error: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flurm", description="A SLURM-compatible workload controller.")
    p.add_argument("--version", action="version", version=f"flurm {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the controller in the foreground")
    run.add_argument("-f", "--config", required=True, metavar="SLURM_CONF", help="the cluster's slurm.conf")
    run.add_argument("--port", type=int, default=None, help="port for SLURM clients (default: SlurmctldPort)")
    run.add_argument(
        "--state-dir", default=None, help="where flurm keeps its state (default: StateSaveLocation)"
    )
    run.add_argument("--listen", default="0.0.0.0", help="address to listen on (default: all)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
