"""The GRES in the job and step records flurm sends slurmdbd, as slurmctld 22.05 sends them with
AccountingStorageTRES=gres/gpu,gres/gpu:tesla (slurmdbd numbers the two 1001 and 1002): a job's
tres_alloc_str counts what it holds (job_set_alloc_tres), the batch step's the GPUs of the job's first
node, an srun step's what it holds (step_set_alloc_tres), in the order of its GRES. The strings are what
real slurmctld recorded for the same jobs (tests/integration/test_parity_accounting_gres.py: sacct's
AllocTRES of each)."""

from __future__ import annotations

import asyncio
import struct
import textwrap
from pathlib import Path

from flurm.accounting.records import (
    DEFAULT_TRES_ORDER,
    AcctCluster,
    AcctIds,
    batch_step_start,
    extern_step_start,
    job_complete,
    job_start,
    job_tres_req,
    step_complete,
    step_start,
)
from flurm.auth.authenticator import FakeAuthenticator
from flurm.config.slurmconf import parse_text
from flurm.controller.steps import Step
from flurm.daemon import Daemon
from flurm.protocol.constants import NO_VAL64, MsgType
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.dbd_assoc import AddTres, GetTres, GotTres, TresRec, decode_dbd, encode_dbd
from flurm.protocol.messages.persist import PersistRc, persist_msg
from flurm.state.cluster import Allocation, Cluster
from flurm.state.gres import GresTopo, GresUse, NodeGres
from flurm.state.model import Job

T0 = 1_700_000_000
V2205 = 0x2600
CONF = """
ClusterName=c
SlurmctldHost=localhost
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageTRES=gres/gpu,gres/gpu:tesla
NodeName=n1 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:tesla:2
NodeName=n2 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:k80:2
PartitionName=debug Nodes=ALL Default=YES
"""
GPU, TESLA = 1001, 1002
TRES = (*DEFAULT_TRES_ORDER, (GPU, "gres/gpu"), (TESLA, "gres/gpu:tesla"))
IDS = AcctIds(assoc_id=2, qos_id=1)


def gpus(gtype: str) -> NodeGres:
    topo = tuple(GresTopo(gtype, 1, (i,)) for i in range(2))
    return NodeGres("gpu", 2, {gtype: 2}, found=2, topo=topo, bit_count=2)


def make_cluster() -> Cluster:
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node, gtype in zip(c.node_list, ("tesla", "k80"), strict=True):
        node.registered = True
        node.gres_inv = {"gpu": gpus(gtype)}
    return c


def start(c: Cluster, job_id: int, uses: dict[str, tuple[GresUse, ...]], **kw: object) -> Job:
    job = Job(
        job_id=job_id, name="wrap", user_id=0, group_id=0, partition="debug", script="#!/bin/sh\n", **kw
    )  # type: ignore[arg-type]
    c.add_job(job)
    nodes = tuple(uses)
    alloc = Allocation(
        nodes, tuple((0,) for _ in nodes), tuple(1 for _ in nodes), (0,) * len(nodes), tuple(uses.values())
    )
    c.start_job(job, alloc, T0)
    return job


def step(job: Job, uses: tuple[tuple[GresUse, ...], ...]) -> Step:
    nodes = job.nodes[: len(uses)]
    return Step(
        step_id=0,
        nodes=nodes,
        tids=tuple((i,) for i in range(len(nodes))),
        task_dist=1,
        cores=tuple((0,) for _ in nodes),
        cpu_count=len(nodes),
        cpus_per_task=1,
        mem=(0,) * len(nodes),
        flags=0,
        start_time=T0 + 1,
        gres_alloc=uses,
    )


def test_a_tesla_job_counts_gres_gpu_and_its_type() -> None:
    c = make_cluster()
    acct = AcctCluster.from_cluster(c, TRES)
    job = start(c, 1, {"n1": (GresUse("gpu", "tesla", 1, (0,)),)}, tres_per_node="gres:gpu:tesla:1")
    alloc = f"1=1,3={NO_VAL64},4=1,5=1,{GPU}=1,{TESLA}=1"
    assert job_start(job, acct, IDS).tres_alloc_str == alloc
    assert extern_step_start(job, acct, IDS).tres_alloc_str == alloc
    assert batch_step_start(job, acct, IDS).tres_alloc_str == f"1=1,2=0,4=1,{GPU}=1,{TESLA}=1"
    srun = step(job, ((GresUse("gpu", "tesla", 1, (0,)),),))
    assert step_start(job, srun, acct, IDS).tres_alloc_str == f"1=1,2=0,4=1,{GPU}=1,{TESLA}=1"
    job.end_time = T0 + 5
    assert job_complete(job, acct, IDS).tres_alloc_str == alloc
    # the request, from the job's ReqTRES (the TRES names compared whatever their case)
    job.tres_req = "cpu=1,node=1,billing=1,gres/gpu=1,gres/gpu:Tesla=1"
    assert job_tres_req(job, acct) == f"1=1,4=1,5=1,{GPU}=1,{TESLA}=1"


def test_a_k80_job_counts_gres_gpu_only_and_a_step_what_it_holds() -> None:
    c = make_cluster()
    acct = AcctCluster.from_cluster(c, TRES)
    two = (GresUse("gpu", "k80", 2, (0, 1)),)
    job = start(c, 2, {"n2": two}, tres_per_node="gres:gpu:k80:2")
    assert job_start(job, acct, IDS).tres_alloc_str == f"1=1,3={NO_VAL64},4=1,5=1,{GPU}=2"
    assert batch_step_start(job, acct, IDS).tres_alloc_str == f"1=1,2=0,4=1,{GPU}=2"
    srun = step(job, ((GresUse("gpu", "k80", 1, (0,)),),))
    assert step_start(job, srun, acct, IDS).tres_alloc_str == f"1=1,2=0,4=1,{GPU}=1"


def test_a_job_on_both_types() -> None:
    # -N2 --gpus-per-node=1: a tesla on n1 and a k80 on n2; the batch step has the first node's tesla
    c = make_cluster()
    acct = AcctCluster.from_cluster(c, TRES)
    uses = {"n1": (GresUse("gpu", None, 1, (0,)),), "n2": (GresUse("gpu", None, 1, (0,)),)}
    job = start(c, 3, uses, tres_per_node="gres:gpu:1", min_nodes=2)
    assert job_start(job, acct, IDS).tres_alloc_str == f"1=2,3={NO_VAL64},4=2,5=2,{GPU}=2,{TESLA}=1"
    assert batch_step_start(job, acct, IDS).tres_alloc_str == f"1=1,2=0,4=1,{GPU}=1,{TESLA}=1"
    srun = step(job, ((GresUse("gpu", "tesla", 1, (0,)),), (GresUse("gpu", "k80", 1, (0,)),)))
    assert step_start(job, srun, acct, IDS).tres_alloc_str == f"1=2,2=0,4=2,{GPU}=2,{TESLA}=1"
    job.end_time, job.acct_energy = T0 + 5, 0
    rec = step_complete(job, srun, acct, IDS, jobacct=None, now=T0 + 5, last_step=True)
    assert rec.job_tres_alloc_str is None  # the job is not finished


def test_without_the_gres_tres_nothing_changes() -> None:
    c = make_cluster()
    acct = AcctCluster.from_cluster(c)
    job = start(c, 4, {"n1": (GresUse("gpu", "tesla", 1, (0,)),)})
    assert job_start(job, acct, IDS).tres_alloc_str == f"1=1,3={NO_VAL64},4=1,5=1"
    assert batch_step_start(job, acct, IDS).tres_alloc_str == "1=1,2=0,4=1"


# -- the TRES slurmdbd lacks are added (slurmctld's _init_tres) ------------------------------------------


class FakeDbd:
    """The connection's request(), answering DBD_ADD_TRES with success and DBD_GET_TRES with its list."""

    version = V2205

    def __init__(self, tres: list[TresRec]) -> None:
        self.tres = tres
        self.asked: list[object] = []

    async def request(self, msg: bytes) -> bytes:
        (msg_type,) = struct.unpack_from(">H", msg)
        body = decode_dbd(msg_type, msg[2:], self.version)
        self.asked.append(body)
        if isinstance(body, AddTres):
            for rec in body.items or ():
                self.tres.append(TresRec(id=1001 + len(self.tres) - 8, type=rec.type, name=rec.name))
            return persist_msg(MsgType.PERSIST_RC, PersistRc(rc=0, ret_info=DbdMsgType.DBD_ADD_TRES), V2205)
        assert isinstance(body, GetTres)
        msg_type, data = encode_dbd(GotTres(tuple(self.tres)), self.version)
        return struct.pack(">H", msg_type) + data


def test_the_gres_tres_are_added_to_slurmdbd_and_numbered_by_it(tmp_path: Path) -> None:
    fixed = [
        TresRec(id=i, type=n.split("/")[0], name=n.partition("/")[2] or None) for i, n in DEFAULT_TRES_ORDER
    ]
    conf = CONF.replace("gres/gpu:tesla", "gres/gpu:Tesla")
    daemon = Daemon(parse_text(textwrap.dedent(conf)), FakeAuthenticator(), state_dir=tmp_path)
    sink = daemon.accounting
    assert sink is not None
    try:
        assert sink.acct.tres == DEFAULT_TRES_ORDER  # until slurmdbd answered
        dbd = FakeDbd(list(fixed))
        sink.tres_cache.tres = {t.id: t for t in fixed}  # what the association queries brought
        asyncio.run(sink._add_tres(dbd))  # type: ignore[arg-type]
        add, get = dbd.asked
        assert add == AddTres((TresRec(type="gres", name="gpu"), TresRec(type="gres", name="gpu:tesla")))
        assert isinstance(get, GetTres) and get.cond.type_list is not None
        assert "gres/gpu:tesla" in get.cond.type_list
        assert sink.acct.tres == TRES
        # at the next connection slurmdbd has them: nothing added
        dbd.asked.clear()
        asyncio.run(sink._add_tres(dbd))  # type: ignore[arg-type]
        assert dbd.asked == [] and sink.acct.tres == TRES
    finally:
        daemon.controller.signer.close()
        sink.signer.close()
