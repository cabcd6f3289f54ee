"""Materialize the demo monitor through Dagster and summarize what it found."""

from __future__ import annotations

import datetime as dt
import json
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from monitoring_assets._factory import build_definitions
from monitoring_assets._readback import DaySummary, day_summaries
from monitoring_assets._retraining import REPORT_ARTIFACT_DIR, synthetic_example
from monitoring_assets.core.levels import Level
from monitoring_assets.demo.data import (
    LABEL_DELAY,
    DemoConfig,
    generate,
    train_model,
    write_duckdb,
)
from monitoring_assets.resources import AlertsResource, RegistryResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources import tags
from resources.alerts import ALERT_EVENT, alert_log
from resources.registry import CHALLENGER, CHAMPION, ModelRegistry
from resources.warehouse import Warehouse
from sensors.alerts import EVENT_TIERS


@dataclass(frozen=True)
class DemoOutcome:
    days: list[DaySummary]
    sensor: str  # what the retraining sensor's tick said
    retraining: dict[str, Any] | None  # the `retraining` event's details (monitoring.events)
    aliases: dict[str, int | None]
    alerts: list[dict[str, Any]]  # what one tick of the alerts sensor sent (resources.alerts.alert_log)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # the daily run's check results, by name


def register_initial_champion(registry: ModelRegistry, spec: MonitorSpec, training: pd.DataFrame) -> int:
    """The model that scored the demo traffic, as version 1 with alias champion. The demo's
    registered model is dropped first, so every `make demo` starts from the same registry."""
    assert spec.model is not None
    name = spec.model.registry_name
    registry.delete_registered_model(name)
    run_id = registry.start_run(
        f"monitoring/{spec.name}", run_name="initial model (demo)", tags={tags.ROLE: "initial champion"}
    )
    scored = training["scored_at"].dt.date
    window = f"{scored.min().isoformat()}..{scored.max().isoformat()}"
    registry.log(run_id, params={"trainer": "default: one-hot + HistGradientBoosting", "reference_window": window})
    registered = registry.register(
        run_id,
        model=train_model(training),
        registry_name=name,
        input_example=synthetic_example(training, spec),  # an aggregate, never a training row
        version_tags={tags.REFERENCE_WINDOW: window, tags.REFERENCE_TABLE: "training_data"},
        event_id=None,
        alias=CHAMPION,
    )
    registry.end_run(run_id)
    return registered.version


def run_demo(
    *,
    spec: MonitorSpec,
    warehouse_path: Path,
    instance: dg.DagsterInstance,
    registry: RegistryResource,
    config: DemoConfig | None = None,
) -> DemoOutcome:
    """Write fresh demo tables and register the initial champion; materialize the reference, then
    every daily partition in one run; then let the retraining sensor look and run what it asks.
    The spec's partitions must hold the config's days (``write_dated_spec`` dates a spec to them)."""
    config = config or DemoConfig()
    first, last = config.first_day, config.last_day
    partitions = spec.partitions
    if first < partitions.start_date or (partitions.end_date is not None and last >= partitions.end_date):
        raise ValueError(
            f"the demo's days {first}..{last} are not all partitions of {spec.origin} "
            f"({partitions.start_date}..{partitions.end_date or 'open'}): date the spec with write_dated_spec"
        )
    tables = generate(config)
    write_duckdb(tables, warehouse_path)
    with registry.open() as reg:
        register_initial_champion(reg, spec, tables["training_data"])
    url = f"duckdb:///{warehouse_path}"
    wh = Warehouse(url)
    # The registry was just reset; so is the audit trail, or old events would be alerted again.
    wh.events.delete(spec, [*EVENT_TIERS, ALERT_EVENT])
    wh.dispose()
    # ...and the earlier demo's retraining runs: the sensor takes an event with a successful run as done.
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=f"{spec.name}_retraining")):
        instance.delete_run(run.run_id)
    alerts = AlertsResource()  # the demo alerts to the log only (README: webhooks)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url), registry=registry, alerts=alerts)
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    ref = defs.resolve_job_def(f"{spec.name}_reference").execute_in_process(instance=instance, run_config=quiet)
    assert ref.success
    daily = defs.resolve_job_def(f"{spec.name}_daily_monitoring").execute_in_process(
        instance=instance,
        run_config=quiet,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert daily.success
    wh = Warehouse(url)
    try:
        sensor_said, retraining = _retrain(defs, spec, instance, quiet, wh)
        sensor = defs.resolve_sensor_def(f"{spec.name}_alerts")
        resources = {"warehouse": WarehouseResource(url=url), "alerts": alerts}
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, resources=resources))
        for event in tick.asset_events:  # as the daemon does: each alert shows on its asset in the UI
            instance.report_runless_asset_event(event)
        sent = alert_log(wh, spec)
        days = day_summaries(wh, spec)
    finally:
        wh.dispose()
    with registry.open() as reg:
        assert spec.model is not None
        aliases = {a: reg.alias_version(spec.model.registry_name, a) for a in (CHAMPION, CHALLENGER)}
    return DemoOutcome(days, sensor_said, retraining, aliases, sent, _check_results(daily))


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Each check over the run's days, from its one result per day: passed (every day), the worst
    failed day's severity, and the failed days."""
    failed: dict[str, list[tuple[str, str]]] = {}
    for e in result.get_asset_check_evaluations():
        failed.setdefault(e.check_name, [])
        if not e.passed:
            failed[e.check_name].append((e.partition or "", e.severity.value))
    out = {}
    for name, days in failed.items():
        bad = sorted(d for d, _ in days)
        severity = "ERROR" if any(s == "ERROR" for _, s in days) else "WARN" if days else "-"
        out[name] = {
            "passed": not days,
            "severity": severity,
            "failed_days": len(days),
            "first_failed_day": bad[0] if bad else "",
            "last_failed_day": bad[-1] if bad else "",
        }
    return out


def _retrain(
    defs: dg.Definitions, spec: MonitorSpec, instance: dg.DagsterInstance, run_config: dict[str, Any], wh: Warehouse
) -> tuple[str, dict[str, Any] | None]:
    """One tick of the retraining sensor, and the run it requests, launched as the daemon would."""
    sensor = defs.resolve_sensor_def(f"{spec.name}_retraining_sensor")
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    if not tick.run_requests:
        return tick.skip_message or "no request", None
    (request,) = tick.run_requests
    job = defs.resolve_job_def(f"{spec.name}_retraining")
    result = job.execute_in_process(instance=instance, run_config=run_config, tags=sensor_run_tags(sensor, request))
    assert result.success
    said = f"requested run {request.run_key} ({request.tags.get(tags.RUN_REASON)}), ran as {result.run_id}"
    events = wh.events.read(spec, ["retraining"])
    return said, json.loads(events[-1]["details_json"]) if events else None


def sensor_run_tags(sensor: dg.SensorDefinition, request: dg.RunRequest) -> dict[str, str]:
    """The tags Dagster's daemon puts on the run of a sensor's ``request`` (``_create_sensor_run``
    in ``dagster._daemon.sensor``): the request's own, the sensor's name and the run key. The
    daemon skips a request whose run key a run of that sensor already carries, so a run launched
    with these counts as the sensor's."""
    run_tags = {**request.tags, SENSOR_NAME_TAG: sensor.name}
    if request.run_key:
        run_tags[RUN_KEY_TAG] = request.run_key
    return run_tags


def _level(level: Level, too_few_labels: bool = False) -> str:
    if too_few_labels:
        return "few labels"
    if not level.evaluated:
        return "-"
    return level.upper() if level is not Level.OK else "ok"


def _quality(level: Level) -> str:
    """The data_quality check's severity for a day's level (info findings pass the check)."""
    return "ok" if level is Level.INFO else _level(level)


def format_summary(summaries: list[DaySummary], primary: str = "auc") -> str:
    header = (
        f"{'day':<10}  {'rows':>6}  {'quality':<7}  {'share':>5}  {'dataset':<7}  {'score':<5}  {'labels':>6}  "
        f"{primary:>6}  {'est.':>6}  {'perf':<10}  {'parity':>6}  {'fairness':<8}  {'multiv.':<7}  {'slo':<5}  "
        f"{'kpi':<5}  drifted features"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        if s.drift_blocked:
            drift = f"{'-':>5}  {'blocked':<7}  {'-':<5}"
        else:
            drift = (
                f"{s.drift_share:>5.2f}  {'DRIFT' if s.dataset_drift else 'ok':<7}  "
                f"{'DRIFT' if s.prediction_drift else 'ok':<5}"
            )
        features = "(drift blocked by data quality)" if s.drift_blocked else ", ".join(s.drifted_features) or "-"
        lines.append(
            f"{s.day.isoformat():<10}  {s.rows:>6}  {_quality(s.quality):<7}  {drift}  "
            f"{s.label_coverage:>6.0%}  {s.primary_metric:>6.3f}  {s.estimated_metric:>6.3f}  "
            f"{_level(s.performance, s.too_few_labels):<10}  "
            f"{s.worst_disparity:>6.3f}  {_level(s.fairness):<8}  {_level(s.multivariate):<7}  {_level(s.slo):<5}  "
            f"{_level(s.business):<5}  {features}"
        )
    return "\n".join(lines)


def format_retraining(outcome: DemoOutcome) -> str:
    lines = [f"Retraining sensor: {outcome.sensor}"]
    r = outcome.retraining
    if r is None:
        return lines[0]
    primary = "roc_auc"
    champion = r["champion"] or {}
    lines += [
        f"  trigger: {r['reason']} on {', '.join(r['trigger_days'])} (event {r['event_id']})",
        f"  challenger: version {outcome.aliases.get(CHALLENGER)} (alias challenger; champion is version "
        f"{outcome.aliases.get(CHAMPION)}), trained on {r['n_train']} labeled rows of {r['window'][0]}.."
        f"{dt.date.fromisoformat(r['holdout_from']) - dt.timedelta(days=1)}"
        + (f" without {', '.join(r['excluded_days'])} (data quality critical)" if r.get("excluded_days") else ""),
        f"  held-out {r['holdout_from']}..{r['window'][1]} ({r['n_holdout']} rows): {primary} challenger "
        f"{r['challenger'][primary]:.3f} vs champion {champion.get(primary, math.nan):.3f}",
        f"  decision: {r['decision']}",
        f"  MLflow run {r['mlflow_run_id']}, with the monitoring report {r.get('monitoring_report', '-')}",
    ]
    return "\n".join(lines)


def unexpected(summaries: list[DaySummary], config: DemoConfig) -> list[str]:
    """What README says the demo shows, checked: each entry is a broken expectation."""
    problems = []
    drift_start, fairness_start, concept_start = config.drift_start, config.fairness_start, config.concept_start
    early = [s.day for s in summaries if s.dataset_drift and s.day < drift_start]
    # A day whose drift data quality blocked has no drift verdict: not a missed drift.
    missed = [s.day for s in summaries if s.day >= drift_start and not s.dataset_drift and not s.drift_blocked]
    if early or missed:
        problems.append(f"drift before the injection day on {early}, missed after it on {missed}")
    problems += _quality_problems(summaries, config.quality_break)
    last_labeled = config.now.date() - LABEL_DELAY  # days after this one are not fully labeled
    for s in summaries:
        if s.day < fairness_start and s.performance is not Level.OK and not s.too_few_labels:
            problems.append(f"performance {s.performance} on {s.day}, before any injected problem")
        if s.day >= concept_start and s.performance is not Level.ERROR and not s.too_few_labels:
            problems.append(f"performance {s.performance} on {s.day}, after the concept drift")
        if s.fairness.failed != (s.day >= fairness_start):
            problems.append(f"fairness {s.fairness} on {s.day}")
        if (s.label_coverage < 1) != (s.day >= last_labeled):
            problems.append(f"label coverage {s.label_coverage:.0%} on {s.day}")
    return problems + estimate_problems(summaries, config) + signal_problems(summaries, config)


def signal_problems(summaries: list[DaySummary], config: DemoConfig) -> list[str]:
    """The multivariate check sees the broken join alone before the covariate drift; the SLOs fail on
    the slow day alone; the approval rate stays in its band until the drift and leaves it then."""
    problems = []
    for s in summaries:
        early = s.day < config.drift_start
        if early and s.multivariate.failed != (s.day == config.correlation_break):
            problems.append(f"multivariate drift {s.multivariate} on {s.day}")
        if s.slo.failed != (s.day == config.slow_day):
            problems.append(f"SLO {s.slo} on {s.day}")
        if early and s.business is not Level.OK:
            problems.append(f"business metrics {s.business} on {s.day}, before the drift")
        if s.day == config.drift_start and not s.business.failed:
            problems.append(f"business metrics {s.business} on {s.day}, the first day of the drift")
    return problems


# How far the estimate may sit from the realized ROC AUC on a fully labeled day while calibration
# holds: 3 standard errors at 10,000 rows (about 0.018) plus the demo's own bias (about +0.012: the
# reference's scores are out-of-fold, the served model's a little sharper; README).
ESTIMATE_AGREES = 0.04
# How far below the estimate the realized ROC AUC falls once the concept has drifted (about 0.17).
ESTIMATE_BLIND = 0.1


def estimate_problems(summaries: list[DaySummary], config: DemoConfig) -> list[str]:
    """The estimate without labels follows the realized ROC AUC through the covariate drift, and
    does not see the concept drift (nor the fairness regression, which breaks calibration)."""
    problems = []
    last_labeled = config.now.date() - LABEL_DELAY
    for s in summaries:
        if not math.isfinite(s.estimated_metric):
            problems.append(f"no estimated ROC AUC on {s.day}")
            continue
        if s.day >= last_labeled:
            continue  # labels still arriving: nothing realized to compare with
        gap = s.estimated_metric - s.primary_metric
        if s.day < config.fairness_start and abs(gap) > ESTIMATE_AGREES:
            problems.append(f"estimated ROC AUC {s.estimated_metric:.3f} vs realized {s.primary_metric:.3f} on {s.day}")
        if s.day >= config.concept_start and gap < ESTIMATE_BLIND:
            problems.append(f"the estimate {s.estimated_metric:.3f} saw the concept drift on {s.day}")
    return problems


def _quality_problems(summaries: list[DaySummary], quality_break: dt.date) -> list[str]:
    """The pipeline break: the data-quality check ERROR (critical) on ``quality_break`` and its drift
    blocked; every other day passes the suite (nothing failing, not even a warning)."""
    problems = []
    for s in summaries:
        broken = s.day == quality_break
        if not s.quality.evaluated:
            problems.append(f"no data-quality result on {s.day} (is expectations/credit_default.json there?)")
        elif broken and s.quality is not Level.ERROR:
            problems.append(f"data quality {s.quality} on {s.day}, the day of the pipeline break (expected critical)")
        elif not broken and s.quality not in (Level.OK, Level.INFO):
            problems.append(f"data quality {s.quality} on {s.day}, without a pipeline break")
        if s.drift_blocked != (broken and s.quality is Level.ERROR):
            problems.append(f"drift {'blocked' if s.drift_blocked else 'computed'} on {s.day}")
    return problems


def guard_problems(outcome: DemoOutcome, config: DemoConfig) -> list[str]:
    """The guards README promises: volume passes every day (10,000 rows a day); null_rate fails at
    ERROR on the quality-break day only (loan_amount 90 % NULL against none in the reference)."""
    problems = []
    volume, null_rate = outcome.checks.get("volume"), outcome.checks.get("null_rate")
    if volume is None or not volume["passed"]:
        problems.append(f"volume check {volume}, expected passed on every day")
    day = config.quality_break.isoformat()
    expected = {"passed": False, "severity": "ERROR", "failed_days": 1, "first_failed_day": day, "last_failed_day": day}
    if null_rate is None or {k: null_rate.get(k) for k in expected} != expected:
        problems.append(f"null_rate check {null_rate}, expected ERROR on {day} only")
    return problems


def retraining_problems(outcome: DemoOutcome) -> list[str]:
    """The retraining README promises after `make demo`: a drift-triggered challenger (version 2)
    next to the champion (version 1), better than it on the held-out days."""
    r = outcome.retraining
    if r is None:
        return [f"no retraining ran: {outcome.sensor}"]
    problems = []
    if "dataset_drift" not in r["reason"]:
        problems.append(f"retraining triggered by {r['reason']}, expected dataset drift")
    if outcome.aliases != {CHAMPION: 1, CHALLENGER: 2}:
        problems.append(f"aliases {outcome.aliases}, expected champion 1 and challenger 2")
    champion = (r["champion"] or {}).get("roc_auc", math.nan)
    if not r["challenger"]["roc_auc"] > champion:
        problems.append(f"challenger ROC AUC {r['challenger']['roc_auc']:.3f} not above champion's {champion:.3f}")
    if not str(r.get("monitoring_report", "")).startswith(f"{REPORT_ARTIFACT_DIR}/"):
        problems.append(f"no monitoring report in the MLflow run ({r.get('monitoring_report') or 'not recorded'})")
    return problems


def format_alerts(outcome: DemoOutcome) -> str:
    lines = [f"Alerts sent by one tick of the alerts sensor ({len(outcome.alerts)}; to the log in the demo):"]
    # The full texts are in the log above and in monitoring.events; one line each here.
    lines += [f"  [{a['tier']:<8}] {textwrap.shorten(a['text'], 150, placeholder=' ...')}" for a in outcome.alerts]
    return "\n".join(lines)


def alert_problems(outcome: DemoOutcome) -> list[str]:
    """The alerts README promises: a critical data-quality and null-rate alert, a failed drift,
    performance and fairness check each, and the retraining (info)."""
    firing = {(a["check"].rsplit(":", 1)[-1], a["tier"]) for a in outcome.alerts if a["kind"] == "firing"}
    events = {a["check"] for a in outcome.alerts if a["kind"] == "event"}
    expected = {("data_quality", "critical"), ("null_rate", "critical")}
    problems = [f"no {tier} alert from the {check} check" for check, tier in sorted(expected - firing)]
    for check in ("drift", "performance", "fairness"):
        if not any(check in name for name, _ in firing):
            problems.append(f"no alert from a {check} check")
    problems += [f"no alert for the {e} event" for e in ("trigger", "retraining") if e not in events]
    return problems
