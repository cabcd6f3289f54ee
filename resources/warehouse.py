"""The warehouse adapter: profiles computed in SQL, metric tables written back.

``Warehouse`` does the work over one SQLAlchemy engine; ``WarehouseResource`` is the Dagster
resource that configures it. Raw rows never leave the warehouse here: only aggregates do.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.exc import DBAPIError, NoSuchModuleError
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
from resources import _store
from resources._labels_sql import LabeledRows
from resources._sql import ProfileQuery, Relation, SqlBuilder, build_layout

WAREHOUSE_URL_ENV = "MONITORING_WAREHOUSE_URL"
DEFAULT_WAREHOUSE_URL = "duckdb:///data/demo_warehouse.duckdb"
DUCKDB_MEMORY_ENV = "MONITORING_DUCKDB_MEMORY_LIMIT"  # e.g. "2GB"; unset: DuckDB's default


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference: its bins, its whole profile, and its daily sub-window profiles."""

    layout: ProfileLayout
    profile: Profile
    windows: dict[dt.date, Profile]


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


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
        try:
            # NullPool: no connection outlives its use, so a DuckDB file lock is never held idle.
            self.engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
        except NoSuchModuleError as e:
            raise WarehouseError(f"no SQLAlchemy driver for {parsed.drivername!r}: install it ({e})") from None
        self.sql = SqlBuilder(self.engine.dialect)
        self._tables_ready = False

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and metadata."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """One transaction; database errors become WarehouseError naming the (masked) URL."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except DBAPIError as e:
            raise WarehouseError(f"warehouse {self.safe_url} rejected a query: {e.orig}") from e

    def dispose(self) -> None:
        self.engine.dispose()

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
        """Source rows of the days ``first..last`` inclusive (timestamps as stored, half-open)."""
        return Relation(
            spec.source.table, spec.source.timestamp_column, _day_start(first), _day_start(last + dt.timedelta(days=1))
        )

    # -- profiles ----------------------------------------------------------------------------

    def profile_reference(self, spec: MonitorSpec) -> ReferenceProfile:
        """Fix bins on the reference, then profile it (per day when it has a timestamp column)."""
        rel = self.reference_relation(spec)
        with self.begin() as conn:
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
        with self.begin() as conn:
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
            _store.ensure_tables(conn)
            self._tables_ready = True

    def write_reference(self, spec: MonitorSpec, ref: ReferenceProfile, audit: _store.Audit) -> None:
        with self.begin() as conn:
            self._ensure_tables(conn)
            _store.replace_profiles(conn, spec.name, "reference", [(None, ref.profile)], audit, clear_kind=True)
            _store.replace_profiles(conn, spec.name, "reference_window", ref.windows.items(), audit, clear_kind=True)

    def write_daily_profiles(self, spec: MonitorSpec, profiles: dict[dt.date, Profile], audit: _store.Audit) -> None:
        with self.begin() as conn:
            self._ensure_tables(conn)
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
        with self.begin() as conn:
            self._ensure_tables(conn)
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
        return LabeledRows.for_days(spec, first, last)

    def _aggregates(self, conn: sa.Connection, rows: LabeledRows, spec: MonitorSpec) -> dict[Any, PerformanceAggregate]:
        if spec.prediction.task == "binary_classification":
            return dict(rows.binary_aggregates(conn, self.sql, spec.performance.score_bins))
        return dict(rows.regression_aggregates(conn, self.sql))

    def performance_aggregates(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, PerformanceAggregate]:
        """Aggregate each day's scored rows with the labels that have arrived (one query)."""
        rows = self._labeled_rows(spec, min(days), max(days))
        with self.begin() as conn:
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
                # An empty SELECT names the columns on every engine (duckdb-engine's reflection
                # queries pg_catalog tables DuckDB lacks).
                present = set(conn.execute(sa.text(f"SELECT * FROM {self.sql.table(ref.table)} WHERE 1 = 0")).keys())
            if not needed <= present:
                return None
            rows = LabeledRows(
                Relation(ref.table),
                spec.prediction.task,
                spec.prediction.score_column,
                spec.prediction.label_column,
                spec.prediction.threshold,
                spec.labels.label_column,
            )
        with self.begin() as conn:
            found = self._aggregates(conn, rows, spec)
        return merge_aggregates(found.values(), empty_aggregate(spec))

    def write_performance(
        self,
        spec: MonitorSpec,
        *,
        aggregates: Mapping[dt.date, PerformanceAggregate],
        metrics: Mapping[tuple[str, dt.date | None], Mapping[str, float]],
        audit: _store.Audit,
        versions: Mapping[dt.date, str | None] | None = None,
    ) -> None:
        """Daily aggregates and the metric rows of any windows, in one transaction. ``versions``
        gives each day's model version label (from its daily profile)."""
        versions = versions or {}
        with self.begin() as conn:
            self._ensure_tables(conn)
            for day, agg in aggregates.items():
                stamp = audit.with_version(versions.get(day))
                _store.replace_performance_aggregates(conn, monitor=spec.name, aggregates={day: agg}, audit=stamp)
            for (window, when), values in metrics.items():
                stamp = audit.with_version(versions.get(when) if when else None)
                _store.replace_performance(conn, monitor=spec.name, window=window, day=when, values=values, audit=stamp)

    def model_versions(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, str | None]:
        """The model version label stored with each day's profile (days not profiled are absent)."""
        with self.begin() as conn:
            self._ensure_tables(conn)
            return _store.read_model_versions(conn, monitor=spec.name, days=days)

    def read_performance_aggregates(
        self, spec: MonitorSpec, first: dt.date, last: dt.date
    ) -> dict[dt.date, PerformanceAggregate]:
        with self.begin() as conn:
            self._ensure_tables(conn)
            return _store.read_performance_aggregates(
                conn, monitor=spec.name, first=first, last=last, empty=empty_aggregate(spec)
            )

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
        with self.begin() as conn:
            found = rows.slice_counts(conn, self.sql, slices)
        return {d: found.get(d, {c: {} for c in spec.slices}) for d in days}

    def write_fairness(
        self,
        spec: MonitorSpec,
        reports: Mapping[dt.date, Mapping[str, SliceReport]],
        audit: _store.Audit,
        versions: Mapping[dt.date, str | None],
    ) -> None:
        with self.begin() as conn:
            self._ensure_tables(conn)
            for day, per_column in reports.items():
                stamp = audit.with_version(versions.get(day))
                _store.replace_fairness(conn, monitor=spec.name, day=day, reports=per_column, audit=stamp)

    def label_arrivals(
        self, spec: MonitorSpec, after: dt.datetime | None, first: dt.date, last: dt.date
    ) -> tuple[dict[dt.date, int], dt.datetime | None]:
        """Labels that arrived after ``after`` for rows scored on ``first..last``: count per scoring
        day, and the latest arrival time seen (the sensor's next cursor)."""
        assert spec.labels is not None and spec.labels.arrived_at_column is not None
        rows = self._labeled_rows(spec, first, last)
        arrived = f"{'s' if spec.labels.table is None else 'l'}.{self.sql.col(spec.labels.arrived_at_column)}"
        params: dict[str, Any] = {}
        if after is not None:
            params["after"] = after
        cond = f"{arrived} > :after" if after is not None else f"{arrived} IS NOT NULL"
        source = rows.from_clause(self.sql, params, [cond])
        stmt = sa.text(
            f"SELECT CAST(s.{self.sql.col(spec.source.timestamp_column)} AS DATE), count(*), max({arrived}) "
            f"FROM {source} GROUP BY 1"
        )
        with self.begin() as conn:
            result = conn.execute(stmt, params).fetchall()
        counts = {_as_date(d): int(n) for d, n, _ in result}
        latest = max((m for *_, m in result if m is not None), default=None)
        return counts, latest

    def labeled_counts(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> dict[dt.date, int]:
        """Rows with a label per scoring day in ``first..last``, as the warehouse has them now."""
        rows = self._labeled_rows(spec, first, last)
        params: dict[str, Any] = {}
        source = rows.from_clause(self.sql, params)
        label = rows.label_expr(self.sql)
        stmt = sa.text(
            f"SELECT CAST(s.{self.sql.col(spec.source.timestamp_column)} AS DATE), count({label}) "
            f"FROM {source} GROUP BY 1"
        )
        with self.begin() as conn:
            return {_as_date(d): int(n) for d, n in conn.execute(stmt, params)}

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
        e = _store.events.c
        cond = e.monitor == spec.name
        if event_types is not None:
            cond &= e.event_type.in_(list(event_types))
        if since is not None:
            cond &= e.created_at >= since
        with self.begin() as conn:
            self._ensure_tables(conn)
            rows = conn.execute(sa.select(_store.events).where(cond).order_by(e.created_at))
            return [dict(r._mapping) for r in rows]

    def delete_events(self, spec: MonitorSpec, event_types: Sequence[str]) -> int:
        """Delete ``spec``'s events of these types (the demo starts its alerts afresh); returns how many."""
        e = _store.events.c
        with self.begin() as conn:
            self._ensure_tables(conn)
            result = conn.execute(
                sa.delete(_store.events).where((e.monitor == spec.name) & e.event_type.in_(list(event_types)))
            )
            return int(result.rowcount)

    def trigger_context(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[str, dict[str, Any]]:
        """What the monitoring said on ``days``: drift share, drifted features and the primary
        performance metric (aggregates only), for the trigger's record in MLflow and the events."""
        d = _store.drift_metrics.c
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
            if feature == _store.DATASET_ROW:
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
        params: dict[str, Any] = {}
        source = rows.from_clause(self.sql, params, [f"{rows.label_expr(self.sql)} IS NOT NULL"])
        stmt = sa.text(f"SELECT max(s.{self.sql.col(spec.source.timestamp_column)}) FROM {source}")
        with self.begin() as conn:
            latest = conn.execute(stmt, params).scalar()
        return None if latest is None else _as_date(latest)

    def training_frame(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> pd.DataFrame:
        """Labeled rows of ``first..last`` (features, label and scoring day): the one place raw rows
        leave the warehouse, to train a challenger."""
        assert spec.labels is not None
        rows = self._labeled_rows(spec, first, last)
        q = self.sql
        params: dict[str, Any] = {}
        label = rows.label_expr(q)
        source = rows.from_clause(q, params, [f"{label} IS NOT NULL"])
        features = [*spec.features.numeric, *spec.features.categorical]
        cols = ", ".join(f"s.{q.col(c)} AS {q.col(c)}" for c in features)
        stmt = sa.text(
            f"SELECT {cols}, {label} AS {q.col(LABEL)}, CAST(s.{q.col(spec.source.timestamp_column)} AS DATE) "
            f"AS {q.col(DAY_COLUMN)} FROM {source}"
        )
        with self.begin() as conn:
            frame = pd.DataFrame(conn.execute(stmt, params).fetchall(), columns=[*features, LABEL, DAY_COLUMN])
        frame[DAY_COLUMN] = pd.to_datetime(frame[DAY_COLUMN]).dt.date
        return frame

    # -- data quality (expectations/) --------------------------------------------------------

    def source_columns(self, spec: MonitorSpec) -> dict[str, str]:
        """Columns of the source table and their SQL types as text, in table order (empty when the
        table does not exist). DuckDB: ``information_schema`` spelling (``DOUBLE``, ``VARCHAR``);
        other engines: SQLAlchemy's reflected type as Great Expectations compares it
        (``DOUBLE PRECISION``, ``VARCHAR(20)``)."""
        *prefix, table = spec.source.table.split(".")
        schema = prefix[-1] if prefix else None
        with self.begin() as conn:
            if not self.sql.is_duckdb:
                inspector = sa.inspect(conn)
                if not inspector.has_table(table, schema=schema):
                    return {}
                return {c["name"]: str(c["type"]) for c in inspector.get_columns(table, schema=schema)}
            params: dict[str, Any] = {"t": table, "s": schema}
            catalog = ""
            if len(prefix) == 2:
                catalog, params["c"] = " AND table_catalog = :c", prefix[0]
            rows = conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t AND "
                    f"table_schema = coalesce(:s, current_schema()){catalog} ORDER BY ordinal_position"
                ),
                params,
            ).fetchall()
        return {str(name): str(kind) for name, kind in rows}

    def count_day_rows(self, spec: MonitorSpec, day: dt.date) -> int:
        rel = self.days_relation(spec, day, day)
        params: dict[str, Any] = {}
        stmt = sa.text(f"SELECT count(*) FROM {self.sql.table(rel.table)}{self.sql.where(rel, params)}")
        with self.begin() as conn:
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
        q = self.sql
        ts = q.col(spec.source.timestamp_column)
        select = ", ".join(q.col(c) for c in columns) or ts
        sql = f"SELECT {select} FROM {q.table(spec.source.table)} WHERE {ts} >= $start AND {ts} < $end"
        params: dict[str, Any] = {"start": _day_start(day), "end": _day_start(day + dt.timedelta(days=1))}
        if sample_share is not None and sample_share < 1:
            key = q.col(spec.source.id_column) if spec.source.id_column else ", ".join([ts, *map(q.col, columns)])
            sql += f" AND hash(CAST($seed AS BIGINT), {key}) % 1000000 < $keep"
            params |= {"seed": seed, "keep": max(1, round(sample_share * 1_000_000))}
        import duckdb  # noqa: PLC0415  (only this DuckDB-only path needs the driver's own errors)

        vectors = max(1, -(-chunk_rows // 2048))  # DuckDB hands out results in vectors of 2048 rows
        with self.begin() as conn:
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
                    yield raw.execute(f"{sql} LIMIT 0", params).fetch_df_chunk(1)
            except duckdb.Error as e:
                raise WarehouseError(f"warehouse {self.safe_url} rejected a query: {e}") from e

    def delete_drift(self, spec: MonitorSpec, days: Sequence[dt.date]) -> None:
        """Remove the drift rows (every scope) of ``days``: drift blocked by data quality."""
        d = _store.drift_metrics.c
        with self.begin() as conn:
            self._ensure_tables(conn)
            conn.execute(_store.drift_metrics.delete().where((d.monitor == spec.name) & d.partition_date.in_(days)))


LABEL = "__label__"  # columns of training frames; spec names may not start with "__" (spec._model)
DAY_COLUMN = "__day__"


def _as_date(value: object) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value  # type: ignore[return-value]


def empty_aggregate(spec: MonitorSpec) -> PerformanceAggregate:
    if spec.prediction.task == "binary_classification":
        return BinaryAggregate.empty(spec.performance.score_bins)
    return RegressionAggregate.empty()


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Dagster resource for the monitored warehouse.

    ``url`` is a SQLAlchemy URL. In definitions it comes from ``$MONITORING_WAREHOUSE_URL``
    through ``dg.EnvVar`` (so the UI shows the variable, not a password), defaulting to the demo
    DuckDB file.
    """

    url: str = Field(default=DEFAULT_WAREHOUSE_URL, description="SQLAlchemy URL of the warehouse")

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        warehouse = Warehouse(self.url)
        try:
            yield warehouse
        finally:
            warehouse.dispose()
