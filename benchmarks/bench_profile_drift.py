"""Benchmark: one day's ``daily_profile`` + ``feature_drift`` against a bare aggregate scan.

Run as ``make bench`` (``.venv/bin/python benchmarks/bench_profile_drift.py``). ``BENCH_ROWS``
(default 10,000,000) sets the rows of the profiled day.

What it does:

1. A child process (so its memory does not count in the measured peak RSS) generates, inside
   DuckDB with SQL, a temporary warehouse file with

   * ``inference_log``: ``BENCH_ROWS`` rows, all on 2024-02-01 (the daily partition profiled),
     20 numeric features ``f00..f19``, 5 categorical features ``c0..c4`` (``c4`` has ~200
     values, so the reference's top-K = 50 + ``__other__`` matters), a ``score`` in [0, 1] and
     a ``model_version``; a few features drift (shifted mean / scale / category mix);
   * ``reference_data``: min(1,000,000, BENCH_ROWS / 10) rows over 2024-01-01..2024-01-28,
     same distributions without the drift;

   then builds and stores the reference profile with ``_pipeline.build_reference`` (reported as
   ``reference_seconds``, not part of the timed figure).

2. This process times, on the same warehouse file:

   * ``seconds``: ``_pipeline.build_daily_profiles`` + ``_pipeline.compute_drift(scope="feature")``
     for that one day, exactly what the two Dagster assets call (reading the stored reference,
     the profile query, writing the metric tables), best of ``PROFILE_REPS`` runs;
   * ``bare_scan_seconds``: ``SELECT sum(c) ...`` over every profiled numeric column (the 20
     features and the score) of the same rows, through the same SQLAlchemy engine, best of
     ``SCAN_REPS`` runs.

   ``ratio = seconds / bare_scan_seconds``. ``peak_rss_mb`` is this process's peak resident set
   (``ru_maxrss``), DuckDB's own memory included. ``bare_scan_peak_rss_mb`` is the peak of a
   fresh process that only runs the bare scan: DuckDB caches the column blocks it reads, so that
   is the floor for any computation reading those columns.

   DuckDB's memory limit is the product's own (``resources.warehouse.duckdb_memory_limit``:
   ``DEFAULT_DUCKDB_MEMORY_LIMIT``, 512MB, unless ``$MONITORING_DUCKDB_MEMORY_LIMIT`` overrides it;
   the JSON says which). The benchmark sets none of its own. Without a limit DuckDB keeps every
   block it read cached (peak ~1.8 GB at 10M rows, as for the bare scan).

2b. In a child process (so ``VmHWM`` is its own), the reference profile of ``BENCH_ROWS`` rows:
   ``profiles.profile_reference`` of a monitor whose reference is the profiled day's table itself
   (bin edges from the reference's order statistics, then the profile under those bins), best of
   ``REFERENCE_REPS``. ``reference_profile_s`` is that time, ``reference_bins_s`` the bin edges
   alone (``_sql.reference_ranges``), ``reference_layout_s`` the edges and the top-K categories
   (``_sql.build_layout``), ``reference_ratio = reference_profile_s / bare_scan_seconds``
   (the bare scan of the same rows, this run), ``reference_peak_rss_mb`` the child's peak.

3b. ``multivariate_seconds``: ``_pipeline.compute_multivariate`` of the day for a copy of the monitor
   with ``drift.multivariate`` over the 20 numeric features (the reference moments are built first,
   untimed): the moments' ``GROUP BY`` pass over the day, PCA and the drift rows, best of
   ``PROFILE_REPS``. ``multivariate_share_of_profile_drift`` divides it by ``seconds`` (target < 0.5),
   ``multivariate_ratio`` by the bare scan.

3c. ``operations_seconds``, ``business_seconds``, ``versions_seconds`` (and ``*_ratio`` over the bare
   scan): ``compute_operations`` (latency quantiles and error rate of the day's ``latency_ms`` and
   ``status``), ``compute_business`` (two business metrics, one with a ``where`` filter; bands
   calibrated on the reference's days) and ``compute_versions`` (the day's ``v1`` / ``v2`` split:
   score profiles per version, then the labeled aggregates of each version's rows), best of
   ``PROFILE_REPS`` each.

3d. ``estimation_seconds``: ``estimated_performance`` of the same day
   (``_estimation.compute_estimated_performance``, best of ``PROFILE_REPS``), which reads the
   stored daily profile's fine score histogram and the stored calibration and scans no row;
   ``estimation_ratio = estimation_seconds / seconds`` (target < 0.05). ``seconds`` already
   includes the fine score histogram the daily profile computes for it.

3. It also times ``labeled_performance`` and ``fairness_slices`` for the same day
   (``_pipeline.compute_performance`` / ``compute_fairness``, best of ``PROFILE_REPS``): the
   10M scored rows joined to ``labels`` (90 % of them labeled) on ``request_id``, 10,000 score
   cells, slices ``c0`` (10 values) and ``c4`` (top 50 + other). ``perf_ratio`` and
   ``fairness_ratio`` divide them by the same bare scan.

4. In a child process (so ``ru_maxrss``/``VmHWM`` is the quality step's own), the data-quality
   check of the same day: a suite generated from the stored reference profile
   (``expectations.generate_suite``: 133 expectations over the 26 profiled columns), then
   ``expectations.check_days`` exactly as ``daily_profile`` calls it: Great Expectations on pandas
   batches streamed from DuckDB (a 10M-row day is above ``expectations.MAX_ROWS``, so a
   deterministic sample of ~1M rows in chunks of ``CHUNK_ROWS``), exact counts from the stored
   daily profile, results written to ``monitoring.quality_results``. ``quality_seconds`` is the
   best of ``QUALITY_REPS`` runs (Great Expectations already imported; a run's quality step pays
   that import, a few seconds, once); ``quality_peak_rss_mb`` is the child's peak, imports included.

5. First of all, the code location's start-up, which every run (and, with the multiprocess
   executor, every step) process pays: wall-clock of a fresh ``python -c "import
   monitoring_assets.definitions"`` (the module ``workspace.yaml`` names; it builds the
   definitions of the repository's ``monitors/``, with its suite) and of ``python -c "import
   dagster"``, interleaved, best of ``IMPORT_REPS`` each. ``import_ratio = import_definitions_s /
   import_dagster_s`` (target <= 1.5). ``import_heavy_modules`` lists which of Great Expectations,
   MLflow, scikit-learn, matplotlib, scipy, pandas, SQLAlchemy and numpy the import loaded (expected:
   none).
   ``BENCH_ONLY=import`` runs this part alone (no data is generated).

6. Then, many monitors (``BENCH_MONITORS``, default 50; ``BENCH_ONLY=monitors`` runs this part
   alone, in its own temp folder, about a minute): a child writes a small demo warehouse
   (``MONITORS_DAYS`` days of 40 rows), copies its three tables under each monitor's names, writes
   ``monitors/credit_default.yaml`` once per monitor (``monitor_000``.., on its own tables; no
   suite) into a 1-monitor and an N-monitor specs folder, and stores every monitor's labeled
   performance (so each label-arrival tick compares real counts). Timed in fresh processes:
   ``python -c "import monitoring_assets.definitions"`` with 1 and with N specs, interleaved, best
   of ``MONITORS_LOAD_REPS`` (``monitors_load_1_s``, ``monitors_load_n_s``, ``monitors_load_ratio``,
   target <= 2); then, one fresh process per sensor kind (label arrival, alerts, retraining) on an
   ephemeral Dagster instance, ``evaluate_tick`` of ``monitor_000``'s sensor without a cursor
   (``sensor_first_tick_s_<kind>``: what a daemon's first tick pays, imports included, target <=
   0.5), every other monitor's first tick (``sensor_first_tick_other_monitors_max_s_<kind>``), and
   ``MONITORS_STEADY_REPS`` ticks of every monitor with its cursor: the max over all monitors
   (``sensor_steady_tick_s_<kind>``, target <= 0.2) and the median.
7. Last, the backfill (``BENCH_BACKFILL_DAYS``, default 365; 0 skips it): a second warehouse, generated
   in SQL like the first, with ``BENCH_BACKFILL_ROWS`` (default 100,000) rows on each of that many
   days from 2024-02-01 (same columns, labels for 90 % of the rows in ``labels``), and a
   100,000-row reference over January. A child process builds the reference profile (untimed);
   another runs the monitor's ``bench_daily_monitoring`` job (every daily asset: ``daily_profile``,
   ``feature_drift``, ``prediction_drift``, ``labeled_performance``, ``fairness_slices``,
   ``monitoring_report`` and their checks) over all the days in ONE in-process Dagster run, as a
   single-run backfill does (tags ``dagster/asset_partition_range_start``/``_end``), on a
   temporary instance with Dagster's default SQLite storage (``DagsterInstance.local_temp``: the
   embedded set-up, ``deploy/dagster.duckdb.yaml``) and no data-quality suite.
   ``backfill_wall_s`` is that run's wall clock, run start included; ``backfill_peak_rss_mb`` the
   child's peak RSS (``VmHWM``: after the imports, Dagster and DuckDB included);
   ``backfill_asset_seconds`` each step's time from its start to its success event;
   ``backfill_events`` the events the run wrote to the instance, by type, and
   ``backfill_events_per_day``; ``backfill_load_average`` the load at the run's end; and
   ``backfill_aggregate_rows_per_day`` / ``backfill_aggregate_kb_per_day`` what
   ``performance_aggregates`` stores per day. ``BENCH_BACKFILL_STORAGE=sqlite,postgres`` (or
   ``postgres``) also runs it, on a fresh copy of the warehouse, with the instance's runs and
   event logs in a new database on the PostgreSQL server of part 8 (``deploy/dagster.yaml``, the
   production set-up): the same figures as ``backfill_pg_storage_*``, and
   ``backfill_pg_storage_event_batch_size`` (``$DAGSTER_EVENT_BATCH_SIZE``: above 0, PostgreSQL
   storage inserts a step's materializations and the run's planned events in batches). Targets
   at 365 days x 100,000 rows: <= 120 s, <= 1 GB. ``BENCH_ONLY=backfill`` runs this part alone.

7. PostgreSQL (``BENCH_PG_ROWS``, default 1,000,000; 0 skips it): on the server at
   ``$MONITORING_BENCH_PG_URL`` (default ``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``)
   a database of its own (created, then dropped), with the same tables generated in SQL by
   ``generate_series``: ``BENCH_PG_ROWS`` rows on the profiled day and a reference of a tenth of
   that (at most 1,000,000) over January. The reference profile is built untimed; then, in this
   process, ``pg_profile_drift_s`` is ``build_daily_profiles`` + ``compute_drift(scope="feature")``
   of the day (best of ``PROFILE_REPS``) and ``pg_bare_scan_s`` the same ``sum()`` scan as (b)
   on PostgreSQL (best of ``SCAN_REPS``); ``pg_ratio`` divides them (target <= 10).
   ``BENCH_ONLY=postgres`` runs this part alone.

8. Multiclass (``BENCH_MULTICLASS_ROWS``, default ``BENCH_ROWS``; 0 skips it): a DuckDB table of
   that many rows on the profiled day, generated in SQL: 10 classes ``k0``..``k9``, one softmax
   probability column per class, a feature, and the label in the same table (90 % labeled).
   ``multiclass_seconds`` is ``_pipeline.compute_performance`` of that day (the multiclass
   aggregate: confusion counts, per-class 10,000-cell probability histograms, log loss, in one
   GROUPING SETS scan; best of ``PROFILE_REPS``), ``multiclass_bare_scan_s`` a ``sum()`` over the
   10 probability columns (best of ``SCAN_REPS``), ``multiclass_ratio`` divides them.
   ``BENCH_ONLY=multiclass`` runs this part alone.

The last line printed is one JSON object (``rows``, ``seconds``, ``bare_scan_seconds``, ``ratio``,
``peak_rss_mb``, ``perf_seconds``, ``perf_ratio``, ``fairness_seconds``, ``fairness_ratio``,
``quality_seconds``, ``quality_peak_rss_mb``, ``reference_profile_s``, ``reference_ratio``,
``reference_peak_rss_mb``, ``import_definitions_s``, ``import_dagster_s``, ``import_ratio``, the
``monitors_*`` and ``sensor_*`` figures of step 6, the ``backfill_*`` figures of step 7, the
``pg_*`` figures, and extras). Progress goes to stderr. Targets at 10M rows: ratio <= 20, peak RSS <= 1 GB, perf and
fairness ratios <= 20 each, quality peak RSS <= 1.5 GB, reference ratio <= 10 and its peak RSS
<= 1 GB; import ratio <= 1.5; monitors load ratio <= 2, first ticks <= 0.5 s, steady ticks <=
0.2 s; the backfill <= 120 s and <= 1 GB;
PostgreSQL ``pg_ratio`` <= 10.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import sqlalchemy as sa

from expectations import check_days, generate_suite, load_suite
from expectations._suite import check_with_great_expectations
from expectations.generate import suite_json
from monitoring_assets import _estimation, _pipeline, build_definitions
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import parse_spec
from resources._engine import reference_relation
from resources._sql import build_layout, reference_ranges
from resources._store import Audit
from resources.warehouse import Warehouse, duckdb_memory_limit

DEFAULT_ROWS = 10_000_000
MAX_REFERENCE_ROWS = 1_000_000
PROFILE_REPS = 2
SCAN_REPS = 3
QUALITY_REPS = 2
REFERENCE_REPS = 2
IMPORT_REPS = 5
REPO = Path(__file__).resolve().parent.parent
DEFINITIONS_MODULE = "monitoring_assets.definitions"  # what workspace.yaml loads
HEAVY_MODULES = ("great_expectations", "mlflow", "sklearn", "matplotlib", "scipy", "pandas", "sqlalchemy", "numpy")

SOURCE_TABLE = "inference_log"
REFERENCE_TABLE = "reference_data"
LABELS_TABLE = "labels"
TIMESTAMP = "scored_at"
DAY = dt.date(2024, 2, 1)
REFERENCE_START = dt.date(2024, 1, 1)
REFERENCE_DAYS = 28

NUMERIC = [f"f{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{j}" for j in range(5)]
SCORE = "score"
# Features that drift on the profiled day (see _numeric_expr / _categorical_expr).
DRIFTING = ["f00", "f05", "f10", "c1"]

DEFAULT_BACKFILL_DAYS = 365
DEFAULT_BACKFILL_ROWS = 100_000
BACKFILL_REFERENCE_ROWS = 100_000
BACKFILL_JOB = "bench_daily_monitoring"
# The JSON keys' prefix of each instance storage the backfill can run on (BENCH_BACKFILL_STORAGE).
BACKFILL_STORAGE_KEYS = {"sqlite": "backfill", "postgres": "backfill_pg_storage"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if platform.system() == "Darwin" else peak / 1024


def child_peak_rss_mb() -> float:
    """Peak RSS of a spawned child, from ``VmHWM`` where available.

    On Linux a child's ``ru_maxrss`` starts at its parent's RSS at spawn time (carried across
    fork/exec), so it would overstate a small child of a large parent; ``VmHWM`` is per process image.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


# -- start-up ----------------------------------------------------------------------------------


def _python(code: str) -> subprocess.CompletedProcess[str]:
    # The repository's own specs and suites (cwd: expectations/), so that real definitions are built.
    env = {**os.environ, "MONITORING_SPECS_DIR": str(REPO / "monitors")}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, capture_output=True, text=True)


def _wall(code: str) -> float:
    started = time.perf_counter()
    _python(code)
    return time.perf_counter() - started


def measure_imports() -> dict[str, Any]:
    """Fresh-process import times of the code location and of Dagster alone (see the docstring)."""
    definitions, dagster = [], []
    for _ in range(IMPORT_REPS):  # interleaved, so that a busy moment hits both alike
        definitions.append(_wall(f"import {DEFINITIONS_MODULE}"))
        dagster.append(_wall("import dagster"))
    loaded = _python(
        f"import json, sys, {DEFINITIONS_MODULE} as d; "
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
    )
    return {
        "import_definitions_s": round(min(definitions), 3),
        "import_dagster_s": round(min(dagster), 3),
        "import_ratio": round(min(definitions) / min(dagster), 2),
        "import_definitions_runs_s": [round(t, 3) for t in definitions],
        "import_dagster_runs_s": [round(t, 3) for t in dagster],
        "import_heavy_modules": json.loads(loaded.stdout),
    }


def print_imports(imports: dict[str, Any]) -> None:
    print(f"Code location start-up (fresh processes, best of {IMPORT_REPS})")
    print(f"  import {DEFINITIONS_MODULE}: {imports['import_definitions_s']:.3f} s")
    print(f"  import dagster: {imports['import_dagster_s']:.3f} s")
    print(f"  ratio (target <= 1.5): {imports['import_ratio']:.2f}x")
    print(f"  heavy modules loaded: {', '.join(imports['import_heavy_modules']) or 'none'}")


# -- many monitors -----------------------------------------------------------------------------

DEFAULT_MONITORS = 50
MONITORS_LOAD_REPS = 3
MONITORS_STEADY_REPS = 3
MONITORS_DAYS = 6  # scoring days of the small warehouse (the label sensor's stored days)
DEMO_SPEC = REPO / "monitors" / "credit_default.yaml"
DEMO_TABLES = ("inference_log", "loan_outcomes", "training_data")
# sensor kind -> name suffix of the monitor's sensor (sensors/labels.py, alerts.py, retraining.py)
SENSOR_KINDS = {"label_arrival": "_label_arrival", "alerts": "_alerts", "retraining": "_retraining_sensor"}


def monitor_name(i: int) -> str:
    return f"monitor_{i:03d}"


def monitors_setup(tmp: str, n: int) -> None:
    """Child: the small demo warehouse (``MONITORS_DAYS`` days of 40 rows), its three tables copied
    under each monitor's names, one spec per monitor (the demo spec renamed, on its own tables), and
    the labeled performance of every monitor's days stored (so each label-arrival tick compares
    real counts, as in production)."""
    import yaml  # noqa: PLC0415

    from monitoring_assets.demo import DemoConfig, generate, write_duckdb  # noqa: PLC0415

    root = Path(tmp)
    db_path = root / "warehouse.duckdb"
    config = DemoConfig(rows_per_day=40, days=MONITORS_DAYS, reference_rows=280, last_day=dt.date(2024, 1, 10))
    write_duckdb(generate(config), db_path)
    base = yaml.safe_load(DEMO_SPEC.read_text())
    with duckdb.connect(str(db_path)) as con:
        for i in range(n):
            for table in DEMO_TABLES:
                con.execute(f'CREATE TABLE "{table}_{i:03d}" AS SELECT * FROM "{table}"')
    for count in (1, n):
        specs = root / f"specs_{count}"
        specs.mkdir()
        for i in range(count):
            data = json.loads(json.dumps(base))  # a deep copy
            data["name"] = data["model"]["registry_name"] = monitor_name(i)
            data["source"]["table"] = f"inference_log_{i:03d}"
            data["labels"]["table"] = f"loan_outcomes_{i:03d}"
            data["reference"]["table"] = f"training_data_{i:03d}"
            data["partitions"]["start_date"] = config.first_day.isoformat()
            data["partitions"]["end_date"] = (config.last_day + dt.timedelta(days=1)).isoformat()
            (specs / f"{monitor_name(i)}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    from monitoring_assets.spec import load_specs  # noqa: PLC0415

    wh = Warehouse(f"duckdb:///{db_path}")
    days = [config.first_day + dt.timedelta(days=d) for d in range(MONITORS_DAYS)]
    for spec in load_specs(root / f"specs_{n}"):
        _pipeline.compute_performance(wh, spec, days, Audit("bench-monitors", spec.spec_hash()))
    wh.dispose()


def _monitors_env(tmp: Path, count: int) -> dict[str, str]:
    return {
        **os.environ,
        "MONITORING_SPECS_DIR": str(tmp / f"specs_{count}"),
        "MONITORING_WAREHOUSE_URL": f"duckdb:///{tmp / 'warehouse.duckdb'}",
    }


def _load_wall(tmp: Path, count: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", f"import {DEFINITIONS_MODULE}"],
        cwd=REPO,
        env=_monitors_env(tmp, count),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def monitors_ticks(tmp: str, n: int, kind: str) -> None:
    """Child: one kind of sensor, in a fresh process (so the first tick pays what a daemon's first
    tick pays). The first tick of ``monitor_000``'s sensor without a cursor, then, for every
    monitor, its first tick and ``MONITORS_STEADY_REPS`` ticks with the cursor the last one
    returned. Prints JSON."""
    import dagster as dg  # noqa: PLC0415

    from monitoring_assets._common import ALERTS_KEY, WAREHOUSE_KEY  # noqa: PLC0415
    from monitoring_assets.definitions import defs  # noqa: PLC0415
    from monitoring_assets.resources import AlertsResource, WarehouseResource  # noqa: PLC0415

    instance = dg.DagsterInstance.ephemeral()
    # The resources a daemon's tick gets (alerts to the log only: no webhook is set).
    resources = {
        WAREHOUSE_KEY: WarehouseResource(url=os.environ["MONITORING_WAREHOUSE_URL"]),
        ALERTS_KEY: AlertsResource(),
    }

    def tick(i: int, cursor: str | None) -> tuple[float, str | None]:
        sensor = defs.resolve_sensor_def(monitor_name(i) + SENSOR_KINDS[kind])
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs)
        started = time.perf_counter()
        result = sensor.evaluate_tick(context)
        return time.perf_counter() - started, result.cursor

    first, cursor = tick(0, None)
    others, steady = [], []
    for i in range(n):
        if i:
            elapsed, cursor = tick(i, None)
            others.append(elapsed)
        for _ in range(MONITORS_STEADY_REPS):
            elapsed, cursor = tick(i, cursor)
            steady.append(elapsed)
    print(
        json.dumps(
            {
                "first": first,
                "first_others_max": max(others, default=0.0),
                "steady_max": max(steady),
                "steady_median": statistics.median(steady),
            }
        )
    )


def measure_monitors() -> dict[str, Any]:
    """Definitions load time with 1 and with ``BENCH_MONITORS`` monitors, and every sensor kind's
    first and steady tick (see the docstring)."""
    n = int(os.environ.get("BENCH_MONITORS", DEFAULT_MONITORS))
    if n < 2:
        raise SystemExit("BENCH_MONITORS must be at least 2")
    with tempfile.TemporaryDirectory(prefix="bench_monitors_") as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        me = [sys.executable, __file__]
        subprocess.run([*me, "--monitors-setup", tmp_name, str(n)], cwd=REPO, check=True)
        log(f"{n} monitors' warehouse and specs: {time.perf_counter() - started:.1f} s")
        one, many = [], []
        for _ in range(MONITORS_LOAD_REPS):  # interleaved, so that a busy moment hits both alike
            one.append(_load_wall(tmp, 1))
            many.append(_load_wall(tmp, n))
        log(f"load definitions: 1 monitor {min(one):.2f} s, {n} monitors {min(many):.2f} s")
        ticks: dict[str, Any] = {}
        for kind in SENSOR_KINDS:
            out = subprocess.run(
                [*me, "--monitors-ticks", tmp_name, str(n), kind],
                cwd=REPO,
                env=_monitors_env(tmp, n),
                check=True,
                capture_output=True,
                text=True,
            )
            ticks[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            log(f"{kind} sensor: first tick {ticks[kind]['first']:.3f} s, steady max {ticks[kind]['steady_max']:.3f} s")
    return {
        "monitors_n": n,
        "monitors_load_1_s": round(min(one), 3),
        "monitors_load_n_s": round(min(many), 3),
        "monitors_load_ratio": round(min(many) / min(one), 2),
        "monitors_load_1_runs_s": [round(t, 3) for t in one],
        "monitors_load_n_runs_s": [round(t, 3) for t in many],
        **{f"sensor_first_tick_s_{k}": round(v["first"], 3) for k, v in ticks.items()},
        **{f"sensor_first_tick_other_monitors_max_s_{k}": round(v["first_others_max"], 3) for k, v in ticks.items()},
        **{f"sensor_steady_tick_s_{k}": round(v["steady_max"], 3) for k, v in ticks.items()},
        **{f"sensor_steady_tick_median_s_{k}": round(v["steady_median"], 3) for k, v in ticks.items()},
    }


def print_monitors(m: dict[str, Any]) -> None:
    n = m["monitors_n"]
    print(f"Many monitors ({n} in one code location; fresh processes)")
    print(f"  load definitions, 1 monitor (best of {MONITORS_LOAD_REPS}): {m['monitors_load_1_s']:.3f} s")
    print(f"  load definitions, {n} monitors (best of {MONITORS_LOAD_REPS}): {m['monitors_load_n_s']:.3f} s")
    print(f"  ratio (target <= 2): {m['monitors_load_ratio']:.2f}x")
    for kind in SENSOR_KINDS:
        print(
            f"  {kind} sensor: first tick {m[f'sensor_first_tick_s_{kind}']:.3f} s (target <= 0.5; other monitors' "
            f"first ticks <= {m[f'sensor_first_tick_other_monitors_max_s_{kind}']:.3f} s), steady tick max over "
            f"monitors {m[f'sensor_steady_tick_s_{kind}']:.3f} s (target <= 0.2; median "
            f"{m[f'sensor_steady_tick_median_s_{kind}']:.3f} s)"
        )


# -- data --------------------------------------------------------------------------------------

NORMAL = "(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))"  # Box-Muller, one N(0, 1) draw


def _numeric_expr(i: int, drift: bool) -> str:
    """Four families (normal, log-normal, uniform, exponential), some with NULLs."""
    family = i % 4
    if family == 0:  # normal, mean i, sd 1 + i/10; f00 drifts by +0.5 sd
        sd = 1 + i / 10
        shift = 0.5 * sd if drift and i == 0 else 0.0
        expr = f"({i} + {shift} + {sd} * {NORMAL})"
    elif family == 1:  # log-normal; f05 drifts by a wider spread
        sigma = 0.75 if drift and i == 5 else 0.5
        expr = f"exp(1 + {sigma} * {NORMAL})"
    elif family == 2:  # uniform [0, 100); f10 drifts to [10, 110)
        lo = 10 if drift and i == 10 else 0
        expr = f"({lo} + 100 * random())"
    else:  # exponential with mean i + 1
        expr = f"(-ln(1 - random()) * {i + 1})"
    if i % 7 == 3:  # ~1% NULLs in f03, f10, f17
        expr = f"CASE WHEN random() < 0.01 THEN NULL ELSE {expr} END"
    return f"{expr} AS {NUMERIC[i]}"


def _categorical_expr(j: int, drift: bool) -> str:
    """c0..c3: ~10 skewed values; c4: ~200 values with a long tail (top-50 + other matters)."""
    if j == 4:
        expr = "'k' || lpad(CAST(CAST(floor(200 * pow(random(), 3)) AS INTEGER) AS VARCHAR), 3, '0')"
    else:
        power = 1 if drift and j == 1 else 2  # c1 drifts from skewed to uniform
        expr = f"'v' || CAST(CAST(floor(10 * pow(random(), {power})) AS INTEGER) AS VARCHAR)"
    if j == 3:  # ~2% NULLs
        expr = f"CASE WHEN random() < 0.02 THEN NULL ELSE {expr} END"
    return f"{expr} AS {CATEGORICAL[j]}"


def _table_sql(table: str, n_rows: int, start: dt.date, n_days: int, drift: bool) -> str:
    """``CREATE TABLE`` generating ``n_rows`` rows spread evenly (time-ordered) over ``n_days``
    (the offsets in HUGEINT: a year's microseconds times 36.5M rows overflows BIGINT)."""
    span_us = n_days * 86_400_000_000
    version = "CASE WHEN range % 10 = 0 THEN 'v2' ELSE 'v1' END" if drift else "'v1'"
    cols = [
        f"TIMESTAMP '{start.isoformat()}' + "
        f"to_microseconds(CAST(CAST(range AS HUGEINT) * {span_us} // {n_rows} AS BIGINT)) AS {TIMESTAMP}",
        f"{version} AS model_version",
        *(_numeric_expr(i, drift) for i in range(len(NUMERIC))),
        *(_categorical_expr(j, drift) for j in range(len(CATEGORICAL))),
        f"exp(4 + 0.6 * {NORMAL}) AS latency_ms",  # the operations block's columns (issue 15)
        "CASE WHEN random() < 0.02 THEN 'error' ELSE 'ok' END AS status",
    ]
    # The score depends on a few features plus noise, so it moves when they drift; the label is
    # drawn from the score, so the model is calibrated and its ROC AUC well above 0.5.
    logit = f"0.8 * (f00 - 0) + 0.03 * (f02 - 50) - 0.2 * (ln(f05) - 1) + 0.5 * {NORMAL}"
    return (
        f"CREATE OR REPLACE TABLE {table} AS SELECT *, CAST(random() < {SCORE} AS INTEGER) AS label FROM ("
        f"SELECT *, 1 / (1 + exp(-({logit}))) AS {SCORE} FROM (SELECT range AS request_id, {', '.join(cols)} "
        f"FROM range({n_rows})))"
    )


def spec_dict() -> dict[str, Any]:
    return {
        "name": "bench",
        "description": "benchmark monitor",
        "source": {
            "table": SOURCE_TABLE,
            "timestamp_column": TIMESTAMP,
            "model_version_column": "model_version",
            "id_column": "request_id",
        },
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "prediction": {"task": "binary_classification", "score_column": SCORE},
        "labels": {"table": LABELS_TABLE, "id_column": "request_id", "label_column": "label"},
        "slices": ["c0", "c4"],
        "reference": {"table": REFERENCE_TABLE, "timestamp_column": TIMESTAMP},
        "partitions": {"start_date": (REFERENCE_START).isoformat()},
        "drift": {
            "drift_share": 0.5,
            "methods": {"numeric": "wasserstein", "categorical": "jensenshannon"},
            "thresholds": {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.2},
            # A few other methods, and one calibrated threshold (reads the reference sub-windows).
            "features": {
                "f01": {"method": "psi"},
                "f02": {"method": "ks", "threshold": 0.1},
                "f03": {"method": "hellinger"},
                "c0": {"threshold": {"type": "calibrated", "k": 3.0}},
            },
        },
    }


def _write_tables(
    db_path: str, *, ref_rows: int, source_rows: int, source_days: int, seeds: tuple[float, float]
) -> float:
    """The reference, source and labels tables in SQL (seeded, so every run writes the same rows);
    the seconds it took."""
    t0 = time.perf_counter()
    con = duckdb.connect(db_path)
    try:
        con.execute(f"SELECT setseed({seeds[0]})")
        log(f"generating {REFERENCE_TABLE}: {ref_rows:,} rows over {REFERENCE_DAYS} days of January 2024")
        con.execute(_table_sql(REFERENCE_TABLE, ref_rows, REFERENCE_START, REFERENCE_DAYS, drift=False))
        log(
            f"generating {SOURCE_TABLE}: {source_days} day(s) x {source_rows // source_days:,} rows from {DAY} "
            "(this can take a while)"
        )
        con.execute(f"SELECT setseed({seeds[1]})")
        con.execute(_table_sql(SOURCE_TABLE, source_rows, DAY, source_days, drift=True))
        con.execute(
            f"CREATE OR REPLACE TABLE {LABELS_TABLE} AS SELECT request_id, label, {TIMESTAMP} + INTERVAL 7 DAY "
            f"AS labeled_at FROM {SOURCE_TABLE} WHERE random() < 0.9"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - t0


def _build_reference(db_path: str) -> float:
    """The monitor's stored reference profile; the seconds it took."""
    spec = parse_spec(spec_dict())
    wh = Warehouse(f"duckdb:///{db_path}")
    try:
        t0 = time.perf_counter()
        _pipeline.build_reference(wh, spec, Audit("bench-reference", spec.spec_hash()))
        return time.perf_counter() - t0
    finally:
        wh.dispose()


def setup(db_path: str, n_rows: int, ref_rows: int) -> None:
    """Child process: generate both tables in DuckDB, then build and store the reference profile."""
    generate_seconds = _write_tables(db_path, ref_rows=ref_rows, source_rows=n_rows, source_days=1, seeds=(0.17, 0.42))
    log(f"generated in {generate_seconds:.1f} s; building the reference profile")
    reference_seconds = _build_reference(db_path)
    log(f"reference profile built in {reference_seconds:.1f} s")
    print(
        json.dumps(
            {
                "generate_seconds": generate_seconds,
                "reference_seconds": reference_seconds,
                "setup_peak_rss_mb": child_peak_rss_mb(),
            }
        )
    )


# -- backfill ----------------------------------------------------------------------------------


def backfill_setup(db_path: str, n_days: int, rows_per_day: int) -> None:
    """Child process: the backfill's tables in SQL (``n_days`` x ``rows_per_day`` from ``DAY``),
    then its stored reference profile; prints the seconds each took."""
    generate_seconds = _write_tables(
        db_path,
        ref_rows=BACKFILL_REFERENCE_ROWS,
        source_rows=n_days * rows_per_day,
        source_days=n_days,
        seeds=(0.23, 0.61),
    )
    log(f"backfill tables generated in {generate_seconds:.1f} s; building the reference profile")
    reference_seconds = _build_reference(db_path)
    print(json.dumps({"generate_seconds": generate_seconds, "reference_seconds": reference_seconds}))


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Each step's seconds from its STEP_START to its STEP_SUCCESS (or STEP_FAILURE) event."""
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            took[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return took


def _event_counts(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """How many events of each type the run wrote to the instance's event storage."""
    counts: dict[str, int] = {}
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


@contextlib.contextmanager
def _backfill_instance(home: str, storage: str) -> Iterator[dg.DagsterInstance]:
    """A temporary Dagster instance: ``sqlite`` is Dagster's default (``local_temp``, what a
    ``dagster dev`` without a ``dagster.yaml`` uses); ``postgres`` keeps its runs and event logs in
    a fresh database on the benchmark's PostgreSQL server, as ``deploy/dagster.yaml`` does."""
    overrides: dict[str, Any] = {"telemetry": {"enabled": False}}
    if storage == "sqlite":
        with dg.DagsterInstance.local_temp(home, overrides=overrides) as instance:
            yield instance
        return
    with scratch_database(f"bench_dagster_{os.getpid()}") as url:
        overrides["storage"] = {"postgres": {"postgres_url": url.render_as_string(hide_password=False)}}
        with dg.DagsterInstance.local_temp(home, overrides=overrides) as instance:
            yield instance


def backfill_run(db_path: str, n_days: int, storage: str) -> None:
    """Child process: every daily asset of the monitor over the ``n_days`` days in one Dagster run,
    on an instance with ``storage`` (``_backfill_instance``); prints its wall clock, this
    process's peak RSS, each step's seconds and the events written by type."""
    spec = parse_spec(spec_dict())
    url = f"duckdb:///{db_path}"
    last = DAY + dt.timedelta(days=n_days - 1)
    with tempfile.TemporaryDirectory(prefix="bench_backfill_home_") as home:
        # No data-quality suite (expectations/<name>.json is looked up here), as in parts 1-3.
        os.environ["MONITORING_EXPECTATIONS_DIR"] = home
        defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url))
        job = defs.resolve_job_def(BACKFILL_JOB)
        imports_rss = child_peak_rss_mb()
        with _backfill_instance(home, storage) as instance:
            t0 = time.perf_counter()
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                tags={
                    "dagster/asset_partition_range_start": DAY.isoformat(),
                    "dagster/asset_partition_range_end": last.isoformat(),
                },
                raise_on_error=False,
            )
            wall = time.perf_counter() - t0
            steps = _step_seconds(instance, result.run_id)
            events = _event_counts(instance, result.run_id)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows, size, days = conn.execute(
                sa.text(
                    "SELECT count(*), sum(octet_length(cells)), count(DISTINCT partition_date) "
                    "FROM monitoring.performance_aggregates WHERE monitor = :m"
                ),
                {"m": spec.name},
            ).one()
            scored = conn.execute(
                sa.text(
                    "SELECT sum(value) FROM monitoring.performance_metrics "
                    "WHERE monitor = :m AND \"window\" = 'daily' AND metric = 'n_scored' AND kind = 'realized'"
                ),
                {"m": spec.name},
            ).scalar_one()
    finally:
        engine.dispose()
    print(
        json.dumps(
            {
                "success": result.success,
                "wall_s": wall,
                "peak_rss_mb": child_peak_rss_mb(),
                "imports_rss_mb": imports_rss,
                "asset_seconds": steps,
                "events": events,
                "aggregate_rows_per_day": rows / days if days else 0,
                "aggregate_kb_per_day": (size or 0) / 1024 / days if days else 0,
                "n_scored": int(scored or 0),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


# -- multiclass --------------------------------------------------------------------------------

MULTICLASS_CLASSES = [f"k{i}" for i in range(10)]


def multiclass_spec_dict() -> dict[str, Any]:
    return {
        "name": "bench_multiclass",
        "source": {"table": "mc_log", "timestamp_column": TIMESTAMP, "id_column": "request_id"},
        "features": {"numeric": ["x"]},
        "prediction": {
            "task": "multiclass_classification",
            "classes": MULTICLASS_CLASSES,
            "score_columns": {c: f"p_{c}" for c in MULTICLASS_CLASSES},
        },
        "labels": {"label_column": "label"},
        "reference": {"window": {"start": DAY.isoformat(), "end": DAY.isoformat()}},
        "partitions": {"start_date": DAY.isoformat()},
    }


def _multiclass_table_sql(n_rows: int) -> str:
    """``n_rows`` on ``DAY``: the true class, softmax probabilities that favour it, 90 % labeled."""
    k = len(MULTICLASS_CLASSES)
    logits = ", ".join(f"exp({NORMAL} + CASE WHEN truth = {i} THEN 1.5 ELSE 0 END) AS e{i}" for i in range(k))
    total = " + ".join(f"e{i}" for i in range(k))
    probs = ", ".join(f"e{i} / ({total}) AS p_{c}" for i, c in enumerate(MULTICLASS_CLASSES))
    base = (
        f"SELECT range AS request_id, TIMESTAMP '{DAY.isoformat()}' + "
        f"to_microseconds(CAST(range * 86400000000 // {n_rows} AS BIGINT)) AS {TIMESTAMP}, "
        f"{NORMAL} AS x, CAST(floor({k} * random()) AS INTEGER) AS truth FROM range({n_rows})"
    )
    return (
        f"CREATE OR REPLACE TABLE mc_log AS SELECT request_id, {TIMESTAMP}, x, {probs}, "
        f"CASE WHEN random() < 0.9 THEN 'k' || CAST(truth AS VARCHAR) END AS label "
        f"FROM (SELECT *, {logits} FROM ({base}))"
    )


def measure_multiclass(n_rows: int) -> dict[str, Any]:
    """The multiclass labeled-performance aggregate of ``n_rows`` against a bare scan (part 8)."""
    with tempfile.TemporaryDirectory(prefix="bench_multiclass_") as tmp:
        db_path = Path(tmp) / "warehouse.duckdb"
        t0 = time.perf_counter()
        con = duckdb.connect(str(db_path))
        try:
            con.execute("SELECT setseed(0.31)")
            con.execute(_multiclass_table_sql(n_rows))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        log(f"multiclass table of {n_rows:,} rows generated in {time.perf_counter() - t0:.1f} s")
        spec = parse_spec(multiclass_spec_dict())
        wh = Warehouse(f"duckdb:///{db_path}")
        audit = Audit("bench-multiclass", spec.spec_hash())
        runs, result = [], {}
        for rep in range(PROFILE_REPS):
            t0 = time.perf_counter()
            result = _pipeline.compute_performance(wh, spec, [DAY], audit)
            runs.append(time.perf_counter() - t0)
            log(f"multiclass performance run {rep + 1}/{PROFILE_REPS}: {runs[-1]:.2f} s")
        scan = bare_scan_statement(wh, spec.prediction.numeric_columns, "mc_log")
        scans = []
        for _ in range(SCAN_REPS):
            t0 = time.perf_counter()
            with wh.begin() as conn:
                conn.execute(scan).one()
            scans.append(time.perf_counter() - t0)
        wh.dispose()
    metrics = result[DAY].metrics
    if metrics["n_scored"] != n_rows:
        raise SystemExit(f"multiclass performance counted {metrics['n_scored']} rows, expected {n_rows}")
    return {
        "multiclass_rows": n_rows,
        "multiclass_classes": len(MULTICLASS_CLASSES),
        "multiclass_seconds": round(min(runs), 4),
        "multiclass_bare_scan_s": round(min(scans), 4),
        "multiclass_ratio": round(min(runs) / min(scans), 2),
        "multiclass_f1_macro": round(metrics["f1_macro"], 4),
        "multiclass_roc_auc_ovr_macro": round(metrics["roc_auc_ovr_macro"], 4),
    }


def print_multiclass(m: dict[str, Any]) -> None:
    print(f"Multiclass labeled performance ({m['multiclass_rows']:,} rows, {m['multiclass_classes']} classes)")
    print(f"  compute_performance: {m['multiclass_seconds']:.3f} s; bare scan {m['multiclass_bare_scan_s']:.3f} s")
    print(
        f"  ratio: {m['multiclass_ratio']:.1f}x (macro F1 {m['multiclass_f1_macro']}, "
        f"OvR AUC {m['multiclass_roc_auc_ovr_macro']})"
    )


def run_child(*args: str) -> dict[str, Any]:
    child = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- PostgreSQL --------------------------------------------------------------------------------

DEFAULT_PG_ROWS = 1_000_000
DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _pg_table_sql(table: str, n_rows: int, start: dt.date, n_days: int, drift: bool) -> str:
    """``_table_sql`` for PostgreSQL: the same columns and distributions (the expressions of
    ``_numeric_expr`` / ``_categorical_expr`` are valid there), rows from ``generate_series``."""
    span_us = n_days * 86_400_000_000
    version = "CASE WHEN g % 10 = 0 THEN 'v2' ELSE 'v1' END" if drift else "'v1'"
    cols = [
        f"TIMESTAMP '{start.isoformat()}' + (g * {span_us} / {n_rows}) * INTERVAL '1 microsecond' AS {TIMESTAMP}",
        f"{version} AS model_version",
        *(_numeric_expr(i, drift) for i in range(len(NUMERIC))),
        *(_categorical_expr(j, drift) for j in range(len(CATEGORICAL))),
    ]
    logit = f"0.8 * (f00 - 0) + 0.03 * (f02 - 50) - 0.2 * (ln(f05) - 1) + 0.5 * {NORMAL}"
    return (
        f"CREATE TABLE {table} AS SELECT *, CAST(random() < {SCORE} AS INTEGER) AS label FROM ("
        f"SELECT *, 1 / (1 + exp(-({logit}))) AS {SCORE} FROM (SELECT g AS request_id, {', '.join(cols)} "
        f"FROM generate_series(0, {n_rows - 1}) AS g) AS a) AS b"
    )


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[sa.URL]:
    """A new database ``name`` on the server at ``$MONITORING_BENCH_PG_URL``, dropped afterwards."""
    server = sa.make_url(os.environ.get("MONITORING_BENCH_PG_URL", DEFAULT_PG_URL))
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure_postgres(n_rows: int) -> dict[str, Any]:
    """Profile + drift of one day on PostgreSQL against a bare scan there (see the docstring)."""
    name = f"bench_profile_drift_{os.getpid()}"
    with scratch_database(name) as url:
        engine = sa.create_engine(url)
        ref_rows = min(MAX_REFERENCE_ROWS, max(1, n_rows // 10))
        log(f"PostgreSQL: generating {n_rows:,} rows and a {ref_rows:,}-row reference in {name}")
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT setseed(0.17)"))
            conn.execute(sa.text(_pg_table_sql(REFERENCE_TABLE, ref_rows, REFERENCE_START, REFERENCE_DAYS, False)))
            conn.execute(sa.text("SELECT setseed(0.42)"))
            conn.execute(sa.text(_pg_table_sql(SOURCE_TABLE, n_rows, DAY, 1, True)))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))  # hint bits set and statistics, as a live table has
        engine.dispose()
        generate_s = time.perf_counter() - t0
        spec = parse_spec(spec_dict())
        wh = Warehouse(url.render_as_string(hide_password=False))
        try:
            audit = Audit("bench-pg", spec.spec_hash())
            t0 = time.perf_counter()
            _pipeline.build_reference(wh, spec, audit)
            reference_s = time.perf_counter() - t0
            log(f"PostgreSQL: generated in {generate_s:.1f} s, reference profile in {reference_s:.1f} s")
            runs: list[float] = []
            profiles: dict[dt.date, Any] = {}
            for rep in range(PROFILE_REPS):
                t0 = time.perf_counter()
                profiles = _pipeline.build_daily_profiles(wh, spec, [DAY], audit)
                _pipeline.compute_drift(wh, spec, [DAY], "feature", audit)
                runs.append(time.perf_counter() - t0)
                log(f"PostgreSQL profile+drift run {rep + 1}/{PROFILE_REPS}: {runs[-1]:.2f} s")
            if profiles[DAY].n_rows != n_rows:
                raise SystemExit(f"PostgreSQL daily profile counted {profiles[DAY].n_rows} rows, expected {n_rows}")
            scan = bare_scan_statement(wh, spec.numeric_columns)
            scans: list[float] = []
            for rep in range(SCAN_REPS):
                t0 = time.perf_counter()
                with wh.begin() as conn:
                    conn.execute(scan).one()
                scans.append(time.perf_counter() - t0)
                log(f"PostgreSQL bare scan run {rep + 1}/{SCAN_REPS}: {scans[-1]:.3f} s")
        finally:
            wh.dispose()
    return {
        "pg_rows": n_rows,
        "pg_bare_scan_s": round(min(scans), 4),
        "pg_profile_drift_s": round(min(runs), 4),
        "pg_ratio": round(min(runs) / min(scans), 2),
        "pg_profile_drift_runs_s": [round(t, 4) for t in runs],
        "pg_bare_scan_runs_s": [round(t, 4) for t in scans],
        "pg_reference_s": round(reference_s, 4),
        "pg_generate_s": round(generate_s, 4),
    }


def print_postgres(p: dict[str, Any]) -> None:
    print(f"PostgreSQL ({p['pg_rows']:,} rows, one day; best of {PROFILE_REPS} / {SCAN_REPS})")
    print(f"  daily_profile + feature_drift: {p['pg_profile_drift_s']:.3f} s")
    print(f"  bare sum() scan: {p['pg_bare_scan_s']:.3f} s")
    print(f"  ratio (target <= 10): {p['pg_ratio']:.1f}x")


def measure_backfill(n_days: int, rows_per_day: int) -> dict[str, Any]:
    """Part 7 of the module docstring: the figures for the JSON line, for each instance storage of
    ``BENCH_BACKFILL_STORAGE`` (``sqlite``, the default, and/or ``postgres``), each run on its own
    copy of the generated warehouse."""
    storages = [s.strip() for s in os.environ.get("BENCH_BACKFILL_STORAGE", "sqlite").split(",") if s.strip()]
    if not storages or set(storages) - set(BACKFILL_STORAGE_KEYS):
        raise SystemExit(f"BENCH_BACKFILL_STORAGE={storages}: the storages are 'sqlite' and 'postgres'")
    out: dict[str, Any] = {"backfill_days": n_days, "backfill_rows_per_day": rows_per_day}
    with tempfile.TemporaryDirectory(prefix="bench_backfill_") as tmp:
        pristine = str(Path(tmp) / "warehouse.duckdb")
        made = run_child("--backfill-setup", pristine, str(n_days), str(rows_per_day))
        out["backfill_generate_seconds"] = round(made["generate_seconds"], 1)
        out["backfill_reference_seconds"] = round(made["reference_seconds"], 2)
        for i, storage in enumerate(storages):
            db_path = pristine
            if i < len(storages) - 1:  # a run writes the monitoring tables: the next one gets a fresh copy
                db_path = str(Path(tmp) / f"warehouse_{storage}.duckdb")
                shutil.copy(pristine, db_path)
            log(f"backfill: one run of {BACKFILL_JOB} over {n_days} days, {storage} instance storage")
            ran = run_child("--backfill-run", db_path, str(n_days), storage)
            if not ran["success"] or ran["n_scored"] != n_days * rows_per_day:
                raise SystemExit(f"backfill run failed or counted {ran['n_scored']:,} scored rows: {ran}")
            log(
                f"backfill ({storage}): {ran['wall_s']:.1f} s, peak RSS {ran['peak_rss_mb']:,.0f} MB; "
                f"steps {ran['asset_seconds']}"
            )
            prefix = BACKFILL_STORAGE_KEYS[storage]
            out |= {
                f"{prefix}_wall_s": round(ran["wall_s"], 2),
                f"{prefix}_peak_rss_mb": round(ran["peak_rss_mb"], 1),
                f"{prefix}_asset_seconds": ran["asset_seconds"],
                f"{prefix}_events": ran["events"],
                f"{prefix}_events_per_day": round(sum(ran["events"].values()) / n_days, 1),
                f"{prefix}_load_average": ran["load_average"],
            }
            if i == 0:
                out |= {
                    "backfill_imports_rss_mb": round(ran["imports_rss_mb"], 1),
                    "backfill_aggregate_rows_per_day": round(ran["aggregate_rows_per_day"], 1),
                    "backfill_aggregate_kb_per_day": round(ran["aggregate_kb_per_day"], 2),
                }
            if storage == "postgres":
                out["backfill_pg_storage_event_batch_size"] = int(os.environ.get("DAGSTER_EVENT_BATCH_SIZE") or 0)
    return out


def print_backfill(b: dict[str, Any]) -> None:
    print(f"Backfill: {b['backfill_days']} days x {b['backfill_rows_per_day']:,} rows in one run")
    for storage, prefix in BACKFILL_STORAGE_KEYS.items():
        if f"{prefix}_wall_s" not in b:
            continue
        print(f"  {storage} instance storage (load average {b[f'{prefix}_load_average']}):")
        print(f"    wall clock (target <= 120 s): {b[f'{prefix}_wall_s']:.1f} s")
        print(f"    peak RSS (target <= 1024 MB): {b[f'{prefix}_peak_rss_mb']:,.0f} MB")
        print(f"    events written: {b[f'{prefix}_events_per_day']:.1f} a day")
        for step, seconds in sorted(b[f"{prefix}_asset_seconds"].items(), key=lambda kv: -kv[1]):
            print(f"    {step}: {seconds:.1f} s")
    rows, kb = b["backfill_aggregate_rows_per_day"], b["backfill_aggregate_kb_per_day"]
    print(f"  performance_aggregates per day: {rows:.0f} rows, {kb:.1f} KB")


# -- timing ------------------------------------------------------------------------------------


def run_setup(db_path: Path, n_rows: int, ref_rows: int) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, "--setup", str(db_path), str(n_rows), str(ref_rows)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bare_scan_statement(wh: Warehouse, columns: list[str], table: str = SOURCE_TABLE) -> sa.TextClause:
    sums = ", ".join(f"sum({wh.sql.col(c)})" for c in columns)
    return sa.text(f"SELECT {sums} FROM {wh.sql.table(table)}")


def bare_scan_rss(db_path: str) -> None:
    """Child process: one bare scan in a fresh process; prints its peak RSS.

    DuckDB keeps the column blocks a query read in its buffer pool (up to ``memory_limit``), so
    this is the memory floor of reading those columns at all, whatever the profile does.
    """
    spec = parse_spec(spec_dict())
    wh = Warehouse(f"duckdb:///{db_path}")
    before = child_peak_rss_mb()
    with wh.begin() as conn:
        conn.execute(bare_scan_statement(wh, spec.numeric_columns)).one()
    wh.dispose()
    print(json.dumps({"bare_scan_peak_rss_mb": child_peak_rss_mb(), "imports_rss_mb": before}))


def run_bare_scan_rss(db_path: Path) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, __file__, "--bare-scan-rss", str(db_path)], stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def quality_child(db_path: str) -> None:
    """Child process: the data-quality step for the benchmark day; prints its time and peak RSS."""
    spec = parse_spec(spec_dict())
    wh = Warehouse(f"duckdb:///{db_path}")
    columns = spec.profiled_columns
    reference = wh.profiles.read_reference(spec, columns, with_windows=True)
    path = Path(db_path).parent / f"{spec.name}.json"
    path.write_text(suite_json(generate_suite(spec, reference, wh.rows.source_columns(spec))))
    suite = load_suite(path, spec)
    check_with_great_expectations(suite)  # imports Great Expectations, the step's first action
    profiles = wh.profiles.read_daily_profiles(spec, reference.layout, [DAY], columns)
    imports_rss = child_peak_rss_mb()
    runs: list[float] = []
    results: dict[dt.date, Any] = {}
    for rep in range(QUALITY_REPS):
        t0 = time.perf_counter()
        results = check_days(wh, spec, suite, [DAY], profiles, audit=Audit("bench-quality", spec.spec_hash()))
        runs.append(time.perf_counter() - t0)
        log(f"quality run {rep + 1}/{QUALITY_REPS}: {runs[-1]:.2f} s ({results[DAY].validation})")
    wh.dispose()
    quality = results[DAY]
    print(
        json.dumps(
            {
                "quality_seconds": min(runs),
                "quality_runs_seconds": runs,
                "quality_peak_rss_mb": child_peak_rss_mb(),
                "quality_imports_rss_mb": imports_rss,
                "quality_expectations": len(quality.outcomes),
                "quality_rows_validated": quality.rows_validated,
                "quality_sampled": quality.sampled,
                "quality_level": quality.level,
                "quality_failed": sorted(f"{o.column or 'table'}:{o.type}" for o in quality.failed),
                "quality_from_profile": sum(o.source == "profile" for o in quality.outcomes),
                "quality_validation": quality.validation,
            }
        )
    )


def run_quality(db_path: Path) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--quality", str(db_path)], stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def reference_spec_dict() -> dict[str, Any]:
    """The benchmark monitor with the profiled day's table as its reference (``BENCH_ROWS`` rows)."""
    return {
        **spec_dict(),
        "name": "bench_reference",
        "reference": {"table": SOURCE_TABLE, "timestamp_column": TIMESTAMP},
    }


def reference_child(db_path: str) -> None:
    """Child process: the reference profile of ``BENCH_ROWS`` rows; prints its times and peak RSS."""
    spec = parse_spec(reference_spec_dict())
    wh = Warehouse(f"duckdb:///{db_path}")
    imports_rss = child_peak_rss_mb()
    bins_runs: list[float] = []
    layout_runs: list[float] = []
    runs: list[float] = []
    n_rows = 0
    rel = reference_relation(spec)
    for rep in range(REFERENCE_REPS):
        t0 = time.perf_counter()
        with wh.begin_days(spec, columns=spec.numeric_columns) as conn:
            reference_ranges(conn, wh.sql, rel, spec.numeric_columns, (0.001, 0.999))
        t1 = time.perf_counter()
        with wh.begin_days(spec, columns=spec.numeric_columns) as conn:
            build_layout(
                conn,
                sql=wh.sql,
                rel=rel,
                numeric=spec.numeric_columns,
                categorical=spec.profiled_categorical_columns,
                n_bins=spec.drift.n_bins,
                top_k=spec.drift.top_k,
            )
        t2 = time.perf_counter()
        ref = wh.profiles.profile_reference(spec)
        t3 = time.perf_counter()
        bins_runs.append(t1 - t0)
        layout_runs.append(t2 - t1)
        runs.append(t3 - t2)
        n_rows = ref.profile.n_rows
        log(
            f"reference profile run {rep + 1}/{REFERENCE_REPS}: {t3 - t2:.2f} s (bin edges alone {t1 - t0:.2f} s, "
            f"edges + top-K categories {t2 - t1:.2f} s)"
        )
    wh.dispose()
    print(
        json.dumps(
            {
                "reference_profile_s": min(runs),
                "reference_runs_s": runs,
                "reference_bins_s": min(bins_runs),
                "reference_layout_s": min(layout_runs),
                "reference_profile_rows": n_rows,
                "reference_peak_rss_mb": child_peak_rss_mb(),
                "reference_imports_rss_mb": imports_rss,
            }
        )
    )


def run_reference(db_path: Path) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--reference", str(db_path)], stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    only = os.environ.get("BENCH_ONLY", "")
    if only not in ("", "import", "monitors", "backfill", "postgres", "multiclass"):
        raise SystemExit(
            f"BENCH_ONLY={only!r}: the parts that run alone are 'import', 'monitors', 'backfill', 'postgres' "
            "and 'multiclass'"
        )
    multiclass_rows = int(os.environ.get("BENCH_MULTICLASS_ROWS", os.environ.get("BENCH_ROWS", DEFAULT_ROWS)))
    if only == "multiclass":
        if multiclass_rows < 1000:
            raise SystemExit("BENCH_ONLY=multiclass needs BENCH_MULTICLASS_ROWS >= 1000")
        mc = measure_multiclass(multiclass_rows)
        print_multiclass(mc)
        print(json.dumps(mc))
        return
    pg_rows = int(os.environ.get("BENCH_PG_ROWS", DEFAULT_PG_ROWS))
    if only == "postgres":
        if pg_rows < 1000:
            raise SystemExit("BENCH_ONLY=postgres needs BENCH_PG_ROWS >= 1000")
        pg = measure_postgres(pg_rows)
        print_postgres(pg)
        print(json.dumps(pg))
        return
    backfill_days = int(os.environ.get("BENCH_BACKFILL_DAYS", DEFAULT_BACKFILL_DAYS))
    backfill_rows = int(os.environ.get("BENCH_BACKFILL_ROWS", DEFAULT_BACKFILL_ROWS))
    if only == "monitors":
        monitors = measure_monitors()
        print_monitors(monitors)
        print(json.dumps(monitors))
        return
    if only == "backfill":
        if backfill_days < 1:
            raise SystemExit("BENCH_ONLY=backfill needs BENCH_BACKFILL_DAYS >= 1")
        backfill = measure_backfill(backfill_days, backfill_rows)
        print_backfill(backfill)
        print(json.dumps(backfill))
        return
    log("timing the code location's import against Dagster's")
    imports = measure_imports()  # first, while no child of ours loads the machine
    if only == "import":
        print_imports(imports)
        print(json.dumps(imports))
        return
    log("timing definitions and sensor ticks of many monitors")
    monitors = measure_monitors()  # before the large warehouse exists: a few seconds, its own temp folder
    n_rows = int(os.environ.get("BENCH_ROWS", DEFAULT_ROWS))
    if n_rows < 1000:
        raise SystemExit("BENCH_ROWS must be at least 1000")
    ref_rows = min(MAX_REFERENCE_ROWS, n_rows // 10)
    memory_limit = duckdb_memory_limit() or "DuckDB's default (80% of RAM)"  # the product's, as every run sees it

    with tempfile.TemporaryDirectory(prefix="bench_profile_drift_") as tmp:
        db_path = Path(tmp) / "warehouse.duckdb"
        setup_info = run_setup(db_path, n_rows, ref_rows)
        db_size_mb = db_path.stat().st_size / 2**20

        spec = parse_spec(spec_dict())
        wh = Warehouse(f"duckdb:///{db_path}")
        audit = Audit("bench-run", spec.spec_hash())
        rss_start = peak_rss_mb()

        # (a) daily_profile + feature_drift for the one day, as the assets do it.
        runs: list[tuple[float, float]] = []
        results: dict[dt.date, Any] = {}
        profiles: dict[dt.date, Any] = {}
        for rep in range(PROFILE_REPS):
            t0 = time.perf_counter()
            profiles = _pipeline.build_daily_profiles(wh, spec, [DAY], audit)
            t1 = time.perf_counter()
            results = _pipeline.compute_drift(wh, spec, [DAY], "feature", audit)
            t2 = time.perf_counter()
            runs.append((t1 - t0, t2 - t1))
            log(
                f"profile+drift run {rep + 1}/{PROFILE_REPS}: {t2 - t0:.2f} s "
                f"(daily profile {t1 - t0:.2f} s, drift {t2 - t1:.2f} s)"
            )
        rss_after_profile = peak_rss_mb()
        profile_s, drift_s = min(runs, key=sum)
        seconds = profile_s + drift_s

        # (a2) labeled_performance and fairness_slices for the same day.
        perf_runs: list[float] = []
        fairness_runs: list[float] = []
        performance: dict[dt.date, Any] = {}
        for rep in range(PROFILE_REPS):
            t0 = time.perf_counter()
            performance = _pipeline.compute_performance(wh, spec, [DAY], audit)
            t1 = time.perf_counter()
            _pipeline.compute_fairness(wh, spec, [DAY], audit)
            t2 = time.perf_counter()
            perf_runs.append(t1 - t0)
            fairness_runs.append(t2 - t1)
            log(f"performance run {rep + 1}/{PROFILE_REPS}: {t1 - t0:.2f} s; fairness {t2 - t1:.2f} s")
        perf_s, fairness_s = min(perf_runs), min(fairness_runs)

        # (a3) multivariate drift of the 20 numeric features (issue 15: under 50 % of profile + drift).
        mv_doc = spec_dict()
        mv_doc["drift"]["multivariate"] = {}
        mv_spec = parse_spec(mv_doc)
        _pipeline.build_reference_moments(wh, mv_spec, audit)  # what reference_profile adds; untimed
        mv_runs: list[float] = []
        for rep in range(PROFILE_REPS):
            t0 = time.perf_counter()
            mv_run = _pipeline.compute_multivariate(wh, mv_spec, [DAY], audit)
            mv_runs.append(time.perf_counter() - t0)
            log(f"multivariate drift run {rep + 1}/{PROFILE_REPS}: {mv_runs[-1]:.2f} s")
        mv_s = min(mv_runs)
        if mv_run.verdicts[DAY].n_rows != n_rows:
            raise SystemExit(f"multivariate drift counted {mv_run.verdicts[DAY].n_rows} rows, expected {n_rows}")

        # (a4) operations, business metrics and model versions side by side (issue 15), each alone.
        more_doc = spec_dict()
        more_doc["operations"] = {
            "latency_column": "latency_ms",
            "status_column": "status",
            "error_values": ["error"],
            "slo": {"latency_p99": {"warn": 1000}, "error_rate": {"warn": 0.05}},
        }
        more_doc["business_metrics"] = [
            {"name": "c0_v0_rate", "column": "c0", "aggregate": "rate", "value": "v0"},
            {"name": "f02_mean_c1_v1", "column": "f02", "aggregate": "mean", "where": {"c1": "v1"}},
        ]
        more_doc["versions"] = {}
        more_spec = parse_spec(more_doc)
        extra_s: dict[str, float] = {}
        for name, step in (
            ("operations", _pipeline.compute_operations),
            ("business", _pipeline.compute_business),
            ("versions", _pipeline.compute_versions),
        ):
            step_runs = []
            for rep in range(PROFILE_REPS):
                t0 = time.perf_counter()
                step(wh, more_spec, [DAY], audit)
                step_runs.append(time.perf_counter() - t0)
                log(f"{name} run {rep + 1}/{PROFILE_REPS}: {step_runs[-1]:.2f} s")
            extra_s[name] = min(step_runs)

        # (a5) estimated_performance for the same day: stored profile and calibration only.
        estimation_runs: list[float] = []
        estimated: dict[dt.date, Any] = {}
        for rep in range(PROFILE_REPS):
            t0 = time.perf_counter()
            estimated = _estimation.compute_estimated_performance(wh, spec, [DAY], audit, _pipeline.tolerances(spec))
            estimation_runs.append(time.perf_counter() - t0)
            log(f"estimation run {rep + 1}/{PROFILE_REPS}: {estimation_runs[-1]:.3f} s")
        estimation_s = min(estimation_runs)

        # (b) the bare aggregate scan over the same rows, same engine and connection type.
        scan_columns = spec.numeric_columns
        scan = bare_scan_statement(wh, scan_columns)
        scans: list[float] = []
        for rep in range(SCAN_REPS):
            t0 = time.perf_counter()
            with wh.begin() as conn:
                conn.execute(scan).one()
            scans.append(time.perf_counter() - t0)
            log(f"bare scan run {rep + 1}/{SCAN_REPS}: {scans[-1]:.3f} s")
        bare = min(scans)
        wh.dispose()
        rss_peak = peak_rss_mb()
        floor = run_bare_scan_rss(db_path)
        log(f"bare scan alone in a fresh process: peak RSS {floor['bare_scan_peak_rss_mb']:,.0f} MB")
        reference = run_reference(db_path)
        log(
            f"reference profile of {reference['reference_profile_rows']:,} rows in a fresh process: "
            f"{reference['reference_profile_s']:.2f} s, peak RSS {reference['reference_peak_rss_mb']:,.0f} MB"
        )
        quality = run_quality(db_path)
        log(
            f"data quality in a fresh process: {quality['quality_seconds']:.2f} s, peak RSS "
            f"{quality['quality_peak_rss_mb']:,.0f} MB"
        )

    backfill = measure_backfill(backfill_days, backfill_rows) if backfill_days > 0 else {}
    pg = measure_postgres(pg_rows) if pg_rows > 0 else {}
    multiclass = measure_multiclass(multiclass_rows) if multiclass_rows > 0 else {}

    # Sanity: the profile saw every row and the planted drift was found.
    profile = profiles[DAY]
    if profile.n_rows != n_rows:
        raise SystemExit(f"daily profile counted {profile.n_rows} rows, expected {n_rows}")
    drift = results[DAY]
    drifted = sorted(f.feature for f in drift.features if f.drifted)
    missed = sorted(set(DRIFTING) - set(drifted))

    ratio = seconds / bare
    if reference["reference_profile_rows"] != n_rows:
        raise SystemExit(f"reference profile counted {reference['reference_profile_rows']} rows, expected {n_rows}")
    reference_ratio = reference["reference_profile_s"] / bare
    day_perf = performance[DAY].metrics
    if day_perf["n_scored"] != n_rows:
        raise SystemExit(f"labeled_performance counted {day_perf['n_scored']} rows, expected {n_rows}")
    day_estimate = estimated[DAY].estimate
    if day_estimate is None or day_estimate.n != n_rows:
        raise SystemExit(f"estimated_performance did not estimate the day's {n_rows} rows: {estimated[DAY].finding}")
    rows_table = [
        ("rows profiled (one day)", f"{n_rows:,}"),
        ("columns", f"{len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical + score + model_version"),
        ("reference rows", f"{ref_rows:,} over {REFERENCE_DAYS} days"),
        ("warehouse file", f"{db_size_mb:,.0f} MB (DuckDB {duckdb.__version__})"),
        ("data generation (child, untimed)", f"{setup_info['generate_seconds']:.2f} s"),
        ("reference profile (child, untimed)", f"{setup_info['reference_seconds']:.2f} s"),
        (f"daily_profile + feature_drift (best of {PROFILE_REPS})", f"{seconds:.3f} s"),
        ("  of which build_daily_profiles", f"{profile_s:.3f} s"),
        ("  of which compute_drift", f"{drift_s:.3f} s"),
        (f"bare sum() scan, {len(scan_columns)} numeric cols (best of {SCAN_REPS})", f"{bare:.3f} s"),
        ("ratio (target <= 8)", f"{ratio:.1f}x"),
        (
            f"labeled_performance (best of {PROFILE_REPS})",
            f"{perf_s:.3f} s = {perf_s / bare:.1f}x bare scan (target <= 3)",
        ),
        (
            f"fairness_slices, 2 slices (best of {PROFILE_REPS})",
            f"{fairness_s:.3f} s = {fairness_s / bare:.1f}x (target <= 3)",
        ),
        (
            f"multivariate_drift, {len(NUMERIC)} features (best of {PROFILE_REPS})",
            f"{mv_s:.3f} s = {mv_s / seconds:.0%} of profile + drift (target < 50 %), {mv_s / bare:.1f}x bare scan",
        ),
        *(
            (f"{name} (best of {PROFILE_REPS})", f"{secs:.3f} s = {secs / bare:.1f}x bare scan")
            for name, secs in extra_s.items()
        ),
        ("  label coverage / ROC AUC", f"{day_perf['label_coverage']:.3f} / {day_perf['roc_auc']:.4f}"),
        (
            f"estimated_performance (best of {PROFILE_REPS})",
            f"{estimation_s:.3f} s = {estimation_s / seconds:.1%} of profile + drift (target < 5 %)",
        ),
        (
            "  estimated ROC AUC [band]",
            f"{day_estimate.values['roc_auc']:.4f} [{day_estimate.lower('roc_auc'):.4f}, "
            f"{day_estimate.upper('roc_auc'):.4f}]",
        ),
        ("peak RSS, this process (target <= 1024 MB)", f"{rss_peak:,.0f} MB"),
        ("  before timing / after profile+drift", f"{rss_start:,.0f} MB / {rss_after_profile:,.0f} MB"),
        (
            "  bare scan alone, fresh process (floor)",
            f"{floor['bare_scan_peak_rss_mb']:,.0f} MB (imports alone {floor['imports_rss_mb']:,.0f} MB)",
        ),
        (
            f"data quality, {quality['quality_expectations']} expectations (child, best of {QUALITY_REPS})",
            f"{quality['quality_seconds']:.3f} s, {quality['quality_rows_validated']:,} rows validated"
            + (" (sample)" if quality["quality_sampled"] else "")
            + " (target <= profile + drift)",
        ),
        (
            "  peak RSS of the quality child (target <= 1024 MB)",
            f"{quality['quality_peak_rss_mb']:,.0f} MB (after imports {quality['quality_imports_rss_mb']:,.0f} MB)",
        ),
        (
            f"reference profile of the day's {n_rows:,} rows (child, best of {REFERENCE_REPS})",
            f"{reference['reference_profile_s']:.3f} s = {reference_ratio:.1f}x bare scan (target <= 10); "
            f"bin edges {reference['reference_bins_s']:.3f} s; edges + top-K {reference['reference_layout_s']:.3f} s",
        ),
        ("  peak RSS of the reference child (target <= 1024 MB)", f"{reference['reference_peak_rss_mb']:,.0f} MB"),
        ("  level / answered from the profile", f"{quality['quality_level']} / {quality['quality_from_profile']}"),
        ("DuckDB memory_limit", memory_limit),
        ("peak RSS, setup child", f"{setup_info['setup_peak_rss_mb']:,.0f} MB"),
        ("features drifted", f"{drift.n_drifted}/{drift.n_features}: {', '.join(drifted) or '-'}"),
    ]
    width = max(len(k) for k, _ in rows_table)
    print(f"Profile + drift benchmark ({n_rows:,} rows; times are the minimum over repetitions)")
    print("-" * (width + 30))
    for key, value in rows_table:
        print(f"{key:<{width}}  {value}")
    print("-" * (width + 30))
    if missed:
        print(f"WARNING: planted drift not flagged for {missed}")
    print_imports(imports)
    print_monitors(monitors)
    if backfill:
        print_backfill(backfill)
    if pg:
        print_postgres(pg)
    if multiclass:
        print_multiclass(multiclass)

    print(
        json.dumps(
            {
                "rows": n_rows,
                "seconds": round(seconds, 4),
                "bare_scan_seconds": round(bare, 4),
                "ratio": round(ratio, 2),
                "peak_rss_mb": round(rss_peak, 1),
                "perf_seconds": round(perf_s, 4),
                "perf_ratio": round(perf_s / bare, 2),
                "fairness_seconds": round(fairness_s, 4),
                "fairness_ratio": round(fairness_s / bare, 2),
                "multivariate_seconds": round(mv_s, 4),
                "multivariate_ratio": round(mv_s / bare, 2),
                "multivariate_share_of_profile_drift": round(mv_s / seconds, 3),
                **{f"{name}_seconds": round(secs, 4) for name, secs in extra_s.items()},
                **{f"{name}_ratio": round(secs / bare, 2) for name, secs in extra_s.items()},
                "estimation_seconds": round(estimation_s, 4),
                "estimation_ratio": round(estimation_s / seconds, 4),
                "estimated_roc_auc": round(day_estimate.values["roc_auc"], 4),
                "reference_profile_s": round(reference["reference_profile_s"], 4),
                "reference_ratio": round(reference_ratio, 2),
                "reference_peak_rss_mb": round(reference["reference_peak_rss_mb"], 1),
                "reference_bins_s": round(reference["reference_bins_s"], 4),
                "reference_layout_s": round(reference["reference_layout_s"], 4),
                "reference_runs_s": [round(t, 4) for t in reference["reference_runs_s"]],
                "quality_seconds": round(quality["quality_seconds"], 4),
                "quality_peak_rss_mb": round(quality["quality_peak_rss_mb"], 1),
                "profile_seconds": round(profile_s, 4),
                "drift_seconds": round(drift_s, 4),
                "profile_drift_runs_seconds": [round(sum(r), 4) for r in runs],
                "bare_scan_runs_seconds": [round(s, 4) for s in scans],
                "timing": f"min of {PROFILE_REPS} profile+drift runs and {SCAN_REPS} bare scans",
                "peak_rss_mb_after_profile_drift": round(rss_after_profile, 1),
                "peak_rss_mb_before_timing": round(rss_start, 1),
                "reference_rows": ref_rows,
                "reference_seconds": round(setup_info["reference_seconds"], 4),
                "generate_seconds": round(setup_info["generate_seconds"], 4),
                "setup_peak_rss_mb": round(setup_info["setup_peak_rss_mb"], 1),
                "numeric_columns": len(NUMERIC),
                "categorical_columns": len(CATEGORICAL),
                "bare_scan_columns": len(scan_columns),
                "features_drifted": drifted,
                "db_size_mb": round(db_size_mb, 1),
                "bare_scan_peak_rss_mb": round(floor["bare_scan_peak_rss_mb"], 1),
                "imports_rss_mb": round(floor["imports_rss_mb"], 1),
                "duckdb_memory_limit": memory_limit,
                "duckdb_version": duckdb.__version__,
                "quality_runs_seconds": [round(s, 4) for s in quality["quality_runs_seconds"]],
                "quality_imports_rss_mb": round(quality["quality_imports_rss_mb"], 1),
                "quality_expectations": quality["quality_expectations"],
                "quality_rows_validated": quality["quality_rows_validated"],
                "quality_sampled": quality["quality_sampled"],
                "quality_level": quality["quality_level"],
                "quality_failed": quality["quality_failed"],
                "quality_from_profile": quality["quality_from_profile"],
                **imports,
                **backfill,
                **monitors,
                **pg,
                **multiclass,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--setup":
        setup(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--bare-scan-rss":
        bare_scan_rss(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--reference":
        reference_child(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "--monitors-setup":
        monitors_setup(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--monitors-ticks":
        monitors_ticks(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "--quality":
        quality_child(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "--backfill-setup":
        backfill_setup(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--backfill-run":
        backfill_run(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
