# The two set-up commands of the README: `make demo` and `make test`. Each installs what it
# needs (a virtual environment, the explorer's npm packages) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

DEMO_PORT ?= 8000

.PHONY: demo test lint deps browser trusted-documents

# The server and, beside it, the reference worker: `jobql demo` stops both in order on Ctrl-C
# (the worker first, so that it hands its jobs back while the server still answers).
demo: deps
	$(BIN)/jobql demo --port $(DEMO_PORT)

test: deps browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

deps: $(VENV)/.installed node_modules/.installed

# The browser tests drive Debian's Chromium: installed when the machine lacks it (as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jobql needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The manifest of the repository's operations for JOBQL_TRUSTED_DOCUMENTS (docs/clients.md): the
# test and client operations and the worker's, each printed with the fragments it uses.
trusted-documents: $(VENV)/.installed
	$(BIN)/jobql trusted-documents tests/operations app/worker/operations -o trusted-documents.json
