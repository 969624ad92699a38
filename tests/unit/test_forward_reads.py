"""Which reads of a plain user flurm forwards to slurmctld (signed as SlurmUser) when rolled back:
those slurmctld would answer the user as it answers SlurmUser."""

from __future__ import annotations

from flurm.config import parse_text
from flurm.migration.forward import read_refusal
from flurm.protocol.constants import MsgType, ShowFlags, SlurmRC

HEAD = "ClusterName=test\nSlurmctldHost=ctl(10.0.0.1)\nNodeName=n1 CPUs=2\n"
OPEN = parse_text(HEAD + "PartitionName=debug Nodes=ALL Default=YES\n")
HIDDEN = parse_text(
    HEAD + "PartitionName=debug Nodes=ALL Default=YES\nPartitionName=h Nodes=ALL Hidden=YES\n"
)
PRIVATE = parse_text(HEAD + "PrivateData=jobs\nPartitionName=debug Nodes=ALL Default=YES\n")
DENIED = SlurmRC.ESLURM_ACCESS_DENIED
READS = (
    MsgType.REQUEST_JOB_INFO,
    MsgType.REQUEST_JOB_INFO_SINGLE,
    MsgType.REQUEST_NODE_INFO,
    MsgType.REQUEST_PARTITION_INFO,
)


def test_plain_reads_are_forwarded() -> None:
    for msg_type in (*READS, MsgType.REQUEST_PING, MsgType.REQUEST_BUILD_INFO):
        assert read_refusal(msg_type, 0, OPEN) == 0


def test_other_requests_are_not() -> None:
    # not reads: operator-only types (the mode table's ADMIN) and unknown ones
    for msg_type in (MsgType.REQUEST_SHUTDOWN, MsgType.REQUEST_RECONFIGURE, 0x7777):
        assert read_refusal(msg_type, 0, OPEN) == DENIED


def test_hidden_partitions_and_private_data() -> None:
    assert read_refusal(MsgType.REQUEST_JOB_INFO, 0, HIDDEN) == DENIED
    assert read_refusal(MsgType.REQUEST_JOB_INFO, ShowFlags.ALL, HIDDEN) == 0
    assert read_refusal(MsgType.REQUEST_PING, 0, HIDDEN) == 0
    assert read_refusal(MsgType.REQUEST_JOB_INFO, ShowFlags.ALL, PRIVATE) == DENIED
    assert read_refusal(MsgType.REQUEST_NODE_INFO, 0, PRIVATE) == 0


def test_reads_answered_per_caller_are_not_forwarded_for_a_plain_user() -> None:
    # slurmctld answers these for the caller (their crontab, a script only its owner may read) or
    # lets only an operator use an option of them (sdiag -r, slurmd's configless files): as SlurmUser
    # the answer would differ, so they are not forwarded as they came (test_forward.py: their rules)
    for msg_type in (
        MsgType.REQUEST_CRONTAB,
        MsgType.REQUEST_BATCH_SCRIPT,
        MsgType.REQUEST_STATS_INFO,
        MsgType.REQUEST_CONFIG,
    ):
        assert read_refusal(msg_type, 0, OPEN) == DENIED
    for msg_type in (MsgType.REQUEST_LICENSE_INFO, MsgType.REQUEST_TOPO_INFO, MsgType.REQUEST_JOB_END_TIME):
        assert read_refusal(msg_type, 0, OPEN) == 0
    assert read_refusal(MsgType.REQUEST_RESERVATION_INFO, 0, OPEN) == 0
