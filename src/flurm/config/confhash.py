"""The hash slurm.conf readers compare (``scontrol show config``: ``HASH_VAL = Match``).

SLURM's parser (parse_config.c _compute_hash_val) runs every line it reads, in reading order, through
a CRC-16/CCITT-style shift register kept in a 32-bit integer: an included file's lines come right
after the Include line. The bytes are C ``char`` (signed on x86-64), so a byte above 0x7F is
sign-extended before the shift; a line is hashed up to its first NUL (strlen). slurmctld sends the
value it computed when it read the file; scontrol computes its own and prints ``Match`` when both
agree.
"""

from __future__ import annotations

__all__ = ["conf_hash"]

_MASK = 0xFFFFFFFF


def conf_hash(data: bytes, value: int = 0) -> int:
    """``value`` updated with the bytes of ``data``, line by line as fgets() reads them (newline
    included), each up to its first NUL as strlen() stops there."""
    pos = 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        end = len(data) if newline < 0 else newline + 1
        line = data[pos:end]
        pos = end
        for byte in line.split(b"\0", 1)[0]:
            char = byte - 256 if byte > 0x7F else byte  # C char is signed
            value = (value ^ (char << 8)) & _MASK
            for _ in range(8):
                value = ((value << 1) ^ 4129 if value & 0x8000 else value << 1) & _MASK
    return value
