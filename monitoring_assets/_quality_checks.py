"""The ``data_quality`` asset check on ``daily_profile``: spec, result and per-partition metadata.

Severity: a failed ``critical`` expectation makes the day ERROR, a failed ``warning`` one WARN;
a failed ``info`` expectation is reported but passes. The check is *blocking*: an ERROR result
stops Dagster from running anything downstream of ``daily_profile`` in the same run.

The check is partitioned: one result per day, ERROR on a critical day. Dagster blocks per step:
in a one-day run the failing day's downstream steps do not run; in a multi-day run (a single-run
backfill, one step for all its days) the drift assets leave out exactly the blocked days
(``blocked_days``) and say "not evaluated" on them (see ``monitoring_assets._day_checks``). Each
day's level is also in the partition's metadata (``data_quality``) and in
``monitoring.quality_results``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from expectations._results import DayQuality, Outcome
from expectations._suite import Suite
from monitoring_assets._day_checks import DayVerdict
from monitoring_assets.core.levels import Level

CHECK_NAME = "data_quality"
LEVEL_KEY = "data_quality"  # per-partition metadata of daily_profile: ok, info, warning, critical


def quality_check_spec(asset_key: dg.AssetKey, suite: Suite, partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    counts = suite.counts()
    return dg.AssetCheckSpec(
        CHECK_NAME,
        asset=asset_key,
        partitions_def=partitions,
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


def quality_verdict(day: dt.date, quality: DayQuality) -> DayVerdict:
    """The day's result: ERROR when a critical expectation failed, WARN when a warning one did."""
    level = Level.of(quality.level)  # critical: ERROR, warning: WARN; info findings pass
    metadata: dict[str, Any] = {
        "expectations": dg.MetadataValue.int(len(quality.outcomes)),
        "failed_critical": dg.MetadataValue.int(quality.count("critical")),
        "failed_warning": dg.MetadataValue.int(quality.count("warning")),
        "failed_info": dg.MetadataValue.int(quality.count("info")),
        "validation": dg.MetadataValue.text(quality.validation),
        "results": dg.MetadataValue.md(_results_table(quality)),
    }
    if quality.rows_validated is not None:
        metadata["rows_validated"] = dg.MetadataValue.int(quality.rows_validated)
    return DayVerdict(level, _day_description(day, quality), metadata)


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
