"""A simulated slurmd fleet: thousands of nodes on one machine, for benchmarks and faithfulness tests.

``python -m bench.fleet conf`` prints the slurm.conf lines of a fleet; ``python -m bench.fleet serve -f
SLURM_CONF`` runs every node of that file (NodeAddr 127.x, a port each) until SIGTERM. The nodes speak
the real slurmd protocol (22.05, 24.11 or 26.05 with ``--release``) with MUNGE, on flurm's own codec, and
drive a real slurmctld as they drive flurm: node.py says what each request gets, serve.py how messages
travel, script.py how long a job "runs" and with what exit code. docs/fleet.md says what is simulated
and what is not.
"""
