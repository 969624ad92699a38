"""The association factor of priority/multifactor (PriorityWeightAssoc) against the real slurmctld 22.05:
each side with its own MariaDB and slurmdbd (test_parity_fairshare's setup), the same accounts and users
with and without Priority (a user's association inherits its account's unless it sets its own), the same
pending jobs; sprio shows the same ASSOC factor (the association's Priority over the highest of all).
No usage, no age: nothing here depends on time."""

from __future__ import annotations

from parity import Action, assert_same, cmd, poll, run_both, settle
from test_parity_fairshare import sacctmgr
from test_parity_multifactor_age import with_slurmdbd

from harness.loopback import SlurmCluster

CONF = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightAssoc=1000",
        "AccountingStorageEnforce=associations",
        "PartitionName=waiting Nodes=ALL State=DOWN",
        "",
    )
)


def waits(user: str, acct: str) -> Action:
    """A job of ``user`` in ``acct`` that waits in the down partition, submitted once the controller
    has the association (sacctmgr's update reaches it a moment later; a refusal spends no job id)."""

    def act(c: SlurmCluster) -> None:
        args = ("sbatch", "--parsable", "-o", "/dev/null", "-p", "waiting", "-A", acct, "--wrap", "true")
        who = None if user == "root" else user
        poll(
            f"[{c.controller}] {user}/{acct} accepted",
            lambda: c.run(*args, user=who).returncode == 0,
            60,
            0.5,
        )

    return act


STEPS = [
    sacctmgr("add", "account", "phys", "Priority=100"),
    sacctmgr("add", "account", "chem", "Priority=40"),
    sacctmgr("add", "account", "bio"),
    sacctmgr("add", "user", "root", "account=phys,chem,bio"),
    sacctmgr("add", "user", "nobody", "account=phys", "Priority=250"),
    # nobody's association, added last, is known first: then every one before it is too
    waits("nobody", "phys"),
    waits("root", "phys"),
    waits("root", "chem"),
    waits("root", "bio"),
    settle(),
    cmd("sprio", "-l", label="sprio -l"),
    cmd("sprio", "-n", label="sprio -n"),
    cmd("sprio", "-w", label="sprio -w"),
    cmd("squeue", "-S", "i", "-t", "PD", "-o", "%i %a %u %Q", label="squeue priorities"),
]


def test_assoc_factor_in_sprio() -> None:
    with with_slurmdbd("slurmctld", CONF) as ref, with_slurmdbd("flurm", CONF) as got:
        a, b = run_both(ref, got, STEPS)
    print(a.text(), b.text())
    # the factors differ by association (250 the highest: 1000, 400, 160, 0): the comparison can fail
    assert " 400 " in a["sprio -l"].stdout and " 160 " in a["sprio -l"].stdout, a["sprio -l"].stdout
    assert_same(a, b)
