# The two commands that matter:  `make run`  and  `make test`.
# Both set up everything they need on a fresh machine (Python venv, packages, and for the
# tests the PostgreSQL, Redis and RabbitMQ servers, Node.js and curl from Debian's packages).
# The tests run private servers of their own (tests/services) and never start, stop, flush
# or configure the machine's services; only `make bench` uses those (`make services`).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# How many pytest-xdist worker processes `make test` runs the suite in (0: all in pytest's
# own process). Each worker starts private servers of its own (tests/services) and takes
# whole test modules, the e2e tier as one (tests/conftest.py, ParallelGroups). Two for CI's
# two processors: run alone, the suite waits more than it computes (contract, live and unit
# tiers at load 2-4: 94 s of CPU in 200 s; in two workers 96 s, the same 1,119 tests).
PYTEST_WORKERS ?= 2

.PHONY: run test install test-tools services lint typecheck test-web test-unit test-contract \
        test-integration test-e2e test-live test-browser chaos chaos-cluster bench clean

$(BIN)/.installed: pyproject.toml
	@bash scripts/ensure-python.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

## Run fitboard in embedded mode (SQLite, in-process ranking and queue; no servers).
run: install
	$(BIN)/fitboard serve

## Install the programs the tests run when absent (starts nothing, configures nothing).
test-tools:
	bash scripts/install-test-tools.sh
	bash scripts/install-browser-test-tools.sh

## The machine's PostgreSQL, Redis and RabbitMQ, started and given the benchmarks' role, user
## and vhost: for `make bench` only.
services:
	bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src tests bench

## The whole suite: lint, types, the browser app's unit tests (Vitest), and every test tier
## (the browser tier in headless Chromium included), on private servers of its own.
test: install test-tools lint typecheck test-web
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

test-web: test-tools
	npm test --prefix web

test-unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-contract: install test-tools
	$(BIN)/pytest tests/contract $(PYTEST_ARGS)

test-integration: install test-tools
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: install test-tools
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test-live: install test-tools
	$(BIN)/pytest tests/live $(PYTEST_ARGS)

test-browser: install test-tools
	$(BIN)/pytest tests/browser $(PYTEST_ARGS)

## The full chaos suite (docs/reliability.md): at least 20,000 workouts through production mode
## on private servers while processes and servers are killed; prints its figures and writes
## them to tmp/chaos/full.json (FITBOARD_CHAOS_FIGURES). `make test` runs the short version.
chaos: install test-tools
	FITBOARD_CHAOS_FULL=1 $(BIN)/pytest tests/chaos -s $(PYTEST_ARGS)

## The chaos run on clusters (docs/reliability.md, "Clusters"): the short run's load and faults on a
## three-node RabbitMQ cluster and a three-node Redis Cluster, whose nodes it SIGKILLs; figures
## in tmp/chaos/short-cluster.json. FITBOARD_CHAOS_FULL=1 for the full size. Not in `make test`.
chaos-cluster: install test-tools
	FITBOARD_CHAOS_CLUSTER=1 $(BIN)/pytest tests/chaos/test_chaos.py -s $(PYTEST_ARGS)

## Benchmarks, on the machine's services (never part of `make test`): issue 12's whole table,
## printed and written to bench/results/<time>.json. BENCH_ARGS="--quick" for a smoke run,
## "--only drain,boards" for some figures (python -m bench --help).
bench: install services
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
