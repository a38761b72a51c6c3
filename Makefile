# The README's commands. `make lab` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tfcourse-installed
LAB_STAMP := $(VENV)/.tfcourse-lab
# The kernel every notebook's metadata names (kernelspec.name); `make lab` provides it from the venv.
KERNEL := python3
PROFILE ?= full

.PHONY: lab test env data lint clean slides student course record

# Create the virtual environment and install the package with the course-building tools (the
# `build` extra) and the dev tools, once (again only when pyproject.toml changes).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[build,dev]"
	touch $(STAMP)

# JupyterLab as attendees meet it, set up inside the venv (sys-prefix level, not the user's home),
# idempotent, and redone whenever the packages are (re)installed:
# - no "Would you like to get notified about official Jupyter news?" prompt: the announcements
#   plugin is disabled in $(VENV)/etc/jupyter/labconfig/page_config.json;
# - the notebooks' kernel, `$(KERNEL)`, is a kernelspec in $(VENV)/share/jupyter/kernels that
#   starts this venv's Python by its absolute path, whichever Jupyter front end opens it.
$(LAB_STAMP): $(STAMP)
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (ipykernel)"
	touch $(LAB_STAMP)

env: $(STAMP) $(LAB_STAMP)

# Download and verify Fashion-MNIST into data/ unless it is already there (or in $TFCOURSE_DATA_DIR).
data: $(STAMP)
	$(PY) -m tfcourse fetch

# Extra JupyterLab options, e.g. make lab LAB_ARGS="--no-browser --port 8899".
LAB_ARGS ?=
# Jupyter refuses to run as root (containers, lab machines) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
# JUPYTER_PREFER_ENV_PATH=1: the venv's kernelspecs and settings come before any in the user's
# home (~/.local/share/jupyter), even where the venv belongs to another user (a shared lab machine).
lab: data $(LAB_STAMP)
	JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

# Unit tests, doctests, and nbval over every notebook in the quick profile (as CI runs it).
test: $(STAMP)
	TFCOURSE_PROFILE=$${TFCOURSE_PROFILE:-quick} MPLBACKEND=Agg $(PY) -m pytest

# Slide decks (reveal.js) of every notebook in build/slides, built from the executed notebooks in
# build/course when they are there and up to date. reveal.js, require.js, jQuery and MathJax are
# fetched once from the npm registry into build/slides/vendor, so the decks render offline.
slides: $(STAMP)
	$(PY) -m tfcourse slides

# Student versions in build/student: each solution replaced by a stub with its hints, outputs cleared.
student: $(STAMP)
	$(PY) -m tfcourse student

# Execute every notebook in $(PROFILE) (make course PROFILE=quick) into build/course: executed
# notebooks, HTML pages, results.json and the README's results table (results.md).
course: $(STAMP)
	$(PY) -m tfcourse course --profile $(PROFILE)

# Execute notebooks in the full profile (all, or make record NOTEBOOKS="notebooks/08_*.ipynb"), merge
# their status, times and recorded values into the committed results/full.json, and regenerate the
# README's full-profile table from it.
NOTEBOOKS ?=
record: $(STAMP)
	$(PY) -m tfcourse course --profile full --record results/full.json $(NOTEBOOKS)
	$(PY) -m tfcourse readme

lint: $(STAMP)
	$(VENV)/bin/ruff check tfcourse tests scripts notebooks

clean:
	rm -rf build
