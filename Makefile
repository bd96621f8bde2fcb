# L2C Hub — every target creates or reuses .venv, so a newcomer needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test lint fmt typecheck bench lock clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) ## Run L2C Hub on its embedded default (SQLite) with demo data
	$(BIN)/l2c demo

test: $(STAMP) ## Run the whole test suite (lint, types and architecture included)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy on core/, import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy core
	$(BIN)/lint-imports

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy (strict on core/)
	$(BIN)/mypy core

bench: $(STAMP) ## Sync throughput vs peers on PostgreSQL (see bench/README.md)
	$(BIN)/python bench/sync_throughput.py

lock: ## Re-resolve dependencies from pyproject.toml and record them in constraints.txt
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	( head -2 constraints.txt; .lockenv/bin/pip freeze --exclude-editable | grep -v '^-e' ) > constraints.new
	mv constraints.new constraints.txt && rm -rf .lockenv

clean: ## Remove the virtualenv, caches and demo data
	rm -rf $(VENV) .l2c .cache .pytest_cache .mypy_cache .ruff_cache
