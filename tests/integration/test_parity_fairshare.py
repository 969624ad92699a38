"""The fair-share factor of priority/multifactor end to end, against the real slurmctld 22.05: each side
records into a real slurmdbd of its own, gets the same accounts and users from sacctmgr, runs the same
jobs, and then sprio shows the same FAIRSHARE for the same pending jobs (flurm loading the associations
over its slurmdbd connection, keeping the usage its jobs made, ranking with Fair Tree).

Usage is whole CPU-seconds (no decay) and each side's jobs run a little longer or shorter, so the values
are chosen such that Fair Tree's ranks, hence the factors, do not depend on a second more or less: the
account phys uses everything, chem nothing; in phys, root uses 4 CPUs for 4 s and nobody 1 CPU for 1 s.
Each side is read once a decay pass (every PriorityCalcPeriod, one minute) has ranked the usage.
"""

from __future__ import annotations

from parity import Action, assert_same, cmd, poll, run_both, settle
from test_parity_multifactor_age import with_slurmdbd

from harness.loopback import SlurmCluster

CONF = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightFairshare=100000",
        "PriorityCalcPeriod=1",
        "PriorityDecayHalfLife=0",
        "PriorityUsageResetPeriod=YEARLY",
        # (a job's usage is added when it ends only where limits are enforced)
        "AccountingStorageEnforce=associations,limits",
        "PartitionName=waiting Nodes=ALL State=DOWN",
        "",
    )
)


def sacctmgr(*args: str) -> object:
    return cmd("sacctmgr", "-i", *args, label="sacctmgr " + " ".join(args))


def ranked(c: SlurmCluster) -> None:
    """Until a pass has ranked the usage: the three waiting jobs' fair-share factors differ."""

    def done() -> bool:
        rows = c.run("sprio", "-h", "-o", "%i %F").stdout.split("\n")
        values = {line.split()[1] for line in rows if line.strip()}
        return len(values) == 3

    poll(f"[{c.controller}] fair share ranked", done, timeout=200, every=2)


def uses(user: str, cpus: int, seconds: int) -> Action:
    """A job of ``user`` in phys, submitted once the controller has the association (sacctmgr's update
    reaches it a moment later; a refusal spends no job id), waited for to its end."""

    def act(c: SlurmCluster) -> None:
        args = ("sbatch", "--parsable", "-o", "/dev/null", "-A", "phys", "-n", str(cpus))
        job: list[int] = []

        def submitted() -> bool:
            r = c.run(*args, "--wrap", f"sleep {seconds}", user=None if user == "root" else user)
            if r.returncode == 0:
                job.append(int(r.stdout.strip()))
            return bool(job)

        try:
            poll(f"[{c.controller}] {user}'s association", submitted, timeout=60, every=0.5)
        except TimeoutError:
            r = c.run(*args, "--wrap", "true", user=None if user == "root" else user)
            raise TimeoutError(f"[{c.controller}] {user}: {r.stderr}\n{c.log_tail()}") from None
        c.wait_state(job[0], ["COMPLETED"], timeout=60)

    return act


STEPS = [
    sacctmgr("add", "account", "phys", "Fairshare=30"),
    sacctmgr("add", "account", "chem", "Fairshare=10"),
    sacctmgr("add", "user", "root", "account=phys,chem", "Fairshare=2"),
    sacctmgr("add", "user", "nobody", "account=phys", "Fairshare=1"),
    uses("root", 4, 4),
    uses("nobody", 1, 1),
    *(
        cmd("sbatch", "-o", "/dev/null", "-p", "waiting", "-A", acct, "--wrap", "true", label=f"waits, {who}",
            user=None if who.startswith("root") else "nobody")
        for who, acct in (("root/phys", "phys"), ("root/chem", "chem"), ("nobody/phys", "phys"))
    ),
    settle(),
    ranked,
    cmd("sprio", "-l", label="sprio -l"),
    cmd("sprio", "-n", label="sprio -n"),
    cmd("squeue", "-S", "i", "-t", "PD", "-o", "%i %a %u %Q", label="squeue priorities"),
]  # fmt: skip


def test_fair_share_in_sprio() -> None:
    with with_slurmdbd("slurmctld", CONF) as ref, with_slurmdbd("flurm", CONF) as got:
        a, b = run_both(ref, got, STEPS)
    # root/phys used most of phys: the lowest rank of the three (Fair Tree: 1 of 4 user associations)
    assert "25000" in a["sprio -l"].stdout, a["sprio -l"].stdout
    assert_same(a, b)
