"""A node's GRES inventory as slurmctld keeps it: from slurm.conf, from its slurmd's registration, and the
strings clients show of it (gres.c: _node_config_init, _node_config_validate, _build_node_gres_str,
_node_gres_used). Pure: no I/O.

* :func:`inventory`: ``Node.gres_inv`` from the node's ``Gres=`` before its slurmd registered.
* :func:`validate`: what the slurmd reported (the records of its ``gres_info`` blob, in its gres.conf
  order) folded into the inventory: the count found, the devices (bits) in slurmd's order, their types,
  cores and links; the reason slurmctld drains the node with when it reports less than slurm.conf says.
  What jobs hold (alloc, bits) is kept: a node that registers again keeps its running jobs' devices.
* :func:`gres_text`: the node's ``Gres=`` (scontrol, sinfo %G) as slurmctld rebuilds it: per reported type
  with the sockets of its cores (``gpu:tesla:2(S:0-1)``), counts scaled (``bandwidth:4G``).
* :func:`gres_used`: ``GresUsed=`` (scontrol -d, sinfo -O gresused) as the slurmctld of each release
  writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flurm.config import gres as gres_conf
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)
from flurm.state.gres import MAX_BITS, GresTopo, NodeGres

GRES_CONF_HAS_FILE = 1 << 1  # gres_slurmd_conf_t config_flags: File= (or MultipleFiles=) configured
GRES_CONF_HAS_TYPE = 1 << 2  # Type= configured


@dataclass(frozen=True, slots=True)
class Reported:
    """One record of a slurmd's registration (gres_slurmd_conf_t as gres_node_config_pack sends it)."""

    name: str
    type: str | None
    count: int
    config_flags: int = 0
    cores: str | None = None  # "cpus": the node-local cores (abstract ids) it is close to, e.g. "0-1"
    links: str | None = None

    @property
    def has_file(self) -> bool:
        return bool(self.config_flags & GRES_CONF_HAS_FILE)

    @property
    def has_type(self) -> bool:
        return bool(self.config_flags & GRES_CONF_HAS_TYPE)


# -- from slurm.conf -----------------------------------------------------------------------------------


def inventory(gres: str | None, names: Sequence[str]) -> dict[str, NodeGres]:
    """_node_config_init() for every name GresTypes lists that the node's ``Gres=`` gives a count."""
    out: dict[str, NodeGres] = {}
    for name in names:
        c = gres_conf.configured(gres, name)
        if c.count or c.types or c.no_consume:
            out[name] = NodeGres(name, c.count, dict(c.types), no_consume=c.no_consume)
    return out


def config_text(inv: Mapping[str, NodeGres], names: Sequence[str]) -> str | None:
    """The Gres= slurmctld 22.05 shows before the node registered (gres_node_reconfig at start-up: built
    from slurm.conf alone, no sockets): ``gpu:tesla:1,gpu:x2:1`` for ``gpu:tesla:x2``, no_consume dropped."""
    return gres_text(inv, names, sockets=0, cores_per_socket=0)


def reconfigured(old: Mapping[str, NodeGres], gres: str | None, names: Sequence[str]) -> dict[str, NodeGres]:
    """gres_node_reconfig(): slurm.conf's new Gres= for a node that keeps what its slurmd reported and
    what its jobs hold. A GRES with devices keeps its count (slurmctld: "Attempt to change gres/NAME Count
    on node ... invalid with File configuration")."""
    out = inventory(gres, names)
    for name, g in out.items():
        before = old.get(name)
        if before is None:
            continue
        if before.bit_count and g.configured and g.configured != before.configured:
            g.configured, g.configured_types = before.configured, dict(before.configured_types)
        g.found, g.topo, g.bit_count = before.found, before.topo, before.bit_count
        g.alloc, g.type_alloc, g.bit_alloc = before.alloc, before.type_alloc, before.bit_alloc
    return out


def update(inv: dict[str, NodeGres], gres: str, names: Sequence[str]) -> str | None:
    """``scontrol update nodename=... gres=...`` (gres_node_reconfig): the counts of ``gres`` for every name
    GresTypes lists; what slurmd reported and jobs hold stays. None, or slurmctld's error when the count of
    a GRES with devices would change (nothing is changed then)."""
    for name in names:
        g = inv.get(name)
        if g is None or not g.bit_count:
            continue
        count = gres_conf.configured(gres, name).count
        if count and count != g.configured:
            return (
                f"Attempt to change gres/{name} Count on node %s from {g.configured} to {count} invalid "
                "with File configuration"
            )
    for name in names:
        c = gres_conf.configured(gres, name)
        g = inv.get(name)
        if g is None:
            if c.count or c.types:
                inv[name] = NodeGres(name, c.count, dict(c.types), no_consume=c.no_consume)
            continue
        types = dict.fromkeys(g.configured_types, 0)
        for t, n in c.types.items():
            types[t] = types.get(t, 0) + n
        g.configured_types = types
        g.no_consume = g.no_consume or c.no_consume
        if c.count != g.configured:
            g.configured = c.count
            if g.bit_count and not g.shared:
                g.bit_count = min(c.count, MAX_BITS)
    return None


# -- from the registration ---------------------------------------------------------------------------


def validate(
    inv: dict[str, NodeGres],
    names: Sequence[str],
    reported: Sequence[Reported],
    *,
    sockets: int,
    cores_per_socket: int,
    config_overrides: bool,
) -> str | None:
    """gres_node_config_validate(): fold the slurmd's records into ``inv``; the reason slurmctld gives the
    node (and marks its registration invalid with) when one GRES does not match slurm.conf, else None."""
    reasons: list[str] = []
    core_cnt = max(0, sockets * cores_per_socket)
    for name in names:
        g = inv.get(name)
        recs = [r for r in reported if r.name == name]
        if g is None:
            continue  # slurm.conf gives the node none of it: what slurmd found is ignored
        _validate_one(g, recs, core_cnt, config_overrides, reasons)
    return reasons[0] if reasons else None


def _validate_one(
    g: NodeGres, recs: list[Reported], core_cnt: int, config_overrides: bool, reasons: list[str]
) -> None:
    gres_type = f"gres/{g.name}"
    found = sum(r.count for r in recs)
    topo_cnt = len(recs) if any(r.cores or r.type for r in recs) else 0
    if g.configured > found:
        reasons.append(f"{gres_type} count reported lower than configured ({found} < {g.configured})")
    found = min(found, g.configured)
    updated = False
    if g.found != found:
        if g.found is not None and g.alloc:
            reasons.append(f"{gres_type} count changed and jobs are using them ({g.found} != {found})")
        else:
            g.found = found
            updated = True
    if not updated and any(not count for count in g.configured_types.values()):
        updated = True
    if not updated and topo_cnt and not g.topo and g.found == found:
        updated = True  # a count known without the devices (imported from slurmctld): build them now
    if not updated:
        return
    has_file = any(r.has_file for r in recs)
    has_type = any(r.has_type for r in recs)
    dev_cnt = topo_cnt if g.shared else found
    if topo_cnt == 0 or (has_file and dev_cnt == 0):
        g.topo = ()
    if has_file and dev_cnt and topo_cnt and (topo_cnt != len(g.topo) or g.shared):
        g.topo = _topology(g, recs[:topo_cnt], dev_cnt, core_cnt)
    elif not has_file and has_type:
        for r in recs:
            if r.type is not None:
                g.configured_types[r.type] = r.count
    if has_file and dev_cnt:
        bits = topo_cnt if g.shared else min(g.configured, MAX_BITS)
        g.bit_count = min(bits, MAX_BITS)
    else:
        g.bit_count = 0
    if len(recs) > 1 and g.configured_types and g.topo:
        reason = _trim_types(g, gres_type)
        if reason is not None:
            reasons.append(reason)
            return
    if not config_overrides and (g.found or 0) < g.configured:
        reasons.append(f"{gres_type} count too low ({g.found or 0} < {g.configured})")
    elif config_overrides and g.topo and g.found != g.configured:
        g.topo = ()  # "configured for N resources but M found, ignoring topology support"


def _topology(g: NodeGres, recs: list[Reported], dev_cnt: int, core_cnt: int) -> tuple[GresTopo, ...]:
    """The device groups, one per record in slurmd's order, with their bits (indexes in the node's
    bitmap of this GRES: consecutive per record; for mps/shard one bit per GPU record)."""
    out: list[GresTopo] = []
    index = 0
    # "has CPUs configured for only some of the records": a record without Cores= after one with them
    # makes every record without a core list (or with one that did not fit) close to all cores
    some_cores = any(not r.cores and any(p.cores for p in recs[:i]) for i, r in enumerate(recs))
    for r in recs:
        cores = _cores(r.cores, core_cnt) if r.cores else None
        if cores is None and some_cores:
            cores = tuple(range(core_cnt))
        if g.shared:
            bits: tuple[int, ...] = (index,)
            index += 1
        else:
            take = max(0, min(r.count, dev_cnt - index))
            bits = tuple(range(index, index + take))
            index += take
        out.append(GresTopo(r.type, r.count, bits, cores, r.links))
    return tuple(out)


def _cores(text: str, core_cnt: int) -> tuple[int, ...] | None:
    """bit_unfmt() of a core list ("0-1,4") into a bitmap of core_cnt; None where it does not fit."""
    cores: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            first, last = int(lo), int(hi or lo)
            if first < 0 or last < first or last >= core_cnt:
                return None
            cores.update(range(first, last + 1))
    except ValueError:
        return None
    return tuple(sorted(cores))


def _trim_types(g: NodeGres, gres_type: str) -> str | None:
    """_valid_gres_types(): each configured type's devices are capped at its configured count; too few
    of one is the reason."""
    topo = list(g.topo)
    for type_name, want in g.configured_types.items():
        got = 0
        for i, t in enumerate(topo):
            if t.type != type_name:
                continue
            if got + t.count > want:
                topo[i] = GresTopo(t.type, max(0, want - got), t.bits, t.cores, t.links, t.unique_id)
            got += topo[i].count
        if got < want:
            g.topo = tuple(topo)
            return f"{gres_type}:{type_name} count too low ({got} < {want})"
    g.topo = tuple(topo)
    return None


# -- what clients see ----------------------------------------------------------------------------------


def _scaled(count: int) -> str:
    """_get_suffix(): the count in the largest power of 1024 that divides it."""
    if count == 0:
        return "0"
    for suffix, mult in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if count % mult == 0:
            return f"{count // mult}{suffix}"
    return str(count)


def bit_fmt(bits: Sequence[int]) -> str:
    """bit_fmt(): set bits as ranges ("0-1,3")."""
    out: list[str] = []
    ordered = sorted(set(bits))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def _groups(g: NodeGres) -> list[list[GresTopo]]:
    """The topology records grouped by type, in the order each type first appears."""
    groups: dict[str | None, list[GresTopo]] = {}
    for t in g.topo:
        groups.setdefault(t.type, []).append(t)
    return list(groups.values())


def gres_text(
    inv: Mapping[str, NodeGres],
    names: Sequence[str],
    *,
    sockets: int,
    cores_per_socket: int,
    version: int = SLURM_22_05_PROTOCOL_VERSION,
) -> str | None:
    """_build_node_gres_str() of the slurmctld speaking ``version``: the node's Gres= once built (None:
    nothing to show). 22.05 drops no_consume; 24.11 on writes it after the name and type."""
    items: list[str] = []
    for name in names:
        g = inv.get(name)
        if g is None or not g.configured:
            continue
        nc = ":no_consume" if g.no_consume and version >= SLURM_24_11_PROTOCOL_VERSION else ""
        if g.topo:
            for group in _groups(g):
                total = sum(t.count for t in group)
                cores: set[int] | None = None
                for t in group:
                    if t.cores is not None:
                        cores = (cores or set()) | set(t.cores)
                where = "" if cores is None else _sockets(cores, sockets, cores_per_socket)
                label = name if group[0].type is None else f"{name}:{group[0].type}"
                items.append(f"{label}{nc}:{_scaled(total)}{where}")
        elif g.configured_types:
            items.extend(f"{name}:{t}{nc}:{_scaled(n)}" for t, n in g.configured_types.items())
        else:
            items.append(f"{name}{nc}:{_scaled(g.configured)}")
    return ",".join(items) or None


def _sockets(cores: set[int], sockets: int, cores_per_socket: int) -> str:
    """_core_bitmap2str(): "(S:0-1)", the sockets holding any of the cores; "" for none."""
    hit = [
        s for s in range(sockets) if any(s * cores_per_socket + c in cores for c in range(cores_per_socket))
    ]
    return f"(S:{bit_fmt(hit)})" if hit else ""


def gres_used(inv: Mapping[str, NodeGres], names: Sequence[str], version: int) -> str | None:
    """gres_get_node_used() of the slurmctld speaking ``version``: one item per GresTypes name (22.05
    lists the names the node lacks as ``name:0``; 24.11 on leaves them out)."""
    items: list[str] = []
    for name in names:
        g = inv.get(name)
        if g is None:
            if version < SLURM_24_11_PROTOCOL_VERSION:
                items.append(f"{name}:0")
            continue
        text = _used_one(g, version, inv.get("gpu"))
        if text is not None:
            items.append(text)
    return ",".join(items) or None


def _used_one(g: NodeGres, version: int, gpu: NodeGres | None) -> str | None:
    """One name's GresUsed; ``gpu`` is the node's gres/gpu, the GRES a shared one (mps, shard) shares."""
    if version >= SLURM_24_11_PROTOCOL_VERSION and not g.configured:
        return None
    if g.topo and not g.no_consume:
        items: list[str] = []
        for group in _groups(g):
            gtype = group[0].type
            if gtype is not None:
                label = f"{g.name}:{gtype}"
            elif version >= SLURM_26_05_PROTOCOL_VERSION:
                label = g.name
            else:
                label = f"{g.name}:(null)"
            if g.shared and version >= SLURM_24_11_PROTOCOL_VERSION:
                shares = []
                used = 0
                for t in group:
                    held = sum(g.bit_alloc.get(b, 0) for b in t.bits)
                    used += held
                    # 26.05 (_xstrfmtcat_shared_gres_used): "-" where a job holds the whole GPU
                    whole = gpu is not None and any(b in gpu.bit_alloc for b in t.bits)
                    taken = not held and whole and version >= SLURM_26_05_PROTOCOL_VERSION
                    shares.append(f"{'-' if taken else held}/{t.count}")
                items.append(f"{label}:{used}({','.join(shares)})")
                continue
            bits = [b for t in group for b in t.bits if b in g.bit_alloc]
            where = f"IDX:{bit_fmt(bits)}" if bits else "IDX:N/A"
            items.append(f"{label}:{len(set(bits))}({where})")
        return ",".join(items)
    if not g.configured_types:
        return f"{g.name}:0" if g.no_consume else f"{g.name}:{g.alloc}"
    return ",".join(
        f"{g.name}:{t}:0" if g.no_consume else f"{g.name}:{t}:{g.type_alloc.get(t, 0)}"
        for t in g.configured_types
    )


# -- TRES ---------------------------------------------------------------------------------------------


def tres_names(accounting_storage_tres: str | None) -> tuple[str, ...]:
    """The GRES TRES AccountingStorageTRES lists ("gres/gpu", "gres/gpu:tesla"), in its order (slurmdbd
    numbers new TRES in the order slurmctld registers them: the order clients list them in)."""
    out: list[str] = []
    for word in (accounting_storage_tres or "").split(","):
        word = word.strip()
        if (
            word.lower().startswith("gres/")
            and len(word) > 5
            and word.lower() not in (w.lower() for w in out)
        ):
            out.append("gres/" + word[5:])
    return tuple(out)


def tres_counts(
    inv: Mapping[str, NodeGres], names: Sequence[str], *, allocated: bool
) -> list[tuple[str, int]]:
    """(TRES name, count) of the node's GRES: configured (gres_node_config_cnt: the name's configured count,
    a type's configured count) or allocated; zero counts left out as slurmctld's TRES strings do."""
    out: list[tuple[str, int]] = []
    for tres in names:
        name, _, gtype = tres[5:].partition(":")
        g = inv.get(name)
        if g is None:
            continue
        if allocated:
            count = 0 if g.no_consume else (g.type_alloc.get(gtype, 0) if gtype else g.alloc)
        else:
            count = g.configured_types.get(gtype, 0) if gtype else g.configured
        if count:
            out.append((tres, count))
    return out


def tres_text(counts: Sequence[tuple[str, int]]) -> str:
    return ",".join(f"{name}={count}" for name, count in counts)
