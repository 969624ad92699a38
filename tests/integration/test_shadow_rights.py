"""In shadow, every request flurm forwards to slurmctld (signed as SlurmUser) gets, for a plain user,
what slurmctld gives them directly: the same command as ``nobody`` to slurmctld and through flurm
gives the same output, and what it is refused leaves the job, reservation, partition or node as it
was. (test_migration_rights.py: job submissions and updates.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.loopback import Result, SlurmCluster, cluster

pytestmark = pytest.mark.integration
USER = "nobody"
# what a job record keeps still while nothing is done to it (RunTime and the like move on their own)
STABLE = ("JobState", "Reason", "Priority", "Nice", "Restarts", "TimeLimit", "BatchFlag", "Requeue")


@dataclass
class Shadow:
    c: SlurmCluster
    flurm: Path  # slurm.conf of clients talking to flurm
    running: dict[str, int]  # "own"/"other": a running batch job with a step 0, of nobody/root
    pending: dict[str, int]  # likewise, pending (begins in an hour)

    def both(self, *args: str) -> tuple[Result, Result]:
        """The same command as USER, to slurmctld and through flurm."""
        return self.c.run(*args, user=USER), self.c.run(*args, user=USER, conf=self.flurm)

    def same(self, *args: str) -> Result:
        """Both answers must be alike (exit code, stdout, stderr); returns flurm's."""
        direct, via = self.both(*args)
        assert (via.returncode, via.stdout, via.stderr) == (
            direct.returncode,
            direct.stdout,
            direct.stderr,
        ), args
        return via

    def show(self, *what: str) -> str:
        return self.c.run("scontrol", "show", *what, "-o").check().stdout

    def job(self, job: int) -> dict[str, str]:
        fields = dict(item.partition("=")[::2] for item in self.show("job", str(job)).split())
        return {k: fields.get(k, "") for k in STABLE}


def wait_for(what: str, check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def shadow() -> Iterator[Shadow]:
    conf = "MinJobAge=600\nSlurmctldParameters=user_resv_delete"
    with cluster("slurmctld", nodes=1, cpus=4, extra_conf=conf) as c:
        flurm = c.client_conf(c.start_shadow())
        quiet = ("-o", "/dev/null")  # (the jobs directory is not nobody's to write in)
        running = {
            "own": c.sbatch(*quiet, "-t", "30", "--wrap", "srun sleep 600", user=USER),
            "other": c.sbatch(*quiet, "-t", "30", "--wrap", "srun sleep 600"),
        }
        pending = {
            "own": c.sbatch("-t", "5", "--begin", "now+1hour", "--wrap", "true", user=USER),
            "other": c.sbatch("-t", "5", "--begin", "now+1hour", "--wrap", "true"),
        }
        for job in running.values():
            c.wait_state(job, ["RUNNING"])
            wait_for(f"step {job}.0", lambda j=job: c.run("scontrol", "show", "step", f"{j}.0").ok)
        yield Shadow(c, flurm, running, pending)


# -- operators only --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("scontrol", "setdebug", "debug2"),
        ("scontrol", "reconfigure"),
        ("scontrol", "shutdown"),
        ("scontrol", "fsdampeningfactor", "3"),
        ("sdiag", "-r"),
        ("strigger", "--set", "--node", "--down", "--program=/bin/true"),
    ],
)
def test_operator_requests_are_refused_as_slurmctld_refuses_them(
    shadow: Shadow, args: tuple[str, ...]
) -> None:
    via = shadow.same(*args)
    assert via.returncode != 0
    assert "is UP" in shadow.c.run("scontrol", "ping").stdout  # slurmctld still runs
    assert shadow.c.run("strigger", "--get", "--noheader").stdout.strip() == ""


def test_sdiag_itself_is_a_users_read(shadow: Shadow) -> None:
    via = shadow.c.run("sdiag", user=USER, conf=shadow.flurm)
    assert via.returncode == 0 and "Server thread count" in via.stdout, via.stderr


def test_reboot_is_refused(shadow: Shadow) -> None:
    before = shadow.show("node")
    assert shadow.same("scontrol", "reboot", "ALL").returncode != 0
    assert shadow.show("node").count("REBOOT") == before.count("REBOOT") == 0


def test_partitions_and_front_ends_are_an_administrators(shadow: Shadow) -> None:
    before = shadow.show("partition")
    assert shadow.same("scontrol", "delete", "partition", "debug").returncode != 0
    assert shadow.same("scontrol", "update", "FrontendName=fe", "State=DRAIN", "Reason=x").returncode != 0
    assert shadow.show("partition") == before


# -- reservations ---------------------------------------------------------------------------------
def reservation(c: SlurmCluster, name: str, days: int, users: str) -> None:
    c.run(
        "scontrol", "create", "reservation", f"ReservationName={name}", f"StartTime=now+{days}days",
        "Duration=60", "Nodes=ALL", f"Users={users}",
    ).check()  # fmt: skip


def test_reservations(shadow: Shadow) -> None:
    c = shadow.c
    reservation(c, "theirs", 1, "root")
    reservation(c, "mine1", 2, USER)
    reservation(c, "mine2", 3, USER)
    before = shadow.show("reservation")
    create = (
        "scontrol",
        "create",
        "reservation",
        "StartTime=now+5days",
        "Duration=60",
        "Nodes=ALL",
        "Users=nobody",
    )
    assert shadow.same(*create).returncode != 0
    # a user's update of someone else's reservation is refused; of theirs (user_resv_delete) it is
    # only a skip, which a reservation that does not recur refuses
    for name in ("theirs", "mine1"):
        assert shadow.same("scontrol", "update", f"ReservationName={name}", "Duration=30").returncode != 0
    assert shadow.same("scontrol", "delete", "reservation", "theirs").returncode != 0
    assert shadow.show("reservation") == before
    # one of their own they may delete: one directly, the other through flurm
    direct = c.run("scontrol", "delete", "reservation", "mine1", user=USER)
    via = c.run("scontrol", "delete", "reservation", "mine2", user=USER, conf=shadow.flurm)
    assert (
        (via.returncode, via.stdout, via.stderr)
        == (direct.returncode, direct.stdout, direct.stderr)
        == (0, "", "")
    )
    left = shadow.show("reservation")
    assert "theirs" in left and "mine1" not in left and "mine2" not in left


# -- jobs: their own, and others' ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("verb", "whose"),
    [
        (verb, whose)
        for verb in ("requeue", "requeuehold", "top", "suspend", "resume", "notify", "batch_script")
        for whose in ("own", "other")
    ],
)
def test_job_control(shadow: Shadow, verb: str, whose: str) -> None:
    if verb == "batch_script":
        jobs = [shadow.pending[whose]]
    elif verb == "notify":
        jobs = [shadow.running[whose]]
    else:  # (requeue: the running jobs are requeued through flurm in the end, once)
        jobs = [shadow.pending[whose]] + ([shadow.running[whose]] if whose == "other" else [])
    for job in jobs:
        before = shadow.job(job)
        if verb == "batch_script":
            via = shadow.same("scontrol", "write", "batch_script", str(job), "-")
            # (scontrol exits 0 even when refused)
            assert ("#!/bin/sh" in via.stdout, via.stderr == "") == (whose == "own",) * 2, via.stderr
        elif verb == "notify":
            via = shadow.same("scontrol", "notify", str(job), "hello")
            assert (via.returncode, via.stderr == "") == ((0, True) if whose == "own" else (1, False)), (
                via.stderr
            )
        else:
            via = shadow.same("scontrol", verb, str(job))
            assert via.returncode != 0  # (their own pending job is not requeued either)
        assert shadow.job(job) == before, (verb, job)


def step_limit(shadow: Shadow, job: int) -> str:
    fields = dict(item.partition("=")[::2] for item in shadow.show("step", f"{job}.0").split())
    return fields["TimeLimit"]


@pytest.mark.parametrize("whose", ["own", "other"])
def test_a_steps_time_limit(shadow: Shadow, whose: str) -> None:
    job = shadow.running[whose]
    step = f"StepId={job}.0"
    before = step_limit(shadow, job)
    via = shadow.same("scontrol", "update", step, "TimeLimit=20")
    if whose == "own":
        assert via.returncode == 0
        shadow.c.run("scontrol", "update", step, "TimeLimit=19", user=USER, conf=shadow.flurm).check()
        assert step_limit(shadow, job) == "00:19:00"
    else:
        assert via.returncode != 0
        assert step_limit(shadow, job) == before


def test_srun_in_a_new_allocation_and_in_running_jobs(shadow: Shadow) -> None:
    # a new allocation and its step; a step in their own job; none in someone else's (its allocation
    # is anyone's to look up, the step is refused)
    assert shadow.same("srun", "-t", "1", "hostname").returncode == 0
    own, other = shadow.running["own"], shadow.running["other"]
    assert shadow.same("srun", f"--jobid={own}", "--overlap", "hostname").returncode == 0
    assert shadow.same("srun", f"--jobid={other}", "--overlap", "hostname").returncode != 0
    steps = shadow.c.run("squeue", "-s", "-h", "-o", "%i", "-j", str(other)).check().stdout.split()
    assert sorted(steps) == [f"{other}.0", f"{other}.batch"]  # nobody's step did not start in it


def test_triggers_are_cleared_only_by_their_owner(shadow: Shadow) -> None:
    c = shadow.c
    c.run("strigger", "--set", "--node", "--down", "--program=/bin/true").check()
    trig_id = c.run("strigger", "--get", "--noheader").check().stdout.split()[0]
    for args in (("--id", trig_id), ("--id", "9999")):
        assert shadow.same("strigger", "--clear", *args).returncode != 0
    assert trig_id in c.run("strigger", "--get", "--noheader").stdout
    c.run("strigger", "--clear", "--id", trig_id).check()


def test_a_user_requeues_their_own_running_job_through_flurm(shadow: Shadow) -> None:
    job = shadow.running["own"]
    other = shadow.running["other"]
    shadow.c.run("scontrol", "requeue", str(job), user=USER, conf=shadow.flurm).check()
    assert shadow.job(job)["Restarts"] == "1"
    assert shadow.job(other)["Restarts"] == "0"
