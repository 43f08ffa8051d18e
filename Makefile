# Two commands do everything on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export DWC_HOME ?= $(CURDIR)/.dwc
export DAGSTER_HOME ?= $(DWC_HOME)/dagster
export MLFLOW_DISABLE_TELEMETRY = true

.PHONY: demo test bench ui install install-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dwc demo --samples samples/landing

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install-test $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m bench.ingest

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf $(DWC_HOME)
