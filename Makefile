# squall — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SECONDS ?= 30
export LEIN_ROOT := 1

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/squall: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<66" wheel
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/squall ## create .venv and install squall with its dev tools

UI_PORT ?= 8765
UI_LINGER ?= 0

run: venv ## run the health topology on the embedded runner (SECONDS=30), live view on UI_PORT (docs/ui.md)
	$(BIN)/squall run topologies/health.py --seconds $(SECONDS) --ui --port $(UI_PORT) --ui-linger-secs $(UI_LINGER)

PY_SOURCES := src tests topologies bench

fmt: venv ## format the Python sources (ruff format) and sort their imports
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/ruff check --select I --fix $(PY_SOURCES)

lint: venv ## format check, ruff (docstrings on the public modules), mypy --strict on src/squall
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/mypy

# Runtimes the suite needs; each mk/*.mk fragment adds its provisioning target.
PROVISION :=
include $(sort $(wildcard mk/*.mk))

test: venv lint $(PROVISION) ## the whole suite (provisions Kafka and Storm first)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -m "not isolated"
	PATH="$(CURDIR)/$(BIN):$$PATH" bash tests/run_isolated.sh $(BIN)/pytest

bench: venv ## benchmarks: writes bench/results/<date>.md and a plot
	$(BIN)/python -m bench.run

clean: ## remove build output (keeps .venv and .runtime)
	rm -rf _build _resources .pytest_cache

.PHONY: help venv run fmt lint test bench clean
