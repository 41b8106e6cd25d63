PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-pipeline bench-s3 bench-listing clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# An older botocore, whose SQS client speaks the query protocol, for its tests.
	$(BIN)/pip install --quiet --no-deps --target $(VENV)/botocore-query 'botocore==1.29.165'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chute serve --config chute.toml

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n auto

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/pipeline.py

bench-pipeline: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

bench-s3: $(STAMP)
	$(BIN)/python -m benchmarks.s3

bench-listing: $(STAMP)
	$(BIN)/python -m benchmarks.listing

clean:
	rm -rf $(VENV) chute-data .pytest_cache .mypy_cache .ruff_cache
