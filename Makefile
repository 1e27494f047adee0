# The two set-up commands of the README: `make demo` and `make test`. Each installs what it
# needs (a virtual environment, the explorer's npm packages) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint deps

demo: deps
	$(BIN)/jobql serve --demo

test: deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

deps: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jobql needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@
