# flurm: two commands on a fresh Debian 12 machine.
#   make demo   set everything up, then rehearse the migration on loopback (real SLURM included)
#   make test   set everything up, then run the linters and the test suite
SHELL := /bin/bash
# Debian's own Python where there is one: tests run it as other users (nobody), which an interpreter
# under root's home (pyenv) would refuse them
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
VENV ?= .venv
PY := $(VENV)/bin/python
DEBIAN_PACKAGES := munge slurmctld slurmd slurm-client python3-venv util-linux procps iproute2 curl jq shellcheck \
	debootstrap mariadb-server slurmdbd

.PHONY: demo test setup debian venv chroots lint unit integration bench bench-scale clean

# the migration test of deploy/docker on loopback: slurmctld with jobs in flight, flurm in shadow, the
# eight phases of test-migration.sh, the takeover; results in test-results/migration.json
demo: setup
	bash scripts/rehearsal.sh

# the tests run in TEST_JOBS processes, one test file each at a time: the integration tests mostly wait on
# the daemons' cycles, so a few run side by side even on two CPUs
TEST_JOBS ?= 4
test: setup lint
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile tests

setup: debian venv chroots

# Debian chroots with SLURM 24.11 and 26.05 for the tests of newer releases (harness/releases.py), built once
# and cached in $$FLURM_CHROOTS (default /var/cache/flurm/chroots); scripts/chroots.sh says how
chroots: debian
	bash scripts/chroots.sh

debian:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check $(wildcard src tests bench scripts harness deploy)
	$(VENV)/bin/mypy
	shellcheck -S warning -x -P deploy/docker/scripts deploy/docker/scripts/*.sh deploy/docker/jobs/*.sh scripts/*.sh

unit: venv
	$(PY) -m pytest -q tests/unit

integration: setup
	$(PY) -m pytest -q tests/integration

bench: setup
	$(PY) bench/run.py

# flurm and slurmctld on thousands of simulated nodes (bench/fleet): docs/benchmarks.md says what each row is
bench-scale: setup
	$(PY) bench/scale.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache test-results
