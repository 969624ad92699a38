"""Fair share against the real slurmctld 22.05: its association tree, with the usage real jobs put there,
fed to flurm's Fair Tree (scheduler/multifactor.py), gives the LevelFS and fair-share factors slurmctld
computed itself; with PriorityFlags=NO_FAIR_TREE, flurm's classic fair share gives slurmctld's normalised
shares, normalised usage and effective usage (from which sshare computes the factor).

slurmctld records into a real slurmdbd (harness/accounting.py); accounts and users are added with
sacctmgr, jobs run under them, and slurmctld's RESPONSE_SHARE_INFO (what sshare prints) is read with
flurm's codec: it holds, for every association, its shares, its raw usage and the LevelFS and factor of
slurmctld's last decay pass; the reply is read until it
shows a pass made after the last job ended. Usage does not decay here (PriorityDecayHalfLife=0), so it
is whole CPU-seconds and the reply's integer usage is exact.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import ParityCluster, poll

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load as load_config
from flurm.protocol.constants import MsgType
from flurm.protocol.messages.reports import ShareRecord, SharesRequest, SharesResponse
from flurm.rpc.transport import Signer, call
from flurm.scheduler import multifactor as mf
from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

CONF = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightFairshare=100000",
        "PriorityCalcPeriod=1",
        # no decay: usage stays whole CPU-seconds, which the reply (a u64) carries exactly
        "PriorityDecayHalfLife=0",
        "PriorityUsageResetPeriod=YEARLY",
        # (a job's usage is added when it ends only where limits are enforced)
        "AccountingStorageEnforce=associations,limits",
        "",
    )
)


ALGORITHMS = {"fair tree": "", "classic": "PriorityFlags=NO_FAIR_TREE\n"}


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def ctld(request: pytest.FixtureRequest) -> Iterator[SlurmCluster]:
    d = Path(tempfile.mkdtemp(prefix="flurm-fairshare-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key))
    conf = CONF + ALGORITHMS[request.param] + acct.slurm_conf_lines()
    c = ParityCluster(d / "cluster", "slurmctld", nodes=2, cpus=2, extra_conf=conf)
    c.algorithm = request.param  # type: ignore[attr-defined]
    try:
        acct.start()
        c.start()
        c.jobs_dir.chmod(0o777)
        yield c
    finally:
        c.stop()
        acct.stop()
        shutil.rmtree(d, ignore_errors=True)


def shares(c: SlurmCluster) -> SharesResponse:
    auth = MungeAuthenticator.from_slurm_conf(load_config(c.conf).auth_info)

    async def ask() -> SharesResponse:
        signer = Signer(auth, workers=1)
        try:
            resp = await call("127.0.0.1", c.ctld_port, MsgType.REQUEST_SHARE_INFO, SharesRequest(), signer)
        finally:
            signer.close()
        assert resp is not None and isinstance(resp.body, SharesResponse), resp
        return resp.body

    return asyncio.run(ask())


def tree(records: tuple[ShareRecord, ...]) -> list[mf.AssocUsage]:
    """The association tree as plain data: accounts by name, a user under the account named parent."""
    accounts = {r.name: r.assoc_id for r in records if not r.user}
    return [
        mf.AssocUsage(
            r.assoc_id,
            accounts[r.parent] if r.parent else None,
            r.name if r.user else None,
            r.shares_raw,
            float(r.usage_raw),
        )
        for r in records
    ]


def sacctmgr(c: SlurmCluster, *args: str) -> None:
    c.run("sacctmgr", "-i", *args).check()


def test_fair_share_matches_slurmctld(ctld: SlurmCluster) -> None:
    c = ctld
    classic = c.algorithm == "classic"  # type: ignore[attr-defined]
    sacctmgr(c, "add", "account", "phys", "Fairshare=30")
    sacctmgr(c, "add", "account", "chem", "Fairshare=10")
    sacctmgr(c, "add", "account", "bio", "Fairshare=10")
    sacctmgr(c, "add", "account", "theory", "parent=phys", "Fairshare=5")
    sacctmgr(c, "add", "user", "root", "account=phys,chem,bio", "Fairshare=2")
    sacctmgr(c, "add", "user", "nobody", "account=phys,chem,theory", "Fairshare=1")
    # slurmctld hears of them from slurmdbd: wait until its cache has every user association
    poll("associations in slurmctld", lambda: sum(r.user for r in shares(c).records) >= 7, timeout=30)
    jobs = [
        c.sbatch("-A", "phys", "-n", "4", "--wrap", "sleep 3"),
        c.sbatch("-A", "chem", "-n", "1", "--wrap", "sleep 2"),
        c.sbatch("-A", "theory", "-n", "2", "--wrap", "sleep 1", user="nobody"),
        c.sbatch("-A", "chem", "-n", "2", "--wrap", "sleep 2", user="nobody"),
    ]
    for j in jobs:
        c.wait_state(j, ["COMPLETED"], timeout=60)

    # the reply's usage is now; its LevelFS and factors are those of slurmctld's last pass: read until
    # a pass made after the last job ended (every 60 s), when both describe the same usage
    last: list[str] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        snapshot = shares(c)
        last = classic_differences(snapshot.records) if classic else differences(snapshot.records)
        if not last and any(r.usage_raw for r in snapshot.records):
            break
        time.sleep(2)
    assert not last, "flurm's fair share differs from slurmctld's:\n" + "\n".join(last)
    used = {r.name: r.usage_raw for r in snapshot.records if r.parent == "root" and not r.user}
    assert used["phys"] and used["chem"] and not used["bio"], used


def differences(records: tuple[ShareRecord, ...]) -> list[str]:
    ours = mf.fair_tree(tree(records))
    out = []
    for r in records:
        mine = ours.get(r.assoc_id)
        if mine is None:  # root: not ranked
            assert r.parent is None, r
            continue
        who = f"{r.name} (parent {r.parent})"
        if mine.shares_norm != pytest.approx(r.shares_norm, rel=1e-9):
            out.append(f"{who}: shares norm {mine.shares_norm} != {r.shares_norm}")
        if r.shares_raw != mf.FS_USE_PARENT and mine.level_fs != pytest.approx(r.level_fs, rel=1e-9):
            out.append(f"{who}: LevelFS {mine.level_fs} != {r.level_fs}")
        if r.user and mine.factor != pytest.approx(r.fs_factor, abs=1e-12):
            out.append(f"{who}: factor {mine.factor} != {r.fs_factor}")
    return out


def classic_differences(records: tuple[ShareRecord, ...]) -> list[str]:
    """Classic fair share: sshare computes the factor itself from the normalised shares and the
    effective usage, which slurmctld sends with the normalised usage."""
    ours = mf.fair_share(tree(records))
    out = []
    for r in records:
        mine = ours.get(r.assoc_id)
        if mine is None:
            assert r.parent is None, r
            continue
        who = f"{r.name} (parent {r.parent})"
        for what, a, b in (
            ("shares norm", mine.shares_norm, r.shares_norm),
            ("usage norm", mine.usage_norm, r.usage_norm),
            ("effective usage", mine.usage_efctv, r.usage_efctv),
        ):
            if a != pytest.approx(b, rel=1e-9, abs=1e-12):
                out.append(f"{who}: {what} {a} != {b}")
    return out
