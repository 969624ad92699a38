"""The reports and operator commands of SLURM 24.11 and 26.05 (everything but the job families) print
against flurm what they print against their own release's slurmctld.

One pair of clusters per release, each without slurmd (one configured node): the release's slurmctld
and flurm. The release's clients then run, as root and as nobody, scontrol show burstbuffer, topology,
assoc_mgr, federation (26.05: topoconf), sshare, sprio, sdiag (its counters compared by shape), sdiag -r,
strigger --get, scontrol top/notify/requeue/update StepId of an unknown job, setdebug, setdebugflags,
schedloglevel, reservations created, updated and deleted (and a bad one), a partition asked for by
nobody and an unknown one deleted, reconfigure and takeover. (flurm's partitions follow slurm.conf: it
refuses to create one, in every release.)

One difference is kept on purpose: slurmctld sends no reply at all to ``scontrol suspend|resume`` of a
job it does not know (its client prints "Unexpected message received"); flurm answers that the job id
is invalid (checked here as such).
"""

from __future__ import annotations

import difflib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import normalise

from harness.loopback import SlurmCluster

RELEASES = ("24.11", "26.05")

# (commands, as whom): run in this order on both clusters
COMMANDS: list[tuple[tuple[str, ...], str | None]] = [
    *(
        (c, u)
        for u in (None, "nobody")
        for c in (
            ("scontrol", "show", "burstbuffer"),
            ("scontrol", "show", "topology"),
            ("scontrol", "show", "assoc_mgr"),
            ("scontrol", "show", "federation"),
            ("sshare",),
            ("sprio",),
            ("strigger", "--get"),
            ("scontrol", "top", "999"),
            ("scontrol", "notify", "999", "hello"),
            ("scontrol", "requeue", "999"),
            ("scontrol", "update", "StepId=999.0", "TimeLimit=5"),
            ("scontrol", "show", "hostnames", "n[1-3]"),
            ("scontrol", "delete", "reservation=nosuch"),
            ("scontrol", "delete", "partition=nosuch"),
            ("scontrol", "setdebug", "info"),
            ("scontrol", "setdebugflags", "+Backfill"),
            ("scontrol", "schedloglevel", "1"),
            ("sdiag", "-r"),
        )
    ),
    (("scontrol", "reconfigure"), "nobody"),
    (("scontrol", "takeover"), None),
    (("scontrol", "create", "reservation", "StartTime=now", "Duration=60", "Nodes=nosuch", "Users=root"),
     None),
    (("scontrol", "create", "reservation", "ReservationName=r1", "StartTime=now+1hour", "Duration=60",
      "Nodes=ALL", "Users=root", "Flags=MAINT"), "nobody"),
    (("scontrol", "create", "reservation", "ReservationName=r1", "StartTime=now+1hour", "Duration=60",
      "Nodes=ALL", "Users=root", "Flags=MAINT"), None),
    (("scontrol", "update", "reservation", "ReservationName=r1", "Duration=90"), None),
    (("scontrol", "update", "reservation", "ReservationName=r1", "Comment=kept"), None),
    (("scontrol", "delete", "reservation=r1"), None),
    (("scontrol", "delete", "reservation=r1"), None),
    (("scontrol", "create", "PartitionName=p2", "Nodes=ALL"), "nobody"),
]  # fmt: skip
ONLY_2605: list[tuple[tuple[str, ...], str | None]] = [
    (("scontrol", "show", "topoconf"), None),
    (("scontrol", "show", "topoconf"), "nobody"),
]
SUSPEND = [("scontrol", "suspend", "999"), ("scontrol", "resume", "999")]

# sdiag's counters: the wall clock, thread counts, latencies and each controller's own RPCs differ, and
# the means of the scheduling cycles are printed once a cycle ran (when, is the controller's own timing)
_DATE = re.compile(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4} \(\d+\)")
_NUMBER = re.compile(r"\d+")
_MEANS = re.compile(r"^\tMean .*\n", re.MULTILINE)


def sdiag_shape(text: str) -> str:
    head = text.split("Remote Procedure Call statistics by message type")[0]
    return _NUMBER.sub("N", _DATE.sub("<DATE>", _MEANS.sub("", head)))


@pytest.fixture(scope="module", params=RELEASES)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, SlurmCluster, SlurmCluster]]:
    """The release's slurmctld and flurm, each without slurmd: (release, slurmctld, flurm)."""
    release: str = request.param
    dirs = [Path(tempfile.mkdtemp(prefix=f"flurm-misc-{release}-{k}-")) for k in ("ctld", "flurm")]
    for d in dirs:
        d.chmod(0o755)
    ctld = SlurmCluster(dirs[0], "slurmctld", release=release, slurmd=False)
    flurm = SlurmCluster(dirs[1], "flurm", release=release, slurmd=False)
    try:
        ctld.start()
        flurm.start()
        yield release, ctld, flurm
    finally:
        for c in (ctld, flurm):
            c.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _run(c: SlurmCluster, command: tuple[str, ...], user: str | None) -> str:
    r = c.run(*command, user=user, timeout=60)
    return f"rc={r.returncode}\n{normalise(r.stdout + r.stderr, c)}"


def test_the_clients_print_what_they_print_against_their_slurmctld(
    pair: tuple[str, SlurmCluster, SlurmCluster],
) -> None:
    release, ctld, flurm = pair
    commands = COMMANDS + (ONLY_2605 if release == "26.05" else [])
    differ = []
    for command, user in commands:
        want, got = (_run(c, command, user) for c in (ctld, flurm))
        if want != got:
            differ.append(
                f"{user or 'root'}: {' '.join(command)}:\n"
                + "\n".join(difflib.unified_diff(want.splitlines(), got.splitlines(), "slurmctld", "flurm"))
            )
    assert differ == [], f"{release}:\n" + "\n".join(differ)


def test_sdiag_reports_the_same_counters(pair: tuple[str, SlurmCluster, SlurmCluster]) -> None:
    release, ctld, flurm = pair
    for user in (None, "nobody"):
        want, got = (c.run("sdiag", user=user, timeout=60) for c in (ctld, flurm))
        a, b = (sdiag_shape(r.stdout + r.stderr) for r in (want, got))
        shown = "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "slurmctld", "flurm"))
        assert (want.returncode, a) == (got.returncode, b), f"{release}, {user or 'root'}:\n{shown}"
        assert "Main schedule statistics" in got.stdout


def test_suspend_of_an_unknown_job_is_answered(pair: tuple[str, SlurmCluster, SlurmCluster]) -> None:
    release, ctld, flurm = pair
    for command in SUSPEND:
        want, got = (c.run(*command, timeout=60) for c in (ctld, flurm))
        assert want.returncode == got.returncode == 1, release
        assert "Unexpected message received for job 999" in want.stderr + want.stdout
        assert "Invalid job id specified for job 999" in got.stderr + got.stdout
