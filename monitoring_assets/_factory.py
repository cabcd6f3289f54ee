"""Monitor spec -> Dagster definitions: assets, checks, jobs and a schedule per monitor."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at runtime.

import datetime as dt
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from expectations import Suite, blocked_days, check_days, find_suite
from expectations._checks import blocked_metadata, quality_check_result, quality_check_spec, quality_partition_metadata
from monitoring_assets import _pipeline
from monitoring_assets._metadata import (
    PERFORMANCE_CHECK_KEY,
    drift_metadata,
    fairness_metadata,
    guard_metadata,
    performance_metadata,
    profile_metadata,
)
from monitoring_assets.core.evaluate import DatasetDrift
from monitoring_assets.core.fairness import DisparityVerdict
from monitoring_assets.core.guards import constant_columns
from monitoring_assets.core.performance import (
    EXPECTED_LABELS,
    EXPECTED_SCORES,
    CountVerdict,
    evaluate_duplicates,
    evaluate_validity,
)
from monitoring_assets.errors import MonitorError
from monitoring_assets.spec import MonitorSpec, drift_rules, load_specs
from resources._store import Audit
from resources.alerts import AlertsResource, alerts_resource
from resources.registry import TRACKING_URI_ENV, RegistryResource
from resources.warehouse import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV, WarehouseResource
from sensors.alerts import build_alert_sensor
from sensors.labels import build_label_sensor
from sensors.retraining import build_retraining_definitions

POOL = "monitoring_warehouse"  # limit it to 1 in dagster.yaml for a DuckDB file (one writer)
WAREHOUSE_KEY = "warehouse"
REGISTRY_KEY = "registry"
ALERTS_KEY = "alerts"
REGISTRY_URI_ENV = "MLFLOW_REGISTRY_URI"


def _days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _audit(context: dg.AssetExecutionContext, spec: MonitorSpec) -> Audit:
    return Audit(context.run.run_id, spec.spec_hash())


def _range_check(
    results: dict[dt.date, DatasetDrift],
    failed_on: dict[dt.date, list[str]],
    name: str,
    severity: dg.AssetCheckSeverity,
    what: str,
    *,
    blocked: Sequence[dt.date] = (),
) -> dg.AssetCheckResult:
    """One verdict for the partitions of this run: a check result has no partition of its own,
    so a multi-day backfill reports the days that failed (per-day detail is in the table).
    ``blocked`` days were not evaluated: data quality failed critically on them. Days with no
    column evaluated (too few rows, ...) are neither failed nor passed: the description says
    "not evaluated" and why, and ``evaluated_days`` counts the rest. A result with no evaluated
    day passes (nothing failed) and the alerts sensor neither alerts on it nor takes it for a
    recovery (``sensors.alerts.not_evaluated``)."""
    judged = {d: r for d, r in results.items() if r.evaluated}
    skipped = {d: r.reason for d, r in sorted(results.items()) if not r.evaluated}
    listed = list(skipped.items())[:10]
    bad = sorted(d for d in judged if failed_on[d])
    if not results:
        description = f"{what} not evaluated: data quality blocked {', '.join(d.isoformat() for d in blocked)}"
    elif not judged:
        description = f"{what} not evaluated: " + "; ".join(f"{d}: {reason}" for d, reason in listed)
    elif len(results) == 1:
        (day,) = results
        description = f"{what} on {day}: {', '.join(failed_on[day])}" if bad else f"no {what} on {day}"
    else:
        of = f"{len(judged)} evaluated" if skipped else f"{len(results)}"
        description = f"{what} on {len(bad)} of {of} days" + (
            f": {', '.join(d.isoformat() for d in bad)}" if bad else ""
        )
    if skipped and judged:
        description += "; not evaluated: " + "; ".join(f"{d} ({reason})" for d, reason in listed)
    left_out = {d: r.left_out for d, r in judged.items() if r.left_out}
    if left_out and len(results) == 1:
        description += "; left out (not evaluated): " + "; ".join(
            f"{f.feature} ({f.reason})" for fs in left_out.values() for f in fs
        )
    elif left_out:
        description += f"; columns left out (not evaluated) on {len(left_out)} day(s), see each day's metadata"
    if blocked and results:
        description += f"; not evaluated (data quality blocked): {', '.join(d.isoformat() for d in blocked)}"
    metadata: dict[str, Any] = {
        "failed_days": len(bad),
        "days": len(results),
        "evaluated_days": len(judged),
        "not_evaluated_days": len(skipped) + len(blocked),
        "first_failed_day": bad[0].isoformat() if bad else "",
        "last_failed_day": bad[-1].isoformat() if bad else "",
    }
    if blocked:
        metadata["blocked_days"] = len(blocked)
    return dg.AssetCheckResult(
        check_name=name, passed=not bad, severity=severity, description=description, metadata=metadata
    )


def _graded_check(name: str, findings: dict[dt.date, tuple[str, str]], what: str) -> dg.AssetCheckResult:
    """One check result over the run's days from per-day (level, reason) findings: ERROR when any
    day is at "error", WARN when any is at "warn", passed otherwise (reasons say why)."""
    bad = {d: f for d, f in sorted(findings.items()) if f[0] in ("warn", "error")}
    worst = "error" if any(level == "error" for level, _ in bad.values()) else "warn"
    if len(findings) == 1:
        ((day, (_, reason)),) = findings.items()
        description = f"{what} on {day}: {reason}"
    else:
        description = f"{what}: {len(bad)} of {len(findings)} days failed" + (
            "; " + "; ".join(f"{d}: {reason}" for d, (_, reason) in list(bad.items())[:10]) if bad else ""
        )
    return dg.AssetCheckResult(
        check_name=name,
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR if worst == "error" else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "failed_days": len(bad),
            "days": len(findings),
            "first_failed_day": min(bad).isoformat() if bad else "",
            "last_failed_day": max(bad).isoformat() if bad else "",
        },
    )


def _performance_finding(
    day: _pipeline.PerformanceDay, min_labeled: int, validity: CountVerdict | None = None
) -> tuple[str, str]:
    if validity is not None and not validity.passed:
        # Metrics over the valid rest would look fine while the labels are broken: say so instead.
        return "ok", f"not evaluated: {validity.reason} (check label_validity)"
    if day.too_few_labels:
        return "ok", f"too few labels ({int(day.metrics['n_labeled'])} labeled, minimum {min_labeled})"
    failing = [v for v in day.verdicts if v.level in ("warn", "error")]
    if not failing:
        checked = ", ".join(f"{v.metric} {v.value:.4g} (reference {v.reference:.4g})" for v in day.verdicts)
        return "ok", f"within tolerance: {checked}" if checked else "no reference performance to compare with"
    level = "error" if any(v.level == "error" for v in failing) else "warn"
    return level, ", ".join(
        f"{v.metric} {v.value:.4g} vs reference {v.reference:.4g} ({v.level.upper()})" for v in failing
    )


def _fairness_finding(verdicts: list[DisparityVerdict]) -> tuple[str, str]:
    failing = [v for v in verdicts if v.level in ("warn", "error")]
    if not failing:
        return "ok", "disparities within limits"
    level = "error" if any(v.level == "error" for v in failing) else "warn"
    return level, ", ".join(
        f"{v.column} {v.disparity} {v.value:.3f} (limit {v.error if v.level == 'error' else v.warn})" for v in failing
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
                description=f"Daily labeled performance against the reference ({tol}); passes with "
                f"'too few labels' under {spec.performance.min_labeled} labeled rows, and says 'not "
                "evaluated' on a day whose label_validity fails.",
            ),
            dg.AssetCheckSpec(
                "label_validity",
                asset=perf_key,
                description=f"ERROR when more than {spec.performance.max_invalid_share:.2%} of the day's labeled "
                f"rows have {EXPECTED_LABELS[spec.prediction.task]}, or of its scored rows "
                f"{EXPECTED_SCORES[spec.prediction.task]}.",
            ),
            dg.AssetCheckSpec(
                "no_duplicates",
                asset=perf_key,
                description=f"WARN when more than {spec.performance.max_duplicate_share:.2%} of the day's scored "
                f"ids repeat in the source, or have extra label rows (one label per id is used: "
                f"{spec.labels.duplicates if spec.labels else 'latest'}).",
            ),
        ],
        description=f"Labeled performance of {name} per scoring day with the labels arrived so far, and the "
        f"{rolling} window merged from daily aggregates. Rows in monitoring.performance_metrics.",
    )
    def labeled_performance(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
        days = _days(context)
        with warehouse.open() as wh:
            results = _pipeline.compute_performance(wh, spec, days, _audit(context, spec), context.log.info)
            reference = wh.read_performance(spec, "reference").get(None, {})
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
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        yield dg.MaterializeResult()
        yield _graded_check("performance_vs_reference", findings, "performance")
        yield _graded_check(
            "label_validity", {d: ("ok" if v.passed else "error", v.reason) for d, v in validity.items()}, "labels"
        )
        yield _graded_check(
            "no_duplicates", {d: ("ok" if v.passed else "warn", v.reason) for d, v in duplicates.items()}, "duplicates"
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
                    description=f"Disparities per slice column ({limits}).",
                )
            ],
            description=f"Metrics of {name} per group of {', '.join(spec.slices)} and their disparities; groups "
            f"under {spec.fairness.min_slice_size} rows are suppressed. Rows in monitoring.fairness_metrics.",
        )
        def fairness_slices(
            context: dg.AssetExecutionContext, warehouse: WarehouseResource
        ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
            days = _days(context)
            with warehouse.open() as wh:
                reports = _pipeline.compute_fairness(wh, spec, days, _audit(context, spec), context.log.info)
            findings = {}
            for day, per_column in reports.items():
                verdicts = _pipeline.disparity_verdicts(spec, per_column)
                context.add_asset_metadata(fairness_metadata(per_column, verdicts), partition_key=day.isoformat())
                findings[day] = _fairness_finding(verdicts)
            yield dg.MaterializeResult()
            yield _graded_check("fairness_disparity", findings, "fairness")

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
    guard_specs = _guard_check_specs(spec, daily_key)

    @dg.asset(
        key=daily_key,
        deps=[ref_key],
        group_name=spec.name,
        kinds={"sql"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[*([quality_check_spec(daily_key, suite)] if suite else []), *guard_specs],
        description=f"Daily profile of {spec.name}'s inputs and score, computed in the warehouse. {source_note}"
        + (f" Data quality: the Great Expectations suite {suite.path} (check data_quality)." if suite else ""),
    )
    def daily_profile(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
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
        if quality:
            yield quality_check_result(quality)
        if guards:
            yield _graded_check("volume", {d: (g.volume.level, g.volume.reason) for d, g in guards.items()}, "volume")
            yield _graded_check("null_rate", {d: g.null_rate for d, g in guards.items()}, "null rate")
        if failure is not None:
            raise failure

    return daily_profile


def _guard_check_specs(spec: MonitorSpec, daily_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
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
            description=f"ERROR when the day has no rows{ratio_rule}; WARN under guards.min_rows = {g.min_rows} "
            f"rows, too few to evaluate drift (drift is then 'not evaluated').{no_rate}",
        ),
        dg.AssetCheckSpec(
            "null_rate",
            asset=daily_key,
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
        retrain_assets, retrain_jobs, retrain_sensor = build_retraining_definitions(spec, watched)
        assets += retrain_assets
        jobs += retrain_jobs
        sensors.append(retrain_sensor)
    return assets, jobs, sensors


def build_monitor_definitions(*, spec: MonitorSpec) -> dg.Definitions:
    """Assets, checks, jobs and the daily schedule of one monitor, under key prefix ``spec.name``."""
    with warnings.catch_warnings():
        # BackfillPolicy is marked beta; single-run backfills are the point, so do not nag users.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _build_monitor_definitions(spec)


def _build_monitor_definitions(spec: MonitorSpec) -> dg.Definitions:
    name = spec.name
    group = name
    partitions = dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=spec.partitions.end_date.isoformat() if spec.partitions.end_date else None,
        timezone=spec.partitions.timezone,
    )
    single_run = dg.BackfillPolicy.single_run()  # a backfill of N days is one run, not N processes
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

    def drift_asset(
        key: dg.AssetKey, scope: str, checks: Sequence[tuple[str, dg.AssetCheckSeverity, str]], description: str
    ) -> dg.AssetsDefinition:
        @dg.asset(
            key=key,
            deps=[daily_key, ref_key],
            group_name=group,
            kinds={"scipy"},
            pool=POOL,
            partitions_def=partitions,
            backfill_policy=single_run,
            check_specs=[dg.AssetCheckSpec(n, asset=key, description=d) for n, _, d in checks],
            description=description,
        )
        def _drift(
            context: dg.AssetExecutionContext, warehouse: WarehouseResource
        ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
            days = _days(context)
            with warehouse.open() as wh:
                # Days whose critical expectations failed are skipped (a single-day run never gets
                # here: the blocking data_quality check stops it).
                blocked = blocked_days(wh, spec, days) if suite else []
                todo = [d for d in days if d not in blocked]
                results = _pipeline.compute_drift(wh, spec, todo, scope, _audit(context, spec)) if todo else {}
            for day in blocked:
                context.add_asset_metadata(blocked_metadata(day), partition_key=day.isoformat())
                context.log.warning(f"{day}: drift not computed, data quality failed critically")
            for day, result in results.items():
                context.add_asset_metadata(drift_metadata(result, scope == "feature"), partition_key=day.isoformat())
                if not result.evaluated:
                    context.log.warning(f"{day}: {scope} drift not evaluated: {result.reason}")
                elif len(days) <= 7 or result.drifted:
                    context.log.info(
                        f"{day}: {result.n_drifted}/{result.n_features} drifted, dataset drift={result.drifted}"
                        + (f"; {result.reason}" if result.reason else "")
                    )
            yield dg.MaterializeResult()
            for check_name, severity, what in checks:
                if check_name.endswith("dataset_drift"):
                    failed = {
                        d: ([f"share {r.share:.2f} >= {r.drift_share}"] if r.drifted else [])
                        for d, r in results.items()
                    }
                else:
                    failed = {d: [f.feature for f in r.features if f.drifted] for d, r in results.items()}
                yield _range_check(results, failed, check_name, severity, what.split(":")[0], blocked=blocked)

        return _drift

    feature_drift = drift_asset(
        feature_key,
        "feature",
        [
            ("no_feature_drift", dg.AssetCheckSeverity.WARN, "feature drift: WARN when any single feature drifts"),
            (
                "no_dataset_drift",
                dg.AssetCheckSeverity.ERROR,
                f"dataset drift: ERROR when the share of drifted features >= {spec.drift.drift_share}",
            ),
        ],
        f"Drift of each feature of {name} against the reference; rows in monitoring.drift_metrics (scope 'feature').",
    )
    prediction_drift = drift_asset(
        prediction_key,
        "prediction",
        [
            (
                "no_prediction_drift",
                dg.AssetCheckSeverity.WARN,
                f"prediction drift: WARN when the score `{spec.prediction.score_column}` drifts",
            )
        ],
        f"Drift of {name}'s prediction score against the reference; "
        "rows in monitoring.drift_metrics (scope 'prediction').",
    )

    extra_assets, extra_jobs, sensors = _label_and_retraining_definitions(
        spec, partitions, daily_key, ref_key, feature_key
    )
    daily_job = dg.define_asset_job(
        f"{name}_daily_monitoring",
        selection=dg.AssetSelection.assets(
            daily_key, feature_key, prediction_key, *(a.key for a in extra_assets if a.partitions_def is not None)
        ),
        description=f"Daily profile and drift of {name}; one run covers any range of days.",
    )
    reference_job = dg.define_asset_job(
        f"{name}_reference",
        selection=dg.AssetSelection.assets(ref_key),
        description=f"Rebuild {name}'s reference profile (after changing the reference or the bins).",
    )

    schedule = _daily_schedule(spec, partitions, daily_job)

    assets = [reference_profile, daily_profile, feature_drift, prediction_drift, *extra_assets]
    jobs: list[Any] = [daily_job, reference_job, *extra_jobs]
    if spec.alerts.enabled:
        sensors.append(build_alert_sensor(spec))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=[schedule], sensors=sensors)


def warehouse_resource() -> WarehouseResource:
    """``$MONITORING_WAREHOUSE_URL`` through dg.EnvVar (kept out of the UI), else the demo DuckDB file."""
    if WAREHOUSE_URL_ENV in os.environ:
        return WarehouseResource(url=dg.EnvVar(WAREHOUSE_URL_ENV))
    return WarehouseResource(url=DEFAULT_WAREHOUSE_URL)


def registry_resource() -> RegistryResource:
    """``$MLFLOW_TRACKING_URI`` (and ``$MLFLOW_REGISTRY_URI``) through dg.EnvVar, else the SQLite
    store under ``mlruns/`` in the project."""
    if TRACKING_URI_ENV in os.environ:
        registry_uri = dg.EnvVar(REGISTRY_URI_ENV) if REGISTRY_URI_ENV in os.environ else None
        return RegistryResource(tracking_uri=dg.EnvVar(TRACKING_URI_ENV), registry_uri=registry_uri)
    return RegistryResource()


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
    warehouse = warehouse or warehouse_resource()
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
                REGISTRY_KEY: registry or registry_resource(),
                ALERTS_KEY: alerts or alerts_resource(),
            },
            executor=executor,
        ),
    )
