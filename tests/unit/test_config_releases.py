"""scontrol show config of each release (config/release_rules.py): the table flurm derives for a 24.11 or
26.05 client holds what that release's slurmctld sent for the same slurm.conf (golden captures of the
harness's configuration), 22.05's is unchanged, and what flurm does not run is not claimed."""

from __future__ import annotations

import pytest
from test_codec_nodeparts_releases import RELEASES, one

from flurm.config import parse_text
from flurm.config.ctl_conf import slurmctld_conf
from flurm.config.release_rules import NONE_PLUGINS
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)
from flurm.protocol.messages.base import decode_body
from flurm.protocol.messages.config_info import BuildInfo
from flurm.state.support import unsupported_settings

# the plugin lines of the harness's slurm.conf (harness/launcher.py), which the captures were made with
HARNESS = """\
ClusterName=t
SlurmctldHost=h
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
NodeName=n[1-2] CPUs=2
PartitionName=p Nodes=ALL Default=YES
"""
# what the release rules decide
RULED = (
    *NONE_PLUGINS,
    "mpi_default",
    "preempt_type",
    "topology_plugin",
    "tree_width",
    "gpu_freq_def",
    "job_comp_loc",
    "health_check_node_state",
    "version",
)


def _derived(text: str, version: int) -> BuildInfo:
    return slurmctld_conf(parse_text(text), version=version, exists=lambda path: False)


def _sent(release: str) -> BuildInfo:
    frame = one(release, "build_info", "s2c")
    body = decode_body(frame.header.msg_type, frame.body, frame.header.version)
    assert isinstance(body, BuildInfo)
    return body


@pytest.mark.parametrize("release", RELEASES)
def test_the_release_defaults_are_what_its_slurmctld_sent(release: str) -> None:
    sent, got = _sent(release), _derived(HARNESS, RELEASES[release])
    assert {k: getattr(got, k) for k in RULED} == {k: getattr(sent, k) for k in RULED}
    assert (got.mpi_conf is None) == (sent.mpi_conf is None)  # 24.11's PMIx plugin loads, 26.05 has none
    assert got.mpi_conf is None or [k for k, _ in got.mpi_conf] == [k for k, _ in sent.mpi_conf or ()]


@pytest.mark.parametrize("release", RELEASES)
def test_flurm_names_the_priority_it_computes_not_the_releases_default(release: str) -> None:
    assert _sent(release).priority_type == "priority/multifactor"  # slurm.conf names none
    assert _derived(HARNESS, RELEASES[release]).priority_type == "priority/basic"


def test_22_05_keeps_its_own_defaults() -> None:
    got = _derived(HARNESS, SLURM_22_05_PROTOCOL_VERSION)
    assert got == slurmctld_conf(parse_text(HARNESS), exists=lambda path: False)
    assert (got.accounting_storage_type, got.mpi_default, got.preempt_type) == (
        "accounting_storage/none",
        "none",
        "preempt/none",
    )
    assert (got.topology_plugin, got.tree_width, got.gpu_freq_def) == (
        "topology/none",
        50,
        "high,memory=high",
    )
    assert (got.job_comp_loc, got.health_check_node_state, got.version) == (
        "/var/log/slurm_jobcomp.log",
        0x000F,
        "22.05.8",
    )


@pytest.mark.parametrize("version", [SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION])
def test_values_a_site_sets_are_kept(version: int) -> None:
    text = (
        "TopologyPlugin=topology/tree\nTreeWidth=30\nGpuFreqDef=low\nJobCompLoc=/tmp/jc\nMpiDefault=pmi2\n"
        "PreemptType=preempt/qos\nPreemptMode=requeue\nTaskPlugin=task/affinity\n"
        "HealthCheckNodeState=IDLE,CYCLE\n"
        + HARNESS.replace("TaskPlugin=task/none\n", "").replace("MpiDefault=none\n", "")
    )
    got = _derived(text, version)
    assert (got.topology_plugin, got.tree_width, got.gpu_freq_def, got.job_comp_loc) == (
        "topology/tree",
        30,
        "low",
        "/tmp/jc",
    )
    assert (got.mpi_default, got.preempt_type, got.task_plugin) == ("pmi2", "preempt/qos", "task/affinity")
    assert got.health_check_node_state == 0x8001


def test_the_flat_topology_by_each_releases_names() -> None:
    for name in ("none", "topology/none", "topology/default", "default"):
        got = _derived(f"TopologyPlugin={name}\n" + HARNESS, SLURM_26_05_PROTOCOL_VERSION)
        assert got.topology_plugin == "topology/flat", name
    got = _derived("TopologyPlugin=topology/none\n" + HARNESS, SLURM_24_11_PROTOCOL_VERSION)
    assert got.topology_plugin == "topology/default"
    any_state = _derived("HealthCheckNodeState=ANY\n" + HARNESS, SLURM_26_05_PROTOCOL_VERSION)
    assert any_state.health_check_node_state == 0x00FF


def test_the_takeover_flags_a_newer_source_running_multifactor_by_default() -> None:
    conf = parse_text(HARNESS)
    assert unsupported_settings(conf) == []  # 22.05's default is priority/basic
    assert unsupported_settings(conf, SLURM_22_05_PROTOCOL_VERSION) == []
    for version, name in ((SLURM_24_11_PROTOCOL_VERSION, "24.11"), (SLURM_26_05_PROTOCOL_VERSION, "26.05")):
        found = [str(f) for f in unsupported_settings(conf, version)]
        assert found == [
            f"PriorityType=priority/multifactor (SLURM {name}'s default: slurm.conf sets none): "
            "flurm runs priority/basic where slurm.conf names no PriorityType"
            " (name priority/multifactor there)"
        ]
        assert unsupported_settings(parse_text("PriorityType=priority/basic\n" + HARNESS), version) == []
        multifactor = parse_text("PriorityType=priority/multifactor\n" + HARNESS)
        assert unsupported_settings(multifactor, version) == []
