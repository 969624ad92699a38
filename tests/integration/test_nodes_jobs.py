"""Jobs on real slurmd under flurm, side by side with the real slurmctld 22.05.

Each scenario runs on a flurm cluster and on a slurmctld cluster (same slurm.conf: 2 nodes of 4
CPUs, KillWait=2, an Epilog that sleeps 3 s while a flag file exists), one thread each, and the
client-visible results must be equal: node states while jobs run (MIXED, ALLOCATED, then IDLE),
exit codes (COMPLETED 0:0, FAILED 3:0 NonZeroExitCode), a cancel (CANCELLED 0:15, the job's
process gone from /proc), COMPLETING while the epilog runs. The time limit is flurm only (slurmctld
checks limits every 30 s; its numbers are in that test's docstring).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from nodes_util import job_fields, node_fields, pids_running, sinfo_states, wait_for

from harness.loopback import SlurmCluster, cluster

EPILOG = "#!/bin/sh\n[ -e {flag} ] && sleep 3\nexit 0\n"


class Side:
    """One cluster of the pair, its epilog flag, and a tag that keeps its job processes apart."""

    def __init__(self, c: SlurmCluster, flag: Path, tag: int) -> None:
        self.c = c
        self.flag = flag
        self.tag = tag


@contextlib.contextmanager
def _side(controller: str, tag: int) -> Iterator[Side]:
    with tempfile.TemporaryDirectory(prefix="flurm-epilog-") as tmp:
        Path(tmp).chmod(0o755)
        script = Path(tmp) / "epilog.sh"
        flag = Path(tmp) / "slow-epilog"
        script.write_text(EPILOG.format(flag=flag))
        script.chmod(0o755)
        conf = f"KillWait=2\nMinJobAge=300\nEpilog={script}"
        with cluster(controller, nodes=2, cpus=4, extra_conf=conf) as c:
            yield Side(c, flag, tag)


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Side, Side]]:
    with _side("flurm", 1000) as flurm, _side("slurmctld", 2000) as ref:
        yield flurm, ref


def both(pair: tuple[Side, Side], scenario: Callable[[Side], Any]) -> tuple[Any, Any]:
    """Run the scenario on both clusters at once; (flurm's result, slurmctld's result)."""
    with ThreadPoolExecutor(2) as pool:
        f = pool.submit(scenario, pair[0])
        r = pool.submit(scenario, pair[1])
        return f.result(), r.result()


def _all_idle(c: SlurmCluster) -> dict[str, str] | None:
    states = sinfo_states(c)
    return states if states and all(s == "idle" for s in states.values()) else None


def test_node_states_follow_the_jobs(pair: tuple[Side, Side]) -> None:
    def scenario(s: Side) -> dict[str, Any]:
        c = s.c
        one = c.sbatch("-w", "compute-node-1", "-n1", "--wrap", f"sleep {s.tag + 1}")
        four = c.sbatch("-w", "compute-node-2", "-n4", "--wrap", f"sleep {s.tag + 2}")
        c.wait_state(one, ["RUNNING"])
        c.wait_state(four, ["RUNNING"])
        busy = c.run("sinfo", "-h", "-N", "-o", "%N %t %C").stdout
        n1, n2 = node_fields(c, "compute-node-1"), node_fields(c, "compute-node-2")
        c.run("scancel", str(one), str(four)).check()
        idle = wait_for("all nodes idle", lambda: _all_idle(c), 30)
        return {
            "sinfo": busy,
            "node1": (n1["State"], n1["CPUAlloc"]),
            "node2": (n2["State"], n2["CPUAlloc"]),
            "after": idle,
        }

    flurm, ref = both(pair, scenario)
    assert ref["sinfo"] == "compute-node-1 mix 1/3/0/4\ncompute-node-2 alloc 4/0/0/4\n"
    assert flurm == ref


def test_exit_codes(pair: tuple[Side, Side]) -> None:
    keys = ("JobState", "Reason", "ExitCode", "Restarts", "NodeList", "BatchHost")

    def scenario(s: Side) -> list[dict[str, str]]:
        c = s.c
        ok = c.sbatch("-w", "compute-node-1", "--wrap", "exit 0")
        bad = c.sbatch("-w", "compute-node-1", "--wrap", "echo oops; exit 3")
        c.wait_state(ok, ["COMPLETED"])
        c.wait_state(bad, ["FAILED"])
        return [{k: job_fields(c, j)[k] for k in keys} for j in (ok, bad)]

    flurm, ref = both(pair, scenario)
    assert ref[1]["ExitCode"] == "3:0" and ref[1]["Reason"] == "NonZeroExitCode"
    assert flurm == ref


def test_cancel_ends_the_job_processes(pair: tuple[Side, Side]) -> None:
    def scenario(s: Side) -> dict[str, str]:
        c = s.c
        argv = ["sleep", str(s.tag + 3)]
        # exec: one process. With a shell waiting on sleep, proctrack/linuxproc signals them one by one
        # and the job ends 0:15 or 143:0 depending on which dies first, under either controller
        job = c.sbatch("--wrap", "exec " + " ".join(argv))
        c.wait_state(job, ["RUNNING"])
        pids = wait_for(f"{argv} to run", lambda: pids_running(argv, c.conf), 15)
        c.run("scancel", str(job)).check()
        c.wait_state(job, ["CANCELLED"])
        wait_for(f"{argv} (pids {pids}) to be gone", lambda: not pids_running(argv, c.conf), 15)
        f = job_fields(c, job)
        wait_for("all nodes idle", lambda: _all_idle(c), 30)
        return {k: f[k] for k in ("JobState", "Reason", "ExitCode")}

    flurm, ref = both(pair, scenario)
    assert ref == {"JobState": "CANCELLED", "Reason": "None", "ExitCode": "0:15"}
    assert flurm == ref


def test_completing_while_the_epilog_runs(pair: tuple[Side, Side]) -> None:
    def scenario(s: Side) -> dict[str, Any]:
        c = s.c
        s.flag.touch()
        try:
            job = c.sbatch("-w", "compute-node-2", "--wrap", "true")
            seen: list[str] = []
            node_while_completing = ""
            squeue_while_completing = ""
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                state = c.job_state(job)
                if state == "COMPLETING" and not node_while_completing:
                    node_while_completing = sinfo_states(c).get("compute-node-2", "")
                    squeue_while_completing = c.run("squeue", "-h", "-j", str(job), "-o", "%t %T").stdout
                if state and (not seen or seen[-1] != state):
                    seen.append(state)
                if state == "COMPLETED":
                    break
                time.sleep(0.1)
            wait_for("all nodes idle", lambda: _all_idle(c), 30)
        finally:
            s.flag.unlink(missing_ok=True)
        return {
            "states": [x for x in seen if x in ("COMPLETING", "COMPLETED")],
            "node": node_while_completing,
            "squeue": squeue_while_completing,
        }

    flurm, ref = both(pair, scenario)
    assert ref == {"states": ["COMPLETING", "COMPLETED"], "node": "comp", "squeue": "CG COMPLETING\n"}
    assert flurm == ref


def test_time_limit(pair: tuple[Side, Side]) -> None:
    """sbatch -t 1: TIMEOUT after the limit (plus KillWait for a job that ignores SIGTERM).

    slurmctld 22.05 on the same cluster (checked by hand, limits are tested every 30 s there):
    a plain ``sleep`` became TIMEOUT Reason=TimeLimit ExitCode=0:15 when the limit was noticed;
    a job trapping SIGTERM showed COMPLETING, then TIMEOUT ExitCode=0:9 about 5 s later.
    """
    c = pair[0].c
    # exec: a shell waiting on its sleep ends 0:15 or 143:0 by which of the two the signal reaches first
    plain = c.sbatch("-t", "1", "--wrap", "exec sleep 1301")
    # the sleep runs in the background (bash runs a trap only once its foreground child ends) and
    # ignores SIGTERM, so the shell starts no other: proctrack signals the job's processes one by one,
    # and a new sleep would keep the trap waiting until SIGKILL, or, forked between the SIGKILLs of
    # the sleep and of the shell, outlive the job (wait then returns at once until the shell's comes)
    script = "trap 'echo got TERM' TERM; (trap '' TERM; exec sleep 1302) & while :; do wait $!; done"
    stubborn = c.sbatch("-t", "1", "--wrap", script)
    c.wait_state(plain, ["RUNNING"])
    c.wait_state(stubborn, ["RUNNING"])
    started = time.monotonic()
    timeout_at: dict[int, float] = {}
    stubborn_completing = False
    while len(timeout_at) < 2 and time.monotonic() - started < 90:
        for job in (plain, stubborn):
            state = c.job_state(job)
            if job == stubborn and state == "COMPLETING":
                stubborn_completing = True
            if state == "TIMEOUT" and job not in timeout_at:
                timeout_at[job] = time.monotonic() - started
        time.sleep(0.2)
    assert set(timeout_at) == {plain, stubborn}, f"not both TIMEOUT: {timeout_at}\n{c.log_tail()}"
    assert 59 <= timeout_at[plain] <= 75, timeout_at  # limits are checked every second; a loaded machine
    assert stubborn_completing
    assert timeout_at[plain] + 1.5 <= timeout_at[stubborn] <= timeout_at[plain] + 15, timeout_at
    p, s = job_fields(c, plain), job_fields(c, stubborn)
    assert (p["JobState"], p["Reason"], p["ExitCode"], p["TimeLimit"]) == (
        "TIMEOUT",
        "TimeLimit",
        "0:15",
        "00:01:00",
    )
    assert (s["JobState"], s["Reason"], s["ExitCode"]) == ("TIMEOUT", "TimeLimit", "0:9")
    assert not pids_running(["sleep", "1301"], c.conf) and not pids_running(["sleep", "1302"], c.conf)
    assert "got TERM" in (c.jobs_dir / f"slurm-{stubborn}.out").read_text()
