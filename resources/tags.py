"""Every tag name the plugin writes, in one place.

Two systems, two spellings: Dagster run tags use ``/`` (``monitoring/event_id``, like Dagster's
own ``dagster/run_key``), MLflow tags use ``.`` (``monitoring.event_id``, like MLflow's own
``mlflow.runName``). The same trigger event is named in both: the run tag ties a Dagster run to
its event, the MLflow tag ties a registered version to it (a retried run finds its version so).
"""

# -- Dagster run tags ------------------------------------------------------------------------------

RUN_EVENT_ID = "monitoring/event_id"  # the trigger event a retraining run serves
RUN_REASON = "monitoring/reason"  # why a run was launched: dataset_drift, performance_error, labels, ...
RUN_TRIGGER_DAYS = "monitoring/trigger_days"  # the days behind the trigger, comma-separated
RUN_ATTEMPT = "monitoring/attempt"  # the attempt of the event (a failed run is retried as the next)
RUN_REFUSED = "monitoring/refused"  # a retraining that refused (bad labels, wrong task): not retried

# -- MLflow tags (runs and model versions) ---------------------------------------------------------

EVENT_ID = "monitoring.event_id"
REASON = "monitoring.reason"
TRIGGER_DAYS = "monitoring.trigger_days"
TRIGGER = "monitoring.trigger"  # the trigger's aggregates (drift share, drifted features, ...) as JSON
SPEC_HASH = "monitoring.spec_hash"
MLFLOW_RUN_ID = "monitoring.mlflow_run_id"  # on a version: the run that trained it
WINDOW = "monitoring.window"  # on a version: the labeled days it was trained and held out on
REPORT = "monitoring.report"  # on a run: the report artifact's path, or "failed: <class>"
DAGSTER_RUN_ID = "dagster.run_id"
DAGSTER_RUN_URL = "dagster.run_url"

# -- MLflow tags of the demo's initial model (monitoring_assets/demo) ------------------------------

ROLE = "monitoring.role"
REFERENCE_WINDOW = "monitoring.reference_window"
REFERENCE_TABLE = "monitoring.reference_table"
