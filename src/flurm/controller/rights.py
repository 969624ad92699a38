"""What a caller may ask of a job: slurmctld 22.05's rules on who may set which field of a job request.

One place for these rules: flurm's own submit and update handlers apply them, and so does the shadow
forwarder, which sends a client's request to slurmctld signed as SlurmUser (for whom slurmctld checks
nothing) and must therefore refuse first whatever slurmctld would refuse the client.

flurm has no accounting database, so slurmctld's three levels of privilege (root/SlurmUser, the
AdminLevel Administrator and Operator) are one here: ``privileged`` means root or SlurmUser.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from flurm.errors import SlurmError
from flurm.protocol.constants import INFINITE, NICE_OFFSET, NO_VAL, NO_VAL16, JobStateReason, SlurmRC
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.model import Job, Partition

DEFAULT_MAX_SCRIPT_SIZE = 4 * 1024 * 1024  # SchedulerParameters max_script_size
MAXPATHLEN = 4096
REBOOT_REFUSED = "rebooting of nodes is only allowed for admins"

# slurmctld's _test_job_desc_fields: the longest string it stores for each field of a job request
# (the script's limit is max_script_size). alloc_node is not here: slurmctld replaces it with the
# credential's host first.
FIELD_LIMITS: dict[str, int] = {
    "account": 1024,
    "array_inx": 1024 * 4,
    "burst_buffer": 1024 * 8,
    "comment": 1024,
    "cpu_bind": 1024 * 128,
    "cpus_per_tres": 1024,
    "dependency": 1024 * 128,
    "features": 1024,
    "cluster_features": 1024,
    "licenses": 1024,
    "mail_user": 1024,
    "mcs_label": 1024,
    "mem_bind": 1024 * 128,
    "mem_per_tres": 1024,
    "name": 1024,
    "network": 1024,
    "partition": 1024,
    "prefer": 1024,
    "qos": 1024,
    "reservation": 1024,
    "std_err": MAXPATHLEN,
    "std_in": MAXPATHLEN,
    "std_out": MAXPATHLEN,
    "submit_line": 1024 * 1024,
    "tres_bind": 1024,
    "tres_freq": 1024,
    "tres_per_job": 1024,
    "tres_per_node": 1024,
    "tres_per_socket": 1024,
    "tres_per_task": 1024,
    "wckey": 1024,
    "work_dir": MAXPATHLEN,
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a request: the uid and gid of its credential, and whether that is root or SlurmUser."""

    uid: int
    gid: int
    privileged: bool


def _too_long(text: str | None, limit: int) -> bool:
    if text is None or len(text) * 4 <= limit:
        return False  # (a character is at most 4 bytes: no need to encode short strings)
    return len(text) > limit or len(text.encode("utf-8", "surrogateescape")) > limit


def check_sizes(desc: JobDesc, max_script_size: int) -> None:
    """Refuse a request with a string longer than slurmctld stores (ESLURM_PATHNAME_TOO_LONG,
    "Pathname of a file, directory or other parameter too long"). The environment has no limit of
    its own in slurmctld, only the message's."""
    if _too_long(desc.script, max_script_size) or any(
        _too_long(getattr(desc, name), limit) for name, limit in FIELD_LIMITS.items()
    ):
        raise SlurmError(SlurmRC.ESLURM_PATHNAME_TOO_LONG)


def submission_as_caller(desc: JobDesc, caller: Caller, max_script_size: int) -> JobDesc:
    """A job request (batch or allocation) checked against who sends it, before any job id is used.

    slurmctld's _valid_id: the job runs as the credential's uid and gid; only root and SlurmUser may
    name others (a plain user gets "Invalid user id" / "Invalid group id", also for a supplementary
    group of theirs: the credential carries the one gid slurmctld accepts). Then
    validate_job_create_req: a plain user's priority other than 0 (a hold) is dropped, a negative
    nice refused; admin_comment and reboot are for root and SlurmUser; the site factor is nobody's
    to set at submission; string sizes. And _validate_job_desc: only they may choose the job id.
    Returns the request with what slurmctld fills in or drops.
    """
    user_id = caller.uid if desc.user_id == NO_VAL else desc.user_id
    group_id = caller.gid if desc.group_id == NO_VAL else desc.group_id
    if not caller.privileged:
        if user_id != caller.uid:
            raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
        if group_id != caller.gid:
            raise SlurmError(SlurmRC.ESLURM_GROUP_ID_MISSING)
    priority = desc.priority
    if not caller.privileged:
        if priority != 0:
            priority = NO_VAL
        if desc.nice != NO_VAL and desc.nice < NICE_OFFSET:
            raise SlurmError(SlurmRC.ESLURM_INVALID_NICE)
        if desc.admin_comment is not None:
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        if desc.reboot not in (0, NO_VAL16):
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED, REBOOT_REFUSED)
    check_sizes(desc, max_script_size)
    if desc.job_id != NO_VAL and not caller.privileged:
        raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
    return replace(desc, user_id=user_id, group_id=group_id, priority=priority, site_factor=NO_VAL)


def check_partitions(names: Iterable[str], partitions: Mapping[str, Partition], caller: Caller) -> None:
    """A RootOnly partition takes jobs from root and SlurmUser only (_part_access_check)."""
    if caller.privileged:
        return
    for name in names:
        part = partitions.get(name)
        if part is not None and part.root_only:
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)


def in_allowed_groups(groups: str, uid: int) -> bool:
    """validate_group: a member of one of the groups (as /etc/group lists it), or a user whose primary
    group is one of them. A user or group the system does not know is not a member."""
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return False
    for name in groups.split(","):
        try:
            group = grp.getgrnam(name)
        except KeyError:
            continue
        if user.pw_gid == group.gr_gid or user.pw_name in group.gr_mem:
            return True
    return False


def check_groups(part: Partition, uid: int, slurm_user_uid: int) -> None:
    """A partition's AllowGroups takes the jobs of its groups' users, root's and SlurmUser's
    (_part_access_check: the job's user, not the submitter)."""
    if part.allow_groups and uid not in (0, slurm_user_uid) and not in_allowed_groups(part.allow_groups, uid):
        raise SlurmError(SlurmRC.ESLURM_JOB_MISSING_REQUIRED_PARTITION_GROUP)


def update_refusal(
    job: Job, desc: JobDesc, caller: Caller, partitions: Mapping[str, Partition], now: int
) -> int:
    """The return code slurmctld refuses ``caller``'s update of ``job`` with for want of rights, or
    0. What depends only on the job's state (not pending, finished, ...) is not decided here.

    From _slurm_rpc_update_job and _update_job: another uid, admin_comment and reboot are for root
    and SlurmUser; the job's owner may otherwise update it, but only an operator may raise its time
    limit (a pending job's up to its partition's MaxTime excepted), its end time or priority, set a
    deadline, a negative nice, a site factor, the sharing, core specialisation or tasks per node or
    socket, make it contiguous, change the licenses of a running job, release an administrator's
    hold, or clear its burst buffer; RootOnly partitions stay closed.
    """
    if caller.privileged:
        return 0
    if desc.user_id != NO_VAL:
        return SlurmRC.ESLURM_USER_ID_MISSING
    if desc.admin_comment is not None:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if job.user_id != caller.uid:
        return SlurmRC.ESLURM_USER_ID_MISSING
    if desc.burst_buffer is not None:
        return SlurmRC.ESLURM_NOT_SUPPORTED
    if desc.partition:
        try:
            check_partitions(desc.partition.split(","), partitions, caller)
        except SlurmError as exc:
            return exc.rc
    if desc.time_limit != NO_VAL and not _time_limit_allowed(job, desc.time_limit, partitions):
        return SlurmRC.ESLURM_ACCESS_DENIED
    running = job.is_running()
    if desc.end_time and running and desc.end_time >= now and desc.end_time >= job.end_time:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if desc.deadline and not running and desc.deadline >= now:  # (a running job's is ignored)
        return SlurmRC.ESLURM_ACCESS_DENIED
    if desc.priority != NO_VAL and not job.is_finished() and not _priority_allowed(job, desc.priority):
        return SlurmRC.ESLURM_ACCESS_DENIED
    if desc.nice != NO_VAL and desc.nice < NICE_OFFSET:
        return SlurmRC.ESLURM_ACCESS_DENIED
    pending = job.is_pending()
    if pending and desc.shared != NO_VAL16:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if pending and desc.contiguous != NO_VAL16 and desc.contiguous >= job.contiguous:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if pending and any(v != NO_VAL16 for v in (desc.core_spec, desc.ntasks_per_node, desc.ntasks_per_socket)):
        return SlurmRC.ESLURM_ACCESS_DENIED
    if running and desc.licenses:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if desc.reboot != NO_VAL16:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if desc.site_factor != NO_VAL:
        return SlurmRC.ESLURM_ACCESS_DENIED
    return 0


def _time_limit_allowed(job: Job, new: int, partitions: Mapping[str, Partition]) -> bool:
    if job.is_finished() or job.time_limit == new or job.time_limit > new:
        return True
    part = partitions.get(job.partition.split(",")[0])
    part_max = INFINITE if part is None or part.max_time is None else part.max_time
    return job.is_pending() and part_max >= new


def _priority_allowed(job: Job, new: int) -> bool:
    if job.priority == new:
        return True
    if job.priority == 0:
        # a release: of their own hold only; anything else on a held job is ESLURM_JOB_HELD
        return new != INFINITE or job.state_reason in (
            JobStateReason.WAIT_HELD_USER,
            JobStateReason.WAIT_RESV_DELETED,
        )
    return new == INFINITE or job.priority > new
