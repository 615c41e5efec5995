# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Set up, seed demo data and run the LMS with a local DCS emulator (Ctrl-C stops both).
run: venv
	$(BIN)/python scripts/run_dev.py

## Set up and run the whole suite: lint, format check, tests, then branch coverage
## of books/, media_proxy/ and lms/, servers included (docs/coverage.md); it fails
## under the floor in pyproject.toml. The report is printed even when a test fails.
test: venv lint
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest; tests=$$?; \
	  $(BIN)/coverage combine --quiet && $(BIN)/coverage report; report=$$?; \
	  [ $$tests -eq 0 ] && exit $$report || exit $$tests

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Benchmarks (not part of `make test`): prints ratios measured side by side.
bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var db.sqlite3
