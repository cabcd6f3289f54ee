"""Writes and reads of the metric tables (``resources.schema`` defines them and their contract).

Each write replaces the rows of one (monitor, profile kind or scope, partition_date) in one
transaction, so a re-run never duplicates; every row is stamped with an ``Audit``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import sqlalchemy as sa

from monitoring_assets.core.evaluate import DatasetDrift
from monitoring_assets.core.fairness import SliceReport
from monitoring_assets.core.performance import PerformanceAggregate
from monitoring_assets.core.profile import (
    OTHER,
    CategoricalBins,
    CategoricalProfile,
    ColumnProfile,
    NumericBins,
    NumericProfile,
    Profile,
    ProfileLayout,
)
from monitoring_assets.errors import WarehouseError
from resources._sql import fetch_columns
from resources.schema import (
    ALL_GROUPS,
    DATASET_ROW,
    MODEL_VERSION_ROW,
    SCHEMA,
    TABLE_ROW,
    advisory_lock,
    drift_metrics,
    events,
    fairness_metrics,
    performance_aggregates,
    performance_metrics,
    profile_bins,
    profile_metrics,
    score_calibration,
)

# performance_metrics.kind: from labels, or estimated without them (resources/schema.py).
REALIZED, ESTIMATED = "realized", "estimated"


@dataclass(frozen=True)
class Audit:
    """Provenance stamped on every row."""

    run_id: str
    spec_hash: str
    model_version: str | None = None
    computed_at: dt.datetime | None = None

    def with_version(self, model_version: str | None) -> Audit:
        return Audit(self.run_id, self.spec_hash, model_version, self.computed_at)

    def row(self) -> dict[str, Any]:
        at = self.computed_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return {
            "run_id": self.run_id,
            "spec_hash": self.spec_hash,
            "model_version": self.model_version,
            "computed_at": at,
        }


def _by_rows(versions: Mapping[str, int]) -> list[str]:
    return sorted(versions, key=lambda v: (-versions[v], v))


def model_version_label(versions: Mapping[str, int], limit: int = 256) -> str | None:
    """The ``model_version`` stamp of rows derived from a profile's version counts: the versions,
    most rows first, comma-separated (cut to fit the column). The counts themselves are stored as
    ``profile_bins`` rows of ``column_name = MODEL_VERSION_ROW``."""
    return ",".join(_by_rows(versions))[:limit] or None


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _profile_rows(profile: Profile, include_layout: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``profile_metrics`` and ``profile_bins`` rows of ``profile``: a numeric column's
    histogram is one packed row (``cells``), each category and model version a row."""
    metrics: list[dict[str, Any]] = [{"column_name": TABLE_ROW, "metric": "row_count", "value": float(profile.n_rows)}]
    bins: list[dict[str, Any]] = []
    for name, col in profile.columns.items():
        if isinstance(col, NumericProfile):
            values = {
                "count": col.count,
                "null_count": col.null_count,
                "nonfinite_count": col.nonfinite_count,
                "min": col.min,
                "max": col.max,
                "mean": col.mean,
                "variance": col.variance,
                "std": col.std,
                "tail_low_sum": col.tail_low_sum,
                "tail_high_sum": col.tail_high_sum,
            }
            if include_layout:
                values |= {"bins_lo": col.bins.lo, "bins_hi": col.bins.hi, "n_bins": col.bins.n_bins}
            bins.append(
                {
                    "column_name": name,
                    "cell": None,
                    "category": None,
                    "count": int(col.count),
                    "lower": float(col.bins.lo),
                    "upper": float(col.bins.hi),
                    # Level 1: a 1,002-cell histogram in 0.14 ms and ~1.6 KB, against 0.75 ms and
                    # ~1.5 KB at level 6 (a year of 21 columns: 1 s against 6 s).
                    "cells": _pack(col.hist, level=1),
                }
            )
        else:
            values = {"count": col.count, "null_count": col.null_count}
            for c, label in enumerate(col.bins.labels()):
                if include_layout or col.counts[c]:
                    bins.append(_cell_row(name, c, label, int(col.counts[c])))
        metrics += [{"column_name": name, "metric": k, "value": _clean(float(v))} for k, v in values.items()]
    for rank, version in enumerate(_by_rows(profile.model_versions)):
        bins.append(_cell_row(MODEL_VERSION_ROW, rank, version, int(profile.model_versions[version])))
    return metrics, bins


def _cell_row(column: str, cell: int, category: str, count: int) -> dict[str, Any]:
    """A ``profile_bins`` row of one category (or model version) and its count."""
    row: dict[str, Any] = {"column_name": column, "cell": cell, "category": category, "count": count}
    return row | {"lower": None, "upper": None, "cells": None}


def _insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql" and (text := _copy_text(table, rows)) is not None:
        # COPY: a day's ~21k histogram rows in about 0.1 s, against 1.3 s for SQLAlchemy's
        # multi-row INSERTs (1M-row benchmark, PostgreSQL 15).
        _copy(conn, table, *text)
        return
    if conn.dialect.name != "duckdb":
        conn.execute(table.insert(), list(rows))  # SQLAlchemy batches these into multi-row INSERTs
        return
    # duckdb-engine runs executemany row by row (~25k rows/s); a registered DataFrame loads in one
    # statement, which makes a 60-day backfill's histogram rows a fraction of a second.
    import pandas as pd  # noqa: PLC0415 - pandas would slow every start of the code location

    columns = [c.name for c in table.columns]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    name = f"rows_{table.name}"
    raw.register(name, frame)
    try:
        quoted = ", ".join(f'"{c}"' for c in columns)
        conn.exec_driver_sql(f'INSERT INTO "{SCHEMA}"."{table.name}" ({quoted}) SELECT {quoted} FROM {name}')
    finally:
        raw.unregister(name)


def _copy(conn: sa.Connection, table: sa.Table, columns: Sequence[str], text: str) -> None:
    """COPY ``text`` into ``columns`` of ``table`` on the transaction's own connection. A driver
    error becomes SQLAlchemy's, as a statement's would, so ``Warehouse.begin`` tells it without
    the driver's text (which quotes the row that failed)."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    quoted = ", ".join(f'"{c}"' for c in columns)
    statement = f'COPY "{SCHEMA}"."{table.name}" ({quoted}) FROM STDIN'
    error = conn.dialect.loaded_dbapi.Error
    cursor = raw.cursor()
    try:
        cursor.copy_expert(statement, io.StringIO(text))
    except error as e:
        raise sa.exc.DBAPIError.instance(statement, None, e, error) from None
    finally:
        cursor.close()


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_other(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        raise ValueError("an aware timestamp: the driver converts it to the session's time zone")
    return (value.isoformat() if isinstance(value, dt.date) else str(value)).translate(_COPY_ESCAPES)


_COPY_FORMS: tuple[tuple[type[sa.types.TypeEngine[Any]], Callable[[Any], str]], ...] = (
    (sa.Boolean, lambda v: "t" if v else "f"),
    (sa.Integer, lambda v: str(int(v))),
    (sa.Float, lambda v: float.__repr__(float(v))),  # round-trips; nan and inf are valid input
    (sa.LargeBinary, lambda v: "\\\\x" + bytes(v).hex()),
)


def _copy_form(kind: sa.types.TypeEngine[Any]) -> Callable[[Any], str]:
    """How a non-NULL value of a column of type ``kind`` is written in COPY's text format
    (ValueError: it has no form here)."""
    return next((form for types, form in _COPY_FORMS if isinstance(kind, types)), _copy_other)


def _copy_text(table: sa.Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], str] | None:
    """The columns of ``rows`` (the first row's keys, as an INSERT of them takes) and the rows as
    COPY text; None when a value has no text form here."""
    columns = [c.name for c in table.columns if c.name in rows[0]]
    forms = [_copy_form(table.c[name].type) for name in columns]
    # The key and audit columns repeat one value in every row: each distinct value is written
    # once (not floats, whose -0.0 equals 0.0).
    written: list[dict[Any, str] | None] = [None if isinstance(table.c[n].type, sa.Float) else {} for n in columns]
    lines = []
    try:
        for row in rows:
            fields = []
            for name, form, seen in zip(columns, forms, written, strict=True):
                value = row.get(name)
                if value is None:
                    fields.append("\\N")
                elif seen is None:
                    fields.append(form(value))
                elif (text := seen.get(value)) is not None:
                    fields.append(text)
                else:
                    fields.append(seen.setdefault(value, form(value)))
            lines.append("\t".join(fields))
    except (ValueError, TypeError):  # TypeError: a value that cannot be a dict key
        return None
    return columns, "\n".join(lines) + "\n"


def _replace(
    conn: sa.Connection, table: sa.Table, where: sa.ColumnElement[bool], rows: Sequence[dict[str, Any]]
) -> None:
    conn.execute(table.delete().where(where))
    _insert(conn, table, rows)


def _dates_in(column: sa.ColumnElement[Any], days: Iterable[dt.date | None]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``days`` (None: NULL). One DELETE for many days: a backfill's year of
    days otherwise pays one DELETE and one INSERT (~20 ms on DuckDB) per day and table."""
    wanted = set(days)
    dated = sorted(d for d in wanted if d is not None)
    cond: sa.ColumnElement[bool] = column.in_(dated) if dated else sa.false()
    return cond | column.is_(None) if None in wanted else cond


def replace_profiles(
    conn: sa.Connection,
    monitor: str,
    kind: str,
    profiles: Iterable[tuple[dt.date | None, Profile]],
    audit: Audit,
    *,
    clear_kind: bool = False,
) -> None:
    """Write profiles of one kind, replacing the same (monitor, kind, date) rows.

    ``clear_kind`` first drops every row of that kind (the reference's sub-windows are replaced
    as a whole, so stale days do not linger).
    """
    for table in (profile_metrics, profile_bins):
        if clear_kind:
            conn.execute(table.delete().where((table.c.monitor == monitor) & (table.c.profile == kind)))
    days: list[dt.date | None] = []
    rows: dict[str, list[dict[str, Any]]] = {profile_metrics.name: [], profile_bins.name: []}
    for day, profile in profiles:
        days.append(day)
        stamp = audit.with_version(model_version_label(profile.model_versions)).row()
        metrics, bins = _profile_rows(profile, include_layout=kind == "reference")
        key = {"monitor": monitor, "profile": kind, "partition_date": day, **stamp}
        rows[profile_metrics.name] += [{**key, **r} for r in metrics]
        rows[profile_bins.name] += [{**key, **r} for r in bins]
    if not days:
        return
    for table in (profile_metrics, profile_bins):
        where = (table.c.monitor == monitor) & (table.c.profile == kind) & _dates_in(table.c.partition_date, days)
        _replace(conn, table, where, rows[table.name])


def read_layout(conn: sa.Connection, monitor: str) -> ProfileLayout:
    """The bins fixed by the stored reference profile."""
    m = profile_metrics.c
    rows = conn.execute(
        sa.select(m.column_name, m.metric, m.value).where(
            (m.monitor == monitor) & (m.profile == "reference") & m.metric.in_(["bins_lo", "bins_hi", "n_bins"])
        )
    ).fetchall()
    parts: dict[str, dict[str, float]] = {}
    for column, metric, value in rows:
        parts.setdefault(column, {})[metric] = value
    numeric = {c: NumericBins(p["bins_lo"], p["bins_hi"], int(p["n_bins"])) for c, p in parts.items()}
    b = profile_bins.c
    cat_rows = conn.execute(
        sa.select(b.column_name, b.cell, b.category)
        .where(
            (b.monitor == monitor)
            & (b.profile == "reference")
            & b.category.is_not(None)
            & (b.column_name != MODEL_VERSION_ROW)
        )
        .order_by(b.column_name, b.cell)
    ).fetchall()
    cats: dict[str, list[str]] = {}
    for column, _cell, category in cat_rows:
        cats.setdefault(column, []).append(category)
    categorical = {c: CategoricalBins(tuple(v[:-1])) for c, v in cats.items() if v and v[-1] == OTHER}
    if not numeric and not categorical:
        raise WarehouseError(
            f"no reference profile stored for monitor {monitor!r}: materialize {monitor}/reference_profile first"
        )
    return ProfileLayout(numeric, categorical)


def read_profiles(
    conn: sa.Connection,
    *,
    monitor: str,
    kind: str,
    layout: ProfileLayout,
    days: Iterable[dt.date] | None = None,
    columns: Sequence[str] | None = None,
) -> dict[dt.date | None, Profile]:
    """Rebuild stored profiles of one kind (all of them, or the given days) under ``layout``."""
    m, b = profile_metrics.c, profile_bins.c
    wanted = list(columns) if columns is not None else [*layout.numeric, *layout.categorical]
    cond_m = (m.monitor == monitor) & (m.profile == kind) & m.column_name.in_([*wanted, TABLE_ROW])
    cond_b = (b.monitor == monitor) & (b.profile == kind) & b.column_name.in_([*wanted, MODEL_VERSION_ROW])
    if days is not None:
        day_list = list(days)
        cond_m &= m.partition_date.in_(day_list)
        cond_b &= b.partition_date.in_(day_list)
    scalars: dict[dt.date | None, dict[str, dict[str, float]]] = {}
    for day, column, metric, value in conn.execute(
        sa.select(m.partition_date, m.column_name, m.metric, m.value).where(cond_m)
    ):
        scalars.setdefault(day, {}).setdefault(column, {})[metric] = math.nan if value is None else value
    names = [*wanted, MODEL_VERSION_ROW]
    # The column's index in ``names`` instead of its name: grouping a year of cells by integers
    # is a numpy sort, by strings a Python loop.
    index = sa.case({name: i for i, name in enumerate(names)}, value=b.column_name)
    day_col, name_col, cell_col, cat_col, count_col, packed_col = fetch_columns(
        conn, sa.select(b.partition_date, index, b.cell, b.category, b.count, b.cells).where(cond_b)
    )
    cell_days, day_code = _day_codes(day_col)
    name_code = np.ma.getdata(name_col).astype(np.int64)
    packed = ~np.ma.getmaskarray(packed_col)
    cell = np.ma.filled(cell_col, -1).astype(np.int64) if np.ma.isMaskedArray(cell_col) else cell_col.astype(np.int64)
    count = np.ma.getdata(count_col).astype(np.int64)
    at_day = {day: i for i, day in enumerate(cell_days)}
    versions: dict[dt.date | None, dict[str, int]] = {}
    for i in np.flatnonzero(name_code == len(wanted)):
        versions.setdefault(cell_days[day_code[i]], {})[str(cat_col[i])] = int(count[i])
    grids: dict[str, np.ndarray] = {}
    for c, name in enumerate(wanted):
        n_cells = layout.numeric[name].n_cells if name in layout.numeric else layout.categorical[name].n_cells
        grid = np.zeros((len(cell_days), n_cells), dtype=np.int64)
        mine = name_code == c
        for i in np.flatnonzero(mine & packed):  # one row holds the day's whole histogram
            hist = np.frombuffer(zlib.decompress(packed_col[i]), dtype="<i8")
            if hist.shape != (n_cells,):
                raise WarehouseError(
                    f"stored {kind} profile of {monitor!r} for {cell_days[day_code[i]]} holds {hist.size} cells of "
                    f"{name!r}, its reference's bins {n_cells}: re-materialize it"
                )
            grid[day_code[i]] = hist
        # One row per cell: categories, and numeric columns stored by an earlier release.
        mine &= ~packed & (cell >= 0) & (cell < n_cells)  # categories past the layout's top K: cut
        grid[day_code[mine], cell[mine]] = count[mine]
        grids[name] = grid
    out: dict[dt.date | None, Profile] = {}
    for day, per_col in scalars.items():
        cols: dict[str, ColumnProfile] = {}
        row = at_day.get(day)
        for name in wanted:
            s = per_col.get(name)
            if s is None:
                raise WarehouseError(
                    f"stored {kind} profile of {monitor!r} for {day} lacks column {name!r}: re-materialize it"
                )
            cells = grids[name][row].copy() if row is not None else np.zeros(grids[name].shape[1], dtype=np.int64)
            if name in layout.numeric:
                n = int(s["count"])
                cols[name] = NumericProfile(
                    layout.numeric[name],
                    n,
                    int(s["null_count"]),
                    int(s["nonfinite_count"]),
                    s["min"],
                    s["max"],
                    s["mean"],
                    s["variance"] * n if n else 0.0,
                    cells,
                    # Absent in profiles stored before tail sums existed: NaN = unknown, and
                    # wasserstein falls back to its uniform estimate of the outer cells.
                    s.get("tail_low_sum", math.nan),
                    s.get("tail_high_sum", math.nan),
                )
            else:
                cols[name] = CategoricalProfile(layout.categorical[name], cells, int(s["null_count"]))
        out[day] = Profile(int(per_col[TABLE_ROW]["row_count"]), cols, versions.get(day, {}))
    return out


def _day_codes(column: np.ndarray) -> tuple[list[dt.date | None], np.ndarray]:
    """The distinct days of a ``partition_date`` column (None for NULL) and each row's index
    among them."""
    null = np.ma.getmaskarray(column)
    data = np.ma.getdata(column)
    if data.dtype.kind == "M":
        epoch_days = data.astype("datetime64[D]").astype(np.int64)
    else:  # dates as Python objects (engines other than DuckDB)
        epoch_days = np.array([0 if n else v.toordinal() - _EPOCH for v, n in zip(data, null, strict=True)], np.int64)
    keys = np.where(null, _NULL_DAY, epoch_days)
    distinct, codes = np.unique(keys, return_inverse=True)
    days = [None if k == _NULL_DAY else dt.date.fromordinal(int(k) + _EPOCH) for k in distinct]
    return days, codes.reshape(-1)


_EPOCH = dt.date(1970, 1, 1).toordinal()
_NULL_DAY = np.iinfo(np.int64).min


def _drift_rows(result: DatasetDrift, include_dataset_row: bool) -> list[dict[str, Any]]:
    rows = [
        {
            "feature": f.feature,
            "method": f.method,
            "value": _clean(f.value) if f.evaluated else None,
            "threshold": _clean(f.threshold),
            "drifted": bool(f.drifted) if f.evaluated else None,
            "status": f.status,
            "reason": f.reason or None,
        }
        for f in result.features
    ]
    if include_dataset_row:
        rows.append(
            {
                "feature": DATASET_ROW,
                "method": "drift_share",
                "value": _clean(result.share) if result.evaluated else None,
                "threshold": result.drift_share,
                "drifted": bool(result.drifted) if result.evaluated else None,
                "status": "evaluated" if result.evaluated else "not_evaluated",
                "reason": result.reason or None,
            }
        )
    return rows


def replace_drift(
    conn: sa.Connection,
    *,
    monitor: str,
    scope: str,
    results: Mapping[dt.date, tuple[DatasetDrift, Audit]],
    include_dataset_row: bool,
) -> None:
    """Replace the drift rows of one scope on every day of ``results`` (one DELETE, one INSERT)."""
    if not results:
        return
    rows = []
    for day, (result, audit) in results.items():
        key = {"monitor": monitor, "partition_date": day, "scope": scope, **audit.row()}
        rows += [{**key, **r} for r in _drift_rows(result, include_dataset_row)]
    d = drift_metrics.c
    where = (d.monitor == monitor) & (d.scope == scope) & _dates_in(d.partition_date, results)
    _replace(conn, drift_metrics, where, rows)


def count_profile_days(conn: sa.Connection, monitor: str, kind: str) -> int:
    """Distinct days stored for one profile kind (e.g. the reference's sub-windows)."""
    m = profile_metrics.c
    return int(
        conn.execute(
            sa.select(sa.func.count(sa.distinct(m.partition_date))).where(
                (m.monitor == monitor) & (m.profile == kind) & (m.column_name == TABLE_ROW) & (m.metric == "row_count")
            )
        ).scalar_one()
    )


def read_model_versions(conn: sa.Connection, *, monitor: str, days: Sequence[dt.date]) -> dict[dt.date, str | None]:
    m = profile_metrics.c
    rows = conn.execute(
        sa.select(m.partition_date, m.model_version).where(
            (m.monitor == monitor)
            & (m.profile == "daily")
            & (m.column_name == TABLE_ROW)
            & m.partition_date.in_(list(days))
        )
    )
    return {day: version for day, version in rows}


def replace_performance_windows(
    conn: sa.Connection,
    *,
    monitor: str,
    metrics: Mapping[tuple[str, dt.date | None], tuple[Mapping[str, float], Audit]],
    kind: str = REALIZED,
) -> None:
    """Replace the (monitor, kind, window, day) rows of every key of ``metrics`` (one DELETE and
    one INSERT per window); each value is the metrics (n_labeled etc.) and the audit to stamp."""
    t = performance_metrics.c
    by_window: dict[str, list[tuple[dt.date | None, Mapping[str, float], Audit]]] = {}
    for (window, day), (values, audit) in metrics.items():
        by_window.setdefault(window, []).append((day, values, audit))
    for window, entries in by_window.items():
        rows = []
        for day, values, audit in entries:
            key = {
                "monitor": monitor,
                "partition_date": day,
                "window": window,
                "n_labeled": int(values.get("n_labeled", 0)),
                "label_coverage": _clean(values.get("label_coverage", math.nan)),
                "kind": kind,
                **audit.row(),
            }
            rows += [{**key, "metric": k, "value": _clean(v)} for k, v in values.items()]
        days = [d for d, _, _ in entries]
        where = (t.monitor == monitor) & (t.kind == kind) & (t.window == window) & _dates_in(t.partition_date, days)
        _replace(conn, performance_metrics, where, rows)


def read_performance(
    conn: sa.Connection,
    *,
    monitor: str,
    window: str,
    days: Iterable[dt.date] | None = None,
    metrics: Sequence[str] | None = None,
    kind: str = REALIZED,
) -> dict[dt.date | None, dict[str, float]]:
    t = performance_metrics.c
    cond = (t.monitor == monitor) & (t.kind == kind) & (t.window == window)
    if days is not None:
        cond &= t.partition_date.in_(list(days))
    if metrics is not None:
        cond &= t.metric.in_(list(metrics))
    out: dict[dt.date | None, dict[str, float]] = {}
    for day, metric, value in conn.execute(sa.select(t.partition_date, t.metric, t.value).where(cond)):
        out.setdefault(day, {})[metric] = math.nan if value is None else float(value)
    return out


OLD_LAYOUT = (
    "are stored one row per cell, the layout of an earlier release: re-materialize labeled_performance "
    "for that day (a run of any later day within its rolling window re-aggregates it)"
)


def _pack(row: np.ndarray, level: int = 6) -> bytes:
    """One array (a histogram, one label's row of an aggregate): little-endian numpy bytes,
    zlib-compressed at ``level`` (any level decompresses the same)."""
    return zlib.compress(np.ascontiguousarray(row, dtype=row.dtype.newbyteorder("<")).tobytes(), level)


def _aggregate_rows(agg: PerformanceAggregate) -> list[dict[str, Any]]:
    """One row per scalar (``label`` and ``cells`` NULL) and per (array, label): ``cells`` holds
    that label's row, ``value`` its sum (so SQL alone can read totals)."""
    rows: list[dict[str, Any]] = []
    for f in fields(agg):
        value = getattr(agg, f.name)
        if f.name == "n_bins":
            continue
        if isinstance(value, np.ndarray):
            rows += [
                {"stat": f.name, "label": lab, "value": float(value[lab].sum()), "cells": _pack(value[lab])}
                for lab in range(value.shape[0])
            ]
        else:
            rows.append({"stat": f.name, "label": None, "value": float(value), "cells": None})
    return rows


def replace_performance_aggregates(
    conn: sa.Connection,
    *,
    monitor: str,
    aggregates: Mapping[dt.date, PerformanceAggregate],
    audit: Audit,
    versions: Mapping[dt.date, str | None] | None = None,
) -> None:
    """Replace the days of ``aggregates`` (one DELETE and one INSERT); ``versions`` gives each
    day's model version stamp (default: the audit's)."""
    if not aggregates:
        return
    t = performance_aggregates.c
    rows = []
    for day, agg in aggregates.items():
        stamp = audit.with_version(versions.get(day)) if versions is not None else audit
        key = {"monitor": monitor, "partition_date": day, **stamp.row()}
        rows += [{**key, **r} for r in _aggregate_rows(agg)]
    _replace(conn, performance_aggregates, (t.monitor == monitor) & _dates_in(t.partition_date, aggregates), rows)


@dataclass(frozen=True)
class StoredCalibration:
    """A ``score_calibration`` row: P(y = 1) per score cell (None when not fitted, with ``reason``)."""

    column: str
    method: str
    n_bins: int
    n_labeled: int
    n_positive: int
    p: np.ndarray | None
    reason: str | None


def replace_calibrations(
    conn: sa.Connection, *, monitor: str, calibrations: Sequence[StoredCalibration], audit: Audit
) -> None:
    """Replace every calibration row of ``monitor`` (they belong to its reference profile)."""
    rows = [
        {
            "monitor": monitor,
            "column_name": c.column,
            "method": c.method,
            "n_bins": c.n_bins,
            "n_labeled": c.n_labeled,
            "n_positive": c.n_positive,
            "cells": None if c.p is None else _pack(np.asarray(c.p, dtype=np.float64)),
            "reason": c.reason,
            **audit.row(),
        }
        for c in calibrations
    ]
    _replace(conn, score_calibration, score_calibration.c.monitor == monitor, rows)


def read_calibrations(conn: sa.Connection, *, monitor: str) -> dict[str, StoredCalibration]:
    t = score_calibration.c
    out = {}
    for column, method, n_bins, n_labeled, n_positive, cells, reason in conn.execute(
        sa.select(t.column_name, t.method, t.n_bins, t.n_labeled, t.n_positive, t.cells, t.reason).where(
            t.monitor == monitor
        )
    ):
        p = None if cells is None else np.frombuffer(zlib.decompress(cells), dtype="<f8").astype(np.float64)
        out[column] = StoredCalibration(column, method, int(n_bins), int(n_labeled), int(n_positive), p, reason)
    return out


def _array_stats(empty: PerformanceAggregate) -> list[str]:
    return [f.name for f in fields(empty) if isinstance(getattr(empty, f.name), np.ndarray)]


def old_layout_performance_days(
    conn: sa.Connection, *, monitor: str, first: dt.date, last: dt.date, empty: PerformanceAggregate
) -> set[dt.date]:
    """Days of ``first..last`` whose aggregates an earlier release stored (arrays without ``cells``):
    they must be aggregated again before a window can use them."""
    t = performance_aggregates.c
    stats = _array_stats(empty)
    if not stats:
        return set()
    rows = conn.execute(
        sa.select(t.partition_date)
        .distinct()
        .where(
            (t.monitor == monitor)
            & (t.partition_date >= first)
            & (t.partition_date <= last)
            & t.stat.in_(stats)
            & t.cells.is_(None)
        )
    )
    return {day for (day,) in rows}


def read_performance_aggregates(
    conn: sa.Connection, *, monitor: str, first: dt.date, last: dt.date, empty: PerformanceAggregate
) -> dict[dt.date, PerformanceAggregate]:
    """Stored daily aggregates of ``first..last``, rebuilt on the shape of ``empty``. A day stored
    in an earlier layout, or with other score bins, raises WarehouseError naming it."""
    t = performance_aggregates.c
    parts: dict[dt.date, dict[str, Any]] = {}
    template = {f.name: getattr(empty, f.name) for f in fields(empty)}
    for day, stat, label, value, cells in conn.execute(
        sa.select(t.partition_date, t.stat, t.label, t.value, t.cells).where(
            (t.monitor == monitor) & (t.partition_date >= first) & (t.partition_date <= last)
        )
    ):
        if stat not in template:
            raise WarehouseError(
                f"performance_aggregates of {monitor!r} on {day} has unknown stat {stat!r}: "
                "re-materialize labeled_performance for that day"
            )
        d = parts.get(day)
        if d is None:  # not setdefault: its default (a copy of every array) would be built per row
            d = parts[day] = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in template.items()}
        if not isinstance(d[stat], np.ndarray):
            d[stat] = type(template[stat])(value)
            continue
        if cells is None:
            raise WarehouseError(f"performance_aggregates of {monitor!r} on {day} {OLD_LAYOUT}")
        row = np.frombuffer(zlib.decompress(cells), dtype=d[stat].dtype.newbyteorder("<"))
        # A label's row may be a scalar (multiclass ``predicted``) or 2-D (multiclass ``hist``).
        shape = np.shape(d[stat][label]) if label < len(d[stat]) else (-1,)
        if row.size != math.prod(shape):
            raise WarehouseError(
                f"performance_aggregates of {monitor!r} on {day} were stored with other score bins or classes: "
                "re-materialize labeled_performance for that day"
            )
        d[stat][label] = row.reshape(shape)
    return {day: type(empty)(**p) for day, p in parts.items()}


def replace_fairness_days(
    conn: sa.Connection, *, monitor: str, reports: Mapping[dt.date, tuple[Mapping[str, SliceReport], Audit]]
) -> None:
    """Per day: group metrics of unsuppressed groups, one marker row per suppressed group, and the
    disparities; the days are replaced in one DELETE and one INSERT."""
    if not reports:
        return
    rows: list[dict[str, Any]] = []
    for day, (per_column, audit) in reports.items():
        key = {"monitor": monitor, "partition_date": day, **audit.row()}
        rows += [{**key, **r} for r in _fairness_rows(per_column)]
    t = fairness_metrics.c
    _replace(conn, fairness_metrics, (t.monitor == monitor) & _dates_in(t.partition_date, reports), rows)


def _fairness_rows(reports: Mapping[str, SliceReport]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for column, report in reports.items():
        for group, values in report.groups.items():
            n = int(values["n"])
            rows += [
                {
                    "slice_column": column,
                    "slice_value": group,
                    "metric": m,
                    "value": _clean(v),
                    "n": n,
                    "suppressed": False,
                }
                for m, v in values.items()
                if m != "n"
            ]
        rows += [
            {
                "slice_column": column,
                "slice_value": group,
                "metric": "suppressed",
                "value": None,
                "n": None,
                "suppressed": True,
            }
            for group in report.suppressed
        ]
        rows += [
            {
                "slice_column": column,
                "slice_value": ALL_GROUPS,
                "metric": m,
                "value": _clean(v),
                "n": None,
                "suppressed": False,
            }
            for m, v in report.disparities.items()
        ]
    return rows


def append_event(
    conn: sa.Connection,
    *,
    monitor: str,
    event_type: str,
    details: Mapping[str, Any],
    partition_date: dt.date | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    run_id: str | None = None,
) -> None:
    conn.execute(
        events.insert(),
        [
            {
                "monitor": monitor,
                "event_type": event_type,
                "partition_date": partition_date,
                "model_name": model_name,
                "model_version": model_version,
                "run_id": run_id,
                "details_json": json.dumps(details, sort_keys=True, default=str),
                "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            }
        ],
    )


def lock_monitor(conn: sa.Connection, monitor: str) -> None:
    """Take turns with every other transaction writing ``monitor``'s rows, until this one ends.

    Two runs replacing the rows of one (monitor, partition) at once would otherwise both keep theirs
    (each DELETE sees only rows committed before it began), and a run deriving rolling windows from
    stored days would miss a day another run is writing. Under PostgreSQL's default isolation (READ
    COMMITTED) every statement after the lock sees all that the previous holder committed. Take it
    after ``resources.schema.ensure_tables``, which may take the schema lock: always in that order, never a deadlock."""
    advisory_lock(conn, f"monitor.{monitor}")
