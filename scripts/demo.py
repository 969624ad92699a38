"""The demonstration: a real SLURM cluster on loopback whose controller is flurm.

munged and two real slurmd daemons start under a temporary directory; flurm runs as their
controller; the real sbatch, squeue, sinfo, scontrol and scancel talk to it. Every command and its
output is printed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.loopback import SlurmCluster, cluster  # noqa: E402


def show(c: SlurmCluster, *args: str) -> str:
    print(f"$ {' '.join(args)}")
    r = c.run(*args)
    out = (r.stdout + r.stderr).rstrip()
    if out:
        print(out)
    print()
    return r.stdout


def main() -> int:
    print("Starting munged, 2 slurmd nodes and flurm on loopback...\n")
    with cluster("flurm", nodes=2, cpus=4) as c:
        show(c, "scontrol", "ping")
        show(c, "sinfo")
        script = c.jobs_dir / "hello.sh"
        script.write_text(
            "#!/bin/sh\n#SBATCH -J hello\n#SBATCH -o hello-%j.out\n"
            'echo "hello from $(hostname) job $SLURM_JOB_ID"\n'
        )
        first = show(c, "sbatch", str(script))
        show(c, "sbatch", "-N", "2", "--wrap", "srun hostname; sleep 2")
        show(c, "sbatch", "--array=1-4", "-J", "arr", "--wrap", "sleep 3")
        show(c, "sbatch", "--hold", "-J", "held", "--wrap", "true")
        show(c, "squeue")
        show(c, "sinfo", "-N")
        job_id = int(first.split()[-1])
        c.wait_state(job_id, ["COMPLETED"], timeout=30)
        show(c, "cat", f"hello-{job_id}.out")
        show(c, "scontrol", "show", "job", str(job_id))
        time.sleep(4)
        show(c, "squeue", "-t", "all")
        show(c, "scancel", "-u", "root")
        show(c, "squeue", "-t", "all")
    print("Demo finished: flurm served the real SLURM clients and drove the real slurmd nodes.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
