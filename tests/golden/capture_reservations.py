"""Capture REQUEST_RESERVATION_INFO / RESPONSE_RESERVATION_INFO of a newer SLURM release: the release's own
`scontrol show reservation` against its own slurmctld (both from the release's chroot, one slurmd), through
harness.capture_proxy.

Run from the repo root as root, with a free port range (four ports from it):
``.venv/bin/python tests/golden/capture_reservations.py 24.11 tests/golden/24.11/reservations 36300``.
Reservations: "maint" (MAINT, all nodes, tomorrow, users root, a comment) and "cores" (4 cores,
users root, the day after).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent / "statefile"))
from capture_release import SUITES, chrooted

from harness.launcher import Layout, Settings, _make_dirs, _start_munged, render_conf


def main(release: str, out: str, port: int) -> None:
    root = Path(os.environ.get("FLURM_CHROOTS", "/var/cache/flurm-chroots")) / SUITES[release]
    d = Path(f"/tmp/resv-capture-{release}")
    shutil.rmtree(d, ignore_errors=True)
    layout = Layout(d)
    s = Settings(nodes=1, cpus=4, ctld_port=port, slurmd_port=port + 1)
    _make_dirs(layout, s)
    layout.conf.write_text(render_conf(layout, s))
    (layout.conf.parent / "cgroup.conf").write_text("CgroupPlugin=disabled\n")
    proxied = layout.conf.with_name("proxied.conf")
    proxied.write_text(layout.conf.read_text().replace(f"SlurmctldPort={port}", f"SlurmctldPort={port + 2}"))
    _start_munged(layout)
    conf = layout.conf
    log = open(d / "log" / "daemons.out", "ab")  # noqa: SIM115 - kept open while the daemons run
    ctld = subprocess.Popen(chrooted(root, conf, ["slurmctld", "-D", "-i"]), stdout=log, stderr=log)
    slurmd = subprocess.Popen(
        chrooted(root, conf, ["slurmd", "-D", "-N", "compute-node-1"]), stdout=log, stderr=log
    )
    proxy: subprocess.Popen[bytes] | None = None

    def run(*argv: str, c: Path = conf) -> str:
        p = subprocess.run(chrooted(root, c, list(argv)), capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"{argv}: {p.stderr}")
        return p.stdout

    try:
        deadline = time.time() + 30
        while (
            "idle"
            not in subprocess.run(
                chrooted(root, conf, ["sinfo", "-h", "-o", "%t"]), capture_output=True, text=True
            ).stdout
        ):
            if time.time() > deadline:
                raise RuntimeError("the node did not come up")
            time.sleep(0.5)
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
            "Comment=disk swap",
        )
        run(
            "scontrol",
            "create",
            "reservation",
            "ReservationName=cores",
            "StartTime=now+2days",
            "Duration=30",
            "Users=root",
            "CoreCnt=4",
        )
        os.makedirs(out, exist_ok=True)
        proxy = subprocess.Popen(
            [sys.executable, "-m", "harness.capture_proxy", str(port + 2), str(port), out, "show_res"]
        )
        time.sleep(1)
        listing = run("scontrol", "show", "reservation", c=proxied)
        (Path(out) / "show_res.txt").write_text(listing)
        (Path(out) / "README").write_text(
            f"scontrol show reservation of SLURM {release} against its own slurmctld, captured by "
            "tests/golden/capture_reservations.py; show_res.txt is what it printed.\n"
        )
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGINT)
            proxy.wait(10)
        for p in (ctld, slurmd):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        munged = layout.munged_pidfile
        if munged.exists():
            os.kill(int(munged.read_text()), signal.SIGTERM)
        log.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
