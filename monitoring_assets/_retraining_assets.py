"""Retraining in Dagster: the ``challenger_model`` asset, the retraining job that materializes it,
and the rollback job of one monitor. The work itself is Dagster-free (``_retraining``); the run's
tags (set by ``sensors.retraining``, which launches the job) say which trigger event it serves.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import dagster as dg

from monitoring_assets.errors import MonitorError, RegistryError, WarehouseError
from monitoring_assets.resources import RegistryResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources import links
from resources.tags import RUN_ATTEMPT, RUN_EVENT_ID, RUN_REASON, RUN_REFUSED, RUN_TRIGGER_DAYS

if TYPE_CHECKING:
    from monitoring_assets import _retraining  # numpy, SQLAlchemy: imported in the steps
    from resources.registry import ModelRegistry  # MLflow: imported by RegistryResource.open, in the step


def build_retraining_definitions(*, spec: MonitorSpec, watched: dict[str, dg.AssetKey]) -> dg.Definitions:
    """The ``challenger_model`` asset, the retraining job that materializes it (launched by
    ``sensors.retraining``) and the rollback job. ``watched``: {"drift": feature_drift key,
    "performance": labeled_performance key}, the assets the trigger reads."""
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
        from monitoring_assets import _retraining  # noqa: PLC0415  (step time: monitoring_assets/_common.py)

        tags = context.run.tags
        event_id = tags.get(RUN_EVENT_ID) or f"{name}:manual:{context.run.run_id}"
        days = tuple(d for d in tags.get(RUN_TRIGGER_DAYS, "").split(",") if d)
        reason = tags.get(RUN_REASON, "manual")
        context.log.info(f"retraining {name} for event {event_id} ({reason})")
        with warehouse.open() as wh:
            details = {
                "monitor": name,
                "attempt": tags.get(RUN_ATTEMPT, "1"),
                "days": wh.events.trigger_context(spec, [dt.date.fromisoformat(d) for d in days]),
            }
            trigger = _retraining.Trigger(event_id, reason, days, details)
            if not wh.events.has(spec, "trigger", event_id):  # a retried attempt records the trigger once
                wh.events.append(
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
                context.instance.add_run_tags(context.run.run_id, {RUN_REFUSED: "true"})
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
        from monitoring_assets import _retraining  # noqa: PLC0415  (step time: monitoring_assets/_common.py)

        with warehouse.open() as wh, registry.open() as reg:
            from_version, to_version = _retraining.rollback(wh, reg, spec, config.reason, context.run.run_id)
        context.log.info(
            f"{registry_name}: champion moved back from v{from_version} to v{to_version} ({config.reason})"
        )

    @dg.job(name=f"{name}_rollback", description=f"Move {registry_name}'s champion back to previous_champion.")
    def rollback_job() -> None:
        rollback_op()

    return dg.Definitions(assets=[challenger_model], jobs=[retrain_job, rollback_job])


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


def _experiment_of(context: dg.AssetExecutionContext, registry: "ModelRegistry", run_id: str) -> str | None:
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
    if result.live:  # the challenger against the champion on the same recent, unlabeled rows
        live = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in result.live.items())
        meta["live_traffic"] = dg.MetadataValue.text(live)
    return meta
