"""flurm feeds the real slurmdbd 22.05 on a real MariaDB (harness/accounting.py): it opens the persistent
connection through AccountingStoragePass's munge socket and registers the cluster with its port
(``sacctmgr show cluster``), records node events as slurmctld does (``sacctmgr show event``), keeps them
while slurmdbd is away and after a kill -9 of flurm, and sends each of them once."""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster


@contextlib.contextmanager
def recording(controller: str) -> Iterator[tuple[SlurmCluster, Accounting]]:
    """A two-node cluster under ``controller`` ("flurm" or "slurmctld") that records into its own slurmdbd."""
    d = Path(tempfile.mkdtemp(prefix="flurm-acctf-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key))
    c = SlurmCluster(d / "cluster", controller, nodes=2, extra_conf=acct.slurm_conf_lines())
    try:
        acct.start()
        c.start()
        yield c, acct
    finally:
        c.stop()
        acct.stop()
        shutil.rmtree(d / "acct" / "mysql", ignore_errors=True)  # ~100 MB a run; the logs stay


@pytest.fixture()
def fed() -> Iterator[tuple[SlurmCluster, Accounting]]:
    with recording("flurm") as both:
        yield both


def sacctmgr(c: SlurmCluster, *args: str) -> list[str]:
    """sacctmgr's lines; none while slurmdbd cannot answer yet (it may still be reaching its database)."""
    r = c.run("sacctmgr", "-n", "-P", *args)
    if not r.ok and "Unable to connect to database" in r.stderr:
        return []
    return r.check().stdout.splitlines()


def eventually(
    what: str, probe: Callable[[], list[str]], ok: Callable[[list[str]], bool], timeout: float = 40.0
) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = probe()
        if ok(lines):
            return lines
        time.sleep(0.3)
    raise AssertionError(f"{what}: never true; last: {lines}")


EVENT_FORMAT = "format=NodeName,State,Reason,User,End"


def events(c: SlurmCluster) -> list[str]:
    """Node events (not the cluster's own), oldest first, End normalised to open/closed."""
    lines = sacctmgr(c, "show", "event", "all_time", "Nodes=" + ",".join(node_names(c)), EVENT_FORMAT)
    return [
        "|".join([*line.split("|")[:4], "open" if line.split("|")[4] == "Unknown" else "closed"])
        for line in lines
    ]


def node_names(c: SlurmCluster) -> list[str]:
    out = c.run("sinfo", "-h", "-N", "-o", "%N").check().stdout.split()
    return sorted(set(out))


def test_flurm_registers_the_cluster_with_its_port(fed: tuple[SlurmCluster, Accounting]) -> None:
    c, _ = fed
    lines = eventually(
        "cluster registered",
        lambda: sacctmgr(c, "show", "cluster", "format=Cluster,ControlHost,ControlPort"),
        lambda ls: any(line.endswith(f"|127.0.0.1|{c.ctld_port}") for line in ls),
    )
    assert len(lines) == 1, lines
    tres = sacctmgr(c, "show", "cluster", "format=TRES")
    # what slurmctld 22.05 registers for the same two nodes (tests/golden/dbd/22.05: 1=4,2=2000,...,8=0)
    cpus, mem = 2 * c.cpus, 2 * tres_mem(c)
    assert tres == [f"billing={cpus},cpu={cpus},energy=0,fs/disk=0,mem={mem}M,node=2,pages=0,vmem=0"], tres


def tres_mem(c: SlurmCluster) -> int:
    out = c.run("sinfo", "-h", "-N", "-o", "%m").check().stdout.split()
    return int(out[0])


def drain_and_resume(c: SlurmCluster) -> list[str]:
    """Drain a node, see its event open, resume it, see it closed: the events then."""
    node = node_names(c)[1]
    eventually(
        "registered", lambda: sacctmgr(c, "show", "cluster", "format=ControlPort"), lambda ls: ls != []
    )
    c.run("scontrol", "update", f"NodeName={node}", "State=DRAIN", "Reason=maint").check()
    eventually(
        "drain event", lambda: events(c), lambda ls: any("|maint|" in x and x.endswith("open") for x in ls)
    )
    c.run("scontrol", "update", f"NodeName={node}", "State=RESUME").check()
    return eventually(
        "drain closed", lambda: events(c), lambda ls: any(x.endswith("|maint|root(0)|closed") for x in ls)
    )


def test_drain_and_resume_become_the_node_events_slurmctld_records() -> None:
    seen = {}
    for controller in ("slurmctld", "flurm"):
        with recording(controller) as (c, _):
            seen[controller] = drain_and_resume(c)
    assert seen["flurm"] == seen["slurmctld"] == ["compute-node-2|DRAIN|maint|root(0)|closed"], seen


def test_records_wait_while_slurmdbd_is_away_and_after_a_kill_of_flurm(
    fed: tuple[SlurmCluster, Accounting],
) -> None:
    c, acct = fed
    first, second = node_names(c)
    eventually(
        "registered",
        lambda: sacctmgr(c, "show", "cluster", "format=ControlPort"),
        lambda ls: ls == [str(c.ctld_port)],
    )
    acct.stop_slurmdbd()
    c.run("scontrol", "update", f"NodeName={first}", "State=DRAIN", "Reason=away1").check()
    c.run("scontrol", "update", f"NodeName={second}", "State=DRAIN", "Reason=away2").check()
    time.sleep(1.0)  # the records are in flurm's store
    assert c.stop_flurm(signal.SIGKILL) == -signal.SIGKILL
    c.start_flurm(wait=False)
    c.wait_controller()
    c.run("scontrol", "update", f"NodeName={first}", "State=RESUME").check()
    acct.start_slurmdbd()
    lines = eventually(
        "the spooled events",
        lambda: events(c),
        lambda ls: f"{first}|DRAIN|away1|root(0)|closed" in ls and f"{second}|DRAIN|away2|root(0)|open" in ls,
    )
    assert sorted(lines) == sorted(
        [f"{first}|DRAIN|away1|root(0)|closed", f"{second}|DRAIN|away2|root(0)|open"]
    ), lines


def reservation_history(c: SlurmCluster) -> list[str]:
    """A reservation made, extended and made on two nodes, as sacctmgr then shows it (Assocs left out:
    their ids come from the association cache)."""
    eventually(
        "registered", lambda: sacctmgr(c, "show", "cluster", "format=ControlPort"), lambda ls: ls != []
    )
    c.run("scontrol", "create", "reservation", "ReservationName=r1", "StartTime=now", "Duration=60",
          "Nodes=compute-node-1", "Users=root").check()  # fmt: skip
    c.run("scontrol", "update", "ReservationName=r1", "Duration=120").check()
    fmt = "format=Cluster,ID,Name,NodeNames,TRES,Flags,Start,End"

    def shown() -> list[str]:
        out = []
        for line in sacctmgr(c, "show", "reservation", fmt):
            *fields, start, end = line.split("|")
            minutes = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).seconds // 60
            out.append("|".join([*fields, f"{minutes} min"]))
        return out

    return eventually("the reservation", shown, lambda ls: any(x.endswith("|120 min") for x in ls))


def test_reservations_are_recorded_as_slurmctld_records_them() -> None:
    seen = {}
    for controller in ("slurmctld", "flurm"):
        with recording(controller) as (c, _):
            seen[controller] = reservation_history(c)
    assert seen["flurm"] == seen["slurmctld"], seen
