"""Profiles: the reference and daily profiles computed in SQL, stored and read back, and the
drift rows computed from them (``Warehouse.profiles``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from monitoring_assets.core.evaluate import DatasetDrift
from monitoring_assets.core.profile import (
    Profile,
    ProfileLayout,
    empty_profile,
    score_cells_bins,
    score_cells_column,
    source_column,
)
from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources import _store, schema
from resources._engine import WarehouseEngine, days_relation, reference_relation
from resources._sql import ProfileQuery, build_layout


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference: its bins, its whole profile, and its daily sub-window profiles."""

    layout: ProfileLayout
    profile: Profile
    windows: dict[dt.date, Profile]


def probability_columns(spec: MonitorSpec) -> list[str]:
    """The columns that hold a predicted probability, each profiled with a fine score histogram
    (``score_cells_column``): a binary classifier's score. (A multiclass monitor would list one
    column per class here.)"""
    score = spec.prediction.score_column
    return [score] if spec.prediction.task == "binary_classification" and score is not None else []


def with_score_cells(layout: ProfileLayout, spec: MonitorSpec) -> ProfileLayout:
    """``layout`` plus the fine score histogram of each probability column, binned as the labeled
    performance bins its scores (``performance.score_bins`` cells on [0, 1]), so that a day's
    profile holds the histogram of all its scored rows that the estimate without labels reads."""
    extra = {
        name: score_cells_bins(spec.performance.score_bins)
        for column in probability_columns(spec)
        if (name := score_cells_column(column)) is not None
    }
    return ProfileLayout({**layout.numeric, **extra}, layout.categorical) if extra else layout


class ProfileStore:
    """Profiles of one monitor's reference and days, and its drift rows."""

    def __init__(self, db: WarehouseEngine) -> None:
        self._db = db

    def profile_reference(self, spec: MonitorSpec) -> ReferenceProfile:
        """Fix bins on the reference, then profile it (per day when it has a timestamp column)."""
        sql = self._db.sql
        rel = reference_relation(spec)
        with self._db.begin_days(spec, columns=spec.numeric_columns) as conn:
            layout = build_layout(
                conn,
                sql=sql,
                rel=rel,
                numeric=spec.numeric_columns,
                categorical=spec.profiled_categorical_columns,
                n_bins=spec.drift.n_bins,
                top_k=spec.drift.top_k,
            )
            layout = with_score_cells(layout, spec)
            by_day = rel.timestamp_column is not None
            query = ProfileQuery(
                sql, layout, spec.source.model_version_column if spec.reference.window else None, by_day=by_day
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
        rel = days_relation(spec, first, last)
        query = ProfileQuery(self._db.sql, layout, spec.source.model_version_column, by_day=len(days) > 1)
        columns = list(dict.fromkeys(source_column(c) for c in layout.numeric))  # for error messages
        with self._db.begin_days(spec, columns=columns) as conn:
            found = query.run(conn, rel)
        if len(days) == 1:
            return {first: found[None]}
        return {d: found.get(d) or empty_profile(layout) for d in days}

    def write_reference(self, spec: MonitorSpec, ref: ReferenceProfile, audit: _store.Audit) -> None:
        with self._db.writing(spec) as conn:
            _store.replace_profiles(conn, spec.name, "reference", [(None, ref.profile)], audit, clear_kind=True)
            _store.replace_profiles(conn, spec.name, "reference_window", ref.windows.items(), audit, clear_kind=True)

    def write_daily_profiles(self, spec: MonitorSpec, profiles: dict[dt.date, Profile], audit: _store.Audit) -> None:
        with self._db.writing(spec) as conn:
            _store.replace_profiles(conn, spec.name, "daily", profiles.items(), audit)

    @staticmethod
    def _read_layout(conn: sa.Connection, spec: MonitorSpec, columns: Sequence[str]) -> ProfileLayout:
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
        with self._db.begin_tables() as conn:
            return self._read_layout(conn, spec, columns)

    def read_reference(
        self,
        spec: MonitorSpec,
        columns: Sequence[str],
        *,
        with_windows: bool,
        window_columns: Sequence[str] | None = None,
    ) -> ReferenceProfile:
        """The stored reference; its daily sub-windows only when asked (calibrated thresholds),
        holding ``window_columns`` (default: ``columns``). Every window repeats each column's
        ~1,000 cells, so reading only the calibrated columns' saves most of a drift run's reads."""
        with self._db.begin_tables() as conn:
            layout = self._read_layout(conn, spec, columns)
            whole = _store.read_profiles(conn, monitor=spec.name, kind="reference", layout=layout, columns=columns)[
                None
            ]
            windows = (
                _store.read_profiles(
                    conn,
                    monitor=spec.name,
                    kind="reference_window",
                    layout=layout,
                    columns=columns if window_columns is None else window_columns,
                )
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
        with self._db.begin_tables() as conn:
            return _store.count_profile_days(conn, spec.name, "reference_window")

    def read_daily_profiles(
        self, spec: MonitorSpec, layout: ProfileLayout, days: Sequence[dt.date], columns: Sequence[str]
    ) -> dict[dt.date, Profile]:
        with self._db.begin() as conn:
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
        with self._db.writing(spec) as conn:
            _store.replace_drift(
                conn, monitor=spec.name, scope=scope, results=results, include_dataset_row=scope == "feature"
            )

    def delete_drift(self, spec: MonitorSpec, days: Sequence[dt.date]) -> None:
        """Remove the drift rows (every scope) of ``days``: drift blocked by data quality."""
        d = schema.drift_metrics.c
        with self._db.writing(spec) as conn:
            conn.execute(schema.drift_metrics.delete().where((d.monitor == spec.name) & d.partition_date.in_(days)))
