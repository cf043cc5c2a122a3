# Two commands: `make run` serves the demo shop, `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve test lint install databases browser clean bench bench-pages bench-profile stress

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $@

install: $(VENV)/.installed

# The worker beside the server command $(1), both stopped when the server ends, on Ctrl-C, and on SIGTERM
# to make alone (a process manager's stop): the shell waits in `wait`, which a signal interrupts, where a
# server in the foreground would hold its traps back until it ended by itself. Exits with the server's status.
beside_worker = $(FLASK) worker & worker=$$!; $(1) & server=$$!; \
	trap 'kill $$worker $$server 2>/dev/null; wait' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; wait $$server

## run: set up, migrate the SQLite database in instance/, add the demo catalog, serve on $(HOST):$(PORT)
## with the worker beside it (holds expire, e-mails land in instance/mail/, their links at $(HOST):$(PORT))
run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Shop on http://$(HOST):$(PORT)/ - staff accounts: $(FLASK) staff create EMAIL - e-mails: instance/mail/"
	export SHOP_PUBLIC_URL="$${SHOP_PUBLIC_URL:-http://$(HOST):$(PORT)}"; \
		$(call beside_worker,$(FLASK) run --host $(HOST) --port $(PORT))

## serve: the shop as in production (docs/deploy.md): flask doctor (stops on an error), then gunicorn with
## gunicorn.conf.py on $$DATABASE_URL at $(HOST):$(PORT) and the worker beside it, sharing one metrics directory
serve: install
	@test -n "$$DATABASE_URL" || { echo "make serve: set DATABASE_URL (docs/deploy.md); make run serves SQLite" >&2; exit 2; }
	$(FLASK) doctor
	export PROMETHEUS_MULTIPROC_DIR="$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/instance/metrics}"; \
		$(call beside_worker,$(BIN)/gunicorn --config gunicorn.conf.py --bind $(HOST):$(PORT) app:app)

## databases: make sure PostgreSQL and MariaDB are installed and running for the tests
databases:
	bash scripts/ensure-databases.sh

## browser: Debian's Chromium, axe-core and Lighthouse (npm ci, package-lock.json) for the browser tests
browser:
	bash scripts/install-chromium.sh
	bash scripts/install-node-packages.sh

## test: the whole suite on SQLite, PostgreSQL and MariaDB, in one worker process per CPU (TEST_WORKERS=0: one process)
TEST_WORKERS ?= auto
test: install databases browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

## lint: ruff's checks and formatting over the repository, mypy over shop/
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## stress: the server tests with more clients, plus a real stop/start of the PostgreSQL and MariaDB
## servers under the running shop. It stops the servers every other test run shares: never in make test.
stress: install databases
	SHOP_STRESS=1 SERVER_CLIENTS=$${SERVER_CLIENTS:-32} SERVER_OPERATIONS=$${SERVER_OPERATIONS:-40} \
		$(BIN)/python -m pytest tests/server -m server -s

## bench: throughput from raw SQL (pgbench) to HTTP on PostgreSQL db shop_bench, against django-oscar and a
## plain Flask port (own databases, Oscar in .venv-oscar), plus SQLite, and webhooks delivered by 2 workers while
## 4 clients check out; < 10 min
## (writes bench/results.md and bench/results.json; see bench/README.md)
bench: install databases
	bash bench/install-tools.sh
	$(BIN)/python -m bench.run

## bench-pages: the storefront's pages (catalog, search, cart) under gunicorn + wrk, with 10 and 10,000
## products, on PostgreSQL and SQLite; about 3 min (writes bench/results-pages.md, refreshes the README's table)
bench-pages: install databases
	bash bench/install-tools.sh
	$(BIN)/python -m bench.pages

## bench-profile: profile the service-layer hot path (bench/profile/)
bench-profile: install databases
	bash bench/install-tools.sh
	$(BIN)/python -m bench.profile

clean:
	rm -rf $(VENV) .venv-oscar instance .pytest_cache .hypothesis node_modules
