"""Typed slurm.conf values the way SLURM's parse_value.c converts them.

Numbers are read like C ``strtoul(value, &end, 0)``: ``0x`` is hex and a leading ``0`` is octal
(``CPUs=010`` is 8, ``CPUs=08`` is an error); 32- and 64-bit fields take a ``k``/``K`` suffix
(times 1024); ``INFINITE`` and ``UNLIMITED`` give the all-ones value of the field; a leading ``-``
is refused. Booleans are yes/up/true/1 and no/down/false/0, any case.
"""

from __future__ import annotations

import re
from typing import Literal

from flurm.protocol.constants import INFINITE, INFINITE16, INFINITE64
from flurm.protocol.errors import FlurmError

__all__ = ["BadValue", "Kind", "convert", "parse_bool", "parse_uint"]

Kind = Literal["str", "u16", "u32", "u64", "bool"]

_STRTOUL = re.compile(r"[ \t\n\r\f\v]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_LIMITS = {
    "u16": (0xFFFF, INFINITE16),
    "u32": (0xFFFFFFFF, INFINITE),
    "u64": (0xFFFFFFFFFFFFFFFF, INFINITE64),
}
_ULONG_MAX = 0xFFFFFFFFFFFFFFFF
_TRUE = frozenset({"yes", "up", "true", "1"})
_FALSE = frozenset({"no", "down", "false", "0"})


class BadValue(FlurmError, ValueError):
    """A value SLURM's converters refuse; the message is SLURM's wording."""


def parse_uint(key: str, value: str, kind: Literal["u16", "u32", "u64"]) -> int:
    limit, infinite = _LIMITS[kind]
    m = _STRTOUL.match(value)
    if m is None:
        number, rest = 0, value
    else:
        digits = m.group(2)
        if digits.startswith(("0x", "0X")):
            number = int(digits, 16)
        elif len(digits) > 1 and digits.startswith("0"):
            number = int(digits, 8)
        else:
            number = int(digits)
        rest = value[m.end() :]
    if kind != "u16" and rest[:1] in ("k", "K"):
        number *= 1024
        rest = rest[1:]
    if rest:
        if value.lower() in ("unlimited", "infinite"):
            return infinite
        shown = f'"{value}"' if kind == "u16" else f"({value})"
        raise BadValue(f"{key} value {shown} is not a valid number")
    if number > _ULONG_MAX:
        raise BadValue(f"{key} value ({value}) is out of range")
    if value.startswith("-"):
        raise BadValue(f"{key} value ({value}) is less than zero")
    if number > limit:
        raise BadValue(f"{key} value ({value}) is greater than {limit}")
    return number


def parse_bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadValue(f'"{value}" is not a valid option for "{key}"')


def convert(key: str, value: str, kind: Kind) -> str | int | bool:
    if kind == "str":
        return value
    if kind == "bool":
        return parse_bool(key, value)
    return parse_uint(key, value, kind)
