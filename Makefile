# Two entry points a newcomer needs: `make demo` and `make test`.
# Both create (or reuse) a local virtual environment and install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skood-installed
# skood reads real data from data_home, else $SKOOD_DATA, else ~/skood_data; this
# workspace keeps it next to the checkout. An SKOOD_DATA already set wins; empty (the
# folder is missing) means unset, i.e. ~/skood_data.
SKOOD_DATA ?= $(abspath $(wildcard ../shared/data))
export SKOOD_DATA

.PHONY: demo test test-fast test-all venv clean docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch: a plain `torch` requirement would pull GBs of CUDA wheels.
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev,plot]"
	touch $(STAMP)

venv: $(STAMP)

# Tables and plots go to ./skood-results/ (untracked), trained flows to
# ./skood-results/cache/; the paths are printed at the end.
demo: $(STAMP)
	$(PY) -m skood benchmark --quick

# The whole suite: the fast tests and the slow ones that train small flows on the real
# data in the data home, SKOOD_DATA (../shared/data here; skipped where it is missing);
# about 10 minutes on 2 cores.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-all: test

# The documentation site (Sphinx: user guide, API reference, the gallery in examples/,
# which runs) in docs/_build/html; warnings are errors. -E re-reads every page so a
# warning is never hidden by an incremental build; unchanged gallery scripts are not
# re-run (sphinx-gallery's cache in docs/auto_examples/).
DOCS_STAMP := $(VENV)/.skood-docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m sphinx -b html -E -W --keep-going docs docs/_build/html
	@echo "Documentation: docs/_build/html/index.html"

clean:
	rm -rf $(VENV) build *.egg-info
