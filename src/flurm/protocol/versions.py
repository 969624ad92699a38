"""The one protocol-version gate: which SLURM protocol versions flurm speaks, which it accepts from whom,
and what differs on the wire between them. Every version decision asks this module.

slurmctld 22.05 (``check_header_version``) accepts a message in its own version and the two before it:
22.05 (0x2600), 21.08 (0x2500), 20.11 (0x2400). flurm speaks 22.05 and answers a peer in the version it
used. A message body's codec knows the layouts from some version on (:func:`check_layout`); a saved
state file is read in 22.05's layout only.
"""

from __future__ import annotations

from dataclasses import dataclass

from flurm.protocol.constants import (
    PROTOCOL_VERSION,
    SLURM_20_11_PROTOCOL_VERSION,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_MIN_PROTOCOL_VERSION,
    SlurmRC,
)
from flurm.protocol.wire import DecodeError, EncodeError

# The version flurm sends (and the layout of bodies it caches already encoded).
SPOKEN = PROTOCOL_VERSION
# Every protocol version SLURM has that flurm knows the header and hash rules of, newest first.
KNOWN = (SLURM_22_05_PROTOCOL_VERSION, SLURM_21_08_PROTOCOL_VERSION, SLURM_20_11_PROTOCOL_VERSION)


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


# A message's header, from any peer (client, slurmd, slurmctld): slurmctld's rule.
RPC_PEERS = Accepted("message", SLURM_MIN_PROTOCOL_VERSION)
# slurmctld's saved state (StateSaveLocation/job_state), read at takeover: only what 22.05 writes.
STATE_FILES = Accepted("job_state", SLURM_22_05_PROTOCOL_VERSION, SLURM_22_05_PROTOCOL_VERSION)


def check_header(version: int) -> None:
    """The gate of every received message's header (VersionError, answered with that rc)."""
    RPC_PEERS.check(version)


def check_layout(version: int, minimum: int, what: str) -> None:
    """Raise unless ``version`` is one whose layout of ``what`` a codec knows (``minimum`` to SPOKEN)."""
    if not minimum <= version <= SPOKEN:
        raise VersionError(
            f"{what}: protocol version {version:#06x} is not supported",
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


def hash_type1_little_endian(version: int) -> bool:
    """Up to 21.08 the type-1 ("none") hash names msg_type in host order (little-endian), not network order,
    and every message carries that hash whatever the configured hash plugin."""
    return version <= SLURM_21_08_PROTOCOL_VERSION
