"""flurm: a SLURM-compatible workload controller that takes over a live SLURM cluster."""

__version__ = "0.1.0"
