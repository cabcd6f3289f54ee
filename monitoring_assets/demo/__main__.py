"""`make demo`: build the demo warehouse, run the monitor over every day, print what it found."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from pathlib import Path

import dagster as dg

from monitoring_assets.demo.data import (
    CONCEPT_DAY,
    CORRELATION_DAY,
    DRIFT_DAY,
    FAIRNESS_DAY,
    LABEL_DELAY,
    QUALITY_BREAK_DAY,
    SLOW_DAY,
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
from monitoring_assets.resources import RegistryResource
from monitoring_assets.spec import MonitorSpec, load_spec

WAREHOUSE_PATH = Path("data/demo_warehouse.duckdb")
MLFLOW_UI = ".venv/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"
SPEC_PATH = Path("monitors/credit_default.yaml")  # the template: its partitions are dated 2024
DATED_SPECS_DIR = Path("data/monitors")  # `make dev` loads this directory when it exists (Makefile)


def write_dated_spec(template: Path, directory: Path, config: DemoConfig) -> MonitorSpec:
    """Copy the spec ``template`` into ``directory`` with its partitions set to the demo's days:
    ``start_date`` day 1, ``end_date`` (exclusive) the day after the last, so the partitions end on
    ``config.last_day``. The rest of the file, comments included, is the template's."""
    start, end = config.first_day, config.last_day + dt.timedelta(days=1)
    text = template.read_text()
    values = {
        "start_date": f'"{start}"  # day 1 of {config.days}',
        "end_date": f'"{end}"  # exclusive: the last partition is {config.last_day}, day {config.days}',
    }
    for key, value in values.items():
        text, found = re.subn(rf"^(\s+{key}:).*$", rf"\g<1> {value}", text, count=1, flags=re.MULTILINE)
        if not found:
            raise ValueError(f"{template}: no partitions.{key} line to date")
    header = (
        f"# Written by `make demo` from {template}, with the partitions dated to its days "
        f"({start}..{config.last_day});\n# `make dev` loads this directory while it exists. Edit {template}.\n"
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / template.name
    path.write_text(header + text)
    spec = load_spec(path)
    if (spec.partitions.start_date, spec.partitions.end_date) != (start, end):  # a template laid out otherwise
        raise ValueError(f"{path}: partitions {spec.partitions} after dating, expected {start}..{end}")
    return spec


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
    config = DemoConfig()
    spec = write_dated_spec(SPEC_PATH, DATED_SPECS_DIR, config)
    if "DAGSTER_HOME" in os.environ:
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        instance = dg.DagsterInstance.get()
        release_dead_demo_runs(instance)
    else:
        print("DAGSTER_HOME is not set: runs go to a throwaway instance and will not show in `make dev`.")
        instance = dg.DagsterInstance.ephemeral()
    print(
        f"Generating {config.days} days x {config.rows_per_day} scored applications into {WAREHOUSE_PATH}, "
        f"day 1 = {config.first_day} .. day {config.days} = {config.last_day} (yesterday): covariate drift "
        f"from day {DRIFT_DAY} ({config.drift_start}), a fairness regression from day {FAIRNESS_DAY} "
        f"({config.fairness_start}), concept drift from day {CONCEPT_DAY} ({config.concept_start}), a broken "
        f"export on day {QUALITY_BREAK_DAY} ({config.quality_break}), a slow service on day {SLOW_DAY} "
        f"({config.slow_day}), a broken join of loan amounts on day {CORRELATION_DAY} ({config.correlation_break}); "
        f"labels arrive {LABEL_DELAY.days} days after scoring. Monitor spec: {spec.origin} ..."
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
        f"{drifted_days[0] if drifted_days else 'none'} (injected from {config.drift_start}). "
        f"Finished in {time.monotonic() - started:.0f}s."
    )
    problems = (
        unexpected(summaries, config)
        + guard_problems(outcome, config)
        + retraining_problems(outcome)
        + alert_problems(outcome)
    )
    if problems:
        print("UNEXPECTED: " + "; ".join(problems))
        return 1
    fairness, concept, broken = config.fairness_start, config.concept_start, config.quality_break
    print(
        "As designed: no drift before the injection day, dataset drift on every day from it on but the blocked "
        f"one; performance within tolerance until {fairness}, ERROR on every labeled day from {concept}; "
        f"the parity check failing from {fairness} and passing before; label coverage below 100% on the last "
        f"{LABEL_DELAY.days} days; the data-quality check ERROR on {broken} only (loan_amount mostly NULL, "
        "a renamed employment type), its drift blocked, and every other day passing the suite; the null_rate "
        f"check ERROR on {broken} only (loan_amount 90% NULL) and the volume check passing every day."
    )
    print(
        f"The estimated ROC AUC (est., from the score histogram and the reference's calibration, no labels) "
        f"follows the realized one (auc) through the covariate drift from {config.drift_start}, and stays up "
        f"after the concept drift from {concept} while the realized one falls: an estimate without labels "
        'cannot see concept drift (README, "Performance estimated without labels").'
    )
    print(
        f"Three more signals from the same tables: the multivariate check (multiv.) WARN on "
        f"{config.correlation_break}, "
        "where every column keeps its distribution but incomes and loan amounts stop moving together, and on the "
        f"drifted days; the SLO check (slo) ERROR on the slow {config.slow_day} only; the approval rate (kpi) in its "
        f"reference band until the drift, outside it from {config.drift_start}."
    )
    print(
        "The retraining sensor fired on the drift, and the challenger beats the champion on the held-out days; "
        "promotion is manual, so the champion stays."
    )
    print(
        f"Open the Dagster UI with `make dev` (http://127.0.0.1:3000; it loads {DATED_SPECS_DIR}/, partitions "
        f"{config.first_day}..{config.last_day}) to browse assets, checks and plots,"
    )
    print(f"and MLflow with `{MLFLOW_UI}` (http://127.0.0.1:5000).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
