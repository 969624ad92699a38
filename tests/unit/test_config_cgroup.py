"""cgroup.conf beside slurm.conf: read as SLURM 22.05 reads it, reported as slurmctld reports it.

The expected key pairs are what a real slurmctld 22.05.8 sent in RESPONSE_BUILD_INFO for the same
files (tests/integration/test_parity_show_config.py compares the two live).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flurm.config import ConfigError, load
from flurm.config.cgroup import CgroupConf, cgroup_key_pairs, read_cgroup_conf, reports_cgroup
from flurm.config.ctl_conf import slurmctld_conf
from flurm.config.extra_conf import parse_float

SLURM_CONF = """\
ClusterName=c
SlurmctldHost=localhost
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity
{extra}
NodeName=n1 NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES State=UP
"""

TYPICAL = """\
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

SENT_FOR_TYPICAL = (
    ("AllowedKmemSpace", "1000000 Bytes"),
    ("AllowedRAMSpace", "95.0%"),
    ("AllowedSwapSpace", "5.5%"),
    ("CgroupAutomount", "yes"),
    ("CgroupMountpoint", "/sys/fs/cgroup"),
    ("CgroupPlugin", "cgroup/v1"),
    ("ConstrainCores", "yes"),
    ("ConstrainDevices", "yes"),
    ("ConstrainKmemSpace", "no"),
    ("ConstrainRAMSpace", "yes"),
    ("ConstrainSwapSpace", "yes"),
    ("IgnoreSystemd", "yes"),
    ("IgnoreSystemdOnFailure", "yes"),
    ("MaxKmemPercent", "100.0%"),
    ("MaxRAMPercent", "98.0%"),
    ("MaxSwapPercent", "100.0%"),
    ("MemorySwappiness", "20"),
    ("MinKmemSpace", "30 MB"),
    ("MinRAMSpace", "100 MB"),
)

# with no cgroup.conf, and with an empty one
SENT_FOR_DEFAULTS = (
    ("AllowedKmemSpace", None),
    ("AllowedRAMSpace", "100.0%"),
    ("AllowedSwapSpace", "0.0%"),
    ("CgroupAutomount", "no"),
    ("CgroupMountpoint", "/sys/fs/cgroup"),
    ("CgroupPlugin", None),
    ("ConstrainCores", "no"),
    ("ConstrainDevices", "no"),
    ("ConstrainKmemSpace", "no"),
    ("ConstrainRAMSpace", "no"),
    ("ConstrainSwapSpace", "no"),
    ("IgnoreSystemd", "no"),
    ("IgnoreSystemdOnFailure", "no"),
    ("MaxKmemPercent", "100.0%"),
    ("MaxRAMPercent", "100.0%"),
    ("MaxSwapPercent", "100.0%"),
    ("MemorySwappiness", None),
    ("MinKmemSpace", "30 MB"),
    ("MinRAMSpace", "30 MB"),
)


def _site(tmp_path: Path, cgroup_conf: str | None, extra: str = "") -> Path:
    conf = tmp_path / "slurm.conf"
    conf.write_text(SLURM_CONF.format(extra=extra))
    if cgroup_conf is not None:
        (tmp_path / "cgroup.conf").write_text(cgroup_conf)
    return conf


def test_a_typical_cgroup_conf_is_reported_as_slurmctld_reports_it(tmp_path: Path) -> None:
    info = slurmctld_conf(load(_site(tmp_path, TYPICAL)))
    assert info.cgroup_conf == SENT_FOR_TYPICAL


@pytest.mark.parametrize("text", [None, "", "# nothing here\n"])
def test_no_file_or_an_empty_one_gives_the_defaults(tmp_path: Path, text: str | None) -> None:
    assert cgroup_key_pairs(read_cgroup_conf(str(_site(tmp_path, text)))) == SENT_FOR_DEFAULTS
    assert read_cgroup_conf(str(tmp_path / "slurm.conf")) == CgroupConf()


def test_the_block_is_sent_only_with_a_cgroup_plugin(tmp_path: Path) -> None:
    assert reports_cgroup("proctrack/linuxproc", "task/none", "jobacct_gather/cgroup")
    assert reports_cgroup("proctrack/cgroup", "task/none", "jobacct_gather/none")
    assert reports_cgroup("proctrack/linuxproc", "task/affinity,task/cgroup", "jobacct_gather/none")
    assert not reports_cgroup("proctrack/linuxproc", "task/affinity", "jobacct_gather/linux")
    assert not reports_cgroup("proctrack/CGROUP", "task/none", "jobacct_gather/none")  # strstr: case matters
    conf = tmp_path / "slurm.conf"
    conf.write_text(SLURM_CONF.format(extra="").replace("cgroup", "linuxproc", 1).replace("task/cgroup,", ""))
    (tmp_path / "cgroup.conf").write_text(TYPICAL)
    assert slurmctld_conf(load(conf)).cgroup_conf is None


def test_values_as_slurm_converts_them(tmp_path: Path) -> None:
    text = "MemorySwappiness=150\nIgnoreSystemdOnFailure=yes\nAllowedKmemSpace=-1\nCgroupMountpoint=/cg//\n"
    conf = read_cgroup_conf(str(_site(tmp_path, text)))
    assert conf.memory_swappiness == 100  # logged and rounded down
    assert conf.ignore_systemd_on_failure and not conf.ignore_systemd
    assert conf.allowed_kmem_space is None  # negative: no limit, printed as (null)
    assert conf.mountpoint == "/cg/"  # one trailing slash goes
    pairs = dict(cgroup_key_pairs(CgroupConf(allowed_ram_space=parse_float("k", "33.35"))))
    assert pairs["AllowedRAMSpace"] == "33.3%"  # a C float, 33.3499985 (as a double 33.35 prints 33.4)
    assert parse_float("k", "UNLIMITED") == float("inf")
    assert parse_float("k", " 1e2") == 100.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Bogus=1\n", "Parsing error at unrecognized key: Bogus"),
        ("CgroupReleaseAgentDir=/x\n", "Support for CgroupReleaseAgentDir option has been removed."),
        ("AllowedRAMSpace=95%\n", "AllowedRAMSpace value (95%) is not a valid number"),
        ("AllowedRAMSpace=1e39\n", "AllowedRAMSpace value (1e39) is out of range"),
        ("ConstrainCores=maybe\n", '"maybe" is not a valid option for "ConstrainCores"'),
        ("MinRAMSpace=lots\n", "MinRAMSpace value (lots) is not a valid number"),
        ("ConstrainCores=yes ConstrainRAMSpace=yes\n", 'Parse error: "ConstrainRAMSpace=yes"'),
        ("yes\n", 'Parse error: "yes"'),
    ],
)
def test_slurm_conf_is_refused_with_a_cgroup_conf_slurmctld_refuses(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load(_site(tmp_path, text))
    assert err.value.message == message
    assert err.value.path == str(tmp_path / "cgroup.conf")


def test_two_memory_enforcements_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="constrained by both TaskPlugin cgroup and JobAcctGather"):
        load(_site(tmp_path, "ConstrainRAMSpace=yes\n", "JobAcctGatherParams=NoShared,OverMemoryKill"))
    load(_site(tmp_path, "ConstrainRAMSpace=no\n", "JobAcctGatherParams=NoShared,OverMemoryKill"))
