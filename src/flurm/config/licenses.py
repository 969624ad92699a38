"""The license text of SLURM 22.05, for slurm.conf's ``Licenses=`` and a job's ``--licenses``.

slurmctld's licenses.c _build_license_list: ``name[:count]`` items separated by ``,`` or ``;``, a
name without count counting 1, a name given twice counting the sum; whitespace in a name or a count
that is not a number makes the text invalid (slurm.conf: "Invalid configured licenses: ...", fatal to
slurmctld; a job: ESLURM_INVALID_LICENSES, "Invalid license specification").
"""

from __future__ import annotations

import re

from flurm.protocol.constants import SlurmRC
from flurm.protocol.errors import FlurmError

_COUNT = re.compile(r"\s*[+-]?\d+")


class LicenseError(FlurmError, ValueError):
    """A license text slurmctld refuses (a job: ESLURM_INVALID_LICENSES, "Invalid license specification")."""

    rc = SlurmRC.ESLURM_INVALID_LICENSES


def parse(text: str | None) -> dict[str, int]:
    """Name -> count, in the order first named; {} for no text."""
    out: dict[str, int] = {}
    if not text:
        return out
    for token in re.split(r"[,;]", text):
        if not token:
            continue
        name, colon, number = token.partition(":")
        if any(c.isspace() for c in name):
            raise LicenseError(text)
        count = 1
        if colon:  # strtol: leading blanks and a sign allowed, nothing after the digits
            if number and not _COUNT.fullmatch(number):
                raise LicenseError(text)
            count = int(number) if number else 0
        if count < 0:
            raise LicenseError(text)
        out[name] = out.get(name, 0) + count
    return out
