"""The warehouse adapter: profiles computed in SQL, metric tables written back.

``Warehouse`` does the work over one SQLAlchemy engine; ``WarehouseResource`` is the Dagster
resource that configures it. Raw rows never leave the warehouse here: only aggregates do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitoring_assets.core.evaluate import DatasetDrift
from monitoring_assets.core.fairness import GroupCounts, SliceReport
from monitoring_assets.core.performance import (
    PRIMARY_METRIC,
    BinaryAggregate,
    PerformanceAggregate,
    RegressionAggregate,
    merge_aggregates,
)
from monitoring_assets.core.profile import Profile, ProfileLayout, empty_profile
from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources import _errors, _preflight, _store, schema
from resources._labels_sql import LabeledRows
from resources._sql import (
    ProfileQuery,
    Relation,
    SqlBuilder,
    as_date,
    build_layout,
    duckdb_columns_statement,
    duckdb_rows_statement,
    quiet_duckdb,
)

WAREHOUSE_URL_ENV = "MONITORING_WAREHOUSE_URL"
DEFAULT_WAREHOUSE_URL = "duckdb:///data/demo_warehouse.duckdb"
DUCKDB_MEMORY_ENV = "MONITORING_DUCKDB_MEMORY_LIMIT"  # e.g. "2GB"; unset: DuckDB's default


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference: its bins, its whole profile, and its daily sub-window profiles."""

    layout: ProfileLayout
    profile: Profile
    windows: dict[dt.date, Profile]


@dataclass(frozen=True)
class PerformanceWriter:
    """Writes and reads of one monitor's performance rows in one locked transaction
    (``Warehouse.performance_writer``). Each write replaces its (monitor, day) or (monitor, window,
    day) rows."""

    conn: sa.Connection
    spec: MonitorSpec
    audit: _store.Audit
    versions: Mapping[dt.date, str | None]

    def write_aggregates(self, aggregates: Mapping[dt.date, PerformanceAggregate]) -> None:
        for day, agg in aggregates.items():
            stamp = self.audit.with_version(self.versions.get(day))
            _store.replace_performance_aggregates(self.conn, monitor=self.spec.name, aggregates={day: agg}, audit=stamp)

    def read_aggregates(self, first: dt.date, last: dt.date) -> dict[dt.date, PerformanceAggregate]:
        """The daily aggregates stored for ``first..last`` (this transaction's writes included)."""
        return _store.read_performance_aggregates(
            self.conn, monitor=self.spec.name, first=first, last=last, empty=empty_aggregate(self.spec)
        )

    def write_metrics(self, metrics: Mapping[tuple[str, dt.date | None], Mapping[str, float]]) -> None:
        for (window, when), values in metrics.items():
            stamp = self.audit.with_version(self.versions.get(when) if when else None)
            _store.replace_performance(
                self.conn, monitor=self.spec.name, window=window, day=when, values=values, audit=stamp
            )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


# Dialect (or dialect+driver) of a URL -> the package that provides it, for "install ..." errors.
DRIVER_PACKAGES = {
    "postgresql": "psycopg[binary]",  # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3
    "postgresql+psycopg": "psycopg[binary]",
    "postgresql+psycopg2": "psycopg2-binary",
    "postgresql+pg8000": "pg8000",
    "mysql": "mysqlclient",
    "mysql+mysqldb": "mysqlclient",
    "mysql+pymysql": "PyMySQL",
    "snowflake": "snowflake-sqlalchemy",
    "bigquery": "sqlalchemy-bigquery",
    "databricks": "databricks-sqlalchemy",
    "trino": "trino",
    "redshift": "sqlalchemy-redshift",
    "redshift+psycopg2": "sqlalchemy-redshift",
    "duckdb": "duckdb-engine",
    "mssql+pyodbc": "pyodbc",
    "mssql+pymssql": "pymssql",
    "oracle+oracledb": "oracledb",
    "clickhouse": "clickhouse-sqlalchemy",
}
PSYCOPG2_URL = "postgresql+psycopg2://user:password@host:5432/database"


def _postgres_scheme_message(url: sa.URL) -> str:
    driver = url.drivername.partition("+")[2] or "psycopg2"  # psycopg2 ships with this plugin
    fixed = url.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=True)
    return (
        f"{WAREHOUSE_URL_ENV}: {url.render_as_string(hide_password=True)}: SQLAlchemy has no dialect 'postgres'; "
        f"write {fixed} (the form is {PSYCOPG2_URL})"
    )


def _missing_driver_message(url: sa.URL, error: Exception) -> str:
    name = url.drivername
    package = DRIVER_PACKAGES.get(name) or DRIVER_PACKAGES.get(url.get_backend_name())
    what = f"the SQLAlchemy dialect {name!r}" if isinstance(error, NoSuchModuleError) else f"the driver of {name!r}"
    missing = f" (module {error.name!r} not found)" if isinstance(error, ImportError) and error.name else ""
    todo = f"pip install '{package}'" if package else f"install the SQLAlchemy dialect package for {name!r}"
    hint = ""
    if url.get_backend_name() == "postgresql" and name != "postgresql+psycopg2":
        hint = f", or use psycopg2 (installed with this plugin): {PSYCOPG2_URL}"
    return (
        f"{WAREHOUSE_URL_ENV}: {url.render_as_string(hide_password=True)} needs {what}, which is not "
        f"installed{missing}: {todo}{hint}"
    )


class Warehouse:
    """Profiles and metric tables over one SQLAlchemy URL (DuckDB, PostgreSQL, ...)."""

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise WarehouseError(
                f"{WAREHOUSE_URL_ENV} is not a SQLAlchemy URL (expected e.g. "
                "duckdb:///path.duckdb or postgresql+psycopg2://user@host/db)"
            ) from None
        if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, object] = {}
        if parsed.get_backend_name() == "duckdb" and os.environ.get(DUCKDB_MEMORY_ENV):
            # DuckDB's default limit is 80 % of RAM and its block cache grows to it (a 10M-row day
            # peaks near 1.8 GB RSS here; 870 MB at 512MB, no slower). Not a default yet: exact
            # reference quantiles cannot spill (docs/next-steps.md, item 4).
            connect_args["config"] = {"memory_limit": os.environ[DUCKDB_MEMORY_ENV]}
        if parsed.get_backend_name() == "postgres":
            raise WarehouseError(_postgres_scheme_message(parsed)) from None
        try:
            # NullPool: no connection outlives its use, so a DuckDB file lock is never held idle.
            self.engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
        except (NoSuchModuleError, ImportError) as e:
            # A dialect without its package (snowflake-sqlalchemy) or a driver not installed (psycopg 3).
            raise WarehouseError(_missing_driver_message(parsed, e)) from None
        if self.engine.dialect.name == "duckdb":
            sa.event.listen(self.engine, "connect", quiet_duckdb)
        self.sql = SqlBuilder(self.engine.dialect)
        self._tables_ready = False
        self._label_kinds: dict[tuple[str, str], str] = {}

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and metadata."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self, *, columns: Sequence[str] = ()) -> Iterator[sa.Connection]:
        """One transaction; database errors become WarehouseError naming the (masked) URL, the
        kind of problem and the table/column when known (``columns``: what the query reads).

        The one place warehouse errors are told: never the driver's text (it may quote a cell) nor
        SQLAlchemy's (it quotes the statement and every bound parameter), and ``from None``, so
        that neither rides along as the cause Dagster stores (``resources._errors``).
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise self.query_error(e, columns) from None

    def query_error(self, error: BaseException, columns: Sequence[str] = ()) -> WarehouseError:
        """The WarehouseError for a SQLAlchemy or driver exception, quoting no data."""
        failure = _errors.describe(error, password=self.engine.url.password, columns=columns)
        return WarehouseError(failure.text(self.safe_url))

    @contextmanager
    def begin_days(self, spec: MonitorSpec, *, columns: Sequence[str] = ()) -> Iterator[sa.Connection]:
        """One transaction whose days are cut at midnight in ``spec.partitions.timezone``: used
        by everything that groups rows by day or reads a day's window (``SqlBuilder.set_day_timezone``).
        ``columns`` as for ``begin``."""
        with self.begin(columns=columns) as conn:
            try:
                self.sql.set_day_timezone(conn, spec.partitions.timezone)
            except DBAPIError:
                raise WarehouseError(
                    f"{spec.origin}: partitions.timezone: {spec.partitions.timezone!r} is not a time zone "
                    f"{self.engine.dialect.name} knows"
                ) from None
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    def check_columns(self, spec: MonitorSpec, step: _preflight.Step) -> None:
        """Before any work: the tables and columns ``step`` reads exist (one cheap query per
        table); else one WarehouseError line naming the spec file, field, table and column."""
        try:
            _preflight.check_columns(self.engine, self.sql, self.safe_url, spec, step)
        except SQLAlchemyError as e:  # the warehouse itself is unreachable: say so, not "table not found"
            raise self.query_error(e) from None

    # -- relations ---------------------------------------------------------------------------

    @staticmethod
    def reference_relation(spec: MonitorSpec) -> Relation:
        ref = spec.reference
        if ref.window is not None:
            return Relation(
                spec.source.table,
                ref.timestamp_column or spec.source.timestamp_column,
                _day_start(ref.window.start),
                _day_start(ref.window.end + dt.timedelta(days=1)),
            )
        assert ref.table is not None
        return Relation(ref.table, ref.timestamp_column)

    @staticmethod
    def days_relation(spec: MonitorSpec, first: dt.date, last: dt.date) -> Relation:
        """Source rows of the days ``first..last`` inclusive: a half-open window of naive
        midnights, which ``begin_days`` reads in ``partitions.timezone`` for aware timestamps."""
        return Relation(
            spec.source.table, spec.source.timestamp_column, _day_start(first), _day_start(last + dt.timedelta(days=1))
        )

    # -- profiles ----------------------------------------------------------------------------

    def profile_reference(self, spec: MonitorSpec) -> ReferenceProfile:
        """Fix bins on the reference, then profile it (per day when it has a timestamp column)."""
        rel = self.reference_relation(spec)
        with self.begin_days(spec, columns=spec.numeric_columns) as conn:
            layout = build_layout(
                conn,
                sql=self.sql,
                rel=rel,
                numeric=spec.numeric_columns,
                categorical=spec.profiled_categorical_columns,
                n_bins=spec.drift.n_bins,
                top_k=spec.drift.top_k,
            )
            by_day = rel.timestamp_column is not None
            query = ProfileQuery(
                self.sql, layout, spec.source.model_version_column if spec.reference.window else None, by_day=by_day
            )
            profiles = query.run(conn, rel)
        windows = {d: p for d, p in profiles.items() if d is not None}
        if by_day:
            whole = empty_profile(layout)
            for p in windows.values():
                whole = whole.merge(p)
        else:
            whole = profiles[None]
        if whole.n_rows == 0:
            raise WarehouseError(f"the reference of monitor {spec.name!r} ({rel.table}) has no rows")
        return ReferenceProfile(layout, whole, windows)

    def profile_days(self, spec: MonitorSpec, layout: ProfileLayout, days: Sequence[dt.date]) -> dict[dt.date, Profile]:
        """Profile each day of ``days`` (consecutive) in one query; days without rows get empty profiles."""
        first, last = min(days), max(days)
        rel = self.days_relation(spec, first, last)
        query = ProfileQuery(self.sql, layout, spec.source.model_version_column, by_day=len(days) > 1)
        with self.begin_days(spec, columns=list(layout.numeric)) as conn:
            found = query.run(conn, rel)
        if len(days) == 1:
            return {first: found[None]}
        return {d: found.get(d) or empty_profile(layout) for d in days}

    # -- metric tables -----------------------------------------------------------------------

    def ensure_tables(self) -> None:
        with self.begin() as conn:
            self._ensure_tables(conn)

    def _ensure_tables(self, conn: sa.Connection) -> None:
        if not self._tables_ready:
            schema.ensure_tables(conn)
            self._tables_ready = True

    @contextmanager
    def writing(self, spec: MonitorSpec) -> Iterator[sa.Connection]:
        """One transaction that replaces rows of ``spec``: tables ensured, then the monitor's write
        lock held to the end (PostgreSQL), so concurrent runs of one monitor write in turn and a
        replace never leaves two runs' rows side by side."""
        with self.begin() as conn:
            self._ensure_tables(conn)
            _store.lock_monitor(conn, spec.name)
            yield conn

    def write_reference(self, spec: MonitorSpec, ref: ReferenceProfile, audit: _store.Audit) -> None:
        with self.writing(spec) as conn:
            _store.replace_profiles(conn, spec.name, "reference", [(None, ref.profile)], audit, clear_kind=True)
            _store.replace_profiles(conn, spec.name, "reference_window", ref.windows.items(), audit, clear_kind=True)

    def write_daily_profiles(self, spec: MonitorSpec, profiles: dict[dt.date, Profile], audit: _store.Audit) -> None:
        with self.writing(spec) as conn:
            _store.replace_profiles(conn, spec.name, "daily", profiles.items(), audit)

    def _read_layout(self, conn: sa.Connection, spec: MonitorSpec, columns: Sequence[str]) -> ProfileLayout:
        self._ensure_tables(conn)
        layout = _store.read_layout(conn, spec.name)
        missing = [c for c in columns if c not in layout.numeric and c not in layout.categorical]
        if missing:
            raise WarehouseError(
                f"stored reference of {spec.name!r} lacks columns {missing}: "
                f"re-materialize {spec.name}/reference_profile"
            )
        return layout

    def read_layout(self, spec: MonitorSpec, columns: Sequence[str]) -> ProfileLayout:
        """Only the bins of the stored reference (no profile rows are read)."""
        with self.begin() as conn:
            return self._read_layout(conn, spec, columns)

    def read_reference(self, spec: MonitorSpec, columns: Sequence[str], *, with_windows: bool) -> ReferenceProfile:
        """The stored reference; its daily sub-windows only when asked (calibrated thresholds)."""
        with self.begin() as conn:
            layout = self._read_layout(conn, spec, columns)
            whole = _store.read_profiles(conn, monitor=spec.name, kind="reference", layout=layout, columns=columns)[
                None
            ]
            windows = (
                _store.read_profiles(conn, monitor=spec.name, kind="reference_window", layout=layout, columns=columns)
                if with_windows
                else {}
            )
        return ReferenceProfile(layout, whole, {d: p for d, p in windows.items() if d is not None})

    def reference_days(self, spec: MonitorSpec) -> int | None:
        """Days the reference covers, for its daily rate: a window's length, or the distinct days
        of a table reference's stored sub-windows; None for a table without a timestamp column."""
        ref = spec.reference
        if ref.window is not None:
            return (ref.window.end - ref.window.start).days + 1
        if ref.timestamp_column is None:
            return None
        with self.begin() as conn:
            self._ensure_tables(conn)
            return _store.count_profile_days(conn, spec.name, "reference_window")

    def read_daily_profiles(
        self, spec: MonitorSpec, layout: ProfileLayout, days: Sequence[dt.date], columns: Sequence[str]
    ) -> dict[dt.date, Profile]:
        with self.begin() as conn:
            found = _store.read_profiles(
                conn, monitor=spec.name, kind="daily", layout=layout, days=days, columns=columns
            )
        missing = [d.isoformat() for d in days if d not in found]
        if missing:
            raise WarehouseError(
                f"no daily profile stored for {spec.name!r} on {', '.join(missing)}: "
                f"materialize {spec.name}/daily_profile for those partitions first"
            )
        return {d: p for d, p in found.items() if d is not None}

    def write_drift(
        self, spec: MonitorSpec, scope: str, results: Mapping[dt.date, tuple[DatasetDrift, _store.Audit]]
    ) -> None:
        """Replace the drift rows of every given day in one transaction."""
        with self.writing(spec) as conn:
            for day, (result, audit) in results.items():
                _store.replace_drift(
                    conn,
                    monitor=spec.name,
                    day=day,
                    scope=scope,
                    result=result,
                    audit=audit,
                    include_dataset_row=scope == "feature",
                )

    # -- labeled performance and fairness ----------------------------------------------------

    def _labeled_rows(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> LabeledRows:
        if spec.labels is None:
            raise WarehouseError(f"monitor {spec.name!r} has no labels section: nothing to measure performance on")
        rows = LabeledRows.for_days(spec, first, last)
        return dataclasses.replace(
            rows,
            arrived_at=spec.labels.arrived_at_column,
            duplicates=spec.labels.duplicates,
            label_kind=self._label_kind(spec, spec.labels.table or spec.source.table, "table"),
        )

    def _label_kind(self, spec: MonitorSpec, table: str, role: str) -> str:
        """``numeric`` or ``boolean`` by the label column's SQL type (read once per table), so that a
        text label gets one clear error before any aggregate query instead of a driver cast error."""
        assert spec.labels is not None
        column = spec.labels.label_column
        if (table, column) not in self._label_kinds:
            declared = self.table_columns(table).get(column)  # None: missing, the query says so
            self._label_kinds[(table, column)] = _kind_of_label(spec, table, role, column, declared)
        return self._label_kinds[(table, column)]

    def _aggregates(self, conn: sa.Connection, rows: LabeledRows, spec: MonitorSpec) -> dict[Any, PerformanceAggregate]:
        if spec.prediction.task == "binary_classification":
            return dict(rows.binary_aggregates(conn, self.sql, spec.performance.score_bins))
        return dict(rows.regression_aggregates(conn, self.sql))

    def performance_aggregates(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, PerformanceAggregate]:
        """Aggregate each day's scored rows with the labels that have arrived (one query)."""
        rows = self._labeled_rows(spec, min(days), max(days))
        with self.begin_days(spec) as conn:
            found = self._aggregates(conn, rows, spec)
        empty = empty_aggregate(spec)
        return {d: found.get(d, empty) for d in days}

    def reference_performance(self, spec: MonitorSpec) -> PerformanceAggregate | None:
        """Performance on the reference when it has labels (None when it has none)."""
        if spec.labels is None:
            return None
        ref = spec.reference
        if ref.window is not None:
            rows = self._labeled_rows(spec, ref.window.start, ref.window.end)
        else:
            assert ref.table is not None
            needed = {spec.labels.label_column, spec.prediction.score_column}
            if spec.prediction.label_column:
                needed.add(spec.prediction.label_column)
            with self.begin() as conn:
                present = set(conn.execute(self.sql.no_rows_statement(ref.table)).keys())
            if not needed <= present:
                return None
            rows = LabeledRows(
                Relation(ref.table),
                spec.prediction.task,
                spec.prediction.score_column,
                spec.prediction.label_column,
                spec.prediction.threshold,
                spec.labels.label_column,
                label_kind=self._label_kind(spec, ref.table, "reference table"),
            )
        with self.begin_days(spec) as conn:
            found = self._aggregates(conn, rows, spec)
        return merge_aggregates(found.values(), empty_aggregate(spec))

    @contextmanager
    def performance_writer(
        self, spec: MonitorSpec, audit: _store.Audit, versions: Mapping[dt.date, str | None] | None = None
    ) -> Iterator[PerformanceWriter]:
        """One transaction for ``spec``'s performance rows, holding the monitor's write lock: reads
        through it see every day other runs committed before it, and no run writes in between.
        ``versions`` gives each day's model version label (from its daily profile)."""
        with self.writing(spec) as conn:
            yield PerformanceWriter(conn, spec, audit, versions or {})

    def write_performance(
        self,
        spec: MonitorSpec,
        *,
        aggregates: Mapping[dt.date, PerformanceAggregate],
        metrics: Mapping[tuple[str, dt.date | None], Mapping[str, float]],
        audit: _store.Audit,
        versions: Mapping[dt.date, str | None] | None = None,
    ) -> None:
        """Daily aggregates and the metric rows of any windows, in one transaction."""
        with self.performance_writer(spec, audit, versions) as writer:
            writer.write_aggregates(aggregates)
            writer.write_metrics(metrics)

    def model_versions(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, str | None]:
        """The model version label stored with each day's profile (days not profiled are absent)."""
        with self.begin() as conn:
            self._ensure_tables(conn)
            return _store.read_model_versions(conn, monitor=spec.name, days=days)

    def read_performance(
        self,
        spec: MonitorSpec,
        window: str,
        days: Sequence[dt.date] | None = None,
        metrics: Sequence[str] | None = None,
    ) -> dict[dt.date | None, dict[str, float]]:
        with self.begin() as conn:
            self._ensure_tables(conn)
            return _store.read_performance(conn, monitor=spec.name, window=window, days=days, metrics=metrics)

    def slice_counts(
        self, spec: MonitorSpec, layout: ProfileLayout, days: Sequence[dt.date]
    ) -> dict[dt.date, dict[str, dict[str, GroupCounts]]]:
        """Per day and slice column, counts per group (the reference's top K, other, null)."""
        rows = self._labeled_rows(spec, min(days), max(days))
        slices = {c: layout.categorical[c].categories for c in spec.slices}
        with self.begin_days(spec) as conn:
            found = rows.slice_counts(conn, self.sql, slices)
        return {d: found.get(d, {c: {} for c in spec.slices}) for d in days}

    def write_fairness(
        self,
        spec: MonitorSpec,
        reports: Mapping[dt.date, Mapping[str, SliceReport]],
        audit: _store.Audit,
        versions: Mapping[dt.date, str | None],
    ) -> None:
        with self.writing(spec) as conn:
            for day, per_column in reports.items():
                stamp = audit.with_version(versions.get(day))
                _store.replace_fairness(conn, monitor=spec.name, day=day, reports=per_column, audit=stamp)

    def label_arrivals(
        self, spec: MonitorSpec, after: dt.datetime | None, first: dt.date, last: dt.date
    ) -> tuple[dict[dt.date, int], dt.datetime | None]:
        """Labels that arrived after ``after`` for rows scored on ``first..last``: count per scoring
        day, and the latest arrival time seen (the sensor's next cursor)."""
        assert spec.labels is not None and spec.labels.arrived_at_column is not None
        stmt, params = self._labeled_rows(spec, first, last).arrivals_statement(self.sql, after)
        with self.begin_days(spec) as conn:
            result = conn.execute(stmt, params).fetchall()
        counts = {day: int(n) for d, n, _ in result if (day := as_date(d)) is not None}
        latest = max((m for *_, m in result if m is not None), default=None)
        return counts, latest

    def labeled_counts(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> dict[dt.date, int]:
        """Rows with a label per scoring day in ``first..last``, as the warehouse has them now."""
        stmt, params = self._labeled_rows(spec, first, last).labeled_counts_statement(self.sql)
        with self.begin_days(spec) as conn:
            return {day: int(n) for d, n in conn.execute(stmt, params) if (day := as_date(d)) is not None}

    # -- retraining ------------------------------------------------------------------------------

    def append_event(self, spec: MonitorSpec, event_type: str, details: Mapping[str, Any], **columns: Any) -> None:
        """One row of the audit trail ``monitoring.events``."""
        with self.begin() as conn:
            self._ensure_tables(conn)
            _store.append_event(conn, monitor=spec.name, event_type=event_type, details=details, **columns)

    def read_events(
        self, spec: MonitorSpec, event_types: Sequence[str] | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """``spec``'s events (of ``event_types``, created at or after ``since``, naive UTC), oldest first."""
        e = schema.events.c
        cond = e.monitor == spec.name
        if event_types is not None:
            cond &= e.event_type.in_(list(event_types))
        if since is not None:
            cond &= e.created_at >= since
        with self.begin() as conn:
            self._ensure_tables(conn)
            rows = conn.execute(sa.select(schema.events).where(cond).order_by(e.created_at))
            return [dict(r._mapping) for r in rows]

    def delete_events(self, spec: MonitorSpec, event_types: Sequence[str]) -> int:
        """Delete ``spec``'s events of these types (the demo starts its alerts afresh); returns how many."""
        e = schema.events.c
        with self.begin() as conn:
            self._ensure_tables(conn)
            result = conn.execute(
                sa.delete(schema.events).where((e.monitor == spec.name) & e.event_type.in_(list(event_types)))
            )
            return int(result.rowcount)

    def trigger_context(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[str, dict[str, Any]]:
        """What the monitoring said on ``days``: drift share, drifted features and the primary
        performance metric (aggregates only), for the trigger's record in MLflow and the events."""
        d = schema.drift_metrics.c
        out: dict[str, dict[str, Any]] = {day.isoformat(): {"drifted_features": []} for day in days}
        with self.begin() as conn:
            self._ensure_tables(conn)
            rows = conn.execute(
                sa.select(d.partition_date, d.feature, d.value, d.drifted).where(
                    (d.monitor == spec.name) & (d.scope == "feature") & d.partition_date.in_(list(days))
                )
            ).fetchall()
            perf = _store.read_performance(conn, monitor=spec.name, window="daily", days=days)
        for day, feature, value, drifted in rows:
            entry = out[day.isoformat()]
            if feature == schema.DATASET_ROW:
                entry["drift_share"] = value
            elif drifted:
                entry["drifted_features"].append(feature)
        primary = PRIMARY_METRIC[spec.prediction.task]
        for day, values in perf.items():
            if day is not None and day.isoformat() in out:
                out[day.isoformat()][primary] = values.get(primary)
        return out

    def has_event(self, spec: MonitorSpec, event_type: str, event_id: str) -> bool:
        """Whether an event of this type was recorded for ``event_id`` (retried runs record once)."""
        events = self.read_events(spec, [event_type])
        return any(json.loads(e["details_json"]).get("event_id") == event_id for e in events)

    def last_labeled_day(self, spec: MonitorSpec) -> dt.date | None:
        """The latest scoring day that has any label (the end of the retraining window)."""
        rows = self._labeled_rows(spec, spec.partitions.start_date, dt.date.max - dt.timedelta(days=2))
        stmt, params = rows.last_labeled_statement(self.sql)
        with self.begin_days(spec) as conn:
            latest = conn.execute(stmt, params).scalar()
        return as_date(latest)

    def label_counts(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> dict[dt.date, tuple[int, int]]:
        """Per scoring day of ``first..last`` with labels: (labeled rows, rows whose label is not a
        valid target), one label per id as monitoring counts them; the retraining window's guard."""
        rows = self._labeled_rows(spec, first, last)
        with self.begin_days(spec) as conn:
            found = rows.label_counts(conn, self.sql)
        return {d: counts for d, counts in found.items() if d is not None}

    def training_frame(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> pd.DataFrame:
        """Rows of ``first..last`` with a valid label (binary: 0 or 1; regression: finite), one label
        per id by the duplicates policy: features, label and scoring day. The one place raw rows
        leave the warehouse, to train a challenger."""
        assert spec.labels is not None
        features = [*spec.features.numeric, *spec.features.categorical]
        rows = self._labeled_rows(spec, first, last)
        stmt, params = rows.training_statement(self.sql, features, label_as=LABEL, day_as=DAY_COLUMN)
        with self.begin_days(spec, columns=spec.features.numeric) as conn:
            frame = pd.DataFrame(conn.execute(stmt, params).fetchall(), columns=[*features, LABEL, DAY_COLUMN])
        frame[DAY_COLUMN] = pd.to_datetime(frame[DAY_COLUMN]).dt.date
        return frame

    # -- data quality (expectations/) --------------------------------------------------------

    def source_columns(self, spec: MonitorSpec) -> dict[str, str]:
        """Columns of the source table and their SQL types as text (see ``table_columns``)."""
        return self.table_columns(spec.source.table)

    def table_columns(self, dotted: str) -> dict[str, str]:
        """Columns of a table and their SQL types as text, in table order (empty when the
        table does not exist). DuckDB: ``information_schema`` spelling (``DOUBLE``, ``VARCHAR``);
        other engines: SQLAlchemy's reflected type as Great Expectations compares it
        (``DOUBLE PRECISION``, ``VARCHAR(20)``)."""
        *prefix, table = dotted.split(".")
        schema = prefix[-1] if prefix else None
        with self.begin() as conn:
            if not self.sql.is_duckdb:
                inspector = sa.inspect(conn)
                if not inspector.has_table(table, schema=schema):
                    return {}
                return {c["name"]: str(c["type"]) for c in inspector.get_columns(table, schema=schema)}
            rows = conn.execute(*duckdb_columns_statement(dotted)).fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def count_day_rows(self, spec: MonitorSpec, day: dt.date) -> int:
        stmt, params = self.sql.count_statement(self.days_relation(spec, day, day))
        with self.begin_days(spec) as conn:
            return int(conn.execute(stmt, params).scalar() or 0)

    def day_frames(
        self,
        spec: MonitorSpec,
        day: dt.date,
        columns: Sequence[str],
        *,
        chunk_rows: int,
        sample_share: float | None = None,
        seed: int = 0,
    ) -> Iterator[pd.DataFrame]:
        """DuckDB only: the day's rows of ``columns`` as pandas frames of about ``chunk_rows`` rows,
        streamed from one query, so memory holds one chunk at a time. With ``sample_share`` only rows
        whose ``hash(seed, key) % 10^6 < sample_share * 10^6`` are read (key: ``source.id_column``,
        else the timestamp and the columns): a deterministic sample, the same rows on every run.
        At least one frame is yielded (empty, with the columns' types, for a day without rows)."""
        if not self.sql.is_duckdb:
            raise WarehouseError("pandas batches of a day are read from DuckDB only; other engines validate in SQL")
        statement = functools.partial(
            duckdb_rows_statement,
            self.sql,
            self.days_relation(spec, day, day),
            columns,
            sample_share=sample_share,
            seed=seed,
            sample_key=spec.source.id_column,
        )
        sql, params = statement()
        import duckdb  # noqa: PLC0415  (only this DuckDB-only path needs the driver's own errors)

        vectors = max(1, -(-chunk_rows // 2048))  # DuckDB hands out results in vectors of 2048 rows
        with self.begin_days(spec) as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            try:
                cursor = raw.execute(sql, params)
                pending: list[pd.DataFrame] = []
                held, yielded = 0, False
                while (frame := cursor.fetch_df_chunk(vectors)) is not None and len(frame):
                    pending.append(frame)
                    held += len(frame)
                    if held >= chunk_rows:  # a filter leaves vectors part-full: gather up to a chunk
                        chunk = pd.concat(pending, ignore_index=True)
                        pending, held, yielded = [], 0, True  # freed before the caller works on the chunk
                        yield chunk
                        del chunk
                if pending:
                    chunk = pd.concat(pending, ignore_index=True)
                    pending = []
                    yield chunk
                elif not yielded:
                    yield raw.execute(*statement(limit=0)).fetch_df_chunk(1)
            except duckdb.Error as e:
                raise self.query_error(e, columns) from None

    def delete_drift(self, spec: MonitorSpec, days: Sequence[dt.date]) -> None:
        """Remove the drift rows (every scope) of ``days``: drift blocked by data quality."""
        d = schema.drift_metrics.c
        with self.writing(spec) as conn:
            conn.execute(schema.drift_metrics.delete().where((d.monitor == spec.name) & d.partition_date.in_(days)))


LABEL = "__label__"  # columns of training frames; spec names may not start with "__" (spec._model)
DAY_COLUMN = "__day__"


_TEXT_TYPES = ("CHAR", "TEXT", "STRING", "CLOB", "UUID", "JSON", "DATE", "TIME", "INTERVAL", "BYTEA", "BLOB")


def _kind_of_label(spec: MonitorSpec, table: str, role: str, column: str, declared: str | None) -> str:
    """``boolean`` or ``numeric`` for a label column of SQL type ``declared``; a text (or date, ...)
    column is a WarehouseError naming the table, the column and the values expected."""
    upper = (declared or "").upper()
    if "BOOL" in upper and spec.prediction.task == "binary_classification":
        return "boolean"
    numeric = any(t in upper for t in ("INT", "FLOAT", "DOUBLE", "REAL", "NUMERIC", "DECIMAL", "NUMBER"))
    if not numeric and ("BOOL" in upper or any(t in upper for t in _TEXT_TYPES)):
        expected = (
            "0 or 1 (an integer, numeric or boolean column)"
            if spec.prediction.task == "binary_classification"
            else "a number (an integer or numeric column)"
        )
        raise WarehouseError(
            f"monitor {spec.name!r}: labels.label_column {column!r} of {role} {table!r} is {declared}, "
            f"but a {spec.prediction.task} label must be {expected}; store the label as such, or map it "
            "in a view over the table"
        )
    return "numeric"


def empty_aggregate(spec: MonitorSpec) -> PerformanceAggregate:
    if spec.prediction.task == "binary_classification":
        return BinaryAggregate.empty(spec.performance.score_bins)
    return RegressionAggregate.empty()
