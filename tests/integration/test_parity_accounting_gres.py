"""What sacct shows of GPU jobs (AccountingStorageTRES=gres/gpu,gres/gpu:tesla) run under the real
slurmctld 22.05 and under flurm, each recording into a slurmdbd 22.05 on a MariaDB of its own
(harness/accounting.py: a new database, so each controller has to add the GRES TRES itself), on the
same cluster (harness.gres.two_gpu_types: a tesla node, a k80 node). slurmdbd numbers the TRES a
controller adds from 1001 on (sacctmgr show tres).

slurmctld records a job's GRES in its AllocTRES and ReqTRES (job_set_alloc_tres, set_job_tres_req_str:
gres/gpu=1, and gres/gpu:tesla=1 for the tesla job; the k80 type is no TRES), the batch step's the
GRES of the job's first node, an srun step's what the step holds (step_set_alloc_tres)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness import gres, launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

TRES = "AccountingStorageTRES=gres/gpu,gres/gpu:tesla\n"
FIELDS = "JobID,JobName,State,ExitCode,NodeList,AllocTRES%80,ReqTRES%80"


@contextlib.contextmanager
def recording(controller: str) -> Iterator[tuple[SlurmCluster, Accounting]]:
    d = Path(tempfile.mkdtemp(prefix="flurm-acctgres-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key))
    c = SlurmCluster(
        d / "cluster", controller, extra_conf=acct.slurm_conf_lines() + TRES, **gres.two_gpu_types()
    )
    try:
        acct.start()  # slurmctld refuses to start on a database it cannot reach
        c.start()
        yield c, acct
    finally:
        c.stop()
        acct.stop()


def scenario(c: SlurmCluster) -> dict[str, int]:
    """A job on each GPU type with an srun step, and an untyped one on two nodes (one GPU of each)."""
    jobs = {
        "tesla": c.sbatch("-J", "tesla", "--gres=gpu:tesla:1", "--wrap", "srun true"),
        "k80": c.sbatch("-J", "k80", "--gres=gpu:k80:2", "--wrap", "srun --gres=gpu:1 true"),
        "both": c.sbatch("-J", "both", "-N2", "--gpus-per-node=1", "--wrap", "srun -N2 -n2 true"),
    }
    for job in jobs.values():
        c.wait_state(job, ["COMPLETED"], timeout=60)
    return jobs


def sacct(c: SlurmCluster, jobs: dict[str, int]) -> list[str]:
    ids = ",".join(str(j) for j in jobs.values())
    r = c.run("sacct", "-n", "-P", "-j", ids, "-o", FIELDS)
    if not r.ok:
        return []
    names = {str(j): n for n, j in jobs.items()}
    return [re.sub(r"^(\d+)", lambda m: names.get(m.group(1), "?"), ln) for ln in r.stdout.splitlines()]


def settled(c: SlurmCluster, jobs: dict[str, int], timeout: float = 60.0) -> list[str]:
    """sacct's lines once every job and its batch and srun step ended (records arrive a little after)."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = sacct(c, jobs)
        ended = [ln for ln in lines if ln.split("|")[2] == "COMPLETED"]
        # a job's own line as slurmdbd makes it from a step that came first ("allocation", no ReqTRES)
        # is replaced when the job's record arrives (seen once on slurmctld's side under load)
        early = [ln for ln in lines if "." not in ln.split("|")[0] and not ln.split("|")[-1]]
        if len(lines) == 3 * len(jobs) and len(ended) == len(lines) and not early:
            return lines
        time.sleep(0.5)
    raise AssertionError(f"sacct never settled: {lines}")


def test_gres_in_the_accounting_records_as_slurmctld_s() -> None:
    seen = {}
    tres = {}
    raw = {}
    for controller in ("slurmctld", "flurm"):
        with recording(controller) as (c, acct):
            seen[controller] = settled(c, scenario(c))
            raw[controller] = stored(acct)
            # the TRES each controller added to its new database, and the ids slurmdbd gave them
            tres[controller] = c.run("sacctmgr", "-n", "-P", "show", "tres").check().stdout.splitlines()
    assert "gres|gpu:tesla|1002" in tres["slurmctld"], tres["slurmctld"]
    assert tres["flurm"] == tres["slurmctld"]
    ref = seen["slurmctld"]
    assert any(ln.startswith("tesla|") and "gres/gpu:tesla=1" in ln and "gres/gpu=1" in ln for ln in ref), ref
    assert any(ln.startswith("tesla.0|") and "gres/gpu:tesla=1" in ln for ln in ref), ref
    assert seen["flurm"] == ref
    # as stored: sacct sorts the TRES by name, the records give them by id (a job) or in the order of
    # the step's GRES (a step)
    assert any(r.startswith("job\ttesla\t") and ",1001=1,1002=1\t" in r for r in raw["slurmctld"]), raw
    assert raw["flurm"] == raw["slurmctld"]


SQL = (
    "select 'job', job_name, tres_alloc, tres_req from localtest_job_table order by id_job;"
    " select 'step', j.job_name, s.id_step, s.tres_alloc from localtest_step_table s"
    " join localtest_job_table j on s.job_db_inx = j.job_db_inx order by j.id_job, s.id_step;"
)


def stored(acct: Accounting) -> list[str]:
    """The TRES strings slurmdbd stored for the jobs and steps, as the records carried them."""
    sock = acct.dir / "mysql.sock"
    r = subprocess.run(
        [
            "mariadb",
            "--no-defaults",
            f"--socket={sock}",
            "-u",
            "root",
            "-N",
            "-B",
            "slurm_acct_db",
            "-e",
            SQL,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return r.stdout.splitlines()
