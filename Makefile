# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the suite).
# Both create .venv and install the project from its own files on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint audit check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/outcomes demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Known vulnerabilities (PyPI advisory database) in every installed distribution except
# the project itself (editable, not on PyPI). Ignore one only with `--ignore-vuln ID` and
# a comment saying why.
audit: $(STAMP)
	$(BIN)/pip-audit --local --skip-editable --progress-spinner off

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
