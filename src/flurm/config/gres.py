"""GresTypes and the counts of a NodeName line's ``Gres=``, as slurmctld reads them (gres.c).

* :func:`context_names`: the GRES names GresTypes makes known, in slurmctld's order (gres_init: a
  shared name, ``mps`` or ``shard``, listed before ``gpu`` moves after the other names; a duplicate is
  dropped with "Duplicate plugin gres/NAME ignored"); what makes slurmctld stop is a :class:`GresTypesError`.
* :func:`configured`: one name's count, types and no_consume in a ``Gres=`` value (_get_gres_cnt). Nothing
  in ``Gres=`` stops slurmctld: an item whose count it cannot read is logged ("Bad GRES configuration:
  ITEM") and ends the count of that name, a word where the count should be is a type of count 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flurm.protocol.errors import FlurmError

SHARED_NAMES = ("mps", "shard")  # gres_id_shared: their allocation is a share of a GPU

# suffix_mult(): the multipliers a GRES count may end with (case does not matter)
_SUFFIX = {
    "": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "kb": 1000,
    "m": 1 << 20,
    "mib": 1 << 20,
    "mb": 1000**2,
    "g": 1 << 30,
    "gib": 1 << 30,
    "gb": 1000**3,
    "t": 1 << 40,
    "tib": 1 << 40,
    "tb": 1000**4,
    "p": 1 << 50,
    "pib": 1 << 50,
    "pb": 1000**5,
}


class GresTypesError(FlurmError):
    """GresTypes that slurmctld refuses to start with (the message is its fatal())."""


def plugin_id(name: str) -> int:
    """gres_build_id(): the name's bytes added in, each shifted by 0, 8, 16, 24, 0... bits (u32)."""
    value, shift = 0, 0
    for ch in name.encode():
        value = (value + (ch << shift)) & 0xFFFFFFFF
        shift = (shift + 8) % 32
    return value


def context_names(
    gres_types: str | None, select_type: str | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the names in slurmctld's order, the errors it logs); raises :class:`GresTypesError`.

    ``select_type`` is SelectType as slurm.conf sets it (None: unset, where 22.05's default select/linear
    would refuse mps and shard but 24.11's select/cons_tres takes them: left to the release)."""
    words = [w for w in (gres_types or "").split(",") if w]
    ordered: list[str] = []
    held: list[str] = []  # shared names met before gpu
    have_gpu = False
    for word in words:
        if word in SHARED_NAMES and not have_gpu:
            held.append(word)
            continue
        if word == "gpu":
            have_gpu = True
        ordered.append(word)
    if held:
        if not have_gpu:
            raise GresTypesError("GresTypes: gres/'shared' requires that gres/gpu also be configured")
        ordered.extend(held)
    names: list[str] = []
    errors: list[str] = []
    for word in ordered:
        if word in names:
            errors.append(f"Duplicate plugin gres/{word} ignored")
        else:
            names.append(word)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if plugin_id(a) == plugin_id(b):
                raise GresTypesError(
                    f"Gres: Duplicate plugin_id {plugin_id(a)} for gres/{a} and gres/{b}, "
                    "change gres name for one of them"
                )
    if any(w in SHARED_NAMES for w in words) and select_type not in (None, "select/cons_tres"):
        raise GresTypesError("Use of shared gres requires the use of select/cons_tres")
    return tuple(names), tuple(errors)


def suffix_mult(suffix: str) -> int | None:
    return _SUFFIX.get(suffix.lower())


def _strtoll(text: str) -> tuple[int, str]:
    """C's strtoll(text, &end, 10) for what a count holds: (value, the rest)."""
    i = 0
    while i < len(text) and text[i] in " \t\n\v\f\r":
        i += 1
    start = i
    if i < len(text) and text[i] in "+-":
        i += 1
    digits = i
    while i < len(text) and text[i].isdigit():
        i += 1
    if i == digits:
        return 0, text
    return int(text[start:i]), text[i:]


@dataclass(slots=True)
class Configured:
    """What ``Gres=`` gives one GRES name (gres_cnt_config, the types' type_cnt_avail, no_consume)."""

    count: int = 0
    types: dict[str, int] = field(default_factory=dict)  # in the order first met
    no_consume: bool = False
    bad: str | None = None  # the item slurmctld logs "Bad GRES configuration: ..." for


def configured(gres: str | None, name: str) -> Configured:
    """_get_gres_cnt() and gres_add_type() for one name."""
    out = Configured()
    if not gres:
        return out
    prefix = name + ":"
    for tok in (t for t in gres.split(",") if t):
        if tok == name:
            out.count = 1
            break
        if not tok.startswith(prefix):
            continue
        if "(" in tok:  # socket binding information is ignored
            tok = tok[: tok.rindex("(")]
        colon = tok.rindex(":")
        after = tok[colon + 1 :]
        if not after[:1].isdigit():  # a type and no count ("gpu:tesla"): 1
            count = 1
        else:
            value, rest = _strtoll(after)
            mult = suffix_mult(rest)
            if mult is None:
                out.bad = tok
                break
            count = value * mult
            tok = tok[:colon]
        out.count += count
        for sub in (s for s in tok.split(":")[1:] if s):
            if sub.lower() == "no_consume":
                out.no_consume = True
            else:
                out.types[sub] = out.types.get(sub, 0) + count
    return out
