# Two commands set up a fresh machine (Python 3.11 + Node/npm): `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
TOOLS_STAMP := tools/node_modules/.installed
DEVNET_DIR ?= devnet-run
PYTEST_ARGS ?=

.PHONY: demo test setup tools contracts clean

## demo: a 3-chain devnet with simulated users, and the console (press a to arm) over the relay engine
demo: setup
	$(BIN)/mmtui --devnet --dir $(DEVNET_DIR) --traffic

## test: the whole suite against real anvil chains, SQLite and PostgreSQL
test: setup
	@rc=0; $(BIN)/pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; \
	exit $$rc

setup: $(PY_STAMP) $(TOOLS_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## tools: anvil (npm @foundry-rs/anvil, binary inside) and solc-js, into tools/node_modules
tools: $(TOOLS_STAMP)
$(TOOLS_STAMP): tools/package.json tools/package-lock.json
	# `npm ci` rejects this lock (npm 11 omits the other platforms' optional anvil packages): install honours it.
	npm install --prefix tools --no-audit --no-fund --no-save --loglevel=error
	touch $@

## contracts: recompile engine/devnet/contracts into the committed artifacts
contracts: $(TOOLS_STAMP)
	node tools/build_contracts.mjs

clean:
	rm -rf $(VENV) tools/node_modules $(DEVNET_DIR)
