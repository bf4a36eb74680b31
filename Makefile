# Routine tasks. `make serve` and `make test` install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser serve test bench screenshots lint clean

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

# The console's browser tests drive Debian's Chromium through Selenium: installed here when
# missing (apt-get, as root); where it cannot be, those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium and chromium-driver for the console's browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
			|| echo "could not install chromium: the console's browser tests will skip"; \
	else echo "no apt-get as root here: the console's browser tests will skip"; fi

test: install browser
	$(BIN)/python -m pytest -q

# The console's screenshots in docs/console/, from its browser tests' scenario.
screenshots: install browser
	GUMSHOE_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q tests/console/test_browser.py

bench: install
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/detection.py
	$(BIN)/python benchmarks/console.py

clean:
	rm -rf $(VENV) gumshoe-data
