"""Message bodies of SLURM 22.05, one dataclass per layout; importing this package registers them all."""

from flurm.protocol.messages import (  # noqa: F401  (imported for their @register side effect)
    admin,
    common,
    config_files,
    config_info,
    control,
    crontab,
    dbd_assoc,
    debug,
    job_control,
    job_desc,
    job_info,
    job_lookups,
    jobctl,
    licenses,
    nodes,
    partitions,
    persist,
    reports,
    reservations,
    slurmd,
    stats,
    steps,
    tokens,
    triggers,
)
from flurm.protocol.messages.base import Body, body_class, decode_body, encode_body

__all__ = ["Body", "body_class", "decode_body", "encode_body"]
