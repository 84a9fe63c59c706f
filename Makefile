# MsPASS container platform. `make help` lists targets and variables.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3#          interpreter for the virtualenv (>= 3.10)
VENV     ?= .venv#            virtualenv with mspass_roles and its test tools
WORK_DIR ?= $(CURDIR)#        run-local: work dir (notebooks, db/, logs/, work/)
PYTEST_ARGS ?=#               extra pytest arguments, e.g. -x -k batch

BIN := $(VENV)/bin
FERRETDB := .build/bin/ferretdb
# the project's FerretDB and virtualenv come first for every target
export PATH := $(CURDIR)/.build/bin:$(CURDIR)/$(BIN):$(PATH)

.PHONY: help install run-local test test-unit test-process bench constraints clean

help: ## list targets and variables
	@echo "usage: make TARGET [VARIABLE=value ...]"
	@echo
	@echo "targets:"
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1|\2/' | column -t -s '|'
	@echo
	@echo "variables:"
	@grep -E '^[A-Z_]+ +\?=.*#' $(MAKEFILE_LIST) | sed -E 's/^([A-Z_]+) +\?= *([^#]*)# *(.*)/  \1|\3 (default: \2)/' | column -t -s '|'

install: $(BIN)/.installed $(FERRETDB) ## virtualenv with mspass_roles + FerretDB built from source (first time ~2 min)

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

$(FERRETDB): scripts/build-ferretdb.sh
	scripts/build-ferretdb.sh $@

run-local: install ## all-in-one as local processes in WORK_DIR; prints the Jupyter URL; Ctrl-C stops
	MSPASS_WORK_DIR=$(WORK_DIR) $(BIN)/mspass-role all

test: test-unit test-process ## unit + process-level tests (tiers 1 and 2)

test-unit: install ## tier 1: settings, plans, CLI (no services)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-process: install ## tier 2: roles as real local processes (FerretDB/mongod, dask, Jupyter)
	$(BIN)/python -m pytest tests/process $(PYTEST_ARGS)

bench: install ## startup time of `all` beside its slowest service started alone
	$(BIN)/python bench/startup.py

constraints: install ## re-pin constraints.txt to what the virtualenv has
	{ echo "# Exact versions the tests ran with (pip install -c constraints.txt ...). Regenerate with: make constraints"; \
	  $(BIN)/pip freeze --exclude-editable | grep -vi '^mspass'; } > constraints.txt

clean: ## remove the virtualenv, build outputs and caches
	rm -rf $(VENV) .build .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
