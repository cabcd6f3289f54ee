"""Second moments of standardized features, computed in the warehouse (multivariate drift).

One ``GROUP BY`` pass returns, per day, ``count(*)``, the sums of the standardized values and the
sums of their pairwise products (``monitoring_assets.core.multivariate`` says what they mean). The
standardization (reference mean and scale) is bound as values; column names are quoted. It is a
scan of its own beside the profile's: the profile groups rows by cell, these sums do not group.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from monitoring_assets.core.multivariate import MULTIVARIATE_FEATURE, Moments, MultivariateVerdict, Standardizer
from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources import _store, schema
from resources._engine import WarehouseEngine, days_relation, reference_relation
from resources._sql import DAY, Relation, SqlBuilder, as_date

SCOPE = "multivariate"  # drift_metrics.scope of its rows
METHOD = "pca_reconstruction"


def moments_statement(
    sql: SqlBuilder, rel: Relation, standardizer: Standardizer, *, by_day: bool
) -> tuple[sa.TextClause, dict[str, Any]]:
    """``[day,] n, s0..s(d-1), p0_0, p0_1, .., p(d-1)_(d-1)`` (the products ``i <= j``) of ``rel``."""
    params: dict[str, Any] = {}
    inner: list[str] = [f"CAST({sql.col(rel.timestamp_column or '')} AS DATE) AS {DAY}"] if by_day else []
    for i, name in enumerate(standardizer.columns):
        raw = f"CAST({sql.col(name)} AS DOUBLE PRECISION)"
        params[f"mu{i}"], params[f"sd{i}"] = float(standardizer.mean[i]), float(standardizer.std[i])
        inner.append(
            f"CASE WHEN {sql.finite(raw)} THEN ({raw} - CAST(:mu{i} AS DOUBLE PRECISION)) "
            f"/ CAST(:sd{i} AS DOUBLE PRECISION) ELSE 0.0 END AS z{i}"
        )
    d = len(standardizer.columns)
    sums = [f"sum(z{i})" for i in range(d)]
    products = [f"sum(z{i} * z{j})" for i in range(d) for j in range(i, d)]
    keys = f"{DAY}, " if by_day else ""
    group = f" GROUP BY {DAY}" if by_day else ""
    text = (
        f"SELECT {keys}count(*), {', '.join(sums + products)} FROM "
        f"(SELECT {', '.join(inner)} FROM {sql.table(rel.table)}{sql.where(rel, params)}) AS z{group}"
    )
    return sa.text(text), params


def _moments_of_row(columns: tuple[str, ...], row: Sequence[Any]) -> Moments:
    d = len(columns)
    n = int(row[0])
    values = np.array([0.0 if v is None else float(v) for v in row[1:]], dtype=np.float64)
    products = np.zeros((d, d))
    products[np.triu_indices(d)] = values[d:]
    products = products + np.triu(products, 1).T
    return Moments(columns, n, values[:d], products)


class MomentsStore:
    """The moments of one monitor's reference (whole and per day) and of its days."""

    def __init__(self, db: WarehouseEngine) -> None:
        self._db = db

    def _run(self, spec: MonitorSpec, rel: Relation, standardizer: Standardizer, by_day: bool) -> list[Sequence[Any]]:
        stmt, params = moments_statement(self._db.sql, rel, standardizer, by_day=by_day)
        with self._db.begin_days(spec, columns=standardizer.columns) as conn:
            return [tuple(r) for r in conn.execute(stmt, params)]

    def reference_moments(
        self, spec: MonitorSpec, standardizer: Standardizer
    ) -> tuple[Moments, dict[dt.date, Moments]]:
        """The reference's moments, and those of each of its days when it has a timestamp column."""
        rel = reference_relation(spec)
        cols = standardizer.columns
        if rel.timestamp_column is None:
            (row,) = self._run(spec, rel, standardizer, by_day=False)
            return _moments_of_row(cols, row), {}
        rows = self._run(spec, rel, standardizer, by_day=True)
        # As the reference profile: its whole is the merge of its days (rows without a timestamp left out).
        windows = {day: _moments_of_row(cols, r[1:]) for r in rows if (day := as_date(r[0])) is not None}
        whole = Moments.empty(cols)
        for m in windows.values():
            whole = whole.merge(m)
        return whole, windows

    def day_moments(
        self, spec: MonitorSpec, standardizer: Standardizer, days: Sequence[dt.date]
    ) -> dict[dt.date, Moments]:
        """Each day's moments in one query (a day without rows has ``n = 0``)."""
        rel = days_relation(spec, min(days), max(days))
        rows = self._run(spec, rel, standardizer, by_day=True)
        found = {as_date(r[0]): _moments_of_row(standardizer.columns, r[1:]) for r in rows}
        return {d: found.get(d) or Moments.empty(standardizer.columns) for d in days}

    def write(
        self,
        spec: MonitorSpec,
        kind: str,
        moments: Iterable[tuple[dt.date | None, Moments]],
        audit: _store.Audit,
        *,
        clear_kind: bool = False,
    ) -> None:
        """Replace the rows of ``kind`` for the given days (every day of ``kind`` with ``clear_kind``)."""
        rows = [
            {
                "monitor": spec.name,
                "profile": kind,
                "partition_date": day,
                "columns": ",".join(m.columns),
                "n": m.n,
                "cells": zlib.compress(np.concatenate([m.sum, m.sum_products.ravel()]).astype("<f8").tobytes(), 1),
                **audit.row(),
            }
            for day, m in moments
        ]
        t = schema.profile_moments.c
        where = (t.monitor == spec.name) & (t.profile == kind)
        if not clear_kind:
            where = where & _store._dates_in(t.partition_date, [r["partition_date"] for r in rows])
        with self._db.writing(spec) as conn:
            _store._replace(conn, schema.profile_moments, where, rows)

    def read(
        self, spec: MonitorSpec, kind: str, columns: tuple[str, ...], days: Sequence[dt.date] | None = None
    ) -> dict[dt.date | None, Moments]:
        """Stored moments of ``kind`` (of ``days`` when given), over exactly ``columns``."""
        t = schema.profile_moments.c
        where = (t.monitor == spec.name) & (t.profile == kind)
        if days is not None:
            where = where & t.partition_date.in_(list(days))
        with self._db.begin_tables() as conn:
            rows = conn.execute(sa.select(t.partition_date, t.columns, t.n, t.cells).where(where)).all()
        d = len(columns)
        found: dict[dt.date | None, Moments] = {}
        for day, stored_columns, n, cells in rows:
            if tuple(stored_columns.split(",")) != columns:
                raise WarehouseError(
                    f"stored moments of {spec.name!r} ({kind}) are over columns {stored_columns}, not "
                    f"{','.join(columns)}: re-materialize {spec.name}/reference_profile"
                )
            values = np.frombuffer(zlib.decompress(cells), dtype="<f8")
            found[day] = Moments(columns, int(n), values[:d].copy(), values[d:].reshape(d, d).copy())
        return found

    def write_drift(
        self, spec: MonitorSpec, verdicts: Mapping[dt.date, tuple[MultivariateVerdict, _store.Audit]]
    ) -> None:
        """Replace the days' ``drift_metrics`` rows of scope ``multivariate`` (feature ``__multivariate__``)."""
        rows = [
            {
                "monitor": spec.name,
                "partition_date": day,
                "scope": SCOPE,
                "feature": MULTIVARIATE_FEATURE,
                "method": METHOD,
                "value": v.value if v.evaluated else None,
                "threshold": v.threshold,
                "drifted": v.drifted,
                "status": "evaluated" if v.evaluated else "not_evaluated",
                "reason": v.reason,
                **audit.row(),
            }
            for day, (v, audit) in verdicts.items()
        ]
        d = schema.drift_metrics.c
        where = (d.monitor == spec.name) & (d.scope == SCOPE) & _store._dates_in(d.partition_date, verdicts)
        with self._db.writing(spec) as conn:
            _store._replace(conn, schema.drift_metrics, where, rows)


def standardizer_columns(spec: MonitorSpec) -> list[str]:
    """The numeric features the multivariate drift of ``spec`` covers (in spec order)."""
    mv = spec.drift.multivariate
    assert mv is not None
    return list(mv.columns) if mv.columns else list(spec.features.numeric)
