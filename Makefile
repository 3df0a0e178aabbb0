# Every target sets itself up on a machine with only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPEC := openapi/hub-service.yaml
GEN_PKG := generated/qhub_service_gen

.PHONY: install generate lint unasync test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The generator's ruff post-hooks need ruff on PATH.
generate: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate \
		--path $(SPEC) --config generator-config.yaml --custom-template-path templates \
		--meta none --output-path $(GEN_PKG) --overwrite

# _sync/ is generated from _async/ by scripts/unasync.py: lint fails when it is stale.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy src
	$(BIN)/python scripts/unasync.py --check

unasync: $(STAMP)
	$(BIN)/python scripts/unasync.py

test: $(STAMP) lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python -m qhub.api.service.mock.demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
