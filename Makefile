# causalpa developer commands. Each target creates .venv on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint typecheck docs docs-serve bench report clean

$(VENV)/.core-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	touch $(VENV)/.core-installed $@

## make demo: analyse the embedded (synthetic) pilot cohort and write the HTML report
demo: $(VENV)/.core-installed
	$(PY) -m causalpa.demo

## make test: lint, type-check, build the docs strictly, run the whole test suite
test: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check causalpa tests examples benchmarks
	$(VENV)/bin/mypy
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site
	MPLBACKEND=Agg $(PY) -m pytest -n 2 --durations=15 --doctest-modules causalpa tests

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check causalpa tests examples benchmarks

typecheck: $(VENV)/.dev-installed
	$(VENV)/bin/mypy

docs: $(VENV)/.dev-installed
	$(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.dev-installed
	$(VENV)/bin/mkdocs serve

## make bench: run the benchmarks; figures go to benchmarks/results/ (not committed)
bench: $(VENV)/.dev-installed
	mkdir -p benchmarks/results
	for b in benchmarks/bench_*.py; do echo "== $$b"; MPLBACKEND=Agg $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache build *.egg-info
