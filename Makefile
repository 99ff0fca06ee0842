# The two set-up commands of README.md:  `make demo` (the main job) and `make test` (the tests).
# Each creates its own virtual environment in .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
DEMO_OUT ?= demo-output
# the peer tools (hls4ml, Triton, perf_analyzer) the tests compare against: scripts/setup-peers.sh
# installs them into $(PEERS) (default: $HEPINFER_PEERS if set, else peers/); tests read HEPINFER_PEERS
PEERS ?= $(or $(HEPINFER_PEERS),peers)

.PHONY: demo test lint check-lint typecheck system venv install install-test clean

## the main job: set up, then run the end-to-end demo (report in $(DEMO_OUT)/)
demo: install
	$(VENV)/bin/hepinfer demo -o $(DEMO_OUT)

## the test suite: set up (with test extras and external oracles), lint and type-check
## (ruff, ruff format, mypy strict: any finding fails), then run pytest
test: install-test
	$(MAKE) --no-print-directory check-lint
	HEPINFER_PEERS="$(abspath $(PEERS))" HEPINFER_REQUIRE_PEERS=1 $(PY) -m pytest -n auto --dist loadfile --durations=30

lint: install-test
	$(MAKE) --no-print-directory check-lint

check-lint:
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

system:
	bash scripts/system-deps.sh

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hepinfer needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

venv: $(PY)

install: system venv
	$(PIP) install -e ".[all]"

install-test: system venv
	$(PIP) install -e ".[all,test]"
	# Xilinx's own ap_types headers (the fixed-point oracle), as vendored in the hls4ml wheel
	$(PIP) install --no-deps "hls4ml==1.3.0"
	# the peers, each in its own venv under $(PEERS) (skips those already installed and working)
	bash scripts/setup-peers.sh "$(PEERS)"

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache build dist
