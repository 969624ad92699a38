"""Capture the saved state of a newer SLURM release: its slurmctld, run from the release's chroot with one
slurmd, saves its jobs, nodes, partitions and reservations on SIGTERM.

Run from the repo root as root (chroot, mount namespaces), with a free port range:
``.venv/bin/python tests/golden/statefile/capture_release.py 24.11 tests/golden/statefile/24.11 36100``.
It writes job_state, node_state, part_state, resv_state and the ``scontrol show job`` listing that
saw them (show_job.txt) to the output directory. Jobs are submitted with ``-D /tmp/x -o /dev/null``
so that no machine path lands in the files (the script and environment files are not kept).
Chroots: /var/cache/flurm-chroots/{trixie,sid} (24.11, 26.05), or $FLURM_CHROOTS.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from harness.launcher import (
    Layout,
    Settings,
    _make_dirs,
    _start_munged,
    render_conf,
)

SUITES = {"24.11": "trixie", "26.05": "sid"}
FILES = ("job_state", "node_state", "part_state", "resv_state")


def chrooted(root: Path, conf: Path, argv: list[str]) -> list[str]:
    """``argv`` run in the release's chroot, in a private mount namespace that sees the host's /tmp."""
    binds = "; ".join(
        f"mount --bind {p} {root}{p}" for p in ("/tmp", "/proc", "/dev", "/etc/passwd", "/etc/group")
    )
    cmd = f"set -e; {binds}; exec chroot {root} env SLURM_CONF={conf} {shlex.join(argv)}"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", cmd]


def main(release: str, out: str, port: int) -> None:
    root = Path(os.environ.get("FLURM_CHROOTS", "/var/cache/flurm-chroots")) / SUITES[release]
    d = Path(f"/tmp/statefile-{release}")
    shutil.rmtree(d, ignore_errors=True)
    layout = Layout(d)
    s = Settings(
        nodes=1, cpus=4, ctld_port=port, slurmd_port=port + 1, extra_conf="MinJobAge=600\nKillWait=2\n"
    )
    _make_dirs(layout, s)
    layout.conf.write_text(render_conf(layout, s))
    # slurmd from 24.11 sets up a cgroup plugin whatever the proctrack/task plugins: none here
    (layout.conf.parent / "cgroup.conf").write_text("CgroupPlugin=disabled\n")
    _start_munged(layout)
    os.makedirs("/tmp/x", exist_ok=True)
    conf = layout.conf
    log = open(d / "log" / "daemons.out", "ab")  # noqa: SIM115 - kept open while the daemons run
    ctld = subprocess.Popen(chrooted(root, conf, ["slurmctld", "-D", "-i"]), stdout=log, stderr=log)
    slurmd = subprocess.Popen(
        chrooted(root, conf, ["slurmd", "-D", "-N", "compute-node-1"]), stdout=log, stderr=log
    )

    # slurmstepd outlives slurmd; ours are the ones in slurmd's mount namespace
    time.sleep(0.5)
    namespace = os.readlink(f"/proc/{slurmd.pid}/ns/mnt")

    def run(*argv: str, check: bool = True) -> str:
        p = subprocess.run(chrooted(root, conf, list(argv)), capture_output=True, text=True, timeout=30)
        if check and p.returncode != 0:
            raise RuntimeError(f"{argv}: {p.stderr}")
        return p.stdout

    def state(job: str) -> str:
        return run("squeue", "-h", "-j", job, "-o", "%T", check=False).strip()

    def wait(job: str, states: tuple[str, ...], timeout: float = 30.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if state(job) in states or (not states and not state(job)):
                return
            time.sleep(0.3)
        raise RuntimeError(f"job {job} not {states}: {state(job)!r}")

    try:
        deadline = time.time() + 30
        while "idle" not in run("sinfo", "-h", "-o", "%t", check=False):
            if time.time() > deadline:
                raise RuntimeError("the node did not come up")
            time.sleep(0.5)

        def sb(*args: str) -> str:
            return run("sbatch", "--parsable", "-D", "/tmp/x", "-o", "/dev/null", *args).strip()

        running = sb("-c", "2", "--mem=100", "-t", "10", "--comment=running", "--wrap", "sleep 300")
        arr = sb("--array=0-3%1", "-t", "3", "--wrap", "sleep 300")
        sb("-H", "--nice=10", "-J", "held", "--wrap", "true")
        sb(f"--dependency=afterok:{running}", "--wrap", "true")
        sb("-c", "4", "-t", "5", "-J", "pending", "--wrap", "true")
        wait(running, ("RUNNING",))
        wait(f"{arr}_0", ("RUNNING",))
        run(
            "scontrol",
            "create",
            "reservation",
            "ReservationName=maint",
            "StartTime=now+1day",
            "Duration=60",
            "Users=root",
            "Nodes=ALL",
            "Flags=MAINT",
        )
        time.sleep(1)
        listing = run("scontrol", "show", "job", "-o")
        if os.environ.get("HOLD"):  # experiments against the live cluster: go on once this file is gone
            Path(os.environ["HOLD"]).touch()
            while Path(os.environ["HOLD"]).exists():
                time.sleep(0.5)
        pid = int(layout.slurmctld_pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        ctld.wait(30)
        os.makedirs(out, exist_ok=True)
        for name in FILES:
            shutil.copy(d / "state" / name, Path(out) / name)
            os.chmod(Path(out) / name, 0o644)
        (Path(out) / "show_job.txt").write_text(listing)
    finally:
        for p in (ctld, slurmd):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        for entry in Path("/proc").iterdir():
            try:
                if (entry / "comm").read_text().strip() == "slurmstepd" and (
                    os.readlink(entry / "ns" / "mnt") == namespace
                ):
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue
        munged = layout.munged_pidfile
        if munged.exists():
            os.kill(int(munged.read_text()), signal.SIGTERM)
        log.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
