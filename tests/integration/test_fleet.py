"""The simulated slurmd fleet (bench/fleet) under the real slurmctld and under flurm, in each release.

Each controller gets a cluster of 16 nodes of 4 CPUs with no slurmd; the fleet serves those nodes
(``python -m bench.fleet serve -f slurm.conf --release R``, slurmd of the cluster's release R, whose
slurmctld is the reference and whose clients are used). The same scenario runs on both, one thread each:
every node registers and becomes idle; jobs that exit 0, exit 3 (``#FLEET exit=3``), span two nodes,
are cancelled while running, and are requeued while running then cancelled. Each job is submitted
once the one before it ended, so that placement does not depend on timing. What the clients print
that does not depend on time (sinfo, the jobs' states, reasons, exit codes and nodes) must be equal,
and the fleet's own counts must say what each controller sent it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from bench.fleet.__main__ import RELEASE_VERSIONS as FLEET_VERSIONS
from nodes_util import fields, job_fields, sinfo_states, wait_for

from harness import releases
from harness.loopback import REPO, SlurmCluster, cluster

NODES, CPUS = 16, 4
NODE_KEYS = ("Arch", "CPUTot", "RealMemory", "Sockets", "CoresPerSocket", "State", "Version", "OS")
JOB_KEYS = ("JobState", "Reason", "ExitCode", "NodeList", "NumNodes", "NumCPUs", "Restarts", "BatchHost")


@contextmanager
def _fleet(c: SlurmCluster) -> Iterator[Callable[[], dict[str, Any]]]:
    """The fleet serving ``c``'s nodes, as slurmd of the cluster's release; yields a function that
    stops it and returns its stats."""
    stats, ready = c.dir / "fleet-stats.json", c.dir / "fleet-ready"
    log = open(c.dir / "log" / "fleet.log", "ab")  # noqa: SIM115 (kept open for the child)
    argv = ["serve", "-f", str(c.conf), "--release", c.release]
    argv += ["--stats", str(stats), "--ready", str(ready), "-v"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fleet", *argv],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()

    def stop() -> dict[str, Any]:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        seen = json.loads(stats.read_text()) if stats.exists() else {}
        return {"exit status": proc.returncode, **seen}

    try:
        wait_for("the fleet to listen", lambda: ready.exists() or proc.poll() is not None, 30)
        assert proc.poll() is None, f"the fleet exited {proc.returncode}:\n{_tail(c, 'fleet.log')}"
        yield stop
    finally:
        stop()


def _tail(c: SlurmCluster, name: str) -> str:
    return c.log_tail(path=name)


def _all_idle(c: SlurmCluster) -> dict[str, str] | None:
    states = sinfo_states(c)
    return states if len(states) == NODES and all(s == "idle" for s in states.values()) else None


def _script(c: SlurmCluster, name: str, body: str) -> str:
    path = c.jobs_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    return str(path)


def _done(c: SlurmCluster, job: int, states: list[str], timeout: float = 30.0) -> None:
    """``job`` in one of ``states`` and every node idle again (the next job then sees the same
    cluster under either controller)."""
    c.wait_state(job, states, timeout=timeout)
    wait_for("all nodes idle", lambda: _all_idle(c), 30)


def scenario(controller: str, release: str) -> dict[str, Any]:
    t0 = time.monotonic()
    kw: dict[str, Any] = dict(nodes=NODES, cpus=CPUS, slurmd=False, release=release)
    kw["extra_conf"] = "MinJobAge=600"  # finished jobs stay listed until the end
    with cluster(controller, **kw) as c, _fleet(c) as stop:
        out = _jobs(c)
        out["stats"] = stop()
        out["fleet log"] = _tail(c, "fleet.log")
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def _jobs(c: SlurmCluster) -> dict[str, Any]:
    wait_for(f"{NODES} idle nodes", lambda: _all_idle(c), 40)
    out: dict[str, Any] = {
        "sinfo": c.run("sinfo").stdout,
        "sinfo -N": c.run("sinfo", "-N", "-h", "-o", "%N %t %c %m %P").stdout,
    }
    node = fields(c.run("scontrol", "show", "node", "-o", "compute-node-1").check().stdout)
    out["node"] = {k: node.get(k) for k in NODE_KEYS}
    jobs: dict[str, int] = {}
    jobs["ok"] = c.sbatch("--wrap", "sleep 1")
    _done(c, jobs["ok"], ["COMPLETED"])
    jobs["exit3"] = c.sbatch(_script(c, "exit3.sh", "#FLEET sleep=1 exit=3"))
    _done(c, jobs["exit3"], ["FAILED"])
    jobs["two"] = c.sbatch("-N2", "-n2", "--wrap", "sleep 1")
    _done(c, jobs["two"], ["COMPLETED"])

    long = _script(c, "long.sh", "#FLEET sleep=600")
    jobs["cancel"] = c.sbatch(long)
    c.wait_state(jobs["cancel"], ["RUNNING"])
    out["running"] = c.run("squeue", "-h", "-o", "%i %T %N %D %C").stdout
    c.run("scancel", str(jobs["cancel"])).check()
    _done(c, jobs["cancel"], ["CANCELLED"])

    jobs["requeue"] = c.sbatch("-N3", "--requeue", long)
    c.wait_state(jobs["requeue"], ["RUNNING"])
    c.run("scontrol", "requeue", str(jobs["requeue"])).check()
    # a requeued job waits (BeginTime) before it may start again; it is cancelled while it waits
    c.wait_state(jobs["requeue"], ["PENDING"])
    requeued = job_fields(c, jobs["requeue"])
    out["requeued"] = {k: requeued[k] for k in ("JobState", "Reason", "Restarts")}
    c.run("scancel", str(jobs["requeue"])).check()
    _done(c, jobs["requeue"], ["CANCELLED"])

    out["squeue"] = c.run("squeue", "-t", "all", "-S", "i", "-h", "-o", "%i %T %r %N %D %C").stdout
    by_id = {f["JobId"]: f for f in map(fields, c.run("scontrol", "show", "job", "-o").stdout.splitlines())}
    out["jobs"] = {name: {k: by_id[str(j)].get(k) for k in JOB_KEYS} for name, j in jobs.items()}
    out["job ids"] = list(jobs.values())
    out["sinfo after"] = c.run("sinfo").stdout
    return out


@pytest.mark.parametrize("release", list(releases.RELEASES))
def test_fleet_runs_the_same_jobs_under_both_controllers(release: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        r, f = pool.submit(scenario, "slurmctld", release), pool.submit(scenario, "flurm", release)
        ref, got = r.result(), f.result()
    print(f"{release}: slurmctld {ref['seconds']} s, flurm {got['seconds']} s")

    # what slurmctld itself says, so that a fleet that broke both alike still fails
    assert ref["sinfo"] == (
        "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST\n"
        f"debug*       up   infinite     {NODES}   idle compute-node-[1-{NODES}]\n"
    )
    assert ref["jobs"]["exit3"]["ExitCode"] == "3:0" and ref["jobs"]["exit3"]["Reason"] == "NonZeroExitCode"
    assert ref["jobs"]["two"]["NumNodes"] == "2"
    assert ref["jobs"]["cancel"]["JobState"] == "CANCELLED"
    assert ref["node"]["Version"] == FLEET_VERSIONS[release] and ref["node"]["State"] == "IDLE"

    for key in ("sinfo", "sinfo -N", "node", "running", "requeued", "squeue", "jobs", "job ids"):
        assert got[key] == ref[key], (key, got[key], ref[key])
    assert got["sinfo after"] == ref["sinfo after"] == ref["sinfo"]

    launches = len(ref["jobs"])  # one batch launch per job, to its first node
    # every node of a job that ran is told to end it (the requeued job's nodes once, at the requeue)
    terminates = sum(int(job["NumNodes"]) for job in ref["jobs"].values())
    for side in (ref, got):
        stats = side["stats"]
        assert stats["exit status"] == 0 and stats["nodes"] == NODES, side["fleet log"]
        # a registration that timed out on a loaded machine is sent again: at least one each
        assert stats["registrations_sent"] >= NODES, stats
        assert stats["received"].get("REQUEST_BATCH_JOB_LAUNCH") == launches, stats
        assert stats["received"].get("REQUEST_TERMINATE_JOB") == terminates, stats
        # every job, ended by its plan or by a kill, reported its batch script's end
        assert stats["completions_sent"] == launches and stats["send_failures"] == 0, stats
