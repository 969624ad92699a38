"""The table of what flurm does not support yet (state/support.py): each rule finds its setting."""

from __future__ import annotations

from pathlib import Path

from flurm.config import parse_text
from flurm.state.support import SETTINGS, unsupported_settings, with_markdown_list

BASE = "ClusterName=t\nSlurmctldHost=h\nNodeName=n[1-2] CPUs=2\nPartitionName=p Nodes=ALL Default=YES\n"


def test_a_plain_cluster_uses_nothing_unsupported() -> None:
    assert unsupported_settings(parse_text(BASE)) == []
    defaults = (
        "AccountingStorageType=accounting_storage/none\nPriorityType=priority/basic\nMCSPlugin=mcs/none\n"
    )
    assert unsupported_settings(parse_text(defaults + BASE)) == []


def test_each_setting_rule_finds_its_setting() -> None:
    conf = parse_text(
        "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageEnforce=limits,qos,wckeys\n"
        "AccountingStoreFlags=job_comment,job_script\nAccountingStorageTRES=cpu,license/matlab,gres/gpu\n"
        "SlurmctldParameters=enable_configless,max_dbd_msg_action=exit\n"
        "JobCompType=jobcomp/filetxt\nPriorityType=priority/multifactor\nPreemptType=preempt/qos\n"
        "GresTypes=gpu\nBurstBufferType=burst_buffer/lua\nTopologyPlugin=topology/tree\n"
        "JobSubmitPlugins=lua\nMCSPlugin=mcs/user\nNodeFeaturesPlugins=node_features/helpers\n"
        "SuspendProgram=/bin/true\nResumeProgram=/bin/true\nFederationParameters=fed_display\n"
        "PrologFlags=Alloc,X11\nPriorityWeightFairshare=10\nPriorityWeightAssoc=1\nPriorityWeightQOS=5\n"
        "PriorityWeightTRES=CPU=1,GRES/gpu=2\nPriorityFlags=MAX_TRES\nPrioritySiteFactorPlugin=site_factor/example\n"
        "ClusterName=t\nSlurmctldHost=h\nNodeName=n[1-2] CPUs=2 Gres=gpu:2\n"
        "PartitionName=p Nodes=ALL Default=YES\n"
    )
    found = [str(f) for f in unsupported_settings(conf)]
    # every rule but PriorityType's, which flags only a release's default multifactor (below)
    assert len(found) == len(SETTINGS) - 1, found
    assert not any(f.startswith("PriorityType=") for f in found)
    assert any(f.startswith("PriorityWeightFairshare=10: fair share starts from no usage") for f in found)
    assert not any("GresTypes" in f or "Gres=" in f for f in found)  # generic resources are supported
    assert "AccountingStoreFlags=job_comment,job_script: job scripts" in found[0]
    assert found[1].startswith("SlurmctldParameters=max_dbd_msg_action=exit: `max_dbd_msg_action=exit`")
    assert found[2].startswith("AccountingStorageTRES=license/matlab,gres/gpu: licence and GRES TRES")


def test_multifactor_is_supported() -> None:
    """priority/multifactor with what flurm computes is not flagged; without slurmdbd slurmctld
    ignores the age and fair-share weights itself, and has no association or QOS to weigh."""
    weights = (
        "PriorityType=priority/multifactor\nPriorityWeightAge=1000\nPriorityWeightJobSize=10\n"
        "PriorityWeightPartition=100\nPriorityWeightFairshare=10\nPriorityWeightQOS=5\n"
        "PriorityFlags=SMALL_RELATIVE_TO_TIME,NO_FAIR_TREE\nPriorityFavorSmall=YES\n"
    )
    assert unsupported_settings(parse_text(weights + BASE)) == []
    # the association factor with the associations slurmdbd gives
    dbd = "AccountingStorageType=accounting_storage/slurmdbd\nPriorityWeightAssoc=1000\n"
    found = [f.what for f in unsupported_settings(parse_text(weights + dbd + BASE))]
    assert found == ["PriorityWeightFairshare=10"]  # (slurmctld's usage is not taken over)


def test_the_readme_lists_the_table_of_now() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert with_markdown_list(readme) == readme, "run scripts/support_list.py to update README.md"


def test_the_enforcement_flurm_applies_is_not_flagged() -> None:
    def enforce_findings(value: str) -> list[str]:
        text = f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageEnforce={value}\n{BASE}"
        found = unsupported_settings(parse_text(text))
        return [str(f) for f in found if f.what.startswith("AccountingStorageEnforce")]

    assert enforce_findings("associations,limits,qos,safe") == []
    (found,) = enforce_findings("qos,wckeys")
    assert found.startswith("AccountingStorageEnforce=qos,wckeys")
