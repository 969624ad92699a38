"""flurm against the real slurmctld, side by side: submit throughput, query latency, job latency, memory.

    .venv/bin/python bench/run.py                 # the full run (about 5 minutes)
    .venv/bin/python bench/run.py --quick         # a small version (about a minute)
    .venv/bin/python bench/run.py --only query    # one scenario (repeatable, or a comma list)
    .venv/bin/python bench/run.py --profile       # also sample flurm with py-spy during each scenario
    .venv/bin/python bench/run.py --releases 22.05  # without the rows of the newer releases' clients
    .venv/bin/python bench/run.py --only accounting  # only the rows with accounting (bench/accounting.py)

Each controller gets a fresh loopback cluster (harness.loopback): munged and one real slurmd declaring
32 CPUs (SlurmdParameters=config_overrides lets it declare more than the host has), MaxJobCount=20000.
The table goes to stdout, the figures (with every sample) to bench/results/latest.json.

Then, for each newer SLURM release (24.11 and 26.05, from the chroots scripts/chroots.sh builds), both
controllers again on a cluster of that release (its slurmctld, its slurmd, its clients): sequential sbatch and
squeue at 10,000 queued jobs, as one row each per release.

Last, each controller recording into a real slurmdbd of its own on MariaDB (bench/accounting.py): what
accounting costs, as rows "with accounting: ...".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import profile  # noqa: E402
from bench.accounting import accounting_rows, run_with_accounting  # noqa: E402
from bench.migration import migration  # noqa: E402
from bench.scenarios import FULL, QUICK, SCENARIOS, Bench, Metric, Sizes  # noqa: E402
from harness import releases as slurm_releases  # noqa: E402

SCENARIOS["migration"] = migration
from harness.loopback import cluster  # noqa: E402

CONTROLLERS = ("flurm", "slurmctld")
CPUS = 32
EXTRA_CONF = "MaxJobCount=20000\nMinJobAge=300"
RESULTS = ROOT / "bench" / "results"

# What flurm must reach, as (metric key, comparison, reference): "ge"/"lt" slurmctld's figure, or "lt_abs" a
# fixed bound in the metric's unit.
TARGETS: tuple[tuple[str, str, float | None], ...] = (
    ("submit_seq_rate", "ge", None),
    ("submit_par_rate", "ge", None),
    ("squeue_10000", "lt", None),
    ("to_running", "lt_abs", 100.0),
)


# The newer releases' rows: what a site on that release sees of each controller.
RELEASE_SCENARIOS = ("submit_seq", "query")
RELEASE_METRICS = ("submit_seq_rate", "submit_seq_cpu", "squeue_10000", "rpc_job_info_10000")


def run_controller(
    controller: str,
    sizes: Sizes,
    only: Sequence[str],
    profile_dir: Path | None,
    release: str = slurm_releases.HOST,
) -> Bench:
    started = time.perf_counter()
    with cluster(controller, cpus=CPUS, extra_conf=EXTRA_CONF, release=release) as c:
        print(
            f"[{controller} {release}] cluster up in {time.perf_counter() - started:.1f} s ({c.dir})",
            flush=True,
        )
        bench = Bench(c, sizes)
        bench.load.append(os.getloadavg()[0])
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            if name == "migration" and controller != "slurmctld":
                continue  # flurm in shadow of the filled slurmctld cluster
            t = time.perf_counter()
            print(f"[{controller}] {name} ...", flush=True)
            try:
                if profile_dir is not None and c.flurm is not None:
                    out = profile_dir / f"flurm-{name}.txt"
                    with profile.record(c.flurm.pid, out):
                        scenario(bench)
                    print(profile.summarize(out), flush=True)
                else:
                    scenario(bench)
            except Exception as exc:
                bench.notes.append(f"{name} failed: {exc}")
                traceback.print_exc()
                print(c.log_tail(20), file=sys.stderr)
            print(f"[{controller}] {name} done in {time.perf_counter() - t:.1f} s", flush=True)
        bench.load.append(os.getloadavg()[0])
    return bench


def _fmt(m: Metric | None) -> str:
    if m is None:
        return "-"
    if m.unit == "ms":
        return f"{m.value:,.1f} ms" if m.value < 100 else f"{m.value:,.0f} ms"
    if m.unit in ("MB", "KB", "s"):
        return f"{m.value:,.1f} {m.unit}"
    if not m.unit:  # a count
        return f"{m.value:,.0f}"
    return f"{m.value:,.0f} {m.unit}"


def _ratio(flurm: Metric | None, ref: Metric | None) -> str:
    if flurm is None or ref is None or not ref.value or not flurm.value:
        return ""
    ratio = flurm.value / ref.value
    if flurm.better == "neither":
        return f"{ratio:.2f}x"
    good = ratio >= 1 if flurm.better == "higher" else ratio <= 1
    return f"{ratio:.2f}x {'(better)' if good else '(worse)'}"


def migration_table(benches: dict[str, Bench]) -> str:
    ref = benches.get("slurmctld")
    rows = [
        (m.label, _fmt(m) if m.unit else f"{m.value:.0f}")
        for k, m in (ref.metrics.items() if ref else [])
        if k.startswith("mig_")
    ]
    if not rows:
        return ""
    width = max(len(r[0]) for r in rows)
    lines = ["migration: flurm in shadow of the slurmctld cluster above, then its takeover", ""]
    lines += [f"{label.ljust(width)}  {value}" for label, value in rows]
    return "\n".join(lines)


def release_rows(benches: dict[str, Bench], by_release: dict[str, dict[str, Bench]]) -> None:
    """Fold the newer releases' figures into the table's benches, as rows of their own."""
    for release, runs in by_release.items():
        for controller, bench in runs.items():
            into = benches.get(controller)
            if into is None:
                continue
            for key in RELEASE_METRICS:
                m = bench.metrics.get(key)
                if m is not None:
                    label = f"SLURM {release}: {m.label}"
                    into.metrics[f"{key}@{release}"] = replace(m, key=f"{key}@{release}", label=label)
            into.notes.extend(f"{release}: {n}" for n in bench.notes)


class HasMetrics(Protocol):
    """What a table column needs: a Bench, or bench/scale.py's figures of several clusters."""

    @property
    def metrics(self) -> dict[str, Metric]: ...


def table(benches: Mapping[str, HasMetrics]) -> str:
    keys: list[str] = []
    labels: dict[str, str] = {}
    for b in benches.values():
        for k, m in b.metrics.items():
            if k.startswith("mig_"):
                continue
            if k not in labels:
                keys.append(k)
                labels[k] = m.label
    names = list(benches)
    header = ["metric", *names] + (["flurm / slurmctld"] if set(CONTROLLERS) <= set(names) else [])
    rows = [header]
    for k in keys:
        row = [labels[k], *(_fmt(benches[n].metrics.get(k)) for n in names)]
        if len(header) > len(names) + 1:
            row.append(_ratio(benches["flurm"].metrics.get(k), benches["slurmctld"].metrics.get(k)))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for i, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def check_targets(benches: dict[str, Bench]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    flurm = benches.get("flurm")
    ref = benches.get("slurmctld")
    if flurm is None:
        return out
    for key, how, bound in TARGETS:
        mine = flurm.metrics.get(key)
        if how == "lt_abs":
            goal = bound
        else:
            theirs = ref.metrics.get(key) if ref else None
            goal = theirs.value if theirs else None
        if mine is None or goal is None:
            continue
        met = mine.value >= goal if how == "ge" else mine.value < goal
        text = {"ge": ">=", "lt": "<", "lt_abs": "<"}[how]
        out.append({"metric": key, "flurm": mine.value, "goal": f"{text} {goal:.4g} {mine.unit}", "met": met})
    return out


def _git_commit() -> str:
    r = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return r.stdout.strip()


def _slurm_version() -> str:
    # the daemon's version: a client with no SLURM_CONF fails before it prints its own
    r = subprocess.run(["slurmctld", "-V"], capture_output=True, text=True)
    return r.stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a small version (about a minute)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these scenarios ({', '.join(SCENARIOS)}); repeatable or comma-separated",
    )
    p.add_argument("--controllers", default=",".join(CONTROLLERS), help="comma list (default: both)")
    p.add_argument("--profile", action="store_true", help="sample flurm with py-spy during each scenario")
    p.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="where to write the JSON")
    p.add_argument(
        "--releases",
        default=",".join(slurm_releases.RELEASES),
        help="comma list of SLURM releases (default: all); the newer ones add their rows",
    )
    args = p.parse_args(argv)

    only = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = [n for n in only if n not in SCENARIOS and n != "accounting"]
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    controllers = [n.strip() for n in args.controllers.split(",") if n.strip()]
    if any(n not in CONTROLLERS for n in controllers):
        p.error(f"--controllers: choose from {', '.join(CONTROLLERS)}")
    if os.geteuid() != 0:
        p.error("needs root (slurmd launches jobs as the submitting user)")
    sizes = QUICK if args.quick else FULL
    profile_dir = None
    if args.profile:
        if profile.py_spy() is None:
            p.error("--profile needs py-spy: .venv/bin/pip install py-spy")
        profile_dir = args.out.parent
        profile_dir.mkdir(parents=True, exist_ok=True)

    wanted = [n.strip() for n in args.releases.split(",") if n.strip()]
    for name in wanted:
        slurm_releases.get(name).require()
    newer = [n for n in wanted if n != slurm_releases.HOST]

    started = time.time()
    benches = {name: run_controller(name, sizes, only, profile_dir) for name in controllers}
    release_sizes = replace(sizes, query_levels=(10_000,) if not args.quick else sizes.query_levels[-1:])
    by_release = {
        release: {
            name: run_controller(name, release_sizes, RELEASE_SCENARIOS, None, release)
            for name in controllers
        }
        for release in newer
        if not only or set(only) & set(RELEASE_SCENARIOS)
    }
    release_rows(benches, by_release)
    if not only or "accounting" in only:
        runs = {
            name: (
                run_with_accounting(name, sizes, CPUS, EXTRA_CONF, accounting=False),
                run_with_accounting(name, sizes, CPUS, EXTRA_CONF),
            )
            for name in controllers
        }
        accounting_rows(benches, runs)
    print()
    print(table(benches))
    mig = migration_table(benches)
    if mig:
        print()
        print(mig)
    targets = check_targets(benches)
    if targets:
        print("\nflurm targets:")
        for t in targets:
            print(f"  {'MET ' if t['met'] else 'MISS'}  {t['metric']}: {t['flurm']:.4g} (goal {t['goal']})")
    loads = ", ".join(f"{name} {' -> '.join(f'{x:.1f}' for x in b.load)}" for name, b in benches.items())
    print(f"\nload average during the runs: {loads} ({os.cpu_count()} CPUs)")
    for name, b in benches.items():
        for note in b.notes:
            print(f"  note [{name}]: {note}")

    result = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1),
            "git_commit": _git_commit(),
            "host": {
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "kernel": platform.release(),
                "python": platform.python_version(),
            },
            "slurm": _slurm_version(),
            "releases": wanted,
            "cluster": {"nodes": 1, "cpus": CPUS, "extra_conf": EXTRA_CONF},
            "sizes": asdict(sizes),
            "quick": args.quick,
            "only": only,
        },
        "results": {name: {k: asdict(m) for k, m in b.metrics.items()} for name, b in benches.items()},
        "targets": targets,
        "notes": {name: b.notes for name, b in benches.items()},
        # the machine's 1-minute load average before and after each controller's run: other work on the
        # machine makes every figure noisier, the throughputs most
        "loadavg": {name: b.load for name, b in benches.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {args.out}")
    return 1 if any(b.notes for b in benches.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
