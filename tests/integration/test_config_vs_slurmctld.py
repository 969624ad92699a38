"""flurm.config against the real thing: slurmctld 22.05 reads the same slurm.conf, scontrol shows the result.

Each test writes a slurm.conf, starts a private ``slurmctld -D`` on it (our own munged, a free loopback port,
a fresh StateSaveLocation), reads ``scontrol show node/partition -o`` and compares field by field with
``flurm.config.parse_text``. Texts flurm rejects must make slurmctld die too.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import hostlist
import pytest
from munge_fixture import Munged

from flurm.config import ConfigError, SlurmConfig, format_time_minutes, parse_text

START_TIMEOUT = 20.0
_FIELD = re.compile(r"(\w+)=(.*?)(?= \w+=|\s*$)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Outcome:
    text: str
    up: bool
    nodes: list[dict[str, str]]
    partitions: list[dict[str, str]]
    log: str


class Slurmctld:
    """Runs slurmctld on a slurm.conf body (a fixed header is prepended) and reports what it made of it."""

    def __init__(self, munged: Munged, base: Path) -> None:
        for tool in ("slurmctld", "scontrol"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is not installed (apt-get install slurmctld slurm-client)")
        self.munged = munged
        self.base = base
        self.runs = 0

    def header(self, port: int, state: Path) -> str:
        return (
            "ClusterName=cfgtest\n"
            "SlurmctldHost=localhost(127.0.0.1)\n"
            f"SlurmctldPort={port}\n"
            f"SlurmdPort={_free_port()}\n"
            f"AuthInfo=socket={self.munged.socket}\n"
            "SlurmUser=root\nSlurmdUser=root\n"
            f"StateSaveLocation={state}\n"
            f"SlurmctldPidFile={state}/slurmctld.pid\n"
            f"SlurmctldLogFile={state}/slurmctld.log\n"
            "MailProg=/bin/true\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        )

    def run(self, body: str, beside: Mapping[str, str] | None = None) -> Outcome:
        """``beside``: files (name, text) written next to slurm.conf (cgroup.conf, ...)."""
        self.runs += 1
        state = self.base / f"run{self.runs}"
        state.mkdir()
        port = _free_port()
        text = self.header(port, state) + body
        conf = state / "slurm.conf"
        conf.write_text(text)
        for name, content in (beside or {}).items():
            (state / name).write_text(content)
        env = {**os.environ, "SLURM_CONF": str(conf)}
        proc = subprocess.Popen(
            ["slurmctld", "-D", "-f", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            up = False
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                ping = subprocess.run(
                    ["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=30
                )
                if "UP" in ping.stdout:
                    up = True
                    break
                time.sleep(0.05)
            if not up and proc.poll() is None:
                pytest.fail(f"slurmctld neither came up nor died in {START_TIMEOUT} s")
            nodes: list[dict[str, str]] = []
            partitions: list[dict[str, str]] = []
            if up:
                nodes = self._show(env, "node")
                partitions = self._show(env, "partition")
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        log = (
            (state / "slurmctld.log").read_text(errors="replace")
            if (state / "slurmctld.log").exists()
            else ""
        )
        return Outcome(text, up, nodes, partitions, err + log)

    @staticmethod
    def _show(env: dict[str, str], what: str) -> list[dict[str, str]]:
        out = subprocess.run(
            ["scontrol", "show", what, "-o"], env=env, capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return [
            {key: value.strip() for key, value in _FIELD.findall(line)}
            for line in out.splitlines()
            if line.strip()
        ]


@pytest.fixture(scope="module")
def slurmctld(munged: Munged, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurmctld]:
    yield Slurmctld(munged, tmp_path_factory.mktemp("cfg-vs-slurmctld"))


def _state_shown(state: str) -> str:
    """How scontrol prints a configured node State= on a node that never registered."""
    if state.startswith("DRAIN"):
        return "UNKNOWN+DRAIN"
    if state.startswith("FAIL"):
        return "IDLE+FAIL"
    return state


def _compare(config: SlurmConfig, outcome: Outcome) -> None:
    assert outcome.up, outcome.log
    # Node table: same names, same order (slurmctld sorts by natural name order).
    assert [n["NodeName"] for n in outcome.nodes] == [n.name for n in config.nodes if n.state != "FUTURE"]
    for shown, node in zip(outcome.nodes, (n for n in config.nodes if n.state != "FUTURE"), strict=True):
        mine = {
            "CPUTot": str(node.cpus),
            "Boards": str(node.boards),
            "Sockets": str(node.sockets),
            "CoresPerSocket": str(node.cores_per_socket),
            "ThreadsPerCore": str(node.threads_per_core),
            "RealMemory": str(node.real_memory_mib),
            "TmpDisk": str(node.tmp_disk_mib),
            "Weight": str(node.weight),
            "NodeAddr": node.addr,
            "NodeHostName": node.hostname,
            "Port": str(node.port),
            "ActiveFeatures": ",".join(node.features) or "(null)",
            "Gres": node.gres or "(null)",
            "State": _state_shown(node.state),
        }
        theirs = {key: shown.get(key) for key in mine}
        if theirs["Port"] is None:  # scontrol leaves Port out when it is SlurmdPort
            theirs["Port"] = str(config.slurmd_port)
        assert theirs == mine, node.name
        if node.reason is not None:
            assert shown["Reason"].startswith(node.reason), node.name

    assert [p["PartitionName"] for p in outcome.partitions] == [p.name for p in config.partitions]
    for shown, part in zip(outcome.partitions, config.partitions, strict=True):

        def memory(mib: int | None) -> str:
            return "UNLIMITED" if mib is None else str(mib)

        mine = {
            "Nodes": list(part.nodes),
            "Default": "YES" if part.default else "NO",
            "Hidden": "YES" if part.hidden else "NO",
            "RootOnly": "YES" if part.root_only else "NO",
            "ExclusiveUser": "YES" if part.exclusive_user else "NO",
            "LLN": "YES" if part.lln else "NO",
            "ReqResv": "YES" if part.req_resv else "NO",
            "DisableRootJobs": "YES" if part.disable_root_jobs else "NO",
            "MaxTime": format_time_minutes(part.max_time_min),
            "DefaultTime": "NONE"
            if part.default_time_min is None
            else format_time_minutes(part.default_time_min),
            "MaxNodes": "UNLIMITED" if part.max_nodes is None else str(part.max_nodes),
            "MinNodes": str(part.min_nodes),
            "MaxCPUsPerNode": "UNLIMITED" if part.max_cpus_per_node is None else str(part.max_cpus_per_node),
            "PriorityJobFactor": str(part.priority_job_factor),
            "PriorityTier": str(part.priority_tier),
            "OverSubscribe": part.over_subscribe,
            "State": part.state,
            "AllowAccounts": part.allow_accounts or "ALL",
            "AllowGroups": part.allow_groups or "ALL",
            "AllowQos": part.allow_qos or "ALL",
            "GraceTime": str(part.grace_time),
        }
        theirs: dict[str, object] = {key: shown.get(key) for key in mine}
        nodes_shown = str(shown.get("Nodes"))
        theirs["Nodes"] = [] if nodes_shown == "(null)" else hostlist.expand_hostlist(nodes_shown)
        assert theirs == mine, part.name
        if part.def_mem_per_cpu_mib is not None:
            assert shown["DefMemPerCPU"] == str(part.def_mem_per_cpu_mib)
        else:
            assert shown.get("DefMemPerNode") == memory(part.def_mem_per_node_mib)
        if part.max_mem_per_cpu_mib is not None:
            assert shown["MaxMemPerCPU"] == str(part.max_mem_per_cpu_mib)
        else:
            assert shown.get("MaxMemPerNode") == memory(part.max_mem_per_node_mib)


TOPOLOGY_AND_DEFAULTS = """\
GresTypes=gpu
NodeName=DEFAULT RealMemory=2000 State=UNKNOWN
NodeName=n10 NodeAddr=127.0.0.1 CPUs=4
NodeName=a[1-3] NodeAddr=127.0.0.1 Port=17901-17903 CPUs=4 TmpDisk=0x10
NodeName=b[1-2] NodeAddr=127.0.0.1 CPUs=4 ThreadsPerCore=2 Weight=5 Feature=x,y Gres=gpu:2,foo:1
NodeName=n11 NodeAddr=127.0.0.1 Gres=bar:1
NodeName=c1 NodeAddr=127.0.0.1 Sockets=2 CoresPerSocket=3 ThreadsPerCore=2 State=DRAIN Reason="by hand"
NodeName=d1 NodeAddr=127.0.0.1 Boards=2 SocketsPerBoard=2 CoresPerSocket=2 CPUs=6
NodeName=e1 NodeAddr=127.0.0.1 CPUs=5 CoresPerSocket=2
NodeName=f1 NodeAddr=127.0.0.1 Sockets=2 CoresPerSocket=4 CPUs=8 ThreadsPerCore=2 Weight=INFINITE
NodeName=g1 NodeAddr=127.0.0.1 Sockets=2 SocketsPerBoard=3 Boards=2 CoresPerSocket=1 CPUs=6
NodeName=k1 NodeAddr=127.0.0.1 CPUs=010 RealMemory=1k State=IDLE
NodeName=n9 NodeAddr=127.0.0.1 Procs=2 \\
   NodeHostname=nine  # continued line, with a comment
NodeName=h[1-3] NodeHostname=host[1-2] NodeAddr=127.0.0.1
DownNodes=a3 Reason=broken
PartitionName=DEFAULT MaxTime=1:30 State=UP
PartitionName=p1 Nodes=b[1-2],a1 Default=YES DefaultTime=2 OverSubscribe=FORCE:3
PartitionName=p2 Nodes=ALL MaxTime=2-3 DefaultTime=5-0 OverSubscribe=YES Priority=7 MaxNodes=UNLIMITED
PartitionName=p3 Nodes=c1 MaxTime=0:61 Default=YES State=DRAIN AllowAccounts=ABC,Def OverSubscribe=EXCLUSIVE
PartitionName=p4 Nodes=f1,n10,n9 MaxTime=90 DefaultTime=1:0:1 Shared=NO PriorityTier=3 MaxMemPerNode=100 \\
  DefMemPerCPU=10 Hidden=yes RootOnly=1 ExclusiveUser=YES LLN=YES GraceTime=30
PartitionName=p5 Nodes="k1 g1" MaxTime=-1 DefaultTime=UNLIMITED MinNodes=1 MaxNodes=3 MaxCPUsPerNode=4 \\
  OverSubscribe=YES:1 AllowGroups=root DisableRootJobs=YES State=inactive
PartitionName=p6 MaxTime=1-23:59:60
"""


def test_nodes_and_partitions_match_slurmctld(slurmctld: Slurmctld) -> None:
    outcome = slurmctld.run(TOPOLOGY_AND_DEFAULTS)
    config = parse_text(outcome.text)
    assert len(config.nodes) == 17 and len(config.partitions) == 6
    _compare(config, outcome)


def test_includes_and_node_sets_match_slurmctld(slurmctld: Slurmctld, tmp_path: Path) -> None:
    (tmp_path / "nodes_cfgtest.conf").write_text("nodename=inc[1-2] nodeaddr=127.0.0.1 feature=gpu\n")
    body = (
        f"Include {tmp_path}/nodes_%c.conf\n"
        "NodeName=h[1-4] NodeAddr=127.0.0.1 Port=[17904-17907]\n"
        "NodeSet=gpus Feature=gpu\nNodeSet=hs Nodes=h[3-4]\n"
        "PartitionName=q1 Nodes=gpus,hs MaxTime=UNLIMITED\n"
    )
    outcome = slurmctld.run(body)
    config = parse_text(outcome.text)
    assert config.partition("q1").nodes == ("h3", "h4", "inc1", "inc2")
    _compare(config, outcome)


# Texts flurm refuses; slurmctld must refuse them too (fatal at start).
REFUSED = [
    "NodeName=n1 NodeAddr=127.0.0.1 CPUs=abc\nPartitionName=p Nodes=ALL\n",
    "NodeName=n1 NodeAddr=127.0.0.1\nPartitionName=p Nodes=n1,n2\n",
    "NodeName=n1 NodeAddr=127.0.0.1\nNodeName=n[1-2] NodeAddr=127.0.0.1\nPartitionName=p Nodes=ALL\n",
    "NodeName=n[1-3] NodeAddr=127.0.0.1,127.0.0.2\nPartitionName=p Nodes=ALL\n",
    "NodeName=n[1-3] NodeAddr=127.0.0.1 Port=179[01-03]\nPartitionName=p Nodes=ALL\n",
    "NodeName=n[1-3] NodeAddr=127.0.0.1 Port=17901-17902\nPartitionName=p Nodes=ALL\n",
    "NodeName=n1 NodeAddr=127.0.0.1\nPartitionName=p Nodes=ALL MaxTime=1:\n",
    "NodeName=n1 NodeAddr=127.0.0.1\nPartitionName=p Nodes=ALL\nPartitionName=p Nodes=ALL\n",
    "NodeName=n1 NodeAddr=127.0.0.1 State=BOGUS\nPartitionName=p Nodes=ALL\n",
    "NodeName=n1 NodeAddr=127.0.0.1\nPartitionName=p Nodes=ALL\nKillWait=5 MinJobAge=10\n",
    "NodeName=n1 NodeAddr=127.0.0.1\nPartitionName=p Nodes=ALL\nPrologFlags=\n",
    'NodeName=n1 NodeAddr=127.0.0.1 Reason="a b"c\nPartitionName=p Nodes=ALL\n',
]


@pytest.mark.parametrize("body", REFUSED)
def test_refused_texts_are_refused_by_slurmctld_too(slurmctld: Slurmctld, body: str) -> None:
    outcome = slurmctld.run(body)
    with pytest.raises(ConfigError):
        parse_text(outcome.text)
    assert not outcome.up, f"slurmctld accepted:\n{body}"
    assert "fatal" in outcome.log
