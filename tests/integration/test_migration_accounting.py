"""Accounting across the migration, with the real slurmctld 22.05 recording into the real slurmdbd 22.05 on a
real MariaDB (harness/accounting.py), then flurm taking the cluster over.

In shadow flurm sends slurmdbd nothing (slurmdbd's own RPC statistics: no second DBD_REGISTER_CTLD); its
pre-flight refuses the takeover while slurmdbd is away; at the takeover it registers as the same cluster
the way a restarted slurmctld does (one more DBD_REGISTER_CTLD on slurmctld's port, no DBD_FLUSH_JOBS, no
cold-start node events); the jobs it adopts (a batch job with an srun step running, one without a step),
the pending job it starts (whose row slurmctld made) and the jobs it runs afterwards are each in sacct once,
steps included, with their final states and exit codes, and no runaway job is left.

One cluster for the whole module, walked through in order (the pre-flight test has one of its own).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

pytestmark = pytest.mark.integration

T = TypeVar("T")
SACCT_FORMAT = "JobID,JobName,State,ExitCode"


class Mig:
    def __init__(self, c: SlurmCluster, acct: Accounting) -> None:
        self.c = c
        self.acct = acct
        self.gate = c.dir / "gate"
        self.ids: dict[str, int] = {}
        self.registrations_before = 0
        self.flushes_before = 0
        self.events_before = ""
        self.rows_before: dict[str, list[str]] = {}


@contextlib.contextmanager
def recording(nodes: int) -> Iterator[Mig]:
    """slurmctld recording into its own slurmdbd."""
    d = Path(tempfile.mkdtemp(prefix="flurm-acctmig-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key))
    conf = acct.slurm_conf_lines() + "MinJobAge=600\n"
    c = SlurmCluster(d / "cluster", "slurmctld", nodes=nodes, cpus=2, extra_conf=conf)
    try:
        acct.start()  # slurmctld refuses to start on a database it cannot reach
        c.start()
        yield Mig(c, acct)
    finally:
        c.stop()
        acct.stop()




def eventually(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    seen = probe()
    while not ok(seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never true; last: {seen}")
        time.sleep(0.3)
        seen = probe()
    return seen


def rpc_counts(c: SlurmCluster) -> dict[str, int]:
    """slurmdbd's count of each message type it was sent since it started (`sacctmgr show stats`)."""
    out = c.run("sacctmgr", "show", "stats").check().stdout
    part = out.split("by message type", 1)[1].split("by user", 1)[0]
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^\s*(\w+)\s*\(\s*\d+\)\s+count:(\d+)", part, re.M)
    }


def control_port(c: SlurmCluster) -> list[str]:
    return (
        c.run("sacctmgr", "-n", "-P", "show", "cluster", "format=Cluster,ControlPort").check().stdout.split()
    )


def node_events(c: SlurmCluster) -> str:
    """Every node event slurmdbd holds (their reasons and when they began and ended)."""
    fmt = "format=NodeName,State,Reason,Start,End"
    return c.run("sacctmgr", "-n", "-P", "show", "event", "all_time", fmt).check().stdout


def sacct_rows(c: SlurmCluster, ids: list[int]) -> list[str]:
    """Every record of these jobs, duplicates included (``-D``), steps included."""
    jobs = ",".join(map(str, ids))
    r = c.run("sacct", "-D", "-n", "-P", "-j", jobs, "-o", SACCT_FORMAT).check()
    return sorted(r.stdout.splitlines())


def job_rows(c: SlurmCluster, ids: list[int]) -> dict[str, list[str]]:
    """Each job's row (not its steps): {job id: [db index, submit time, start time]}."""
    jobs = ",".join(map(str, ids))
    r = c.run("sacct", "-X", "-D", "-n", "-P", "-j", jobs, "-o", "JobID,DBIndex,Submit,Start").check()
    rows = [line.split("|") for line in r.stdout.splitlines()]
    assert len(rows) == len(ids), rows
    return {row[0]: row[1:] for row in rows}


def gate_script(exit_code: int, srun: bool) -> str:
    wait = "while [ ! -e GATE ]; do sleep 0.2; done".replace("GATE", "$GATE")
    body = f"srun -n1 bash -c '{wait}'" if srun else wait
    return f"#!/bin/bash\n{body}\nexit {exit_code}\n"


def submit_scenario(mig: Mig) -> None:
    """A failed job, two running ones held by the gate (one in an srun step), one pending on the first
    of them; until slurmctld recorded each (the pending one's row from its db-index thread)."""
    c, ids = mig.c, mig.ids
    ids["failed"] = c.sbatch("-J", "failed", "--wrap", "exit 3")
    for name, code, srun in (("stepped", 5, True), ("plain", 0, False)):
        path = c.dir / f"{name}.sh"
        path.write_text(gate_script(code, srun))
        ids[name] = c.sbatch("-J", name, "-n1", f"--export=ALL,GATE={mig.gate}", str(path))
    ids["pending"] = c.sbatch(
        "-J", "pending", f"--dependency=afterany:{ids['stepped']}", "--wrap", "srun true"
    )
    c.wait_state(ids["failed"], ["FAILED"], timeout=30)
    for name in ("stepped", "plain"):
        c.wait_state(ids[name], ["RUNNING"], timeout=30)
    eventually(
        "slurmctld's records",
        lambda: sacct_rows(c, list(ids.values())),
        lambda rows: (
            {f"{ids['pending']}|pending|PENDING|0:0", f"{ids['stepped']}.0|bash|RUNNING|0:0"} <= set(rows)
        ),
    )


def finish_scenario(mig: Mig) -> list[str]:
    """A job the controller runs from its start (with a step), the gate opened, every job to its end;
    sacct's records once they are final, and checked against what they must be."""
    c, ids = mig.c, mig.ids
    ids["new"] = c.sbatch("-J", "new", "--wrap", "srun true; exit 2")
    mig.gate.touch()
    for name, state in (
        ("stepped", "FAILED"),
        ("plain", "COMPLETED"),
        ("pending", "COMPLETED"),
        ("new", "FAILED"),
    ):
        c.wait_state(ids[name], [state], timeout=60)
    i = ids
    expected = sorted(
        [
            f"{i['failed']}|failed|FAILED|3:0",
            f"{i['failed']}.batch|batch|FAILED|3:0",
            f"{i['stepped']}|stepped|FAILED|5:0",
            f"{i['stepped']}.batch|batch|FAILED|5:0",
            f"{i['stepped']}.0|bash|COMPLETED|0:0",
            f"{i['plain']}|plain|COMPLETED|0:0",
            f"{i['plain']}.batch|batch|COMPLETED|0:0",
            f"{i['pending']}|pending|COMPLETED|0:0",
            f"{i['pending']}.batch|batch|COMPLETED|0:0",
            f"{i['pending']}.0|true|COMPLETED|0:0",
            f"{i['forwarded']}|forwarded|COMPLETED|0:0",
            f"{i['forwarded']}.batch|batch|COMPLETED|0:0",
            f"{i['new']}|new|FAILED|2:0",
            f"{i['new']}.batch|batch|FAILED|2:0",
            f"{i['new']}.0|true|COMPLETED|0:0",
        ]
    )
    rows = eventually(
        "every record final", lambda: sacct_rows(c, list(ids.values())), lambda r: r == expected, 90
    )
    # sacctmgr asks whether to fix runaway jobs when there are any: answered no
    out = c.run("sacctmgr", "-n", "show", "runawayjobs", input="n\n").check().stdout
    assert out.strip().startswith("Runaway Jobs: No runaway jobs found on cluster"), out
    return rows


def shadow_sends_slurmdbd_nothing(mig: Mig) -> None:
    c = mig.c
    ids = mig.ids
    submit_scenario(mig)
    before = rpc_counts(c)
    mig.registrations_before = before.get("DBD_REGISTER_CTLD", 0)
    assert mig.registrations_before == 1, before  # slurmctld's, at its start
    # slurmctld started without a saved job table (read_config.c): it flushed the cluster's jobs once
    mig.flushes_before = before.get("DBD_FLUSH_JOBS", 0)
    assert mig.flushes_before == 1, before
    mig.events_before = node_events(c)
    rows_before = sacct_rows(c, list(ids.values()))
    mig.rows_before = job_rows(c, [ids["stepped"], ids["plain"], ids["pending"]])

    port = c.start_shadow()
    conf = c.client_conf(port)
    # a job submitted through flurm (forwarded) is slurmctld's, recorded by slurmctld alone
    ids["forwarded"] = c.sbatch("-J", "forwarded", "--wrap", "exit 0", conf=conf)
    c.wait_state(ids["forwarded"], ["COMPLETED"], timeout=30)
    # several mirror passes; a flurm that connected would have registered at once
    first = _mirror_pass(c)
    eventually("mirror passes", lambda: _mirror_pass(c), lambda t: t > first + 2.0)
    rows = eventually(
        "the forwarded job's records",
        lambda: sacct_rows(c, list(ids.values())),
        lambda rows: f"{ids['forwarded']}|forwarded|COMPLETED|0:0" in rows,
    )
    after = rpc_counts(c)
    assert after.get("DBD_REGISTER_CTLD", 0) == 1, after
    assert after.get("DBD_FLUSH_JOBS", 0) == 1, after
    assert node_events(c) == mig.events_before
    assert len(control_port(c)) == 1 and control_port(c)[0].endswith(f"|{c.ctld_port}"), control_port(c)
    assert sorted(set(rows)) == rows, rows  # no job or step recorded twice
    # slurmctld's rows from before are the same rows, moved on (none added beside them)
    assert {r.split("|")[0] for r in rows_before} <= {r.split("|")[0] for r in rows}, (rows_before, rows)


def _mirror_pass(c: SlurmCluster) -> float:
    doc = json.loads(c.flurm_cli("status").check().stdout)
    return float(doc["mirror"]["last_pass_began"] or 0.0)


def takeover_checks(out: str) -> dict[str, dict[str, object]]:
    """The pre-flight checks in `flurm takeover`'s result (the JSON after its progress lines)."""
    doc = json.loads(out[out.index("\n{") + 1 :])
    return {ch["name"]: ch for ch in doc["checks"]}


def test_preflight_refuses_while_slurmdbd_is_away() -> None:
    """(A cluster of its own: slurmdbd started again resets the RPC counts the other tests compare.)"""
    with recording(nodes=1) as m:
        c, acct = m.c, m.acct
        c.start_shadow()
        acct.stop_slurmdbd()
        r = c.flurm_cli("takeover")
        assert r.returncode != 0, r.stdout + r.stderr
        checks = takeover_checks(r.stdout)
        check = checks["slurmdbd_reachable"]
        assert not check["ok"], check
        assert f"127.0.0.1:{acct.dbd_port}" in str(check["detail"]), check
        assert all(ch["ok"] for name, ch in checks.items() if name != "slurmdbd_reachable"), checks
        # nothing changed: slurmctld still rules, flurm still shadows it
        assert "is UP" in c.run("scontrol", "ping").stdout
        assert '"mode": "shadow"' in c.flurm_cli("status").stdout
        # and once slurmdbd is back the same takeover goes through
        acct.start_slurmdbd()
        r = c.flurm_cli("takeover")
        assert r.returncode == 0, r.stdout + r.stderr
        assert takeover_checks(r.stdout)["slurmdbd_reachable"]["ok"]


def takeover_registers_as_a_restarted_slurmctld(mig: Mig) -> None:
    c = mig.c
    r = c.flurm_cli("takeover")
    assert r.returncode == 0, r.stdout + r.stderr
    checks = takeover_checks(r.stdout)
    assert checks["slurmdbd_reachable"]["ok"], checks
    counts = eventually(
        "flurm's registration",
        lambda: rpc_counts(c),
        lambda n: n.get("DBD_REGISTER_CTLD", 0) == mig.registrations_before + 1,
    )
    # a restart, not a cold start: running jobs are not ended, nodes not marked down
    assert counts.get("DBD_FLUSH_JOBS", 0) == mig.flushes_before, counts
    # slurmdbd found the cluster's TRES as slurmctld registered them: it asked for nothing to be sent again
    log = (c.dir / "log" / "flurm.log").read_text()
    assert "connected to slurmdbd" in log and "slurmdbd asked for the cluster's state" not in log
    ports = control_port(c)
    assert len(ports) == 1 and ports[0].endswith(f"|{c.ctld_port}"), ports
    assert node_events(c) == mig.events_before


def adopted_and_new_jobs_complete_once(mig: Mig) -> None:
    finish_scenario(mig)
    i = mig.ids
    c = mig.c
    # the rows slurmctld made are the ones completed: same index, submit time, and start for the jobs
    # that were running; the pending job's row was updated when flurm started it
    after = job_rows(c, [i["stepped"], i["plain"], i["pending"]])
    for job in ("stepped", "plain"):
        assert after[str(i[job])] == mig.rows_before[str(i[job])], (after, mig.rows_before)
    pending_before, pending_after = mig.rows_before[str(i["pending"])], after[str(i["pending"])]
    assert pending_after[:2] == pending_before[:2] and pending_before[2] == "Unknown" != pending_after[2]


def test_accounting_across_the_takeover() -> None:
    """One cluster through the migration, its phases in order (each depends on the one before): flurm in
    shadow sends slurmdbd nothing; the takeover registers as a restarted slurmctld; the jobs adopted and
    the new ones complete once."""
    with recording(nodes=2) as mig:
        shadow_sends_slurmdbd_nothing(mig)
        takeover_registers_as_a_restarted_slurmctld(mig)
        adopted_and_new_jobs_complete_once(mig)


def test_the_same_records_as_after_a_restart_of_slurmctld() -> None:
    """The scenario with slurmctld restarted where flurm took over: what sacct shows is the same (the
    expectations above are slurmctld's own behaviour)."""
    with recording(nodes=2) as m:
        submit_scenario(m)
        m.ids["forwarded"] = m.c.sbatch("-J", "forwarded", "--wrap", "exit 0")
        m.c.wait_state(m.ids["forwarded"], ["COMPLETED"], timeout=30)
        m.c.stop_slurmctld()
        m.c.start_daemons()
        m.c.wait_controller()
        finish_scenario(m)
