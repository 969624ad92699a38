"""Capture controller <-> slurmd traffic of a newer SLURM release through two dumping proxies.

    python tests/golden/slurmd/capture_release.py RELEASE CONTROLLER WORKDIR OUTDIR [--base PORT]

RELEASE is 24.11 or 26.05 (slurmd and clients from its chroot, harness/releases.py); CONTROLLER is
"slurmctld" (that release's, the reference) or "flurm". The cluster is harness/launcher.py's (1 node, 2
CPUs). slurmd and the clients read WORKDIR/etc/slurm.conf (SlurmctldPort=BASE+2, SlurmdPort=BASE+1); the
controller reads a copy (SlurmctldPort=BASE, SlurmdPort=BASE+3). harness/capture_proxy.py proxies
BASE+2 -> BASE ("ctld-*": slurmd, slurmstepd and clients to the controller) and BASE+3 -> BASE+1
("slurmd-*": the controller to slurmd). slurmd's conf hash differs from the controller's: a warning only.

Jobs (sbatch of the release, in WORKDIR/jobs): 1 prints its SLURM_* environment (rc 0), 2 `exit 3`,
3 `sleep 300` cancelled with scancel once running. OUTDIR gets the captures, steps.log and, per job,
`scontrol show job` of the release's client (jobN.txt) and its output (jobN.out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from harness import launcher, releases  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("release", choices=["24.11", "26.05"])
    p.add_argument("controller", choices=["slurmctld", "flurm"])
    p.add_argument("workdir", type=Path)
    p.add_argument("outdir", type=Path)
    p.add_argument("--base", type=int, default=39100)
    p.add_argument("--clients", default="", help="release of the clients (default RELEASE)")
    a = p.parse_args()
    ctld, slurmd, ctld_proxy, slurmd_proxy = a.base, a.base + 1, a.base + 2, a.base + 3
    out = a.outdir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    release = releases.get(a.release)
    clients = releases.get(a.clients or a.release)
    settings = launcher.Settings(
        controller="external",
        ctld_port=ctld_proxy,
        slurmd_port=slurmd,
        cpus=2,
        release=clients.name,
        slurmd_release=a.release,
        extra_conf=os.environ.get("CAPTURE_EXTRA_CONF", ""),
    )
    steps = open(out / "steps.log", "a")  # noqa: SIM115

    def step(text: str) -> None:
        print(f"=== {time.strftime('%T')} {text}", file=steps, flush=True)
        print(f"=== {text}", flush=True)

    proxies = [
        subprocess.Popen(
            [sys.executable, "-m", "harness.capture_proxy", str(listen), str(up), str(out), label],
            cwd=ROOT,
            stdout=open(out / f"proxy-{label}.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for listen, up, label in ((ctld_proxy, ctld, "ctld"), (slurmd_proxy, slurmd, "slurmd"))
    ]
    flurm: subprocess.Popen[bytes] | None = None
    layout = launcher.start(a.workdir, settings)
    try:
        conf = layout.conf
        ctld_conf = conf.with_name("controller.conf")
        text = conf.read_text()
        text = text.replace(f"SlurmctldPort={ctld_proxy}", f"SlurmctldPort={ctld}")
        text = text.replace(f"SlurmdPort={slurmd}", f"SlurmdPort={slurmd_proxy}")
        ctld_conf.write_text(text)
        if a.controller == "slurmctld":
            subprocess.run(
                release.command(["slurmctld", "-f", str(ctld_conf)], ctld_conf, share=[layout.dir]),
                check=True,
            )
        else:
            flurm = subprocess.Popen(
                [sys.executable, "-m", "flurm.cli", "run", "-f", str(ctld_conf), "--log-level", "debug"],
                stdout=open(layout.dir / "log" / "flurm.log", "ab"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        jobs = layout.dir / "jobs"
        jobs.chmod(0o1777)

        def client(*argv: str) -> str:
            cmd = clients.command(list(argv), conf, share=[layout.dir], cwd=jobs)
            r = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "SLURM_CONF": str(conf)},
                cwd=jobs,
            )
            return r.stdout + r.stderr

        def state(job: str) -> str:
            for word in client("scontrol", "show", "job", job).split():
                if word.startswith("JobState="):
                    return word.removeprefix("JobState=")
            return ""

        def wait(job: str, states: tuple[str, ...], timeout: float = 60.0) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                s = state(job)
                if s in states:
                    return s
                time.sleep(0.3)
            step(f"job {job} is {state(job)}, not one of {states}")
            return ""

        step("wait for the node")
        deadline = time.monotonic() + 60
        while "idle" not in client("sinfo", "-h", "-N", "-o", "%T") and time.monotonic() < deadline:
            time.sleep(0.3)
        done = ("COMPLETED", "FAILED", "CANCELLED")
        for n, script in enumerate(("env | grep ^SLURM | sort", "exit 3", "sleep 300"), 1):
            step(f"job {n}: {script}")
            job = client("sbatch", "--parsable", "-o", f"job{n}.out", "--wrap", script).strip()
            if n == 3:
                wait(job, ("RUNNING",))
                time.sleep(2)
                step(f"scancel {job}")
                client("scancel", job)
            wait(job, done)
            time.sleep(1)
            (out / f"job{n}.txt").write_text(client("scontrol", "show", "job", job))
            with contextlib.suppress(OSError):
                (out / f"job{n}.out").write_text((jobs / f"job{n}.out").read_text())
        time.sleep(3)
        step("done")
    finally:
        if flurm is not None:
            flurm.terminate()
            flurm.wait(20)
        launcher.stop(layout.dir)
        for proxy in proxies:
            proxy.terminate()
            proxy.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
