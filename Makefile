# Two set-up commands: `make demo` and `make test`. Both build .venv with a CPU torch when none is there.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: install test test-fast test-floor lint demo bench gpu-lane gpu-lane-rehearse

# The floor lane: the lowest supported versions (constraints/floor.txt, Python 3.10, torch 2.5 from
# PyPI: a CUDA build that runs on the CPU, 5 GB installed), the exactness-critical tests (CONTRIBUTING.md)
FLOOR_VENV ?= .venv-floor
FLOOR_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) python3.10)
FLOOR_TESTS ?= tests/test_compat.py tests/test_prefix.py tests/test_exactness.py tests/test_joint.py \
	tests/test_positions.py tests/test_adapters.py tests/test_generation.py tests/test_lm.py tests/test_block_reuse.py \
	tests/test_export.py

# pip installs get up to three tries: one interrupted download must not fail a whole install
retry = for try in 1 2 3; do $(1) && break; [ $$try = 3 ] && exit 1; \
	echo "install interrupted (try $$try of 3), trying again in 30 s" >&2; sleep 30; done

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, CPU wheel, so the dependency resolver never pulls a multi-GB CUDA build
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_CPU)"
	$(call retry,$(PY) -m pip install -q -e ".[test]")
	touch $@

install: $(VENV)/.installed

test: install  # -rs lists every skip with its reason (under CI=true a missing data folder or browser fails)
	$(PY) -m pytest -x -rs --durations=10

test-fast: install  # the suite without the tests marked slow, for quick checks while editing
	$(PY) -m pytest -x -rs -m "not slow" --durations=10

$(FLOOR_VENV)/.installed: pyproject.toml constraints/floor.txt
	test -x $(FLOOR_VENV)/bin/python || $(FLOOR_PYTHON) -m venv $(FLOOR_VENV)
	$(call retry,$(FLOOR_VENV)/bin/python -m pip install -q --upgrade pip)
	$(call retry,$(FLOOR_VENV)/bin/python -m pip install -q -c constraints/floor.txt -e ".[test]")
	touch $@

test-floor: $(FLOOR_VENV)/.installed  # the versions it ran on, then the exactness tests at the floors
	$(FLOOR_VENV)/bin/python scripts/versions.py
	$(FLOOR_VENV)/bin/python -m pytest -x -rs -p no:cacheprovider $(FLOOR_TESTS)

gpu-lane-rehearse: install  # on the CPU: the GPU lane's one call in a venv of the GPU machine's versions
	$(PY) scripts/gpu_lane_rehearse.py

gpu-lane: install  # on a machine with CUDA: the GPU lane and bench/gpu_check.py; figures into contributing/performance.md
	$(PY) scripts/gpu_lane.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the layers of contributing/architecture.md

demo: install
	$(VENV)/bin/tuco-eval demo

bench: install
	for b in bench/*.py; do $(PY) $$b --quick || exit 1; done
