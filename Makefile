# Two commands on a fresh machine with only Python and pip: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else the copy pip installs for this Python (bootstrapped on first use).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
export UV_PYTHON_DOWNLOADS := never
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help bootstrap install install-bench demo demo-tiny dev test test-fast faults bench lint format clean

help:
	@echo "make demo      install everything, run the sample sweep on the embedded stack"
	@echo "make test      install everything, run lint, type checks and the whole test suite"
	@echo "make dev       run the embedded stack until Ctrl-C"
	@echo "make faults    fault drills at full size, and their figures in docs/benchmarks-history.md"
	@echo "make bench     every benchmark side by side with Optuna and Ray Tune (ARGS=--quick: minutes)"

bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv with pip"; $(PYTHON) -m pip install --quiet uv; }

install: bootstrap
	$(UV) sync --frozen --all-extras

# The benchmarks' peers (Ray Tune) on top of everything `install` brings.
install-bench: bootstrap
	$(UV) sync --frozen --all-extras --group bench

demo: install
	$(UV) run sweeps demo $(ARGS)

demo-tiny: install
	$(UV) run sweeps demo --preset tiny $(ARGS)

dev: install
	$(UV) run sweeps dev

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# The suite on TEST_WORKERS xdist workers (every core of a 2-core machine). A module (or the
# modules on the shared embedded stack) is one unit that runs on one worker, so its fixtures
# start once; the units go out longest first (tests/scheduling.py).
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
# One torch (OpenMP) thread per process under test: with two workers each training at once,
# torch's default of a thread per core puts twice as many spinning threads as cores.
TEST_THREADS ?= 1

# Modules whose tests share a node id (schemathesis' operations) run without xdist, which
# would run such a test once for all (tests/conftest.py refuses them under -n).
SERIAL_TESTS := tests/api/test_schema_fuzz.py

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
test: lint
	@OMP_NUM_THREADS=$(TEST_THREADS) $(UV) run pytest $(PYTEST_PARALLEL) --ignore=$(SERIAL_TESTS) \
		--durations=15 $(ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; \
		$(UV) run pytest $(SERIAL_TESTS); serial=$$?; \
		if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$serial

test-fast: install
	$(UV) run pytest -m "not slow and not e2e" $(ARGS)

# The control and fault drills at full size (`make test` runs them reduced), then the figures.
faults: install
	SWEEPS_DRILLS=full $(UV) run pytest --timeout 1800 -m faults tests/e2e $(ARGS)
	$(UV) run python -m benchmarks.service.fault_drills

# Sections go to docs/benchmarks-history.md, current figures to the table in BENCHMARKS.md, curves to
# docs/figures/; `make bench ARGS=--quick` is the short form.
bench: install-bench
	$(UV) run python -m benchmarks $(ARGS)

clean:
	rm -rf .sweeps .pytest_cache .mypy_cache .ruff_cache
