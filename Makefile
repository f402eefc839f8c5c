# hotspare: `make demo` to see it, `make test` to check it. Both install what is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SOURCES := console screens tests bench

.PHONY: demo test deps system-deps lint types pytest lab-up lab-down lab-status man clean

# Brings the lab up (idempotent) and opens the console on it; q quits.
demo: deps
	$(BIN)/hotspare demo

test: deps lint types pytest

lint: deps
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/lint-imports --no-cache

types: deps
	$(BIN)/mypy

pytest: deps
	$(BIN)/pytest

deps: system-deps $(STAMP)

system-deps:
	@scripts/system-deps
	@scripts/lab-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,lab]'
	touch $@

lab-up: deps
	$(BIN)/hotspare lab up

lab-down: deps
	$(BIN)/hotspare lab down

lab-status: deps
	$(BIN)/hotspare lab status

# The man page, made from the full parser; tests/test_completion.py fails when it is stale.
MAN_ARGS := --module screens.main --function main_parser --prog hotspare --project-name hotspare \
	--manual-title "hotspare manual" --description "operator console for a highly available web site"

man: deps
	COLUMNS=80 $(BIN)/argparse-manpage $(MAN_ARGS) --output docs/hotspare.1

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
