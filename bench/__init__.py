"""Benchmarks: flurm against the real slurmctld, with real SLURM clients on loopback (``bench/run.py``)."""
