"""Shared fixtures: warehouses (DuckDB file, PostgreSQL database), specs, a Dagster instance.

PostgreSQL: ``$MONITORING_TEST_PG_URL`` (default the local server at 127.0.0.1:5432, database
``postgres`` for admin). Each test session creates its own throwaway database. When the server
is unreachable the PostgreSQL tests skip with the reason, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os

# Two xdist workers on two cores: scikit-learn's OpenMP threads (one per core in each worker)
# spinning against each other made model fits 5 to 10 times slower. Set before any import loads it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import copy
import hashlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from monitoring_assets.demo import DemoConfig, generate
from monitoring_assets.spec import MonitorSpec, load_spec, parse_spec

PG_ADMIN_URL = os.environ.get("MONITORING_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent


# Dagster's SQLite storages (every ``dg.instance_for_test()``) and MLflow's SQLite stores write each
# event on a connection of its own: every commit, and every close (a WAL checkpoint), waited for
# the disk's fsync, 43 s of the demo test's 137 s under cProfile. A test's database is deleted
# with the test, so surviving a power cut buys nothing here. Registered once per process, before
# any engine connects (pytest imports this module first), and for SQLite connections alone.
@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_without_fsync(dbapi_connection: object, _record: object) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")


# Files whose tests take longest, longest first: they start at once on both workers, and the short
# tests fill in behind them (Makefile: --no-loadscope-reorder keeps this order). From
# `pytest --durations` (docs/next-steps.md); a file not listed runs after these, in its usual order.
SLOW_FIRST = (
    "test_demo.py",
    "test_postgres.py",
    "test_retraining.py",
    "test_assets.py",
    "test_report.py",
    "test_browser.py",
    "test_faults_labels.py",
    "test_alerts.py",
    "test_label_sensor.py",
    "test_quality_assets.py",
    "test_faults_guards.py",
    "test_registry.py",
    "test_component.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order within a file


def _pg_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required under CI=true but unavailable: {reason}")
    pytest.skip(f"PostgreSQL not reachable ({reason}); set MONITORING_TEST_PG_URL or start the server")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (dropped afterwards)."""
    admin = sa.create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    name = f"monitoring_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as e:
        _pg_unavailable(str(e.orig).strip().splitlines()[0])
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def demo_tables(tmp_path_factory: pytest.TempPathFactory) -> Callable[[DemoConfig], dict[str, pd.DataFrame]]:
    """``generate(config)`` once per test run, not once per module and worker: the first worker to
    ask generates (a model fitted with 5-fold cross-validation, seconds per config) and pickles
    the tables next to the workers' temp folders; the others read them. Each call gets copies."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    memo: dict[DemoConfig, dict[str, pd.DataFrame]] = {}

    def tables(config: DemoConfig) -> dict[str, pd.DataFrame]:
        if config not in memo:
            from filelock import FileLock  # noqa: PLC0415 (dev dependency, only these fixtures)

            path = root / f"demo-tables-{hashlib.sha256(repr(config).encode()).hexdigest()[:16]}.pkl"
            with FileLock(f"{path}.lock"):
                if path.exists():
                    memo[config] = pd.read_pickle(path)
                else:
                    memo[config] = generate(config)
                    pd.to_pickle(memo[config], path)
        return {name: frame.copy() for name, frame in memo[config].items()}

    return tables


@pytest.fixture(scope="session")
def mlflow_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], str]:
    """A tracking URI of a new SQLite MLflow store in a directory: a copy of one made once per
    worker, because a new store runs MLflow's migrations first (about 6 s; the copy takes 50 ms).
    Experiments are created later, by each test, with their own artifact locations."""
    import shutil  # noqa: PLC0415

    from mlflow import MlflowClient  # noqa: PLC0415 (heavy; only tests that ask for a store)

    template = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()

    def new_store(directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, directory / "mlflow.db")
        return f"sqlite:///{directory / 'mlflow.db'}"

    return new_store


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


# The document behind ``small_spec``; copy it before changing it (``copy.deepcopy``).
SMALL_SPEC: dict[str, Any] = {
    "name": "m",
    "source": {"table": "t", "timestamp_column": "ts", "model_version_column": "mv"},
    "features": {"numeric": ["x", "y"], "categorical": ["c"]},
    "prediction": {"task": "binary_classification", "score_column": "score"},
    "reference": {"window": {"start": "2024-01-01", "end": "2024-01-03"}},
    "partitions": {"start_date": "2024-01-04", "end_date": "2024-01-10"},
    "drift": {"n_bins": 100, "top_k": 3},
    "report": {"enabled": False},  # the HTML report (~2 s a run) has its own tests (tests/test_report.py)
}


def small_spec(**overrides: object) -> MonitorSpec:
    """A monitor over table ``t`` (ts, x, y, score, c, mv) with a window reference on 2024-01-01."""
    return parse_spec({**copy.deepcopy(SMALL_SPEC), **overrides})


def write_table(url: str, table: str, frame: pd.DataFrame) -> None:
    """Create ``table`` (optionally schema.table) from a DataFrame with explicit SQL types.

    None becomes NULL; a float NaN stays NaN (SQL keeps the two apart).
    """
    types = []
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            sql_type = "TIMESTAMP"
        elif pd.api.types.is_integer_dtype(dtype):
            sql_type = "BIGINT"
        elif pd.api.types.is_float_dtype(dtype) or name in frame.attrs.get("numeric", ()):
            sql_type = "DOUBLE PRECISION"
        else:
            sql_type = "VARCHAR"
        types.append(f'"{name}" {sql_type}')
    quoted = ".".join(f'"{p}"' for p in table.split("."))
    text_columns = {i for i, t in enumerate(types) if t.endswith("VARCHAR")}

    def cell(i: int, v: object) -> object:
        if isinstance(v, pd.Timestamp):
            return v.to_pydatetime()
        if v is pd.NA:  # a nullable integer column's missing value
            return None
        if i in text_columns and isinstance(v, float):
            return None  # pandas 3 stores a missing string as NaN
        return v

    rows = [tuple(cell(i, v) for i, v in enumerate(row)) for row in frame.astype(object).itertuples(index=False)]
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        if "." in table:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{table.split(".", maxsplit=1)[0]}"')
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quoted}")
        conn.exec_driver_sql(f"CREATE TABLE {quoted} ({', '.join(types)})")
        _insert_rows(conn, quoted, len(frame.columns), rows)
    engine.dispose()


def _insert_rows(conn: sa.Connection, quoted: str, n_columns: int, rows: list[tuple[object, ...]]) -> None:
    """Insert through the driver's bulk path: SQLAlchemy's executemany of one row at a time took
    seconds per 10,000 rows, much of the test suite's time. DuckDB scans an Arrow table (Arrow keeps
    NaN apart from NULL; a pandas scan would turn NaN into NULL); psycopg2 sends pages of VALUES.
    Anything else, or columns Arrow cannot type (a text cell among floats), takes the slow path."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "duckdb" and rows:
        import pyarrow as pa  # noqa: PLC0415 (only the DuckDB path needs it)

        try:
            arrow = pa.table({f"p{i}": pa.array([row[i] for row in rows]) for i in range(n_columns)})
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        else:
            raw.register("__test_rows", arrow)
            raw.execute(f"INSERT INTO {quoted} SELECT * FROM __test_rows")
            raw.unregister("__test_rows")
            return
    elif conn.dialect.name == "postgresql":
        from psycopg2.extras import execute_values  # noqa: PLC0415

        with raw.cursor() as cursor:
            execute_values(cursor, f"INSERT INTO {quoted} VALUES %s", rows, page_size=2000)
        return
    placeholders = ", ".join(f":p{i}" for i in range(n_columns))
    conn.execute(
        sa.text(f"INSERT INTO {quoted} VALUES ({placeholders})"),
        [dict(zip([f"p{i}" for i in range(n_columns)], row, strict=True)) for row in rows],
    )


def sample_frame(seed: int = 0, days: int = 9, per_day: int = 400) -> pd.DataFrame:
    """Rows for ``small_spec`` from 2024-01-01: ``x`` has NULLs, NaN and +-inf; ``c`` has NULLs and
    six categories (more than ``top_k = 3``, so ``other`` is exercised)."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    seconds = np.repeat(np.arange(days), per_day) * 86_400 + rng.integers(0, 86_400, n)
    x = rng.normal(10, 2, n).astype(object)
    x[rng.choice(n, 30, replace=False)] = None
    x[rng.choice(n, 10, replace=False)] = float("nan")
    x[rng.choice(n, 5, replace=False)] = float("inf")
    x[rng.choice(n, 5, replace=False)] = float("-inf")
    c = rng.choice(["a", "b", "c", "d", "e", "f"], n, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05]).astype(object)
    c[rng.choice(n, 20, replace=False)] = None
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"),
            "x": x,
            "y": rng.exponential(3.0, n),
            "score": rng.uniform(0, 1, n),
            "c": c,
            "mv": rng.choice(["1", "2"], n),
        }
    )
    frame.attrs["numeric"] = ("x",)
    return frame


@contextmanager
def scratch_database(base_url: str, tag: str) -> Iterator[str]:
    """URL of a new empty database on the server of ``base_url``, dropped afterwards (with
    FORCE: MLflow and Dagster pool connections). A new name each time, ``<base>_<tag>_<hex>``."""
    url = sa.make_url(base_url)
    name = f"{url.database}_{tag}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_mlflow_url(pg_url: str) -> Iterator[str]:
    """A database of its own next to the session's test database: MLflow's alembic_version table
    must not meet Dagster's (dagster-postgres tests share ``pg_url``). A new name each time:
    MLflow caches its store per URI, tables-created flag included."""
    with scratch_database(pg_url, "mlflow") as url:
        yield url


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh warehouse on each engine: a DuckDB file, or a scratch PostgreSQL database."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        return
    with scratch_database(request.getfixturevalue("pg_url"), "eng") as url:
        yield url


def run_days(
    defs: dg.Definitions, instance: dg.DagsterInstance, job: str, first: str, last: str
) -> dg.ExecuteInProcessResult:
    """One run of ``job`` over the partitions ``first..last``, as a single-run backfill is."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def demo_spec_data(*, signals: bool = False) -> dict[str, Any]:
    """``monitors/credit_default.yaml`` as a dict. Without ``signals``, the multivariate drift,
    operations and business-metric blocks and the daily HTML report are left out: tests of the other
    asset families skip their steps (tests/test_demo.py, tests/test_postgres.py and
    tests/test_report.py run them)."""
    data = load_spec(REPO / "monitors" / "credit_default.yaml").model_dump(mode="json")
    if not signals:
        data["drift"]["multivariate"], data["operations"], data["business_metrics"] = None, None, []
        data["report"] = {"enabled": False}
    return data


def demo_spec(*, signals: bool = False) -> MonitorSpec:
    return parse_spec(demo_spec_data(signals=signals))
