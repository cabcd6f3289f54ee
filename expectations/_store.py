"""``monitoring.quality_results``: one row per (monitor, day, expectation), replaced per day.

Columns: ``suite`` (the suite's name) and ``suite_digest`` (SHA-256 prefix of the file that ran),
``expectation_index`` (position in the file), ``expectation_type``, ``column_name``, ``severity``
(critical, warning, info), ``success``, ``observed`` and ``expected`` (as the check metadata
shows them), ``unexpected_count`` and ``considered_count`` (rows failing and rows considered: non-null
rows for value checks), ``count_source`` (``profile``: exact from the daily profile; ``all rows``:
Great Expectations on every row; ``sample``: on a deterministic sample; ``sql``: in the database),
``unexpected_values`` (JSON list of up to 20 failing values, for diagnosis; never copied into
Dagster metadata), ``error``, ``validation`` (how the day's rows were validated),
``rows_validated``, and the audit columns of every metric table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from expectations._results import DayQuality
from expectations._suite import SEVERITIES, Suite
from monitoring_assets.spec import MonitorSpec
from resources._store import SCHEMA, Audit, audit_columns, ensure_tables, lock_monitor
from resources.warehouse import Warehouse

metadata = sa.MetaData(schema=SCHEMA)

quality_results = sa.Table(
    "quality_results",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("suite", sa.String(63), nullable=False),
    sa.Column("suite_digest", sa.String(64), nullable=False),
    sa.Column("expectation_index", sa.Integer, nullable=False),
    sa.Column("expectation_type", sa.String(128), nullable=False),
    sa.Column("column_name", sa.String(63)),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("observed", sa.Text),
    sa.Column("expected", sa.Text),
    sa.Column("unexpected_count", sa.BigInteger),
    sa.Column("considered_count", sa.BigInteger),
    sa.Column("count_source", sa.String(16), nullable=False),
    sa.Column("unexpected_values", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("validation", sa.Text, nullable=False),
    sa.Column("rows_validated", sa.BigInteger),
    *audit_columns(),
)


def _ensure(conn: sa.Connection) -> None:
    ensure_tables(conn, [quality_results])  # schema ``monitoring``, the plugin's other tables, this one


def write_quality(
    wh: Warehouse,
    spec: MonitorSpec,
    suite: Suite,
    results: Mapping[dt.date, DayQuality],
    *,
    audit: Audit,
    versions: Mapping[dt.date, str | None] | None = None,
) -> None:
    """Replace the rows of every day in ``results`` in one transaction."""
    q = quality_results.c
    versions = versions or {}
    with wh.begin() as conn:
        _ensure(conn)
        lock_monitor(conn, spec.name)  # a concurrent run replacing the same days waits for this one
        for day, quality in results.items():
            conn.execute(quality_results.delete().where((q.monitor == spec.name) & (q.partition_date == day)))
            stamp = audit.with_version(versions.get(day)).row()
            rows: list[dict[str, Any]] = [
                {
                    "monitor": spec.name,
                    "partition_date": day,
                    "suite": suite.name,
                    "suite_digest": suite.digest,
                    "expectation_index": o.index,
                    "expectation_type": o.type,
                    "column_name": o.column,
                    "severity": o.severity,
                    "success": o.success,
                    "observed": o.observed,
                    "expected": o.expected,
                    "unexpected_count": o.unexpected_count,
                    "considered_count": o.considered_count,
                    "count_source": o.source,
                    "unexpected_values": json.dumps(list(o.unexpected_values)) if o.unexpected_values else None,
                    "error": o.error,
                    "validation": quality.validation,
                    "rows_validated": quality.rows_validated,
                    **stamp,
                }
                for o in quality.outcomes
            ]
            if rows:
                conn.execute(quality_results.insert(), rows)


def read_levels(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None) -> dict[dt.date, str]:
    """Each day's level from the stored results: the most severe failed expectation's severity
    (critical, warning, info) or ``ok``; days never validated are absent."""
    q = quality_results.c
    cond = q.monitor == spec.name
    if days is not None:
        cond &= q.partition_date.in_(list(days))
    with wh.begin() as conn:
        _ensure(conn)
        rows = conn.execute(sa.select(q.partition_date, q.severity, q.success).where(cond)).fetchall()
    failed: dict[dt.date, set[str]] = {}
    for day, severity, success in rows:
        bucket = failed.setdefault(day, set())
        if not success:
            bucket.add(severity)
    return {day: next((s for s in SEVERITIES if s in sev), "ok") for day, sev in failed.items()}
