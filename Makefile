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

# urlwatch, for the side-by-side no-change cycle, lives in its own environment under .venv/ (never
# in the one docwatch and its tests use); without PyPI the bench prints why it is missing.
BENCH_VENV := $(VENV)/bench
URLWATCH := urlwatch==2.29

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the main job: scrape config.toml's sources (or replay snapshots/ when offline) and show the catalog.
run: $(INSTALL)
	$(BIN)/docwatch run

## Run the whole test suite: two pytest processes, one per core (tests/conftest.py deals the
## modules out by their last run's seconds); the second shard's report follows the first's.
test: $(INSTALL)
	@mkdir -p $(VENV); rc=0; \
	$(BIN)/python -m pytest -q --shard 1/2 $(PYTEST_ARGS) > $(VENV)/shard-1.log 2>&1 & other=$$!; \
	$(BIN)/python -m pytest -q --shard 0/2 $(PYTEST_ARGS) || rc=$$?; \
	wait $$other || rc=$$?; echo "--- shard 1/2"; cat $(VENV)/shard-1.log; exit $$rc

$(BENCH_VENV)/.installed:
	@mkdir -p $(VENV)
	@($(PYTHON) -m venv $(BENCH_VENV) && $(BENCH_VENV)/bin/python -m pip install --quiet $(URLWATCH)) \
		> $(VENV)/bench.log 2>&1 && touch $@ \
		|| echo "bench: could not install $(URLWATCH) into $(BENCH_VENV) (see $(VENV)/bench.log); its figure says why"

## Run every benchmark and print each figure with its goal (urlwatch installed for the side-by-side).
bench: $(INSTALL)
	@$(MAKE) --no-print-directory $(BENCH_VENV)/.installed
	DOCWATCH_URLWATCH=$(abspath $(BENCH_VENV))/bin/urlwatch $(BIN)/python -m bench

clean:
	rm -rf $(VENV) docwatch.db docwatch.db-wal docwatch.db-shm
