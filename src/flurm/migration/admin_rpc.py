"""flurm's administrative RPC (REQUEST_FLURM_ADMIN): what the ``flurm`` command asks a running controller.

Operations (the ``op`` of the JSON document): ``status``, ``mode`` (get), ``set_mode``, ``import``,
``takeover`` (starts it; ``dry_run`` runs the pre-flight only and waits for it), ``takeover_status``
(events since an index), ``rollback``. Only root and SlurmUser may use it. Each operation is given the
controller's port and the migration's pieces (None: flurm does not follow a slurmctld).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from flurm.modes import Guard, Mode, TransitionError, check_operator_request, describe
from flurm.protocol.messages.admin import RESPONSE_FLURM_ADMIN, AdminMessage
from flurm.rpc.transport import Reply, Request

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort
    from flurm.migration.host import Migration
    from flurm.migration.takeover import Takeover


def _reply(doc: dict[str, Any]) -> Reply:
    return Reply(RESPONSE_FLURM_ADMIN, AdminMessage(doc))


def status(ctl: ControllerPort, migration: Migration | None) -> dict[str, Any]:
    cluster = ctl.cluster
    states: dict[str, int] = {}
    for job in cluster.jobs.values():
        key = f"{job.base_state}"
        states[key] = states.get(key, 0) + 1
    doc: dict[str, Any] = {
        "mode": ctl.mode.value,
        "cluster": ctl.config.cluster_name,
        "port": ctl.port,
        "uptime": round(ctl.clock() - ctl.started_at, 3),
        "jobs": len(cluster.jobs),
        "nodes": len(cluster.node_list),
        "partitions": len(cluster.partitions),
        "next_job_id": cluster.next_job_id,
    }
    if migration is not None:
        mirror = migration.mirror
        st = mirror.stats
        doc["mirror"] = {
            "age": mirror.age(),
            "in_sync": mirror.in_sync(),
            "passes": st.passes,
            "last_pass_began": st.last_success_began,  # wall clock; what slurmctld had then is mirrored
            "last_pass_seconds": round(st.last_pass_seconds, 4),
            "last_error": st.last_error,
            "jobs_new": st.jobs_new,
            "jobs_changed": st.jobs_changed,
            "jobs_vanished": st.jobs_vanished,
        }
        doc["source_release"] = migration.source.release_name  # "24.11", None until learned
    if migration is not None and migration.takeover.result is not None:
        doc["takeover"] = migration.takeover.result.to_dict()
    return doc


async def handle(ctl: ControllerPort, migration: Migration | None, req: Request) -> Reply:
    if not ctl.is_admin(req.uid):
        return _reply({"ok": False, "error": "Access/permission denied"})
    assert isinstance(req.body, AdminMessage)
    doc = req.body.document
    op = doc.get("op")
    try:
        if op == "status":
            return _reply({"ok": True, **status(ctl, migration)})
        if op == "mode":
            return _reply({"ok": True, "mode": ctl.mode.value, "table": describe()})
        if op == "set_mode":
            return _reply(await set_mode(ctl, migration, str(doc.get("mode"))))
        if op == "import":
            if migration is None:
                return _reply(
                    {"ok": False, "error": f"flurm is {ctl.mode}: there is no SLURM source to import from"}
                )
            counts = await migration.mirror.sync(full=True)
            return _reply({"ok": True, **asdict(counts)})
        if op == "takeover":
            return _reply(
                await start_takeover(
                    ctl, migration, bool(doc.get("dry_run")), bool(doc.get("allow_unsupported"))
                )
            )
        if op == "takeover_status":
            return _reply(takeover_status(ctl, migration, int(doc.get("since", 0))))
        if op == "rollback":
            return _reply(await rollback(ctl, migration))
    except TransitionError as exc:
        return _reply({"ok": False, "error": str(exc)})
    except Exception as exc:
        return _reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return _reply({"ok": False, "error": f"unknown operation {op!r}"})


async def set_mode(ctl: ControllerPort, migration: Migration | None, target: str) -> dict[str, Any]:
    try:
        mode = Mode(target)
    except ValueError:
        return {"ok": False, "error": f"unknown mode {target!r}; modes: {', '.join(m.value for m in Mode)}"}
    if mode == Mode.ROLLED_BACK:
        return await rollback(ctl, migration)
    check_operator_request(ctl.mode, mode)
    await ctl.set_mode(mode, await _source_guards(migration))
    return {"ok": True, "mode": ctl.mode.value}


async def _source_guards(migration: Migration | None) -> set[Guard]:
    """The guards about slurmctld that hold now."""
    if migration is not None and await migration.source.ping():
        return {Guard.SOURCE_RUNNING, Guard.SOURCE_REACHABLE}
    return set()


async def start_takeover(
    ctl: ControllerPort, migration: Migration | None, dry_run: bool, allow_unsupported: bool = False
) -> dict[str, Any]:
    if migration is None:
        return {"ok": False, "error": f"flurm is {ctl.mode}: there is nothing to take over"}
    tk = migration.takeover
    if dry_run:
        result = await tk.run(dry_run=True, allow_unsupported=allow_unsupported)
        return {"ok": result.ok, "result": result.to_dict(), "events": [asdict(e) for e in tk.events]}
    if tk.running:
        return {"ok": False, "error": "a takeover is already running"}
    ctl.spawn(_run_takeover(tk, allow_unsupported), "takeover")
    return {"ok": True, "started": True}


async def _run_takeover(tk: Takeover, allow_unsupported: bool) -> None:
    await tk.run(allow_unsupported=allow_unsupported)


def takeover_status(ctl: ControllerPort, migration: Migration | None, since: int) -> dict[str, Any]:
    if migration is None:
        return {"ok": False, "error": "no takeover"}
    tk = migration.takeover
    events = [asdict(e) for e in tk.events[since:]]
    result = tk.result.to_dict() if tk.result is not None and not tk.running else None
    return {
        "ok": True,
        "running": tk.running,
        "events": events,
        "next": since + len(events),
        "result": result,
        "mode": ctl.mode.value,
    }


async def rollback(ctl: ControllerPort, migration: Migration | None) -> dict[str, Any]:
    """Call the migration off: slurmctld keeps the cluster; flurm only relays clients to it."""
    check_operator_request(ctl.mode, Mode.ROLLED_BACK)
    await ctl.set_mode(Mode.ROLLED_BACK, await _source_guards(migration))
    return {
        "ok": True,
        "mode": ctl.mode.value,
        "detail": "slurmctld keeps the cluster; flurm forwards every client request to it",
    }
