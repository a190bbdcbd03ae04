# Two commands on a fresh machine: `make up` runs the platform, `make test` runs the tests.
# Both create/refresh the virtualenv in .venv and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SP := $(BIN)/streamplane
NODES ?= 1
SPEC ?= examples/platform
# Where the local cluster keeps its data and secrets (a second cluster: another DATA_DIR),
# and an optional shift of all its ports so two clusters can run side by side. A spec of
# several local clusters (examples/multi-region) keeps each in a folder under DATA_DIR.
DATA_DIR ?= $(if $(findstring multi-region,$(SPEC)),.streamplane-regions,.streamplane)
PORT_OFFSET ?=
AT := --data-dir $(DATA_DIR)

.PHONY: up down fraud ledger status test test-unit test-integration lint format venv fetch bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

fetch: $(STAMP)
	$(SP) local fetch

# The example spec points editors at this file for completion.
SPEC_SCHEMA ?= .streamplane/spec.schema.json

## Start the local platform (the Kafka cluster; NODES=3 for three nodes, DATA_DIR=dir for
## a cluster in another directory) and apply the example spec to it: topics,
## least-privilege ACLs, credentials, quotas.
up: fetch
	$(SP) up --spec $(SPEC) --all --no-jobs --nodes $(NODES) $(AT) $(if $(PORT_OFFSET),--port-offset $(PORT_OFFSET))
	$(SP) spec schema --out $(SPEC_SCHEMA)
	$(SP) lint $(SPEC)
	for cluster in $$($(SP) spec clusters $(SPEC) --local); do \
		$(SP) apply $(SPEC) --cluster $$cluster --auto-approve $(AT) || exit 1; done
	$(SP) export asyncapi $(SPEC) --out $(DATA_DIR)/asyncapi
	$(SP) up --spec $(SPEC) --all --nodes $(NODES) $(AT) $(if $(PORT_OFFSET),--port-offset $(PORT_OFFSET))
	$(SP) replicate apply $(SPEC) $(AT)
	$(SP) status --spec $(SPEC) $(AT)
	@echo
	@echo "The streamplane command and the Python SDK are installed in $(VENV), not on your PATH:"
	@echo "  . $(VENV)/bin/activate      # then streamplane and python work as the README shows"
	@echo "  $(SP) --help     # or call it directly"
	@if [ "$(DATA_DIR)" != ".streamplane" ]; then \
		echo "This cluster lives in $(DATA_DIR): pass --data-dir $(DATA_DIR) to streamplane commands."; fi

## The fraud blueprint end to end on a cluster of its own (.streamplane-fraud, ports
## +3000): its spec applied, a scorer and the slow path, a retrain hot-swapped in.
fraud: fetch
	$(BIN)/python -m blueprints.fraud --data-dir .streamplane-fraud demo --port-offset 3000

## The ledger blueprint once on a cluster of its own (.streamplane-ledger, ports +4000):
## writers, the projection and the HTTP API, driven through the API.
ledger: fetch
	$(BIN)/python -m blueprints.ledger --data-dir .streamplane-ledger demo --port-offset 4000

down: $(STAMP)
	$(SP) down --spec $(SPEC) --all $(AT)

status: $(STAMP)
	$(SP) status --spec $(SPEC) $(AT)

lint: $(STAMP)
	$(BIN)/ruff check streamplane tests benchmarks blueprints
	$(BIN)/ruff format --check streamplane tests benchmarks blueprints
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format streamplane tests benchmarks blueprints
	$(BIN)/ruff check --fix streamplane tests benchmarks blueprints

## Lint, then the unit tier (no broker) with the blueprints' own tests, the integration
## tier (real clusters), and the end-to-end tier (the CLI's outputs checked by other tools,
## e.g. the AsyncAPI parser).
test: lint fetch
	$(BIN)/pytest tests/unit blueprints -m "not integration"
	$(BIN)/pytest tests/integration blueprints -m integration --durations=25
	$(BIN)/pytest tests/e2e

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit blueprints -m "not integration"

test-integration: fetch
	$(BIN)/pytest tests/integration blueprints -m integration

bench: fetch
	$(BIN)/python benchmarks/bench_up.py
	$(BIN)/python benchmarks/bench_throughput.py
	$(BIN)/python benchmarks/bench_lint.py
	$(BIN)/python benchmarks/bench_lineage.py
	$(BIN)/python benchmarks/bench_forget.py
	$(BIN)/python benchmarks/bench_masking.py
	$(BIN)/python benchmarks/bench_global_table.py
	$(BIN)/python benchmarks/bench_replication.py
	$(BIN)/python benchmarks/bench_rebalance.py
	$(BIN)/python benchmarks/bench_tiered.py
	$(BIN)/python benchmarks/bench_cost.py
	$(BIN)/python benchmarks/bench_slo.py
	$(BIN)/python benchmarks/bench_lake.py
	$(BIN)/python benchmarks/bench_lake_query.py
	$(BIN)/python benchmarks/bench_gitops.py
	$(BIN)/python benchmarks/bench_registry.py
	$(BIN)/python benchmarks/bench_security.py
	$(BIN)/python benchmarks/bench_noisy_neighbour.py
	$(BIN)/python benchmarks/bench_audit.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
