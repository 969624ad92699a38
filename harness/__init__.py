"""Test and demonstration harness: real SLURM clusters on loopback (not part of the flurm package)."""
