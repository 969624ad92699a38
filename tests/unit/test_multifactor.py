"""priority/multifactor's arithmetic (scheduler/multifactor.py) with hand data, and sprio's records in
each release's layout."""

from __future__ import annotations

import math
import struct

import pytest

from flurm.protocol.constants import (
    NICE_OFFSET,
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.reports import PriorityFactorsRecord, PriorityFactorsResponse
from flurm.scheduler import multifactor as mf

# -- fair share: the classic_fair_share.shtml example ----------------------------------------------
#
# root -> A (40 shares) -> B (30) -> user1 (1), C (10) -> user2 (1), user3 (1)
#      -> D (60) -> E (25) -> user4 (1), F (35) -> user5 (1)
# usage (of the whole machine): user1 0.2, user2 0.25, user4 0.25.

_TREE = [
    mf.AssocUsage(1, None, None, 1, 0.7),
    mf.AssocUsage(2, 1, None, 40, 0.45),  # A
    mf.AssocUsage(3, 2, None, 30, 0.2),  # B
    mf.AssocUsage(4, 2, None, 10, 0.25),  # C
    mf.AssocUsage(5, 1, None, 60, 0.25),  # D
    mf.AssocUsage(6, 5, None, 25, 0.25),  # E
    mf.AssocUsage(7, 5, None, 35, 0.0),  # F
    mf.AssocUsage(11, 3, "user1", 1, 0.2),
    mf.AssocUsage(12, 4, "user2", 1, 0.25),
    mf.AssocUsage(13, 4, "user3", 1, 0.0),
    mf.AssocUsage(14, 6, "user4", 1, 0.25),
    mf.AssocUsage(15, 7, "user5", 1, 0.0),
]


def _scaled(tree: list[mf.AssocUsage], total: float) -> list[mf.AssocUsage]:
    """Usage as the plugin holds it: raw, normalised by the root's raw usage (1.0 in the doc's example)."""
    return [mf.AssocUsage(a.id, a.parent, a.user, a.shares_raw, a.usage_raw * total) for a in tree]


def test_the_documented_example() -> None:
    root = mf.AssocUsage(1, None, None, 1, 1.0)  # the doc's usages are fractions of the whole machine
    fs = mf.fair_share([root, *_scaled(_TREE[1:], 1.0)])
    assert fs[3].usage_efctv == pytest.approx(0.3875)  # B
    assert fs[4].usage_efctv == pytest.approx(0.3)  # C
    assert fs[6].usage_efctv == pytest.approx(0.25)  # E
    assert fs[7].usage_efctv == pytest.approx(0.1458, abs=1e-4)  # F
    expected = {
        11: (0.3, 0.408479),
        12: (0.05, 0.022097),
        13: (0.05, 0.125),
        14: (0.25, 0.5),
        15: (0.35, 0.749154),
    }
    for assoc, (share, factor) in expected.items():
        assert fs[assoc].shares_norm == pytest.approx(share)
        assert fs[assoc].factor == pytest.approx(factor, abs=2e-4), assoc  # the doc rounds F's usage
    assert fs[12].usage_efctv == pytest.approx(0.275)
    assert fs[13].usage_efctv == pytest.approx(0.15)
    assert fs[3].level_shares == 40 and fs[12].level_shares == 2


def test_usage_is_normalised_by_the_root() -> None:
    """Raw usage in TRES-seconds gives the same factors once divided by the root's."""
    root = mf.AssocUsage(1, None, None, 1, 1e6)
    fs = mf.fair_share([root, *_scaled(_TREE[1:], 1e6)])
    assert fs[15].factor == pytest.approx(0.749154, abs=2e-4)
    assert fs[12].usage_norm == pytest.approx(0.25)


def test_no_usage_anywhere_gives_one_and_damping_halves_the_exponent() -> None:
    tree = [mf.AssocUsage(a.id, a.parent, a.user, a.shares_raw, 0.0) for a in _TREE]
    assert all(f.factor == 1.0 for f in mf.fair_share(tree).values())
    root = mf.AssocUsage(1, None, None, 1, 1.0)
    damped = mf.fair_share([root, *_TREE[1:]], damp_factor=2)
    assert damped[14].factor == pytest.approx(math.sqrt(0.5))


def test_fairshare_parent_takes_the_parents_values() -> None:
    """FairShare=parent: the user shares its account's normalised shares and effective usage, and the
    account's level counts the account's own children directly."""
    tree = [
        mf.AssocUsage(1, None, None, 1, 1.0),
        mf.AssocUsage(2, 1, None, 50, 0.5),
        mf.AssocUsage(3, 1, None, 50, 0.5),
        mf.AssocUsage(4, 2, "u", mf.FS_USE_PARENT, 0.5),
        mf.AssocUsage(5, 3, "v", 1, 0.1),
        mf.AssocUsage(6, 3, "w", 3, 0.4),
    ]
    fs = mf.fair_share(tree)
    assert fs[4].shares_norm == fs[2].shares_norm == 0.5
    assert fs[4].usage_efctv == fs[2].usage_efctv == 0.5
    assert fs[5].shares_norm == pytest.approx(0.5 * 1 / 4)
    assert fs[6].usage_efctv == pytest.approx(0.4 + (0.5 - 0.4) * 3 / 4)
    assert mf.fair_share([]) == {}


# -- fair share: Fair Tree ----------------------------------------------------------------------------


def _two_accounts(u1: float, u2: float, u3: float) -> list[mf.AssocUsage]:
    return [
        mf.AssocUsage(1, None, None, 1, u1 + u2 + u3),
        mf.AssocUsage(2, 1, None, 1, u1 + u2),  # A
        mf.AssocUsage(3, 1, None, 1, u3),  # B
        mf.AssocUsage(11, 2, "u1", 1, u1),
        mf.AssocUsage(12, 2, "u2", 1, u2),
        mf.AssocUsage(13, 3, "u3", 1, u3),
    ]


def test_fair_tree_ranks_users_depth_first_by_level_fs() -> None:
    fs = mf.fair_tree(_two_accounts(60, 20, 20))
    # level 1: A has S 1/2, U 80/100 -> LF 0.625; B has S 1/2, U 20/100 -> LF 2.5: B first
    assert fs[2].level_fs == pytest.approx(0.625) and fs[3].level_fs == pytest.approx(2.5)
    assert fs[13].factor == 1.0  # u3, alone in B, ranks 3 of 3
    # in A: u2 (S 1/2, U 20/80, LF 2) before u1 (U 60/80, LF 2/3)
    assert fs[12].factor == pytest.approx(2 / 3) and fs[11].factor == pytest.approx(1 / 3)
    assert fs[11].usage_efctv == pytest.approx(0.75) and fs[11].shares_norm == 0.5


def test_fair_tree_ties_share_a_rank_and_unused_shares_rank_first() -> None:
    fs = mf.fair_tree(_two_accounts(40, 40, 20))
    assert fs[11].factor == fs[12].factor == pytest.approx(2 / 3)  # tied users: the same rank
    unused = mf.fair_tree(_two_accounts(50, 0, 50))
    assert unused[12].level_fs == math.inf and unused[12].factor == 1.0  # A: 50/100 = B: LF 1
    # B ties with A (LF 1): its first user takes the rank last given (u1's), as fair_tree.c does
    assert unused[11].factor == unused[13].factor == pytest.approx(2 / 3)
    assert mf.fair_tree([]) == {}
    zero = mf.fair_tree(_two_accounts(0, 0, 0))
    assert {a: f.factor for a, f in zero.items() if a > 10} == {11: 1.0, 12: 1.0, 13: 1.0}


# -- the factors ----------------------------------------------------------------------------------

S = mf.Settings(weight_js=1000, weight_part=10000, weight_age=2000, max_age=86400, with_slurmdbd=True)
SIZE = mf.ClusterSize(nodes=2, cpus=4)


def _job(**kw: int) -> mf.JobInput:
    fields: dict[str, int] = dict(
        accrue_time=0, min_nodes=1, total_cpus=0, max_cpus=NO_VAL, min_cpus=1, time_limit=NO_VAL, nice=0
    )
    fields.update(kw)
    return mf.JobInput(**fields)  # type: ignore[arg-type]


def test_job_size_favours_large_jobs_by_default() -> None:
    # (1/2 nodes + 1/4 CPUs) / 2, as slurmctld 22.05 printed for the same job (0.375)
    assert mf.job_size_factor(_job(), None, SIZE, S) == 0.375
    assert mf.job_size_factor(_job(min_nodes=2, min_cpus=4), None, SIZE, S) == 1.0
    assert mf.job_size_factor(_job(min_cpus=2, max_cpus=3), None, SIZE, S) == (0.5 + 0.75) / 2
    assert mf.job_size_factor(_job(min_cpus=1, total_cpus=4), None, SIZE, S) == (0.5 + 1.0) / 2


def test_job_size_favour_small_and_relative_to_time() -> None:
    small = mf.Settings(weight_js=1, favor_small=True)
    assert mf.job_size_factor(_job(), None, SIZE, small) == (0.5 + 0.75) / 2
    assert mf.job_size_factor(_job(min_nodes=2, min_cpus=4), None, SIZE, small) == 0.0
    rel = mf.Settings(weight_js=1, flags=mf.SIZE_RELATIVE)
    part = mf.PartInput(1, 1.0, 60)
    # max(1 node * 2 CPUs per node, 1 CPU) / 10 minutes / 4 CPUs
    assert mf.job_size_factor(_job(time_limit=10), part, SIZE, rel) == pytest.approx(2 / 10 / 4)
    assert mf.job_size_factor(_job(), part, SIZE, rel) == pytest.approx(2 / 60 / 4)  # the partition's
    rel_small = mf.Settings(weight_js=1, flags=mf.SIZE_RELATIVE, favor_small=True)
    assert mf.job_size_factor(_job(time_limit=1), part, SIZE, rel_small) == pytest.approx(0.5)


def test_age_is_weighted_from_the_accrue_time_up_to_max_age() -> None:
    assert mf.age_factor(1000, 1000 + 43200, 86400) == 0.5
    assert mf.age_factor(1000, 999, 86400) == 0.0
    assert mf.age_factor(1000, 1000 + 10 * 86400, 86400) == 1.0
    f = mf.factors(_job(accrue_time=1000), None, SIZE, S, 1000 + 21600)
    assert f.age == 500.0
    # not accruing yet: no age at all
    assert mf.factors(_job(), None, SIZE, S, 10**9).age == 0.0


def test_without_slurmdbd_age_and_fair_share_are_ignored() -> None:
    from flurm.config.slurmconf import parse_text

    text = "ClusterName=c\nControlMachine=h\nPriorityType=priority/multifactor\nPriorityWeightAge=7\n"
    text += "PriorityWeightFairshare=9\nPriorityWeightJobSize=3\nNodeName=n CPUs=1\nPartitionName=p Nodes=n\n"
    off = mf.Settings.from_config(parse_text(text))
    assert (off.weight_age, off.weight_fs, off.weight_js, off.with_slurmdbd) == (0, 0, 3, False)
    on = mf.Settings.from_config(parse_text(text + "AccountingStorageType=accounting_storage/slurmdbd\n"))
    assert (on.weight_age, on.weight_fs, on.with_slurmdbd) == (7, 9, True)
    assert not mf.recalculates(off) and mf.recalculates(on)


def test_partition_factor_is_normalised_to_the_highest() -> None:
    norms = mf.norm_priorities({"low": 10, "high": 40, "zero": 0})
    assert norms == {"low": 0.25, "high": 1.0, "zero": 0.0}
    assert mf.norm_priorities({"a": 0}) == {"a": 0.0}  # the maximum starts at 1
    low = mf.PartInput(10, 0.25, mf.unlimited(None))
    assert mf.factors(_job(), low, SIZE, S, 0).part == 2500.0
    raw = mf.Settings(weight_part=2, flags=mf.NO_NORMAL_PART)
    assert mf.factors(_job(), low, SIZE, raw, 0).part == 20.0


def test_the_total_adds_the_site_factor_takes_nice_and_stays_in_range() -> None:
    f = mf.Factors(js=375.0, part=2500.0, nice=NICE_OFFSET + 100)
    assert f.total() == 2775  # slurmctld 22.05's priority for the same job
    assert mf.Factors(js=1.0, nice=NICE_OFFSET + 100).total() == 1  # 0 is kept for held jobs
    assert mf.Factors(js=2.0**33).total() == 0xFFFFFFFF
    assert mf.Factors(js=1.9, site=NICE_OFFSET + 5).total() == 6  # truncated, as the C cast
    assert mf.factors(_job(nice=-50), None, SIZE, S, 0).nice == NICE_OFFSET - 50


def test_incr_only_never_lowers() -> None:
    incr = mf.Settings(flags=mf.INCR_ONLY)
    assert mf.next_priority(500, 400, incr) == 500
    assert mf.next_priority(500, 600, incr) == 600
    assert mf.next_priority(500, 400, mf.Settings()) == 400


# -- decay and reset ------------------------------------------------------------------------------


def test_decay_halves_usage_over_a_half_life() -> None:
    week = 7 * 86400
    assert mf.period_decay(week, week) == pytest.approx(0.5, rel=1e-3)  # the plugin's approximation
    assert mf.period_decay(0, week) == 1.0
    assert mf.period_decay(week, 0) == 1.0
    assert mf.run_usage(60, 2.0, 0) == 120.0
    assert mf.run_usage(60, 2.0, week, usage_factor=0.5) == pytest.approx(
        60 * 0.5 * 2 * (1 - 0.693 / week) ** 60
    )


def test_reset_periods_fall_on_local_midnights() -> None:
    tz = 3600  # UTC+1
    midnight = 1764716400  # 2025-12-03 00:00 local (a Wednesday)
    wed = midnight + 5 * 3600
    assert mf.next_reset(mf.RESET_DAILY, wed, wed, tz) == midnight + 86400
    assert mf.next_reset(mf.RESET_WEEKLY, wed, wed, tz) == midnight + 4 * 86400  # next Sunday
    assert mf.next_reset(mf.RESET_MONTHLY, wed, wed, tz) == 1767222000  # 2026-01-01 local
    assert mf.next_reset(mf.RESET_QUARTERLY, wed, wed, tz) == 1767222000
    assert mf.next_reset(mf.RESET_YEARLY, wed, wed, tz) == 1767222000
    assert mf.next_reset(mf.RESET_NONE, wed, wed, tz) == 0
    # a daily reset long overdue is the last midnight before now
    assert mf.next_reset(mf.RESET_DAILY, wed, wed + 10 * 86400, tz) == midnight + 10 * 86400


# -- sprio's records ------------------------------------------------------------------------------

REC = PriorityFactorsRecord(
    7, 1000, "low", js=375.0, part=2500.0, nice=NICE_OFFSET + 100, account="acct", qos_name="normal", sluid=9
)
DIRECT = PriorityFactorsRecord(8, 1000, "high", direct_prio=4242.0)


@pytest.mark.parametrize(
    "version", [SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION]
)
def test_records_round_trip(version: int) -> None:
    body = PriorityFactorsResponse((REC, DIRECT))
    again = decode_body(MsgType.RESPONSE_PRIORITY_FACTORS, encode_body(body, version), version)
    assert isinstance(again, PriorityFactorsResponse) and again.records is not None
    got, direct = again.records
    if version == SLURM_22_05_PROTOCOL_VERSION:  # no account, QOS or step id in 22.05
        assert got == PriorityFactorsRecord(7, 1000, "low", js=375.0, part=2500.0, nice=NICE_OFFSET + 100)
    elif version == SLURM_24_11_PROTOCOL_VERSION:
        assert got == PriorityFactorsRecord(
            7, 1000, "low", js=375.0, part=2500.0, nice=NICE_OFFSET + 100, account="acct", qos_name="normal"
        )
    else:
        assert got == REC
    assert direct == DIRECT
    none = decode_body(
        MsgType.RESPONSE_PRIORITY_FACTORS, encode_body(PriorityFactorsResponse(None), version), version
    )
    assert none == PriorityFactorsResponse(None)


def test_22_05_layout() -> None:
    raw = encode_body(PriorityFactorsResponse((DIRECT,)), SLURM_22_05_PROTOCOL_VERSION)
    d = 4242.0 * 1_000_000

    expected = struct.pack(">III", 1, 8, 1000) + struct.pack(">6d", *[0.0] * 6) + struct.pack(">d", d)
    expected += (
        struct.pack(">I", NICE_OFFSET) + struct.pack(">IIII", 0, 0, 0, 0) + struct.pack(">I", NICE_OFFSET)
    )
    expected += struct.pack(">I", 5) + b"high\0"
    assert raw == expected


def test_a_count_that_cannot_fit_is_refused() -> None:
    from flurm.protocol.wire import DecodeError

    with pytest.raises(DecodeError):
        decode_body(MsgType.RESPONSE_PRIORITY_FACTORS, b"\x00\x10\x00\x00", SLURM_22_05_PROTOCOL_VERSION)
