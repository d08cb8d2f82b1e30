# The two commands: `make run` (serve the platform) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint worker beat fakebinance bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-installed: requirements/base.txt requirements/ml.txt requirements/run.txt | $(PY)
	$(PIP) install --disable-pip-version-check -q -r requirements/run.txt
	touch $@

$(VENV)/.dev-installed: requirements/base.txt requirements/ml.txt requirements/dev.txt | $(PY)
	$(PIP) install --disable-pip-version-check -q -r requirements/dev.txt
	touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed

.env: | $(PY)
	$(PY) scripts/make_env.py .env

run: install .env
	$(PY) manage.py runplatform --host $(HOST) --port $(PORT)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: install-dev lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Scale-out processes (with DATABASE_URL and REDIS_URL set).
worker: install
	$(VENV)/bin/celery -A tradingplatform worker -l INFO
beat: install
	$(VENV)/bin/celery -A tradingplatform beat -l INFO -S django

fakebinance: install
	$(PY) manage.py fakebinance --port 9000 --api-key demo-key --api-secret demo-secret

bench: install-dev
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script; done

clean:
	rm -rf $(VENV) var
