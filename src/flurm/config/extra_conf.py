"""SLURM's secondary configuration files (cgroup.conf, acct_gather.conf, ...): flat key=value files.

They sit beside slurm.conf (get_extra_conf_path: slurm.conf's directory) and are read with the same
parser as slurm.conf (parse_config.c s_p_parse_file), against a table of the keys the file may hold:
one ``Key=Value`` per line, ``#`` comments, keys case-insensitive, the last value of a key wins. What
the daemons refuse to start with, flurm refuses too: a key not in the table, text after the value,
a value its type does not accept (the errors say what SLURM logs before it gives up).
"""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Mapping
from typing import Literal

from flurm.config.lexer import BLANKS, is_blank, logical_lines, match_pair
from flurm.config.slurmconf import ConfigError
from flurm.config.values import BadValue, convert

__all__ = ["ExtraKind", "Values", "beside", "parse_float", "read_extra_conf"]

ExtraKind = Literal["str", "u16", "u32", "u64", "bool", "float"]
Values = dict[str, str | int | bool | float]

# what C strtof() takes whole: a decimal or hex float, inf/infinity or nan, with optional sign and blanks
_STRTOF = re.compile(
    r"[ \t\n\r\f\v]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?i:inf(?:inity)?|nan))\Z"
)
_FLOAT32_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]


def beside(slurm_conf_path: str, name: str) -> str:
    """get_extra_conf_path: ``name`` in slurm.conf's directory."""
    return os.path.join(os.path.dirname(slurm_conf_path), name)


def parse_float(key: str, value: str) -> float:
    """s_p_handle_float: strtof over the whole value (UNLIMITED/INFINITE are infinity), as a C float."""
    if _STRTOF.match(value) is None:
        if value.lower() in ("unlimited", "infinite"):
            return math.inf
        raise BadValue(f"{key} value ({value}) is not a valid number")
    text = value.strip(BLANKS)
    number = float.fromhex(text) if "x" in text.lower() else float(text)
    if math.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise BadValue(f"{key} value ({value}) is out of range")
    return float(struct.unpack(">f", struct.pack(">f", number))[0])


def _typed(key: str, value: str, kind: ExtraKind) -> str | int | bool | float:
    if kind == "float":
        return parse_float(key, value)
    return convert(key, value, kind)


def read_extra_conf(
    path: str, options: Mapping[str, ExtraKind], *, ignore_unknown: bool = False
) -> Values | None:
    """The typed values of the file at ``path`` by lower-case key, or None if there is no such file.

    ``options`` maps each key the file may hold (any case) to its type. Raises ConfigError where
    s_p_parse_file fails; with ``ignore_unknown`` (its ignore_new) other keys and text after a value
    are passed over.
    """
    table = {key.lower(): (key, kind) for key, kind in options.items()}
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(path, None, f"unable to read: {exc.strerror or exc}") from exc
    values: Values = {}
    for logical in logical_lines(text):
        line = logical.text
        if is_blank(line):
            continue
        pair = match_pair(line)
        if pair is None:
            if ignore_unknown:
                continue
            raise ConfigError(path, logical.line, f'Parse error: "{line.strip(BLANKS)}"')
        known = table.get(pair.key.lower())
        if known is None:
            if ignore_unknown:
                continue
            raise ConfigError(path, logical.line, f"Parsing error at unrecognized key: {pair.key}")
        if not is_blank(line[pair.value_end :]) and not ignore_unknown:
            raise ConfigError(path, logical.line, f'Parse error: "{line[pair.value_end :].strip(BLANKS)}"')
        try:
            values[pair.key.lower()] = _typed(known[0], pair.value, known[1])
        except BadValue as exc:
            raise ConfigError(path, logical.line, str(exc)) from exc
    return values
