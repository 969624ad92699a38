"""Beside a running slurmctld, the reports flurm has nothing of (here: event triggers) are slurmctld's:
a trigger set on slurmctld is listed through flurm, and one set through flurm lands on slurmctld."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.loopback import SlurmCluster, cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shadow() -> Iterator[SlurmCluster]:
    with cluster("slurmctld", nodes=1, cpus=2) as c:
        c.start_shadow()
        yield c


def test_triggers_are_slurmctlds(shadow: SlurmCluster) -> None:
    c = shadow
    via_flurm = c.client_conf(c.shadow_port)
    c.run("strigger", "--set", "--node", "--down", "--program=/bin/true").check()
    listed = c.run("strigger", "--get").check().stdout
    assert "/bin/true" in listed, listed
    assert c.run("strigger", "--get", conf=via_flurm).check().stdout == listed
    c.run("strigger", "--set", "--node", "--up", "--program=/bin/false", conf=via_flurm).check()
    assert "/bin/false" in c.run("strigger", "--get").check().stdout
    assert c.run("sshare", conf=via_flurm).stdout == c.run("sshare").stdout
