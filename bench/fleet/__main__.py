"""python -m bench.fleet: a simulated slurmd fleet (see bench/fleet/__init__.py).

python -m bench.fleet conf --nodes N --cpus C --port-base P    # NodeName/PartitionName lines
python -m bench.fleet serve -f SLURM_CONF                      # every node of it, until SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fleet.conf import FleetConfError, FleetShape  # noqa: E402
from flurm.config.hostlists import expand  # noqa: E402
from flurm.config.slurmconf import ConfigError, load  # noqa: E402
from flurm.protocol.versions import RELEASE_NAMES, SERVED  # noqa: E402

RELEASES = {RELEASE_NAMES[v]: v for v in SERVED}
# the full version string each release's slurmd registers with
RELEASE_VERSIONS = {"22.05": "22.05.8", "24.11": "24.11.5", "26.05": "26.05.5"}


def _conf(args: argparse.Namespace) -> int:
    try:
        shape = FleetShape(args.nodes, args.cpus, args.port_base, args.memory, args.prefix, args.partition)
    except FleetConfError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(shape.lines())
    return 0


def _run_workers(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``--workers K``: K processes, each serving every K-th node; SIGTERM reaches them all."""
    children = []
    for i in range(args.workers):
        cmd = [sys.executable, "-m", "bench.fleet", *argv, "--shard", f"{i}/{args.workers}"]
        if args.stats:
            cmd += ["--stats", f"{args.stats}.{i}"]
        if args.ready:
            cmd += ["--ready", f"{args.ready}.{i}"]
        children.append(subprocess.Popen(cmd, cwd=ROOT))

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.workers > 1:
        stripped = _without(argv, "--workers")
        return _run_workers(args, stripped)
    from bench.fleet.serve import Fleet, serve

    try:
        config = load(args.file)
    except (ConfigError, OSError) as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    nodes = list(config.nodes)
    if args.nodes:
        wanted = set(expand(args.nodes))
        nodes = [n for n in nodes if n.name in wanted]
    nodes = [n for n in nodes if n.addr.startswith("127.")]  # loopback only
    if args.shard:
        index, count = (int(x) for x in args.shard.split("/"))
        nodes = nodes[index::count]
    if not nodes:
        print("fleet: no node of that slurm.conf to simulate (NodeAddr 127.x.x.x)", file=sys.stderr)
        return 2
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    fleet = Fleet(
        config,
        nodes,
        version=RELEASES[args.release],
        release=RELEASE_VERSIONS[args.release],
        default_seconds=args.sleep,
        max_outgoing=args.max_outgoing,
    )
    stats = Path(args.stats) if args.stats else None
    asyncio.run(serve(fleet, stats, Path(args.ready) if args.ready else None))
    return 0


def _without(argv: Sequence[str], option: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("conf", help="print the NodeName/PartitionName lines of a fleet")
    c.add_argument("--nodes", type=int, required=True)
    c.add_argument("--cpus", type=int, required=True)
    c.add_argument("--port-base", type=int, required=True)
    c.add_argument("--memory", type=int, default=0, help="RealMemory of each node in MiB (default 1000)")
    c.add_argument("--prefix", default="sim", help="node names (default sim: sim001...)")
    c.add_argument("--partition", default="fleet")
    s = sub.add_parser("serve", help="run every node of a slurm.conf until SIGTERM")
    s.add_argument("-f", "--file", required=True, help="the cluster's slurm.conf")
    s.add_argument("--nodes", default="", help="only these nodes (a hostlist; default every 127.x node)")
    s.add_argument("--release", choices=sorted(RELEASES), default="22.05", help="the slurmd release spoken")
    s.add_argument("--sleep", type=float, default=0.0, help="seconds a job runs without #FLEET sleep=")
    s.add_argument("--workers", type=int, default=1, help="processes sharing the nodes (default 1)")
    s.add_argument("--max-outgoing", type=int, default=512, help="messages to the controller at once")
    s.add_argument("--stats", default="", help="write what the fleet saw here (JSON) at exit and on SIGUSR1")
    s.add_argument("--ready", default="", help="write the node count here once every node listens")
    s.add_argument("--shard", default="", help=argparse.SUPPRESS)
    s.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "conf":
        return _conf(args)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s fleet[%(process)d] %(message)s",
    )
    if args.workers < 1 or args.max_outgoing < 1:
        parser.error("--workers and --max-outgoing must be at least 1")
    return _serve(args, argv)


if __name__ == "__main__":
    sys.exit(main())
