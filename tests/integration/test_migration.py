"""Hot migration with real SLURM daemons and clients: shadow, lossless import, mirror, forwarded writes, then
the takeover while jobs run and a loop keeps submitting; every job that existed is accounted for.

One cluster (2 slurmd nodes, the real slurmctld) for the whole module, walked through in order.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from parity import normalise

from harness.loopback import SlurmCluster, cluster

pytestmark = pytest.mark.integration

# RunTime moves with the clock; slurmctld stamps LastSchedEval on every scheduling cycle without dating
# the change, so its incremental reads (and with them the mirror) never see it: neither is promised
VOLATILE = re.compile(r"(RunTime|LastSchedEval)=\S+")


def show(c: SlurmCluster, kind: str, conf: Path | None = None) -> dict[str, str]:
    """`scontrol show KIND -o` as {name or id: line}, with the clock-dependent RunTime blanked."""
    r = c.run("scontrol", "show", kind, "-o", conf=conf).check()
    key = {"job": "JobId", "node": "NodeName", "partition": "PartitionName"}[kind]
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(rf"{key}=(\S+)", line)
        if m:
            out[m.group(1)] = VOLATILE.sub(r"\1=*", line)
    return out


def wait_until(pred, timeout: float = 10.0, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


@dataclass
class Submitter:
    """Keeps submitting short jobs through both endpoints while the takeover happens."""

    c: SlurmCluster
    confs: list[Path]
    ids: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            conf = self.confs[i % len(self.confs)]
            r = self.c.run("sbatch", "--parsable", "-J", f"loop{i}", "--wrap", "true", conf=conf, timeout=60)
            if r.ok:
                self.ids.append(int(r.stdout.strip()))
            else:
                self.failures.append(f"{conf.name}: {r.stderr.strip()}")
            i += 1
            time.sleep(0.05)


@pytest.fixture(scope="module")
def mig() -> Iterator[SlurmCluster]:
    with cluster("slurmctld", nodes=2, cpus=2, extra_conf="KillWait=2\nMinJobAge=600") as c:
        yield c


def test_import_is_lossless(mig: SlurmCluster) -> None:
    c = mig
    ids = {
        "done": c.sbatch("--wrap", "echo done"),
        "failed": c.sbatch("--wrap", "exit 3"),
        "long": c.sbatch("-J", "long", "--wrap", "sleep 60; exit 7"),
        "array": c.sbatch("--array=1-5", "-J", "arr", "--wrap", "sleep 4"),
        "held": c.sbatch("--hold", "-J", "held", "--wrap", "echo held"),
    }
    ids["dep"] = c.sbatch(f"--dependency=afterok:{ids['long']}", "-J", "dep", "--wrap", "echo dep")
    c.wait_state(ids["failed"], ["FAILED"], timeout=30)
    c.wait_state(ids["long"], ["RUNNING"], timeout=30)
    c.shadow_jobs = ids  # type: ignore[attr-defined]
    port = c.start_shadow()
    conf = c.client_conf(port)
    c.flurm_conf = conf  # type: ignore[attr-defined]
    # imported while the array's tasks start and end; compared once slurmctld is at rest (the long job
    # running, the dependent and the held job pending) and the mirror has made a pass since
    assert wait_until(lambda: _all_done(c, ids["array"]) and _at_rest(c), 60), c.run("squeue").stdout
    for kind in ("job", "node", "partition"):
        theirs, ours = mirrored_pair(c, kind, conf)
        assert set(theirs) == set(ours), kind
        for name, line in theirs.items():
            assert ours[name] == line, f"{kind} {name} differs:\nslurmctld: {line}\nflurm:     {ours[name]}"
    for cmd in (["squeue"], ["sinfo"], ["squeue", "-t", "all", "-o", "%i %T %r %E %M %l %D %R"]):
        # a running job's TIME ticks between the two calls (each may take a second on a loaded machine):
        # compared without it, and asked again until both agree (the mirror's lag)
        same = wait_until(
            lambda cmd=cmd: (
                normalise(c.run(*cmd, conf=conf).stdout, None) == normalise(c.run(*cmd).stdout, None)
            ),
            30,
        )
        assert same, f"{cmd}\nslurmctld:\n{c.run(*cmd).stdout}\nflurm:\n{c.run(*cmd, conf=conf).stdout}"


def mirrored_pair(c: SlurmCluster, kind: str, conf: Path) -> tuple[dict[str, str], dict[str, str]]:
    """slurmctld's view and flurm's after a mirror pass that began once slurmctld's view was read, while
    slurmctld's view stayed the same (no sleeps: the mirror's own record of its passes is the clock)."""
    theirs = show(c, kind)
    read_at = time.time()
    assert wait_until(lambda: _mirror_pass_began(c) > read_at, 30), "no mirror pass"
    ours = show(c, kind, conf)
    assert show(c, kind) == theirs, f"slurmctld's {kind} table changed although it was at rest"
    return theirs, ours


def _mirror_pass_began(c: SlurmCluster) -> float:
    doc = json.loads(c.flurm_cli("status").check().stdout)
    return float(doc["mirror"]["last_pass_began"] or 0.0)


def _at_rest(c: SlurmCluster) -> bool:
    """Nothing of slurmctld's is about to change: no job configuring or completing, none startable."""
    rows = c.run("squeue", "-h", "-t", "all", "-o", "%t %r").check().stdout.splitlines()
    nodes = c.run("sinfo", "-h", "-N", "-o", "%T").check().stdout
    startable = any(
        r.startswith("PD ") and r.split()[1] not in ("Dependency", "JobHeldUser", "JobHeldAdmin")
        for r in rows
    )
    return not startable and not any(r.startswith(("CF", "CG")) for r in rows) and "completing" not in nodes


def test_mirror_follows_new_changed_and_cancelled_jobs(mig: SlurmCluster) -> None:
    c = mig
    conf = c.flurm_conf  # type: ignore[attr-defined]
    new = c.sbatch("--hold", "-J", "mirror-new", "--wrap", "true")
    assert wait_until(lambda: c.job_state(new, conf) == "PENDING", 1.5)
    c.run("scontrol", "update", f"JobId={new}", "Name=renamed").check()
    assert wait_until(
        lambda: "JobName=renamed" in c.run("scontrol", "show", "job", str(new), conf=conf).stdout, 1.5
    )
    c.run("scancel", str(new)).check()
    assert wait_until(lambda: c.job_state(new, conf) == "CANCELLED", 1.5)


def test_writes_through_flurm_reach_slurmctld(mig: SlurmCluster) -> None:
    c = mig
    conf = c.flurm_conf  # type: ignore[attr-defined]
    via = c.sbatch("-J", "via-flurm", "--hold", "--wrap", "echo via", conf=conf)
    assert "via-flurm" in c.run("scontrol", "show", "job", str(via)).stdout  # slurmctld has it
    assert (
        "via-flurm" in c.run("scontrol", "show", "job", str(via), conf=conf).stdout
    )  # and flurm shows it at once
    c.run("scontrol", "release", str(via), conf=conf).check()
    assert wait_until(lambda: c.job_state(via) in ("RUNNING", "COMPLETED", "COMPLETING"), 10)
    # a user cannot gain anything through flurm: nobody may not cancel root's job
    held = c.shadow_jobs["held"]  # type: ignore[attr-defined]
    r = c.run("scancel", str(held), conf=conf, user="nobody")
    assert r.returncode != 0 and "Access/permission denied" in r.stderr
    assert c.job_state(held) == "PENDING"


def test_takeover_while_jobs_run_and_clients_submit(mig: SlurmCluster) -> None:
    c = mig
    conf = c.flurm_conf  # type: ignore[attr-defined]
    ids = c.shadow_jobs  # type: ignore[attr-defined]
    before = show(c, "job")
    highest_before = max(int(j.split("_")[0]) for j in before)
    loop = Submitter(c, [conf, c.conf])
    t = threading.Thread(target=loop.run, daemon=True)
    t.start()
    time.sleep(1.0)
    r = c.flurm_cli("takeover")
    time.sleep(2.0)
    loop.stop.set()
    t.join(90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "standalone" in r.stdout
    gap = re.search(r'"gap_seconds": ([0-9.]+)', r.stdout)
    assert gap is not None and float(gap.group(1)) < 5.0
    assert not loop.failures, loop.failures
    assert loop.ids
    # slurmctld is gone; flurm answers on slurmctld's own port now
    assert "is UP" in c.run("scontrol", "ping").stdout
    # every job that existed, and every id a client was given, is in flurm
    after = show(c, "job")
    for job_id in before:
        assert job_id in after or _array_meta_split(job_id, after), job_id
    for job_id in loop.ids:
        assert str(job_id) in after or _array_meta_split(str(job_id), after), job_id
    new_ids = [i for i in loop.ids if i > highest_before]
    assert new_ids and sorted(loop.ids) == sorted(set(loop.ids))
    # the long job, running across the switch, completes under flurm with its exit code
    c.wait_state(ids["long"], ["FAILED"], timeout=120)
    assert "ExitCode=7:0" in c.run("scontrol", "show", "job", str(ids["long"])).stdout
    # pending work ran: the array's tasks and the dependent job (afterok of a failed job stays pending)
    assert wait_until(lambda: _all_done(c, ids["array"]), 60)
    c.run("scontrol", "release", str(ids["held"])).check()
    c.wait_state(ids["held"], ["COMPLETED"], timeout=30)
    # new jobs run on the same nodes under flurm
    j = c.sbatch("--wrap", "hostname")
    c.wait_state(j, ["COMPLETED"], timeout=30)
    assert j > highest_before


def _array_meta_split(job_id: str, after: dict[str, str]) -> bool:
    return any(f"ArrayJobId={job_id} " in line for line in after.values())


def _all_done(c: SlurmCluster, array_id: int) -> bool:
    r = c.run("squeue", "-h", "-t", "all", "-j", str(array_id), "-o", "%T")
    states = r.stdout.split()
    return len(states) == 5 and all(s == "COMPLETED" for s in states)


def test_restart_after_takeover_stays_the_controller(mig: SlurmCluster) -> None:
    """The same `flurm run --shadow` command after the takeover: flurm knows it owns the cluster now."""
    c = mig
    assert c.stop_flurm() == 0
    c.start_flurm(
        wait=False,
        extra=["--shadow", "--port", str(c.shadow_port), "--state-dir", str(c.dir / "flurm-state")],
    )
    assert wait_until(lambda: "is UP" in c.run("scontrol", "ping").stdout, 20), c.log_tail(path="flurm.log")
    status = c.flurm_cli("status")
    assert '"mode": "standalone"' in status.stdout, status.stdout + status.stderr
    j = c.sbatch("--wrap", "echo again")
    c.wait_state(j, ["COMPLETED"], timeout=30)
