"""The GPU environment of test_parity_gres_env with SLURM 24.11 and 26.05 (clients, slurmctld and slurmd of
each release from its chroot): their credential and step records carry a type name and per-bit counts, the
prolog/epilog records come from the allocation (one per type), and a step asking more GPUs than its job
holds is refused without 22.05's reason (its check against the job's request is gone: the node test alone
says Invalid generic resource (gres) specification)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, run_both
from test_parity_gres_env import STEPS, prep_scripts

from harness import gres

__all__ = ["prep_scripts"]

RELEASES = ["24.11", "26.05"]


@pytest.fixture(scope="module", params=RELEASES)
def runs(
    request: pytest.FixtureRequest, prep_scripts: tuple[str, str]
) -> Iterator[tuple[Transcript, Transcript]]:
    prolog, epilog = prep_scripts
    conf = f"KillWait=2\nMinJobAge=300\nPrologFlags=Alloc\nProlog={prolog}\nEpilog={epilog}"
    with cluster_pair(**gres.with_shard(), extra_conf=conf, release=request.param) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_gpu_environment(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "SLURM_STEP_GPUS=0\n" in got["a job with both GPUs of a node and its steps"].stdout
