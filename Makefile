# The two commands that matter:  `make run`  and  `make test`.
# Both set up everything they need on a fresh machine (Python venv, packages, and for the
# tests PostgreSQL, Redis and RabbitMQ on loopback from Debian's packages).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test install services lint typecheck test-unit test-contract test-integration \
        test-e2e test-live bench clean

$(BIN)/.installed: pyproject.toml
	@bash scripts/ensure-python.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

## Run fitboard in embedded mode (SQLite, in-process ranking and queue; no servers).
run: install
	$(BIN)/fitboard serve

services:
	bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy src

## The whole suite: lint, types, and every test tier against the real services.
test: install services lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-contract: install services
	$(BIN)/pytest tests/contract $(PYTEST_ARGS)

test-integration: install services
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test-live: install services
	$(BIN)/pytest tests/live $(PYTEST_ARGS)

bench: install services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
