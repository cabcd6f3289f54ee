"""`make demo` at the demo's volume (10,000 rows a day, 55 days): what each day shows follows from
the config's injection days alone (README "The demo"), never from the demo's own summary checks.
Its own file: it is the longest test, and the scheduler starts it first (conftest.SLOW_FIRST)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import mlflow
import mlflow.artifacts
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from monitoring_assets.demo import LABEL_DELAY, DemoConfig, run_demo
from monitoring_assets.resources import RegistryResource
from monitoring_assets.spec import MonitorSpec, load_spec
from tests.conftest import REPO


@pytest.fixture
def spec() -> MonitorSpec:
    return load_spec(REPO / "monitors" / "credit_default.yaml")


def test_demo_shows_each_injected_problem_from_its_day_and_never_before(
    tmp_path: Path, spec: MonitorSpec, mlflow_sqlite: Callable[[Path], str]
) -> None:
    """The README's claims about `make demo`, on 55 days (through 2024-02-24) at the demo's volume.

    What each day must show follows from the config's injection days alone (README "The demo"),
    never from the demo's own summary checks."""
    config = DemoConfig(days=55, last_day=dt.date(2024, 2, 24))
    with dg.instance_for_test() as instance:
        registry = RegistryResource(tracking_uri=mlflow_sqlite(tmp_path), artifact_root=str(tmp_path / "art"))
        outcome = run_demo(
            spec=spec, warehouse_path=tmp_path / "demo.duckdb", instance=instance, registry=registry, config=config
        )
        storage = instance.event_log_storage
        guards = {}
        for check in ("volume", "null_rate"):
            key = dg.AssetCheckKey(dg.AssetKey([spec.name, "daily_profile"]), check)
            guards[check] = {str(r.partition): r for r in storage.get_asset_check_execution_history(key, limit=100)}
        signals: dict[str, dict[dt.date, dg.AssetCheckEvaluation]] = {}  # issue 15's checks
        for asset, check in (
            ("multivariate_drift", "no_multivariate_drift"),
            ("operations", "slo"),
            ("business_metrics", "business_limits"),
        ):
            key = dg.AssetCheckKey(dg.AssetKey([spec.name, asset]), check)
            latest: dict[dt.date, dg.AssetCheckEvaluation] = {}
            for r in storage.get_asset_check_execution_history(key, limit=200):  # newest first
                if r.event is not None and r.event.dagster_event is not None and r.partition is not None:
                    day = dt.date.fromisoformat(str(r.partition))
                    latest.setdefault(day, r.event.dagster_event.asset_check_evaluation_data)
            signals[check] = latest
    summaries = outcome.days
    days = [config.day(n) for n in range(1, config.days + 1)]
    assert [s.day for s in summaries] == days
    by_day = {s.day: s for s in summaries}
    broken, drift_start = config.quality_break, config.drift_start
    fairness_start, concept_start = config.fairness_start, config.concept_start
    last_labeled = config.now.date() - LABEL_DELAY  # outcomes of later days arrive after `now`
    assert drift_start < fairness_start < concept_start < last_labeled < broken <= days[-1]  # all in view
    assert all(s.rows == config.rows_per_day for s in summaries)

    # The pipeline break: the suite fails critically on that day alone, and blocks its drift.
    assert {d for d, s in by_day.items() if s.quality == "error"} == {broken}
    assert all(s.quality in ("ok", "info") for d, s in by_day.items() if d != broken)
    assert {d for d, s in by_day.items() if s.drift_blocked} == {broken}
    # Covariate drift on every day from its injection on, except the one with no drift verdict.
    assert {d for d, s in by_day.items() if s.dataset_drift} == {d for d in days if d >= drift_start and d != broken}
    assert not any(s.drifted_features for s in summaries if s.day < drift_start)

    # The correlation break: only the multivariate check fails (no feature drifts before drift_start,
    # asserted above), on that day alone among the days before the covariate drift.
    multivariate = signals["no_multivariate_drift"]
    assert {d for d in days if d < drift_start and not multivariate[d].passed} == {config.correlation_break}
    # The slow day: latency p99 above its error limit and the error rate above its warn limit, that day only.
    slo = signals["slo"]
    assert {d for d in days if not slo[d].passed} == {config.slow_day}
    assert slo[config.slow_day].severity == dg.AssetCheckSeverity.ERROR
    assert "latency_p99" in (slo[config.slow_day].description or "")
    # Approvals stay in their reference band until the covariate drift raises the scores.
    business = signals["business_limits"]
    assert all(business[d].passed for d in days if d < drift_start)
    assert not business[drift_start].passed

    # Labels: complete up to the last labeled day, partial on it, none after it.
    assert all(by_day[d].label_coverage == 1.0 for d in days if d < last_labeled)
    assert 0 < by_day[last_labeled].label_coverage < 1
    assert all(by_day[d].label_coverage == 0.0 for d in days if d > last_labeled)
    # Performance: fine until the concept drift, ERROR from it on; a day with no labels cannot be
    # judged (0 < performance.min_labeled), a partly labeled one may have too few.
    for d in days:
        s = by_day[d]
        if d > last_labeled:
            assert s.too_few_labels and s.performance == "not_evaluated", d
        elif d == last_labeled:
            assert s.performance == "error" or s.too_few_labels, d
        elif d < fairness_start:
            assert s.performance == "ok", d
        elif d >= concept_start:
            assert s.performance == "error", d
    concept = by_day[concept_start]
    assert concept.primary_metric < 0.65
    # Performance estimated without labels: on every day, labeled or not. While the score stays
    # calibrated (before the fairness regression, covariate drift included) it is within 0.04 of
    # the realized ROC AUC (3 standard errors at 10,000 rows are about 0.018; the rest is the demo's
    # bias, README); from the concept drift on it cannot see the fall: 0.1 or more above it.
    assert all(0.5 < s.estimated_metric < 1 for s in summaries)
    labeled = [d for d in days if d < last_labeled]
    assert all(abs(by_day[d].estimated_metric - by_day[d].primary_metric) < 0.04 for d in labeled if d < fairness_start)
    assert all(by_day[d].estimated_metric - by_day[d].primary_metric > 0.1 for d in labeled if d >= concept_start)
    # Fairness: parity holds until the regression, fails from it on (selection rates need no labels).
    assert all(by_day[d].fairness == "ok" for d in days if d < fairness_start)
    assert all(by_day[d].fairness in ("warn", "error") for d in days if d >= fairness_start)
    assert by_day[fairness_start].fairness == "error" and by_day[fairness_start].worst_disparity > 0.2

    # Guards, from the check records Dagster stored: volume passes every day (10,000 rows each);
    # null_rate fails at ERROR on the break day only (loan_amount 90 % NULL, none in the reference).
    ok, failed = AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED
    assert sorted(guards["volume"]) == sorted(guards["null_rate"]) == [d.isoformat() for d in days]
    assert {r.status for r in guards["volume"].values()} == {ok}
    assert {day for day, r in guards["null_rate"].items() if r.status != ok} == {broken.isoformat()}
    null_break = guards["null_rate"][broken.isoformat()]
    evaluation = null_break.event.asset_check_evaluation if null_break.event else None
    assert null_break.status == failed and evaluation is not None
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR and "loan_amount" in str(evaluation.description)

    # Retraining: fired by the dataset drift; the challenger (version 2) beats the champion
    # (version 1) on the held-out days, as MLflow recorded them.
    r = outcome.retraining
    assert r is not None and r["reason"] == "dataset_drift", outcome.sensor
    assert all(drift_start <= dt.date.fromisoformat(d) != broken for d in r["trigger_days"])
    assert spec.model is not None
    client = mlflow.MlflowClient(tracking_uri=registry.tracking_uri)
    name = spec.model.registry_name
    assert int(client.get_model_version_by_alias(name, "champion").version) == 1
    assert int(client.get_model_version_by_alias(name, "challenger").version) == 2
    logged = client.get_run(r["mlflow_run_id"]).data.metrics
    assert logged["challenger_roc_auc"] > logged["champion_roc_auc"]

    # The retraining's MLflow run holds the report of the 30 days through its trigger's last day,
    # which shows the drift that fired it: the drifted days' verdicts and the drifted features.
    last_trigger = dt.date.fromisoformat(r["trigger_days"][-1])
    start = last_trigger - dt.timedelta(days=29)
    assert r["monitoring_report"] == f"monitoring_report/{spec.name}_{start}_{last_trigger}.html"
    page = mlflow.artifacts.download_artifacts(
        run_id=r["mlflow_run_id"], artifact_path=r["monitoring_report"], tracking_uri=registry.tracking_uri
    )
    text = Path(page).read_text(encoding="utf-8")
    assert all(day in text for day in r["trigger_days"]) and "data:image/png;base64," in text
    assert "income" in text and "psi" in text

    # Neither model logs a row of its training data as its input example: one synthetic row each.
    examples = sorted((tmp_path / "art").rglob("input_example.json"))
    assert len(examples) == 2
    assert all(len(json.loads(f.read_text())["data"]) == 1 for f in examples)
