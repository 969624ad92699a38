"""scontrol update job of each JobDesc field: flurm answers and changes jobs as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs, no accounting) side by
side. Two exclusive jobs (one of ``nobody``, one of root) hold both nodes, so that two more jobs
(again one each) and an array stay pending. Each field is then updated on the pending and on the
running job, by its owner (``nobody`` for the jobs of ``nobody``, root for root's): pending-only
fields refused on the running job, operator-only fields refused to the user, values refused with
slurmctld's codes. ``scontrol show job`` and ``squeue`` then show the same jobs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import (
    Cmd,
    Records,
    Step,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    records_same,
    run_both,
    settle,
    wait_state,
)

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"

USER_RUNNING, ROOT_RUNNING, USER_PENDING, ROOT_PENDING, ARRAY = 1, 2, 3, 4, 5

# (label, scontrol update arguments, whether it is also applied to the pending jobs): each is
# applied to the running jobs, and to the pending ones unless flurm refuses it there (its scheduler
# does not honour the option: the refusal, ESLURM_NOT_SUPPORTED, is flurm's own, as at submit)
FIELDS: list[tuple[str, tuple[str, ...], bool]] = [
    ("time min", ("TimeMin=5",), True),
    ("time min over limit", ("TimeMin=50",), True),
    ("num tasks", ("NumTasks=2",), True),
    ("num tasks 0", ("NumTasks=0",), True),
    ("num cpus", ("NumCPUs=2",), True),
    ("num cpus range", ("NumCPUs=2-3",), True),
    ("min cpus node", ("MinCPUsNode=2",), True),
    ("cpus per task", ("CPUsPerTask=2",), True),
    ("min memory node", ("MinMemoryNode=100",), True),
    ("min memory cpu", ("MinMemoryCPU=40",), True),
    ("account", ("Account=acct1",), True),
    ("account cleared", ("Account=",), True),
    ("qos", ("QOS=normal",), True),
    ("qos unknown", ("QOS=nosuch",), True),
    ("admin comment", ("AdminComment=checked",), True),
    ("mail user", ("MailUser=someone@example.com",), True),
    ("mail type", ("MailType=END,FAIL",), True),
    ("mail user cleared", ("MailUser=",), True),
    # in the cluster's jobs directory (the client's; parity.normalise names it alike on both)
    ("std out", ("StdOut=$PWD/upd-%j.out",), True),
    ("work dir", ("WorkDir=/tmp",), True),
    ("deadline", ("Deadline=now+2hours",), True),
    ("deadline past", ("Deadline=2020-01-01T00:00:00",), True),
    ("end time past", ("EndTime=2020-01-01T00:00:00",), True),
    ("site factor", ("SiteFactor=10",), True),
    ("wckey", ("WCKey=wk1",), True),
    ("prefer unknown", ("Prefer=nosuch",), True),
    ("req cores", ("ReqCores=1",), False),
    ("req sockets", ("ReqSockets=1",), False),
    ("req threads", ("ReqThreads=1",), False),
    ("tmp disk", ("MinTmpDiskNode=10",), False),
    ("tasks per node", ("TasksPerNode=1",), True),
    ("gres", ("Gres=gpu:1",), True),
    ("tres per node", ("TresPerNode=gres:gpu:1",), True),
    ("tres per node bad", ("TresPerNode=gres/gpu:1",), True),
    ("cpus per tres", ("CpusPerTres=gpu:2",), True),
    ("tres per task cleared", ("TresPerTask=",), True),
    ("delay boot", ("DelayBoot=60",), True),
    ("switches", ("Switches=1@10",), True),
    ("cluster features", ("ClusterFeatures=x",), True),
    ("clusters", ("Clusters=x",), True),
    ("core spec", ("CoreSpec=1",), True),
    ("reboot", ("Reboot=yes",), False),
    ("burst buffer", ("BurstBuffer=",), True),
    ("num nodes", ("NumNodes=1",), True),
    # (back to one CPU per task: slurmctld's pending node count then comes from its scheduler's
    # last try, which flurm does not keep)
    ("cpus per task back", ("CPUsPerTask=1",), True),
]

_OWNERS = {USER_RUNNING: "nobody", USER_PENDING: "nobody", ROOT_RUNNING: None, ROOT_PENDING: None}


def _updates() -> list[Cmd]:
    out = []
    for label, args, on_pending in FIELDS:
        for job, user in _OWNERS.items():
            who = "user" if user else "root"
            state = "pending" if job in (USER_PENDING, ROOT_PENDING) else "running"
            if state == "pending" and not on_pending:
                continue
            out.append(_update(job, args, user, f"{label}: {state} {who}"))
    return out


def _update(job: int, args: tuple[str, ...], user: str | None, label: str) -> Cmd:
    line = ("scontrol", "update", f"JobId={job}", *args)
    if any("$PWD" in a for a in args):  # a path in the client's directory: through a shell
        return cmd("sh", "-c", " ".join(line), user=user, label=label)
    return cmd(*line, user=user, label=label)


STEPS: list[Step] = [
    cmd("sbatch", "-J", "urun", "-N1", "--exclusive", "--wrap", "sleep 300", user="nobody"),  # 1
    wait_state(USER_RUNNING, "RUNNING"),
    cmd("sbatch", "-J", "rrun", "-N1", "--exclusive", "--wrap", "sleep 300"),  # 2
    wait_state(ROOT_RUNNING, "RUNNING"),
    cmd("sbatch", "-J", "upend", "-t", "30", "--wrap", "true", user="nobody"),  # 3
    cmd("sbatch", "-J", "rpend", "-t", "30", "--wrap", "true"),  # 4
    cmd("sbatch", "-J", "arr", "--array", "1-4", "--wrap", "true"),  # 5
    settle(),
    *_updates(),
    cmd("scontrol", "update", f"JobId={ARRAY}", "ArrayTaskThrottle=2", label="throttle: array"),
    cmd("scontrol", "update", f"JobId={ROOT_PENDING}", "ArrayTaskThrottle=2", label="throttle: no array"),
    cmd(
        "scontrol",
        "update",
        f"JobId={ARRAY}",
        "AdminComment=x",
        user="nobody",
        label="admin comment: another",
    ),
    settle(),
    Records("after updates"),
    cmd("scontrol", "show", "job", label="jobs after updates"),
    cmd("squeue", "-r", "-o", "%i %t %r %C %D %m %l %L %u %a %q", label="queue after updates"),
    cmd("scancel", str(USER_RUNNING), str(ROOT_RUNNING), label="cancel blockers"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_update_answers(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = [k for k in ref.labels() if ":" in k]
    assert_same(ref, got, keys)


def test_jobs_after_updates(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["jobs after updates", "queue after updates"])


def test_records_after_updates(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    records_same(ref, got, "after updates")
