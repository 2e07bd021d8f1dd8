# Two commands for a new user: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= livejobs.db

.PHONY: serve test install install-test browser postgres bench lint docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[test,lint,postgres,examples,docs]'
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

bench: install
	$(MAKE) -C bench run

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
