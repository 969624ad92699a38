"""The records slurmctld could not send before the takeover reach slurmdbd through flurm, as they reach it
through slurmctld started again.

slurmctld reaches the real slurmdbd through a proxy of the test's own (AccountingStoragePort in its
slurm.conf), flurm directly (its copy of slurm.conf names slurmdbd's port). The proxy is stopped: a job runs
and ends under slurmctld, whose records (batch and srun step start and completion, job completion) wait in
its agent. flurm's pre-flight reaches slurmdbd, the takeover stops slurmctld, which writes the records to
StateSaveLocation/dbd.messages; flurm reads that file, queues its records before its own and sends them,
and renames the file so that a slurmctld started there again would not send them a second time. The job
never got its db_index from slurmctld: its row is made from those records, and the DBD_JOB_START that
slurmctld's db-index thread sends after a restart (and flurm's after the takeover) completes it; sacct
then shows the job and its steps once, as after slurmctld's own restart.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flurm.config.render import render_with_overrides
from flurm.migration.dbd_messages import DBD_MESSAGES_FILE, TAKEN_SUFFIX, decode_dbd_messages
from flurm.protocol.dbd_types import DbdMsgType
from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster, free_port_block

pytestmark = pytest.mark.integration


def eventually(what: str, probe: Callable[[], list[str]], ok: Callable[[list[str]], bool]) -> list[str]:
    deadline = time.monotonic() + 60.0
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = probe()
        if ok(seen):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"{what}: never true; last: {seen}")


@dataclass
class Proxied:
    c: SlurmCluster
    acct: Accounting
    proxy_port: int
    capture: Path
    proxy: subprocess.Popen[bytes] | None = None

    def start_proxy(self) -> None:
        argv = [sys.executable, "-m", "harness.capture_proxy", str(self.proxy_port), str(self.acct.dbd_port)]
        self.proxy = subprocess.Popen(
            [*argv, str(self.capture), "ctld"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        with socket_wait(self.proxy_port):
            pass

    def stop_proxy(self) -> None:
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGTERM)
            self.proxy.wait(10)
        self.proxy = None


@contextlib.contextmanager
def socket_wait(port: int) -> Iterator[None]:
    deadline = time.monotonic() + 20.0
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield


@pytest.fixture()
def proxied() -> Iterator[Proxied]:
    d = Path(tempfile.mkdtemp(prefix="flurm-dbdmsg-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key)).reserve()
    proxy_port = free_port_block(1)
    lines = acct.slurm_conf_lines()
    lines = lines.replace(f"AccountingStoragePort={acct.dbd_port}", f"AccountingStoragePort={proxy_port}")
    c = SlurmCluster(d / "cluster", "slurmctld", nodes=1, cpus=2, extra_conf=lines + "MinJobAge=600\n")
    (d / "capture").mkdir()
    p = Proxied(c, acct, proxy_port, d / "capture")
    try:
        acct.start()
        p.start_proxy()
        c.start()
        # flurm's own slurm.conf: slurmdbd's port itself (argparse keeps the last -f)
        flurm_conf = c.dir / "etc" / "slurm-flurm.conf"
        flurm_conf.write_text(
            render_with_overrides(c.conf.read_text(), {"AccountingStoragePort": str(acct.dbd_port)})
        )
        c.flurm_args = ("-f", str(flurm_conf))
        yield p
    finally:
        p.stop_proxy()
        c.stop()
        acct.stop()


def sacct_rows(c: SlurmCluster, job: int) -> list[str]:
    """What slurmdbd holds of the job (asked directly: slurm.conf's port is the proxy's)."""
    conf = c.dir / "etc" / "slurm-flurm.conf"
    fmt = "JobID,JobName,State,ExitCode"
    r = c.run("sacct", "-D", "-n", "-P", "-j", str(job), "-o", fmt, conf=conf).check()
    return sorted(r.stdout.splitlines())


@pytest.mark.parametrize("next_controller", ["slurmctld", "flurm"])
def test_slurmctld_s_unsent_records_go_first(proxied: Proxied, next_controller: str) -> None:
    """The same records, sent by slurmctld started again (its restart: the file read back, its db-index
    thread) or by flurm after the takeover: the same rows in slurmdbd."""
    c = proxied.c
    before = c.sbatch("-J", "before", "--wrap", "exit 0")
    c.wait_state(before, ["COMPLETED"], timeout=30)
    done = [f"{before}.batch|batch|COMPLETED|0:0", f"{before}|before|COMPLETED|0:0"]
    eventually(
        "slurmctld's records through the proxy", lambda: sacct_rows(c, before), lambda rows: rows == done
    )
    if next_controller == "flurm":
        c.start_shadow()
    proxied.stop_proxy()  # slurmctld loses slurmdbd
    job = c.sbatch("-J", "offline", "--wrap", "srun true; exit 3")
    c.wait_state(job, ["FAILED"], timeout=30)
    time.sleep(1.0)  # the last records are in slurmctld's agent queue
    assert sacct_rows(c, job) == []  # nothing reached slurmdbd
    state = c.dir / "state"
    if next_controller == "slurmctld":
        c.stop_slurmctld()
        saved = decode_dbd_messages((state / DBD_MESSAGES_FILE).read_bytes())
        proxied.start_proxy()
        c.start_daemons()
    else:
        r = c.flurm_cli("takeover")
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout[r.stdout.index("\n{") + 1 :])
        assert {ch["name"]: ch["ok"] for ch in doc["checks"]}["slurmdbd_reachable"]
        # flurm holds them now: a slurmctld started here again will not send them twice
        assert not (state / DBD_MESSAGES_FILE).exists()
        saved = decode_dbd_messages((state / (DBD_MESSAGES_FILE + TAKEN_SUFFIX)).read_bytes())
        log = (c.dir / "log" / "flurm.log").read_text()
        assert f"{len(saved.records)} records slurmctld had not sent go to slurmdbd before flurm's own" in log
    # what slurmctld left: its records of the job, in the layout flurm's connection speaks (no
    # DBD_JOB_START: the job never got its db_index; slurmdbd makes a row from the first record)
    assert saved.version == 0x2600
    types = [DbdMsgType(int.from_bytes(rec[:2], "big")).name for rec in saved.records]
    # (the batch step's completion and the job's come in either order: slurmctld's own race)
    assert types[:2] == ["DBD_STEP_START"] * 2, types
    assert sorted(types[2:]) == ["DBD_JOB_COMPLETE"] + ["DBD_STEP_COMPLETE"] * 2, types
    expected = [f"{job}.0|true|COMPLETED|0:0", f"{job}.batch|batch|FAILED|3:0", f"{job}|offline|FAILED|3:0"]
    rows = eventually("the offline job's records", lambda: sacct_rows(c, job), lambda rows: rows == expected)
    assert rows == expected
    assert sacct_rows(c, before) == done
