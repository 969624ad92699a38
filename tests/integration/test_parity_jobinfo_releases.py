"""squeue and scontrol show job/step of SLURM 24.11 and 26.05 print against flurm what they print against
their own release's slurmctld.

One scenario per release, side by side: a slurmctld cluster of that release (its daemons and clients from
its chroot) and a flurm cluster with that release's slurmd and clients, 1 node x 2 CPUs,
PriorityType=priority/basic on both (from 23.11 slurmctld's default is priority/multifactor, which flurm
does not compute). The jobs, submitted with the release's sbatch: one that completed, one running with a
30 minute limit, one held and an array 1-4%1 (task 1 running, 2-4 pending on the throttle). The
release's clients then list them: squeue (default, -l, -o with many fields, -t all, -j, -s, --json),
scontrol show job [-d], of one job and of the array, scontrol show step.

Normalised as the other parity tests (times, paths, session ids), plus each job's SLUID (the ids differ
by construction), squeue --json's times, a step's run time and AccrueTime (which slurmctld sets on an
array or not depending on the timing of its scheduling pass).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from parity import cluster, normalise, poll

from harness.loopback import SlurmCluster

RELEASES = ("24.11", "26.05")
CONF = "PriorityType=priority/basic\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0"

LONG = "#!/bin/sh\nexec sleep 300\n"
QUICK = "#!/bin/sh\ntrue\n"

LISTINGS: list[tuple[str, ...]] = [
    ("squeue",),
    ("squeue", "-l"),
    ("squeue", "-o", "%i|%j|%u|%T|%r|%P|%D|%C|%l|%N|%K|%F|%q|%a|%m|%c|%f|%h|%Q|%y|%Z|%o|%e|%S|%V"),
    ("squeue", "-t", "all", "-o", "%A|%i|%t|%r|%l|%D|%R"),
    ("squeue", "-j", "2"),
    ("squeue", "-s"),
    ("scontrol", "show", "job"),
    ("scontrol", "show", "job", "-d"),
    ("scontrol", "show", "job", "2"),
    ("scontrol", "show", "job", "4"),
    ("scontrol", "-o", "show", "job", "1"),
    ("scontrol", "show", "step"),
]


def _submit(c: SlurmCluster, release: str) -> None:
    for name, text in (("long.sh", LONG), ("quick.sh", QUICK)):
        (c.jobs_dir / name).write_text(text)
        (c.jobs_dir / name).chmod(0o755)

    def sbatch(*args: str) -> int:
        return c.sbatch("-o", "/dev/null", *args, release=release)

    assert sbatch("-J", "quick", "quick.sh") == 1
    c.wait_state(1, ["COMPLETED"])
    assert sbatch("-J", "long", "-t", "30", "long.sh") == 2
    assert sbatch("-J", "held", "-H", "long.sh") == 3
    assert sbatch("-J", "arr", "--array=1-4%1", "long.sh") == 4
    c.wait_state(2, ["RUNNING"])

    def settled() -> bool:
        out = c.run("squeue", "-h", "-r", "-o", "%i %t %r", release=release).stdout.split("\n")
        rows = sorted(line for line in out if line)
        return rows == [
            "2 R None",
            "3 PD JobHeldUser",
            "4_1 R None",
            *(f"4_{i} PD JobArrayTaskLimit" for i in (2, 3, 4)),
        ]

    poll(f"[{c.controller}] the jobs at rest", settled, timeout=60)


_SLUID = re.compile(r"\bs[0-9A-HJKMNP-TV-Z]{13}\b")
# slurmctld sets an array's AccrueTime or not depending on whether a scheduling pass ran before the
# first task was split off (either way in the same run of one release): a race, not compared
_ACCRUE = re.compile(r"AccrueTime=\S+")
# the run time of a step (squeue -s has no JOBID header for normalise's TIME column)
_STEP_TIME = re.compile(r"(?<= )\d+:\d\d(?= +compute-node)")


def _listing(c: SlurmCluster, release: str, args: tuple[str, ...]) -> str:
    r = c.run(*args, release=release)
    text = f"$ {' '.join(args)} -> rc={r.returncode}\n{r.stdout}"
    if r.stderr.strip():
        text += f"stderr: {r.stderr}"
    if args[:2] == ("squeue", "--json"):
        return text
    text = _SLUID.sub("<SLUID>", normalise(text, c))
    return _STEP_TIME.sub("<T>", _ACCRUE.sub("AccrueTime=<ACCRUE>", text))


_JSON_VOLATILE = {
    "submit_time",
    "eligible_time",
    "accrue_time",
    "start_time",
    "end_time",
    "last_sched_evaluation",
    "pre_sus_time",
    "resize_time",
    "suspend_time",
    "preempt_time",
    "deadline",
    "command",
    "current_working_directory",
    "standard_output",
    "standard_error",
    "standard_input",
    "stdout_expanded",
    "stderr_expanded",
    "stdin_expanded",
    "submit_line",
    "sluid",
    "allocating_node",
}


def _json_jobs(c: SlurmCluster, release: str) -> dict[int, dict[str, Any]]:
    r = c.run("squeue", "--json", release=release).check()
    jobs = json.loads(r.stdout)["jobs"]

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k not in _JSON_VOLATILE}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return {j["job_id"]: clean(j) for j in jobs}


@pytest.fixture(params=RELEASES)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, SlurmCluster, SlurmCluster]]:
    release = request.param
    with (
        cluster("slurmctld", release=release, cpus=2, extra_conf=CONF) as ref,
        cluster("flurm", release=release, cpus=2, extra_conf=CONF) as got,
    ):
        _submit(ref, release)
        _submit(got, release)
        yield release, ref, got


def test_job_and_step_listings_of_newer_clients(pair: tuple[str, SlurmCluster, SlurmCluster]) -> None:
    release, ref, got = pair
    for args in LISTINGS:
        want, have = _listing(ref, release, args), _listing(got, release, args)
        assert have == want, f"{release} {' '.join(args)}:\n--- slurmctld\n{want}\n--- flurm\n{have}"
    assert _json_jobs(got, release) == _json_jobs(ref, release)
