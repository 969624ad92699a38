"""The GRES a job and its steps hold, as slurmd receives them: credential and prolog/epilog records, and
how a step takes its GRES from its job's allocation.

A job's allocation records (state/gres_alloc.py: one per GRES name and node type, a count and a device
bitmap per node of the job) are the credential's ``job_gres_list`` (packed without the step details);
slurmstepd ORs the bitmaps of one plugin on its node into CUDA_VISIBLE_DEVICES, SLURM_JOB_GPUS,
GPU_DEVICE_ORDINAL, SLURM_GPUS_ON_NODE and the device cgroup.

A step's allocation is one record per job record it took from, counted over the job's nodes
(``node_in_use`` says which); it is the step credential's ``step_gres_list`` (SLURM_STEP_GPUS and the
task's CUDA_VISIBLE_DEVICES). A batch credential carries none.

The prolog and epilog get ``GresEpilogInfo`` records of the gpu, mps and shard plugins only: 22.05 builds
them from the job's requests (one per request), 24.11 and 26.05 from its allocation (one per type).

Steps: a step that names no GRES asks what its job asked (``tres_per_*`` copied from the job); one
with ``--gres=none`` asks none; a step's own request is checked against the job's (the texts of
_validate_step_counts), then each step node gives the step what the job holds there and other steps
(but ``--overlap=force`` ones) do not.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from flurm.protocol.constants import (
    INFINITE64,
    NO_CONSUME_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SlurmRC,
)
from flurm.protocol.messages.credential import GresEpilogInfo, GresJobState, GresStepState
from flurm.protocol.wire import Bitmap
from flurm.state import gres
from flurm.state.gres import GresError, GresUse, NodeGres, NodeUses
from flurm.state.gres_alloc import (
    AllocRecord,
    Inventories,
    alloc_records,
    bitmap_size,
    untyped_names,
)

# plugins whose prep_build_env gives the prolog/epilog something (nic's gives nothing)
PREP_NAMES = frozenset({"gpu", "mps", "shard"})


def _pack_bits(rec: AllocRecord) -> tuple[Bitmap | None, ...]:
    return tuple(rec.bits)


def job_gres_states(
    nodes: Sequence[str],
    uses: Sequence[NodeUses],
    inventories: Inventories,
    version: int = SLURM_22_05_PROTOCOL_VERSION,
    untyped: Collection[str] = (),
) -> tuple[GresJobState, ...]:
    """The credential's job_gres_list for a peer of ``version``: the job's allocation records, packed
    without step details. A shared GRES (mps, shard) record keeps its count per device as gres_per_node
    in 22.05; 24.11 and 26.05 leave that 0 and send per-bit counts instead (only they pack them)."""
    newer = version >= SLURM_24_11_PROTOCOL_VERSION
    out = []
    for rec in alloc_records(nodes, uses, inventories, untyped):
        per_bit = tuple(rec.per_bit) if newer and any(p is not None for p in rec.per_bit) else None
        out.append(
            GresJobState(
                plugin_id=gres.plugin_id(rec.name),
                gres_per_node=0 if newer else rec.shared_per_node,
                total_gres=rec.total,
                type_name=rec.type,
                node_cnt=len(nodes),
                gres_cnt_node_alloc=tuple(rec.counts),
                gres_bit_alloc=_pack_bits(rec),
                gres_per_bit_alloc=per_bit,
            )
        )
    return tuple(out)


def prep_infos(
    nodes: Sequence[str],
    uses: Sequence[NodeUses],
    inventories: Inventories,
    version: int,
    requests: Sequence[tuple[str, str | None]] = (),
) -> tuple[GresEpilogInfo, ...]:
    """The GRES of REQUEST_LAUNCH_PROLOG and of the kill messages (gres_g_epilog_build_env /
    gres_g_prep_build_env): what the prolog and epilog set CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS from.

    22.05 builds them from the job's ``requests`` (:func:`request_keys`): a use counts for the first
    request of its name and type, else for the untyped request of its name."""
    n = len(nodes)
    if version >= SLURM_24_11_PROTOCOL_VERSION:
        recs = alloc_records(nodes, uses, inventories, untyped_names(requests))
    else:
        # 22.05: one record per request, its devices on each node
        by_req: dict[tuple[str, str | None], AllocRecord] = {
            key: AllocRecord(key[0], key[1], [0] * n, [None] * n, [None] * n) for key in requests
        }
        for i in range(n):
            inv = inventories.get(nodes[i], {})
            for u in uses[i] if i < len(uses) else ():
                key = (u.name, u.type) if (u.name, u.type) in by_req else (u.name, None)
                if key not in by_req:
                    key = (u.name, u.type)
                rec = by_req.get(key)
                if rec is None:
                    rec = AllocRecord(u.name, u.type, [0] * n, [None] * n, [None] * n)
                    by_req[key] = rec
                g = inv.get(u.name)
                rec.counts[i] += u.count
                if u.bits is not None and g is not None:
                    old = rec.bits[i]
                    value = (old.value if old else 0) | sum(1 << b for b in u.bits)
                    rec.bits[i] = Bitmap(bitmap_size(g, u.bits), value)
        recs = list(by_req.values())
    out = []
    for rec in recs:
        if rec.name not in PREP_NAMES:
            continue
        counts = None
        if rec.name != "gpu":
            counts = tuple(c if rec.bits[i] is not None else 0 for i, c in enumerate(rec.counts))
        out.append(GresEpilogInfo(gres.plugin_id(rec.name), n, counts, tuple(rec.bits)))
    return tuple(out)


# -- steps -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepTres:
    """A step's tres_per_* after _copy_job_tres_to_step: what it asks and shows."""

    per_step: str | None = None
    per_node: str | None = None
    per_socket: str | None = None
    per_task: str | None = None


def _strip(text: str | None, keep: object) -> str | None:
    if text is None:
        return None
    items = [t for t in text.split(",") if t and keep(t)]  # type: ignore[operator]
    return ",".join(items) or None


def _zero(item: str) -> bool:
    """An item of a count of 0 (``gres:gpu:0``), which a step drops (_clear_zero_tres)."""
    last = item.replace("=", ":").rsplit(":", 1)[-1]
    return last.isdigit() and int(last) == 0


def step_tres(
    tres_per_step: str | None,
    tres_per_node: str | None,
    tres_per_socket: str | None,
    tres_per_task: str | None,
    *,
    job_per_job: str | None,
    job_per_node: str | None,
    job_per_socket: str | None,
    job_per_task: str | None,
) -> StepTres:
    """_copy_job_tres_to_step: ``--gres=none`` drops every GRES, a step naming a GRES keeps its own
    (less zero counts), any other asks what its job asked."""
    if tres_per_node is not None and tres_per_node.lower() == "none":

        def not_gres(t: str) -> bool:
            return not t.startswith("gres")

        return StepTres(
            _strip(tres_per_step, not_gres),
            None,
            _strip(tres_per_socket, not_gres),
            _strip(tres_per_task, not_gres),
        )
    texts = (tres_per_step, tres_per_node, tres_per_socket, tres_per_task)
    if any(t and "gres" in t for t in texts):

        def nonzero(t: str) -> bool:
            return not _zero(t)

        return StepTres(*(_strip(t, nonzero) for t in texts))
    return StepTres(job_per_job, job_per_node, job_per_socket, job_per_task)


@dataclass(slots=True)
class StepGresRequest:
    """One gres_step_state of a step's request."""

    name: str
    type: str | None
    per_step: int = 0
    per_node: int = 0
    per_socket: int = 0
    per_task: int = 0
    cpus_per_gres: int = 0
    mem_per_gres: int = 0
    total: int = 0  # what it was given so far (while it is being placed)


def step_requests(
    tres: StepTres,
    cpus_per_tres: str | None,
    mem_per_tres: str | None,
    num_tasks: int,
    known_names: set[str],
) -> list[StepGresRequest]:
    """gres_step_state_validate's parse: one request per (name, type) in the order first met."""
    out: dict[tuple[str, str | None], StepGresRequest] = {}

    def take(text: str | None, attr: str) -> None:
        for name, gtype, count in gres.tres_items(text):
            if name not in known_names:
                raise GresError(f"Invalid GRES step specification {text}")
            rec = out.setdefault((name, gtype), StepGresRequest(name, gtype))
            setattr(rec, attr, count)

    take(cpus_per_tres, "cpus_per_gres")
    take(tres.per_step, "per_step")
    take(tres.per_node, "per_node")
    take(tres.per_socket, "per_socket")
    take(tres.per_task, "per_task")
    take(mem_per_tres, "mem_per_gres")
    # _merge_generic_data: an untyped record beside typed ones of its name (srun's cpus_per_tres
    # "gres:gpu:2" with --gpus=k80:1) only lends them its CPUs and memory per GRES, and goes
    for name in {n for n, t in out if t is not None}:
        generic = out.get((name, None))
        if generic is None:
            continue
        if generic.per_step or generic.per_node or generic.per_socket or generic.per_task:
            raise GresError(f"Invalid GRES step specification {name}", rc=SlurmRC.ESLURM_INVALID_GRES_TYPE)
        del out[(name, None)]
        for (n, _), rec in out.items():
            if n == name:
                rec.cpus_per_gres = rec.cpus_per_gres or generic.cpus_per_gres
                rec.mem_per_gres = rec.mem_per_gres or generic.mem_per_gres
    return list(out.values())


def check_against_job(
    reqs: Sequence[StepGresRequest], job_reqs: Sequence[gres.GresRequest], step_min_nodes: int
) -> None:
    """_validate_step_counts: a step asks no more than its job asked (ESLURM_INVALID_GRES with the
    reason srun prints)."""
    if not reqs:
        return
    if not job_reqs:
        raise GresError("Step requested GRES but job doesn't have GRES")
    for s in reqs:
        job = next((j for j in job_reqs if j.name == s.name and (s.type is None or j.type == s.type)), None)
        if job is None:
            raise GresError(f"Step requested GRES ({s.name}:{s.type or '(null)'}) not found in the job")
        if job.cpus_per_gres and s.cpus_per_gres and job.cpus_per_gres < s.cpus_per_gres:
            raise GresError(
                f"Step requested cpus_per_gres={s.cpus_per_gres} is more than the job's "
                f"cpu_per_gres={job.cpus_per_gres}"
            )
        if s.per_step:
            if step_min_nodes and s.per_step < step_min_nodes:
                raise GresError(
                    f"Step requested gres={s.name}:{s.per_step} is less than the requested min "
                    f"nodes={step_min_nodes}"
                )
            if job.per_job and job.per_job < s.per_step:
                raise GresError(
                    f"Step requested gres={s.name}:{s.per_step} is more than the job's "
                    f"gres={job.name}:{job.per_job}"
                )
        for what, mine, theirs in (
            ("gres_per_node", s.per_node, job.per_node),
            ("gres_per_socket", s.per_socket, job.per_socket),
            ("gres_per_task", s.per_task, job.per_task),
        ):
            if theirs and mine and theirs < mine:
                raise GresError(
                    f"Step requested {what}={s.name}:{mine} is more than the job's {what}={job.name}:{theirs}"
                )


@dataclass(slots=True)
class NodeOffer:
    """What the job holds on one node for a step, and what its other steps hold of it."""

    held: NodeUses  # the job's uses on this node
    taken: dict[str, set[int]] = field(default_factory=dict)  # name -> bits other steps hold
    taken_count: dict[tuple[str, str | None], int] = field(default_factory=dict)  # count-only GRES


def _matches(u: GresUse, r: StepGresRequest) -> bool:
    return u.name == r.name and (r.type is None or u.type == r.type or u.type is None)


def _typed_bits(u: GresUse, r: StepGresRequest, g: NodeGres | None) -> set[int]:
    """The devices of ``u`` a request of ``r``'s type may take (all of them for an untyped request or
    a use of that very type; else those of that type on the node)."""
    bits = set(u.bits or ())
    if r.type is None or u.type == r.type or g is None:
        return bits
    types = gres.device_types(g)
    return {b for b in bits if types.get(b) == r.type}


def node_gres_count(
    offer: NodeOffer, r: StepGresRequest, inv: Mapping[str, NodeGres], *, ignore_alloc: bool
) -> int | None:
    """_step_get_gres_cnt: how much of ``r`` the job holds on the node (less what other steps hold,
    unless ``ignore_alloc``); None if the job holds none of it there, NO_CONSUME_VAL64 for no_consume."""
    found = False
    count = 0
    for u in offer.held:
        if not _matches(u, r) or u.count == 0:
            continue
        g = inv.get(u.name)
        found = True
        if g is not None and g.no_consume:
            return NO_CONSUME_VAL64
        if u.bits is not None and not (g is not None and g.shared):
            bits = _typed_bits(u, r, g)
            count += len(bits)
            if not ignore_alloc:
                count -= len(bits & offer.taken.get(u.name, set()))
        else:
            count += u.count
            if not ignore_alloc:
                count -= offer.taken_count.get((u.name, u.type), 0)
    return max(0, count) if found else None


def min_per_node(r: StepGresRequest, last_node: bool) -> int:
    """_step_test's least count of ``r`` a node of the step must offer."""
    least = max(1, r.per_node, r.per_socket, r.per_task)
    if r.per_step and r.per_step > r.total and last_node:
        least = max(least, r.per_step - r.total)
    return least


def node_usable(
    reqs: Sequence[StepGresRequest],
    offer: NodeOffer,
    inv: Mapping[str, NodeGres],
    last_node: bool,
    *,
    ignore_alloc: bool,
) -> bool:
    """gres_step_test reduced to yes/no: can this node give each request its least count?"""
    for r in reqs:
        cnt = node_gres_count(offer, r, inv, ignore_alloc=ignore_alloc)
        if cnt is None:
            return False
        if cnt == NO_CONSUME_VAL64:
            continue
        if not (r.per_step or r.per_node or r.per_socket or r.per_task):
            continue  # no count asked: whatever the job holds (cpus/mem per GRES only)
        if min_per_node(r, last_node) > cnt:
            return False
    return True


def needed_on_node(r: StepGresRequest, tasks_on_node: int, rem_nodes: int) -> tuple[int, int]:
    """_step_get_gres_needed: (needed, max) of ``r`` on the next node; INFINITE64 = all the job holds."""
    if r.per_node:
        return r.per_node, 0
    if r.per_task:
        return r.per_task * tasks_on_node, 0
    if r.per_step and rem_nodes == 1:
        return max(0, r.per_step - r.total), 0
    if r.per_step:
        return 1, max(0, r.per_step - r.total - (rem_nodes - 1))
    return INFINITE64, 0


def alloc_on_node_cpus(
    reqs: Sequence[StepGresRequest],
    offer: NodeOffer,
    inv: Mapping[str, NodeGres],
    tasks_on_node: int,
    rem_nodes: int,
    *,
    decr_job_alloc: bool,
) -> tuple[NodeUses, int]:
    """gres_ctld_step_alloc on one node: the step's uses there, lowest free devices first, and the CPUs
    its --cpus-per-gpu give it there: each request's cpus_per_gres times what it was given on the node
    (24.11's gres_stepmgr_step_alloc total_gres_cpu_cnt, 0 without cpus_per_gres). Raises
    GresError(ESLURM_INSUFFICIENT_GRES) when the node cannot give what the step needs."""
    out: list[GresUse] = []
    cpus = 0
    for r in reqs:
        needed, max_gres = needed_on_node(r, tasks_on_node, rem_nodes)
        for u in offer.held:
            if (not needed and not max_gres) or not _matches(u, r) or u.count == 0:
                continue
            g = inv.get(u.name)
            if g is not None and g.no_consume:
                needed = 0 if needed != INFINITE64 else needed
                continue
            shared = g is not None and g.shared
            typed = _typed_bits(u, r, g)
            if u.bits is not None and not shared:
                avail = [b for b in typed if not (decr_job_alloc and b in offer.taken.get(u.name, set()))]
                have = len(avail)
            else:
                avail = []
                have = u.count
                if decr_job_alloc:
                    have -= offer.taken_count.get((u.name, u.type), 0)
            have = max(0, have)
            if needed != INFINITE64:
                have = min(have, max_gres) if (max_gres and decr_job_alloc) else min(have, needed)
            if have <= 0:
                continue
            bits: tuple[int, ...] | None = None
            if u.bits is not None and not shared:
                bits = tuple(sorted(avail)[:have])
                have = len(bits)
            elif u.bits is not None:
                bits = u.bits
            out.append(GresUse(u.name, u.type, have, bits))
            if decr_job_alloc:
                if bits is not None and not shared:
                    offer.taken.setdefault(u.name, set()).update(bits)
                else:
                    key = (u.name, u.type)
                    offer.taken_count[key] = offer.taken_count.get(key, 0) + have
            r.total += have
            cpus += have * r.cpus_per_gres
            if needed != INFINITE64:
                if max_gres and decr_job_alloc:
                    max_gres = max(0, max_gres - have)
                needed = max(0, needed - have)
        if needed and needed != INFINITE64:
            raise GresError(
                f"gres/{r.name}: step's > job's for node (gres still needed: {needed})",
                rc=SlurmRC.ESLURM_INSUFFICIENT_GRES,
            )
    return tuple(out), cpus


def step_gres_states(
    job_nodes: Sequence[str],
    step_nodes: Sequence[str],
    step_uses: Sequence[NodeUses],
    inventories: Inventories,
    version: int = SLURM_22_05_PROTOCOL_VERSION,
) -> tuple[GresStepState, ...]:
    """The step credential's step_gres_list: the step's allocation records over the job's nodes (type
    names and per-bit counts of a shared GRES only from 24.11, which packs them)."""
    newer = version >= SLURM_24_11_PROTOCOL_VERSION
    n = len(job_nodes)
    per_job_node: list[NodeUses] = [() for _ in range(n)]
    for name, uses in zip(step_nodes, step_uses, strict=False):
        if name in job_nodes:
            per_job_node[job_nodes.index(name)] = uses
    out = []
    for rec in alloc_records(job_nodes, per_job_node, inventories):
        in_use = [i for i, c in enumerate(rec.counts) if c]
        if not in_use:
            continue
        per_bit = tuple(rec.per_bit) if newer and any(p is not None for p in rec.per_bit) else None
        out.append(
            GresStepState(
                plugin_id=gres.plugin_id(rec.name),
                total_gres=rec.total,
                node_cnt=n,
                node_in_use=Bitmap.from_indexes(n, in_use),
                gres_cnt_node_alloc=tuple(rec.counts),
                gres_bit_alloc=tuple(rec.bits) if rec.has_bits else None,
                type_name=rec.type if newer else None,
                gres_per_bit_alloc=per_bit,
            )
        )
    return tuple(out)
