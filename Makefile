# Two commands: `make run` and `make test`. Both create .venv and install
# everything the project needs from pyproject.toml first.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# llama-cpp-python builds from source (about 5 minutes here); the wheel is
# kept outside the work tree so a fresh clone on the same machine reuses it.
WHEELHOUSE ?= $(HOME)/.cache/trellis/wheels
LLAMA_VERSION := 0.3.36
LLAMA_WHEEL_STAMP := $(WHEELHOUSE)/.llama-cpp-python-$(LLAMA_VERSION)
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run api test test-fast lint bench clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

$(LLAMA_WHEEL_STAMP): | $(PY)
	mkdir -p $(WHEELHOUSE)
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
	  CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  $(PIP) wheel --no-deps "llama-cpp-python==$(LLAMA_VERSION)" -w $(WHEELHOUSE)
	touch $@

$(STAMP): pyproject.toml $(LLAMA_WHEEL_STAMP) | $(PY)
	$(PIP) install --quiet --find-links $(WHEELHOUSE) -e ".[dev]"
	HF_HUB_OFFLINE=1 $(PY) -m core.cli prepare
	touch $@

run: setup
	$(PY) -m streamlit run app/main.py

# The OpenAI-compatible gateway on the same engine and database as the app.
API_PORT ?= 8000
api: setup
	$(PY) -m api --port $(API_PORT)

test: setup
	bash scripts/ensure-system-deps.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick loop while coding: no real model loads, no real servers.
test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
