"""Recapture tests/golden/resv_statefile/resv_state: a real slurmctld 22.05 saves its reservations on SIGTERM.

Run from the repo root:
``.venv/bin/python tests/golden/resv_statefile/capture.py tests/golden/resv_statefile/resv_state``.
The reservations made (in this order; each create takes an id from slurmctld's counter, top_suffix):
root_1 (Users=root, one node now for 30 min); maint (named, Users=root, all nodes in an hour,
Flags=MAINT,IGNORE_JOBS); gone (named, then deleted); acct1_4 (Accounts=acct1, node 2 at the same
time every day, Flags=DAILY, an end time instead of a duration); root_5 (Users=-root, node 1 in
two days, PURGE_COMP=10 min); cores (named, Users=root, 2 cores of node 2 in five days: its
cores are saved as a job_resources block). Times change with each capture, and the expectations in
tests/unit/test_resv_statefile.py with them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from harness.loopback import cluster


def main(out: str) -> None:
    with cluster("slurmctld", nodes=2, cpus=4) as c:
        c.wait_ready()

        def create(*args: str) -> str:
            r = c.run("scontrol", "create", "reservation", *args).check()
            m = re.search(r"Reservation created: (\S+)", r.stdout)
            assert m, r.stdout
            return m.group(1)

        create("Users=root", "StartTime=now", "Duration=30", "NodeCnt=1")
        create(
            "ReservationName=maint",
            "Users=root",
            "StartTime=now+1hour",
            "Duration=60",
            "Nodes=ALL",
            "Flags=MAINT,IGNORE_JOBS",
        )
        create("ReservationName=gone", "Users=root", "StartTime=now+3hours", "Duration=5", "NodeCnt=1")
        c.run("scontrol", "delete", "ReservationName=gone").check()
        create(
            "Accounts=acct1",
            "StartTime=now+2hours",
            "EndTime=now+3hours",
            "Nodes=compute-node-2",
            "Flags=DAILY",
        )
        create(
            "Users=-root",
            "StartTime=now+2days",
            "Duration=10",
            "Nodes=compute-node-1",
            "Flags=PURGE_COMP=10:00",
        )
        create(
            "ReservationName=cores",
            "Users=root",
            "StartTime=now+5days",
            "Duration=5",
            "CoreCnt=2",
            "Nodes=compute-node-2",
        )
        print(c.run("scontrol", "show", "reservation").stdout)
        pid = int((c.dir / "run" / "slurmctld.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        shutil.copy(c.dir / "state" / "resv_state", out)
        os.chmod(out, 0o644)


if __name__ == "__main__":
    main(sys.argv[1])
