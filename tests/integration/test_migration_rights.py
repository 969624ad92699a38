"""In shadow, flurm forwards a client's writes to slurmctld signed as SlurmUser: a plain user gains
nothing by going through flurm. Each request is sent by ``nobody`` both to slurmctld itself and
through flurm, and both must answer the same (slurmctld's own refusal message) and leave the job the
same. Then, rolled back, flurm still answers a plain user's reads (forwarded to slurmctld).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.loopback import Result, SlurmCluster, cluster

pytestmark = pytest.mark.integration
CRAFTED = str(Path(__file__).with_name("crafted.py"))
USER = "nobody"


@pytest.fixture(scope="module")
def shadow() -> Iterator[tuple[SlurmCluster, Path]]:
    with cluster("slurmctld", nodes=1, cpus=2, extra_conf="MinJobAge=600") as c:
        port = c.start_shadow()
        yield c, c.client_conf(port)


# what slurmctld's own passes change in a pending job whatever a client does: a job that begins later gets
# its AccrueTime (its begin time) at the next scheduling pass
MOVING = ("AccrueTime",)


def job_line(c: SlurmCluster, job: int) -> dict[str, str]:
    """`scontrol show job -o` as {field: value}, without the fields slurmctld itself moves."""
    line = c.run("scontrol", "show", "job", str(job), "-o").check().stdout
    fields = dict(item.partition("=")[::2] for item in line.split())
    return {k: v for k, v in fields.items() if k not in MOVING}


def both(c: SlurmCluster, flurm: Path, *args: str) -> tuple[Result, Result]:
    """The same command as USER, to slurmctld and through flurm."""
    return c.run(*args, user=USER), c.run(*args, user=USER, conf=flurm)


def assert_same_answer(direct: Result, via: Result) -> None:
    assert (via.returncode, via.stderr) == (direct.returncode, direct.stderr)


@pytest.mark.parametrize(
    "setting",
    ["AdminComment=mine", "SiteFactor=1000", "Priority=4294967000", "Nice=-100", "Reboot=yes"],
)
def test_operator_only_fields_are_refused_as_slurmctld_refuses_them(
    shadow: tuple[SlurmCluster, Path], setting: str
) -> None:
    c, flurm = shadow
    job = c.sbatch("--begin", "now+1hour", "-t", "5", "--wrap", "true", user=USER)  # pending, not held
    before = job_line(c, job)
    via = c.run("scontrol", "update", f"JobId={job}", setting, user=USER, conf=flurm)
    assert via.returncode != 0, via.stdout
    assert job_line(c, job) == before
    # (slurmctld's own refusal may still touch the job, e.g. its reason: asked second)
    direct = c.run("scontrol", "update", f"JobId={job}", setting, user=USER)
    assert_same_answer(direct, via)


def test_an_administrators_hold_stays(shadow: tuple[SlurmCluster, Path]) -> None:
    c, flurm = shadow
    job = c.sbatch("--wrap", "true", "-t", "5", "--begin", "now+1hour", user=USER)
    c.run("scontrol", "hold", str(job)).check()  # root's hold: JobHeldAdmin
    # nobody's own hold on it changes nothing, and a release is refused, through flurm as directly
    for verb in ("hold", "release"):
        direct, via = both(c, flurm, "scontrol", verb, str(job))
        assert_same_answer(direct, via)
        assert job_line(c, job)["Reason"] == "JobHeldAdmin", verb
    assert "Access/permission denied" in via.stderr


def test_a_foreign_group_id_is_refused(shadow: tuple[SlurmCluster, Path]) -> None:
    c, flurm = shadow
    direct, via = both(c, flurm, sys.executable, CRAFTED, "batch", "0")
    assert direct.stdout == via.stdout == "refused: Invalid group id\n", (direct.stderr, via.stderr)


def test_plain_users_read_when_rolled_back(shadow: tuple[SlurmCluster, Path]) -> None:
    c, flurm = shadow
    r = c.flurm_cli("rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    for args in (["squeue"], ["sinfo"], ["scontrol", "show", "job"], ["scontrol", "ping"]):
        direct, via = both(c, flurm, *args)
        assert via.returncode == 0, via.stderr
        assert via.stdout == direct.stdout, args
    # writes are still checked against the caller
    job = c.sbatch("--hold", "--wrap", "true", user=USER)
    direct, via = both(c, flurm, "scontrol", "update", f"JobId={job}", "AdminComment=x")
    assert via.returncode != 0
    assert_same_answer(direct, via)
