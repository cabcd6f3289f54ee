"""Monitor spec -> Dagster definitions: the composer of the asset families of each monitor
(profiles, drift, labeled performance and fairness, the report, retraining), its jobs, schedule
and sensors, and the resources shared by all monitors."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import os
import warnings
from collections.abc import Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from expectations import find_suite
from monitoring_assets._business_assets import build_business_definitions
from monitoring_assets._common import ALERTS_KEY, POOL, REGISTRY_KEY, WAREHOUSE_KEY, MonitorKeys
from monitoring_assets._drift_assets import build_drift_definitions
from monitoring_assets._estimate_assets import build_estimate_definitions, estimates_performance
from monitoring_assets._label_assets import build_label_definitions
from monitoring_assets._multivariate_assets import build_multivariate_definitions
from monitoring_assets._operations_assets import build_operations_definitions
from monitoring_assets._profile_assets import build_profile_definitions
from monitoring_assets._report_asset import build_report_definitions
from monitoring_assets._retraining_assets import build_retraining_definitions
from monitoring_assets._versions_assets import build_versions_definitions
from monitoring_assets.resources import AlertsResource, RegistryResource, WarehouseResource, environment_resources
from monitoring_assets.spec import MonitorSpec, load_specs
from resources._env import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV
from sensors.alerts import build_alert_sensor
from sensors.labels import build_label_sensor
from sensors.retraining import build_retraining_sensor

__all__ = ["ALERTS_KEY", "POOL", "REGISTRY_KEY", "WAREHOUSE_KEY", "build_definitions", "build_monitor_definitions"]


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
    partitions = dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start_date.isoformat(),
        end_date=spec.partitions.end_date.isoformat() if spec.partitions.end_date else None,
        timezone=spec.partitions.timezone,
    )
    keys = MonitorKeys.of(spec)
    suite = find_suite(spec)  # expectations/<name>.json, validated now; None: no data-quality check
    families = [
        build_profile_definitions(spec=spec, partitions=partitions, keys=keys, suite=suite),
        build_drift_definitions(spec=spec, partitions=partitions, keys=keys, suite=suite),
    ]
    if spec.drift.multivariate is not None:
        families.append(build_multivariate_definitions(spec=spec, partitions=partitions, keys=keys, suite=suite))
    if spec.operations is not None:
        families.append(build_operations_definitions(spec=spec, partitions=partitions, keys=keys))
    if spec.business_metrics:
        families.append(build_business_definitions(spec=spec, partitions=partitions, keys=keys))
    if spec.versions is not None:
        families.append(build_versions_definitions(spec=spec, partitions=partitions, keys=keys))
    sensors: list[dg.SensorDefinition] = []
    if spec.labels is not None:
        labels = build_label_definitions(spec=spec, partitions=partitions, keys=keys)
        families.append(labels)
        sensors.append(build_label_sensor(spec=spec, job_name=f"{name}_labeled_monitoring"))
        families.append(build_estimate_definitions(spec=spec, partitions=partitions, keys=keys))
    if spec.retrains:
        watched = {"drift": keys.feature_drift, "performance": keys.labeled_performance}
        if spec.retraining.trigger.estimated_performance and estimates_performance(spec):
            watched["estimated"] = keys.estimated_performance
        families.append(build_retraining_definitions(spec=spec, watched=watched))
        sensors.append(build_retraining_sensor(spec=spec, watched=watched))
    partitioned = [
        a.key
        for family in families
        for a in family.assets or []
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None and a.key != keys.daily_profile
    ]
    reports = [keys.monitoring_report] if spec.report.enabled else []
    if spec.report.enabled:
        families.append(build_report_definitions(spec=spec, partitions=partitions, deps=partitioned))
    daily_job = dg.define_asset_job(
        f"{name}_daily_monitoring",
        selection=dg.AssetSelection.assets(keys.daily_profile, *partitioned, *reports),
        description=f"Daily profile and drift of {name}; one run covers any range of days.",
    )
    reference_job = dg.define_asset_job(
        f"{name}_reference",
        selection=dg.AssetSelection.assets(keys.reference_profile),
        description=f"Rebuild {name}'s reference profile (after changing the reference or the bins).",
    )
    if spec.alerts.enabled:
        sensors.append(build_alert_sensor(spec=spec))
    return dg.Definitions.merge(
        *families,
        dg.Definitions(
            jobs=[daily_job, reference_job],
            schedules=[_daily_schedule(spec, partitions, daily_job)],
            sensors=sensors,
        ),
    )


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
