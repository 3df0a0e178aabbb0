# Every target sets itself up on a machine with only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPEC := openapi/hub-service.yaml
GEN_PKG := generated/qhub_service_gen
# The drop-in distribution (kipu-hub-service-qhub: `qhub.api.service`), built from dropin/.
DROPIN := dropin
# The vendor's runtime (qhub-serve) for the oracle tests: its own venv, because the vendor's
# qhub-api writes qhub/api/service/, which our drop-in provides too.
VENDOR_VENV := .venv-vendor
VENDOR_CONSTRAINTS := tests/vendor/constraints.txt
VENDOR_STAMP := $(VENDOR_VENV)/.installed-stamp

.PHONY: install vendor-venv generate lint unasync test test-unit demo bench docs build clean

install: $(STAMP)

# Both distributions, editable: the reference snippets and contract tests import qhub.api.service.
# Silent but for errors: pip's second quiet level (-qq) drops its warnings too (a machine's pip
# config can add a hundred "Location ... is ignored" lines), and make echoes no command.
$(STAMP): pyproject.toml $(DROPIN)/pyproject.toml constraints.txt
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --disable-pip-version-check -c constraints.txt \
		-e '.[dev]' -e ./$(DROPIN)
	@touch $(STAMP)

vendor-venv: $(VENDOR_STAMP)

# Rebuilt from scratch when its pins change; a failed install fails `make test` loudly.
$(VENDOR_STAMP): $(VENDOR_CONSTRAINTS)
	rm -rf $(VENDOR_VENV)
	$(PYTHON) -m venv $(VENDOR_VENV)
	$(VENDOR_VENV)/bin/python -m pip install -qq --disable-pip-version-check \
		-c $(VENDOR_CONSTRAINTS) qhub-serve
	$(VENDOR_VENV)/bin/python -m pip check --disable-pip-version-check
	$(VENDOR_VENV)/bin/qhub-serve --help > /dev/null
	touch $(VENDOR_STAMP)

# The generator's ruff post-hooks need ruff on PATH.
generate: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate \
		--path $(SPEC) --config generator-config.yaml --custom-template-path templates \
		--meta none --output-path $(GEN_PKG) --overwrite

# _sync/ is generated from _async/ by scripts/unasync.py: lint fails when it is stale.
lint: $(STAMP)
	$(BIN)/ruff check src $(DROPIN) tests benchmarks scripts docs/hooks
	$(BIN)/ruff format --check src $(DROPIN) tests benchmarks scripts docs/hooks
	$(BIN)/mypy src $(DROPIN)/src docs/hooks benchmarks scripts
	$(BIN)/python scripts/unasync.py --check

unasync: $(STAMP)
	$(BIN)/python scripts/unasync.py

test: $(STAMP) $(VENDOR_STAMP) lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

# The fast layer alone (tests/unit/: no sockets, no servers, no subprocess tools), no lint.
test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -m unit -q

# `make demo OUT=DIR` keeps the result files in DIR (default: a temporary folder, removed);
# `make demo SERVE=1` keeps the mock gateway serving afterwards, until Ctrl-C.
demo: $(STAMP)
	@$(BIN)/python -m kipu_hub_service.mock.demo $(if $(OUT),--output-dir '$(OUT)') \
		$(if $(SERVE),--serve)

# Both wheels and the main sdist into dist/, with the pinned hatchling of the dev venv.
build: $(STAMP)
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/python -m build --no-isolation --wheel --outdir dist $(DROPIN)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/sweeps.py

# The documentation site, built offline into site/ (no fonts, scripts or styles fetched).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(VENDOR_VENV) dist .pytest_cache .mypy_cache .ruff_cache site
