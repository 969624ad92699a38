"""``scontrol show config``: flurm prints what slurmctld 22.05 prints for the same slurm.conf.

Each configuration on a slurmctld cluster and a flurm cluster side by side: the harness's own
slurm.conf; the same with many keys set to values other than SLURM's defaults (scheduler,
priority/multifactor with weights and times, select and task parameters, memory, limits, timeouts,
prolog/epilog, log levels, ...); cgroup plugins with a site's cgroup.conf, and without one (the
cgroup.conf block; these clusters have no slurmd, which would need cgroups of its own here). Root
and ``nobody`` ask (slurmctld answers anyone), before and after a submission (NEXT_JOB_ID).
Besides the printed listing, the decoded RESPONSE_BUILD_INFO bodies are compared field by field,
so that fields scontrol prints only in some cases are checked too.

What legitimately differs between the two clusters, and nothing else, is replaced before comparing:

* the parity normalisation (tests/integration/parity.py): each cluster's directory (every path in the
  listing: AuthInfo's munge socket, log, pid, spool and state files, SLURM_CONF), and times
  (``Configuration data as of``, BOOT_TIME);
* ``SlurmctldPort`` and ``SlurmdPort``: free ports are picked per cluster;
* in the decoded bodies, ``hash_val`` (the two slurm.conf files differ by their directory and ports;
  each cluster's scontrol checks it against its own file and prints ``HASH_VAL = Match``, which the
  listing compares) and the two times ``last_update`` and ``boot_time`` (compared as set).
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields

import pytest
from parity import Transcript, cluster_pair, cmd, normalise, run_both

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load as load_config
from flurm.protocol.constants import MsgType
from flurm.protocol.messages.config_info import BuildInfo
from flurm.protocol.messages.job_control import LastUpdateRequest
from flurm.rpc.transport import Signer, call
from harness.loopback import SlurmCluster

NON_DEFAULT = """\
MaxJobCount=5000
KillWait=7
MinJobAge=120
PriorityType=priority/multifactor
PriorityWeightAge=1000
PriorityWeightFairshare=2000
PriorityWeightJobSize=500
PriorityWeightPartition=300
PriorityWeightQOS=100
PriorityDecayHalfLife=1-0
PriorityMaxAge=3-0
PriorityFlags=SMALL_RELATIVE_TO_TIME,NO_FAIR_TREE
SchedulerParameters=batch_sched_delay=0,bf_interval=60,default_queue_depth=50
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
MaxArraySize=2000
MaxStepCount=1000
SlurmctldTimeout=300
MessageTimeout=20
Prolog=/bin/true
Epilog=/bin/true
PrologFlags=Serial
TaskPlugin=task/affinity
TaskPluginParam=Sockets,verbose
SlurmctldDebug=verbose
SlurmdDebug=debug
EnforcePartLimits=ALL
OverTimeLimit=5
TCPTimeout=5
JobRequeue=0
MaxTasksPerNode=64
PropagateResourceLimitsExcept=MEMLOCK
TmpFS=/var/tmp
SrunPortRange=60001-63000
AccountingStoreFlags=job_comment
GroupUpdateTime=300
LogTimeFormat=iso8601
MailDomain=example.org
VSizeFactor=110
UnkillableStepTimeout=120
"""

# cgroup plugins: slurmctld reports cgroup.conf. slurmd would need cgroups of its own on this host,
# so these clusters run without slurmd (the controller's answer does not depend on nodes)
CGROUP_PLUGINS = """\
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity
JobAcctGatherType=jobacct_gather/cgroup
"""
# a site's usual cgroup.conf, with a few values that show SLURM's formatting (trailing slash, floats)
CGROUP_CONF = """\
# cgroup.conf
CgroupAutomount=yes
CgroupMountpoint=/sys/fs/cgroup/
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
ConstrainDevices=yes
AllowedRAMSpace=95
AllowedSwapSpace=5.5
MaxRAMPercent=98
MinRAMSpace=100
AllowedKmemSpace=1000000
MemorySwappiness=20
CgroupPlugin=cgroup/v1
IgnoreSystemd=yes
"""


# a site's usual keys whose values slurmctld derives: cons_tres without SelectTypeParameters (the
# plugin's CR_Core_Memory), UNLIMITED memory, GPUs (AccountingStorageTRES=gres/gpu needs slurmdbd:
# slurmctld refuses it here), PMIx (whose plugin loads only where libpmix.so is installed: not here)
SITE_DEFAULTS = """\
MaxMemPerNode=UNLIMITED
GresTypes=gpu
MpiDefault=pmix
"""
PMIX_CONF = "PMIxDirectConn=no\nPMIxTimeout=600\n"
# accounting gather plugins installed with Debian's slurmctld; sysfs has settings (acct_gather.conf)
ACCT_GATHER = """\
AcctGatherEnergyType=acct_gather_energy/rapl
AcctGatherInterconnectType=acct_gather_interconnect/sysfs
AcctGatherFilesystemType=acct_gather_filesystem/lustre
AcctGatherNodeFreq=30
"""


@dataclass(frozen=True)
class Conf:
    extra: str = ""
    etc_files: tuple[tuple[str, str], ...] = ()
    slurmd: bool = True
    drop_keys: tuple[str, ...] = ()


CONFS = {
    "default": Conf(),
    "non-default": Conf(NON_DEFAULT),
    "cgroup": Conf(CGROUP_PLUGINS, (("cgroup.conf", CGROUP_CONF),), slurmd=False),
    "cgroup-without-cgroup.conf": Conf(CGROUP_PLUGINS, slurmd=False),
    "acct-gather": Conf(
        ACCT_GATHER, (("acct_gather.conf", "# the fabric\nSysfsInterfaces=ib0,eth0\n"),), slurmd=False
    ),
    "site-defaults": Conf(
        SITE_DEFAULTS, (("mpi.conf", PMIX_CONF),), drop_keys=("SelectTypeParameters", "MpiDefault")
    ),
}

STEPS = [
    cmd("scontrol", "show", "config", label="show config"),
    cmd("scontrol", "show", "config", user="nobody", label="show config as nobody"),
    cmd("sbatch", "--hold", "--wrap", "true", label="submit"),
    cmd("scontrol", "show", "config", label="show config after a submission"),
]

# the ports each cluster picked, named so that nothing else is hidden
_PORTS = re.compile(r"^(SlurmctldPort|SlurmdPort)(\s+)= \d+$", re.M)
# fields of the decoded body that legitimately differ (see the module docstring)
_TIMES = ("last_update", "boot_time")
_PER_CLUSTER = ("hash_val", "slurmctld_port", "slurmd_port")


def _listing(t: Transcript, label: str) -> str:
    return _PORTS.sub(r"\1\2= <PORT>", t.text([label]))


def fetch_build_info(c: SlurmCluster) -> BuildInfo:
    """RESPONSE_BUILD_INFO from the cluster's controller, decoded with flurm's codec."""
    config = load_config(c.conf)
    auth = MungeAuthenticator.from_slurm_conf(config.auth_info)

    async def ask() -> BuildInfo:
        signer = Signer(auth, workers=1)
        try:
            resp = await call(
                "127.0.0.1", c.ctld_port, MsgType.REQUEST_BUILD_INFO, LastUpdateRequest(0), signer
            )
        finally:
            signer.close()
        assert resp is not None and isinstance(resp.body, BuildInfo), resp
        return resp.body

    return asyncio.run(ask())


@pytest.fixture(scope="module", params=sorted(CONFS))
def runs(request: pytest.FixtureRequest) -> Iterator[tuple[Transcript, Transcript, BuildInfo, BuildInfo]]:
    conf = CONFS[request.param]
    with cluster_pair(
        nodes=1,
        cpus=2,
        extra_conf=conf.extra,
        etc_files=conf.etc_files,
        slurmd=conf.slurmd,
        drop_keys=conf.drop_keys,
    ) as (ref, got):
        ref_t, got_t = run_both(ref, got, STEPS)
        yield ref_t, got_t, fetch_build_info(ref), fetch_build_info(got)


@pytest.mark.parametrize("label", [step.label for step in STEPS if step.args[0] == "scontrol"])
def test_listing(runs: tuple[Transcript, Transcript, BuildInfo, BuildInfo], label: str) -> None:
    ref, got, _, _ = runs
    a, b = _listing(ref, label), _listing(got, label)
    diff = "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "slurmctld", "flurm", n=1))
    assert not diff, "flurm differs from slurmctld:\n" + diff
    assert got[label].returncode == 0
    assert "HASH_VAL                = Match" in b
    assert "SLURM_VERSION           = 22.05.8" in b


def test_next_job_id_follows_submissions(runs: tuple[Transcript, Transcript, BuildInfo, BuildInfo]) -> None:
    _, got, _, _ = runs
    assert "NEXT_JOB_ID             = 1\n" in got["show config"].stdout
    assert "NEXT_JOB_ID             = 2\n" in got["show config after a submission"].stdout


def test_decoded_fields(runs: tuple[Transcript, Transcript, BuildInfo, BuildInfo]) -> None:
    ref_t, got_t, ref, got = runs
    assert ref_t.cluster is not None and got_t.cluster is not None
    problems = []
    for f in fields(BuildInfo):
        a, b = getattr(ref, f.name), getattr(got, f.name)
        if f.name in _TIMES:
            a, b = bool(a), bool(b)
        elif f.name in _PER_CLUSTER:
            continue
        elif isinstance(a, str):
            a, b = normalise(a, ref_t.cluster), normalise(b, got_t.cluster)
        if a != b:
            problems.append(f"{f.name}: slurmctld {a!r} flurm {b!r}")
    assert not problems, "decoded configurations differ:\n" + "\n".join(problems)
    assert (ref.slurmctld_port, ref.slurmd_port) == (ref_t.cluster.ctld_port, ref_t.cluster.slurmd_port)
    assert (got.slurmctld_port, got.slurmd_port) == (got_t.cluster.ctld_port, got_t.cluster.slurmd_port)
    assert got.hash_val == load_config(got_t.cluster.conf).hash_val
