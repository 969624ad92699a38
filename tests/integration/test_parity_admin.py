"""sdiag and scontrol's operator commands: flurm answers as slurmctld 22.05 does.

Three scenarios, each on a slurmctld cluster and a flurm cluster side by side:

* diagnostics: ``sdiag -r``, a few jobs, then ``sdiag`` as root and as ``nobody`` (compared by shape:
  the same sections and rows, the same RPC types and users, numbers left out, as their values
  depend on timing); setdebug, setdebugflags, schedloglevel, ping and takeover with a backup
  SlurmctldHost configured (on loopback every address reaches the primary, which answers for it),
  and the refusals of all of them to ``nobody``.
* reconfigure: slurm.conf changes a partition's MaxTime and adds a partition; after ``scontrol
  reconfigure`` sinfo and ``scontrol show partition`` agree and the running job is untouched.
  A file that does not parse is refused by flurm, which goes on with the configuration it had,
  and a new node (with its slurmd started after the reconfigure) joins the cluster: both flurm
  only, as slurmctld 22.05 exits on either (fatal).
* shutdown: ``scontrol shutdown slurmctld`` stops the controller only, ``scontrol shutdown``
  the slurmd nodes too; the state is saved (a held job is there after a restart).
"""

from __future__ import annotations

import difflib
import re
import subprocess
from collections.abc import Iterator

import pytest
from parity import (
    Step,
    Transcript,
    assert_same,
    cluster,
    cluster_pair,
    cmd,
    poll,
    run_both,
    run_steps,
    settle,
    wait_state,
)

from harness import launcher
from harness.loopback import SlurmCluster, free_port_block

BASE_CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
BACKUP = "SlurmctldHost=backup(127.0.0.2)"

SHOW_LOG_SETTINGS = "scontrol show config | grep -E '^(DebugFlags|SlurmctldDebug|SlurmSchedLogLevel) '"
DIAG_STEPS: list[Step] = [
    cmd("sdiag", "-r", label="reset"),
    cmd("sdiag", "-r", user="nobody", label="reset by nobody"),
    cmd("sbatch", "--wrap", "true"),  # 1
    wait_state(1, "COMPLETED"),
    cmd("sbatch", "-H", "--wrap", "true", user="nobody"),  # 2
    cmd("scancel", "2", user="nobody"),
    cmd("sbatch", "-H", "--wrap", "true"),  # 3
    settle(),
    cmd("sdiag", label="sdiag"),
    cmd("sdiag", user="nobody", label="sdiag by nobody"),
    cmd("scontrol", "setdebug", "debug2", label="setdebug"),
    cmd("scontrol", "setdebug", "info", user="nobody", label="setdebug by nobody"),
    cmd("scontrol", "setdebugflags", "+Backfill", label="setdebugflags"),
    cmd("scontrol", "setdebugflags", "-Backfill", user="nobody", label="setdebugflags by nobody"),
    cmd("sh", "-c", SHOW_LOG_SETTINGS, label="setdebug shown by show config"),
    cmd("scontrol", "setdebug", "info", label="setdebug back"),
    cmd("scontrol", "setdebugflags", "-Backfill", label="setdebugflags back"),
    cmd("sh", "-c", SHOW_LOG_SETTINGS, label="setdebug back shown by show config"),
    cmd("scontrol", "schedloglevel", "1", label="schedloglevel"),
    cmd("scontrol", "schedloglevel", "1", user="nobody", label="schedloglevel by nobody"),
    cmd("scontrol", "ping", label="ping"),
    cmd("scontrol", "ping", user="nobody", label="ping by nobody"),
    cmd("scontrol", "takeover", label="takeover"),
    cmd("scontrol", "takeover", user="nobody", label="takeover by nobody"),
    cmd("scontrol", "reconfigure", user="nobody", label="reconfigure by nobody"),
    cmd("scontrol", "shutdown", user="nobody", label="shutdown by nobody"),
    cmd("scontrol", "ping", label="ping after"),
    cmd("squeue", "-h", "-t", "all", "-o", "%i %t %r", label="queue after"),
]

# Node messages that come or not by timing alone: slurmd registers again whenever the controller
# pings it (every SlurmdTimeout/3), and answers a job's termination with MESSAGE_EPILOG_COMPLETE
# only if the batch step was still ending when it came (else ESLURMD_KILL_JOB_ALREADY_COMPLETE)
TIMING_RPCS = {"MESSAGE_NODE_REGISTRATION_STATUS", "MESSAGE_EPILOG_COMPLETE"}


@pytest.fixture(scope="module")
def diag_runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=1, cpus=2, extra_conf=f"{BASE_CONF}\n{BACKUP}") as (ref, got):
        yield run_both(ref, got, DIAG_STEPS)


def sdiag_shape(text: str) -> str:
    """sdiag's output without its numbers: its lines with digits blanked, the RPC rows reduced to
    the sorted names of the message types and users."""
    out: list[str] = []
    section = ""
    rows: list[str] = []

    def flush() -> None:
        out.extend(sorted(rows))
        rows.clear()

    for line in text.splitlines():
        if line.startswith("Remote Procedure Call statistics by"):
            flush()
            section = line
            out.append(line)
            continue
        if section and line.startswith("\t"):
            name = line.split()[0]
            if name not in TIMING_RPCS:
                rows.append(f"\t{name}")
            continue
        flush()
        section = ""
        out.append(re.sub(r"\d+", "N", line))
    flush()
    return "\n".join(out)


def test_sdiag_reset_and_refusal(diag_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = diag_runs
    assert_same(ref, got, ["reset", "reset by nobody"])
    assert got["reset"].stdout == "Reset scheduling statistics\n"
    assert "Access/permission denied" in got["reset by nobody"].stderr


@pytest.mark.parametrize("label", ["sdiag", "sdiag by nobody"])
def test_sdiag_shape(diag_runs: tuple[Transcript, Transcript], label: str) -> None:
    ref, got = diag_runs
    a, b = ref[label], got[label]
    assert (a.returncode, b.returncode) == (0, 0), (a.stderr, b.stderr)
    want, have = sdiag_shape(a.stdout).splitlines(), sdiag_shape(b.stdout).splitlines()
    assert have == want, "\n".join(difflib.unified_diff(want, have, "slurmctld", "flurm", lineterm=""))
    for name in ("REQUEST_SUBMIT_BATCH_JOB", "REQUEST_KILL_JOB", "REQUEST_COMPLETE_BATCH_SCRIPT"):
        assert name in b.stdout
    assert re.search(r"^\troot\s", b.stdout, re.M) and re.search(r"^\tnobody\s", b.stdout, re.M)


def test_sdiag_job_counters(diag_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = diag_runs

    def jobs(text: str) -> list[str]:
        return re.findall(r"^Jobs (?:submitted|started|completed|canceled|failed):.*$", text, re.M)

    assert jobs(got["sdiag"].stdout) == jobs(ref["sdiag"].stdout)
    assert "Jobs submitted: 3" in got["sdiag"].stdout and "Jobs canceled:  1" in got["sdiag"].stdout


def test_log_settings(diag_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = diag_runs
    keys = [k for k in ref.labels() if k.startswith(("setdebug", "schedloglevel"))]
    assert_same(ref, got, keys)
    assert "Permission denied" in got["setdebug by nobody"].stderr
    shown = got["setdebug shown by show config"].stdout
    assert re.search(r"^DebugFlags\s+= Backfill$", shown, re.M), shown
    assert re.search(r"^SlurmctldDebug\s+= debug2$", shown, re.M), shown


def test_ping_takeover_and_refusals(diag_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = diag_runs
    keys = [k for k in ref.labels() if k.startswith(("ping", "takeover", "reconfigure", "shutdown", "queue"))]
    assert_same(ref, got, keys)
    assert "Slurmctld(backup) at backup is" in got["ping"].stdout
    assert "Invalid user id" in got["shutdown by nobody"].stderr


# -- reconfigure --------------------------------------------------------------------------------------


def batch_step_running(c: SlurmCluster) -> None:
    poll("the batch step of job 1", lambda: "1.batch" in c.run("squeue", "-h", "-s", "-o", "%i").stdout)


def edit_conf(c: SlurmCluster) -> None:
    text = c.conf.read_text().replace("MaxTime=INFINITE", "MaxTime=30")
    c.conf.write_text(text + "PartitionName=extra Nodes=compute-node-1 MaxTime=10 State=UP\n")


RECONF_STEPS: list[Step] = [
    cmd("sbatch", "-t", "60", "--wrap", "exec sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    batch_step_running,  # a reconfigure while slurmd still launches the job may requeue it
    cmd("scontrol", "show", "partition", label="partitions before"),
    edit_conf,
    cmd("scontrol", "reconfigure", label="reconfigure"),
    cmd("sinfo", label="sinfo after", sort_lines=True),
    cmd("scontrol", "show", "partition", label="partitions after"),
    cmd("sbatch", "-H", "-p", "extra", "-t", "5", "--wrap", "true", label="submit to the new partition"),
    cmd("squeue", "-h", "-o", "%i %t %P %l %N %r", label="jobs after"),
]


@pytest.fixture(scope="module")
def reconf_runs() -> Iterator[tuple[Transcript, Transcript, SlurmCluster]]:
    with cluster_pair(nodes=1, cpus=2, extra_conf=BASE_CONF) as (ref, got):
        a, b = run_both(ref, got, RECONF_STEPS)
        yield a, b, got


def test_reconfigure(reconf_runs: tuple[Transcript, Transcript, SlurmCluster]) -> None:
    ref, got, _ = reconf_runs
    assert_same(ref, got)
    assert "PartitionName=extra" in got["partitions after"].stdout
    assert "MaxTime=00:30:00" in got["partitions after"].stdout
    assert got["jobs after"].stdout.startswith("1 R debug 1:00:00 compute-node-1 None")


def test_reconfigure_refuses_a_file_that_does_not_parse(
    reconf_runs: tuple[Transcript, Transcript, SlurmCluster],
) -> None:
    _, _, got = reconf_runs
    good = got.conf.read_text()
    client_conf = got.conf.with_name("client.conf")  # the clients would refuse the broken file too
    client_conf.write_text(good)
    try:
        got.conf.write_text(good + "NodeName=compute-node-9 CPUs=lots\n")
        r = got.run("scontrol", "reconfigure", conf=client_conf)
        assert r.returncode == 1 and 'CPUs value "lots" is not a valid number' in r.stderr, r
        shown = got.run("scontrol", "show", "partition", "extra", conf=client_conf)
        assert shown.returncode == 0 and "MaxTime=00:10:00" in shown.stdout
        assert got.flurm is not None and got.flurm.poll() is None
    finally:
        got.conf.write_text(good)


def add_node(c: SlurmCluster) -> None:
    """A second node (and a partition of its own) in slurm.conf; its slurmd is not started yet."""
    port = free_port_block(1)
    (c.dir / "spool" / NEW_NODE).mkdir(parents=True, exist_ok=True)
    c.conf.write_text(
        c.conf.read_text()
        + f"NodeName={NEW_NODE} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} CPUs=2 Sockets=1 "
        "CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN\n"
        f"PartitionName=new Nodes={NEW_NODE} MaxTime=10 State=UP\n"
    )


def start_new_slurmd(c: SlurmCluster) -> None:
    layout = launcher.Layout(c.dir)
    subprocess.run(["slurmd", "-f", str(c.conf), "-N", NEW_NODE], env=layout.client_env(), check=True)
    poll(
        f"[{c.controller}] {NEW_NODE} to be idle",
        lambda: c.run("sinfo", "-h", "-n", NEW_NODE, "-o", "%t").stdout.split() == ["idle"],
        60,
    )


NEW_NODE = "compute-node-2"
ADD_NODE_STEPS: list[Step] = [
    cmd("sbatch", "--wrap", "exec sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    batch_step_running,
    add_node,
    cmd("scontrol", "reconfigure", label="reconfigure"),
    start_new_slurmd,
    cmd("sinfo", label="sinfo", sort_lines=True),
    cmd("sinfo", "-N", "-h", "-o", "%N %P %t %c %m", label="nodes", sort_lines=True),
    cmd("scontrol", "show", "partition", "new", label="new partition"),
    cmd("sbatch", "-p", "new", "--wrap", "exec sleep 300"),  # 2
    wait_state(2, "RUNNING"),
    cmd("squeue", "-h", "-S", "i", "-o", "%i %t %P %N", label="jobs"),
]


def test_reconfigure_adds_a_node() -> None:
    """flurm only: slurmctld 22.05 exits on a reconfigure that changes the set of nodes (fatal:
    "node count has changed before reconfiguration ... You have to restart slurmctld")."""
    with cluster("flurm", nodes=1, cpus=2, extra_conf=BASE_CONF) as got:
        b = run_steps(got, ADD_NODE_STEPS)
        assert got.flurm is not None and got.flurm.poll() is None
    assert b["reconfigure"].returncode == 0, b["reconfigure"].stderr
    assert b["sinfo"].stdout.splitlines()[1:] == [
        "debug*       up   infinite      1    mix compute-node-1",
        f"debug*       up   infinite      1   idle {NEW_NODE}",  # Nodes=ALL takes it in too
        f"new          up      10:00      1   idle {NEW_NODE}",
    ]
    assert b["nodes"].stdout.splitlines() == [
        "compute-node-1 debug* mix 2 1000",
        f"{NEW_NODE} debug* idle 2 1000",
        f"{NEW_NODE} new idle 2 1000",
    ]
    assert b["jobs"].stdout == f"1 R debug compute-node-1\n2 R new {NEW_NODE}\n"


# -- shutdown -----------------------------------------------------------------------------------------


def controller_gone(c: SlurmCluster) -> None:
    if c.flurm is not None:
        c.flurm.wait(60)
        return
    layout = launcher.Layout(c.dir)
    poll("slurmctld to exit", lambda: launcher.pidfile_pid(layout.slurmctld_pidfile, c.dir) is None, 60)


def live_slurmd(c: SlurmCluster) -> int:
    """How many of the cluster's slurmd run (a slurmd that ended removed its pid file)."""
    layout = launcher.Layout(c.dir)
    return sum(launcher.pidfile_pid(p, c.dir) is not None for p in layout.slurmd_pidfiles())


def restart(c: SlurmCluster) -> None:
    c.start_daemons()
    if c.controller == "flurm":
        c.start_flurm()
    c.wait_ready()


def shutdown_steps(seen: dict[str, list[object]]) -> list[Step]:
    def note(what: str) -> Step:
        def act(c: SlurmCluster) -> None:
            exit_code = c.flurm.returncode if c.flurm is not None else None
            seen.setdefault(c.controller, []).append((what, live_slurmd(c), exit_code))

        return act

    return [
        cmd("sbatch", "-H", "--wrap", "true"),  # 1
        cmd("scontrol", "shutdown", user="nobody", label="shutdown by nobody"),
        cmd("scontrol", "shutdown", "slurmctld", label="shutdown slurmctld"),
        controller_gone,
        note("controller only"),
        restart,
        cmd("squeue", "-h", "-o", "%i %t %r", label="queue after restart"),
        cmd("scontrol", "shutdown", label="shutdown"),
        controller_gone,
        lambda c: poll(f"[{c.controller}] slurmd to exit", lambda: live_slurmd(c) == 0, 60),
        note("all"),
    ]


def test_shutdown() -> None:
    seen: dict[str, list[object]] = {}
    with cluster_pair(nodes=2, cpus=1, extra_conf=BASE_CONF) as (ref, got):
        a, b = run_both(ref, got, shutdown_steps(seen))
        assert_same(a, b)
    assert seen["slurmctld"] == [("controller only", 2, None), ("all", 0, None)]
    assert seen["flurm"] == [("controller only", 2, 0), ("all", 0, 0)]
    assert "Invalid user id" in b["shutdown by nobody"].stderr
    assert b["queue after restart"].stdout == "1 PD JobHeldUser\n"
