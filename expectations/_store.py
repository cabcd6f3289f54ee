"""Writes and reads of ``monitoring.quality_results`` (``resources.schema`` defines it and its
contract): one row per (monitor, day, expectation), replaced per day."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from expectations._results import DayQuality
from expectations._suite import Suite
from monitoring_assets.core.levels import Level, worst
from monitoring_assets.spec import MonitorSpec
from resources._store import Audit, lock_monitor
from resources.schema import ensure_tables, quality_results
from resources.warehouse import Warehouse


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
        ensure_tables(conn)
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


def read_levels(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None) -> dict[dt.date, Level]:
    """Each day's level from the stored results: the most severe failed expectation's severity
    as a level (critical: ERROR, warning: WARN, info: INFO), or OK; days never validated are absent."""
    q = quality_results.c
    cond = q.monitor == spec.name
    if days is not None:
        cond &= q.partition_date.in_(list(days))
    with wh.begin() as conn:
        ensure_tables(conn)
        rows = conn.execute(sa.select(q.partition_date, q.severity, q.success).where(cond)).fetchall()
    failed: dict[dt.date, set[str]] = {}
    for day, severity, success in rows:
        bucket = failed.setdefault(day, set())
        if not success:
            bucket.add(severity)
    return {day: worst(Level.of(s) for s in sev) if sev else Level.OK for day, sev in failed.items()}
