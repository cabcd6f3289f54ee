"""Labeled performance and fairness: the ``labeled_performance`` and ``fairness_slices``
assets, their checks, and the job the label sensor re-runs."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import dagster as dg

from monitoring_assets._common import POOL, MonitorKeys, StepEvents, step_audit, step_days
from monitoring_assets._day_checks import day_check_events, fmt, graded_verdicts
from monitoring_assets._metadata import (
    PERFORMANCE_CHECK_KEY,
    PICTURE_DAYS,
    fairness_metadata,
    fairness_picture,
    performance_metadata,
    performance_picture,
)
from monitoring_assets.core.catalog import EXPECTED_LABELS, EXPECTED_SCORES, PRIMARY_METRIC
from monitoring_assets.core.levels import Level, worst
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets._pipeline import PerformanceDay
    from monitoring_assets.core.fairness import DisparityVerdict  # numpy: step time only
    from monitoring_assets.core.performance import CountVerdict
    from resources.warehouse import Warehouse


def _performance_finding(
    day: "PerformanceDay", min_labeled: int, validity: "CountVerdict | None" = None
) -> tuple[Level, str]:
    """The day's (level, reason): ok, warn, error, or not_evaluated (too few labels, broken labels)."""
    if validity is not None and not validity.passed:
        # Metrics over the valid rest would look fine while the labels are broken: say so instead.
        return Level.NOT_EVALUATED, f"{validity.reason} (check label_validity)"
    if day.too_few_labels:
        return Level.NOT_EVALUATED, f"too few labels ({int(day.metrics['n_labeled'])} labeled, minimum {min_labeled})"
    failing = [v for v in day.verdicts if v.level.failed]
    if not failing:
        checked = ", ".join(f"{v.metric} {fmt(v.value)} (reference {fmt(v.reference)})" for v in day.verdicts)
        return Level.OK, f"within tolerance: {checked}" if checked else "no reference performance to compare with"
    level = worst(v.level for v in failing)
    return level, "; ".join(
        f"{v.metric} {fmt(v.value)} vs reference {fmt(v.reference)} ({v.level.upper()})" for v in failing
    )


def _latest_judged(findings: dict[dt.date, tuple[Level, str]], last: dt.date) -> dict[str, Any]:
    judged = [d for d, (level, _) in findings.items() if level.evaluated]
    if not judged:
        return {"last_judged_day": dg.MetadataValue.text(f"none in this run (through {last})")}
    day = max(judged)
    level, why = findings[day]
    return {
        "last_judged_day": dg.MetadataValue.text(day.isoformat()),
        "last_judged_verdict": dg.MetadataValue.text(f"{day}: {level.upper() if level != 'ok' else 'ok'}: {why}"),
    }


HISTORY_DAYS = 90  # days of the labeled-performance picture, through the run's last day


def _performance_history(
    spec: MonitorSpec,
    history: dict[dt.date, dict[str, float]],
    reference: dict[str, float],
    last: dt.date,
) -> dict[str, Any]:
    """The primary metric over the last HISTORY_DAYS days (days too thin to judge are gaps), with
    the reference and its WARN / ERROR bounds, and label coverage."""
    task = spec.prediction.task
    metric = PRIMARY_METRIC[task]
    start = last - dt.timedelta(days=HISTORY_DAYS - 1)
    # Step time (monitoring_assets/_common.py): the report draws with matplotlib, _readback reads
    # with SQLAlchemy; neither loads with the code location.
    from monitoring_assets._readback import enough_labels  # noqa: PLC0415
    from monitoring_assets.report import performance_bands  # noqa: PLC0415

    days = {d: v for d, v in history.items() if start <= d <= last}
    enough = {d: v for d, v in days.items() if enough_labels(spec, v)}
    ref = reference.get(metric)

    return performance_picture(
        metric,
        {d: v.get(metric, math.nan) for d, v in enough.items()},
        {d: v.get("label_coverage", math.nan) for d, v in days.items()},
        ref,
        performance_bands(spec, reference),
    )


def _read_history(
    wh: "Warehouse", spec: MonitorSpec, shown: list[dt.date], days: list[dt.date]
) -> tuple[dict[dt.date, dict[str, float]], dict[dt.date, dict[str, Any]]]:
    """The realized daily metrics of ``shown``, and as metadata the primary metric estimated
    without labels on ``days`` (``estimated_performance``), so that the UI plots both side by
    side once labels arrive."""
    history = {d: v for d, v in wh.metrics.read_performance(spec, "daily", shown).items() if d is not None}
    primary = PRIMARY_METRIC[spec.prediction.task]
    rows = wh.metrics.read_performance(spec, "daily", days, metrics=[primary], kind="estimated")
    beside = {
        d: {f"estimated_{primary}": dg.MetadataValue.float(float(f"{v[primary]:.4g}"))}
        for d, v in rows.items()
        if d is not None and math.isfinite(v.get(primary, math.nan))
    }
    return history, beside


def _fairness_finding(verdicts: "list[DisparityVerdict]") -> tuple[Level, str]:
    judged = [v for v in verdicts if v.level.evaluated]
    if not judged:
        return Level.NOT_EVALUATED, "no disparity computable (groups under fairness.min_slice_size are suppressed)"
    failing = [v for v in judged if v.level.failed]
    if not failing:
        values = ", ".join(f"{v.column} {v.disparity} {fmt(v.value)}" for v in judged)
        return Level.OK, f"disparities within limits: {values}"
    level = worst(v.level for v in failing)
    return level, "; ".join(
        f"{v.column} {v.disparity} {fmt(v.value)} (limit {v.error if v.level is Level.ERROR else v.warn})"
        for v in failing
    )


def build_label_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys
) -> dg.Definitions:
    """labeled_performance and (with slices, a classification task) fairness_slices, and the job
    ``<name>_labeled_monitoring`` that the label sensor re-runs."""
    name = spec.name
    perf_key, fair_key = keys.labeled_performance, keys.fairness_slices
    daily_key, ref_key = keys.daily_profile, keys.reference_profile
    single_run = dg.BackfillPolicy.single_run()
    rolling = spec.performance.rolling_window
    tol = ", ".join(
        f"{m}: WARN beyond {t.warn}, ERROR beyond {t.error}{' (relative)' if t.relative else ''}"
        for m, t in spec.performance.effective_tolerances(spec.prediction.task).items()
    )

    @dg.asset(
        key=perf_key,
        deps=[daily_key, ref_key],
        group_name=name,
        kinds={"sql"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=single_run,
        check_specs=[
            dg.AssetCheckSpec(
                "performance_vs_reference",
                asset=perf_key,
                partitions_def=partitions,
                description=f"Daily labeled performance against the reference ({tol}); passes with "
                f"'too few labels' under {spec.performance.min_labeled} labeled rows, and says 'not "
                "evaluated' on a day whose label_validity fails.",
            ),
            dg.AssetCheckSpec(
                "label_validity",
                asset=perf_key,
                partitions_def=partitions,
                description=f"ERROR when more than {spec.performance.max_invalid_share:.2%} of the day's labeled "
                f"rows have {EXPECTED_LABELS[spec.prediction.task]}, or of its scored rows "
                f"{EXPECTED_SCORES[spec.prediction.task]}.",
            ),
            dg.AssetCheckSpec(
                "no_duplicates",
                asset=perf_key,
                partitions_def=partitions,
                description=f"WARN when more than {spec.performance.max_duplicate_share:.2%} of the day's scored "
                f"ids repeat in the source, or have extra label rows (one label per id is used: "
                f"{spec.labels.duplicates if spec.labels else 'latest'}).",
            ),
        ],
        description=f"Labeled performance of {name} per scoring day with the labels arrived so far, and the "
        f"{rolling} window merged from daily aggregates. Rows in monitoring.performance_metrics.",
    )
    def labeled_performance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from monitoring_assets import _pipeline  # noqa: PLC0415  (step time: monitoring_assets/_common.py)
        from monitoring_assets.core.performance import evaluate_duplicates, evaluate_validity  # noqa: PLC0415

        days = step_days(context)
        with warehouse.open() as wh:
            results = _pipeline.compute_performance(wh, spec, days, step_audit(context, spec), context.log.info)
            reference = wh.metrics.read_performance(spec, "reference").get(None, {})
            last = max(days)
            shown = [last - dt.timedelta(days=i) for i in range(HISTORY_DAYS)]
            history, beside = _read_history(wh, spec, shown, days)
        p = spec.performance
        validity = {
            d: evaluate_validity(r.metrics, spec.prediction.task, p.max_invalid_share) for d, r in results.items()
        }
        policy = spec.labels.duplicates if spec.labels else "latest"
        duplicates = {d: evaluate_duplicates(r.metrics, p.max_duplicate_share, policy) for d, r in results.items()}
        findings = {d: _performance_finding(r, p.min_labeled, validity[d]) for d, r in results.items()}
        for day, result in results.items():
            meta = performance_metadata(spec.prediction.task, result, reference) | beside.get(day, {})
            # The day's verdict as text: the retraining sensor reads it per partition.
            meta[PERFORMANCE_CHECK_KEY] = dg.MetadataValue.text(findings[day][0].value)
            if day == last:
                # The run's last day is the asset's latest materialization, often a day whose labels
                # have not arrived: point at the last day that was judged, and draw the history.
                meta |= _latest_judged(findings, last) | _performance_history(spec, history, reference, last)
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        yield dg.MaterializeResult()
        yield from day_check_events(
            context,
            perf_key,
            {
                "performance_vs_reference": graded_verdicts(findings),
                "label_validity": graded_verdicts(
                    {d: (Level.OK if v.passed else Level.ERROR, v.reason) for d, v in validity.items()}
                ),
                "no_duplicates": graded_verdicts(
                    {d: (Level.OK if v.passed else Level.WARN, v.reason) for d, v in duplicates.items()}
                ),
            },
        )

    fairness_assets: list[dg.AssetsDefinition] = []
    if spec.slices and spec.prediction.task != "regression":
        limits = ", ".join(f"{n}: WARN {t.warn}, ERROR {t.error}" for n, t in spec.fairness.thresholds.items())

        @dg.asset(
            key=fair_key,
            deps=[daily_key, ref_key],
            group_name=name,
            kinds={"sql"},
            pool=POOL,
            partitions_def=partitions,
            backfill_policy=single_run,
            check_specs=[
                dg.AssetCheckSpec(
                    "fairness_disparity",
                    asset=fair_key,
                    partitions_def=partitions,
                    description=f"Disparities per slice column ({limits}).",
                )
            ],
            description=f"Metrics of {name} per group of {', '.join(spec.slices)} and their disparities; groups "
            f"under {spec.fairness.min_slice_size} rows are suppressed. Rows in monitoring.fairness_metrics.",
        )
        def fairness_slices(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
            from monitoring_assets import _pipeline  # noqa: PLC0415  (step time: monitoring_assets/_common.py)

            days = step_days(context)
            with warehouse.open() as wh:
                reports = _pipeline.compute_fairness(wh, spec, days, step_audit(context, spec), context.log.info)
            findings = {}
            drawn = set(sorted(reports)[-PICTURE_DAYS:])
            # The picture shows the first difference limit of the spec (rates are comparable with it).
            limit = next(((n, t.warn) for n, t in spec.fairness.thresholds.items() if n.endswith("_difference")), None)
            for day, per_column in reports.items():
                verdicts = _pipeline.disparity_verdicts(spec, per_column)
                meta = fairness_metadata(per_column, verdicts)
                if day in drawn and limit is not None and spec.prediction.classes is None:  # binary rates only
                    meta |= fairness_picture(per_column, limit[1], limit[0])
                context.add_asset_metadata(meta, partition_key=day.isoformat())
                findings[day] = _fairness_finding(verdicts)
            yield dg.MaterializeResult()
            yield from day_check_events(context, fair_key, {"fairness_disparity": graded_verdicts(findings)})

        fairness_assets.append(fairness_slices)

    job = dg.define_asset_job(
        f"{name}_labeled_monitoring",
        selection=dg.AssetSelection.assets(perf_key, *(a.key for a in fairness_assets)),
        description=f"Labeled performance and fairness of {name}; the label sensor re-runs the days whose "
        "labels arrived.",
    )
    return dg.Definitions(assets=[labeled_performance, *fairness_assets], jobs=[job])
