"""The HTTP API and the metrics show GRES: a job's request and the devices it holds per node, a node's GPUs
total and held per type, a partition's GPU totals (docs/http-api.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_api_auth
from prometheus_client import generate_latest
from test_api_auth import Api
from test_gres_views import K80_2, TESLA2, gpus

from flurm.api.metrics import Metrics
from flurm.protocol.constants import NO_VAL
from flurm.state.cluster import Allocation
from flurm.state.gres import GresUse
from flurm.state.model import Job

CONF = """
ClusterName=apitest
SlurmctldHost=localhost
GresTypes=gpu
NodeName=n1 NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 Gres=gpu:tesla:2 State=UNKNOWN
NodeName=n2 NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 Gres=gpu:k80:2 State=UNKNOWN
NodeName=n3 NodeAddr=127.0.0.1 CPUs=4 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=n[1-2] MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=n3 MaxTime=INFINITE State=UP
AuthAltParameters=jwt_key={key}
"""


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setattr(test_api_auth, "CONF", CONF)
    a = Api(tmp_path)
    cluster = a.ctl.cluster
    cluster.nodes["n1"].gres_inv = {"gpu": gpus(*(t.type or "" for t in TESLA2.topo))}
    cluster.nodes["n2"].gres_inv = {"gpu": gpus(*(t.type or "" for t in K80_2.topo))}
    # job 1: --gpus-per-node=1 -N2, untyped, got device 1 of n1 and device 0 of n2
    run(
        a, 1, ("n1", "n2"), ((GresUse("gpu", None, 1, (1,)),), (GresUse("gpu", None, 1, (0,)),)), "gres:gpu:1"
    )
    return a


def run(
    api: Api, job_id: int, nodes: tuple[str, ...], uses: tuple[tuple[GresUse, ...], ...], per_node: str
) -> Job:
    cluster = api.ctl.cluster
    job = Job(job_id=job_id, name="wrap", user_id=0, group_id=0, partition="gpu", tres_per_node=per_node)
    job.time_limit = NO_VAL
    cluster.add_job(job)
    n = len(nodes)
    cluster.start_job(job, Allocation(nodes, ((0,),) * n, (1,) * n, (0,) * n, uses), 1_795_696_400)
    return job


def test_job_shows_request_and_devices(api: Api) -> None:
    status, job, _ = api.call("GET", "/api/jobs/1")
    assert status == 200
    assert job["tres_per_node"] == "gres:gpu:1" and job["tres_per_job"] is None
    assert job["gres"] == "gpu:tesla:1,gpu:k80:1"  # as scontrol show job -d prints JOB_GRES
    assert job["gpus"] == 2
    assert job["gres_nodes"] == [
        {"node": "n1", "gres": [{"name": "gpu", "type": "tesla", "count": 1, "indexes": [1]}]},
        {"node": "n2", "gres": [{"name": "gpu", "type": "k80", "count": 1, "indexes": [0]}]},
    ]


def test_nodes_show_gpus_total_and_held(api: Api) -> None:
    status, body, _ = api.call("GET", "/api/nodes")
    assert status == 200
    nodes = {n["name"]: n for n in body["nodes"]}
    n1 = nodes["n1"]
    assert n1["gres"] == "gpu:tesla:2"
    assert (n1["gpus"], n1["alloc_gpus"]) == (2, 1)
    assert n1["gres_usage"] == [{"name": "gpu", "type": "tesla", "total": 2, "used": 1, "used_indexes": [1]}]
    assert (nodes["n3"]["gpus"], nodes["n3"]["alloc_gpus"], nodes["n3"]["gres_usage"]) == (0, 0, [])


def test_partitions_show_gpu_totals(api: Api) -> None:
    status, body, _ = api.call("GET", "/api/partitions")
    assert status == 200
    parts = {p["name"]: (p["total_gpus"], p["alloc_gpus"]) for p in body["partitions"]}
    assert parts == {"debug": (4, 2), "gpu": (4, 2), "cpu": (0, 0)}


def test_metrics_count_gpus(api: Api) -> None:
    text = metrics_text(api)
    assert 'flurm_node_gpus{node="n1",type="tesla"} 2.0' in text
    assert 'flurm_node_gpus_allocated{node="n1",type="tesla"} 1.0' in text
    assert 'flurm_node_gpus_allocated{node="n2",type="k80"} 1.0' in text
    assert 'node="n3"' not in text.split("flurm_node_gpus")[1]  # a node without GPUs has no series
    assert 'flurm_partition_gpus{partition="gpu"} 4.0' in text
    assert 'flurm_partition_gpus_allocated{partition="gpu"} 2.0' in text
    assert 'flurm_partition_gpus{partition="cpu"} 0.0' in text
    # the job ends: its devices are free again
    cluster = api.ctl.cluster
    cluster.release(cluster.jobs[1])
    text = metrics_text(api)
    assert 'flurm_node_gpus_allocated{node="n1",type="tesla"} 0.0' in text
    assert 'flurm_partition_gpus_allocated{partition="gpu"} 0.0' in text


def metrics_text(api: Api) -> str:
    """What /metrics serves: the exposition of a registry with the controller's collector."""
    return generate_latest(Metrics(api.ctl, None).registry).decode()
