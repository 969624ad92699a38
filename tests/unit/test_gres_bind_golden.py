"""The GRES records flurm builds for slurmd (state/gres_bind.py) against those real slurmctld sent in the
captures of tests/golden/gres (22.05, 24.11, 26.05): the same job holding the same devices gives the same
credential records, step records and prolog/epilog records, byte for byte."""

from __future__ import annotations

import pytest
from test_gres_golden import VERSIONS, _launch, _mixed_launch, _of_type

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.credential import pack_gres_list, pack_gres_prep_list
from flurm.protocol.wire import Writer
from flurm.state import gres_bind as gb
from flurm.state.gres import GresTopo, GresUse, NodeGres

N1, N2 = "compute-node-1", "compute-node-2"


def gpus(gtype: str | None, n: int = 2) -> NodeGres:
    return NodeGres(
        "gpu", n, {gtype: n} if gtype else {}, found=n,
        topo=tuple(GresTopo(gtype, 1, (i,)) for i in range(n)), bit_count=n,
    )  # fmt: skip


def shared(name: str, per: int, n: int = 2, gtype: str | None = None) -> NodeGres:
    return NodeGres(
        name, per * n, found=per * n, topo=tuple(GresTopo(gtype, per, (i,)) for i in range(n)), bit_count=n
    )


MAIN = {N1: {"gpu": gpus("tesla")}, N2: {"gpu": gpus("a100"), "shard": shared("shard", 2)}}
MIXED_NODE = NodeGres(
    "gpu", 2, {"tesla": 1, "k80": 1}, found=2,
    topo=(GresTopo("tesla", 1, (0,)), GresTopo("k80", 1, (1,))), bit_count=2,
)  # fmt: skip
MIXED = {N1: {"gpu": MIXED_NODE}, N2: {"gpu": gpus(None)}}
SHARED = {
    N1: {"gpu": gpus("tesla"), "mps": shared("mps", 100, gtype="tesla"),
         "bandwidth": NodeGres("bandwidth", 4 << 30, no_consume=True, found=4 << 30)},
}  # fmt: skip


def same(ours: tuple[object, ...], theirs: tuple[object, ...], version: int) -> None:
    assert ours == theirs
    a, b = Writer(), Writer()
    pack_gres_list(a, ours, version)  # type: ignore[arg-type]
    pack_gres_list(b, theirs, version)  # type: ignore[arg-type]
    assert a.getvalue() == b.getvalue()


CASES = [
    # (capture, job id, nodes, uses per node)
    ("", 1, (N1, N2), ((GresUse("gpu", None, 1, (0,)),), (GresUse("gpu", None, 1, (0,)),))),
    ("", 3, (N1,), ((GresUse("gpu", "tesla", 1, (1,)),),)),
    ("", 7, (N2,), ((GresUse("shard", None, 2, (0,)),),)),
    ("mixed", 1, (N1,), ((GresUse("gpu", None, 1, (0,)),),)),
    ("mixed", 2, (N1,), ((GresUse("gpu", "k80", 1, (1,)),),)),
    ("mixed", 4, (N1, N2), ((GresUse("gpu", None, 1, (0,)),), (GresUse("gpu", None, 1, (0,)),))),
    ("shared", 1, (N1,), ((GresUse("mps", None, 50, (0,)),),)),
    ("shared", 2, (N1,), ((GresUse("gpu", None, 1, (0,)), GresUse("bandwidth", None, 1 << 30)),)),
]
INVENTORIES = {"": MAIN, "mixed": MIXED, "shared": SHARED}


@pytest.mark.parametrize("release", list(VERSIONS))
@pytest.mark.parametrize(("variant", "job_id", "nodes", "uses"), CASES)
def test_credential_and_prolog_records(
    release: str, variant: str, job_id: int, nodes: tuple[str, ...], uses: tuple[tuple[GresUse, ...], ...]
) -> None:
    version = VERSIONS[release]
    inv = INVENTORIES[variant]
    if variant == "":
        launch = _launch(release, job_id)
    elif variant == "mixed":
        launch = _mixed_launch(release, job_id)
    else:
        (launch,) = [
            b for b in _of_type(release, MsgType.REQUEST_BATCH_JOB_LAUNCH, variant) if b.job_id == job_id
        ]
    same(gb.job_gres_states(nodes, uses, inv, version), launch.credential.job_gres, version)
    prologs = [
        b
        for b in _of_type(release, MsgType.REQUEST_LAUNCH_PROLOG, variant)
        if b.credential.step_id.job_id == job_id
    ]
    assert prologs
    ours = gb.prep_infos(nodes, uses, inv, version)
    for prolog in prologs:
        assert ours == prolog.job_gres_info
        a, b = Writer(), Writer()
        pack_gres_prep_list(a, ours, version)
        pack_gres_prep_list(b, prolog.job_gres_info, version)
        assert a.getvalue() == b.getvalue()


STEP_CASES = [
    # (capture, job id, job nodes, step nodes, step uses per step node)
    ("", 1, (N1, N2), (N1, N2), ((GresUse("gpu", None, 1, (0,)),), (GresUse("gpu", None, 1, (0,)),))),
    ("", 4, (N2,), (N2,), ((GresUse("gpu", None, 1, (0,)),),)),
    ("mixed", 2, (N1,), (N1,), ((GresUse("gpu", "k80", 1, (1,)),),)),
    ("mixed", 3, (N2,), (N2,), ((GresUse("gpu", None, 1, (0,)),),)),
    ("shared", 1, (N1,), (N1,), ((GresUse("mps", None, 25, (0,)),),)),
]


@pytest.mark.parametrize("release", list(VERSIONS))
@pytest.mark.parametrize(("variant", "job_id", "job_nodes", "step_nodes", "uses"), STEP_CASES)
def test_step_records(
    release: str,
    variant: str,
    job_id: int,
    job_nodes: tuple[str, ...],
    step_nodes: tuple[str, ...],
    uses: tuple[tuple[GresUse, ...], ...],
) -> None:
    version = VERSIONS[release]
    steps = [
        b
        for b in _of_type(release, MsgType.RESPONSE_JOB_STEP_CREATE, variant)
        if b.credential.step_id.job_id == job_id
    ]
    assert steps
    ours = gb.step_gres_states(job_nodes, step_nodes, uses, INVENTORIES[variant], version)
    same(ours, steps[0].credential.step_gres, version)
