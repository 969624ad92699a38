"""Recapture tests/golden/statefile/job_state: a real slurmctld 22.05 saves its jobs on SIGTERM.

Run from the repo root:
``.venv/bin/python tests/golden/statefile/capture.py tests/golden/statefile/job_state``.
Jobs are submitted with ``-D /tmp/x -o /dev/null`` so that no machine path lands in the file (the
environment and script files, which hold the submitter's environment, are not kept). The timestamps
and the test expectations in tests/unit/test_statefile_golden.py change with each capture.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from harness.loopback import cluster


def main(out: str) -> None:
    os.makedirs("/tmp/x", exist_ok=True)
    with cluster("slurmctld", nodes=2, cpus=4, extra_conf="MinJobAge=600\nKillWait=2") as c:
        c.wait_ready()

        def sb(*args: str) -> int:
            return c.sbatch("-D", "/tmp/x", "-o", "/dev/null", *args)

        run2 = sb("-N", "2", "--mem=100", "-t", "10", "--comment=two nodes", "--wrap", "sleep 300")
        runc = sb("-c", "2", "--mem=200", "-t", "5", "--wrap", "sleep 300")
        arr = sb("--array=0-3%1", "-t", "3", "--wrap", "sleep 300")
        sb("-H", "--nice=10", "-J", "held", "--wrap", "true")
        sb(f"--dependency=afterok:{run2}", "--wrap", "true")
        done = sb("--wrap", "true")
        c.wait_state(done, ["COMPLETED"])
        for j in (run2, runc):
            c.wait_state(j, ["RUNNING"])
        c.wait_state(f"{arr}_0", ["RUNNING"])
        time.sleep(1)
        print(c.run("scontrol", "-d", "show", "job", "-o").stdout)
        pid = int((c.dir / "run" / "slurmctld.pid").read_text())
        os.kill(pid, signal.SIGTERM)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        shutil.copy(c.dir / "state" / "job_state", out)
        os.chmod(out, 0o644)


if __name__ == "__main__":
    main(sys.argv[1])
