# `make book`: environment, the default pipeline (dvc repro) and the rendered book.
# `make test`: environment and the test suite (with the pipeline at smoke size).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= ../shared/datasets

.PHONY: book test env lint data-link clean

env: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# requirements.txt pins torch==2.13.0: unpinned, pip pulls gigabytes of CUDA.
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# The data folder the pipeline reads; link a copy of the data sets there with
# `make data-link DATA=/path/to/datasets`, or fill it by hand (see README).
datasets:
	@if [ -d "$(DATA)" ]; then ln -sfn "$(abspath $(DATA))" datasets; \
	  echo "datasets -> $(DATA)"; else mkdir -p datasets; \
	  echo "datasets/ is empty: the pipeline uses scikit-image's bundled photos"; fi

data-link:
	rm -f datasets
	$(MAKE) datasets DATA=$(DATA)

book: env datasets
	test -d .dvc || $(BIN)/dvc init --quiet
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro
	@echo "The book: results/book/_build/html/index.html"

test: env datasets
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q

lint: env
	$(BIN)/ruff check lib tests notebooks

clean:
	rm -rf results
