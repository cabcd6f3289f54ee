"""Drift- and performance-triggered retraining: the sensor, the challenger_model asset, and the
retraining and rollback jobs of one monitor.

The sensor reads the per-partition materialization events of ``feature_drift`` (metadata
``dataset_drift``) and ``labeled_performance`` (metadata ``performance_check``) after the storage
ids in its cursor, keeps the recent days' verdicts in the cursor, and applies the spec's trigger
policy (``monitoring_assets.core.trigger``). An event fires one run of the retraining job, with
``run_key`` = event id + attempt; the event stays *pending* in the cursor until a run of it
succeeds: a failed or canceled run is retried on a later tick with the next attempt number,
except a run that refused to retrain (invalid labels, a model of the wrong task; tag
``monitoring/refused``), which closes its event.
Dagster commits the cursor with the tick's run requests, so a restarted daemon neither loses nor
repeats an event, and the registry never holds two challengers for one event (a retried run
finds the version tagged with the event id and reuses it).

Two guards against a second run of one event: the daemon launches a run key once per sensor (it
skips a request whose key a run tagged ``dagster/sensor_name`` and ``dagster/run_key`` already
carries; the demo tags its run so, ``monitoring_assets.demo.run.sensor_run_tags``); and the
sensor itself looks up the event's runs by ``monitoring/event_id`` before requesting, which also
holds where the daemon's de-duplication does not: an evaluation without the cursor, such as the
UI's sensor preview ("Test sensor"), which shows its requests and can launch them outside the
daemon's tick.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import json
import math
from typing import Any

import dagster as dg

from monitoring_assets import _retraining
from monitoring_assets._metadata import DATASET_DRIFT_KEY, PERFORMANCE_CHECK_KEY
from monitoring_assets.core.trigger import DayVerdict, TriggerEvent, TriggerPolicy, evaluate_trigger
from monitoring_assets.errors import MonitorError, RegistryError, WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources import links
from resources.registry import ModelRegistry, RegistryResource
from resources.warehouse import WarehouseResource

EVENT_TAG = "monitoring/event_id"
REASON_TAG = "monitoring/reason"
DAYS_TAG = "monitoring/trigger_days"
ATTEMPT_TAG = "monitoring/attempt"
REFUSED_TAG = "monitoring/refused"  # set on a run that refused to retrain: its event is not retried
KEEP_DAYS = 62  # verdicts kept in the cursor: enough for any trigger window and cooldown we allow
FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def trigger_policy(spec: MonitorSpec) -> TriggerPolicy:
    t = spec.retraining.trigger
    drift = t.dataset_drift_days
    return TriggerPolicy(
        drift.count if drift else None,
        drift.of if drift else 5,
        t.performance_error,
        spec.retraining.min_days_between_retrains,
    )


def _read_new_verdicts(
    instance: dg.DagsterInstance, keys: dict[str, dg.AssetKey], state: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    days: dict[str, dict[str, Any]] = state.setdefault("days", {})
    after: dict[str, int] = state.setdefault("after", {})
    for field, key in keys.items():
        cursor = after.get(field)
        while True:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor), limit=1000, ascending=True
            )
            for record in result.records:
                cursor = record.storage_id
                mat = record.asset_materialization
                if mat is None or mat.partition is None:
                    continue
                value = mat.metadata.get(DATASET_DRIFT_KEY if field == "drift" else PERFORMANCE_CHECK_KEY)
                if value is not None:
                    days.setdefault(mat.partition, {})[field] = value.value
            if not result.has_more:
                break
        if cursor is not None:
            after[field] = cursor
    for stale in sorted(days)[:-KEEP_DAYS]:
        del days[stale]
    return days


def _verdicts(days: dict[str, dict[str, Any]]) -> dict[dt.date, DayVerdict]:
    return {dt.date.fromisoformat(d): DayVerdict(v.get("drift"), v.get("performance")) for d, v in days.items()}


def _request(pending: dict[str, Any]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{pending['event_id']}#{pending['attempt']}",
        tags={
            EVENT_TAG: pending["event_id"],
            REASON_TAG: pending["reason"],
            DAYS_TAG: ",".join(pending["days"]),
            ATTEMPT_TAG: str(pending["attempt"]),
        },
    )


def build_retraining_definitions(
    spec: MonitorSpec, watched: dict[str, dg.AssetKey]
) -> tuple[list[dg.AssetsDefinition], list[Any], dg.SensorDefinition]:
    """``watched``: {"drift": feature_drift key, "performance": labeled_performance key}."""
    assert spec.model is not None
    name = spec.name
    registry_name = spec.model.registry_name
    challenger_key = dg.AssetKey([name, "challenger_model"])
    policy = spec.retraining.promotion

    @dg.asset(
        key=challenger_key,
        deps=list(watched.values()),
        group_name=name,
        kinds={"mlflow", "sklearn"},
        description=f"Challenger for {name}: trained on the last {spec.retraining.training_window_days} labeled "
        f"days, registered in MLflow as '{registry_name}' with alias 'challenger', compared with the champion on "
        f"the last {spec.retraining.holdout_days} days (promotion: {policy.policy}).",
    )
    def challenger_model(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, registry: RegistryResource
    ) -> dg.MaterializeResult:  # type: ignore[type-arg]
        tags = context.run.tags
        event_id = tags.get(EVENT_TAG) or f"{name}:manual:{context.run.run_id}"
        days = tuple(d for d in tags.get(DAYS_TAG, "").split(",") if d)
        reason = tags.get(REASON_TAG, "manual")
        context.log.info(f"retraining {name} for event {event_id} ({reason})")
        with warehouse.open() as wh:
            details = {
                "monitor": name,
                "attempt": tags.get(ATTEMPT_TAG, "1"),
                "days": wh.trigger_context(spec, [dt.date.fromisoformat(d) for d in days]),
            }
            trigger = _retraining.Trigger(event_id, reason, days, details)
            if not wh.has_event(spec, "trigger", event_id):  # a retried attempt records the trigger once
                wh.append_event(
                    spec,
                    "trigger",
                    {"event_id": event_id, "reason": reason, **details},
                    partition_date=dt.date.fromisoformat(days[-1]) if days else None,
                    model_name=registry_name,
                    run_id=context.run.run_id,
                )
            dagster_ui, mlflow_ui = _ui_bases(context)
            run_url = links.dagster_run_url(dagster_ui, context.run.run_id) if dagster_ui else None
            try:
                with registry.open() as reg:
                    result = _retraining.retrain(wh, reg, spec, trigger, context.run.run_id, dagster_run_url=run_url)
                    experiment_id = _experiment_of(context, reg, result.mlflow_run_id) if mlflow_ui else None
            except _retraining.RetrainingRefusedError:
                # Bad labels or a wrong-task model: retrying the same event would refuse again, and
                # retrain() has recorded the refusal (its own event, alerted at warning).
                context.instance.add_run_tags(context.run.run_id, {REFUSED_TAG: "true"})
                raise
            except Exception as error:
                # Recorded before re-raising, so that the alerts sensor reports it (warning tier).
                try:
                    _retraining.record_failure(wh, spec, trigger, error, context.run.run_id)
                except WarehouseError as unrecorded:
                    context.log.warning(f"{name}: the failed retraining could not be recorded: {unrecorded}")
                raise
        if result.report_error:
            context.log.warning(f"{name}: the monitoring report was not logged to MLflow ({result.report_error})")
        context.log.info(f"{registry_name} v{result.version}: {result.decision}")
        meta = _retraining_metadata(result, trigger, _mlflow_links(result, mlflow_ui, experiment_id))
        return dg.MaterializeResult(metadata=meta)

    retrain_job = dg.define_asset_job(
        f"{name}_retraining",
        selection=dg.AssetSelection.assets(challenger_key),
        description=f"Train, register and compare a challenger for {name} (launched by {name}_retraining_sensor).",
    )

    class RollbackConfig(dg.Config):
        reason: str = "manual rollback"

    @dg.op(name=f"{name}_rollback_champion")
    def rollback_op(
        context: dg.OpExecutionContext,
        config: RollbackConfig,
        warehouse: WarehouseResource,
        registry: RegistryResource,
    ) -> None:
        with warehouse.open() as wh, registry.open() as reg:
            from_version, to_version = _retraining.rollback(wh, reg, spec, config.reason, context.run.run_id)
        context.log.info(
            f"{registry_name}: champion moved back from v{from_version} to v{to_version} ({config.reason})"
        )

    @dg.job(name=f"{name}_rollback", description=f"Move {registry_name}'s champion back to previous_champion.")
    def rollback_job() -> None:
        rollback_op()

    @dg.sensor(
        name=f"{name}_retraining_sensor",
        job=retrain_job,
        minimum_interval_seconds=300,
        description=f"Launches {name}_retraining when the trigger policy fires; cursor in Dagster storage.",
    )
    def retraining_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        requests, skip, cursor = evaluate_retraining(context.instance, context.cursor, spec, watched)
        for request in requests:
            context.log.info(f"{name}: requesting {request.run_key}")
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(skip_reason=dg.SkipReason(skip), cursor=cursor)

    return [challenger_model], [retrain_job, rollback_job], retraining_sensor


def evaluate_retraining(
    instance: dg.DagsterInstance, cursor: str | None, spec: MonitorSpec, watched: dict[str, dg.AssetKey]
) -> tuple[list[dg.RunRequest], str, str]:
    """One tick: (run requests, why nothing was requested, next cursor).

    Whether an event still needs a run is read from its runs (tag ``monitoring/event_id``), not
    only from the cursor: an evaluation without the cursor (the UI's sensor preview, a reset
    cursor) finds the same event again, and must not request what a run already retrained."""
    state: dict[str, Any] = json.loads(cursor) if cursor else {}
    days = _read_new_verdicts(instance, watched, state)
    skips: list[str] = []
    while True:
        if not state.get("pending"):
            outcome = evaluate_trigger(_verdicts(days), trigger_policy(spec), _last_trigger(state))
            if not isinstance(outcome, TriggerEvent):
                skips.append(outcome)
                break
            state["pending"] = {
                "event_id": outcome.event_id(spec.name),
                "reason": outcome.reason,
                "days": [d.isoformat() for d in outcome.days],
                "attempt": 1,
            }
            state["last_trigger_day"] = outcome.days[-1].isoformat()
        request, skip = _pending_request(instance, state)
        if request is not None:
            return [request], "", json.dumps(state, sort_keys=True)
        skips.append(skip)
        if state.get("pending"):  # its run has not finished: wait for it
            break
        # The event is closed: a later one may be due already (each pass moves last_trigger_day on).
    return [], "; ".join(skips), json.dumps(state, sort_keys=True)


def _pending_request(instance: dg.DagsterInstance, state: dict[str, Any]) -> tuple[dg.RunRequest | None, str]:
    """The run the pending event needs, from the runs tagged with its id; or why none (and then
    the event is closed, unless its run is still going)."""
    pending = state["pending"]
    event_id = pending["event_id"]
    runs = instance.get_runs(dg.RunsFilter(tags={EVENT_TAG: event_id}))
    succeeded = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
    latest = max(runs, key=lambda r: int(r.tags.get(ATTEMPT_TAG, "0")), default=None)
    if succeeded:
        state["pending"] = None
        return None, f"event {event_id} done: retrained by run {succeeded[0].run_id}"
    if latest is not None and latest.status in FAILED and latest.tags.get(REFUSED_TAG):
        state["pending"] = None
        return None, f"event {event_id} refused by run {latest.run_id} (see monitoring.events): not retried"
    if latest is not None and latest.status not in FAILED:
        return None, f"retraining for {event_id} is {latest.status.value.lower()} (run {latest.run_id})"
    if latest is not None:
        # A new run_key after the highest attempt: Dagster would skip a failed one's.
        pending["attempt"] = max(int(r.tags.get(ATTEMPT_TAG, "0")) for r in runs) + 1
    return _request(pending), ""


def _last_trigger(state: dict[str, Any]) -> dt.date | None:
    day = state.get("last_trigger_day")
    return dt.date.fromisoformat(day) if day else None


def _ui_bases(context: dg.AssetExecutionContext) -> tuple[str | None, str | None]:
    """The Dagster and MLflow UI base URLs from the environment; a malformed one is left out
    with a warning (a link is not worth failing a retraining for)."""
    bases: list[str | None] = []
    for env in (links.DAGSTER_UI_URL_ENV, links.MLFLOW_UI_URL_ENV):
        try:
            bases.append(links.ui_base_url(env))
        except MonitorError as error:
            context.log.warning(f"{error}: links to that UI are left out")
            bases.append(None)
    return bases[0], bases[1]


def _experiment_of(context: dg.AssetExecutionContext, registry: ModelRegistry, run_id: str) -> str | None:
    """The MLflow experiment of ``run_id``, for its link (None, with a warning, when MLflow fails
    now: the retraining itself is done and recorded)."""
    try:
        return registry.run_experiment_id(run_id)
    except RegistryError as error:
        context.log.warning(f"the MLflow links are left out: {error}")
        return None


def _mlflow_links(
    result: "_retraining.RetrainingResult", mlflow_ui: str | None, experiment_id: str | None
) -> dict[str, Any]:
    """The MLflow run and model version: links into the MLflow UI when its base URL is set, else their ids."""
    if mlflow_ui is None or experiment_id is None:
        return {
            "mlflow_run": dg.MetadataValue.text(result.mlflow_run_id),
            "mlflow_model_version": dg.MetadataValue.text(f"models:/{result.registry_name}/{result.version}"),
        }
    return {
        "mlflow_run": dg.MetadataValue.url(links.mlflow_run_url(mlflow_ui, experiment_id, result.mlflow_run_id)),
        "mlflow_model_version": dg.MetadataValue.url(
            links.mlflow_version_url(mlflow_ui, result.registry_name, result.version)
        ),
    }


def _retraining_metadata(
    result: "_retraining.RetrainingResult", trigger: "_retraining.Trigger", mlflow_links: dict[str, Any]
) -> dict[str, Any]:
    lines = ["| metric | challenger | champion |", "|---|---|---|"]
    for metric, value in result.challenger.items():
        champ = result.champion.get(metric) if result.champion else None
        lines.append(f"| {metric} | {value:.4g} | {'-' if champ is None else f'{champ:.4g}'} |")
    meta: dict[str, Any] = {
        "registry_name": dg.MetadataValue.text(result.registry_name),
        "version": dg.MetadataValue.int(result.version),
        **mlflow_links,  # near the top: the way to the registry
        "new_version": dg.MetadataValue.bool(result.created),
        "alias": dg.MetadataValue.text("champion" if result.promoted else "challenger"),
        "promoted": dg.MetadataValue.bool(result.promoted),
        "decision": dg.MetadataValue.text(result.decision),
        "trigger": dg.MetadataValue.text(f"{trigger.reason} ({', '.join(trigger.days) or 'manual'})"),
        "event_id": dg.MetadataValue.text(trigger.event_id),
        "monitoring_report": dg.MetadataValue.text(result.report),
        "window": dg.MetadataValue.text(f"{result.window[0]}..{result.window[1]} (holdout from {result.holdout_from})"),
        "n_train": dg.MetadataValue.int(result.n_train),
        "n_holdout": dg.MetadataValue.int(result.n_holdout),
        "comparison": dg.MetadataValue.md("\n".join(lines)),
    }
    # A metric the holdout leaves undefined (e.g. ROC AUC of one class) is left out, not plotted.
    primary = {"challenger": result.challenger, "champion": result.champion or {}}
    for who, metrics in primary.items():
        number = metrics.get(result.primary_metric)
        if number is not None and math.isfinite(number):
            meta[f"{who}_{result.primary_metric}"] = dg.MetadataValue.float(number)
    return meta
