# PartnerPulse: the two commands users need are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
VENV := .venv
UV := .uv/bin/uv
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/.dagster_home
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
# Compiled at install, once: otherwise the first commands (and every parallel test worker at
# once) compile Dagster's, dbt's and Great Expectations' modules as they import them.
export UV_COMPILE_BYTECODE := 1
export DO_NOT_TRACK := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo dev run sources reports test test-fast lint format bench docs gx-docs clean

install: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

# Its own target, so that a deleted .dagster_home comes back without a reinstall.
$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME) && ln -sf ../dagster.yaml $@

# The project's own models and YAML, not what dbt writes (target/, logs/): runs must not
# make the next command reinstall.
DBT_SOURCES := $(shell find dbt_project \( -path dbt_project/target -o -path dbt_project/logs \) -prune \
	-o \( -name '*.sql' -o -name '*.yml' \) -print 2>/dev/null)
$(STAMP): pyproject.toml uv.lock dagster.yaml $(DBT_SOURCES)
	@test -x $(UV) || { $(PYTHON) -m venv .uv && .uv/bin/pip install --quiet uv==$(UV_VERSION); }
	@# --python only creates the environment: given again, uv may rebuild a venv in use.
	$(UV) sync --frozen $(if $(wildcard $(VENV)/bin/python),,--python $(PYTHON))
	$(VENV)/bin/dagster-dbt project prepare-and-package --file orchestration/project.py
	@touch $(STAMP)

demo: install  ## run the whole pipeline on the embedded stand-in sources and print a summary
	$(VENV)/bin/partnerpulse demo

run: install  ## materialise every asset and run every check (against PARTNERPULSE_* sources if set)
	$(VENV)/bin/partnerpulse run

DEV_PORT ?= 3000
dev: install  ## stand-in sources, Data Docs on :8200, Dagster UI and daemon on http://127.0.0.1:3000 (Ctrl-C stops all)
	@mkdir -p .partnerpulse
	@set -euo pipefail; \
	exports=.partnerpulse/dev-sources.env; log=.partnerpulse/dev-sources.log; \
	docs_log=.partnerpulse/dev-gx-docs.log; \
	rm -f "$$exports"; (umask 077; : >"$$exports"); \
	PYTHONUNBUFFERED=1 $(VENV)/bin/partnerpulse sources serve --landing-dir .partnerpulse/landing >"$$exports" 2>"$$log" & \
	sources=$$!; \
	$(VENV)/bin/partnerpulse gx-docs >"$$docs_log" 2>&1 & \
	docs=$$!; \
	trap 'kill -TERM $$sources $$docs 2>/dev/null; wait $$sources $$docs 2>/dev/null || true' EXIT; \
	until grep -q '^# serving' "$$log"; do \
		kill -0 $$sources 2>/dev/null || { cat "$$log"; exit 1; }; sleep 0.2; \
	done; \
	until grep -q '^Data Docs on' "$$docs_log"; do \
		kill -0 $$docs 2>/dev/null || { echo "Data Docs not served:"; cat "$$docs_log"; break; }; sleep 0.2; \
	done; \
	. "$$exports"; \
	echo "stand-in sources: $$PARTNERPULSE_CRM_URL $$PARTNERPULSE_ERP_URL $$PARTNERPULSE_PORTAL_URL, POS files: $$PARTNERPULSE_LANDING_DIR"; \
	grep -m 1 '^Data Docs on' "$$docs_log" || true; \
	env --default-signal=INT,TERM $(VENV)/bin/dagster dev -m orchestration.definitions -h 127.0.0.1 -p $(DEV_PORT)

reports: install  ## serve the scorecard pages of the last publication on http://127.0.0.1:8300
	$(VENV)/bin/partnerpulse reports serve

sources: install  ## serve the stand-in CRM, ERP and portal alone
	$(VENV)/bin/partnerpulse sources serve

# Tests run in parallel in TEST_WORKERS processes (0: in this one); tests that share one
# pipeline run stay on one worker (--dist loadgroup), handed out longest first
# (tests/conftest.py). Their temporary files go to memory where the machine has a tmpfs:
# every Dagster event is an SQLite commit, and the disk's fsyncs cost a pipeline run ~15%.
TEST_WORKERS ?= 3
TEST_TMPDIR ?= $(if $(wildcard /dev/shm/.),/dev/shm,$(or $(TMPDIR),/tmp))
PYTEST := TMPDIR=$(TEST_TMPDIR) $(VENV)/bin/pytest \
	$(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)
# The scorecard page tests drive a real Chromium: found, else installed (as root, from
# Debian's packages), else make stops saying what to install.
test: install  ## every test; the 15 slowest are listed at the end
	@scripts/ensure-chromium >/dev/null
	$(PYTEST) --durations=15

test-fast: install  ## the unit and contract tests alone (no whole pipeline, dbt build or dagster dev)
	@scripts/ensure-chromium >/dev/null
	$(PYTEST) -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

SCALE ?= small
ENGINE ?= duckdb
bench: install  ## benchmarks: world of SCALE (small|medium|large), results in benchmarks/results/; ENGINE=spark adds the e2e runs on Spark
	$(VENV)/bin/python -m benchmarks --scale $(SCALE) --engine $(ENGINE)

gx-docs: install  ## serve the warehouse's Great Expectations Data Docs on http://127.0.0.1:8200
	$(VENV)/bin/partnerpulse gx-docs

clean:
	@# The stamp too: the next install prepares the dbt manifest that target/ held.
	@# Published marts are read-only (docs/serving.md): their folders must be writable to go.
	@chmod -R u+w .partnerpulse 2>/dev/null || true
	rm -rf .partnerpulse .dagster_home dbt_project/target dbt_project/logs expectations/gx/uncommitted $(STAMP)
