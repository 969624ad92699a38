"""The ``flurm`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flurm import __version__

if TYPE_CHECKING:
    from flurm.auth.authenticator import Authenticator
    from flurm.config.slurmconf import SlurmConfig


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load_config(path: str) -> SlurmConfig:
    from flurm.config.slurmconf import ConfigError, load

    try:
        return load(path)
    except ConfigError as exc:
        print(f"flurm: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"flurm: error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


def _auth(config: SlurmConfig, *, allow_replay: bool = True) -> Authenticator:
    """AuthType's authenticator (AuthAltTypes' beside it); auth/slurm reads slurm.key beside slurm.conf."""
    from flurm.auth.configure import authenticator_from_config

    return authenticator_from_config(config, allow_replay=allow_replay)


def cmd_run(args: argparse.Namespace) -> int:
    from flurm.daemon import Daemon
    from flurm.modes import run_mode

    config = _load_config(args.config)
    _setup_logging(args.log_level)
    if args.shadow and args.port in (None, config.slurmctld_port):
        print("flurm: error: --shadow needs --port: a port other than slurmctld's own", file=sys.stderr)
        return 2
    api = None
    if args.http_port:
        from flurm.api.app import ApiSettings

        api = ApiSettings.load(args.http_host, args.http_port, args.api_token_file, args.api_read_auth)
    _raise_open_file_limit()
    try:
        ctl = Daemon(
            config,
            # A controller never decodes a credential twice: SLURM clients sign each send anew. A replay
            # is a captured message sent again; refuse it as auth/munge does without MULTIPLE_SLURMD
            # (which Debian builds with, for several slurmd sharing one munged, not for slurmctld's sake).
            _auth(config, allow_replay=False),
            api=api,
            state_dir=Path(args.state_dir) if args.state_dir else None,
            port=args.port,
            listen_host=args.listen,
            mode=run_mode(args.shadow),
            sack_socket=args.sack_socket,
        )
        asyncio.run(ctl.run())
    except Exception as exc:
        # every fatal error: one line and a non-zero status, so that a supervisor restarts flurm
        logging.getLogger("flurm").critical("fatal: %s", _fatal_text(exc))
        return 1
    return 0


def _raise_open_file_limit() -> None:
    """Every connection is a file: raise the soft limit to the hard one, as slurmctld does at start
    (the usual soft limit of 1024 would refuse clients long before the server's connection caps)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logging.getLogger("flurm").warning("cannot raise the open file limit from %d: %s", soft, exc)


def _fatal_text(exc: BaseException) -> str:
    from flurm.auth.errors import AuthError

    if isinstance(exc, OSError | RuntimeError | AuthError) and str(exc):  # AuthError: SLURM's own text
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _admin(args: argparse.Namespace, doc: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """Send an administrative request to the running flurm (MUNGE-authenticated, on its SLURM port)."""
    from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN, AdminMessage
    from flurm.rpc.transport import Signer, call

    config = _load_config(args.config)
    port = args.port if args.port is not None else config.slurmctld_port

    async def go() -> dict[str, Any]:
        signer = Signer(_auth(config), workers=2)
        try:
            resp = await call(
                args.host, port, REQUEST_FLURM_ADMIN, AdminMessage(doc), signer, timeout=timeout
            )
        finally:
            signer.close()
        assert resp is not None
        if not isinstance(resp.body, AdminMessage):
            return {
                "ok": False,
                "error": f"{args.host}:{port} is not a flurm controller (reply {resp.msg_type})",
            }
        return resp.body.document

    try:
        return asyncio.run(go())
    except (OSError, TimeoutError, ConnectionError) as exc:
        return {"ok": False, "error": f"cannot reach flurm at {args.host}:{port}: {exc}"}


def _print_doc(doc: dict[str, Any]) -> int:
    print(json.dumps(doc, indent=2, sort_keys=True))
    return 0 if doc.get("ok") else 1


def cmd_status(args: argparse.Namespace) -> int:
    return _print_doc(_admin(args, {"op": "status"}))


def cmd_mode(args: argparse.Namespace) -> int:
    if args.set:
        return _print_doc(_admin(args, {"op": "set_mode", "mode": args.set}))
    doc = _admin(args, {"op": "mode"})
    if not doc.get("ok"):
        return _print_doc(doc)
    print(f"mode: {doc['mode']}\n")
    print(doc["table"])
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    return _print_doc(_admin(args, {"op": "import"}))


def cmd_takeover(args: argparse.Namespace) -> int:
    if args.dry_run:
        doc = _admin(args, {"op": "takeover", "dry_run": True, "allow_unsupported": args.allow_unsupported})
        for ev in doc.get("events", []):
            _print_event(ev)
        if not doc.get("ok"):
            print(f"pre-flight FAILED{': ' + str(doc['error']) if doc.get('error') else ''}")
            return 1
        print("pre-flight passed: the takeover can start")
        return 0
    doc = _admin(args, {"op": "takeover", "allow_unsupported": args.allow_unsupported})
    if not doc.get("ok"):
        print(f"takeover not started: {doc.get('error')}", file=sys.stderr)
        return 1
    since = 0
    while True:
        st = _admin(args, {"op": "takeover_status", "since": since}, timeout=30.0)
        if not st.get("ok"):
            # flurm may be re-binding its endpoints; keep asking
            time.sleep(0.2)
            continue
        for ev in st.get("events", []):
            _print_event(ev)
        since = int(st.get("next", since))
        if not st.get("running") and st.get("result") is not None:
            result = st["result"]
            print(json.dumps(result, indent=2, sort_keys=True))
            return 0 if result.get("ok") else 1
        time.sleep(0.1)


def _print_event(ev: dict[str, Any]) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(float(ev.get("at", 0))))
    detail = f"  {ev['detail']}" if ev.get("detail") else ""
    print(f"[{stamp}] {ev['step']:<28} {ev['status'].upper():<8}{detail}", flush=True)


def cmd_rollback(args: argparse.Namespace) -> int:
    doc = _admin(args, {"op": "rollback"})
    code = _print_doc(doc)
    if doc.get("ok") and args.client_conf:
        code = _switch(args, to_flurm=False) or code
    return code


def cmd_switch(args: argparse.Namespace) -> int:
    return _switch(args, to_flurm=args.to == "flurm")


def _switch(args: argparse.Namespace, *, to_flurm: bool) -> int:
    """Point the clients' slurm.conf at flurm (SlurmctldPort = flurm's port) or back at slurmctld."""
    from flurm.config.render import render_with_overrides

    config = _load_config(args.config)
    target = Path(args.client_conf)
    text = Path(args.config).read_text()
    port = args.port if to_flurm else config.slurmctld_port
    if to_flurm and port is None:
        print("flurm: error: switch --to flurm needs --port", file=sys.stderr)
        return 2
    new = render_with_overrides(text, {"SlurmctldPort": str(port)})
    tmp = target.with_name(target.name + ".flurm-tmp")
    tmp.write_text(new)
    tmp.replace(target)  # atomic: a client reads the old or the new file, never half of one
    print(f"{target}: clients now talk to {'flurm' if to_flurm else 'slurmctld'} on port {port}")
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
    run.add_argument(
        "--shadow",
        action="store_true",
        help="shadow the slurmctld that SLURM_CONF names: mirror it, answer reads, forward writes",
    )
    run.add_argument(
        "--http-port", type=int, default=8080, help="HTTP API port (default 8080; 0 turns it off)"
    )
    run.add_argument(
        "--http-host", default="127.0.0.1", help="HTTP API address (default 127.0.0.1: this host only)"
    )
    run.add_argument(
        "--api-token-file",
        help="file whose first line is the operator's static bearer token (else $FLURM_API_TOKEN)",
    )
    run.add_argument("--api-read-auth", action="store_true", help="reads need a credential too")
    run.add_argument(
        "--sack-socket",
        metavar="PATH",
        help="auth/slurm: serve clients' credentials here (default /run/slurmctld/sack.socket, as slurmctld;"
        " beside a slurmctld only when given)",
    )
    run.set_defaults(func=cmd_run)

    def admin_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument(
            "-f", "--config", required=True, metavar="SLURM_CONF", help="the cluster's slurm.conf"
        )
        sp.add_argument("--port", type=int, default=None, help="the port the running flurm listens on")
        sp.add_argument("--host", default="127.0.0.1", help="where the running flurm is (default: this host)")
        return sp

    admin_parser("status", "show what the running flurm is doing").set_defaults(func=cmd_status)
    mode = admin_parser("mode", "show the mode table and the current mode, or change mode")
    mode.add_argument("--set", metavar="MODE", help="change to this mode (through the mode table's guards)")
    mode.set_defaults(func=cmd_mode)
    admin_parser("import", "re-import everything from slurmctld now").set_defaults(func=cmd_import)
    tk = admin_parser("takeover", "take the cluster over from slurmctld (run beside the flurm it acts on)")
    tk.add_argument("--dry-run", action="store_true", help="run only the pre-flight check")
    tk.add_argument(
        "--allow-unsupported",
        action="store_true",
        help="take over even though slurm.conf or live jobs use something flurm does not support yet"
        " (the pre-flight lists each)",
    )
    tk.set_defaults(func=cmd_takeover)
    rb = admin_parser("rollback", "call the migration off before the takeover: slurmctld keeps the cluster")
    rb.add_argument("--client-conf", help="also point this client slurm.conf back at slurmctld")
    rb.set_defaults(func=cmd_rollback)
    sw = admin_parser("switch", "point a client slurm.conf at flurm or back at slurmctld")
    sw.add_argument("--client-conf", required=True, help="the slurm.conf the clients read")
    sw.add_argument("--to", choices=["flurm", "slurm"], required=True)
    sw.set_defaults(func=cmd_switch)
    modes = sub.add_parser("modes", help="print the mode table")
    modes.add_argument("--markdown", action="store_true", help="as the Markdown table of docs/migration.md")
    modes.set_defaults(func=cmd_modes)
    return p


def cmd_modes(args: argparse.Namespace) -> int:
    from flurm.modes import describe, markdown

    print(markdown() if args.markdown else describe())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
