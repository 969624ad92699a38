"""PrologFlags: the prolog every node of a job runs at allocation, and the extern step.

With ``PrologFlags=Alloc`` (``Contain`` and ``X11`` imply it) slurmctld sends REQUEST_LAUNCH_PROLOG
to every node of a job when it starts (node_scheduler.c launch_prolog); slurmd runs the prolog (and,
with Contain, starts the job's extern step that pam_slurm_adopt, X11 and accounting rely on), then
answers with REQUEST_COMPLETE_PROLOG. A slurmd given a batch job or a step of a job whose prolog it
was never told to run waits 20 s for it, then fails the launch.

Until every node reported, the job's reason is WAIT_PROLOG ("Prolog"), unless ``NoHold``; with
``DeferBatch`` the batch script is sent only then.
"""

from __future__ import annotations

from enum import IntFlag


class PrologFlag(IntFlag):
    """slurm.h PROLOG_FLAG_*."""

    ALLOC = 0x0001
    NOHOLD = 0x0002
    CONTAIN = 0x0004
    SERIAL = 0x0008
    X11 = 0x0010
    DEFER_BATCH = 0x0020


# each keyword of PrologFlags= with what it turns on (read_config.c prolog_str2flags)
_KEYWORDS = {
    "alloc": PrologFlag.ALLOC,
    "contain": PrologFlag.ALLOC | PrologFlag.CONTAIN,
    "deferbatch": PrologFlag.DEFER_BATCH,
    "nohold": PrologFlag.ALLOC | PrologFlag.NOHOLD,  # _validate_and_set_defaults adds Alloc
    "serial": PrologFlag.SERIAL,
    "x11": PrologFlag.ALLOC | PrologFlag.CONTAIN | PrologFlag.X11,
}


def parse_prolog_flags(text: str | None) -> PrologFlag:
    """The flags of a PrologFlags= value (keywords in any case, comma separated); an unknown keyword
    raises ValueError (slurmctld refuses to start: "PrologFlags invalid")."""
    flags = PrologFlag(0)
    for word in (text or "").split(","):
        if not word:
            continue
        try:
            flags |= _KEYWORDS[word.lower()]
        except KeyError:
            raise ValueError(f"Invalid PrologFlag: {word}") from None
    return flags


__all__ = ["PrologFlag", "parse_prolog_flags"]
