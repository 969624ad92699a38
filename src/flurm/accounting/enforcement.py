"""AccountingStorageEnforce in the running controller: the association cache filled over slurmdbd's
connection (the queries slurmctld sends at start, after DBD_REGISTER_CTLD) and kept current by
ACCOUNTING_UPDATE_MSG, and the rules of policy.py the controller asks through its AccountingPolicy port.

Until slurmdbd has answered, the cache is empty and, as slurmctld's with no association data, refuses
every job when associations are enforced.
"""

from __future__ import annotations

import logging
import pwd
from collections.abc import Sequence

from flurm.accounting.assoc_cache import AssocCache
from flurm.accounting.policy import Policy
from flurm.config.ctl_conf import accounting_enforce
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.constants import SlurmRC
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.dbd_assoc import (
    AccountingUpdate,
    AssocCond,
    GetAssocs,
    GetQos,
    GetTres,
    GetUsers,
    GotAssocs,
    GotQos,
    GotTres,
    GotUsers,
    Record,
    TresCond,
    UserCond,
    decode_dbd,
    encode_dbd,
)
from flurm.protocol.wire import DecodeError
from flurm.scheduler.limits import Limits
from flurm.state.cluster import Cluster
from flurm.state.model import Job

log = logging.getLogger("flurm.accounting")

# the TRES slurmctld 22.05 asks for when AccountingStorageTRES adds none (read_config.c's defaults)
DEFAULT_TRES = ("cpu", "mem", "energy", "node", "billing", "fs/disk", "vmem", "pages")


def tres_query(storage_tres: str | None = None) -> GetTres:
    """The TRES slurmctld asks slurmdbd for: the fixed ones and AccountingStorageTRES's (lower case)."""
    tres = list(DEFAULT_TRES)
    for name in (storage_tres or "").split(","):
        name = name.strip().lower()
        if name and name not in tres:
            tres.append(name)
    return GetTres(TresCond(count=0, type_list=tuple(tres)))


def start_queries(cluster: str, storage_tres: str | None = None) -> tuple[Record, ...]:
    """What slurmctld asks slurmdbd after registering (assoc_mgr_init), in its order."""
    return (
        tres_query(storage_tres),
        GetQos(None),  # NULL: every QOS (22.05 packs it as a condition with its defaults)
        GetUsers(UserCond(with_coords=1)),
        GetAssocs(AssocCond(cluster_list=(cluster,))),
    )


def _uid_of(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


class Enforcement:
    """The controller's :class:`~flurm.controller.ports.AccountingPolicy`, and what the slurmdbd client
    asks at each connection (``queries``) and hands back (``answers``)."""

    def __init__(self, config: SlurmConfig, enforce: int | None = None) -> None:
        self.config = config
        self.enforce = accounting_enforce(config) if enforce is None else enforce
        self.cache = AssocCache(_uid_of, config.cluster_name)
        self.policy = Policy(self.cache, self.enforce)

    # -- the slurmdbd connection (client.py) -----------------------------------------------------
    def queries(self, version: int) -> list[tuple[DbdMsgType, bytes]]:
        tres = self.config.raw.get("accountingstoragetres")
        return [encode_dbd(q, version) for q in start_queries(self.config.cluster_name, tres)]

    def answers(self, answers: Sequence[tuple[int, bytes]], version: int) -> None:
        """slurmdbd's answers to ``queries``, in order: the cache is replaced only when all four came."""
        got = [decode_dbd(t, body, version) for t, body in answers]
        if len(got) != 4:
            raise DecodeError(f"{len(got)} answers to the 4 association queries")
        tres, qos, users, assocs = got
        if not (
            isinstance(tres, GotTres)
            and isinstance(qos, GotQos)
            and isinstance(users, GotUsers)
            and isinstance(assocs, GotAssocs)
        ):
            raise DecodeError("the association queries were answered out of order")
        self.cache.load(tres.items or (), qos.items or (), users.items or (), assocs.items or ())
        log.info(
            "associations from slurmdbd: %d associations, %d QOS, %d users",
            len(self.cache.assocs),
            len(self.cache.qos),
            len(self.cache.users),
        )

    def job_ids(self, job: Job) -> tuple[int, int]:
        """The job's association and QOS ids in slurmdbd, for its records (0: none known)."""
        assoc, qos = self.policy.assoc_of(job), self.policy.qos_of(job)
        return (assoc.id if assoc is not None else 0, qos.id if qos is not None else 0)

    # -- the controller (AccountingPolicy) --------------------------------------------------------
    def check_submit(self, job: Job, cluster: Cluster) -> None:
        part = cluster.partitions.get(job.partition.split(",")[0])
        self.policy.submit(job, cluster.jobs.values(), part.max_time if part is not None else None)

    def pass_limits(self, cluster: Cluster) -> Limits | None:
        return self.policy.pass_limits(cluster.jobs.values())

    def accounting_update(self, update: AccountingUpdate) -> int:
        self.cache.apply(update)
        return SlurmRC.SLURM_SUCCESS
