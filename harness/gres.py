"""Ready GRES topologies for tests: fake GPUs (device nodes the launcher creates) on loopback nodes.

    from harness import gres
    from harness.loopback import cluster

    with cluster("slurmctld", **gres.two_gpu_types()) as c:    # 2 nodes, tesla x2 and k80 x2
        c.sbatch("--gres=gpu:tesla:1", "--wrap", "env")

Each function returns the keyword arguments of ``cluster``/``SlurmCluster`` (and so of parity.py's
cluster_pair): nodes, cpus, node_shape and gres. Every node has 2 sockets of 2 cores (4 CPUs) and
RealMemory=1000; GPU i of a node sits on socket i (Cores=0-1 for nvidia0, Cores=2-3 for nvidia1), so
--gpus-per-socket and core binding have something to decide.
"""

from __future__ import annotations

from harness.launcher import NodeGres

SHAPE = (2, 2, 1)  # Sockets, CoresPerSocket, ThreadsPerCore: 4 CPUs
CORES = ("0-1", "2-3")  # the cores of socket 0 and socket 1


def gpu_lines(type: str = "", count: int = 2, cores: bool = True, first: int = 0) -> tuple[str, ...]:
    """gres.conf lines of ``count`` GPUs (one line per device, each with the cores of its socket),
    devices {dev}/nvidia<first>..; untyped without ``type``."""
    typed = f" Type={type}" if type else ""
    return tuple(
        f"Name=gpu{typed} File={{dev}}/nvidia{first + i}" + (f" Cores={CORES[i % 2]}" if cores else "")
        for i in range(count)
    )


def shared_lines(name: str, per_device: int, count: int = 2) -> tuple[str, ...]:
    """gres.conf lines sharing each of ``count`` GPUs ({dev}/nvidia<i>) as ``per_device`` mps or shard."""
    return tuple(f"Name={name} Count={per_device} File={{dev}}/nvidia{i}" for i in range(count))


def _kwargs(*nodes: NodeGres) -> dict[str, object]:
    return {"nodes": len(nodes), "cpus": 4, "node_shape": SHAPE, "gres": nodes}


def two_gpu_types(cores: bool = True) -> dict[str, object]:
    """compute-node-1 Gres=gpu:tesla:2, compute-node-2 Gres=gpu:k80:2 (gres.conf with Type, File, Cores)."""
    return _kwargs(
        NodeGres("gpu:tesla:2", gpu_lines("tesla", cores=cores)),
        NodeGres("gpu:k80:2", gpu_lines("k80", cores=cores)),
    )


def untyped() -> dict[str, object]:
    """Both nodes Gres=gpu:2, gres.conf without Type."""
    return _kwargs(NodeGres("gpu:2", gpu_lines()), NodeGres("gpu:2", gpu_lines()))


def with_no_consume() -> dict[str, object]:
    """two_gpu_types plus a count-only GRES that is never consumed (Gres=...,bandwidth:no_consume:4G)."""
    return _kwargs(
        NodeGres("gpu:tesla:2,bandwidth:no_consume:4G", (*gpu_lines("tesla"), "Name=bandwidth Count=4G")),
        NodeGres("gpu:k80:2,bandwidth:no_consume:4G", (*gpu_lines("k80"), "Name=bandwidth Count=4G")),
    )


def with_mps() -> dict[str, object]:
    """compute-node-1: gpu:tesla:2 with mps:200 (100 per device); compute-node-2: gpu:k80:2 alone."""
    return _kwargs(
        NodeGres(
            "gpu:tesla:2,mps:200",
            (*gpu_lines("tesla"), *shared_lines("mps", 100)),
        ),
        NodeGres("gpu:k80:2", gpu_lines("k80")),
    )


def with_shard() -> dict[str, object]:
    """compute-node-1: gpu:tesla:2 with shard:4 (2 per device); compute-node-2: gpu:k80:2 alone."""
    return _kwargs(
        NodeGres(
            "gpu:tesla:2,shard:4",
            (*gpu_lines("tesla"), *shared_lines("shard", 2)),
        ),
        NodeGres("gpu:k80:2", gpu_lines("k80")),
    )


def fewer_reported(node: int = 2) -> dict[str, object]:
    """two_gpu_types, except that compute-node-<node>'s gres.conf has one GPU of the two its Gres= says:
    its slurmd reports 1, and slurmctld drains it."""
    nodes = [NodeGres("gpu:tesla:2", gpu_lines("tesla")), NodeGres("gpu:k80:2", gpu_lines("k80"))]
    g = nodes[node - 1]
    nodes[node - 1] = NodeGres(g.gres, g.conf[:1])
    return {**_kwargs(*nodes), "may_drain": (f"compute-node-{node}",)}


def two_gpu_types_and_short_node() -> dict[str, object]:
    """two_gpu_types plus compute-node-3 with Gres=gpu:a100:2 whose gres.conf has only one of them: its
    slurmd reports 1, slurmctld sets it INVAL+DRAIN ("gres/gpu count reported lower than configured
    (1 < 2)"); a type of its own, so that no job for tesla or k80 waits on it. One cluster for
    placement, pending reasons and the mismatch."""
    return {
        **_kwargs(
            NodeGres("gpu:tesla:2", gpu_lines("tesla")),
            NodeGres("gpu:k80:2", gpu_lines("k80")),
            NodeGres("gpu:a100:2", gpu_lines("a100", count=1)),
        ),
        "may_drain": ("compute-node-3",),
    }
