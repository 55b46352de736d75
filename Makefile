# Every target sets itself up: the virtual environment is made and filled only when missing or
# older than pyproject.toml, so `make test` on a fresh machine is the whole setup.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# checkov (`make test` runs it on infra/) pins its own HCL parser, which clashes with the
# python-hcl2 the tests use: it gets a virtual environment of its own, made once per version.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .cloudscore/tools/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: setup demo test test-fast bench lint format clean checkov browser nannyml package

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cloudscore needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)

# nannyml, which the monitoring tests compare cloudscore's drift and estimates with, and whose
# datasets they run on, pins what the project's environment cannot hold (through FLAML it brings
# XGBoost's CUDA build over the CPU-only one): it gets a virtual environment of its own too, and
# the tests talk to it through files (tests/nannyml_side/). NML_DISABLE_USAGE_LOGGING=1 keeps it
# from sending usage data out; the tests set it for every run of it.
NANNYML_VERSION := 0.13.1
STATSMODELS_VERSION := 0.15.0
NANNYML_VENV := .cloudscore/tools/nannyml
NANNYML_STAMP := $(NANNYML_VENV)/.installed-$(NANNYML_VERSION)

$(NANNYML_STAMP):
	@test -x $(NANNYML_VENV)/bin/python || $(PYTHON) -m venv $(NANNYML_VENV)
	$(NANNYML_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NANNYML_VENV)/bin/python -m pip install --quiet 'nannyml==$(NANNYML_VERSION)' 'statsmodels==$(STATSMODELS_VERSION)'
	@touch $(NANNYML_STAMP)

nannyml: $(NANNYML_STAMP)

# The browser tests (tests/browser) open the monitoring report in Debian's Chromium, installed
# once with apt-get (through sudo when not root). CLOUDSCORE_SKIP_BROWSER=1 skips the install and
# those tests.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$CLOUDSCORE_SKIP_BROWSER" = 1 ]; then echo "CLOUDSCORE_SKIP_BROWSER=1: Chromium not installed"; exit 0; fi; \
	sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	set -x; $$sudo apt-get update -q && \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

browser: $(CHROMIUM)

# The functions' source archive (.cloudscore/deploy/cloudscore-functions.zip) and its sha256.
package: setup
	$(BIN)/cloudscore deploy package

demo: setup
	$(BIN)/cloudscore demo

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: setup checkov browser nannyml
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no test was collected" >&2; exit 1; fi; exit $$rc

# Only the tests that need no server (seconds).
test-fast: setup checkov browser
	$(BIN)/python -m pytest -m "not stack" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/local_stack.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/online.py
	$(BIN)/python bench/beam.py
	$(BIN)/python bench/pipeline_vcpu.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
