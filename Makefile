# Routine tasks. `make serve` and `make test` install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install serve test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: install
	$(BIN)/gumshoe serve

# What a developer runs before committing, and CI before the tests.
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/detection.py

clean:
	rm -rf $(VENV) gumshoe-data
