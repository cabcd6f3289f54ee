"""Drift- and performance-triggered retraining: the sensor that launches a monitor's retraining
job (the job and its ``challenger_model`` asset: ``monitoring_assets._retraining_assets``).

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
from typing import Any

import dagster as dg

from monitoring_assets._metadata import DATASET_DRIFT_KEY, PERFORMANCE_CHECK_KEY
from monitoring_assets.core.trigger import DayVerdict, TriggerEvent, TriggerPolicy, evaluate_trigger
from monitoring_assets.spec import MonitorSpec
from resources.tags import RUN_ATTEMPT, RUN_EVENT_ID, RUN_REASON, RUN_REFUSED, RUN_TRIGGER_DAYS

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
        t.estimated_performance,
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
    return {
        dt.date.fromisoformat(d): DayVerdict(v.get("drift"), v.get("performance"), v.get("estimated"))
        for d, v in days.items()
    }


def _request(pending: dict[str, Any]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{pending['event_id']}#{pending['attempt']}",
        tags={
            RUN_EVENT_ID: pending["event_id"],
            RUN_REASON: pending["reason"],
            RUN_TRIGGER_DAYS: ",".join(pending["days"]),
            RUN_ATTEMPT: str(pending["attempt"]),
        },
    )


def build_retraining_sensor(*, spec: MonitorSpec, watched: dict[str, dg.AssetKey]) -> dg.SensorDefinition:
    """The sensor that launches ``<name>_retraining`` (``monitoring_assets._retraining_assets``)
    when the trigger policy fires. ``watched``: {"drift": feature_drift key, "performance":
    labeled_performance key, and "estimated": estimated_performance key when that trigger is on}."""
    name = spec.name

    @dg.sensor(
        name=f"{name}_retraining_sensor",
        job_name=f"{name}_retraining",
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

    return retraining_sensor


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
    runs = instance.get_runs(dg.RunsFilter(tags={RUN_EVENT_ID: event_id}))
    succeeded = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
    latest = max(runs, key=lambda r: int(r.tags.get(RUN_ATTEMPT, "0")), default=None)
    if succeeded:
        state["pending"] = None
        return None, f"event {event_id} done: retrained by run {succeeded[0].run_id}"
    if latest is not None and latest.status in FAILED and latest.tags.get(RUN_REFUSED):
        state["pending"] = None
        return None, f"event {event_id} refused by run {latest.run_id} (see monitoring.events): not retried"
    if latest is not None and latest.status not in FAILED:
        return None, f"retraining for {event_id} is {latest.status.value.lower()} (run {latest.run_id})"
    if latest is not None:
        # A new run_key after the highest attempt: Dagster would skip a failed one's.
        pending["attempt"] = max(int(r.tags.get(RUN_ATTEMPT, "0")) for r in runs) + 1
    return _request(pending), ""


def _last_trigger(state: dict[str, Any]) -> dt.date | None:
    day = state.get("last_trigger_day")
    return dt.date.fromisoformat(day) if day else None
