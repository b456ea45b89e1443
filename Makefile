# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml
PYTEST_ARGS ?=

.PHONY: run test setup setup-test lint typecheck pytest i18n i18n-check demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

.stamp-setup: $(BIN)/python pyproject.toml client/package-lock.json
	$(BIN)/pip install --quiet -e .
	cd client && npm ci --no-audit --no-fund --loglevel=error && node scripts/vendor.mjs
	touch $@

.stamp-setup-test: .stamp-setup pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: .stamp-setup

setup-test: .stamp-setup-test

## make run: install, migrate SQLite, load demo data on the first run, serve on :8080
run: setup
	$(BIN)/jmdchat --config $(CONFIG) db upgrade
	@if [ ! -f var/.demo-loaded ]; then \
	  $(BIN)/jmdchat --config $(CONFIG) demo | tee var/demo-logins.txt && touch var/.demo-loaded; \
	else echo "demo data already loaded; logins: var/demo-logins.txt"; fi
	$(BIN)/jmdchat --config $(CONFIG) serve

## make test: lint, type-check, every test (unit, storage on SQLite+PostgreSQL, socket, browser)
test: setup-test lint typecheck pytest

lint:
	$(BIN)/ruff check server tests bench scripts

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## make i18n: extract strings from Python and client JS, update every catalog
i18n: setup
	$(BIN)/pybabel extract -F locales/babel.cfg -k t -k tn:1,2 -k _ --add-comments=Translators: \
	  --project=jmdchat --version=0.1 --msgid-bugs-address=i18n@jmdchat.invalid \
	  --sort-by-file -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python scripts/i18n_fill_en.py
	@for l in de ar fa fa_AF ps ru uk tr fr ku ti; do $(BIN)/python scripts/i18n_todo.py $$l >/dev/null; done

demo: setup
	$(BIN)/jmdchat --config $(CONFIG) demo

clean:
	rm -rf $(VENV) .stamp-setup .stamp-setup-test client/node_modules client/vendor
