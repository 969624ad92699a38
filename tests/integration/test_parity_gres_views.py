"""How clients see jobs' GPUs (GRES), as slurmctld 22.05 shows them: the request strings (TresPerNode=,
TresPerJob=, TresPerSocket=, TresPerTask=, CpusPerTres=, MemPerTres=, squeue %b and -O tres-per-*), the
TRES of jobs asking for memory per GPU, what a job holds (JOB_GRES= and each node's GRES= with the device
indexes in ``scontrol show job -d``; gres_used and gres_detail_str in the decoded records), a step's GRES
request (scontrol show step), a finished job's view, and flurm's HTTP API and metrics against what
slurmctld's clients print for the same jobs.

test_parity_gres.py covers placement, environments, reasons and node views; this module the job views it
does not: --gpus-per-node over two GPU types (one record per type: JOB_GRES=gpu:tesla:1,gpu:k80:1),
--cpus-per-gpu and --mem-per-gpu, --gres without a count, --gpus-per-socket, a finished job.

One scenario on gres.two_gpu_types (compute-node-1 gpu:tesla:2, compute-node-2 gpu:k80:2), slurmctld and
flurm side by side.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from parity import Records, Step, Transcript, assert_same, cluster_pair, cmd, records_same, run_both, settle
from parity import wait_state as wait

from harness import gres
from harness.loopback import SlurmCluster, free_port_block

CONF = "SchedulerParameters=batch_sched_delay=0,bf_interval=300"
JOBS = ("scontrol", "-d", "show", "job")
TRES = (
    "squeue",
    "-S",
    "i",
    "-t",
    "all",
    "-O",
    "jobid,tres-per-node:24,tres-per-job:24,tres-per-socket:16,tres-per-task:16,cpus-per-tres:16,"
    "mem-per-tres:16,tres-alloc:40",
)
QUEUE = ("squeue", "-S", "i", "-t", "all", "-o", "%i %t %b %N")
# scripts exec their sleep: a cancelled job is killed by the signal itself (0:15, never 143:0 by chance)
STEP = "#!/bin/sh\nexec srun sleep 300\n"

# what flurm's HTTP API and metrics said at the moment the clients looked (flurm's run only)
API: dict[str, Any] = {}


def write(name: str, text: str) -> Step:
    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / name
        path.write_text(text)
        path.chmod(0o755)

    return act


def http_get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        raw = resp.read().decode()
        return json.loads(raw) if "json" in resp.headers.get("Content-Type", "") else raw


def api_snapshot(label: str) -> Step:
    def act(c: SlurmCluster) -> None:
        if c.controller != "flurm":
            return
        port = c.http_port
        API[label] = {
            "jobs": {j["id"]: j for j in http_get(port, "/api/jobs?state=RUNNING")["jobs"]},
            "nodes": {n["name"]: n for n in http_get(port, "/api/nodes")["nodes"]},
            "partitions": {p["name"]: p for p in http_get(port, "/api/partitions")["partitions"]},
            "metrics": http_get(port, "/metrics"),
        }

    return act


STEPS: list[Step] = [
    write("step.sh", STEP),
    cmd("sbatch", "-N2", "--gpus-per-node=1", "--wrap", "exec sleep 300"),  # 1: tesla 0 and k80 0
    wait(1, "RUNNING"),
    cmd("sbatch", "--gpus=k80:1", "--cpus-per-gpu=2", "--mem-per-gpu=100", "step.sh"),  # 2: k80 1
    wait(2, "RUNNING"),
    cmd("sbatch", "--gres=gpu", "--wrap", "exec sleep 300"),  # 3: tesla 1
    wait(3, "RUNNING"),
    cmd("sbatch", "--gpus-per-socket=1", "--sockets-per-node=1", "--wrap", "exec sleep 300"),  # 4: waits
    cmd("sbatch", "--gres=gpu:tesla", "--mem-per-gpu=1G", "--wrap", "exec sleep 300"),  # 5: waits
    cmd("sbatch", "-n2", "--gpus-per-task=1", "--cpus-per-gpu=1", "--wrap", "exec sleep 300"),  # 6: waits
    settle(),
    cmd(*JOBS, label="busy jobs"),
    cmd(*TRES, label="busy tres"),
    cmd(*QUEUE, label="busy queue"),
    cmd("scontrol", "show", "step", "2.0", label="step with GPUs"),
    Records("busy records"),
    api_snapshot("busy"),
    cmd("scancel", "1"),
    wait(1, "CANCELLED"),
    settle(),
    cmd(*JOBS, "1", label="cancelled job"),
    cmd(*QUEUE, label="after queue"),
    Records("after records"),
    cmd("scancel", "2", "3", "4", "5", "6"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=CONF, http_port=free_port_block(1), **gres.two_gpu_types()) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_job_views(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    busy = ref["busy jobs"].stdout
    # the reference shows what this test is about (it fails on a controller that ignores GRES)
    assert "JOB_GRES=gpu:tesla:1,gpu:k80:1" in busy
    assert "Nodes=compute-node-2 CPU_IDs=0 Mem=0 GRES=gpu:k80:1(IDX:0)" in busy
    assert "CpusPerTres=gres:gpu:2" in busy and "MemPerTres=gres:gpu:1024" in busy
    assert_same(ref, got, ["busy jobs", "cancelled job"])


def test_request_columns(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "gres:gpu:k80:1" in ref["busy tres"].stdout
    assert_same(ref, got, ["busy tres", "busy queue", "after queue"])


def _no_pid(t: Transcript, label: str) -> str:
    """The output with srun's pid left out (each run's srun has its own)."""
    return re.sub(r"SrunHost:Pid=(\S+):\d+", r"SrunHost:Pid=\1:<PID>", t.text([label]))


def test_step_view(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "TresPerStep=cpu:1,gres:gpu:k80:1" in ref["step with GPUs"].stdout
    # srun without --exact: the step gets all the job's CPUs on its node (2, from --cpus-per-gpu=2)
    assert "CPUs=2 Tasks=1" in ref["step with GPUs"].stdout and "TRES=cpu=2," in ref["step with GPUs"].stdout
    assert _no_pid(got, "step with GPUs") == _no_pid(ref, "step with GPUs")


def test_records(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    by_id = {r.job_id: r for r in ref.records["busy records"]}
    assert by_id[1].gres_used == "gpu:tesla:1,gpu:k80:1"
    assert by_id[1].gres_detail_str == ("gpu:tesla:1(IDX:0)", "gpu:k80:1(IDX:0)")
    records_same(ref, got, "busy records")
    records_same(ref, got, "after records")


def _job_gres(scontrol: str) -> dict[int, str]:
    """JOB_GRES= of each job in ``scontrol -d show job``."""
    out: dict[int, str] = {}
    for block in scontrol.split("\n\n"):
        jid = re.search(r"JobId=(\d+)", block)
        total = re.search(r"JOB_GRES=(\S+)", block)
        if jid and total:
            out[int(jid.group(1))] = total.group(1)
    return out


def test_api_and_metrics_match_slurmctld(runs: tuple[Transcript, Transcript]) -> None:
    ref, _ = runs
    snap = API["busy"]
    # each running job's GRES as slurmctld's scontrol shows JOB_GRES, devices as its per node GRES=
    assert {jid: j["gres"] for jid, j in snap["jobs"].items()} == _job_gres(ref["busy jobs"].stdout)
    assert snap["jobs"][1]["gres_nodes"] == [
        {"node": "compute-node-1", "gres": [{"name": "gpu", "type": "tesla", "count": 1, "indexes": [0]}]},
        {"node": "compute-node-2", "gres": [{"name": "gpu", "type": "k80", "count": 1, "indexes": [0]}]},
    ]
    assert (
        snap["jobs"][2]["tres_per_job"] == "gres:gpu:k80:1"
        and snap["jobs"][2]["cpus_per_tres"] == "gres:gpu:2"
    )
    # all four GPUs are held
    assert [(n["gpus"], n["alloc_gpus"]) for n in snap["nodes"].values()] == [(2, 2), (2, 2)]
    assert (snap["partitions"]["debug"]["total_gpus"], snap["partitions"]["debug"]["alloc_gpus"]) == (4, 4)
    metrics = snap["metrics"]
    assert 'flurm_node_gpus_allocated{node="compute-node-1",type="tesla"} 2.0' in metrics
    assert 'flurm_node_gpus{node="compute-node-2",type="k80"} 2.0' in metrics
    assert 'flurm_partition_gpus_allocated{partition="debug"} 4.0' in metrics
