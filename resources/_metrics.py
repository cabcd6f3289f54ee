"""Metric tables: labeled performance aggregates and metrics, model versions and fairness
(``Warehouse.metrics``). Aggregates only leave the warehouse here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from monitoring_assets.core.fairness import GroupCounts, SliceReport
from monitoring_assets.core.performance import (
    BinaryAggregate,
    MulticlassAggregate,
    PerformanceAggregate,
    RegressionAggregate,
    merge_aggregates,
)
from monitoring_assets.core.profile import ProfileLayout
from monitoring_assets.spec import MonitorSpec
from resources import _store
from resources._engine import WarehouseEngine
from resources._labels import LabelQueries
from resources._labels_sql import LabeledRows
from resources._sql import Relation


def empty_aggregate(spec: MonitorSpec) -> PerformanceAggregate:
    if spec.prediction.task == "binary_classification":
        return BinaryAggregate.empty(spec.performance.score_bins)
    if spec.prediction.task == "multiclass_classification":
        assert spec.prediction.classes is not None
        bins = spec.performance.score_bins if spec.prediction.score_columns else 0
        return MulticlassAggregate.empty(len(spec.prediction.classes), bins)
    return RegressionAggregate.empty()


@dataclass(frozen=True)
class PerformanceWriter:
    """Writes and reads of one monitor's performance rows in one locked transaction
    (``MetricTables.performance_writer``). Each write replaces its (monitor, day) or (monitor,
    window, day) rows."""

    conn: sa.Connection
    spec: MonitorSpec
    audit: _store.Audit
    versions: Mapping[dt.date, str | None]

    def write_aggregates(self, aggregates: Mapping[dt.date, PerformanceAggregate]) -> None:
        _store.replace_performance_aggregates(
            self.conn, monitor=self.spec.name, aggregates=aggregates, audit=self.audit, versions=self.versions
        )

    def read_aggregates(self, first: dt.date, last: dt.date) -> dict[dt.date, PerformanceAggregate]:
        """The daily aggregates stored for ``first..last`` (this transaction's writes included)."""
        return _store.read_performance_aggregates(
            self.conn, monitor=self.spec.name, first=first, last=last, empty=empty_aggregate(self.spec)
        )

    def write_metrics(self, metrics: Mapping[tuple[str, dt.date | None], Mapping[str, float]]) -> None:
        stamped = {
            (window, when): (values, self.audit.with_version(self.versions.get(when) if when else None))
            for (window, when), values in metrics.items()
        }
        _store.replace_performance_windows(self.conn, monitor=self.spec.name, metrics=stamped)


class MetricTables:
    """Performance and fairness of one warehouse: aggregated in SQL from ``labels``' labeled rows,
    written to and read from the metric tables."""

    def __init__(self, db: WarehouseEngine, labels: LabelQueries) -> None:
        self._db = db
        self._labels = labels

    def _aggregates(self, conn: sa.Connection, rows: LabeledRows, spec: MonitorSpec) -> dict[Any, PerformanceAggregate]:
        if spec.prediction.task == "binary_classification":
            return dict(rows.binary_aggregates(conn, self._db.sql, spec.performance.score_bins))
        if spec.prediction.task == "multiclass_classification":
            return dict(rows.multiclass_aggregates(conn, self._db.sql, spec.performance.score_bins))
        return dict(rows.regression_aggregates(conn, self._db.sql))

    def old_layout_days(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> set[dt.date]:
        """Days of ``first..last`` whose stored aggregates are in an earlier release's layout."""
        with self._db.begin_tables() as conn:
            return _store.old_layout_performance_days(
                conn, monitor=spec.name, first=first, last=last, empty=empty_aggregate(spec)
            )

    def performance_aggregates(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, PerformanceAggregate]:
        """Aggregate each day's scored rows with the labels that have arrived (one query)."""
        rows = self._labels.labeled_rows(spec, min(days), max(days))
        with self._db.begin_days(spec) as conn:
            found = self._aggregates(conn, rows, spec)
        empty = empty_aggregate(spec)
        return {d: found.get(d, empty) for d in days}

    def variant_aggregates(
        self, spec: MonitorSpec, days: Sequence[dt.date], variant: Callable[[LabeledRows], LabeledRows]
    ) -> dict[dt.date, PerformanceAggregate]:
        """:meth:`performance_aggregates` over ``variant`` of the days' labeled rows (one model
        version's rows, a shadow score in place of the live one)."""
        rows = variant(self._labels.labeled_rows(spec, min(days), max(days)))
        with self._db.begin_days(spec) as conn:
            found = self._aggregates(conn, rows, spec)
        empty = empty_aggregate(spec)
        return {d: found.get(d, empty) for d in days}

    def reference_performance(self, spec: MonitorSpec) -> PerformanceAggregate | None:
        """Performance on the reference when it has labels (None when it has none)."""
        if spec.labels is None:
            return None
        ref = spec.reference
        if ref.window is not None:
            rows = self._labels.labeled_rows(spec, ref.window.start, ref.window.end)
        else:
            assert ref.table is not None
            needed = {spec.labels.label_column, *spec.prediction.columns}
            with self._db.begin() as conn:
                present = set(conn.execute(self._db.sql.no_rows_statement(ref.table)).keys())
            if not needed <= present:
                return None
            rows = LabeledRows(
                Relation(ref.table),
                spec.prediction.task,
                spec.prediction.score_column,
                spec.prediction.label_column,
                spec.prediction.threshold,
                spec.labels.label_column,
                label_kind=self._labels.label_kind(spec, ref.table, "reference table"),
                classes=tuple(spec.prediction.classes or ()),
                class_scores=tuple(spec.prediction.class_score_columns),
            )
        with self._db.begin_days(spec) as conn:
            found = self._aggregates(conn, rows, spec)
        return merge_aggregates(found.values(), empty_aggregate(spec))

    @contextmanager
    def performance_writer(
        self, spec: MonitorSpec, audit: _store.Audit, versions: Mapping[dt.date, str | None] | None = None
    ) -> Iterator[PerformanceWriter]:
        """One transaction for ``spec``'s performance rows, holding the monitor's write lock: reads
        through it see every day other runs committed before it, and no run writes in between.
        ``versions`` gives each day's model version label (from its daily profile)."""
        with self._db.writing(spec) as conn:
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
        with self._db.begin_tables() as conn:
            return _store.read_model_versions(conn, monitor=spec.name, days=days)

    def read_performance(
        self,
        spec: MonitorSpec,
        window: str,
        days: Sequence[dt.date] | None = None,
        metrics: Sequence[str] | None = None,
        kind: str = _store.REALIZED,
    ) -> dict[dt.date | None, dict[str, float]]:
        """Stored performance rows of one window; ``kind`` realized (from labels) or estimated."""
        with self._db.begin_tables() as conn:
            return _store.read_performance(
                conn, monitor=spec.name, window=window, days=days, metrics=metrics, kind=kind
            )

    def write_estimated(
        self,
        spec: MonitorSpec,
        metrics: Mapping[dt.date, Mapping[str, float]],
        audit: _store.Audit,
        versions: Mapping[dt.date, str | None],
    ) -> None:
        """Replace the days' ``kind = 'estimated'`` daily rows of performance_metrics."""
        stamped: dict[tuple[str, dt.date | None], tuple[Mapping[str, float], _store.Audit]] = {
            ("daily", d): (values, audit.with_version(versions.get(d))) for d, values in metrics.items()
        }
        with self._db.writing(spec) as conn:
            _store.replace_performance_windows(conn, monitor=spec.name, metrics=stamped, kind=_store.ESTIMATED)

    def write_calibrations(
        self, spec: MonitorSpec, calibrations: Sequence[_store.StoredCalibration], audit: _store.Audit
    ) -> None:
        with self._db.writing(spec) as conn:
            _store.replace_calibrations(conn, monitor=spec.name, calibrations=calibrations, audit=audit)

    def read_calibrations(self, spec: MonitorSpec) -> dict[str, _store.StoredCalibration]:
        """The stored calibration of each probability column (keyed by the score column)."""
        with self._db.begin_tables() as conn:
            return _store.read_calibrations(conn, monitor=spec.name)

    def slice_counts(
        self, spec: MonitorSpec, layout: ProfileLayout, days: Sequence[dt.date]
    ) -> dict[dt.date, dict[str, dict[str, GroupCounts]]]:
        """Per day and slice column, counts per group (the reference's top K, other, null)."""
        rows = self._labels.labeled_rows(spec, min(days), max(days))
        slices = {c: layout.categorical[c].categories for c in spec.slices}
        with self._db.begin_days(spec) as conn:
            found = rows.slice_counts(conn, self._db.sql, slices)
        return {d: found.get(d, {c: {} for c in spec.slices}) for d in days}

    def write_fairness(
        self,
        spec: MonitorSpec,
        reports: Mapping[dt.date, Mapping[str, SliceReport]],
        audit: _store.Audit,
        versions: Mapping[dt.date, str | None],
    ) -> None:
        with self._db.writing(spec) as conn:
            stamped = {day: (per_column, audit.with_version(versions.get(day))) for day, per_column in reports.items()}
            _store.replace_fairness_days(conn, monitor=spec.name, reports=stamped)
