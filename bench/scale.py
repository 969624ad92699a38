"""flurm against the real slurmctld on thousands of simulated nodes (bench/fleet): registration storm, high
throughput, queries at scale.

    .venv/bin/python bench/scale.py                   # the full run (1,000 and 5,000 nodes)
    .venv/bin/python bench/scale.py --quick           # a small version (200 and 1,000 nodes, ~3 minutes)
    .venv/bin/python bench/scale.py --only storm      # one scenario (storm, throughput, queries)
    .venv/bin/python bench/scale.py --nodes 1000,5000 # the storm sizes; the other scenarios use the last

Each controller runs alone, one after the other, each cluster fresh (harness.loopback without slurmd, nodes
compute-node-[1-N] on 127.0.0.1) with a fresh fleet of its own serving every node (python -m bench.fleet
serve), stopped with SIGTERM before the next cluster starts.

* storm: the controller is up first, then the fleet starts and every node registers at once; the time until
  sinfo shows every node idle, the REQUEST_NODE_REGISTRATION_STATUS the controller sent (the fleet counts
  them), the controller's RSS after. One cluster per size of --nodes; RSS per node between the two.
* throughput (on the last storm's cluster): parallel submitters of ``sbatch --wrap '#FLEET sleep=1'`` for
  a fixed time, then until every job ended (MinJobAge=300 keeps them visible): completed jobs per second,
  submit -> start latency from the jobs' SubmitTime/StartTime (whole seconds, as SLURM prints them),
  controller CPU per job and per submit.
* queries (a fresh cluster of the largest size): held plain jobs, one ``sbatch -H`` each, submitted in
  parallel, not arrays: slurmctld keeps a pending array as one record and squeue shows it as one line, so
  arrays would compare one record with thousands. squeue, sinfo, scontrol show node and show job timed
  (median) with their output discarded; controller RSS before the jobs and at each level.

The fleet's CPU competes with the controller's on the same cores: its CPU seconds are rows of their own.
The table goes to stdout; every figure and sample, the machine, SLURM's version, the commit and the fleet's
stats to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scale_scenarios as sc  # noqa: E402
from bench.profile import record, summarize  # noqa: E402
from bench.run import CONTROLLERS, _git_commit, _slurm_version, table  # noqa: E402
from bench.scale_fleet import FleetProcess  # noqa: E402
from bench.scenarios import Bench, Metric, Sizes  # noqa: E402
from harness.loopback import SlurmCluster, cluster  # noqa: E402

SCENARIOS = ("storm", "throughput", "queries")
# outside the tests' 20000-29999: 5,000 nodes need 5,003 consecutive ports
PORT_BASE = 12000
# TreeWidth: the fleet's nodes do not forward messages to other nodes as slurmd does, so slurmctld must
# send to every node itself (with the default 50 it logs each forward as failed; flurm never forwards)
EXTRA_CONF = "MaxJobCount=200000\nMinJobAge=300\nTreeWidth=65533"
RESULTS = ROOT / "bench" / "results"


@dataclass
class Results:
    """One controller's figures over all its clusters (a column of the table)."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    fleet: dict[str, dict[str, object]] = field(default_factory=dict)  # the fleet's final stats per cluster
    log_errors: dict[str, list[str]] = field(default_factory=dict)  # the controller's log lines saying error
    load: list[float] = field(default_factory=list)


# what slurmctld logs at every fresh start (no saved state yet, no PMIx library on this host)
_START_NOISE = ("state file", "Trying backup state", "pmix", "MPI: Cannot create context")


def _errors(b: Bench) -> list[str]:
    """The controller log's lines that say error, less slurmctld's start-up noise."""
    name = "flurm.log" if b.controller == "flurm" else "slurmctld.log"
    try:
        text = (b.cluster.dir / "log" / name).read_text(errors="replace")
    except OSError:
        return []
    lines = [line for line in text.splitlines() if "error" in line.lower()]
    return [line for line in lines if not any(n in line for n in _START_NOISE)]


def _sampled(c: SlurmCluster, profile: Path | None, name: str) -> contextlib.AbstractContextManager[None]:
    """py-spy samples flurm's controller for the block into ``profile``/NAME.raw, its summary beside it
    (NAME.txt); nothing when not profiling or for slurmctld."""
    if profile is None or c.flurm is None:
        return contextlib.nullcontext()
    profile.mkdir(parents=True, exist_ok=True)
    raw = profile / f"{name}.raw"

    @contextlib.contextmanager
    def sampling() -> Iterator[None]:
        with record(c.flurm.pid, raw):
            yield
        (profile / f"{name}.txt").write_text(summarize(raw, top=30))

    return sampling()


def one_cluster(
    controller: str,
    nodes: int,
    sizes: sc.ScaleSizes,
    work: Sequence[str],
    out: Results,
    profile: Path | None = None,
) -> None:
    """A fresh cluster of ``nodes`` with a fresh fleet: the storm, then each scenario of ``work`` on it."""
    tag = f"{nodes} nodes: {'+'.join(work)}"
    started = time.perf_counter()
    kwargs = {"nodes": nodes, "cpus": sizes.cpus, "slurmd": False, "port_base": PORT_BASE}
    with cluster(controller, extra_conf=EXTRA_CONF, **kwargs) as c:
        print(f"[{controller}] {tag}: controller up in {time.perf_counter() - started:.1f} s", flush=True)
        b = Bench(c, Sizes(fill_workers=sizes.fill_workers))
        fleet = FleetProcess(c.conf, c.dir / "fleet", sizes.fleet_workers)
        try:
            with _sampled(c, profile, f"storm_{nodes}"):
                storm = sc.storm(b, fleet, nodes)
            print(
                f"[{controller}] {nodes:,} nodes idle {storm.seconds:.1f} s after the fleet listened",
                flush=True,
            )
            if "storm" in work:
                sc.record_storm(b, fleet, storm)
            for name in work:
                t = time.perf_counter()
                if name not in ("throughput", "queries"):
                    continue
                with _sampled(c, profile, f"{name}_{nodes}"):
                    if name == "throughput":
                        sc.throughput(b, fleet, sizes)
                    else:
                        sc.queries(b, nodes, sizes)
                print(f"[{controller}] {name} done in {time.perf_counter() - t:.1f} s", flush=True)
        except Exception as exc:
            b.notes.append(f"{tag} failed: {exc}")
            traceback.print_exc()
            print(c.log_tail(20), file=sys.stderr)
            print(fleet.log_tail(), file=sys.stderr)
        finally:
            out.fleet[tag] = fleet.stop()
            out.log_errors[tag] = _errors(b)
        out.metrics.update(b.metrics)
        out.notes.extend(b.notes)


def run_controller(
    controller: str, sizes: sc.ScaleSizes, only: Sequence[str], profile: Path | None = None
) -> Results:
    out = Results(load=[os.getloadavg()[0]])
    largest = sizes.nodes[-1]
    storm_sizes = sizes.nodes if "storm" in only else ()
    for nodes in storm_sizes:
        work = ["storm"] + (["throughput"] if nodes == largest and "throughput" in only else [])
        one_cluster(controller, nodes, sizes, work, out, profile)
    if "throughput" in only and largest not in storm_sizes:
        one_cluster(controller, largest, sizes, ["throughput"], out, profile)
    if "queries" in only:
        one_cluster(controller, largest, sizes, ["queries"], out, profile)
    if "storm" in only:
        _per_node(out, sizes.nodes)
    out.load.append(os.getloadavg()[0])
    return out


def _per_node(out: Results, nodes: tuple[int, ...]) -> None:
    low, high = out.metrics.get(f"rss_nodes_{nodes[0]}"), out.metrics.get(f"rss_nodes_{nodes[-1]}")
    if low is None or high is None or nodes[0] == nodes[-1]:
        return
    value = (high.value - low.value) * 1e3 / (nodes[-1] - nodes[0])  # MB -> KB
    label = f"controller RSS per node ({nodes[0]:,} -> {nodes[-1]:,} nodes)"
    out.metrics["rss_per_node"] = Metric("rss_per_node", label, "KB", "lower", value)


def machine() -> dict[str, object]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    return {
        "cpu_model": first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory": first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a small version (about 3 minutes for both)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help=f"{', '.join(SCENARIOS)}")
    p.add_argument(
        "--nodes", default="", help="comma list of fleet sizes (default 1000,5000; quick 200,1000)"
    )
    p.add_argument("--controllers", default=",".join(CONTROLLERS), help="comma list (default: both)")
    p.add_argument("--out", type=Path, default=RESULTS / "scale.json", help="where to write the JSON")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample flurm's controller with py-spy in each scenario: DIR/<scenario>.raw and .txt",
    )
    args = p.parse_args(argv)

    only = [n.strip() for item in args.only for n in item.split(",") if n.strip()] or list(SCENARIOS)
    if any(n not in SCENARIOS for n in only):
        p.error(f"--only: choose from {', '.join(SCENARIOS)}")
    controllers = [n.strip() for n in args.controllers.split(",") if n.strip()]
    if any(n not in CONTROLLERS for n in controllers):
        p.error(f"--controllers: choose from {', '.join(CONTROLLERS)}")
    if os.geteuid() != 0:
        p.error("needs root (munged, slurmctld and the fleet's nodes run as root)")
    sizes = sc.QUICK if args.quick else sc.FULL
    if args.nodes:
        try:
            nodes = tuple(sorted(int(n) for n in args.nodes.split(",") if n.strip()))
        except ValueError:
            p.error("--nodes: a comma list of numbers")
        if not nodes or nodes[-1] > 60_000 - PORT_BASE:
            p.error("--nodes: between 1 and 48,000 nodes")
        sizes = replace(sizes, nodes=nodes)

    started = time.time()
    results = {name: run_controller(name, sizes, only, args.profile) for name in controllers}
    print()
    print(table(results))
    loads = ", ".join(f"{n} {' -> '.join(f'{x:.1f}' for x in r.load)}" for n, r in results.items())
    print(f"\nload average during the runs: {loads} ({os.cpu_count()} CPUs)")
    for name, r in results.items():
        for note in r.notes:
            print(f"  note [{name}]: {note}")
        errors = sum(len(lines) for lines in r.log_errors.values())
        if errors:
            print(f"  note [{name}]: {errors} log lines say error (in the JSON)")

    result = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1),
            "git_commit": _git_commit(),
            "host": machine(),
            "slurm": _slurm_version(),
            "cluster": {"cpus_per_node": sizes.cpus, "extra_conf": EXTRA_CONF, "port_base": PORT_BASE},
            "sizes": asdict(sizes),
            "quick": args.quick,
            "only": only,
        },
        "results": {n: {k: asdict(m) for k, m in r.metrics.items()} for n, r in results.items()},
        "notes": {n: r.notes for n, r in results.items()},
        "fleet": {n: r.fleet for n, r in results.items()},
        "log_errors": {n: {k: v[:50] for k, v in r.log_errors.items()} for n, r in results.items()},
        "loadavg": {n: r.load for n, r in results.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {args.out}")
    return 1 if any(r.notes for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
