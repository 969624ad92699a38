"""flurm drives 24.11 and 26.05 slurmd as that release's own slurmctld does.

For each release, the same batch jobs run under flurm (with that release's slurmd) and under the
release's real slurmctld + slurmd: one printing its SLURM_* environment, one ending with `exit 3`,
one killed by SIGKILL from inside and one cancelled with scancel while it runs. The job's environment
(times, paths, pids and the sluid's value aside), its state and ExitCode are the same. Each side is
read with the clients that talk to its controller: the release's own against its slurmctld, 22.05's
against flurm (flurm's job listing for 24.11/26.05 clients is not this family's), compared by value.

A mixed cluster: one flurm drives a 22.05 slurmd and a 24.11 slurmd at once, each in its own
release, and a job runs on each.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from harness.loopback import SlurmCluster, cluster

RELEASES = ["24.11", "26.05"]
JOBS = {
    "env": "env | grep ^SLURM_ | sort",
    "exit3": "exit 3",
    "killed": "kill -9 $$",
    # exec: the script is the process the TERM ends (a shell waiting on its child may outlive it and
    # exit 143 instead, seen under both controllers: a race in the slurmd's kill)
    "cancelled": "echo started; exec sleep 300",
}
# differ from run to run or cluster to cluster, whoever the controller
VOLATILE = {
    "SLURM_CONF",
    "SLURM_SUBMIT_DIR",
    "SLURM_JOB_START_TIME",
    "SLURM_JOB_END_TIME",
    "SLURM_TASK_PID",
    "SLURM_JOB_SLUID",
}
SLUID = re.compile(r"s[0-9A-HJKMNP-TV-Z]{13}")


def _fields(c: SlurmCluster, job: int, release: str) -> dict[str, str]:
    out = c.run("scontrol", "show", "job", "-o", str(job), release=release).check().stdout
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", out))


def _wait_output(path: Path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} does not say {text!r}")
        time.sleep(0.1)


def _run_jobs(c: SlurmCluster, release: str) -> dict[str, dict[str, str]]:
    """Each job of JOBS to its end: its scontrol fields (the client of ``release``) and, for "env",
    its SLURM_* variables."""
    results: dict[str, dict[str, str]] = {}
    for name, script in JOBS.items():
        job = c.sbatch("-o", f"{name}.out", "--wrap", script, release=release)
        if name == "cancelled":
            # RUNNING comes with the allocation, before slurmd has the script: a cancel then races
            # the launch (the step may end by the SIGKILL that follows instead of the TERM)
            _wait_output(c.jobs_dir / f"{name}.out", "started")
            c.run("scancel", str(job), release=release).check()
        c.wait_state(job, ["COMPLETED", "FAILED", "CANCELLED"])
        fields = _fields(c, job, release)
        results[name] = {k: fields.get(k, "") for k in ("JobState", "ExitCode", "Reason")}
    env_out = Path(c.jobs_dir / "env.out").read_text()
    results["environment"] = dict(line.split("=", 1) for line in env_out.splitlines() if "=" in line)
    return results


def _comparable(results: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    env = results["environment"]
    assert SLUID.fullmatch(env.get("SLURM_JOB_SLUID", "s" + "0" * 13)), env.get("SLURM_JOB_SLUID")
    kept = {k: v for k, v in env.items() if k not in VOLATILE}
    # the end time is the start plus the time limit (UNLIMITED: a year), whoever computed it
    if "SLURM_JOB_END_TIME" in env:
        kept["JOB_SPAN"] = str(int(env["SLURM_JOB_END_TIME"]) - int(env["SLURM_JOB_START_TIME"]))
    return {**results, "environment": kept}


@pytest.mark.parametrize("release", RELEASES)
def test_batch_jobs_as_under_slurmctld(release: str) -> None:
    with cluster("slurmctld", release=release, cpus=2) as ref:
        want = _run_jobs(ref, release)
    with cluster("flurm", release=release, cpus=2) as c:
        got = _run_jobs(c, release)
        nodes = c.run("scontrol", "show", "node", "-o").check().stdout
        assert f"Version={release}." in nodes, nodes
        # the signal's Reason: RaisedSignal from 23.02 on (state/reasons.py), JobLaunchFailure for a
        # 22.05 client reading the same job
        killed = c.run("squeue", "-h", "-t", "all", "-n", "wrap", "-o", "%i %r", release="22.05").check()
    assert want["killed"]["Reason"] == "RaisedSignal:9(Killed)"
    assert "JobLaunchFailure" in killed.stdout, killed.stdout
    assert _comparable(got) == _comparable(want)
    assert want["env"] == {"JobState": "COMPLETED", "ExitCode": "0:0", "Reason": "None"}
    assert want["exit3"] == {"JobState": "FAILED", "ExitCode": "3:0", "Reason": "NonZeroExitCode"}
    assert want["killed"] == {"JobState": "FAILED", "ExitCode": "0:9", "Reason": "RaisedSignal:9(Killed)"}
    assert want["cancelled"] == {"JobState": "CANCELLED", "ExitCode": "0:15", "Reason": "None"}


def test_signal_reason_as_22_05() -> None:
    """22.05's slurmctld fails a batch job that a signal ended with JobLaunchFailure; so does flurm."""
    shown = []
    for controller in ("slurmctld", "flurm"):
        with cluster(controller, cpus=1) as c:
            job = c.sbatch("--wrap", "kill -9 $$")
            c.wait_state(job, ["FAILED", "COMPLETED"])
            fields = _fields(c, job, "22.05")
            shown.append((fields["JobState"], fields["Reason"], fields["ExitCode"]))
    assert shown == [("FAILED", "JobLaunchFailure", "0:9")] * 2


def test_mixed_releases_under_one_flurm() -> None:
    with cluster("flurm", nodes=2, cpus=1, slurmd_release="22.05,24.11") as c:
        versions = {
            m.group(1): m.group(2)
            for m in re.finditer(
                r"NodeName=(\S+) .*?Version=(\S+)", c.run("scontrol", "show", "node", "-o").stdout
            )
        }
        assert {n: v[:6] for n, v in versions.items()} == {
            "compute-node-1": "22.05.",
            "compute-node-2": "24.11.",
        }, versions
        jobs = {
            node: c.sbatch("-w", node, "-o", f"{node}.out", "--wrap", "echo $SLURMD_NODENAME; exit 4")
            for node in versions
        }
        for node, job in jobs.items():
            assert c.wait_state(job, ["COMPLETED", "FAILED"]) == "FAILED"
            assert _fields(c, job, "22.05")["ExitCode"] == "4:0"
            assert (c.jobs_dir / f"{node}.out").read_text() == f"{node}\n"
