"""Capture what a 24.11 or 26.05 client sends and its own slurmctld answers, for the misc family
(reports, job control by id, debug levels, reservations, partitions, step updates, federation, hostnames).

    python tests/golden/misc/capture.py RELEASE OUTDIR [PROXY_PORT [NAME...]]

Runs a one-node cluster of RELEASE (harness.loopback), a job held pending (so job ids exist), and a
harness.capture_proxy on PROXY_PORT for each command; writes OUTDIR/NAME-c2s.bin and NAME-s2c.bin
(the first connection of each command) and OUTDIR/outputs.txt (what each command printed).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from harness.loopback import cluster  # noqa: E402

COMMANDS: list[tuple[str, tuple[str, ...]]] = [
    ("burstbuffer", ("scontrol", "show", "burstbuffer")),
    ("topology", ("scontrol", "show", "topology")),
    ("assoc_mgr", ("scontrol", "show", "assoc_mgr")),
    ("sshare", ("sshare",)),
    ("sprio", ("sprio",)),
    ("sdiag", ("sdiag",)),
    ("strigger_get", ("strigger", "--get")),
    ("top", ("scontrol", "top", "999")),
    ("notify", ("scontrol", "notify", "999", "hello")),
    ("batch_script", ("scontrol", "write", "batch_script", "999", "-")),
    ("requeue", ("scontrol", "requeue", "999")),
    ("suspend", ("scontrol", "suspend", "999")),
    ("resume", ("scontrol", "resume", "999")),
    ("setdebug", ("scontrol", "setdebug", "info")),
    ("setdebugflags", ("scontrol", "setdebugflags", "+Backfill")),
    ("schedloglevel", ("scontrol", "schedloglevel", "1")),
    (
        "create_resv_bad",
        (
            "scontrol",
            "create",
            "reservation",
            "StartTime=now",
            "Duration=60",
            "Nodes=nosuchnode",
            "Users=root",
        ),
    ),
    (
        "create_resv",
        (
            "scontrol",
            "create",
            "reservation",
            "ReservationName=r1",
            "StartTime=now+1hour",
            "Duration=60",
            "Nodes=ALL",
            "Users=root",
            "Flags=MAINT",
        ),
    ),
    ("update_resv", ("scontrol", "update", "reservation", "ReservationName=r1", "Duration=90")),
    ("delete_resv", ("scontrol", "delete", "reservation=r1")),
    ("delete_resv_nosuch", ("scontrol", "delete", "reservation=nosuch")),
    ("delete_part_nosuch", ("scontrol", "delete", "partition=nosuch")),
    ("create_part", ("scontrol", "create", "PartitionName=p2", "Nodes=ALL")),
    ("delete_part", ("scontrol", "delete", "partition=p2")),
    ("update_step", ("scontrol", "update", "StepId=999.0", "TimeLimit=5")),
    ("federation", ("scontrol", "show", "federation")),
    ("hostnames", ("scontrol", "show", "hostnames", "n[1-3]")),
    ("sdiag_reset", ("sdiag", "-r")),
    ("topoconf", ("scontrol", "show", "topoconf")),  # 26.05 (24.11 has no such report)
    ("reconfigure_nobody", ("scontrol", "reconfigure")),
    ("takeover", ("scontrol", "takeover")),
]


def main() -> int:
    release, outdir = sys.argv[1], Path(sys.argv[2])
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 40100
    only = set(sys.argv[4:])
    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    with cluster("slurmctld", release=release) as c:
        c.wait_ready()
        for name, cmd in COMMANDS:
            if only and name not in only:
                continue
            user = "nobody" if name.endswith("_nobody") else None
            argv = ["-m", "harness.capture_proxy", str(port), str(c.ctld_port), str(outdir), name]
            proxy = subprocess.Popen([sys.executable, *argv], cwd=REPO, stdout=subprocess.PIPE, text=True)
            assert proxy.stdout is not None
            proxy.stdout.readline()  # listening
            r = c.run(*cmd, user=user, conf=c.client_conf(port), timeout=60)
            time.sleep(0.3)
            proxy.terminate()
            proxy.wait(10)
            out.append(f"== {name}: {' '.join(cmd)} (rc {r.returncode})\n{r.stdout}{r.stderr}")
    for f in outdir.glob("*-conn*-*.bin"):
        label, conn, side = f.name.rsplit("-", 2)
        if conn == "conn1":
            f.rename(outdir / f"{label}-{side}")
        else:
            f.unlink()
    (outdir / "outputs.txt").write_text("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
