# Two commands do everything on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export DWC_HOME ?= $(CURDIR)/.dwc
# The instance is configured by ./dagster.yaml; its state lives under $(DWC_HOME)/dagster.
export DAGSTER_HOME ?= $(CURDIR)
export MLFLOW_DISABLE_TELEMETRY = true

.PHONY: demo test lint bench ui api anvil install install-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed contracts/package-lock.json xr/package-lock.json
	$(PY) -m pip install --quiet -e '.[test,bench]'
	# solc-js, OpenZeppelin and Anvil for the on-chain tests; the glTF validator, glTF Transform, three.js
	# and esbuild for the XR tests (all from the npm registry, nothing downloaded at run time)
	if command -v npm >/dev/null; then cd contracts && npm ci --no-audit --no-fund --loglevel=error; fi
	if command -v npm >/dev/null; then cd xr && npm ci --no-audit --no-fund --loglevel=error; fi
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/dwc demo --samples samples/landing

# Test files run two at a time (one per core); a file keeps its tests on one worker, so the tests that
# share a fixture or a port of the running services never race each other.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: install-test lint
	$(PY) -m pytest $(PYTEST_ARGS) -m "not live"
	# The API's live stack (webserver, daemon, two API workers, runs) alone: beside the other files it
	# starves the browser and timing tests of the two cores.
	$(PY) -m pytest -m live

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install-test
	$(PY) -m bench.ingest
	$(PY) -m bench.enrich
	$(PY) -m bench.ml
	$(PY) -m bench.recs
	$(PY) -m bench.quantum
	$(PY) -m bench.pii
	$(PY) -m bench.anomaly
	$(PY) -m bench.telemetry
	$(PY) -m bench.anchor
	$(PY) -m bench.xr
	$(PY) -m bench.platform

ui: install
	$(VENV)/bin/dagster dev -w workspace.yaml

# The /api/v3 service on http://127.0.0.1:8000 (docs/api.md). --demo: without DWC_API_SECRET, a
# signing key of its own under DWC_HOME; it launches runs through `make ui`'s webserver.
api: install
	$(VENV)/bin/dwc api serve --demo

# A local EVM node (Anvil from npm) on 127.0.0.1:8545 whose state survives restarts; see the README's
# "On-chain anchoring" section for the variables that point DWC at it.
anvil: install-test
	mkdir -p $(DWC_HOME)/chain
	contracts/node_modules/.bin/anvil --port 8545 --state $(DWC_HOME)/chain/anvil-state.json --state-interval 10

clean:
	rm -rf $(DWC_HOME)
