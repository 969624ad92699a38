"""Capture what a real slurmctld sends its slurmdbd of the same release and what slurmdbd answers, for the
accounting codec's golden files.

    python tests/golden/dbd/capture.py RELEASE OUTDIR      # RELEASE: 22.05 (the host's), 24.11, 26.05

A newer release's slurmctld, slurmd, clients and slurmdbd run from its chroot (harness/releases.py).

Starts MariaDB and slurmdbd (harness.accounting), a harness.capture_proxy in front of slurmdbd, and a
two-node cluster whose slurmctld (and clients) reach slurmdbd through the proxy. Then runs jobs that end
each way (exit 0, exit 3, srun steps, cancelled while running, held then released, suspended and
resumed), drains and resumes a node, creates, updates and deletes a reservation, asks sacct, and stops
slurmctld (its last messages go too). Each connection N lands as OUTDIR/dbd-connN-c2s.bin / -s2c.bin;
OUTDIR/outputs.txt holds the job ids and what sacct printed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from harness import launcher  # noqa: E402
from harness.accounting import Accounting, write_munge_key  # noqa: E402
from harness.loopback import SlurmCluster, free_port_block  # noqa: E402


def main(release: str, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="flurm-dbdcap-"))
    d.chmod(0o755)
    key = write_munge_key(launcher.Layout(d / "cluster").munge_key)
    acct = Accounting(d / "acct", key, release=release).reserve()
    proxy_port = free_port_block(1)
    lines = acct.slurm_conf_lines().replace(f"Port={acct.dbd_port}", f"Port={proxy_port}")
    c = SlurmCluster(
        d / "cluster",
        "slurmctld",
        nodes=2,
        extra_conf=lines + "JobAcctGatherType=jobacct_gather/linux\n",
        release=release,
    )
    out: list[str] = []
    acct.start()
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.capture_proxy",
            str(proxy_port),
            str(acct.dbd_port),
            str(outdir),
            "dbd",
        ],
        cwd=REPO,
        stdout=open(outdir / "proxy.log", "w"),  # noqa: SIM115
    )
    try:
        time.sleep(1)
        c.start()
        time.sleep(3)
        jobs = {}
        jobs["ok"] = c.sbatch("-J", "ok", "--wrap", "exit 0")
        jobs["fail"] = c.sbatch("-J", "fail", "--wrap", "exit 3")
        jobs["steps"] = c.sbatch(
            "-J", "steps", "-N2", "-n2", "--wrap", "srun hostname; srun -n1 -N1 false; exit 0"
        )
        for j in ("ok", "fail", "steps"):
            c.wait_state(jobs[j], ["COMPLETED", "FAILED"])
        jobs["cancel"] = c.sbatch("-J", "cancel", "--wrap", "sleep 60")
        c.wait_state(jobs["cancel"], ["RUNNING"])
        time.sleep(1)
        c.run("scancel", str(jobs["cancel"])).check()
        c.wait_state(jobs["cancel"], ["CANCELLED"])
        jobs["held"] = c.sbatch("-J", "held", "-H", "--wrap", "true")
        time.sleep(1)
        c.run("scontrol", "release", str(jobs["held"])).check()
        c.wait_state(jobs["held"], ["COMPLETED"])
        jobs["susp"] = c.sbatch("-J", "susp", "--wrap", "sleep 30")
        c.wait_state(jobs["susp"], ["RUNNING"])
        time.sleep(1)
        c.run("scontrol", "suspend", str(jobs["susp"])).check()
        time.sleep(1)
        c.run("scontrol", "resume", str(jobs["susp"])).check()
        time.sleep(1)
        c.run("scancel", str(jobs["susp"])).check()
        c.wait_state(jobs["susp"], ["CANCELLED"])
        c.run("scontrol", "update", "nodename=compute-node-2", "state=drain", "reason=maint").check()
        time.sleep(1)
        c.run("scontrol", "update", "nodename=compute-node-2", "state=resume").check()
        c.run("scontrol", "create", "reservation", "ReservationName=r1", "StartTime=now+1hour", "Duration=60",
              "Nodes=compute-node-1", "Users=root").check()  # fmt: skip
        c.run("scontrol", "update", "ReservationName=r1", "Duration=120").check()
        c.run("scontrol", "delete", "ReservationName=r1").check()
        time.sleep(3)
        out.append(f"jobs: {jobs}")
        for j in jobs.values():
            fields = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode,AllocTRES,NodeList"
            r = c.run("sacct", "-j", str(j), "-P", "-o", fields).check()
            out.append(r.stdout)
    finally:
        c.stop()
        time.sleep(2)
        proxy.terminate()
        proxy.wait(10)
        acct.stop()
        (outdir / "outputs.txt").write_text("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
