"""The ``data_quality`` asset check on ``daily_profile``: spec, result and per-partition metadata.

Severity: a failed ``critical`` expectation makes the day ERROR, a failed ``warning`` one WARN;
a failed ``info`` expectation is reported but passes. The check is *blocking*: an ERROR result
stops Dagster from running anything downstream of ``daily_profile`` in the same run.

Dagster blocks per step, not per partition, and a multi-day run (a single-run backfill) has one
step and one check result for all its days. So a multi-day result is ERROR (and blocks) only
when every day failed critically; when some did, it is WARN and names them, and the drift
assets themselves skip exactly those days (``blocked_days``). Each day's own level is in the
partition's metadata (``data_quality``) and in ``monitoring.quality_results``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import dagster as dg

from expectations._results import DayQuality, Outcome
from expectations._suite import Suite

CHECK_NAME = "data_quality"
LEVEL_KEY = "data_quality"  # per-partition metadata of daily_profile: ok, info, warning, critical
_MAX_DAYS_LISTED = 10


def quality_check_spec(asset_key: dg.AssetKey, suite: Suite) -> dg.AssetCheckSpec:
    counts = suite.counts()
    return dg.AssetCheckSpec(
        CHECK_NAME,
        asset=asset_key,
        blocking=True,
        description=(
            f"Great Expectations suite {suite.path} ({len(suite.expectations)} expectations: "
            f"{counts['critical']} critical, {counts['warning']} warning, {counts['info']} info) on each day's "
            "rows. ERROR when a critical expectation fails, and the drift assets of that day are blocked; "
            "WARN when a warning one fails; info findings never fail it."
        ),
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _short(o: Outcome) -> str:
    column = f"{o.column} " if o.column else ""
    return f"{column}{o.type.removeprefix('expect_')}: {o.observed} (expected {o.expected})"


def _results_table(quality: DayQuality) -> str:
    lines = [
        "| # | severity | expectation | column | observed | expected | result | count |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in quality.outcomes:
        result = "ok" if o.success else ("**FAILED**" if o.severity != "info" else "failed (info)")
        lines.append(
            f"| {o.index} | {o.severity} | {o.type} | {o.column or '-'} | {_cell(o.observed)} | {_cell(o.expected)} "
            f"| {result} | {o.source} |"
        )
    return "\n".join(lines)


def _day_description(day: dt.date, q: DayQuality) -> str:
    failing = [o for o in q.failed if o.severity != "info"]
    if not failing and q.failed:
        findings = "; ".join(_short(o) for o in q.failed)
        return f"data quality on {day}: passed, {len(q.failed)} info finding(s) of {len(q.outcomes)}: {findings}"
    if not failing:
        return f"data quality on {day}: all {len(q.outcomes)} expectations met"
    counts = f"{q.count('critical')} critical, {q.count('warning')} warning"
    blocked = " (drift of this day blocked)" if q.level == "critical" else ""
    return f"data quality on {day}: {counts} failed{blocked}: " + "; ".join(_short(o) for o in failing)


def quality_check_result(results: Mapping[dt.date, DayQuality]) -> dg.AssetCheckResult:
    """One result for the run's days (see the module docstring for multi-day runs)."""
    levels = {d: q.level for d, q in sorted(results.items())}
    critical = [d for d, level in levels.items() if level == "critical"]
    failed = [d for d, level in levels.items() if level in ("critical", "warning")]
    metadata: dict[str, Any] = {
        "days": dg.MetadataValue.int(len(levels)),
        "failed_days": dg.MetadataValue.int(len(failed)),
        "critical_days": dg.MetadataValue.int(len(critical)),
        "first_failed_day": dg.MetadataValue.text(failed[0].isoformat() if failed else ""),
        "last_failed_day": dg.MetadataValue.text(failed[-1].isoformat() if failed else ""),
    }
    if len(results) == 1:
        ((day, quality),) = results.items()
        description = _day_description(day, quality)
        severity = dg.AssetCheckSeverity.ERROR if quality.level == "critical" else dg.AssetCheckSeverity.WARN
        metadata |= {
            "expectations": dg.MetadataValue.int(len(quality.outcomes)),
            "failed_critical": dg.MetadataValue.int(quality.count("critical")),
            "failed_warning": dg.MetadataValue.int(quality.count("warning")),
            "failed_info": dg.MetadataValue.int(quality.count("info")),
            "validation": dg.MetadataValue.text(quality.validation),
            "results": dg.MetadataValue.md(_results_table(quality)),
        }
        if quality.rows_validated is not None:
            metadata["rows_validated"] = dg.MetadataValue.int(quality.rows_validated)
    else:
        every_day = bool(critical) and len(critical) == len(levels)
        severity = dg.AssetCheckSeverity.ERROR if every_day else dg.AssetCheckSeverity.WARN
        listed = ", ".join(f"{d} ({levels[d]})" for d in failed[:_MAX_DAYS_LISTED])
        more = f" and {len(failed) - _MAX_DAYS_LISTED} more" if len(failed) > _MAX_DAYS_LISTED else ""
        description = f"data quality: {len(failed)} of {len(levels)} days failed" + (
            f": {listed}{more}" if failed else ""
        )
        if critical and not every_day:
            description += (
                f". Critical failures on {len(critical)} day(s): their drift is blocked; the other days continue "
                "(Dagster blocks whole runs, so a multi-day result is WARN unless every day is critical)"
            )
        rows = ["| day | level | failed expectations |", "|---|---|---|"]
        for d in failed:
            rows.append(f"| {d} | {levels[d]} | {_cell('; '.join(_short(o) for o in results[d].failed))} |")
        metadata["results"] = dg.MetadataValue.md("\n".join(rows))
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not failed,
        severity=severity,
        description=description,
        metadata=metadata,
    )


def quality_partition_metadata(quality: DayQuality) -> dict[str, Any]:
    """Per-partition metadata of ``daily_profile`` (numbers the UI plots over time)."""
    meta: dict[str, Any] = {
        LEVEL_KEY: dg.MetadataValue.text(quality.level),
        "quality_failed_critical": dg.MetadataValue.int(quality.count("critical")),
        "quality_failed_warning": dg.MetadataValue.int(quality.count("warning")),
        "quality_failed_info": dg.MetadataValue.int(quality.count("info")),
    }
    if quality.rows_validated is not None:
        meta["quality_rows_validated"] = dg.MetadataValue.int(quality.rows_validated)
    return meta


def blocked_metadata(day: dt.date) -> dict[str, Any]:
    """Metadata of a drift partition that data quality blocked (no drift computed that day)."""
    return {
        "blocked_by_data_quality": dg.MetadataValue.bool(True),
        "blocked_reason": dg.MetadataValue.text(
            f"critical data-quality failures on {day}: see the data_quality check of daily_profile"
        ),
    }
