"""Capture what the real slurmctld 22.05 asks its slurmdbd 22.05 at start (TRES, QOS, users, associations)
with a populated database, and the ACCOUNTING_UPDATE_MSG slurmdbd sends the controller when sacctmgr
changes something, for the association codec's golden files.

    python tests/golden/dbd/22.05/assocs/capture.py OUTDIR [RELEASE [DBD_PROXY CTLD_PROXY]]

RELEASE (default 22.05, the host's): the SLURM release of slurmctld, sacctmgr, sbatch and slurmdbd (a newer
one from its chroot, harness/releases.py); the two proxy ports default to this capture's own.

Starts MariaDB and slurmdbd (harness.accounting) and fills the database with sacctmgr (cluster, parent and
child accounts, users with a DefaultAccount, QOS and association limits). Then a harness.capture_proxy in
front of slurmdbd records slurmctld's persistent connection (``dbd-connN``). slurmdbd delivers its updates
as ordinary SLURM messages to the host and ControlPort slurmctld registered (DBD_REGISTER_CTLD, kept in
cluster_table); that port is pointed at a second proxy in front of slurmctld (``ctld-connN``, one
connection per update), then sacctmgr changes associations, QOS, users and accounts. Jobs submitted under
AccountingStorageEnforce=associations,limits,qos,safe record slurmctld's refusals and pending reasons in
OUTDIR/outputs.txt.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[5]
sys.path.insert(0, str(REPO))

from harness import launcher, releases  # noqa: E402
from harness.accounting import Accounting, write_munge_key  # noqa: E402
from harness.loopback import SlurmCluster  # noqa: E402

DBD_PROXY, CTLD_PROXY = 42010, 42011  # this capture's own ports
CLUSTER = "localtest"

SETUP = [
    f"add cluster {CLUSTER}",
    "add qos small MaxJobsPerUser=1 MaxTRESPerJob=cpu=1 MaxWall=00:10:00 Priority=10",
    "add qos big GrpTRES=cpu=2 MaxSubmitJobsPerUser=4 Flags=DenyOnLimit",
    "add account parent Description=parent_acct Organization=org",
    "add account child parent=parent Description=child_acct Organization=org",
    "add account other Description=other_acct Organization=org",
    "add user nobody DefaultAccount=child",
    "add user nobody Account=other",
    "add user daemon DefaultAccount=parent",
    "add user bin DefaultAccount=child",
    "add account gcpu Description=grp_cpu Organization=org GrpTRES=cpu=2",
    "add user sys DefaultAccount=gcpu",
    "modify account child set GrpJobs=2 GrpTRES=cpu=2 MaxWall=00:30:00 MaxTRESPerJob=cpu=2",
    "modify user nobody where account=child set MaxJobs=1 MaxSubmitJobs=6 QOS=normal,small DefaultQOS=normal",
    "modify user daemon set MaxSubmitJobs=4 QOS=normal,small",
    "modify account other set QOS=big DefaultQOS=big",
]

UPDATES = [
    "modify user nobody where account=child set MaxJobs=2",
    "add qos newq MaxWall=01:00:00",
    "modify qos small set MaxWall=00:20:00",
    "add user lp Account=child",
    "delete user lp",
    "add account extra parent=parent",
    "modify account child set GrpTRES=cpu=4",
    "add coordinator account=child names=daemon",
    "delete qos newq",
]

# (user, sbatch arguments), in order: each shows one refusal or one pending reason of slurmctld
JOBS = [
    ("nobody", ["-A", "bogus", "--wrap", "true"]),
    ("nobody", ["--qos", "bogus", "--wrap", "true"]),
    ("nobody", ["--qos", "big", "--wrap", "true"]),
    ("cloudsdk", ["--wrap", "true"]),
    ("nobody", ["-n", "3", "--wrap", "sleep 60"]),
    ("nobody", ["-t", "40", "--wrap", "sleep 60"]),
    ("nobody", ["--wrap", "sleep 60"]),
    ("nobody", ["--wrap", "sleep 60"]),
    ("nobody", ["--wrap", "sleep 60"]),
    ("nobody", ["--qos", "small", "-n", "2", "--wrap", "sleep 60"]),
    ("nobody", ["--wrap", "sleep 60"]),
    ("bin", ["--wrap", "sleep 60"]),
    ("bin", ["-p", "acctpart", "--wrap", "sleep 60"]),
    ("bin", ["-p", "qospart", "--wrap", "sleep 60"]),
    ("bin", ["-p", "denypart", "--wrap", "sleep 60"]),
    ("daemon", ["--qos", "small", "--wrap", "sleep 60"]),
    ("daemon", ["--qos", "small", "--wrap", "sleep 60"]),
    ("sys", ["-n", "2", "--wrap", "sleep 60"]),
    ("sys", ["--wrap", "sleep 60"]),
    ("nobody", ["-A", "other", "-n", "3", "--wrap", "sleep 60"]),
    ("nobody", ["-A", "other", "-p", "acctpart", "--wrap", "sleep 60"]),
]
PARTITIONS = (
    "PartitionName=acctpart Nodes=ALL AllowAccounts=other,parent\n"
    "PartitionName=qospart Nodes=ALL AllowQos=big\n"
    "PartitionName=denypart Nodes=ALL DenyAccounts=child\n"
)


def sacctmgr_conf(d: Path, acct: Accounting) -> Path:
    """A slurm.conf for sacctmgr alone: it talks to slurmdbd directly, not through the proxy."""
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "slurm.conf"
    conf.write_text(
        f"ClusterName={CLUSTER}\nSlurmctldHost=localhost(127.0.0.1)\nAuthType=auth/munge\n"
        f"AuthInfo=socket={acct.munge_socket}\n" + acct.slurm_conf_lines()
    )
    return conf


def sacctmgr(conf: Path, command: str, out: list[str], release: str = releases.HOST) -> None:
    env = {**os.environ, "SLURM_CONF": str(conf)}
    argv = releases.get(release).command(["sacctmgr", "-i", *command.split()], conf, share=[conf.parent])
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    out.append(f"$ sacctmgr {command}  -> rc {p.returncode}")
    if p.returncode:
        raise RuntimeError(f"sacctmgr {command}: {p.stdout}{p.stderr}")


def proxy(listen: int, upstream: int, outdir: Path, label: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, "-m", "harness.capture_proxy", str(listen), str(upstream), str(outdir), label],
        cwd=REPO,
        stdout=open(outdir / f"proxy-{label}.log", "w"),  # noqa: SIM115
    )
    time.sleep(1)
    return p


def main(
    outdir: Path, release: str = releases.HOST, dbd_proxy: int = DBD_PROXY, ctld_proxy: int = CTLD_PROXY
) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="flurm-assoccap-"))
    d.chmod(0o755)
    key = write_munge_key(launcher.Layout(d / "cluster").munge_key)
    acct = Accounting(d / "acct", key, release=release).reserve()
    lines = acct.slurm_conf_lines().replace(f"Port={acct.dbd_port}", f"Port={dbd_proxy}")
    lines += "AccountingStorageEnforce=associations,limits,qos,safe\n" + PARTITIONS
    c = SlurmCluster(d / "cluster", "slurmctld", nodes=1, cpus=8, extra_conf=lines, release=release)
    out: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    acct.start()
    try:
        conf = sacctmgr_conf(d / "sacctmgr", acct)
        for command in SETUP:
            sacctmgr(conf, command, out, release)
        procs.append(proxy(dbd_proxy, acct.dbd_port, outdir, "dbd"))
        c.start()
        time.sleep(3)
        procs.append(proxy(ctld_proxy, c.ctld_port, outdir, "ctld"))
        subprocess.run(
            ["mariadb", f"--socket={acct.dir / 'mysql.sock'}", "-uroot", "slurm_acct_db", "-e",
             f"update cluster_table set control_port={ctld_proxy} where name='{CLUSTER}'"],
            check=True, timeout=30,
        )  # fmt: skip
        for command in UPDATES:
            sacctmgr(conf, command, out, release)
            time.sleep(1)
        for who, args in JOBS:
            r = c.run("sbatch", "--parsable", "-D", "/tmp", "-o", "/dev/null", *args, user=who)
            said = f"{r.stdout.strip()} {r.stderr.strip()}"
            out.append(f"$ sbatch {' '.join(args)}  (as {who}) -> rc {r.returncode}: {said}")
            time.sleep(0.5)
        time.sleep(3)
        out.append(c.run("squeue", "-h", "-o", "%i %u %a %q %P %T %r").stdout)
    finally:
        c.stop()
        time.sleep(2)
        for p in procs:
            p.terminate()
            p.wait(10)
        acct.stop()
        (outdir / "outputs.txt").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    ports = [int(a) for a in sys.argv[3:5]] or [DBD_PROXY, CTLD_PROXY]
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else releases.HOST, *ports)
