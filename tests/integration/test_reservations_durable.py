"""Reservations survive: a reservation flurm acknowledged is there after a SIGKILL and restart (and the
next generated name counts on); in shadow flurm shows slurmctld's reservations as slurmctld shows them,
and after the takeover (and a restart) they are flurm's own.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.loopback import SlurmCluster, cluster

pytestmark = pytest.mark.integration


def wait_for(what: str, pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def reservations(c: SlurmCluster, conf: Path | None = None) -> str:
    return c.run("scontrol", "show", "reservation", conf=conf).check().stdout


def create(c: SlurmCluster, *args: str) -> str:
    out = c.run("scontrol", "create", "reservation", *args).check().stdout
    m = re.search(r"Reservation created: (\S+)", out)
    assert m, out
    return m.group(1)


@pytest.fixture
def standalone() -> Iterator[SlurmCluster]:
    with cluster("flurm", nodes=2, cpus=2, extra_conf="KillWait=2") as c:
        yield c


def test_a_created_reservation_survives_sigkill(standalone: SlurmCluster) -> None:
    c = standalone
    assert create(c, "Users=root", "StartTime=now", "Duration=30", "NodeCnt=1") == "root_1"
    daily = ("Accounts=acct1", "StartTime=now+2hours", "Duration=10", "Nodes=compute-node-2", "Flags=DAILY")
    assert create(c, *daily) == "acct1_2"
    c.run("scontrol", "delete", "ReservationName=acct1_2").check()
    assert create(c, *daily) == "acct1_3"
    before = reservations(c)
    c.stop_flurm(signal.SIGKILL)
    c.start_flurm()
    assert reservations(c) == before
    assert create(c, "Users=root", "StartTime=now+5hours", "Duration=5", "NodeCnt=1") == "root_4"


@pytest.fixture
def shadowed() -> Iterator[SlurmCluster]:
    with cluster("slurmctld", nodes=2, cpus=2, extra_conf="KillWait=2\nMinJobAge=600") as c:
        yield c


def test_shadow_mirrors_and_takeover_keeps_slurmctld_reservations(shadowed: SlurmCluster) -> None:
    c = shadowed
    create(c, "Users=root", "StartTime=now", "Duration=30", "NodeCnt=1")
    create(
        c,
        "ReservationName=maint",
        "Users=root",
        "StartTime=now+1hour",
        "Duration=60",
        "Nodes=ALL",
        "Flags=MAINT,IGNORE_JOBS",
    )
    port = c.start_shadow()
    shadow_conf = c.client_conf(port)
    theirs = reservations(c)
    wait_for("the mirror to show slurmctld's reservations", lambda: reservations(c, shadow_conf) == theirs)
    r = c.flurm_cli("takeover")
    assert r.returncode == 0 and "standalone" in r.stdout, r.stdout + r.stderr
    wait_for("flurm on slurmctld's port", lambda: "is UP" in c.run("scontrol", "ping").stdout)
    assert reservations(c) == theirs
    # flurm's own now: written to its store, and the next generated name counts on as slurmctld's would
    # (two reservations took ids 1 and 2)
    assert c.stop_flurm() == 0
    c.start_flurm(
        wait=False, extra=["--shadow", "--port", str(port), "--state-dir", str(c.dir / "flurm-state")]
    )
    wait_for("flurm after its restart", lambda: "is UP" in c.run("scontrol", "ping").stdout)
    assert reservations(c) == theirs
    assert create(c, "Users=root", "StartTime=now+3hours", "Duration=5", "NodeCnt=1") == "root_3"
