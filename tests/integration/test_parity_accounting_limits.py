"""AccountingStorageEnforce=associations,limits,qos,safe: the same associations, QOS and limits set up with
sacctmgr in a real slurmdbd 22.05 (on a MariaDB of the test's own), the same sbatch commands against the
real slurmctld 22.05 and against flurm; the refusals (rc and text) and the pending reasons
(``squeue -h -o '%i %r'``) must be the same. Then ``sacctmgr modify qos`` raises a limit: slurmdbd tells
the controller (ACCOUNTING_UPDATE_MSG) and the job it held starts on both.

flurm loads the associations over its own connection to slurmdbd (the queries slurmctld sends after
registering) and hears slurmdbd's updates on its port, as slurmctld does: slurmdbd 22.05 sends each on a
connection of its own, 24.11 and 26.05 on the persistent connection they open to that port.

The same scenario runs with SLURM 24.11 throughout, but for the AllowGroups step: slurmctld 24.11 checks
AllowGroups at submission only under EnforcePartLimits (job_mgr.c _valid_job_part) and otherwise holds the
job ("uid N not in group permitted to use this partition ..."), where flurm still refuses it as 22.05
does. With 26.05 the reference is no reference yet (slurmctld 26.05 refuses every job of user nobody here
"Invalid account or account/partition combination specified"), so for 26.05 only the update is checked:
a QOS limit raised with sacctmgr releases the job it held.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from parity import ParityCluster, Step, Transcript, assert_same, cmd, poll, run_steps, settle

from harness import launcher, releases
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

CLUSTER = "localtest"  # the launcher's ClusterName
SETUP = [
    f"add cluster {CLUSTER}",
    "add qos small MaxJobsPerUser=1 MaxTRESPerJob=cpu=1 MaxWall=00:10:00 Priority=10",
    "add qos big GrpTRES=cpu=2 MaxSubmitJobsPerUser=4 Flags=DenyOnLimit",
    "add account parent Description=parent_acct Organization=org",
    "add account child parent=parent Description=child_acct Organization=org",
    "add account other Description=other_acct Organization=org",
    "add account gcpu Description=grp_cpu Organization=org GrpTRES=cpu=2 MaxWall=00:30:00",
    "add account wide Description=wide Organization=org MaxTRESPerJob=cpu=2",
    "add user nobody DefaultAccount=child",
    "add user nobody Account=other",
    "add user daemon DefaultAccount=parent",
    "add user bin DefaultAccount=child",
    "add user sys DefaultAccount=gcpu",
    "add user lp DefaultAccount=wide",
    "modify account child set GrpJobs=2 MaxTRESPerJob=cpu=2",
    "modify user nobody where account=child set MaxJobs=1 MaxSubmitJobs=4 QOS=normal,small DefaultQOS=normal",
    "modify user daemon set QOS=normal,small",
    "modify account other set QOS=big DefaultQOS=big",
]
CONF = (
    "AccountingStorageEnforce=associations,limits,qos,safe\n"
    "PartitionName=acctpart Nodes=ALL AllowAccounts=other,parent\n"
    "PartitionName=qospart Nodes=ALL AllowQos=big\n"
    "PartitionName=denypart Nodes=ALL DenyAccounts=child\n"
    "PartitionName=grppart Nodes=ALL AllowGroups=daemon\n"
)


def sbatch(user: str, *args: str) -> Step:
    return cmd("sbatch", "--parsable", "-D", "/tmp", "-o", "/dev/null", *args, user=user)


SLEEP = ("--wrap", "exec sleep 120")
STEPS: list[Step] = [
    sbatch("nobody", "-A", "bogus", *SLEEP),  # Invalid account
    sbatch("nobody", "--qos", "bogus", *SLEEP),  # Invalid qos
    sbatch("nobody", "--qos", "big", *SLEEP),  # a QOS the association may not use
    sbatch("cloudsdk", *SLEEP),  # a user without an association
    sbatch("nobody", "-p", "grppart", *SLEEP),  # not in the partition's AllowGroups
    sbatch("lp", "-n", "3", *SLEEP),  # 1: over MaxTRESPerJob cpu=2
    sbatch("nobody", *SLEEP),  # 2: runs
    sbatch("nobody", *SLEEP),  # 3: AssocMaxJobsLimit
    sbatch("nobody", *SLEEP),  # 4: AssocMaxJobsLimit
    sbatch("nobody", *SLEEP),  # 5: AssocMaxJobsLimit (the fourth: MaxSubmitJobs reached)
    sbatch("nobody", *SLEEP),  # refused: MaxSubmitJobs=4
    sbatch("bin", *SLEEP),  # 6: runs (child's second running job)
    sbatch("bin", *SLEEP),  # 7: AssocGrpJobsLimit
    sbatch("daemon", "--qos", "small", *SLEEP),  # 8: runs
    sbatch("daemon", "--qos", "small", *SLEEP),  # 9: QOSMaxJobsPerUserLimit
    sbatch("daemon", "-p", "qospart", *SLEEP),  # 10: the partition's AllowQos
    sbatch("daemon", "-p", "acctpart", *SLEEP),  # 11: runs (parent is allowed)
    sbatch("nobody", "-A", "other", "-p", "acctpart", *SLEEP),  # 12: runs, QOS big
    sbatch("nobody", "-A", "other", "-n", "2", *SLEEP),  # 13: QOSGrpCpuLimit (1 of 2 in use)
    sbatch("nobody", "-A", "other", "-n", "3", *SLEEP),  # refused at once: DenyOnLimit
    sbatch("sys", "-n", "2", *SLEEP),  # 14: runs
    sbatch("sys", *SLEEP),  # 15: AssocGrpCpuLimit
    sbatch("sys", "-t", "40", *SLEEP),  # 16: over gcpu's MaxWall 30
    sbatch("bin", "-p", "denypart", *SLEEP),  # 17: child's GrpJobs is tested before the partition
    settle(quiet=3.0),
    cmd("squeue", "-h", "-o", "%i %r", "-S", "i", label="reasons"),
]


def sacctmgr(conf: Path, command: str, release: str = releases.HOST) -> None:
    p = subprocess.run(
        releases.get(release).command(["sacctmgr", "-i", *command.split()], conf, share=[conf.parent]),
        env={**os.environ, "SLURM_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, f"sacctmgr {command}: {p.stdout}{p.stderr}"


@contextlib.contextmanager
def accounted(
    controller: str, release: str = releases.HOST, conf: str = CONF
) -> Iterator[tuple[SlurmCluster, Path]]:
    """A cluster enforcing the associations a fresh slurmdbd holds (filled with SETUP before the
    controller starts); yields it and the slurm.conf sacctmgr uses. ``release``: of slurmdbd, the
    slurmd, the clients and slurmctld; ``conf``: slurm.conf's lines besides accounting's."""
    base = Path(tempfile.mkdtemp(prefix=f"flurm-acctlimits-{controller}-"))
    base.chmod(0o755)
    key = write_munge_key(launcher.Layout(base / "cluster").munge_key)
    acct = Accounting(base / "acct", key, release=release)
    extra = acct.slurm_conf_lines() + conf
    c = ParityCluster(base / "cluster", controller, cpus=8, extra_conf=extra, release=release)
    conf = base / "sacctmgr.conf"
    conf.write_text(
        f"ClusterName={CLUSTER}\nSlurmctldHost=localhost(127.0.0.1)\nAuthType=auth/munge\n"
        f"AuthInfo=socket={acct.munge_socket}\n" + acct.slurm_conf_lines()
    )
    try:
        acct.start()
        for command in SETUP:
            sacctmgr(conf, command, release)
        c.start()
        c.jobs_dir.chmod(0o777)
        if controller == "flurm":
            log = c.dir / "log" / "flurm.log"
            poll("flurm's associations", lambda: "associations from slurmdbd" in log.read_text(), 30)
        yield c, conf
    finally:
        c.stop()
        acct.stop()
        if not os.environ.get("FLURM_KEEP_TEST_DIRS"):
            shutil.rmtree(base, ignore_errors=True)


def scenario(controller: str, release: str = releases.HOST, steps: Sequence[Step] = STEPS) -> Transcript:
    with accounted(controller, release) as (c, conf):
        t = run_steps(c, steps)
        # a limit raised: slurmdbd tells the controller, the job it held starts
        sacctmgr(conf, "modify qos small set MaxJobsPerUser=2", release)
        deadline = time.monotonic() + 90  # slurmctld starts it at its next backfill pass (~25 s)
        while time.monotonic() < deadline and c.job_state(9) != "RUNNING":
            time.sleep(0.2)
        t.outputs.extend(run_steps(c, [cmd("squeue", "-h", "-o", "%i %T", "-j", "9", label="after")]).outputs)
        return t


def test_refusals_and_pending_reasons_are_slurmctlds() -> None:
    ref = scenario("slurmctld")
    got = scenario("flurm")
    assert_same(ref, got)
    reasons = ref["reasons"].stdout
    for expected in (
        "AssocMaxCpuPerJobLimit",
        "AssocMaxJobsLimit",
        "AssocGrpJobsLimit",
        "QOSMaxJobsPerUserLimit",
        "QOSGrpCpuLimit",
        "AssocGrpCpuLimit",
        "AssocMaxWallDurationPerJobLimit",
        "Job's QOS not permitted",
    ):
        assert expected in reasons, reasons  # the scenario still shows what it is meant to
    assert "User's group not permitted to use this partition" in ref.text()  # AllowGroups
    assert "9 QOSMaxJobsPerUserLimit" in reasons and ref["after"].stdout.split() == ["9", "RUNNING"]


def test_with_slurm_24_11_refusals_reasons_and_the_update_over_slurmdbd_s_persistent_connection() -> None:
    """slurmdbd 24.11 sends the QOS change on its persistent connection to the controller's port: job 8
    (9 here, without the AllowGroups step's job) starts under both."""
    steps = [s for s in STEPS if "grppart" not in getattr(s, "args", ())]
    assert len(steps) == len(STEPS) - 1
    ref = scenario("slurmctld", "24.11", steps)
    got = scenario("flurm", "24.11", steps)
    assert_same(ref, got)
    assert "9 QOSMaxJobsPerUserLimit" in ref["reasons"].stdout and ref["after"].stdout.split() == [
        "9",
        "RUNNING",
    ]


@pytest.mark.parametrize("release", ["24.11", "26.05"])
def test_a_qos_limit_raised_with_sacctmgr_releases_the_job_it_held(release: str) -> None:
    """The update reaches flurm over the persistent connection slurmdbd opens (REQUEST_PERSIST_INIT of
    PERSIST_TYPE_ACCT_UPDATE, then ACCOUNTING_UPDATE_MSG on it): the second job of QOS small, held by
    MaxJobsPerUser=1, starts once sacctmgr raises the limit."""
    with accounted("flurm", release) as (c, conf):
        small = sbatch("daemon", "--qos", "small", *SLEEP)
        t = run_steps(c, [small, small, settle(quiet=2.0), cmd("squeue", "-h", "-o", "%i %r", "-S", "i")])
        assert t.outputs[-1].stdout.split() == ["1", "None", "2", "QOSMaxJobsPerUserLimit"], t.text()
        sacctmgr(conf, "modify qos small set MaxJobsPerUser=2", release)
        poll("job 2 released", lambda: c.job_state(2) == "RUNNING", 30)
