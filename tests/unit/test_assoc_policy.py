"""The association cache and AccountingStorageEnforce's rules, fed with what the real slurmdbd 22.05
answered and sent (tests/golden/dbd/22.05/assocs); the expected refusals and reasons are those the real
slurmctld gave for the same jobs (outputs.txt there)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flurm.accounting.assoc_cache import AssocCache, parse_tres
from flurm.accounting.enforcement import Enforcement, start_queries
from flurm.accounting.policy import Policy
from flurm.config import parse_text
from flurm.errors import SlurmError
from flurm.protocol.constants import REASON_TEXT, SLURM_22_05_PROTOCOL_VERSION, JobState, MsgType, SlurmRC
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages import decode_body
from flurm.protocol.messages.dbd_assoc import (
    AccountingUpdate,
    AssocRec,
    GotAssocs,
    GotQos,
    GotTres,
    GotUsers,
    UpdateObject,
    UpdateType,
    decode_dbd,
    encode_dbd,
)
from flurm.protocol.wire import DecodeError
from flurm.state.model import Job, Partition
from flurm.state.tasks import TaskSet

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd" / "22.05" / "assocs"
V = SLURM_22_05_PROTOCOL_VERSION
UIDS = {"root": 0, "daemon": 1, "bin": 2, "sys": 3, "lp": 7, "nobody": 65534}
NOBODY, DAEMON, BIN, SYS, STRANGER = 65534, 1, 2, 3, 1000
ALL = 0x1B  # associations,limits,qos,safe


def _frames(name: str) -> list[bytes]:
    data = (GOLDEN / name).read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def loaded() -> AssocCache:
    got = {}
    for m in _frames("dbd-conn1-s2c.bin"):
        t = struct.unpack_from(">H", m)[0]
        if t in (1417, 1423, 1449, 1487):
            got[t] = decode_dbd(t, m[2:], V)
    tres, qos, users, assocs = got[1487], got[1449], got[1423], got[1417]
    assert isinstance(tres, GotTres) and isinstance(qos, GotQos)
    assert isinstance(users, GotUsers) and isinstance(assocs, GotAssocs)
    cache = AssocCache(UIDS.get, "localtest")
    cache.load(tres.items or (), qos.items or (), users.items or (), assocs.items or ())
    return cache


def update(n: int) -> AccountingUpdate:
    frame = decode_frame(_frames(f"ctld-conn{n}-c2s.bin")[0])
    body = decode_body(MsgType.ACCOUNTING_UPDATE_MSG, frame.body, frame.version)
    assert isinstance(body, AccountingUpdate)
    return body


def updated() -> AssocCache:
    cache = loaded()
    for n in range(1, 10):
        cache.apply(update(n))
    return cache


def job(
    uid: int,
    job_id: int = 1,
    *,
    account: str | None = None,
    qos: str | None = None,
    cpus: int = 1,
    minutes: int = 0xFFFFFFFE,
    partition: str = "debug",
    running: bool = False,
) -> Job:
    j = Job(job_id, "j", uid, uid, partition, account=account, qos=qos, min_cpus=cpus, time_limit=minutes)
    if running:
        j.state = JobState.RUNNING
        j.nodes, j.cpus_alloc = ("n1",), (cpus,)
    return j


def test_load_keeps_the_tree_the_defaults_and_the_limits() -> None:
    c = loaded()
    assert c.default_account(NOBODY) == "child"
    assert c.default_account(DAEMON) == "parent"
    assert c.default_account(STRANGER) is None
    mine = c.find(NOBODY, None, "debug")
    assert mine is not None and mine.acct == "child"
    assert (mine.max_jobs, mine.max_submit_jobs, mine.max_wall_pj, mine.max_tres_pj) == (1, 6, 30, {1: 2})
    assert [a.acct for a in c.parents(mine)] == ["child", "child", "parent", "root"]
    assert c.parents(mine)[1].grp_jobs == 2 and c.parents(mine)[1].grp_tres == {1: 2}
    assert {c.qos[i].name for i in mine.qos} == {"normal", "small"}
    other = c.find(NOBODY, "other", None)
    assert other is not None and c.qos[other.def_qos_id].name == "big"
    assert c.admin_level(0) == 3 and c.admin_level(NOBODY) == 1
    assert c.tres[1].type == "cpu"


def test_updates_keep_it_current() -> None:
    c = loaded()
    c.apply(update(1))  # modify user nobody where account=child set MaxJobs=2
    mine = c.find(NOBODY, "child", None)
    assert mine is not None and (mine.max_jobs, mine.max_submit_jobs) == (2, 6)
    c.apply(update(2))  # add qos newq MaxWall=60
    newq = c.qos_named("newq")
    assert newq is not None and newq.max_wall_pj == 60
    c.apply(update(3))  # modify qos small set MaxWall=20: the rest stays
    small = c.qos_named("small")
    assert small is not None and (small.max_wall_pj, small.max_jobs_pu, small.max_tres_pj) == (20, 1, {1: 1})
    c.apply(update(4))  # add user lp Account=child
    assert c.default_account(7) == "child" and "lp" in c.users
    c.apply(update(5))  # delete user lp
    assert c.find(7, None, None) is None and "lp" not in c.users
    c.apply(update(6))  # add account extra parent=parent
    assert any(a.acct == "extra" and a.user is None for a in c.assocs.values())
    c.apply(update(7))  # modify account child set GrpTRES=cpu=4
    assert c.parents(mine)[1].grp_tres == {1: 4}
    c.apply(update(8))  # add coordinator account=child names=daemon
    assert c.users["daemon"].coord_accts == {"child"}
    c.apply(update(9))  # delete qos newq
    assert c.qos_named("newq") is None


def test_modify_clears_with_infinite_and_tres_merge() -> None:
    c = loaded()
    child = c.parents(c.find(NOBODY, "child", None))[1]  # type: ignore[arg-type]
    clear = AssocRec(id=child.id, grp_jobs=0xFFFFFFFF, grp_tres="4=3", is_def=0xFFFE)
    c.apply(AccountingUpdate((UpdateObject(UpdateType.SLURMDB_MODIFY_ASSOC, (clear,)),)))
    assert child.grp_jobs is None and child.grp_tres == {1: 2, 4: 3}
    assert parse_tres("1=2,x=3,4") == {1: 2}


def refused(p: Policy, j: Job, others: list[Job] = []) -> tuple[int, str | None]:  # noqa: B006
    with pytest.raises(SlurmError) as e:
        p.submit(j, others)
    return e.value.rc, e.value.message


def test_submit_refusals_and_defaults() -> None:
    p = Policy(updated(), ALL)
    assert refused(p, job(NOBODY, account="bogus"))[0] == SlurmRC.ESLURM_INVALID_ACCOUNT
    assert refused(p, job(NOBODY, qos="bogus"))[0] == SlurmRC.ESLURM_INVALID_QOS
    assert refused(p, job(NOBODY, qos="big"))[0] == SlurmRC.ESLURM_INVALID_QOS  # not the child's
    assert refused(p, job(STRANGER))[0] == SlurmRC.ESLURM_INVALID_ACCOUNT  # no association at all
    j = job(NOBODY)
    p.submit(j, [])
    assert (j.account, j.qos) == ("child", "normal")
    j = job(NOBODY, account="other")
    p.submit(j, [])
    assert (j.account, j.qos) == ("other", "big")  # the association's DefQOS
    # DenyOnLimit: QOS big's GrpTRES=cpu=2 refuses a 3-CPU job at once
    assert refused(p, job(NOBODY, account="other", cpus=3)) == (
        SlurmRC.ESLURM_ACCOUNTING_POLICY,
        "QOSGrpCpuLimit",
    )


def test_max_submit_jobs_counts_pending_and_running() -> None:
    p = Policy(updated(), ALL)
    six = [job(NOBODY, i, account="child", qos="normal", running=i < 3) for i in range(6)]
    assert refused(p, job(NOBODY), six) == (SlurmRC.ESLURM_ACCOUNTING_POLICY, "AssocMaxSubmitJobLimit")
    assert REASON_TEXT[70] == "AssocMaxSubmitJobLimit"
    p.submit(job(NOBODY), six[:5])  # the sixth still fits
    p.submit(job(NOBODY, account="other"), six)  # another association counts apart
    array = job(NOBODY)
    array.array_job_id, array.array_task_pending = 1, TaskSet.of(range(3))
    assert refused(p, array, six[:4]) == (SlurmRC.ESLURM_ACCOUNTING_POLICY, "AssocMaxSubmitJobLimit")
    p.submit(array, six[:3])  # each task counts: 3 + 3 fit in 6


def reason(p: Policy, j: Job, jobs: list[Job], part: Partition | None = None) -> str:
    part = part or Partition("debug", ("n1",), "n1")
    checker = p.pass_limits([*jobs, j])
    assert checker is not None
    got = checker.before(j, part) or checker.after(j, part, j.min_cpus, 1)
    if got is None:
        return "None"
    return got[1] or REASON_TEXT[got[0]]


def test_pending_reasons_as_slurmctld_gave_them() -> None:
    p = Policy(updated(), ALL)
    p.submit(a := job(NOBODY, 1, cpus=3), [])
    assert reason(p, a, []) == "AssocMaxCpuPerJobLimit"  # MaxTRESPerJob cpu=2, inherited from child
    p.submit(b := job(NOBODY, 2, minutes=40), [])
    assert reason(p, b, []) == "AssocMaxWallDurationPerJobLimit"  # MaxWall 30
    two = [job(NOBODY, 3, account="child", qos="normal", running=True),
           job(NOBODY, 4, account="child", qos="normal", running=True)]  # fmt: skip
    assert reason(p, a, two) == "AssocMaxJobsLimit"  # the job limit is tested before the TRES one
    assert reason(p, job(NOBODY, 5, account="child", qos="normal"), two) == "AssocMaxJobsLimit"
    assert reason(p, job(BIN, 6, account="child", qos="normal"), two) == "AssocGrpJobsLimit"
    small = job(NOBODY, 7, account="child", qos="small", cpus=2)
    assert reason(p, small, []) == "QOSMaxCpuPerJobLimit"
    d1 = job(DAEMON, 8, account="parent", qos="small", running=True)
    assert reason(p, job(DAEMON, 9, account="parent", qos="small"), [d1]) == "QOSMaxJobsPerUserLimit"
    s1 = job(SYS, 10, account="gcpu", qos="normal", cpus=2, running=True)
    assert reason(p, job(SYS, 11, account="gcpu", qos="normal"), [s1]) == "AssocGrpCpuLimit"
    assert reason(p, job(SYS, 11, account="gcpu", qos="normal"), []) == "None"


def test_partition_allow_lists() -> None:
    p = Policy(updated(), ALL)
    acctpart = Partition("acctpart", ("n1",), "n1", allow_accounts="other,parent")
    qospart = Partition("qospart", ("n1",), "n1", allow_qos="big")
    j = job(BIN, 1, account="child", qos="normal", partition="acctpart")
    assert reason(p, j, [], acctpart) == (
        "Job's account not permitted to use this partition (acctpart allows other,parent not child)"
    )
    j = job(BIN, 1, account="child", qos="normal", partition="qospart")
    assert (
        reason(p, j, [], qospart)
        == "Job's QOS not permitted to use this partition (qospart allows big not normal)"
    )
    denypart = Partition("denypart", ("n1",), "n1", deny_accounts="child", deny_qos="small")
    j = job(BIN, 1, account="child", qos="normal", partition="denypart")
    assert reason(p, j, [], denypart) == (
        "Job's account not permitted to use this partition (denypart denies child including child)"
    )
    j = job(DAEMON, 1, account="parent", qos="small", partition="denypart")
    assert reason(p, j, [], denypart) == (
        "Job's QOS not permitted to use this partition (denypart denies small including small)"
    )
    ok = job(NOBODY, 2, account="other", qos="big", partition="acctpart")
    assert reason(p, ok, [], acctpart) == "None"


def test_nothing_is_enforced_without_the_setting() -> None:
    p = Policy(updated(), 0)
    j = job(STRANGER, account="bogus", qos="bogus")
    p.submit(j, [])
    assert (j.account, j.qos) == ("bogus", "bogus") and p.pass_limits([j]) is None
    # the defaults still come from the associations; an account without one gives way to the default
    j = job(NOBODY, account="bogus")
    p.submit(j, [])
    assert (j.account, j.qos) == ("child", "normal")
    j = job(NOBODY, account="other", cpus=64)
    p.submit(j, [])
    assert (j.account, j.qos) == ("other", "big")
    # associations alone: the account is checked, limits are not
    p = Policy(updated(), 0x01)
    assert refused(p, job(STRANGER))[0] == SlurmRC.ESLURM_INVALID_ACCOUNT
    big = job(NOBODY, cpus=64)
    p.submit(big, [])
    assert reason(p, big, []) == "None"


def test_the_start_queries_are_slurmctlds_bytes() -> None:
    """What flurm asks slurmdbd after registering is what slurmctld 22.05 asked, byte for byte."""
    sent = [(struct.unpack_from(">H", m)[0], m[2:]) for m in _frames("dbd-conn1-c2s.bin")[1:]]
    asked = [(t, b) for t, b in sent if t in (1486, 1448, 1415, 1410)]
    assert [encode_dbd(q, V) for q in start_queries("localtest")] == asked


def test_enforcement_loads_the_answers_slurmdbd_gave() -> None:
    config = parse_text(
        "ClusterName=localtest\nSlurmctldHost=h\nNodeName=n1 CPUs=2\n"
        "PartitionName=debug Nodes=ALL Default=YES\n"
        "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageEnforce=associations,limits,qos\n"
    )
    e = Enforcement(config)
    assert e.enforce == 0x0B
    answers = [(struct.unpack_from(">H", m)[0], m[2:]) for m in _frames("dbd-conn1-s2c.bin")]
    e.answers([(t, b) for t, b in answers if t in (1487, 1449, 1423, 1417)], V)
    assert e.cache.loaded and len(e.cache.assocs) == 11
    with pytest.raises(DecodeError):  # out of order, or a refusal in place of an answer
        e.answers([next((t, b) for t, b in answers if t == want) for want in (1449, 1487, 1423, 1417)], V)
    assert e.accounting_update(update(1)) == 0
