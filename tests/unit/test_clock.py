"""Logic that needs the time takes it from its daemon's clock, so a fake clock drives it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from flurm.migration import admin_rpc
from flurm.migration.mirror import Mirror


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_mirror_s_freshness_follows_the_daemon_s_clock() -> None:
    clock = FakeClock(1_000.0)
    ctl = SimpleNamespace(clock=clock, cluster=None)
    mirror = Mirror(cast(Any, ctl), cast(Any, None))
    assert mirror.age() is None and not mirror.in_sync()
    mirror.stats.last_success = clock()
    clock.now += 1.5
    assert mirror.age() == 1.5 and mirror.in_sync(max_age=2.0)
    clock.now += 1.0
    assert mirror.age() == 2.5 and not mirror.in_sync(max_age=2.0)


def test_the_uptime_the_admin_status_reports_follows_the_daemon_s_clock() -> None:
    clock = FakeClock(5_000.0)
    cluster = SimpleNamespace(jobs={}, node_list=[], partitions={}, next_job_id=1)
    ctl = SimpleNamespace(
        clock=clock,
        started_at=4_000.0,
        cluster=cluster,
        mode=SimpleNamespace(value="primary"),
        config=SimpleNamespace(cluster_name="c"),
        port=6817,
    )
    doc = admin_rpc.status(cast(Any, ctl), None)
    assert doc["uptime"] == 1000.0
