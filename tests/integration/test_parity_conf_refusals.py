"""Values slurmctld 22.05 refuses to start with, for the settings ``scontrol show config`` reports that
flurm reads beyond its own model, and the plugin files beside slurm.conf: flurm refuses the same
configuration with the message slurmctld logs; what slurmctld accepts, flurm accepts.

Each case runs a private ``slurmctld -D`` on the text (tests/integration/test_config_vs_slurmctld.py's
runner: our own munged, a free loopback port) and ``flurm.config.load`` on the same files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config_vs_slurmctld import Slurmctld, slurmctld  # noqa: F401 (the fixture)

from flurm.config import ConfigError, load

NODES = "NodeName=n1 NodeAddr=127.0.0.1\nPartitionName=p Nodes=ALL\n"
CGROUP_PLUGINS = "ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup,task/affinity\n"

# (slurm.conf lines, files beside it, the message slurmctld logs before it stops)
REFUSED: dict[str, tuple[str, dict[str, str], str]] = {
    "DebugFlags": ("DebugFlags=Backfill,Bogus\n", {}, "DebugFlags invalid: Backfill,Bogus"),
    "SlurmctldDebug": ("SlurmctldDebug=loud\n", {}, "Invalid SlurmctldDebug loud"),
    "PreemptMode SUSPEND": ("PreemptMode=SUSPEND\n", {}, "PreemptMode=SUSPEND requires GANG too"),
    "PreemptMode word": ("PreemptMode=bogus\n", {}, "PreemptMode=bogus invalid"),
    "PreemptType without a mode": (
        "PreemptType=preempt/qos\n",
        {},
        "PreemptType and PreemptMode values incompatible",
    ),
    "PreemptExemptTime": ("PreemptExemptTime=abc\n", {}, "PreemptExemptTime=abc invalid"),
    "PriorityDecayHalfLife": (
        "PriorityDecayHalfLife=abc\n",
        {},
        'Bad value "abc" for PriorityDecayHalfLife',
    ),
    "PriorityCalcPeriod": ("PriorityCalcPeriod=0\n", {}, 'Bad value "0" for PriorityCalcPeriod'),
    "PriorityUsageResetPeriod": (
        "PriorityUsageResetPeriod=hourly\n",
        {},
        'Bad value "hourly" for PriorityUsageResetPeriod',
    ),
    "AccountingStorageEnforce": (
        "AccountingStorageEnforce=limits,bogus\n",
        {},
        "AccountingStorageEnforce invalid: limits,bogus",
    ),
    "PropagatePrioProcess": ("PropagatePrioProcess=3\n", {}, "Bad PropagatePrioProcess: 3"),
    "PropagateResourceLimits": (
        "PropagateResourceLimits=CPU,BOGUS\n",
        {},
        "Bad PropagateResourceLimits: CPU,BOGUS",
    ),
    "SlurmSchedLogLevel": (
        "SlurmSchedLogLevel=1\n",
        {},
        "SlurmSchedLogLevel requires SlurmSchedLogFile value",
    ),
    "MaxNodeCount": (
        "SelectType=select/linear\nMaxNodeCount=10\n",
        {},
        "MaxNodeCount only compatible with cons_tres",
    ),
    "TaskPluginParam": ("TaskPluginParam=Cores,Sockets\n", {}, "Bad TaskPluginParam: Sockets"),
    "SelectTypeParameters": (
        "SelectTypeParameters=CR_Memory\n",
        {},
        "Invalid SelectTypeParameters: CR_MEMORY (16), You need at least CR_(CPU|CORE|SOCKET)*",
    ),
    "TRES without slurmdbd": (
        "GresTypes=gpu\nAccountingStorageTRES=gres/gpu\n",
        {},
        "slurmdbd is required to run with TRES gres/gpu. "
        "Either setup slurmdbd or remove this TRES from your configuration.",
    ),
    "TRES type": (
        "AccountingStorageTRES=bogus\n",
        {},
        "_init_tres: Unknown tres type 'bogus', acceptable types are "
        "Billing,CPU,Energy,FS/,Gres/,IC/,License/,Mem,Node,Pages,VMem",
    ),
    "cgroup.conf key": (
        CGROUP_PLUGINS,
        {"cgroup.conf": "Bogus=1\n"},
        "Parsing error at unrecognized key: Bogus",
    ),
    "cgroup.conf removed key": (
        "",
        {"cgroup.conf": "CgroupReleaseAgentDir=/tmp\n"},
        "Support for CgroupReleaseAgentDir option has been removed.",
    ),
    "cgroup.conf number": (
        CGROUP_PLUGINS,
        {"cgroup.conf": "AllowedRAMSpace=95%\n"},
        "AllowedRAMSpace value (95%) is not a valid number",
    ),
    "two memory enforcements": (
        CGROUP_PLUGINS + "JobAcctGatherParams=OverMemoryKill\n",
        {"cgroup.conf": "ConstrainRAMSpace=yes\n"},
        "Jobs memory is being constrained by both TaskPlugin cgroup and JobAcctGather plugin. "
        "This enables two incompatible memory enforcement mechanisms, one of them must be disabled.",
    ),
}

# acct_gather.conf is read against the keys of the loaded plugins only
REFUSED["acct_gather.conf key of another plugin"] = (
    "AcctGatherEnergyType=acct_gather_energy/rapl\nAcctGatherInterconnectType=acct_gather_interconnect/sysfs\n",
    {"acct_gather.conf": "SysfsInterfaces=ib0\nEnergyIPMIFrequency=20\n"},
    "Parsing error at unrecognized key: EnergyIPMIFrequency",
)
REFUSED["acct_gather.conf without plugins"] = (
    "",
    {"acct_gather.conf": "ProfileHDF5Dir=/tmp\n"},
    "Parsing error at unrecognized key: ProfileHDF5Dir",
)

# near misses slurmctld starts with
ACCEPTED: dict[str, tuple[str, dict[str, str]]] = {
    "acct_gather.conf": (
        "AcctGatherInterconnectType=acct_gather_interconnect/sysfs\n",
        {"acct_gather.conf": "SysfsInterfaces=ib0\n"},
    ),
    "acct_gather plugin without acct_gather.conf": (
        "AcctGatherInterconnectType=acct_gather_interconnect/sysfs\n",
        {},
    ),
    "ReconfigFlags word": ("ReconfigFlags=KeepPartInfo,Bogus\n", {}),
    "preemption": ("PreemptType=preempt/partition_prio\nPreemptMode=REQUEUE,GANG\n", {}),
    "rlimits": ("PropagateResourceLimitsExcept=RLIMIT_CORE,NOFILE\n", {}),
    "task params": ("TaskPluginParam=Cores,autobind=threads,verbose\n", {}),
    "priority times": (
        "PriorityDecayHalfLife=UNLIMITED\nPriorityMaxAge=INFINITE\nPriorityCalcPeriod=1\n",
        {},
    ),
    "cons_res": ("SelectType=select/cons_res\nSelectTypeParameters=CR_Socket_Memory,CR_LLN\n", {}),
    "cgroup.conf": (
        CGROUP_PLUGINS + "JobAcctGatherParams=OverMemoryKill\n",
        {"cgroup.conf": "# only cores\nConstrainCores=yes\nConstrainRAMSpace=no\nMemorySwappiness=150\n"},
    ),
}


def _flurm_load(tmp_path: Path, text: str, beside: dict[str, str]) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text(text)
    for name, content in beside.items():
        (tmp_path / name).write_text(content)
    load(conf)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_by_both(slurmctld: Slurmctld, tmp_path: Path, case: str) -> None:  # noqa: F811
    body, beside, message = REFUSED[case]
    outcome = slurmctld.run(body + NODES, beside)
    assert not outcome.up, f"slurmctld started with:\n{body}"
    assert message in outcome.log, outcome.log
    with pytest.raises(ConfigError) as err:
        _flurm_load(tmp_path, outcome.text, beside)
    assert err.value.message == message


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_by_both(slurmctld: Slurmctld, tmp_path: Path, case: str) -> None:  # noqa: F811
    body, beside = ACCEPTED[case]
    outcome = slurmctld.run(body + NODES, beside)
    assert outcome.up, outcome.log
    _flurm_load(tmp_path, outcome.text, beside)
