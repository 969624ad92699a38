"""Writing a copy of slurm.conf with a few top-level values replaced, everything else byte-identical.

Used to point unmodified SLURM clients at another controller port:
``render_with_overrides(text, {"SlurmctldPort": "6820"})``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flurm.config.keys import LINE_KEYS
from flurm.config.lexer import BLANKS, logical_lines, match_pair

__all__ = ["render_with_overrides"]


def _render_value(value: str) -> str:
    if value == "" or any(ch in BLANKS or ch in '#\\"' for ch in value):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError(f"cannot write {value!r} as a slurm.conf value")
        return f'"{value}"'
    return value


def render_with_overrides(text: str, overrides: Mapping[str, str]) -> str:
    """``text`` with each top-level ``Key=value`` of ``overrides`` set (keys case-insensitive).

    Every line that sets such a key in ``text`` gets the new value (only the value's characters
    change; a key continued over several lines is rewritten as one ``Key=value`` line). A key the
    text does not set is appended as ``Key=value`` at the end, where it also overrides a value set
    in an included file (the last value wins in SLURM). Values with blanks are quoted. Record keys
    (NodeName, PartitionName, SlurmctldHost, ...) cannot be overridden this way: ValueError.
    """
    wanted = {key.lower(): (key, _render_value(value)) for key, value in overrides.items()}
    for lkey, (key, _) in wanted.items():
        if lkey in LINE_KEYS:
            raise ValueError(f"{key} is a record key and cannot be overridden")
    out: list[str] = []
    done: set[str] = set()
    pos = 0
    for logical in logical_lines(text):
        pair = match_pair(logical.text)
        if pair is None or pair.key.lower() not in wanted:
            continue
        lkey = pair.key.lower()
        _, value = wanted[lkey]
        done.add(lkey)
        physical = text[logical.start : logical.end]
        if logical.line == logical.last_line and physical[: pair.value_end] == logical.text[: pair.value_end]:
            # One physical line, nothing escaped up to the value's end: swap the value's characters only.
            out.append(text[pos : logical.start])
            out.append(physical[: pair.value_start] + value + physical[pair.value_end :])
        else:
            ending = "\r\n" if physical.endswith("\r\n") else ("\n" if physical.endswith("\n") else "")
            out.append(text[pos : logical.start])
            out.append(f"{pair.key}={value}{ending}")
        pos = logical.end
    out.append(text[pos:])
    result = "".join(out)
    missing = [wanted[lkey] for lkey in wanted if lkey not in done]
    if missing:
        if result and not result.endswith("\n"):
            result += "\n"
        result += "".join(f"{key}={value}\n" for key, value in missing)
    return result
