"""What slurmctld 22.05 refuses to start with, for the settings flurm reads beyond its own model
(config/ctl_conf.refusal), and what it makes of the ones it accepts. The messages are slurmctld's
(tests/integration/test_parity_conf_refusals.py checks them against a real slurmctld)."""

from __future__ import annotations

import pytest

from flurm.config import parse_text
from flurm.config.ctl_conf import refusal, select_type_param_string, slurmctld_conf

BASE = "ClusterName=c\nSlurmctldHost=h\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
NODES = "NodeName=n1\nPartitionName=p Nodes=n1\n"


def _refusal(extra: str) -> str | None:
    return refusal(parse_text(BASE + extra + NODES))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("DebugFlags=Gang,,Nope\n", "DebugFlags invalid: Gang,,Nope"),
        ("SlurmdSyslogDebug=chatty\n", "Invalid SlurmdSyslogDebug chatty"),
        ("PreemptMode=CANCEL,REQUEUE\n", "PreemptMode=CANCEL,REQUEUE invalid"),
        ("PreemptMode=GANG,WITHIN\n", "PreemptMode=GANG,WITHIN invalid"),
        ("PreemptMode=REQUEUE\n", "PreemptType and PreemptMode values incompatible"),
        ("PriorityCalcPeriod=UNLIMITED\n", 'Bad value "UNLIMITED" for PriorityCalcPeriod'),
        (
            "PriorityDecayHalfLife=0\n",
            "You have to either have PriorityDecayHalfLife != 0 or "
            "PriorityUsageResetPeriod set to something or the priority plugin will result in rolling over.",
        ),
        ("MaxDBDMsgs=100\n", "MaxDBDMsgs value (100) needs to be greater than 10000"),
        ("MCSParameters=ondemand\n", "MCSParameters=ondemand used and no MCSPlugin"),
        ("MCSPlugin=mcs/group\n", "MCSPlugin is mcs/group and no MCSParameters"),
        ("PropagateResourceLimitsExcept=core\n", "Bad PropagateResourceLimitsExcept: core"),
        ("TaskPluginParam=autobind=cores,autobind=none\n", "Bad TaskPluginParam: autobind already set"),
        ("TaskPluginParam=autobind=boards\n", "Bad TaskPluginParam autobind value: boards"),
        (
            "JobContainerType=job_container/tmpfs\n",
            "PrologFlags=Contain is required for use with job_container/tmpfs",
        ),
        (
            "AccountingStorageTRES=license/matlab\n",
            "slurmdbd is required to run with TRES license/matlab. "
            "Either setup slurmdbd or remove this TRES from your configuration.",
        ),
    ],
)
def test_refused(extra: str, message: str) -> None:
    assert _refusal(extra) == message


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "DebugFlags=Task,NetRaw\n",  # Task: removed in 22.05, logged and ignored
        "PreemptType=preempt/qos\nPreemptMode=SUSPEND,GANG\n",
        "PreemptMode=GANG\n",
        "PriorityDecayHalfLife=0\nPriorityUsageResetPeriod=DAILY\n",
        "PropagateResourceLimits=NONE\n",
        "SlurmSchedLogLevel=1\nSlurmSchedLogFile=/tmp/sched.log\n",
        "JobContainerType=job_container/tmpfs\nPrologFlags=Contain\n",
        "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageTRES=gres/gpu,license/x\n",
        "SlurmctldDebug=7\n",
    ],
)
def test_accepted(extra: str) -> None:
    assert _refusal(extra) is None


def test_what_slurmctld_makes_of_accepted_values() -> None:
    def table(text: str) -> int:
        return slurmctld_conf(parse_text(text + NODES)).select_type_param

    head = "ClusterName=c\nSlurmctldHost=h\n"
    assert table(head + "SelectType=select/cons_tres\n") == 0x0014  # CR_Core_Memory, the plugins' default
    assert table(head + "SelectType=select/cons_res\n") == 0x0014
    assert table(head + "SelectType=select/linear\n") == 0
    for key in ("MaxMemPerNode", "MaxMemPerCPU"):  # both stored as INFINITE64
        assert slurmctld_conf(parse_text(BASE + f"{key}=UNLIMITED\n" + NODES)).max_mem_per_cpu == 2**64 - 1
    assert slurmctld_conf(parse_text(BASE + "MaxMemPerNode=0\n" + NODES)).max_mem_per_cpu == 0
    assert select_type_param_string(0x0010) == "CR_MEMORY"
    assert select_type_param_string(0x0014 | 0x4000 | 0x0800) == "CR_CORE_MEMORY,OTHER_CONS_TRES,CR_LLN"
    assert select_type_param_string(0) == "NONE"
