"""Reservations at the takeover: what slurmctld acknowledged in its last instant (after flurm's final mirror
pass) is under flurm afterwards, merged from slurmctld's saved resv_state, and the next generated name
continues slurmctld's counter, which the wire never shows (ids taken by reservations since deleted, or by
reservations given a name, count too).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.loopback import SlurmCluster, cluster

pytestmark = pytest.mark.integration

CREATED = re.compile(r"Reservation created: (\S+)")


def wait_for(what: str, pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def shown(c: SlurmCluster, conf: Path | None = None) -> dict[str, str]:
    """`scontrol -o show reservation` as {name: line}."""
    out = c.run("scontrol", "-o", "show", "reservation", conf=conf).check().stdout
    lines = (line for line in out.splitlines() if line.startswith("ReservationName="))
    return {line.split()[0].split("=", 1)[1]: line for line in lines}


def create(c: SlurmCluster, *args: str) -> str:
    out = c.run("scontrol", "create", "reservation", *args).check().stdout
    m = CREATED.search(out)
    assert m, out
    return m.group(1)


@dataclass
class Booker:
    """Keeps creating reservations at slurmctld's port (flurm's once it took over), deleting every third
    one again, while the takeover happens."""

    c: SlurmCluster
    created: list[str] = field(default_factory=list)  # acknowledged
    deleted: list[str] = field(default_factory=list)  # acknowledged
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            name = f"late{i}"
            r = self.c.run(
                "scontrol",
                "create",
                "reservation",
                f"ReservationName={name}",
                "Users=root",
                "Nodes=compute-node-2",
                f"StartTime=now+{i + 1}days",
                "Duration=10",
                "Flags=IGNORE_JOBS",
                timeout=60,
            )
            if r.ok and CREATED.search(r.stdout):
                self.created.append(name)
                if i % 3 == 2:
                    d = self.c.run("scontrol", "delete", f"ReservationName={name}", timeout=60)
                    if d.ok:
                        self.deleted.append(name)
            else:
                self.failures.append(f"{name}: {r.stdout.strip()} {r.stderr.strip()}")
            i += 1
            time.sleep(0.02)


@pytest.fixture
def shadowed() -> Iterator[SlurmCluster]:
    with cluster("slurmctld", nodes=2, cpus=2, extra_conf="KillWait=2") as c:
        yield c


def test_reservations_acknowledged_in_slurmctlds_last_instant_survive_the_takeover(
    shadowed: SlurmCluster,
) -> None:
    c = shadowed
    # ids 1-4 taken at slurmctld; 2 and 3 by reservations deleted before flurm ever saw them
    assert create(c, "Users=root", "StartTime=now", "Duration=60", "NodeCnt=1") == "root_1"
    for gone in ("gone_a", "gone_b"):
        create(c, f"ReservationName={gone}", "Users=root", "StartTime=now+1hour", "Duration=5", "NodeCnt=1")
        c.run("scontrol", "delete", f"ReservationName={gone}").check()
    maint = ("ReservationName=maint", "Users=root", "StartTime=now+2hours", "Duration=60", "Nodes=ALL")
    create(c, *maint, "Flags=MAINT,IGNORE_JOBS")
    port = c.start_shadow()
    theirs = shown(c)
    wait_for("the mirror to show slurmctld's reservations", lambda: shown(c, c.client_conf(port)) == theirs)

    booker = Booker(c)
    t = threading.Thread(target=booker.run, daemon=True)
    t.start()
    wait_for("reservations created at slurmctld while flurm shadows it", lambda: len(booker.created) >= 3)
    r = c.flurm_cli("takeover")
    assert r.returncode == 0 and "standalone" in r.stdout, r.stdout + r.stderr
    wait_for("flurm on slurmctld's port", lambda: "is UP" in c.run("scontrol", "ping").stdout)
    created_before = len(booker.created)
    wait_for(
        "reservations created at flurm after the takeover", lambda: len(booker.created) >= created_before + 3
    )
    booker.stop.set()
    t.join(90)
    assert not t.is_alive()

    after = shown(c)
    assert after["root_1"] == theirs["root_1"] and after["maint"] == theirs["maint"]
    live = [n for n in booker.created if n not in booker.deleted]
    for name in live:
        line = after.get(name)
        assert line is not None, f"{name}, acknowledged, is missing under flurm"
        assert "Users=root " in line and "Nodes=compute-node-2 " in line, line
        assert re.search(r"Flags=IGNORE_JOBS,SPEC_NODES\b", line), line
    for name in booker.deleted:
        assert name not in after, f"{name} was deleted, yet flurm has it"
    # every late* reservation took an id, at slurmctld or at flurm, acknowledged or not
    late = set(booker.created) | {n for n in after if n.startswith("late")}
    expected = 4 + len(late) + 1
    name = create(c, "Users=root", "StartTime=now+400days", "Duration=5", "Nodes=compute-node-1")
    assert name == f"root_{expected}", (name, sorted(late), booker.failures)
