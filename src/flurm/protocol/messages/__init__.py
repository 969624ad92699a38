"""Message bodies of SLURM 22.05, one dataclass per layout; importing this package registers them all."""

from flurm.protocol.messages import (  # noqa: F401  (imported for their @register side effect)
    admin,
    common,
    config_files,
    job_control,
    job_desc,
    job_info,
    nodes,
    partitions,
    slurmd,
    steps,
    tokens,
)
from flurm.protocol.messages.base import Body, body_class, decode_body, encode_body

__all__ = ["Body", "body_class", "decode_body", "encode_body"]
