"""Issue 10, section 3: concurrency and crashes lose nothing.

* Two processes materializing two days of ``labeled_performance`` at the same moment on PostgreSQL
  store the rolling windows a sequential run stores, and those match scikit-learn on the raw rows
  of each window.
* Two processes re-materializing the same day at once leave exactly one set of rows.
* Several first runs creating schema ``monitoring`` and its tables at once all succeed.
* A run killed with ``kill -9`` is failed by Dagster's run monitoring (as ``deploy/dagster.yaml``
  and ``deploy/dagster.duckdb.yaml`` configure it), and its ``monitoring_warehouse`` slot is freed;
  ``make demo``, which runs no daemon, clears what a killed earlier demo left.

The races are made real, not hoped for: each process waits at a barrier once it has aggregated its
day (neither has written yet), then every read of the stored aggregates is slowed by
``SLOW_READ_S``, so without a lock both processes read before either writes.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster._daemon.monitoring import concurrency, run_monitoring
from sklearn import metrics as skm
from sqlalchemy.pool import NullPool

from monitoring_assets._factory import POOL
from monitoring_assets._pipeline import build_reference
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources import _store, schema
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import REPO, scratch_database, write_table

BASE_DAY = dt.date(2024, 3, 3)  # materialized first, alone
RACING_DAYS = (dt.date(2024, 3, 4), dt.date(2024, 3, 5))  # then these two at the same moment
PER_DAY = 1_500  # scored rows a day, every one labeled
SLOW_READ_S = 1.0  # each read of the stored aggregates takes this long in the racing processes
CHILD_TIMEOUT_S = 180


# ---------------------------------------------------------------------------------------------
# Data: scored rows, their labels, a labeled reference
# ---------------------------------------------------------------------------------------------


def scored_rows(seed: int = 11) -> pd.DataFrame:
    """``PER_DAY`` rows on each of BASE_DAY and RACING_DAYS (and a few the day after, outside every
    window asked for), with the true label ``y``."""
    rng = np.random.default_rng(seed)
    days = [BASE_DAY, *RACING_DAYS]
    seconds = np.r_[np.repeat(np.arange(len(days)), PER_DAY) * 86_400, np.full(30, len(days) * 86_400)]
    seconds = seconds + rng.integers(0, 86_400, len(seconds))
    n = len(seconds)
    y = (rng.random(n) < 0.3).astype(np.int64)
    return pd.DataFrame(
        {
            "ts": pd.Timestamp(BASE_DAY) + pd.to_timedelta(seconds, unit="s"),
            "id": np.arange(n, dtype=np.int64),
            "x": rng.normal(0, 1, n),
            "score": 1 / (1 + np.exp(-rng.normal(-0.8 + 1.6 * y, 1.0))),
            "y": y,
        }
    )


def spec_for(name: str) -> MonitorSpec:
    return parse_spec(
        {
            "name": name,
            "source": {"table": "cc_scored", "timestamp_column": "ts", "id_column": "id"},
            "features": {"numeric": ["x"]},
            "prediction": {"task": "binary_classification", "score_column": "score", "threshold": 0.5},
            "labels": {"table": "cc_labels", "id_column": "row_id", "label_column": "label"},
            "reference": {"table": "cc_ref"},
            "partitions": {"start_date": BASE_DAY.isoformat()},
            "performance": {"rolling_days": 7},
        }
    )


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return scored_rows()


@pytest.fixture(scope="module")
def warehouse(pg_url: str, rows: pd.DataFrame) -> str:
    write_table(pg_url, "cc_scored", rows.drop(columns=["y"]))
    write_table(pg_url, "cc_labels", pd.DataFrame({"row_id": rows["id"], "label": rows["y"]}))
    ref = scored_rows(seed=12).drop(columns=["ts", "id"]).rename(columns={"y": "label"})
    write_table(pg_url, "cc_ref", ref)
    return pg_url


def new_monitor(url: str, prefix: str) -> MonitorSpec:
    """A monitor of its own (the session's database is shared), with its reference stored."""
    spec = spec_for(f"{prefix}_{uuid.uuid4().hex[:8]}")
    build_reference(Warehouse(url), spec, Audit("reference", spec.spec_hash()))
    return spec


# ---------------------------------------------------------------------------------------------
# Materializing a day in another process, as a run of the labeled job does
# ---------------------------------------------------------------------------------------------


def _materialize(url: str, spec_data: dict[str, Any], day: str, barrier: Barrier | None) -> None:
    """Materialize ``labeled_performance`` of ``day`` through Dagster (runs in a child process).

    With ``barrier``: wait for the other process once the day is aggregated, and make every read
    of the stored aggregates slow, so the two runs overlap from reading to writing."""
    import time  # noqa: PLC0415  (a spawned child imports what it needs)

    import dagster as dg  # noqa: PLC0415

    from monitoring_assets import build_definitions  # noqa: PLC0415
    from monitoring_assets.resources import WarehouseResource  # noqa: PLC0415
    from resources import _store as store  # noqa: PLC0415
    from resources._metrics import MetricTables  # noqa: PLC0415

    spec = parse_spec(spec_data)
    if barrier is not None:
        aggregate, read = MetricTables.performance_aggregates, store.read_performance_aggregates

        def aggregate_then_wait(self: MetricTables, *args: Any, **kwargs: Any) -> Any:
            found = aggregate(self, *args, **kwargs)
            barrier.wait(timeout=CHILD_TIMEOUT_S)
            return found

        def slow_read(*args: Any, **kwargs: Any) -> Any:
            found = read(*args, **kwargs)
            time.sleep(SLOW_READ_S)
            return found

        MetricTables.performance_aggregates = aggregate_then_wait
        store.read_performance_aggregates = slow_read
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url))
    job = defs.resolve_job_def(f"{spec.name}_labeled_monitoring")
    with dg.DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(partition_key=day, instance=instance).success


def run_at_once(url: str, spec: MonitorSpec, days: tuple[dt.date, ...]) -> None:
    """One process per day, started together, racing from the moment their days are aggregated."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(days))
    data = spec.model_dump(mode="json")
    procs = [ctx.Process(target=_materialize, args=(url, data, d.isoformat(), barrier)) for d in days]
    for p in procs:
        p.start()
    for p in procs:
        p.join(CHILD_TIMEOUT_S)
    codes = [p.exitcode for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert codes == [0] * len(days), f"child processes exited with {codes}"


def run_in_turn(url: str, spec: MonitorSpec, days: tuple[dt.date, ...]) -> None:
    for day in days:
        _materialize(url, spec.model_dump(mode="json"), day.isoformat(), None)


def stored(url: str, table: sa.Table, monitor: str) -> pd.DataFrame:
    """Every row of ``table`` for ``monitor``, without the audit columns, in a stable order."""
    keep = [
        c for c in table.columns if c.name not in ("monitor", "run_id", "spec_hash", "model_version", "computed_at")
    ]
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        frame = pd.DataFrame(
            conn.execute(sa.select(*keep).where(table.c.monitor == monitor)).fetchall(), columns=[c.name for c in keep]
        )
    engine.dispose()
    return frame.sort_values([c.name for c in keep]).reset_index(drop=True)


def rolling(url: str, spec: MonitorSpec) -> dict[dt.date, dict[str, float]]:
    return Warehouse(url).metrics.read_performance(spec, "rolling_7d")


def sklearn_window(rows: pd.DataFrame, first: dt.date, last: dt.date) -> dict[str, float]:
    """The window's metrics on its raw rows (every row is labeled and scored)."""
    w = rows[(rows.ts >= pd.Timestamp(first)) & (rows.ts < pd.Timestamp(last + dt.timedelta(days=1)))]
    predicted = (w.score >= 0.5).astype(int)
    return {
        "n_scored": float(len(w)),
        "n_labeled": float(len(w)),
        "accuracy": skm.accuracy_score(w.y, predicted),
        "recall": skm.recall_score(w.y, predicted),
        "roc_auc": skm.roc_auc_score(w.y, w.score),
        "brier_score": skm.brier_score_loss(w.y, w.score),
    }


def assert_matches_sklearn(found: dict[str, float], expected: dict[str, float]) -> None:
    # Counts and confusion-count metrics are exact; ROC AUC ties scores within one of the 10,000
    # score cells (README: within 0.002 of scikit-learn); the Brier score is a sum: 1e-9.
    tolerance = {"roc_auc": 0.002, "brier_score": 1e-9}
    for metric, value in expected.items():
        assert found[metric] == pytest.approx(value, abs=tolerance.get(metric, 1e-12)), metric


# ---------------------------------------------------------------------------------------------
# Concurrent partitions
# ---------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_two_days_materialized_at_once_give_the_sequential_rolling_windows(warehouse: str, rows: pd.DataFrame) -> None:
    sequential, concurrent = new_monitor(warehouse, "seq"), new_monitor(warehouse, "conc")
    run_in_turn(warehouse, sequential, (BASE_DAY, *RACING_DAYS))
    run_in_turn(warehouse, concurrent, (BASE_DAY,))
    run_at_once(warehouse, concurrent, RACING_DAYS)

    windows = rolling(warehouse, concurrent)
    assert sorted(windows) == [BASE_DAY, *RACING_DAYS]
    # Each racing day's window holds the other's rows: 4,500 labeled rows on the later day, not 3,000.
    assert [windows[d]["n_labeled"] for d in sorted(windows)] == [1_500, 3_000, 4_500]
    for day in RACING_DAYS:
        assert_matches_sklearn(windows[day], sklearn_window(rows, BASE_DAY, day))
    for table in (_store.performance_metrics, _store.performance_aggregates):
        pd.testing.assert_frame_equal(
            stored(warehouse, table, concurrent.name), stored(warehouse, table, sequential.name)
        )


@pytest.mark.postgres
def test_one_day_materialized_twice_at_once_keeps_one_set_of_rows(warehouse: str, rows: pd.DataFrame) -> None:
    once, twice = new_monitor(warehouse, "once"), new_monitor(warehouse, "twice")
    run_in_turn(warehouse, once, (RACING_DAYS[0],))
    run_at_once(warehouse, twice, (RACING_DAYS[0], RACING_DAYS[0]))

    for table in (_store.performance_metrics, _store.performance_aggregates):
        pd.testing.assert_frame_equal(stored(warehouse, table, twice.name), stored(warehouse, table, once.name))
    (window,) = rolling(warehouse, twice).values()
    assert_matches_sklearn(window, sklearn_window(rows, RACING_DAYS[0], RACING_DAYS[0]))


# ---------------------------------------------------------------------------------------------
# Schema creation race
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """An empty database next to the session's: no schema ``monitoring`` yet."""
    with scratch_database(pg_url, "fresh") as url:
        yield url


@pytest.mark.postgres
def test_first_runs_racing_to_create_the_schema_all_succeed(fresh_pg_url: str) -> None:
    """Four first runs at once: two write metric tables, two the data-quality table."""
    from expectations._store import read_levels  # noqa: PLC0415

    n = 4
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    spec = spec_for("first")

    def first_run(quality: bool) -> None:
        wh = Warehouse(fresh_pg_url)  # its own engine and connection, as a separate run has
        try:
            barrier.wait(timeout=30)
            if quality:
                assert read_levels(wh, spec) == {}
            else:
                wh.ensure_tables()
        except BaseException as e:
            errors.append(e)
        finally:
            wh.dispose()

    threads = [threading.Thread(target=first_run, args=(i % 2 == 0,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [str(e) for e in errors] == []
    engine = sa.create_engine(fresh_pg_url, poolclass=NullPool)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names(schema=schema.SCHEMA))
    engine.dispose()
    assert tables == {t.name for t in schema.metadata.sorted_tables}  # quality_results too


# ---------------------------------------------------------------------------------------------
# Dead runs: run monitoring fails them and frees their pool slot
# ---------------------------------------------------------------------------------------------

HOLDER = """
import os, pathlib, sys, time
import dagster as dg
from monitoring_assets._factory import POOL

@dg.asset(pool=POOL)
def holds_the_pool() -> None:
    pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
    time.sleep(600)

with dg.DagsterInstance.get() as instance:
    dg.materialize([holds_the_pool], instance=instance)
"""


@dg.asset(pool=POOL)
def next_in_the_pool() -> None:
    pass


@pytest.fixture(params=["dagster.duckdb.yaml", pytest.param("dagster.yaml", marks=pytest.mark.postgres)])
def dagster_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME with one of the shipped instance files: SQLite storage (the DuckDB set-up, as
    ``make dev`` installs it) or PostgreSQL storage (in an empty database of its own)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / request.param, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    if request.param == "dagster.yaml":
        monkeypatch.setenv("DAGSTER_PG_URL", request.getfixturevalue("fresh_pg_url"))
    return home


def kill_a_run_holding_the_pool(instance: dg.DagsterInstance, tmp_path: Path) -> str:
    """Start a run whose step holds the ``monitoring_warehouse`` slot, in another process, and
    ``kill -9`` it there; returns its run id."""
    marker = tmp_path / "step_started"
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, str(script), str(marker)], env=env)
    try:
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holding run never started its step"
            time.sleep(0.2)
        (run_id,) = instance.event_log_storage.get_concurrency_info(POOL).active_run_ids
    finally:
        holder.kill()  # SIGKILL: no cleanup, the slot stays claimed
        holder.wait()
    return str(run_id)


def slot_holders(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.event_log_storage.get_concurrency_info(POOL).active_run_ids)


def test_a_killed_run_is_failed_and_frees_its_pool_slot(
    dagster_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with dg.DagsterInstance.get() as instance:
        run_id = kill_a_run_holding_the_pool(instance, tmp_path)
        run_status = lambda: instance.get_run_by_id(run_id).status  # noqa: E731
        assert (run_status(), slot_holders(instance)) == (dg.DagsterRunStatus.STARTED, {run_id})
        assert instance.run_monitoring_enabled and instance.get_concurrency_config().pool_config.default_pool_limit == 1

        logger = logging.getLogger("run_monitoring_test")
        with create_test_daemon_workspace_context(EmptyWorkspaceTarget(), instance) as daemon:

            def ahead(after_s: float) -> dt.datetime:
                return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=after_s)

            def check_runs(after_s: float) -> None:
                """The daemon's pass over in-progress runs, its clock ``after_s`` seconds ahead."""
                monkeypatch.setattr(run_monitoring, "get_current_timestamp", ahead(after_s).timestamp)
                list(run_monitoring.execute_run_monitoring_iteration(daemon, logger))

            def free_slots(after_s: float) -> None:
                """The daemon's pass over pool slots of ended runs, its clock ``after_s`` seconds ahead."""
                monkeypatch.setattr(concurrency, "get_current_datetime", lambda: ahead(after_s))
                list(concurrency.execute_concurrency_slots_iteration(daemon, logger))

            # The default run launcher cannot tell a dead worker from a busy one: within the
            # maximum runtime the run is left alone, and so is its slot.
            check_runs(after_s=0)
            free_slots(after_s=0)
            assert (run_status(), slot_holders(instance)) == (dg.DagsterRunStatus.STARTED, {run_id})
            # Past it, the run is failed; its slot is freed once the run has been over for
            # free_slots_after_run_end_seconds (the daemon looks every poll_interval_seconds).
            check_runs(after_s=instance.run_monitoring_max_runtime_seconds + 1)
            free_slots(after_s=0)
            assert (run_status(), slot_holders(instance)) == (dg.DagsterRunStatus.FAILURE, {run_id})
            free_slots(after_s=instance.run_monitoring_settings["free_slots_after_run_end_seconds"] + 1)
            assert slot_holders(instance) == set()
        # The next run gets the slot at once instead of waiting for ever.
        assert dg.materialize([next_in_the_pool], instance=instance).success


def test_the_demo_fails_and_frees_what_a_killed_demo_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``make demo`` runs no daemon: it clears a killed earlier demo's run itself."""
    from monitoring_assets.demo.__main__ import release_dead_demo_runs  # noqa: PLC0415

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.duckdb.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        run_id = kill_a_run_holding_the_pool(instance, tmp_path)
        assert slot_holders(instance) == {run_id}
        release_dead_demo_runs(instance)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert slot_holders(instance) == set()
        assert dg.materialize([next_in_the_pool], instance=instance).success
