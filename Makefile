# The two quick-start commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run demo test fuzz check lint format types bench bench-loop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## run: set up, upgrade the SQLite store in ./.perfpilot and serve on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/perfpilot serve

## demo: serve with a simulated service, demo rules and autoscaling (README "See it work")
demo: $(STAMP)
	$(BIN)/perfpilot serve --demo

## test: set up, then lint, type-check and run the whole suite (SQLite; PostgreSQL too when
## PERFPILOT_TEST_DATABASE_URL is set), the bounded fuzz stage (tests/fuzz) included
test: $(STAMP) check
	$(BIN)/python -m pytest

## fuzz: only the fuzz stage: schemathesis against a live `perfpilot serve`, fixed seed
fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/fuzz

check: lint types

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

types: $(STAMP)
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

## bench-loop: time the closed loop on a load spike, against no loop (BENCHMARKS.md)
bench-loop: $(STAMP)
	$(BIN)/python bench/loop.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis
