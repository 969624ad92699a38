"""The controller's interfaces to the rooms around it.

The rooms above the controller (nodes/, migration/, api/) see it as a :class:`ControllerPort`; the
controller drives real slurmd through a :class:`NodeDriver` that daemon.py attaches. Neither side
imports the other's implementation: only daemon.py knows both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flurm.auth.authenticator import Identity
    from flurm.auth.configure import JobCredentialSigner
    from flurm.auth.jwt_tokens import JwtAuthority
    from flurm.config.slurmconf import SlurmConfig
    from flurm.controller.jobs import JobOps
    from flurm.controller.steps import Step, StepOps
    from flurm.modes import Guard, Mode
    from flurm.protocol.messages.base import Body, Message
    from flurm.protocol.messages.credential import JobCredential
    from flurm.protocol.messages.dbd_assoc import AccountingUpdate
    from flurm.protocol.messages.slurmd import JobAcctInfo, NodeRegistrationStatus
    from flurm.rpc.transport import Reply, Request, Signer
    from flurm.scheduler.limits import Limits
    from flurm.scheduler.multifactor import AssocUsage, ShareAssoc
    from flurm.state.cluster import Cluster
    from flurm.state.model import Job, Node
    from flurm.state.reservations import Reservation
    from flurm.state.store import Store

# A request handler of a room above the controller (the forwarder, the migration admin RPC).
RequestHandler = Callable[["Request"], Awaitable["Reply | None"]]


class NodeDriver(Protocol):
    """What the controller asks of the slurmd driver (nodes/agent.py)."""

    def start(self) -> None: ...
    async def stop(self) -> None: ...
    def tick(self, now: int) -> None: ...
    def registration(self, msg: NodeRegistrationStatus, uid: int) -> Reply: ...
    def request_registration(self, node: Node) -> None: ...
    def node_down(self, node: Node, reason: str, now: int, *, by_admin: bool = False) -> None: ...
    def credential(
        self,
        job: Job,
        step_id: int,
        hosts: tuple[str, ...] | None = None,
        *,
        kill_time: int | None = None,
        version: int | None = None,
    ) -> JobCredential: ...
    def launch_batch(self, job: Job) -> None: ...
    def job_started(self, job: Job) -> None: ...
    def prolog_complete(self, job_id: int, prolog_rc: int, node_name: str | None) -> int: ...
    def terminate_job(self, job: Job, job_state: int) -> None: ...
    def kill_timelimit(self, job: Job) -> None: ...
    def terminate_on_nodes(self, job: Job, job_state: int, names: tuple[str, ...]) -> None: ...
    def terminate_on_down_node(self, job: Job, job_state: int, name: str) -> None: ...
    def kill_step_timelimit(self, job: Job, step_id: int, nodes: tuple[str, ...]) -> None: ...
    def signal_job(self, job: Job, signal: int, flags: int) -> None: ...
    def signal_step(
        self, job: Job, step_id: int, nodes: tuple[str, ...], signal: int, flags: int, msg_type: int = ...
    ) -> None: ...
    def send_to_node(
        self,
        name: str,
        msg_type: int,
        body: Message,
        done: Callable[[int | None], None] | None = None,
        *,
        expect_reply: bool = True,
    ) -> None: ...
    async def tell_all_nodes(self, msg_type: int, body: Message) -> None: ...


class AccountingSink(Protocol):
    """What the controller tells accounting, at the points slurmctld tells its accounting_storage plugin
    (accounting/sink.py records it for slurmdbd; :class:`NoAccounting` when AccountingStorageType is not
    accounting_storage/slurmdbd). Each call returns at once: the record is queued, never sent inline."""

    def node_state_changed(self, node: Node, now: int) -> None: ...
    def job_eligible(self, job: Job) -> None: ...
    def job_started(self, job: Job) -> None: ...
    def job_completed(self, job: Job, *, requeue: bool = False) -> None: ...
    def job_suspended(self, job: Job) -> None: ...  # suspended or resumed: the job's state says which
    def batch_step_completed(self, job: Job, exit_code: int, jobacct: JobAcctInfo | None) -> None: ...
    def step_started(self, job: Job, step: Step) -> None: ...
    def step_report(self, job: Job, step_id: int, jobacct: JobAcctInfo | None) -> None: ...  # one node's
    def step_completed(self, job: Job, step: Step) -> None: ...
    def reservation_added(self, resv: Reservation) -> None: ...
    def reservation_modified(self, resv: Reservation, previous_start: int) -> None: ...
    def reservation_removed(self, resv: Reservation) -> None: ...


class NoAccounting:
    """Accounting off: every event is dropped (slurmctld's accounting_storage/none)."""

    def node_state_changed(self, node: Node, now: int) -> None:
        pass

    def job_eligible(self, job: Job) -> None:
        pass

    def job_started(self, job: Job) -> None:
        pass

    def job_completed(self, job: Job, *, requeue: bool = False) -> None:
        pass

    def job_suspended(self, job: Job) -> None:
        pass

    def batch_step_completed(self, job: Job, exit_code: int, jobacct: JobAcctInfo | None) -> None:
        pass

    def step_started(self, job: Job, step: Step) -> None:
        pass

    def step_report(self, job: Job, step_id: int, jobacct: JobAcctInfo | None) -> None:
        pass

    def step_completed(self, job: Job, step: Step) -> None:
        pass

    def reservation_added(self, resv: Reservation) -> None:
        pass

    def reservation_modified(self, resv: Reservation, previous_start: int) -> None:
        pass

    def reservation_removed(self, resv: Reservation) -> None:
        pass


class AccountingPolicy(Protocol):
    """AccountingStorageEnforce, as accounting/ applies it over slurmdbd's associations and QOS
    (accounting/enforcement.py; :class:`NoAccountingPolicy` when nothing is enforced)."""

    def check_submit(self, job: Job, cluster: Cluster) -> None: ...  # fills account/QOS or raises SlurmError
    def pass_limits(self, cluster: Cluster) -> Limits | None: ...  # one scheduling pass's limits
    def accounting_update(self, update: AccountingUpdate) -> int: ...  # slurmdbd's changes; the rc


class NoAccountingPolicy:
    """Nothing enforced: jobs keep the account and QOS they name, no limit holds them."""

    def check_submit(self, job: Job, cluster: Cluster) -> None:
        pass

    def pass_limits(self, cluster: Cluster) -> Limits | None:
        return None

    def accounting_update(self, update: AccountingUpdate) -> int:
        return 0  # nothing cached to update


class ControllerPort(Protocol):
    """The controller as the rooms above it see it: its state, its operations, its mode."""

    config: SlurmConfig
    cluster: Cluster
    store: Store
    accounting: AccountingSink
    acct_policy: AccountingPolicy
    jobs: JobOps
    steps: StepOps
    signer: Signer
    creds: JobCredentialSigner
    jwt: JwtAuthority | None
    clock: Callable[[], float]
    stopping: asyncio.Event
    mode: Mode
    port: int
    started_at: float
    scheduler_passes: int
    last_schedule_duration: float

    def now(self) -> int: ...
    def is_admin(self, uid: int) -> bool: ...
    def schedule_soon(self) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, None], name: str = "") -> asyncio.Task[None]: ...
    async def set_mode(self, target: Mode, holding: set[Guard], *, persist: bool = True) -> None: ...
    async def durable(self) -> None: ...
    async def internal_request(self, msg_type: int, body: Body, identity: Identity) -> Reply | None: ...


class PriorityInputs(Protocol):
    """What priority/multifactor reads of accounting, as plain data (accounting/ provides it; daemon.py
    attaches it as ``Controller.priority.inputs``). Without it there are no associations and no QOS."""

    def associations(self) -> Sequence[AssocUsage]: ...  # with their decayed usage; empty: none
    def job_assoc_id(self, job: Job) -> int | None: ...  # the job's association, None: none
    def qos_priorities(self) -> Mapping[str, int]: ...  # QOS name -> its Priority
    def assoc_priority(self, assoc_id: int) -> tuple[int, int]: ...  # its Priority, the highest of all
    def usage_factor(self, job: Job) -> float: ...  # its QOS's UsageFactor (1: none)
    # the decay pass: every association's usage decayed, a job's usage added up its parent chain
    def decay(self, factor: float) -> None: ...
    def charge(self, job: Job, amount: float) -> None: ...
    def reset(self) -> None: ...  # PriorityUsageResetPeriod
    def usage_state(self) -> Mapping[int, float]: ...  # the raw usage by association, to be saved
    def load_usage(self, usage: Mapping[int, float]) -> None: ...
    # sshare: every association in assoc_mgr's order (hierarchical), the TRES names, who may see usage
    def share_assocs(self) -> Sequence[ShareAssoc]: ...
    def tres_names(self) -> tuple[str, ...]: ...
    def admin_level(self, uid: int) -> int: ...  # slurmdb_admin_level_t of the user (0: unknown)
    def user_view(self, uid: int) -> tuple[str, frozenset[str]] | None: ...  # name, coordinated accounts
