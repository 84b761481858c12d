# The two commands: `make run` starts the whole system, `make test` runs every test.
# Both install what they need first: uv (if missing) and the locked environment.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

UV_VERSION := 0.13.9
# Relative to the checkout (make runs there): an absolute path with a space in it
# cannot be a make target.
TOOLS := .tools
# Use the uv on PATH if there is one; else a private copy under .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
RUN := $(UV) run --locked --no-sync
SOURCES := packages services tests bench
# Test directories hold same-named modules (conftest, test_migrations): type-check each alone.
TEST_DIRS := packages/servicekit/tests services/users/tests services/items/tests tests

.PHONY: help run test bench bench-full bench-soak check fmt migrate revision cli clean sync

help: ## Show the targets
	@echo "Usage: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[36m%-9s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: sync ## Start PostgreSQL, Valkey and every service (users :8001, items :8002); Ctrl-C stops all
	@$(RUN) python -m servicekit.devstack run

test: sync ## Run the whole test suite against real PostgreSQL and Redis it starts itself
	@$(RUN) pytest $(PYTEST_ARGS)

bench: sync ## Benchmark the items service against a raw reference, same run (quick, < 5 min)
	@$(RUN) python -m bench $(BENCH_ARGS)

bench-full: sync ## The full benchmark: every scenario and feature switch, 1,000,000 items
	@$(RUN) python -m bench --full $(BENCH_ARGS)

bench-soak: sync ## Memory of one service process over 2,000,000 requests (about 30 minutes)
	@$(RUN) python -m bench --soak 2000000 $(BENCH_ARGS)

check: sync ## Verify formatting, lint, types, import boundaries and the lock (changes nothing)
	$(UV) lock --check
	$(RUN) ruff format --check $(SOURCES)
	$(RUN) ruff check $(SOURCES)
	$(RUN) mypy packages/servicekit/src services/users/src services/items/src bench
	@for dir in $(TEST_DIRS); do echo "$(RUN) mypy $$dir"; $(RUN) mypy $$dir; done
	$(RUN) lint-imports

fmt: sync ## Format and auto-fix lint
	$(RUN) ruff format $(SOURCES)
	$(RUN) ruff check --fix $(SOURCES)

migrate: sync ## Apply every service's migrations to the local (or configured) databases
	@$(RUN) python -m servicekit.devstack migrate

revision: sync ## New migration: make revision SERVICE=items MESSAGE="add tags"
	@test -n "$(SERVICE)" -a -n "$(MESSAGE)" || { echo 'usage: make revision SERVICE=<name> MESSAGE="<what>"'; exit 2; }
	@$(RUN) python -m servicekit.devstack revision --service "$(SERVICE)" --message "$(MESSAGE)"

cli: sync ## A service's own command on the local stack: make cli SERVICE=users ARGS="signing-keys"
	@test -n "$(SERVICE)" -a -n "$(ARGS)" || { echo 'usage: make cli SERVICE=<name> ARGS="<command> [arguments]"'; exit 2; }
	@$(RUN) python -m servicekit.devstack cli --service "$(SERVICE)" -- $(ARGS)

clean: ## Delete local data (.data/: databases, logs, dev secrets) and caches
	rm -rf .data .mypy_cache .ruff_cache .pytest_cache
	find $(SOURCES) -name __pycache__ -type d -prune -exec rm -rf {} +

sync: $(UV)
	@$(UV) sync --locked --quiet --compile-bytecode

$(TOOLS)/bin/uv:
	@echo "uv not found: installing uv $(UV_VERSION) into .tools/"
	@python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
		--target $(TOOLS) "uv==$(UV_VERSION)"
