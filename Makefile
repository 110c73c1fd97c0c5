# Two set-up commands: `make demo` and `make test`. Both build .venv with a CPU torch when none is there.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_CPU ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: install test test-fast lint demo bench gpu-lane

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, CPU wheel, so the dependency resolver never pulls a multi-GB CUDA build
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_CPU)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

test: install  # -rs lists every skip with its reason (under CI=true a missing data folder or browser fails)
	$(PY) -m pytest -x -rs --durations=10

test-fast: install  # the suite without the tests marked slow, for quick checks while editing
	$(PY) -m pytest -x -rs -m "not slow" --durations=10

gpu-lane: install  # on a machine with CUDA: the GPU lane and bench/gpu_check.py; figures into docs/performance.md
	$(PY) scripts/gpu_lane.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports  # the layers of docs/architecture.md

demo: install
	$(VENV)/bin/tuco-eval demo

bench: install
	for b in bench/*.py; do $(PY) $$b --quick || exit 1; done
