"""One check result per day: the verdicts of a run's days as partitioned asset check evaluations.

Every check of a monitor has the monitor's daily ``partitions_def`` (a preview API of Dagster
1.13: README, "Dagster version"). A run over N days records N evaluations per check, each with its
own pass/fail, severity, description and metadata, so the UI shows one row per day.

Dagster gives an ``AssetCheckResult`` the step's partition key, which a multi-day step (a
single-run backfill) does not have; so each day's ``AssetCheckEvaluation`` is built here with its
``partition``, and the check's step output is satisfied once with an empty ``Output``.

Blocking: Dagster stops a step's downstream steps when a *yielded* evaluation of a blocking check
fails at ERROR. In a one-day run that is exactly the failing day, so the evaluation is yielded.
In a multi-day run it would stop every day, so the evaluations are logged instead
(``context.log_event``: recorded the same way, not blocking), and the downstream assets leave out
exactly the blocked days themselves (``expectations.blocked_days``).

Every evaluation's metadata has ``evaluated``: False when the day could not be judged (too few
rows, blocked by data quality, no labels, ...). Such a day passes at WARN with a description
starting "not evaluated: " that says why; the alerts sensor counts it neither as a failure nor as
a recovery.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from monitoring_assets.core.catalog import DRIFT_TRAITS
from monitoring_assets.core.levels import Level, worst

if TYPE_CHECKING:
    from monitoring_assets.core.evaluate import DatasetDrift, FeatureDrift

NOT_EVALUATED = "not evaluated: "

_SEVERITY = {Level.WARN: dg.AssetCheckSeverity.WARN, Level.ERROR: dg.AssetCheckSeverity.ERROR}


def check_severity(level: Level) -> dg.AssetCheckSeverity:
    """Dagster's severity of a check result at ``level`` (the one place they meet). A result that
    passes carries WARN, which Dagster shows only for failures."""
    return _SEVERITY.get(level, dg.AssetCheckSeverity.WARN)


def level_of_severity(severity: dg.AssetCheckSeverity) -> Level:
    """The failing level that a failed Dagster check result of ``severity`` stands for."""
    return next(level for level, s in _SEVERITY.items() if s is severity)


@dataclass(frozen=True)
class DayVerdict:
    """One day's result of one check: it fails at WARN or ERROR; it passes at OK and INFO, and
    at NOT_EVALUATED with a description that starts "not evaluated: " and says why."""

    level: Level
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def evaluated(self) -> bool:
        return self.level.evaluated

    @classmethod
    def not_evaluated(cls, why: str, metadata: Mapping[str, Any] | None = None) -> DayVerdict:
        return cls(Level.NOT_EVALUATED, NOT_EVALUATED + why, metadata or {})


def fmt(x: float) -> str:
    """A number for text: 3 significant digits (0.667, 12.3, 1.23e+04), never 0.6666666666666666."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.3g}"


def _targets(
    context: dg.AssetExecutionContext, key: dg.AssetKey, days: Sequence[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData | None]:
    """Each day's latest materialization of ``key``, which its evaluation is about (as Dagster's
    own ``AssetCheckResult`` records it for a one-partition step).

    One query for all the days: the step has just materialized each of them, so the newest
    ``len(days)`` records of those partitions are one per day (one query a day cost ~7 ms each in
    SQLite storage, 13 s over a year of five assets). A day missing from them (another run
    materialized some of the days since) is looked up on its own."""
    found: dict[str, AssetCheckEvaluationTargetMaterializationData | None] = {}
    if len(days) > 1:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(days)), limit=len(days)
        ).records
        for r in records:  # newest first: the first record of a partition is its latest
            partition = r.partition_key
            if partition is not None and partition not in found:
                found[partition] = _target_data(r)
    for day in days:
        if day not in found:
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
            ).records
            found[day] = _target_data(records[0]) if records else None
    return found


def _target_data(r: dg.EventLogRecord) -> AssetCheckEvaluationTargetMaterializationData:
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=r.event_log_entry.run_id, storage_id=r.storage_id, timestamp=r.timestamp
    )


def day_check_events(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    checks: Mapping[str, Mapping[dt.date, DayVerdict]],
    *,
    blocking: frozenset[str] = frozenset(),
) -> Iterator[dg.Output[None] | dg.AssetCheckEvaluation]:
    """Each check's step output, and one evaluation per day of its verdicts (in day order). The
    checks of one asset step come together so each day's materialization is looked up once."""
    days = sorted({day for verdicts in checks.values() for day in verdicts})
    by_key = _targets(context, key, [day.isoformat() for day in days])
    targets = {day: by_key[day.isoformat()] for day in days}
    one_day = len(days) == 1
    for check_name, verdicts in checks.items():
        check_key = dg.AssetCheckKey(key, check_name)
        yield dg.Output(None, output_name=context.job_def.asset_layer.get_op_output_name(check_key))
        for day, v in sorted(verdicts.items()):
            evaluation = dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=check_name,
                passed=not v.level.failed,
                severity=check_severity(v.level),
                description=v.description,
                metadata={"evaluated": v.evaluated, **v.metadata},
                target_materialization_data=targets[day],
                blocking=check_name in blocking,
                partition=day.isoformat(),
            )
            if one_day:
                yield evaluation
            else:
                context.log_event(evaluation)


# -- drift -------------------------------------------------------------------------------------


def drift_item(f: FeatureDrift) -> str:
    """``income psi 0.86 > 0.25``: the feature, its method, value and the threshold it crossed."""
    sign = (
        ("<" if f.drifted else ">=") if DRIFT_TRAITS[f.method].drift_when == "below" else (">" if f.drifted else "<=")
    )
    return f"{f.feature} {f.method} {fmt(f.value)} {sign} {fmt(f.threshold)}"


def ratio(f: FeatureDrift) -> float:
    """How far a feature is towards its threshold (>= 1: drift); for p-value methods the
    threshold over the value."""
    if not f.evaluated or not math.isfinite(f.value) or f.threshold <= 0:
        return math.nan
    if DRIFT_TRAITS[f.method].drift_when == "below":
        return f.threshold / f.value if f.value > 0 else math.inf
    return f.value / f.threshold


def drift_ratios(result: DatasetDrift) -> dict[str, float]:
    """value / threshold per feature (NaN: not evaluated), as the heat-map draws it."""
    return {f.feature: ratio(f) for f in result.features}


def _left_out(result: DatasetDrift) -> str:
    return (
        "; not evaluated: " + "; ".join(f"{f.feature} ({f.reason})" for f in result.left_out) if result.left_out else ""
    )


def _drift_metadata(result: DatasetDrift) -> dict[str, Any]:
    ratios = [r for r in drift_ratios(result).values() if math.isfinite(r)]
    meta: dict[str, Any] = {
        "n_drifted": result.n_drifted,
        "n_evaluated": result.n_features,
        "n_not_evaluated": len(result.left_out),
    }
    if ratios:
        meta["largest_drift_ratio"] = dg.MetadataValue.float(round(max(ratios), 4))
    return meta


def feature_drift_verdict(result: DatasetDrift, what: str, level: Level) -> DayVerdict:
    """Any single drifted feature fails the day at ``level``; every drifted feature is named."""
    if not result.evaluated:
        return DayVerdict.not_evaluated(result.reason, _drift_metadata(result))
    drifted = [f for f in result.features if f.drifted]
    if drifted:
        return DayVerdict(level, "; ".join(drift_item(f) for f in drifted) + _left_out(result), _drift_metadata(result))
    judged = [f for f in result.features if f.evaluated and math.isfinite(ratio(f))]
    closest = max(judged, key=ratio, default=None)
    text = f"no {what}: {result.n_features} within threshold"
    if closest is not None:
        text += f" (closest: {drift_item(closest)})"
    return DayVerdict(Level.OK, text + _left_out(result), _drift_metadata(result))


def dataset_drift_verdict(result: DatasetDrift) -> DayVerdict:
    """ERROR when the share of drifted features reaches ``drift_share``; names the drifted ones."""
    if not result.evaluated:
        return DayVerdict.not_evaluated(result.reason, _drift_metadata(result))
    meta = {**_drift_metadata(result), "drift_share": dg.MetadataValue.float(round(result.share, 4))}
    share = f"{result.n_drifted} of {result.n_features} features drifted (share {fmt(result.share)}"
    drifted = "; ".join(drift_item(f) for f in result.features if f.drifted)
    if result.drifted:
        text = f"{share} >= {fmt(result.drift_share)}): {drifted}"
        return DayVerdict(Level.ERROR, text + _left_out(result), meta)
    text = f"{share} < {fmt(result.drift_share)})" + (f": {drifted}" if drifted else "")
    return DayVerdict(Level.OK, text + _left_out(result), meta)


def blocked_verdict(day: dt.date) -> DayVerdict:
    return DayVerdict.not_evaluated(
        f"data quality failed critically on {day} (check data_quality of daily_profile)",
        {"blocked_by_data_quality": True},
    )


def graded_verdicts(findings: Mapping[dt.date, tuple[Level, str]]) -> dict[dt.date, DayVerdict]:
    """Per-day (level, reason) findings as verdicts (see :func:`graded`)."""
    return {day: graded(level, why) for day, (level, why) in findings.items()}


def graded(level: Level, reason: str, metadata: Mapping[str, Any] | None = None) -> DayVerdict:
    """A (level, reason) finding of the guards, performance or fairness; at NOT_EVALUATED the
    reason says why."""
    if level is Level.NOT_EVALUATED:
        return DayVerdict.not_evaluated(reason, metadata)
    return DayVerdict(level, reason, metadata or {})


def combined_verdict(findings: Sequence[tuple[Level, str]], met: str) -> DayVerdict:
    """One day's verdict of several findings (level, reason): the worst level, naming each failing
    finding (``met`` when none fails) and each one not evaluated; not evaluated when none was."""
    level = worst(lv for lv, _ in findings)
    failing = [reason for lv, reason in findings if lv.failed]
    unjudged = list(dict.fromkeys(reason for lv, reason in findings if not lv.evaluated))  # one "too few rows"
    if level is Level.NOT_EVALUATED:
        return graded(level, "; ".join(unjudged) or "nothing to judge")
    text = "; ".join(failing) if failing else met
    if unjudged:
        text += f" (not evaluated: {'; '.join(unjudged)})"
    return graded(level, text)
