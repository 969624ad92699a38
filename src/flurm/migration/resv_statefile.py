"""slurmctld's saved reservations (22.05, 24.11, 26.05): ``StateSaveLocation/resv_state``.

slurmctld writes the file on every reservation change (and on its way out); the wire never carries
two things it holds: each reservation's id and ``top_suffix``, the counter a generated name
(``<account|user>_<n>``) takes its number from. At a takeover this is what a reservation created,
changed or deleted after flurm's last mirror pass looks like, and where the counter comes from.

The file is one pack buffer (the wire's primitives, see :mod:`flurm.protocol.wire`)::

    str "PROTOCOL_VERSION", u16 protocol version, time written, u32 top_suffix,
    then one reservation after another up to the end of the file.

A reservation opens with the same fields, in the same order, as on the wire (read into the
protocol's :class:`ReservationRecord`; the start time is the first window's, as ``scontrol`` shows
it), then what slurmctld keeps for itself: the association list, the boot time, the reserved cores
(a job_resources block), the duration asked for, the id, the previous and current start times, the
idle start time, the TRES string and the ctld flags; from 24.11 the GRES it holds (none, or the file
is refused). Each release's file is read in its own layout (the leading fields as the wire codec of
that release reads them, job_resources too); anything malformed or truncated raises
:class:`DecodeError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from flurm.protocol import versions
from flurm.protocol.constants import SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION
from flurm.protocol.messages.job_info import JobResources
from flurm.protocol.messages.reservations import ReservationRecord
from flurm.protocol.wire import DecodeError, Reader

__all__ = [
    "RESV_STATE_FILE",
    "RESV_STATE_OLD_FILE",
    "RESV_STATE_VERSION",
    "ResvStateFile",
    "SavedReservation",
    "decode_resv_state",
    "read_resv_state",
    "resv_state_path",
]

RESV_STATE_VERSION = "PROTOCOL_VERSION"  # the header string of resv_state (reservation.c)
RESV_STATE_FILE = "resv_state"
RESV_STATE_OLD_FILE = "resv_state.old"
MAX_RESV_COUNT = 9999  # ids run 1..9999 and no two reservations share one: no more records than that
DEFAULT_PURGE_COMP_TIME = 300  # _load_reservation_state: a saved 0 is read as 300

# ctld_flags (slurmctld.h RESV_CTLD_*)
CTLD_ACCT_NOT = 0x1
CTLD_USER_NOT = 0x2
CTLD_FULL_NODE = 0x4


@dataclass(frozen=True, slots=True)
class SavedReservation:
    """One reservation of resv_state (slurmctld_resv_t as saved).

    ``record`` is what the wire shows (``record.start_time`` the first window's start);
    ``start_time`` the current window's start, ``duration`` minutes as asked (NO_VAL: an end time
    was given), ``resv_id`` the number the reservation took from ``top_suffix``.
    """

    record: ReservationRecord
    assoc_list: str | None
    boot_time: int
    core_resources: JobResources | None
    duration: int
    resv_id: int
    start_time_prev: int
    start_time: int
    idle_start_time: int
    tres_str: str | None
    ctld_flags: int

    @property
    def name(self) -> str:
        return self.record.name or ""

    @property
    def user_not(self) -> bool:
        return bool(self.ctld_flags & CTLD_USER_NOT)

    @property
    def account_not(self) -> bool:
        return bool(self.ctld_flags & CTLD_ACCT_NOT)


@dataclass(frozen=True, slots=True)
class ResvStateFile:
    version_str: str
    protocol_version: int
    time: int  # when slurmctld wrote the file
    top_suffix: int  # the last id slurmctld gave a reservation (the next name counts on from it)
    reservations: tuple[SavedReservation, ...]

    def reservation(self, name: str) -> SavedReservation:
        for r in self.reservations:
            if r.name == name:
                return r
        raise KeyError(name)


def decode_resv_state(data: bytes | bytearray | memoryview) -> ResvStateFile:
    """Decode a whole resv_state file. Raises DecodeError on anything that is not a 22.05 file."""
    r = Reader(data)
    version_str = r.string()
    if version_str != RESV_STATE_VERSION:
        raise DecodeError(f"resv_state: header {version_str!r} is not {RESV_STATE_VERSION!r}")
    protocol_version = r.u16()
    if not versions.STATE_FILES.accepts(protocol_version):  # the served releases' layouts
        raise DecodeError(f"resv_state: protocol version {protocol_version:#06x} is not supported")
    written = r.time()
    top_suffix = r.u32()
    if top_suffix > MAX_RESV_COUNT:
        raise DecodeError(f"resv_state: top_suffix {top_suffix} is above {MAX_RESV_COUNT}")
    resvs: list[SavedReservation] = []
    names: set[str] = set()
    while not r.at_end():
        if len(resvs) == MAX_RESV_COUNT:
            raise DecodeError(f"resv_state: more than {MAX_RESV_COUNT} reservations")
        start = r.pos
        try:
            resv = _reservation(r, protocol_version)
        except DecodeError as e:
            raise DecodeError(f"resv_state: reservation {len(resvs)} at offset {start}: {e}") from None
        if resv.name in names:
            raise DecodeError(f"resv_state: reservation {resv.name} saved twice")
        names.add(resv.name)
        resvs.append(resv)
    return ResvStateFile(version_str, protocol_version, written, top_suffix, tuple(resvs))


def _reservation(r: Reader, version: int = SLURM_22_05_PROTOCOL_VERSION) -> SavedReservation:
    # the record starts as on the wire (_pack_resv with internal=true writes the same leading fields)
    record = ReservationRecord.unpack_leading(r, version)
    if not record.name:
        raise DecodeError("a reservation without a name")
    if not record.purge_comp_time:
        record = replace(record, purge_comp_time=DEFAULT_PURGE_COMP_TIME)
    name = record.name
    assoc_list = r.string()
    boot_time = r.u32()
    core_resources = JobResources.unpack_optional(r, version)
    duration = r.u32()
    resv_id = r.u32()
    if resv_id > MAX_RESV_COUNT:
        raise DecodeError(f"reservation {name}: id {resv_id} is above {MAX_RESV_COUNT}")
    start_time_prev, start_time, idle_start_time = r.time(), r.time(), r.time()
    tres_str = r.string()
    ctld_flags = r.u32()
    if version >= SLURM_24_11_PROTOCOL_VERSION and r.u16():
        # the GRES a reservation holds (gres_job_state_pack without details): flurm reserves none
        raise DecodeError(f"reservation {name}: GRES in a reservation are not supported")
    return SavedReservation(
        record=record,
        assoc_list=assoc_list,
        boot_time=boot_time,
        core_resources=core_resources,
        duration=duration,
        resv_id=resv_id,
        start_time_prev=start_time_prev,
        start_time=start_time,
        idle_start_time=idle_start_time,
        tres_str=tres_str,
        ctld_flags=ctld_flags,
    )


def resv_state_path(state_dir: str | os.PathLike[str]) -> Path | None:
    """The file slurmctld itself would load: ``resv_state``, else ``resv_state.old``; None if it
    has neither (slurmctld never had a reservation to save)."""
    base = Path(state_dir)
    for name in (RESV_STATE_FILE, RESV_STATE_OLD_FILE):
        if (base / name).exists():
            return base / name
    return None


def read_resv_state(path: str | os.PathLike[str]) -> ResvStateFile | None:
    """Read a resv_state file, or the one in a StateSaveLocation directory (None: it has none)."""
    p: Path | None = Path(path)
    if p is not None and p.is_dir():
        p = resv_state_path(p)
    if p is None:
        return None
    return decode_resv_state(p.read_bytes())
