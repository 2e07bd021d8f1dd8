# Two commands for a new user: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= livejobs.db

.PHONY: serve test install install-test browser postgres bench lint dist docs clean screenshots

$(VENV)/.installed: pyproject.toml worker_sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ./worker_sdk -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e ./worker_sdk -e '.[test,lint,postgres,examples,docs]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

serve: install
	$(VENV)/bin/livejobs serve --db $(DB) --host $(HOST) --port $(PORT)

# Debian's chromium for the dashboard's browser tests (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

# Debian's PostgreSQL server binaries: the tests start a throwaway cluster (tests/pg.py).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq postgresql; fi; }

# Python code as one style, and mypy strict on the shipped packages; a finding fails `make test`.
LINTED := server worker_sdk tests bench examples
lint: install-test
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	@mkdir -p build/typing && ln -sfn ../../server build/typing/livejobs \
	  && ln -sfn ../../worker_sdk build/typing/livejobs_sdk
	$(VENV)/bin/mypy

# The documentation site, from docs/ (mkdocs.yml), into build/site; strict: a warning fails it.
docs: install-test
	@mkdir -p build/typing && ln -sfn ../../server build/typing/livejobs \
	  && ln -sfn ../../worker_sdk build/typing/livejobs_sdk
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

test: install-test browser postgres lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Two wheels in $(DIST): livejobs (server, CLI, dashboard) and livejobs-sdk (the client only).
# setuptools leaves old modules in build/lib, which a later wheel would ship: start clean. The SDK
# is built from a copy of worker_sdk/, so its build/ never lands beside its modules.
DIST ?= dist
dist: install
	rm -rf build/lib build/bdist.* $(DIST)/.sdk && mkdir -p $(DIST) && cp -r worker_sdk $(DIST)/.sdk
	$(PIP) wheel -q --no-deps -w $(DIST) . $(DIST)/.sdk
	rm -rf $(DIST)/.sdk
	@ls $(DIST)/*.whl

# Every dashboard view, desktop and phone, light and dark, into docs/screenshots/ (look at them).
screenshots: install-test browser
	LIVEJOBS_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/acceptance/test_dashboard_screenshots.py -q

bench: install
	$(MAKE) -C bench run

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts build dist
