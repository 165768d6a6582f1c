# `make book`: environment, the default pipeline (dvc repro) and the rendered book.
# `make test`: environment and the test suite (with the pipeline at smoke size).
# `make lab`: JupyterLab on the chapters, each paired with its .py file.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The data folder the pipeline reads is the repository's own datasets/ (not
# tracked by git). `make data-link DATA=/path/to/datasets` (or `make book
# DATA=...` on a fresh clone) makes it a link to a copy of the data sets.
DATA ?= datasets
# requirements.lock pins torch's CPU build, which PyPI does not have: where pip's
# own configuration does not offer it (a local wheel), pip also reads this index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Options for `jupyter lab` (e.g. --no-browser, or --allow-root in a container).
LAB_ARGS ?=
TORCH := $(shell sed -n 's/^\(torch==[^ ]*\).*/\1/p' requirements.lock)
torch_index = $$($(BIN)/python -m pip install --quiet --dry-run --no-deps \
	"$(TORCH)" >/dev/null 2>&1 || echo --extra-index-url $(TORCH_INDEX))
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: book test env lint lab lock data-link data-check widgets-js clean

env: $(STAMP)

# Every package at the version and hash of requirements.lock.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes $(torch_index) \
		-r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Re-resolves requirements.txt to the newest releases, with hashes (pip-tools
# reads pip's configuration: its indexes and local wheels), and rewrites
# environment.yml from the same list.
lock: env
	$(PIP_COMPILE) --upgrade $(torch_index) --output-file=requirements.lock \
		requirements.txt
	$(MAKE) environment.yml

environment.yml: requirements.txt tools/environment.py
	$(PYTHON) tools/environment.py requirements.txt > environment.yml

datasets:
	@if [ "$(DATA)" != datasets ] && [ -d "$(DATA)" ]; then \
	  ln -sfn "$(abspath $(DATA))" datasets; echo "datasets -> $(DATA)"; \
	else mkdir -p datasets; \
	  echo "datasets/ is empty: the pipeline uses scikit-image's bundled photos"; fi

data-link:
	@if [ -L datasets ]; then rm datasets; \
	elif [ -d datasets ]; then rmdir datasets 2>/dev/null || \
	  { echo "datasets/ holds files: move it away first"; exit 1; }; fi
	$(MAKE) datasets DATA=$(DATA)

# Which data sets are missing or differ from the published ones (datasets.sha256).
data-check: env datasets
	$(BIN)/derain data check --data-root datasets

# The widget manager the book serves itself (the book stage runs this too).
widgets-js:
	cd js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

book: env datasets
	test -d .dvc || $(BIN)/dvc init --quiet
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	@echo "The book: results/book/_build/html/index.html"

test: env datasets
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

# Each notebooks/*.py gets an .ipynb paired with it (jupytext; git-ignored; made or
# brought up to date, outputs kept): saving in JupyterLab writes both. Their
# kernels start in the repository root, where the chapters' paths lead (an IPython
# start-up file in the virtual environment changes to it).
lab: env datasets
	$(BIN)/jupytext --quiet --to ipynb --update \
		--update-metadata '{"jupytext": {"formats": "ipynb,py:percent"}}' \
		notebooks/*.py
	mkdir -p $(VENV)/ipython/profile_default/startup
	printf 'import os\nos.chdir(os.environ.get("DERAIN_ROOT", "."))\n' \
		> $(VENV)/ipython/profile_default/startup/00-project-root.py
	DERAIN_ROOT="$(CURDIR)" IPYTHONDIR="$(abspath $(VENV))/ipython" \
		PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab $(LAB_ARGS) notebooks

lint: env
	$(BIN)/ruff check lib tests notebooks tools

clean:
	rm -rf results
