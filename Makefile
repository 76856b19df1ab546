# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# DOCWATCH_VENV=/path/to/venv reuses an existing environment (the newcomer test does this).
ifdef DOCWATCH_VENV
BIN := $(DOCWATCH_VENV)/bin
INSTALL :=
else
BIN := $(VENV)/bin
INSTALL := $(STAMP)
endif

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the main job: scrape config.toml's sources (or replay snapshots/ when offline) and show the catalog.
run: $(INSTALL)
	$(BIN)/docwatch run

## Run the whole test suite.
test: $(INSTALL)
	$(BIN)/python -m pytest -q

## Run every benchmark and print each figure with its goal.
bench: $(INSTALL)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) docwatch.db docwatch.db-wal docwatch.db-shm
