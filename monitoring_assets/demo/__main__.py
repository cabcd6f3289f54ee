"""`make demo`: build the demo warehouse, run the monitor over every day, print what it found."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg

from monitoring_assets.demo.data import (
    CONCEPT_START,
    DRIFT_START,
    FAIRNESS_START,
    LABEL_DELAY,
    QUALITY_BREAK,
    DemoConfig,
)
from monitoring_assets.demo.run import (
    alert_problems,
    format_alerts,
    format_retraining,
    format_summary,
    guard_problems,
    retraining_problems,
    run_demo,
    unexpected,
)
from monitoring_assets.spec import load_spec
from resources.registry import RegistryResource

WAREHOUSE_PATH = Path("data/demo_warehouse.duckdb")
MLFLOW_UI = ".venv/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"
SPEC_PATH = Path("monitors/credit_default.yaml")


def release_dead_demo_runs(instance: dg.DagsterInstance) -> None:
    """Fail the runs an earlier demo left unfinished (it was killed) and free their pool slots.

    With the pool limit of ``deploy/dagster.duckdb.yaml`` a killed demo's slot would block this one
    for ever: ``make demo`` runs no daemon to do it. Only runs executed in a Python process (no code
    location origin: the demo's) are touched; runs launched from the UI are the daemon's to monitor."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    for run_id in storage.get_concurrency_run_ids():
        run = instance.get_run_by_id(run_id)
        if run is None or run.remote_job_origin is not None:
            continue
        if not run.is_finished:
            instance.report_run_failed(run, "an earlier `make demo` ended without finishing this run")
        storage.free_concurrency_slots_for_run(run_id)
        print(f"Freed the pool slots of run {run_id}, left by an earlier demo.")


def main() -> int:
    started = time.monotonic()
    spec = load_spec(SPEC_PATH)
    config = DemoConfig()
    if "DAGSTER_HOME" in os.environ:
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        instance = dg.DagsterInstance.get()
        release_dead_demo_runs(instance)
    else:
        print("DAGSTER_HOME is not set: runs go to a throwaway instance and will not show in `make dev`.")
        instance = dg.DagsterInstance.ephemeral()
    print(
        f"Generating {config.days} days x {config.rows_per_day} scored applications into {WAREHOUSE_PATH} "
        f"(covariate drift from {DRIFT_START}, a fairness regression from {FAIRNESS_START}, concept drift "
        f"from {CONCEPT_START}, a broken export on {QUALITY_BREAK}; labels arrive {LABEL_DELAY.days} days after "
        "scoring) ..."
    )
    registry = RegistryResource()  # SQLite store under mlruns/ (or $MLFLOW_TRACKING_URI, see README)
    outcome = run_demo(spec=spec, warehouse_path=WAREHOUSE_PATH, instance=instance, registry=registry, config=config)
    summaries = outcome.days
    print()
    print(format_summary(summaries))
    print()
    print(format_retraining(outcome))
    print()
    print(format_alerts(outcome))
    print()
    drifted_days = [s.day for s in summaries if s.dataset_drift]
    print(
        f"Dataset drift on {len(drifted_days)} of {len(summaries)} days; first on "
        f"{drifted_days[0] if drifted_days else 'none'} (injected from {DRIFT_START}). "
        f"Finished in {time.monotonic() - started:.0f}s."
    )
    problems = (
        unexpected(summaries, config) + guard_problems(outcome) + retraining_problems(outcome) + alert_problems(outcome)
    )
    if problems:
        print("UNEXPECTED: " + "; ".join(problems))
        return 1
    print(
        "As designed: no drift before the injection day, dataset drift on every day from it on but the blocked "
        f"one; performance within tolerance until {FAIRNESS_START}, ERROR on every labeled day from {CONCEPT_START}; "
        f"the parity check failing from {FAIRNESS_START} and passing before; label coverage below 100% on the last "
        f"{LABEL_DELAY.days} days; the data-quality check ERROR on {QUALITY_BREAK} only (loan_amount mostly NULL, "
        "a renamed employment type), its drift blocked, and every other day passing the suite; the null_rate "
        f"check ERROR on {QUALITY_BREAK} only (loan_amount 90% NULL) and the volume check passing every day."
    )
    print(
        "The retraining sensor fired on the drift, and the challenger beats the champion on the held-out days; "
        "promotion is manual, so the champion stays."
    )
    print("Open the Dagster UI with `make dev` (http://127.0.0.1:3000) to browse assets, checks and plots,")
    print(f"and MLflow with `{MLFLOW_UI}` (http://127.0.0.1:5000).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
