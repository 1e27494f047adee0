# The two set-up commands of the README: `make demo` and `make test`. Each installs what it
# needs (a virtual environment, the explorer's npm packages) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

DEMO_PORT ?= 8000
DEMO_WORKER_KEY := jq_demoworker_worker-key-for-the-demo-organization-only

.PHONY: demo test lint deps

# The server in the foreground, the reference worker (demo organization) beside it. The worker
# waits for the server to answer; when the server stops (Ctrl-C, or it fails), the trap stops
# the worker, which releases whatever it holds and exits.
demo: deps
	@$(BIN)/jobql worker --url http://127.0.0.1:$(DEMO_PORT) --key $(DEMO_WORKER_KEY) & \
	worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/jobql serve --demo --port $(DEMO_PORT)

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
