"""Monitor spec -> Dagster definitions: assets, checks, jobs and a schedule per monitor."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at runtime.

import datetime as dt
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from expectations import Suite, blocked_days, check_days, find_suite
from monitoring_assets import _pipeline
from monitoring_assets._day_checks import (
    DayVerdict,
    blocked_verdict,
    dataset_drift_verdict,
    day_check_events,
    feature_drift_verdict,
    fmt,
    graded_verdicts,
)
from monitoring_assets._metadata import (
    PERFORMANCE_CHECK_KEY,
    PICTURE_DAYS,
    distribution_pictures,
    drift_metadata,
    fairness_metadata,
    fairness_picture,
    guard_metadata,
    heatmap_picture,
    performance_metadata,
    performance_picture,
    profile_metadata,
)
from monitoring_assets._quality_checks import CHECK_NAME as QUALITY_CHECK
from monitoring_assets._quality_checks import (
    blocked_metadata,
    quality_check_spec,
    quality_partition_metadata,
    quality_verdict,
)
from monitoring_assets._readback import enough_labels
from monitoring_assets._retraining_assets import build_retraining_definitions
from monitoring_assets.core.evaluate import DatasetDrift
from monitoring_assets.core.fairness import DisparityVerdict
from monitoring_assets.core.guards import constant_columns
from monitoring_assets.core.performance import (
    EXPECTED_LABELS,
    EXPECTED_SCORES,
    PRIMARY_METRIC,
    CountVerdict,
    evaluate_duplicates,
    evaluate_validity,
)
from monitoring_assets.errors import MonitorError
from monitoring_assets.report import performance_bands, reports_dir, write_report
from monitoring_assets.resources import AlertsResource, RegistryResource, WarehouseResource, environment_resources
from monitoring_assets.spec import MonitorSpec, drift_rules, load_specs
from resources._store import Audit
from resources.warehouse import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV
from sensors.alerts import build_alert_sensor
from sensors.labels import build_label_sensor
from sensors.retraining import build_retraining_sensor

POOL = "monitoring_warehouse"  # limit it to 1 in dagster.yaml for a DuckDB file (one writer)
WAREHOUSE_KEY = "warehouse"
REGISTRY_KEY = "registry"
ALERTS_KEY = "alerts"


@dataclass(frozen=True)
class DriftCheck:
    """A check of a drift asset: its name, what it means, and the day's verdict from the day's drift."""

    name: str
    description: str
    verdict: Callable[[DatasetDrift], DayVerdict]


# What an asset step yields: its materialization, its checks' outputs and their per-day evaluations.
StepEvents = Iterator[dg.MaterializeResult[Any] | dg.Output[None] | dg.AssetCheckEvaluation]


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _audit(context: dg.AssetExecutionContext, spec: MonitorSpec) -> Audit:
    return Audit(context.run.run_id, spec.spec_hash())


def _performance_finding(
    day: _pipeline.PerformanceDay, min_labeled: int, validity: CountVerdict | None = None
) -> tuple[str, str]:
    """The day's (level, reason): ok, warn, error, or not_evaluated (too few labels, broken labels)."""
    if validity is not None and not validity.passed:
        # Metrics over the valid rest would look fine while the labels are broken: say so instead.
        return "not_evaluated", f"{validity.reason} (check label_validity)"
    if day.too_few_labels:
        return "not_evaluated", f"too few labels ({int(day.metrics['n_labeled'])} labeled, minimum {min_labeled})"
    failing = [v for v in day.verdicts if v.level in ("warn", "error")]
    if not failing:
        checked = ", ".join(f"{v.metric} {fmt(v.value)} (reference {fmt(v.reference)})" for v in day.verdicts)
        return "ok", f"within tolerance: {checked}" if checked else "no reference performance to compare with"
    level = "error" if any(v.level == "error" for v in failing) else "warn"
    return level, "; ".join(
        f"{v.metric} {fmt(v.value)} vs reference {fmt(v.reference)} ({v.level.upper()})" for v in failing
    )


def _latest_judged(findings: dict[dt.date, tuple[str, str]], last: dt.date) -> dict[str, Any]:
    judged = [d for d, (level, _) in findings.items() if level != "not_evaluated"]
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


def _fairness_finding(verdicts: list[DisparityVerdict]) -> tuple[str, str]:
    judged = [v for v in verdicts if v.level != "no_data"]
    if not judged:
        return "not_evaluated", "no disparity computable (groups under fairness.min_slice_size are suppressed)"
    failing = [v for v in judged if v.level in ("warn", "error")]
    if not failing:
        worst = ", ".join(f"{v.column} {v.disparity} {fmt(v.value)}" for v in judged)
        return "ok", f"disparities within limits: {worst}"
    level = "error" if any(v.level == "error" for v in failing) else "warn"
    return level, "; ".join(
        f"{v.column} {v.disparity} {fmt(v.value)} (limit {v.error if v.level == 'error' else v.warn})" for v in failing
    )


def _labels_definitions(
    spec: MonitorSpec, partitions: dg.PartitionsDefinition, daily_key: dg.AssetKey, ref_key: dg.AssetKey
) -> tuple[list[dg.AssetsDefinition], UnresolvedAssetJobDefinition]:
    """labeled_performance and fairness_slices, and the job the label sensor re-runs."""
    name = spec.name
    perf_key = dg.AssetKey([name, "labeled_performance"])
    fair_key = dg.AssetKey([name, "fairness_slices"])
    single_run = dg.BackfillPolicy.single_run()
    rolling = _pipeline.rolling_window_name(spec)
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
        days = _days(context)
        with warehouse.open() as wh:
            results = _pipeline.compute_performance(wh, spec, days, _audit(context, spec), context.log.info)
            reference = wh.read_performance(spec, "reference").get(None, {})
            last = max(days)
            shown = [last - dt.timedelta(days=i) for i in range(HISTORY_DAYS)]
            history = {d: v for d, v in wh.read_performance(spec, "daily", shown).items() if d is not None}
        p = spec.performance
        validity = {
            d: evaluate_validity(r.metrics, spec.prediction.task, p.max_invalid_share) for d, r in results.items()
        }
        policy = spec.labels.duplicates if spec.labels else "latest"
        duplicates = {d: evaluate_duplicates(r.metrics, p.max_duplicate_share, policy) for d, r in results.items()}
        findings = {d: _performance_finding(r, p.min_labeled, validity[d]) for d, r in results.items()}
        for day, result in results.items():
            meta = performance_metadata(spec.prediction.task, result, reference)
            # The day's verdict as text: the retraining sensor reads it per partition.
            meta[PERFORMANCE_CHECK_KEY] = dg.MetadataValue.text(findings[day][0])
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
                    {d: ("ok" if v.passed else "error", v.reason) for d, v in validity.items()}
                ),
                "no_duplicates": graded_verdicts(
                    {d: ("ok" if v.passed else "warn", v.reason) for d, v in duplicates.items()}
                ),
            },
        )

    fairness_assets: list[dg.AssetsDefinition] = []
    if spec.slices and spec.prediction.task == "binary_classification":
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
            days = _days(context)
            with warehouse.open() as wh:
                reports = _pipeline.compute_fairness(wh, spec, days, _audit(context, spec), context.log.info)
            findings = {}
            drawn = set(sorted(reports)[-PICTURE_DAYS:])
            # The picture shows the first difference limit of the spec (rates are comparable with it).
            limit = next(((n, t.warn) for n, t in spec.fairness.thresholds.items() if n.endswith("_difference")), None)
            for day, per_column in reports.items():
                verdicts = _pipeline.disparity_verdicts(spec, per_column)
                meta = fairness_metadata(per_column, verdicts)
                if day in drawn and limit is not None:
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
    return [labeled_performance, *fairness_assets], job


def _daily_profile_asset(
    spec: MonitorSpec,
    partitions: dg.PartitionsDefinition,
    daily_key: dg.AssetKey,
    ref_key: dg.AssetKey,
    suite: Suite | None,
) -> dg.AssetsDefinition:
    """The day's profile, its ``volume`` and ``null_rate`` checks and, with a suite, its blocking
    ``data_quality`` check."""
    source_note = f"Source `{spec.source.table}` (timestamp `{spec.source.timestamp_column}`)."
    guard_specs = _guard_check_specs(spec, daily_key, partitions)

    @dg.asset(
        key=daily_key,
        deps=[ref_key],
        group_name=spec.name,
        kinds={"sql"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[*([quality_check_spec(daily_key, suite, partitions)] if suite else []), *guard_specs],
        description=f"Daily profile of {spec.name}'s inputs and score, computed in the warehouse. {source_note}"
        + (f" Data quality: the Great Expectations suite {suite.path} (check data_quality)." if suite else ""),
    )
    def daily_profile(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        days = _days(context)
        started = time.monotonic()
        audit = _audit(context, spec)
        failure: MonitorError | None = None
        with warehouse.open() as wh:
            try:
                profiles = _pipeline.build_daily_profiles(wh, spec, days, audit, context.log.info)
            except MonitorError as e:
                if suite is None:
                    raise
                # A missing column or a changed type can break the profile: the suite still says which.
                profiles, failure = {}, e
            quality = (
                check_days(wh, spec, suite, days, profiles, audit=audit, progress=context.log.info) if suite else {}
            )
            guards = _pipeline.check_guards(wh, spec, profiles) if profiles else {}
        for day, profile in profiles.items():
            meta = profile_metadata(profile) | guard_metadata(guards[day])
            if day in quality:
                meta |= quality_partition_metadata(quality[day])
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        context.log.info(f"profiled {len(days)} day(s) in {time.monotonic() - started:.1f}s")
        if failure is None:
            yield dg.MaterializeResult()
        checks = {QUALITY_CHECK: {d: quality_verdict(d, q) for d, q in quality.items()}} if quality else {}
        if guards:
            checks["volume"] = graded_verdicts({d: (g.volume.level, g.volume.reason) for d, g in guards.items()})
            checks["null_rate"] = graded_verdicts({d: g.null_rate for d, g in guards.items()})
        yield from day_check_events(context, daily_key, checks, blocking=frozenset({QUALITY_CHECK}))
        if failure is not None:
            raise failure

    return daily_profile


def _drift_asset(
    spec: MonitorSpec,
    partitions: dg.PartitionsDefinition,
    *,
    keys: tuple[dg.AssetKey, dg.AssetKey, dg.AssetKey],
    scope: str,
    checks: Sequence[DriftCheck],
    description: str,
    suite: Suite | None,
) -> dg.AssetsDefinition:
    """``feature_drift`` or ``prediction_drift`` (``scope``), its checks and pictures."""
    key, daily_key, ref_key = keys

    @dg.asset(
        key=key,
        deps=[daily_key, ref_key],
        group_name=spec.name,
        kinds={"scipy"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(c.name, asset=key, description=c.description, partitions_def=partitions) for c in checks
        ],
        description=description,
    )
    def _drift(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        days = _days(context)
        with warehouse.open() as wh:
            # Days whose critical expectations failed are not evaluated (in a one-day run the
            # blocking data_quality check stops the run before this step).
            blocked = blocked_days(wh, spec, days) if suite else []
            todo = [d for d in days if d not in blocked]
            run = _pipeline.compute_drift_run(wh, spec, todo, scope, _audit(context, spec)) if todo else None
        results = run.results if run else {}
        drawn = set(sorted(results)[-PICTURE_DAYS:])
        for day in blocked:
            context.add_asset_metadata(blocked_metadata(day), partition_key=day.isoformat())
            context.log.warning(f"{day}: drift not evaluated, data quality failed critically")
        last = max(results, default=None)
        for day, result in results.items():
            meta = drift_metadata(result, scope == "feature")
            if run is not None and day in drawn:
                meta |= distribution_pictures(
                    result, run.reference, run.profiles[day], min_count=spec.fairness.min_slice_size, scope=scope
                )
            if scope == "feature" and day == last:
                meta |= heatmap_picture(results, spec.drift.drift_share)
            context.add_asset_metadata(meta, partition_key=day.isoformat())
            if not result.evaluated:
                context.log.warning(f"{day}: {scope} drift not evaluated: {result.reason}")
            elif len(days) <= 7 or result.drifted:
                context.log.info(
                    f"{day}: {result.n_drifted}/{result.n_features} drifted, dataset drift={result.drifted}"
                    + (f"; {result.reason}" if result.reason else "")
                )
        yield dg.MaterializeResult()
        blocked_verdicts = {d: blocked_verdict(d) for d in blocked}
        yield from day_check_events(
            context, key, {c.name: {d: c.verdict(r) for d, r in results.items()} | blocked_verdicts for c in checks}
        )

    return _drift


REPORT_MIN_DAYS = 30  # a one-day run's report still shows the month before it


def _report_asset(
    spec: MonitorSpec, partitions: dg.PartitionsDefinition, deps: Sequence[dg.AssetKey]
) -> dg.AssetsDefinition:
    """``monitoring_report``: the HTML report (``monitoring_assets.report``) of the run's days, at
    least the last REPORT_MIN_DAYS, linked by path from each day's metadata."""

    @dg.asset(
        key=dg.AssetKey([spec.name, "monitoring_report"]),
        deps=list(deps),
        group_name=spec.name,
        kinds={"html"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"One self-contained HTML report of {spec.name} (summary, per-day verdicts, pictures, drift, "
        f"performance, fairness, data quality) for the run's days, from the metric tables alone; at least the "
        f"last {REPORT_MIN_DAYS} days. Written under $MONITORING_REPORTS_DIR (default data/reports).",
    )
    def monitoring_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        days = _days(context)
        last = max(days)
        first = max(min(*days, last - dt.timedelta(days=REPORT_MIN_DAYS - 1)), spec.partitions.start_date)
        started = time.monotonic()
        with warehouse.open() as wh:
            path = write_report(wh, spec, first, last, reports_dir()).resolve()
        context.log.info(f"report of {first}..{last} written to {path} in {time.monotonic() - started:.1f}s")
        for day in days:
            context.add_asset_metadata(
                {"report": dg.MetadataValue.path(str(path)), "report_days": f"{first}..{last}"},
                partition_key=day.isoformat(),
            )
        return dg.MaterializeResult()

    return monitoring_report


def _guard_check_specs(
    spec: MonitorSpec, daily_key: dg.AssetKey, partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """``volume`` and ``null_rate``: from the day's profile and the reference's, no suite needed."""
    g = spec.guards
    if spec.reference.window is not None:
        rate = "the reference window's daily rate (rows / days of the window)"
    elif spec.reference.timestamp_column is not None:
        rate = "the reference's daily rate (rows / distinct days it covers)"
    else:
        rate = None
    ratio_rule = f", or fewer than {g.min_volume_ratio:g} x {rate}" if rate and g.min_volume_ratio > 0 else ""
    no_rate = (
        " The reference has no timestamp column, so it has no daily rate: only the zero-row rule applies."
        if rate is None
        else ""
    )
    columns = ", ".join(drift_rules(spec))
    return [
        dg.AssetCheckSpec(
            "volume",
            asset=daily_key,
            partitions_def=partitions,
            description=f"ERROR when the day has no rows{ratio_rule}; WARN under guards.min_rows = {g.min_rows} "
            f"rows, too few to evaluate drift (drift is then 'not evaluated').{no_rate}",
        ),
        dg.AssetCheckSpec(
            "null_rate",
            asset=daily_key,
            partitions_def=partitions,
            description=f"ERROR naming each column ({columns}) whose null share (nulls and non-finite values "
            f"over rows) is 100 %, or exceeds the reference's by more than guards.null_rate_margin = "
            f"{g.null_rate_margin:g} on a day of at least {g.min_rows} rows; that column's drift is not evaluated.",
        ),
    ]


def _daily_schedule(
    spec: MonitorSpec, partitions: dg.DailyPartitionsDefinition, daily_job: UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    name = spec.name

    @dg.schedule(
        job=daily_job,
        name=f"{name}_daily_schedule",
        cron_schedule=spec.partitions.schedule,
        execution_timezone=spec.partitions.timezone,
        description=f"Monitors the last complete day of {name} "
        f"({spec.partitions.schedule}, {spec.partitions.timezone}).",
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        # Partitions stay midnight-to-midnight; the cron only says when the previous day is done.
        assert context.scheduled_execution_time is not None
        day = (context.scheduled_execution_time - dt.timedelta(days=1)).date().isoformat()
        if not partitions.has_partition_key(day):
            return dg.SkipReason(f"{day} is outside {name}'s partitions")
        return dg.RunRequest(run_key=f"{name}:{day}", partition_key=day)

    return schedule


def _label_and_retraining_definitions(
    spec: MonitorSpec,
    partitions: dg.PartitionsDefinition,
    daily_key: dg.AssetKey,
    ref_key: dg.AssetKey,
    feature_key: dg.AssetKey,
) -> tuple[list[dg.AssetsDefinition], list[Any], list[dg.SensorDefinition]]:
    """What a spec with labels adds (performance, fairness, label sensor) and, with a registry
    model too, retraining (challenger asset, retraining and rollback jobs, retraining sensor)."""
    if spec.labels is None:
        return [], [], []
    assets, labels_job = _labels_definitions(spec, partitions, daily_key, ref_key)
    jobs: list[Any] = [labels_job]
    sensors = [build_label_sensor(spec, labels_job)]
    if spec.retrains:
        watched = {"drift": feature_key, "performance": dg.AssetKey([spec.name, "labeled_performance"])}
        retraining = build_retraining_definitions(spec=spec, watched=watched)
        assets += [a for a in retraining.assets or [] if isinstance(a, dg.AssetsDefinition)]
        jobs += list(retraining.jobs or [])
        sensors.append(build_retraining_sensor(spec=spec, watched=watched))
    return assets, jobs, sensors


def build_monitor_definitions(*, spec: MonitorSpec) -> dg.Definitions:
    """Assets, checks, jobs and the daily schedule of one monitor, under key prefix ``spec.name``."""
    with warnings.catch_warnings():
        # BackfillPolicy is marked beta; single-run backfills are the point, so do not nag users.
        warnings.simplefilter("ignore", dg.BetaWarning)
        # Partitioned checks are a preview: the pinned Dagster minor is what we test (README: Dagster version).
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _build_monitor_definitions(spec)


def _build_monitor_definitions(spec: MonitorSpec) -> dg.Definitions:
    name = spec.name
    group = name
    partitions = dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=spec.partitions.end_date.isoformat() if spec.partitions.end_date else None,
        timezone=spec.partitions.timezone,
    )
    ref_key = dg.AssetKey([name, "reference_profile"])
    daily_key = dg.AssetKey([name, "daily_profile"])
    feature_key = dg.AssetKey([name, "feature_drift"])
    prediction_key = dg.AssetKey([name, "prediction_drift"])
    suite = find_suite(spec)  # expectations/<name>.json, validated now; None: no data-quality check

    @dg.asset(
        key=ref_key,
        group_name=group,
        kinds={"sql"},
        pool=POOL,
        description=f"Profile of the reference for {name}: fixes histogram bins and top-K categories. "
        f"Rows in monitoring.profile_metrics / profile_bins with profile = 'reference'.",
    )
    def reference_profile(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with warehouse.open() as wh:
            ref = _pipeline.build_reference(wh, spec, _audit(context, spec))
        meta = profile_metadata(ref.profile)
        meta["reference_days"] = dg.MetadataValue.int(len(ref.windows))
        constant = constant_columns(ref.profile, list(drift_rules(spec)))
        meta["constant_columns"] = dg.MetadataValue.text(", ".join(constant) or "none")
        if constant:
            context.log.warning(
                f"reference of {name} has constant column(s) {', '.join(constant)}: every reference value is the "
                "same. A method that divides by the reference's spread (wasserstein) judges such a column by the "
                "share of a day's values that differ from it instead (README: Guards)"
            )
        return dg.MaterializeResult(metadata=meta)

    daily_profile = _daily_profile_asset(spec, partitions, daily_key, ref_key, suite)

    share = spec.drift.drift_share
    feature_drift = _drift_asset(
        spec,
        partitions,
        keys=(feature_key, daily_key, ref_key),
        scope="feature",
        checks=[
            DriftCheck(
                "no_feature_drift",
                "WARN on a day when any single feature drifts; names each drifted feature with its value and "
                "threshold.",
                lambda r: feature_drift_verdict(r, "feature drift", "warn"),
            ),
            DriftCheck(
                "no_dataset_drift",
                f"ERROR on a day when the share of drifted features >= {share}.",
                dataset_drift_verdict,
            ),
        ],
        description=f"Drift of each feature of {name} against the reference; rows in monitoring.drift_metrics "
        f"(scope 'feature'). Per day: the distributions of the drifted features (last {PICTURE_DAYS} days of a "
        "run); on a run's last day: a day x feature heat-map.",
        suite=suite,
    )
    prediction_drift = _drift_asset(
        spec,
        partitions,
        keys=(prediction_key, daily_key, ref_key),
        scope="prediction",
        checks=[
            DriftCheck(
                "no_prediction_drift",
                f"WARN on a day when the score `{spec.prediction.score_column}` drifts.",
                lambda r: feature_drift_verdict(r, "prediction drift", "warn"),
            )
        ],
        description=f"Drift of {name}'s prediction score against the reference; "
        "rows in monitoring.drift_metrics (scope 'prediction'). Per day: the score distribution.",
        suite=suite,
    )

    extra_assets, extra_jobs, sensors = _label_and_retraining_definitions(
        spec, partitions, daily_key, ref_key, feature_key
    )
    partitioned = [feature_key, prediction_key, *(a.key for a in extra_assets if a.partitions_def is not None)]
    report = _report_asset(spec, partitions, partitioned)
    daily_job = dg.define_asset_job(
        f"{name}_daily_monitoring",
        selection=dg.AssetSelection.assets(daily_key, *partitioned, report.key),
        description=f"Daily profile and drift of {name}; one run covers any range of days.",
    )
    reference_job = dg.define_asset_job(
        f"{name}_reference",
        selection=dg.AssetSelection.assets(ref_key),
        description=f"Rebuild {name}'s reference profile (after changing the reference or the bins).",
    )

    schedule = _daily_schedule(spec, partitions, daily_job)

    assets = [reference_profile, daily_profile, feature_drift, prediction_drift, *extra_assets, report]
    jobs: list[Any] = [daily_job, reference_job, *extra_jobs]
    if spec.alerts.enabled:
        sensors.append(build_alert_sensor(spec))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=[schedule], sensors=sensors)


def build_definitions(
    *,
    specs: Sequence[MonitorSpec] | None = None,
    warehouse: WarehouseResource | None = None,
    registry: RegistryResource | None = None,
    alerts: AlertsResource | None = None,
) -> dg.Definitions:
    """Definitions for every monitor spec (default: all specs in ``$MONITORING_SPECS_DIR``), with
    the warehouse, MLflow and alerts resources (default: from the environment, see README)."""
    specs = load_specs() if specs is None else specs
    env_warehouse, env_registry, env_alerts = environment_resources()
    warehouse = warehouse or env_warehouse
    url = (
        os.environ.get(WAREHOUSE_URL_ENV, DEFAULT_WAREHOUSE_URL)
        if isinstance(warehouse.url, dg.EnvVar)
        else warehouse.url
    )
    # DuckDB allows one writer per file: run steps in one process unless the warehouse is a server.
    executor = dg.in_process_executor if url.startswith("duckdb") else dg.multiprocess_executor
    return dg.Definitions.merge(
        *(build_monitor_definitions(spec=s) for s in specs),
        dg.Definitions(
            resources={
                WAREHOUSE_KEY: warehouse,
                REGISTRY_KEY: registry or env_registry,
                ALERTS_KEY: alerts or env_alerts,
            },
            executor=executor,
        ),
    )
