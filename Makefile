# Townsquare's front door. Needs only python3 (3.11+), pip and make.
#   make run    set up and serve the API on http://127.0.0.1:8000 (docs at /docs)
#   make test   set up and run the whole test suite (make test-fast: without the slow parts)
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced-$(shell cat uv.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install run test test-fast lint typecheck format check migrate clean bench bench-profile bench-cpu

help:
	@echo "make run        set up, migrate the SQLite database, serve on http://$(HOST):$(PORT)"
	@echo "make test       set up and run the test suite (SQLite; + PostgreSQL/Redis if configured)"
	@echo "make test-fast  the same without the tests marked slow (e2e, faults, fuzz, properties)"
	@echo "make lint       ruff;  make typecheck: mypy;  make check: both plus tests"
	@echo "make migrate    apply migrations to TOWNSQUARE_DATABASE_URL"
	@echo "make bench      load benchmark on local PostgreSQL + Redis and SQLite (BENCH_QUICK=1: smoke)"
	@echo "make bench-cpu  ms of CPU per request of the hot endpoints, PostgreSQL + Redis and SQLite"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# Installs exactly what uv.lock pins (dev tools included); redone only when the lock changes.
$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	rm -f $(VENV)/.synced-*
	touch $@

install: $(STAMP)

migrate: install
	$(BIN)/townsquare db upgrade

run: migrate
	$(BIN)/townsquare serve --host $(HOST) --port $(PORT)

# Both run on pytest-xdist workers (each with its own database, Redis prefix and ports):
# TEST_WORKERS=0 runs in one process; PYTEST_ARGS adds options (PYTEST_ARGS="-x -k feed").
TEST_WORKERS ?= 2
TEST_XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS))

test: install
	$(BIN)/pytest $(TEST_XDIST) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest $(TEST_XDIST) -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests migrations bench
	$(BIN)/ruff check --fix src tests migrations bench

check: lint typecheck test

# Load benchmark (docs/performance.md): needs PostgreSQL and Redis on loopback. Options are BENCH_*
# variables, from the environment or the command line: BENCH_QUICK=1 (smoke run, ~3 minutes),
# BENCH_USERS, BENCH_POSTS, BENCH_STEP_SECONDS, BENCH_SCENARIOS=feed,profile,...,
# BENCH_REUSE_DATA=1, BENCH_SQLITE=0 ... (bench/config.py lists them all).
bench: install
	$(BIN)/python -m bench

# The same with py-spy recording one server worker during the feed scenario:
# bench/results/<stamp>-feed.svg (flame graph).
# Only the feed scenario, no fan-out and no SQLite part unless told otherwise.
bench-profile: install
	BENCH_PROFILE_SECONDS=$${BENCH_PROFILE_SECONDS:-20} BENCH_SCENARIOS=$${BENCH_SCENARIOS:-feed} \
	BENCH_FANOUT_RUNS=$${BENCH_FANOUT_RUNS:-0} BENCH_SQLITE=$${BENCH_SQLITE:-0} $(BIN)/python -m bench

# CPU per request (docs/performance.md, "CPU per request"): each hot endpoint, a few hundred
# sequential keep-alive requests, CPU of every Townsquare process (jobs included) per request.
# BENCH_CPU_BACKENDS=postgres,sqlite, BENCH_CPU_ENDPOINTS=feed,post,..., BENCH_CPU_REQUESTS=300,
# BENCH_CPU_LABEL=before (bench/cpu.py lists them all). About 5 minutes.
bench-cpu: install
	$(BIN)/python -m bench.cpu

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .hypothesis
