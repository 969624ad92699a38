"""The mode table: every message type flurm takes is classified, anything else is refused in every mode
(as slurmctld refuses a type it does not know), and docs/migration.md shows the table as it is now."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from flurm.controller.engine import Controller
from flurm.controller.handlers import HANDLERS
from flurm.errors import SlurmError
from flurm.migration.forward import OPERATOR_ONLY, Forwarder
from flurm.modes import (
    OPERATION_OF,
    POLICY,
    SLURMCTLD_2205_REQUESTS,
    SLURMCTLD_2411_REQUESTS,
    SLURMCTLD_2605_REQUESTS,
    TRAITS,
    TRANSITIONS,
    Action,
    By,
    Mode,
    Op,
    TransitionError,
    action,
    check_operator_request,
    markdown,
    operation_of,
    refusal_rc,
    run_mode,
    start_mode,
    with_markdown_table,
)
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages import body_class
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN
from flurm.rpc.transport import Reply

DOC = Path(__file__).resolve().parents[2] / "docs" / "migration.md"
UNKNOWN = (0x7777, MsgType.RESPONSE_SLURM_RC, MsgType.REQUEST_BATCH_JOB_LAUNCH, MsgType.SRUN_PING)


def test_every_handled_type_is_classified() -> None:
    types = {*HANDLERS, REQUEST_FLURM_ADMIN, MsgType.REQUEST_AUTH_TOKEN}
    missing = sorted(t for t in types if t not in OPERATION_OF)
    assert not missing, f"message types with a handler but no classification: {missing}"
    assert Op.UNCLASSIFIED not in OPERATION_OF.values()


def test_an_unclassified_type_is_refused_in_every_mode() -> None:
    for msg_type in UNKNOWN:
        assert operation_of(msg_type) == Op.UNCLASSIFIED
        assert refusal_rc(msg_type) == errno.EINVAL
        for mode in Mode:
            assert action(mode, msg_type) == Action.REFUSE, (mode, msg_type)


def test_operator_requests_are_not_reads() -> None:
    for msg_type in (MsgType.REQUEST_SHUTDOWN, MsgType.REQUEST_RECONFIGURE, MsgType.REQUEST_TAKEOVER):
        assert operation_of(msg_type) == Op.ADMIN
    # the forwarder knows slurmctld's refusal of each one to a plain user
    assert {t for t, op in OPERATION_OF.items() if op == Op.ADMIN} <= set(OPERATOR_ONLY)


def test_every_mode_has_a_whole_row() -> None:
    assert set(TRAITS) == set(POLICY) == set(Mode)
    for mode in Mode:
        assert set(POLICY[mode]) == set(Op), mode


def test_start_and_restart() -> None:
    assert run_mode(shadow=False) == Mode.STANDALONE
    assert run_mode(shadow=True) == Mode.SHADOW
    # after a takeover the store says standalone: a restart asked to shadow stays standalone
    assert start_mode(Mode.SHADOW, "standalone") == Mode.STANDALONE
    for saved in ("shadow", "switching", "rolled_back", None, 3, "nonsense"):
        assert start_mode(Mode.SHADOW, saved) == Mode.SHADOW


def test_operator_may_ask_only_for_operator_transitions() -> None:
    check_operator_request(Mode.SHADOW, Mode.ROLLED_BACK)
    check_operator_request(Mode.ROLLED_BACK, Mode.SHADOW)
    for (a, b), tr in TRANSITIONS.items():
        if tr.by == By.TAKEOVER:
            with pytest.raises(TransitionError, match="takeover"):
                check_operator_request(a, b)
    with pytest.raises(TransitionError, match="not allowed"):
        check_operator_request(Mode.SHADOW, Mode.STANDALONE)


def test_docs_show_the_table_of_now() -> None:
    doc = DOC.read_text()
    assert markdown() in doc
    assert with_markdown_table(doc) == doc, "run scripts/mode_table.py to update docs/migration.md"


class _Store:
    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}

    def set_meta(self, key: str, value: Any) -> None:
        self.meta[key] = value


def _dispatch(mode: Mode, msg_type: int) -> tuple[Reply | None, list[int]]:
    """Controller.dispatch in ``mode``, with a handler and a forwarder that record being called."""
    called: list[int] = []

    async def forward(req: Any) -> Reply:
        called.append(req.msg_type)
        return Reply(MsgType.RESPONSE_SLURM_RC)

    ctl: Any = SimpleNamespace(
        mode=mode, attached_handlers={}, forward=forward, handlers={msg_type: lambda c, r: forward(r)}
    )
    req: Any = SimpleNamespace(msg_type=msg_type, peer=("127.0.0.1", 1))
    reply = asyncio.run(Controller.dispatch(ctl, req))
    return reply, called


def test_dispatch_refuses_an_unclassified_type_in_every_mode() -> None:
    for mode in Mode:
        reply, called = _dispatch(mode, 0x7777)
        assert reply is not None and called == [], mode
        assert getattr(reply.body, "rc", None) == errno.EINVAL, (mode, reply)
    reply, called = _dispatch(Mode.SHADOW, MsgType.MESSAGE_NODE_REGISTRATION_STATUS)
    assert reply is not None and getattr(reply.body, "rc", None) == SlurmRC.ESLURM_NOT_SUPPORTED


def test_a_plain_users_operator_request_is_not_forwarded() -> None:
    ctl: Any = SimpleNamespace(is_admin=lambda uid: uid == 0)
    forwarder = Forwarder(ctl, source=None, mirror=None)  # type: ignore[arg-type]
    for msg_type, rc in OPERATOR_ONLY.items():
        user = SimpleNamespace(
            msg_type=msg_type, uid=1000, gid=1000, body=None, frame=SimpleNamespace(body=b"")
        )
        with pytest.raises(SlurmError) as refused:
            asyncio.run(forwarder._authorize(user))  # type: ignore[arg-type]
        assert refused.value.rc == rc
        root = SimpleNamespace(msg_type=msg_type, uid=0, gid=0, body=None, frame=SimpleNamespace(body=b"x"))
        assert asyncio.run(forwarder._authorize(root)) == b"x"  # type: ignore[arg-type]


def test_every_type_slurmctld_2205_takes_is_classified() -> None:
    assert len(SLURMCTLD_2205_REQUESTS) == 83
    missing = [t.name for t in SLURMCTLD_2205_REQUESTS if operation_of(t) == Op.UNCLASSIFIED]
    assert missing == []


def test_every_type_the_newer_slurmctld_take_is_classified() -> None:
    # slurmctld_rpcs[] of 24.11 (94 distinct types) and 26.05 (95)
    assert len(set(SLURMCTLD_2411_REQUESTS)) == 94
    assert len(set(SLURMCTLD_2605_REQUESTS)) == 95
    for types in (SLURMCTLD_2411_REQUESTS, SLURMCTLD_2605_REQUESTS):
        assert [t.name for t in types if operation_of(t) == Op.UNCLASSIFIED] == []


def test_what_only_the_ruling_controller_knows_is_its_to_answer() -> None:
    # flurm's own counters, fair-share caches or (in shadow) missing job scripts are not slurmctld's
    for msg_type in (MsgType.REQUEST_STATS_INFO, MsgType.REQUEST_SHARE_INFO, MsgType.REQUEST_BATCH_SCRIPT):
        assert action(Mode.STANDALONE, msg_type) == Action.LOCAL
        assert action(Mode.SHADOW, msg_type) == Action.FORWARD
        assert action(Mode.SWITCHING, msg_type) == Action.HOLD
        assert action(Mode.ROLLED_BACK, msg_type) == Action.FORWARD


NAMES_2205 = [t.name for t in SLURMCTLD_2205_REQUESTS]
# Types whose handlers are being written elsewhere right now; this list shrinks to nothing as they land.
HANDLERS_IN_PROGRESS: frozenset[str] = frozenset()  # (REQUEST_CONFIG landed: configless)


def test_every_type_slurmctld_2205_takes_has_a_handler() -> None:
    """No request goes unanswered: each type slurmctld dispatches is answered by flurm itself (as
    slurmctld answers it), not by the ESLURM_NOT_SUPPORTED of a type without a handler."""
    assert HANDLERS_IN_PROGRESS.issubset(NAMES_2205)
    landed = sorted(n for n in HANDLERS_IN_PROGRESS if MsgType[n] in HANDLERS)
    assert landed == [], "these have handlers now: take them off HANDLERS_IN_PROGRESS"
    missing = [n for n in NAMES_2205 if MsgType[n] not in HANDLERS and n not in HANDLERS_IN_PROGRESS]
    assert missing == []


def test_a_type_with_a_codec_and_a_handler_is_decoded() -> None:
    """A handled type decodes its body unless its handler only refuses it whole (Opaque)."""
    refused_whole = {
        "REQUEST_SIB_JOB_LOCK",
        "REQUEST_SIB_JOB_UNLOCK",
        "REQUEST_CTLD_MULT_MSG",
        "REQUEST_PERSIST_INIT",
        "ACCOUNTING_UPDATE_MSG",
        "REQUEST_UPDATE_CRONTAB",
        "REQUEST_HET_JOB_ALLOCATION",
        "REQUEST_SUBMIT_BATCH_HET_JOB",
    }
    undecoded = [
        n
        for n in NAMES_2205
        if MsgType[n] in HANDLERS and body_class(MsgType[n]) is None and n not in refused_whole
    ]
    assert undecoded == []
