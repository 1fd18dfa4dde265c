# `make demo` and `make test` work on a fresh machine: each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# Debian packages the tests use (Chromium for the browser test); a no-op once installed.
system-deps:
	bash scripts/system-deps.sh

demo: setup
	$(BIN)/python examples/demo.py

test: setup system-deps
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

bench: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_thresholds.py
	$(BIN)/python benchmarks/bench_permutation.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_cv.py
	$(BIN)/python benchmarks/bench_selection.py
	$(BIN)/python benchmarks/bench_export.py
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_monitor.py

clean:
	rm -rf $(VENV) results report report-digits cv bundle demo-data .pytest_cache build src/*.egg-info
