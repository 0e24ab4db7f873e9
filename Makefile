# Convenience targets; each creates .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXAMPLE := examples/access-analyzer-blog

.PHONY: demo test test-slow lint bench clean certificates

$(BIN)/iamrefine: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

demo: $(BIN)/iamrefine
	$(BIN)/iamrefine refine $(EXAMPLE)/policy.json --unused $(EXAMPLE)/unused.json --format diff

test: $(BIN)/iamrefine
	$(BIN)/python -m pytest

# The heavy suites that `make test` leaves out (CI runs both).
test-slow: $(BIN)/iamrefine
	$(BIN)/python -m pytest -m slow

lint: $(BIN)/iamrefine
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

bench: $(BIN)/iamrefine
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run.py

# Regenerate proofs/schema/ and proofs/certificates/ (see proofs/README.md).
certificates: $(BIN)/iamrefine
	$(BIN)/python scripts/make_proofs.py
