# Failsafe: `make run` starts everything on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
VAR := $(or $(FAILSAFE_VAR_DIR),var)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test lint bench-ingest bench-claim bench-search clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.run-stamp: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-stamp: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-stamp

# Development values: DEBUG on, a dev secret, SQLite + filesystem broker under var/; loopback
# callback URLs allowed so deliveries can go to bench/webhook_receiver.py (README).
run: export DEBUG ?= 1
run: export WEBHOOK_ALLOW_LOOPBACK ?= 1
# Quiet worker and beat (warnings and errors only), so the sign-in box stays on screen;
# LOG_LEVEL=INFO make run shows every task. Thread pools: Ctrl-C (honcho's SIGTERM to each
# process group) then has no pool children to kill, and the worker stops within honcho's 5 s.
run: export LOG_LEVEL ?= WARNING
run: export WORKER_POOL ?= threads
run: export PORT := $(PORT)
run: $(VENV)/.run-stamp
	mkdir -p $(VAR)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo --if-empty --credentials-file-only
	@echo
	@echo "Failsafe is starting on http://127.0.0.1:$(PORT)/ ; the sign-in details follow once it answers."
	@echo
	@# The Procfile plus one process that prints the sign-in details once /healthz answers,
	@# after the worker's start-up log (docs/performance.md has the start-up times).
	@{ cat Procfile; echo "banner: $(PY) manage.py demo_banner --url http://127.0.0.1:$(PORT)/healthz"; } > $(VAR)/Procfile.run
	exec honcho start --procfile $(VAR)/Procfile.run --app-root $(CURDIR) --port $(PORT)

test: $(VENV)/.dev-stamp
	$(PY) manage.py makemigrations --check --dry-run --settings=reviewapp.settings_test
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, then the import contracts of DESIGN.md (pyproject.toml [tool.importlinter]).
lint: $(VENV)/.dev-stamp
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Benchmarks print figures (docs/performance.md); BENCH_ARGS passes flags to the script.
# PostgreSQL on :5432 and Redis on :6379 unless BENCH_DATABASE_URL / BENCH_BROKER_URL say otherwise.
bench-ingest: $(VENV)/.dev-stamp
	$(PY) bench/ingest.py $(BENCH_ARGS)

# Drops and re-creates the database named in DATABASE_URL (default failsafe_bench_claim on :5432).
bench-claim: $(VENV)/.dev-stamp
	$(PY) bench/claim.py $(BENCH_ARGS)

# Creates and fills failsafe_bench_search on the server in BENCH_PG (default 127.0.0.1:5432).
bench-search: $(VENV)/.dev-stamp
	$(PY) bench/search.py $(BENCH_ARGS)

clean:
	rm -rf $(VAR)/broker $(VAR)/celerybeat-schedule*
