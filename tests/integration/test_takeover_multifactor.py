"""The takeover of a slurmctld 22.05 running priority/multifactor: the pre-flight no longer flags it, and
the pending jobs' priorities after the switch are what slurmctld showed, as its own restart would give
them: recomputed for every pending job (its plugin does so when it starts), kept where an operator set
one (the saved state says which: sbatch --priority, scontrol update priority=).

Accounting is off, so the factors (job size, partition, nice) do not move with time; the jobs wait in
DOWN partitions (test_parity_multifactor.py has the same configuration).
"""

from __future__ import annotations

import time

from test_parity_multifactor import CONF

from harness.loopback import cluster


def _priorities(c: object) -> tuple[str, str]:
    run = c.run  # type: ignore[attr-defined]
    return run("sprio", "-l").stdout, run("squeue", "-S", "i", "-t", "PD", "-o", "%i %P %Q %r").stdout


def test_takeover_keeps_multifactor_priorities() -> None:
    with cluster("slurmctld", nodes=2, cpus=2, extra_conf=CONF) as c:
        ids = [
            c.sbatch("-p", "low", "-n", "1", "--wrap", "true"),
            c.sbatch("-p", "high", "-n", "2", "--wrap", "true"),
            c.sbatch("-p", "low,high", "--wrap", "true"),
            c.sbatch("-p", "low", "--nice=100", "--wrap", "true"),
            c.sbatch("-p", "low", "--priority=4242", "--wrap", "true"),
            c.sbatch("-p", "low", "-N", "2", "--wrap", "true"),
            c.sbatch("-p", "high", "-H", "--wrap", "true"),
        ]
        c.run("scontrol", "update", f"jobid={ids[5]}", "priority=99").check()  # an operator's
        before = _priorities(c)
        assert "4242" in before[0] and " 99 " in before[1], before
        port = c.start_shadow()
        conf = c.client_conf(port)
        deadline = time.monotonic() + 30
        while c.run("squeue", "-S", "i", "-t", "PD", "-o", "%i %P %Q %r", conf=conf).stdout != before[1]:
            assert time.monotonic() < deadline, "the mirror never caught up"
            time.sleep(0.2)
        r = c.flurm_cli("takeover")
        assert r.returncode == 0, r.stdout + r.stderr  # no --allow-unsupported needed
        assert "standalone" in r.stdout
        assert "is UP" in c.run("scontrol", "ping").stdout
        after = _priorities(c)
        assert after == before, f"slurmctld:\n{before[0]}{before[1]}\nflurm:\n{after[0]}{after[1]}"
        # and a job submitted now gets its priority from flurm's plugin
        j = c.sbatch("-p", "high", "-n", "1", "--wrap", "true")
        line = c.run("squeue", "-h", "-j", str(j), "-o", "%Q").stdout.strip()
        assert line == "10375", line  # job size (1/2 + 1/4) / 2 * 1000 + partition high's 10000
