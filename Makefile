# Two set-up commands: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test dev bench bench-peers check install dev-install clean suites report

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
dev-install: $(VENV)/.dev-installed

# The DuckDB set-up's instance settings (pool limit, run monitoring); an existing file is kept.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.duckdb.yaml $@

# Links between the two UIs (README, "Links between Dagster and MLflow"): their local addresses
# unless set. Only demo and dev get them, so that tests see the environment as it is.
UI_URLS = DAGSTER_UI_URL="$${DAGSTER_UI_URL-http://127.0.0.1:3000}" MLFLOW_UI_URL="$${MLFLOW_UI_URL-http://127.0.0.1:5000}"

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(UI_URLS) $(PY) -m monitoring_assets.demo

# The monitor specs: $MONITORING_SPECS_DIR if set, else the demo's dated copies in data/monitors
# (written by `make demo`, partitions ending yesterday) when there are any, else monitors/.
dev: install $(DAGSTER_HOME)/dagster.yaml
	@specs="$${MONITORING_SPECS_DIR:-$$(test -d data/monitors && echo data/monitors || echo monitors)}"; \
	echo "Monitor specs from $$specs/ (set MONITORING_SPECS_DIR to choose)"; \
	MONITORING_SPECS_DIR="$$specs" $(UI_URLS) $(VENV)/bin/dagster dev -w workspace.yaml

# Two workers; tests go to whichever is free, except an xdist_group's, which share one worker in
# file order (tests/test_registry.py builds on its earlier tests; tests/test_report.py and
# tests/test_browser.py build one monitor for the file). By file (--dist loadfile) took 378 s
# against 343 s, and three workers were slower on this 2-core machine. --no-loadscope-reorder keeps
# the collection order, which tests/conftest.py sorts longest files first (SLOW_FIRST).
TEST_WORKERS ?= 2

test: dev-install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

bench: install
	$(PY) benchmarks/bench_profile_drift.py

# One day's drift end to end (our Dagster CLI runs) against Evidently and NannyML on the same data.
# The peers get their own venvs under $TMPDIR/monitoring-bench-peers (README, "Benchmark"), never
# this .venv. BENCH_PEERS_ROWS (default 1,000,000) and BENCH_PEERS_REPS (default 2) are read there.
bench-peers: install
	$(PY) benchmarks/bench_vs_peers.py

# A starting Great Expectations suite per monitor from its stored reference profile (existing
# suites are kept; see expectations/README.md).
suites: install
	$(PY) -m expectations.generate

# One self-contained HTML report from the metric tables: make report MONITOR=credit_default
# START=2024-01-01 END=2024-02-29 [OUT=dir] (default $MONITORING_REPORTS_DIR, else data/reports).
MONITOR ?= credit_default
report: install
	@test -n "$(START)" -a -n "$(END)" || { echo "make report: set START and END (YYYY-MM-DD)"; exit 2; }
	$(PY) -m monitoring_assets.report --monitor $(MONITOR) --start $(START) --end $(END) $(if $(OUT),--out $(OUT))

check: dev-install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data .dagster_home
