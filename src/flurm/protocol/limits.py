"""The largest message body flurm reads for each request type, checked before the body is read.

slurmctld reads whatever a length prefix announces, up to MAX_MSG_SIZE (1 GiB), into memory before
it looks at the header. flurm reads the header first (its own bound: ``frame.MAX_HEADER_SIZE``) and
refuses a body larger than its type can need, so a peer makes flurm hold at most this table's value
per connection, and the server's connection caps bound the connections.

The sizes are what a real peer can send, with room to spare: a batch script up to
SchedulerParameters=max_script_size, the submitter's environment (SLURM sets no limit; exec() alone
allows 2 MiB by default), the job descriptor's other strings (slurmctld's ``_test_job_desc_fields``
caps them at 1-128 KiB each, the submit line at 1 MiB).
"""

from __future__ import annotations

from dataclasses import dataclass

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN

KIB = 1024
MIB = 1024 * KIB

# SchedulerParameters=max_script_size when not set (slurmctld job_mgr.c)
DEFAULT_MAX_SCRIPT_SIZE = 4 * MIB
ENVIRONMENT_ALLOWANCE = 16 * MIB
JOB_DESC_FIELDS = 4 * MIB  # every string of a job descriptor but script and environment, argv included
NODE_LISTS = 1 * MIB  # requests naming nodes: hostlists, written out node by node for thousands of nodes
SLURMD_REPORT = 1 * MIB  # what slurmd and slurmstepd report: completions with accounting, prolog results
NODE_REGISTRATION = 4 * MIB  # a node's registration: gres, features, running steps
SMALL_REQUEST = 64 * KIB  # fixed-size fields and a few short strings
# slurmdbd's changes to associations, QOS and users: one record per association a sacctmgr command
# touched (an account of thousands of users)
ACCOUNTING_UPDATES = 16 * MIB
UNKNOWN_TYPE = 4 * KIB  # a type flurm does not speak: enough to read it and answer


_FIXED: dict[int, int] = {
    MsgType.REQUEST_UPDATE_JOB: JOB_DESC_FIELDS,
    MsgType.REQUEST_RESOURCE_ALLOCATION: JOB_DESC_FIELDS + ENVIRONMENT_ALLOWANCE,
    MsgType.REQUEST_JOB_WILL_RUN: JOB_DESC_FIELDS + ENVIRONMENT_ALLOWANCE,
    MsgType.REQUEST_JOB_STEP_CREATE: NODE_LISTS,
    MsgType.REQUEST_UPDATE_NODE: NODE_LISTS,
    MsgType.REQUEST_CREATE_NODE: NODE_LISTS,
    MsgType.REQUEST_DELETE_NODE: NODE_LISTS,
    MsgType.REQUEST_HET_JOB_ALLOCATION: JOB_DESC_FIELDS + ENVIRONMENT_ALLOWANCE,
    MsgType.REQUEST_CREATE_PARTITION: NODE_LISTS,
    MsgType.REQUEST_UPDATE_PARTITION: NODE_LISTS,
    MsgType.MESSAGE_NODE_REGISTRATION_STATUS: NODE_REGISTRATION,
    MsgType.REQUEST_STEP_COMPLETE: SLURMD_REPORT,
    MsgType.REQUEST_COMPLETE_BATCH_SCRIPT: SLURMD_REPORT,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION: SLURMD_REPORT,
    MsgType.MESSAGE_EPILOG_COMPLETE: SLURMD_REPORT,
    MsgType.REQUEST_COMPLETE_PROLOG: SLURMD_REPORT,
    MsgType.ACCOUNTING_UPDATE_MSG: ACCOUNTING_UPDATES,
    REQUEST_FLURM_ADMIN: SMALL_REQUEST,
}


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Per-type body size limits of received requests; ``max_script_size`` from SchedulerParameters."""

    max_script_size: int = DEFAULT_MAX_SCRIPT_SIZE

    def for_type(self, msg_type: int) -> int:
        """The largest body a request of ``msg_type`` may have."""
        # a refused heterogeneous job or crontab is read whole too, so that the client is told why
        if msg_type in (
            MsgType.REQUEST_SUBMIT_BATCH_JOB,
            MsgType.REQUEST_SUBMIT_BATCH_HET_JOB,
            MsgType.REQUEST_UPDATE_CRONTAB,
        ):
            return max(0, self.max_script_size) + JOB_DESC_FIELDS + ENVIRONMENT_ALLOWANCE
        limit = _FIXED.get(msg_type)
        if limit is not None:
            return limit
        try:
            MsgType(msg_type)
        except ValueError:
            return UNKNOWN_TYPE
        return SMALL_REQUEST
