"""The one protocol-version gate: which SLURM protocol versions flurm speaks, which it accepts from whom,
and what differs on the wire between them. Every version decision asks this module.

flurm serves the releases sites run, each peer in its own version: SLURM 22.05 (0x2600), 24.11 (0x2A00)
and 26.05 (0x2D00), and it still reads the headers of 21.08 and 20.11 (slurmctld 22.05 accepted those).
Each connection is answered in the version its request came in; each slurmd is talked to in the version
it registered with. A release in between (23.02, 23.11, 24.05, 25.05, 25.11) is refused at the header
with SLURM_PROTOCOL_VERSION_ERROR: its layouts are not flurm's.

A body codec speaks 22.05 (and the older layouts it knows, :func:`check_layout`); it speaks a newer
release only once its layout was compared with that release's packer and the class says so in
``NEWER_LAYOUTS`` (:func:`check_body`): a body whose newer layout nobody checked is refused, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flurm.protocol.constants import (
    PROTOCOL_VERSION,
    SLURM_20_11_PROTOCOL_VERSION,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_23_02_PROTOCOL_VERSION,
    SLURM_23_11_PROTOCOL_VERSION,
    SLURM_24_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_25_05_PROTOCOL_VERSION,
    SLURM_25_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    SlurmRC,
)
from flurm.protocol.wire import DecodeError, EncodeError

# The version flurm sends where no peer's version is known, and the layout of its own saved state.
SPOKEN = PROTOCOL_VERSION
# The releases flurm serves, newest first: clients, slurmd and a source slurmctld of each.
SERVED = (SLURM_26_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_22_05_PROTOCOL_VERSION)
# The served releases newer than flurm's own (a body codec lists those it speaks in NEWER_LAYOUTS).
NEWER = tuple(v for v in SERVED if v > SPOKEN)
# Every protocol version whose header and hash rules flurm knows, newest first.
KNOWN = (*SERVED, SLURM_21_08_PROTOCOL_VERSION, SLURM_20_11_PROTOCOL_VERSION)

RELEASE_NAMES = {
    SLURM_26_05_PROTOCOL_VERSION: "26.05",
    SLURM_25_11_PROTOCOL_VERSION: "25.11",
    SLURM_25_05_PROTOCOL_VERSION: "25.05",
    SLURM_24_11_PROTOCOL_VERSION: "24.11",
    SLURM_24_05_PROTOCOL_VERSION: "24.05",
    SLURM_23_11_PROTOCOL_VERSION: "23.11",
    SLURM_23_02_PROTOCOL_VERSION: "23.02",
    SLURM_22_05_PROTOCOL_VERSION: "22.05",
    SLURM_21_08_PROTOCOL_VERSION: "21.08",
    SLURM_20_11_PROTOCOL_VERSION: "20.11",
}


def release_name(version: int) -> str:
    """The SLURM release of a protocol version ("24.11"), or its number when flurm does not know it."""
    return RELEASE_NAMES.get(version) or f"{version >> 8}<<8 ({version:#06x})"


class VersionError(DecodeError):
    """The peer speaks a protocol version flurm does not (for this message or this peer)."""

    rc = SlurmRC.SLURM_PROTOCOL_VERSION_ERROR


@dataclass(frozen=True, slots=True)
class Accepted:
    """The versions accepted from one kind of peer: the known ones from ``oldest`` to ``newest``."""

    what: str
    oldest: int
    newest: int = SPOKEN

    @property
    def versions(self) -> frozenset[int]:
        return frozenset(v for v in KNOWN if self.oldest <= v <= self.newest)

    def accepts(self, version: int) -> bool:
        return version in KNOWN and self.oldest <= version <= self.newest

    def check(self, version: int) -> None:
        """Raise :class:`VersionError` unless ``version`` is accepted."""
        if not self.accepts(version):
            raise VersionError(f"{self.what}: protocol version {version:#06x} is not supported")


# A message's header, from any peer (client, slurmd, slurmctld).
RPC_PEERS = Accepted("message", SLURM_MIN_PROTOCOL_VERSION, SERVED[0])
# slurmctld's saved state (StateSaveLocation/job_state), read at takeover: what each served release writes.
STATE_FILES = Accepted("job_state", SLURM_22_05_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION)


# slurmdbd's protocol: the releases whose DBD message layouts flurm's codecs write and read, newest first
# (protocol/messages/dbd_*.py). A connection to slurmdbd announces the first and steps down until slurmdbd
# takes one (accounting/client.py): slurmdbd reads a connection in the version its client announced.
DBD_SPOKEN = (SLURM_26_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_22_05_PROTOCOL_VERSION)
# what the DBD body codecs name in NEWER_LAYOUTS (each checks the version itself: check_dbd or its table)
DBD_NEWER = frozenset(v for v in DBD_SPOKEN if v > SPOKEN)


def persist_version(requested: int) -> int:
    """The version a persistent connection opened in ``requested`` speaks: as slurmctld caps the request
    at its own, the newest release flurm serves not newer than it (an older one stays as asked)."""
    return next((v for v in SERVED if v <= requested), requested)


def check_dbd(version: int, what: str) -> None:
    """The gate of the DBD body codecs whose layout is the same in every release of DBD_SPOKEN."""
    if version not in DBD_SPOKEN:
        raise VersionError(
            f"{what}: protocol version {version:#06x} ({release_name(version)}) is not supported"
        )


def check_header(version: int) -> None:
    """The gate of every received message's header (VersionError, answered with that rc)."""
    RPC_PEERS.check(version)


def check_layout(version: int, minimum: int, what: str, newer: tuple[int, ...] = ()) -> None:
    """Raise unless ``version`` is one whose layout of ``what`` a codec knows: ``minimum`` to SPOKEN, and
    the newer releases it names."""
    if not (minimum <= version <= SPOKEN or version in newer):
        raise VersionError(
            f"{what}: protocol version {version:#06x} is not supported",
            rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR,
        )


def check_body(cls: Any, version: int) -> None:
    """The gate of every body codec: a release newer than flurm's own only where the class's layout was
    checked against that release (its ``NEWER_LAYOUTS``)."""
    if version > SPOKEN and version not in getattr(cls, "NEWER_LAYOUTS", ()):
        raise VersionError(
            f"{cls.__name__}: protocol version {version:#06x} ({release_name(version)}) is not supported",
            rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR,
        )


def require_22_05_decode(version: int, what: str) -> None:
    """For bodies flurm reads in 22.05's layout only."""
    if version != SLURM_22_05_PROTOCOL_VERSION:
        raise VersionError(f"{what}: protocol version {version:#06x} is not supported (only 0x2600)")


def require_22_05_encode(version: int, what: str) -> None:
    """For bodies flurm writes in 22.05's layout only."""
    if version != SLURM_22_05_PROTOCOL_VERSION:
        raise EncodeError(
            f"{what}: protocol version {version:#06x} is not supported (only 0x2600)",
            rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR,
        )


# Per-version differences of the header and the auth hash.


def header_has_msg_index(version: int) -> bool:
    """Headers before 22.05 carry a u16 (msg_index) between flags and msg_type."""
    return version < SLURM_22_05_PROTOCOL_VERSION


def replies_without_auth(version: int) -> bool:
    """From 24.11 slurmctld and slurmd answer a request without an auth section (header flag
    SLURM_NO_AUTH_CRED): the requester opened the connection and trusts it."""
    return version >= SLURM_24_11_PROTOCOL_VERSION


def knows_no_auth_flag(version: int) -> bool:
    """SLURM_NO_AUTH_CRED (header flag 0x40) exists from 23.11; before, that bit means nothing."""
    return version >= SLURM_23_11_PROTOCOL_VERSION


def hash_type1_little_endian(version: int) -> bool:
    """Up to 21.08 the type-1 ("none") hash names msg_type in host order (little-endian), not network order,
    and every message carries that hash whatever the configured hash plugin."""
    return version <= SLURM_21_08_PROTOCOL_VERSION


def served_version_of_release(release: str | None) -> int | None:
    """The protocol version flurm talks to a daemon of ``release`` ("24.11.5", as a slurmd registers
    with), or None when it is not a served release (or not known yet)."""
    if not release:
        return None
    major_minor = ".".join(release.split(".")[:2])
    return next((v for v in SERVED if RELEASE_NAMES[v] == major_minor), None)
