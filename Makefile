# Halcyon — the commands a developer needs. `make up` and `make test` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
SERVERS := bash deploy/local/servers.sh
PLATFORM := bash deploy/local/platform.sh

.PHONY: help setup servers up down test test-unit lint lint-types bench traces clean browser screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

setup: $(UV) ## install Python dependencies (uv workspace, locked)
	$(UV) sync --frozen --all-packages

servers: ## start Kafka 4 (KRaft) and FerretDB locally (fetched/built once, cached in ~/.cache/halcyon)
	$(SERVERS) start

up: setup servers ## servers + every service + the gateway, with demo data; prints URLs and logins
	$(PLATFORM) up

down: ## stop services and servers; nothing left running
	-$(PLATFORM) down
	$(SERVERS) stop

browser: ## Debian's Chromium (+ driver) for the console's browser tests, when missing
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }

screenshots: setup browser servers ## refresh docs/screenshots/ (the console, driven in headless Chromium)
	HALCYON_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(UV) run pytest services/console/tests/test_console_browser.py -q

test: setup browser ## every test (unit, integration, end-to-end) on real Kafka and FerretDB
	$(UV) run pytest

test-unit: setup ## only the tests that need no servers
	$(UV) run pytest -m "not integration"

lint: setup ## ruff, format, mypy (strict) and the import contracts (domain does no I/O)
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports
	$(MAKE) -s lint-types

lint-types: ## mypy (strict) over every package, test and script
	$(UV) run mypy shared/src services/*/src services/*/tests tests shared/tests bench deploy/k8s/generate.py deploy/local/seed_demo.py examples

bench: setup servers ## benchmarks; results in bench/results/<date>.json and .md
	$(UV) run python -m bench

traces: ## show the latest trace written by the local platform as a tree
	$(UV) run python -m halcyon.shared.testing.spans $${HALCYON_RUN_DIR:-.run}/spans.jsonl

clean: down ## stop everything and wipe local data
	$(SERVERS) wipe
