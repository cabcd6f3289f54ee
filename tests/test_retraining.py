"""Retraining through Dagster with a real instance, a real DuckDB warehouse and a temporary SQLite
MLflow store: sensor ticks (trigger, no trigger, duplicate, restart, cooldown, failed run then
retry), the challenger registered with alias and tags, promotion, rollback, the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow.artifacts
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from monitoring_assets import build_definitions
from monitoring_assets._retraining import ATTEMPT_TAG
from monitoring_assets._retraining import EVENT_TAG as RUN_EVENT_TAG
from monitoring_assets.demo import DemoConfig, write_duckdb
from monitoring_assets.demo.run import _retrain, register_initial_champion
from monitoring_assets.errors import MonitorError
from monitoring_assets.resources import RegistryResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources import schema
from resources.registry import CHALLENGER, CHAMPION, EVENT_TAG, PREVIOUS_CHAMPION
from resources.trainer import load_trainer
from resources.warehouse import Warehouse
from tests.conftest import demo_spec_data

# 40 days through 2024-02-09: drift from 2024-02-01; labels arrived through 2024-02-03.
CONFIG = DemoConfig(rows_per_day=600, days=40, reference_rows=3100, last_day=dt.date(2024, 2, 9))
NAME = "credit_default"


@pytest.fixture(scope="module")
def tables(demo_tables: Callable[[DemoConfig], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return demo_tables(CONFIG)


def _spec(**retraining: Any) -> MonitorSpec:
    data = demo_spec_data()
    data["retraining"] = {**data["retraining"], "training_window_days": 14, **retraining}
    return parse_spec(data)


class Env:
    def __init__(
        self, spec: MonitorSpec, tmp: Path, tables: dict[str, pd.DataFrame], instance: Any, tracking: str
    ) -> None:
        self.spec, self.instance = spec, instance
        write_duckdb(tables, tmp / "wh.duckdb")
        self.url = f"duckdb:///{tmp / 'wh.duckdb'}"
        self.tracking = tracking
        self.registry = RegistryResource(tracking_uri=self.tracking, artifact_root=str(tmp / "artifacts"))
        with self.registry.open() as reg:
            register_initial_champion(reg, spec, tables["training_data"])
        self.defs = self.definitions(self.registry)
        self.sensor = self.defs.resolve_sensor_def(f"{NAME}_retraining_sensor")

    def definitions(self, registry: RegistryResource) -> dg.Definitions:
        return build_definitions(specs=[self.spec], warehouse=WarehouseResource(url=self.url), registry=registry)

    def report(self, day: dt.date, *, drift: bool | None = None, performance: str | None = None) -> None:
        """A materialization event as feature_drift / labeled_performance write it for one day."""
        if drift is not None:
            self.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    [NAME, "feature_drift"], partition=day.isoformat(), metadata={"dataset_drift": drift}
                )
            )
        if performance is not None:
            self.instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    [NAME, "labeled_performance"],
                    partition=day.isoformat(),
                    metadata={"performance_check": performance},
                )
            )

    def tick(self, cursor: str | None) -> Any:
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, definitions=self.defs)
        return self.sensor.evaluate_tick(context)

    def run(self, request: dg.RunRequest, defs: dg.Definitions | None = None) -> dg.ExecuteInProcessResult:
        job = (defs or self.defs).resolve_job_def(f"{NAME}_retraining")
        return job.execute_in_process(instance=self.instance, tags=request.tags, raise_on_error=False)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking, registry_uri=self.tracking)


@pytest.fixture
def env(tmp_path: Path, tables: dict[str, pd.DataFrame], mlflow_sqlite: Callable[[Path], str]) -> Iterator[Env]:
    with dg.instance_for_test() as instance:
        yield Env(_spec(), tmp_path, tables, instance, mlflow_sqlite(tmp_path))


D = dt.date(2024, 2, 1)


def _day(i: int) -> dt.date:
    return D + dt.timedelta(days=i)


def test_no_trigger_then_one_run_per_event(env: Env) -> None:
    env.report(_day(0), drift=True)
    env.report(_day(1), drift=False)
    env.report(_day(2), drift=True)
    quiet = env.tick(None)
    assert not quiet.run_requests
    assert "2 drifted day(s) in the last 5 (need 3 of 5)" in (quiet.skip_message or "")

    env.report(_day(3), drift=True)
    fired = env.tick(quiet.cursor)
    (request,) = fired.run_requests
    assert request.run_key == f"{NAME}:dataset_drift:2024-02-01:2024-02-04#1"
    assert request.tags["monitoring/reason"] == "dataset_drift"
    assert request.tags["monitoring/trigger_days"] == "2024-02-01,2024-02-03,2024-02-04"

    # The same event again (a repeated tick, or a daemon restarted on the stored cursor) asks with
    # the same run_key, which Dagster launches once.
    again = env.tick(fired.cursor)
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    restarted = env.tick(fired.cursor)
    assert [r.run_key for r in restarted.run_requests] == [request.run_key]


def _critical_quality(env: Env, day: dt.date) -> None:
    """A stored data-quality result of ``day`` with a failed critical expectation (a broken export)."""
    wh = Warehouse(env.url)
    try:
        with wh.begin() as conn:
            schema.ensure_tables(conn)
            conn.execute(
                schema.quality_results.insert(),
                {
                    "monitor": NAME,
                    "partition_date": day,
                    "suite": NAME,
                    "suite_digest": "0" * 64,
                    "expectation_index": 0,
                    "expectation_type": "expect_column_values_to_not_be_null",
                    "column_name": "loan_amount",
                    "severity": "critical",
                    "success": False,
                    "count_source": "profile",
                    "validation": "test",
                    "run_id": "test",
                    "spec_hash": "test",
                    "computed_at": dt.datetime(2024, 3, 1),
                },
            )
    finally:
        wh.dispose()


def test_challenger_registered_compared_and_recorded(env: Env, tables: dict[str, pd.DataFrame]) -> None:
    broken = dt.date(2024, 1, 25)  # inside the training window (labels through 2024-02-03, 14 days)
    _critical_quality(env, broken)
    for i in range(3):
        env.report(_day(i), drift=True)
    fired = env.tick(None)
    (request,) = fired.run_requests
    result = env.run(request)
    assert result.success

    client = env.client()
    challenger = client.get_model_version_by_alias(NAME, CHALLENGER)
    assert int(challenger.version) == 2
    assert int(client.get_model_version_by_alias(NAME, CHAMPION).version) == 1  # manual promotion
    assert challenger.tags[EVENT_TAG] == request.tags["monitoring/event_id"]
    assert challenger.tags["monitoring.reason"] == "dataset_drift"
    assert challenger.tags["dagster.run_id"] == result.run_id
    run = client.get_run(challenger.run_id)
    assert run.data.params["n_train"] == str(int(run.data.params["n_train"]))
    assert {"challenger_roc_auc", "champion_roc_auc"} <= set(run.data.metrics)
    assert run.data.tags["monitoring.spec_hash"] == env.spec.spec_hash()
    assert run.info.status == "FINISHED"  # the run ends; it never stays RUNNING in the MLflow UI
    description = challenger.description or ""
    challenger_auc, champion_auc = run.data.metrics["challenger_roc_auc"], run.data.metrics["champion_roc_auc"]
    assert f"roc_auc {challenger_auc:.3f} vs champion v1 {champion_auc:.3f}" in description
    assert "after dataset_drift" in description and "Decision: " in description

    (mat,) = result.asset_materializations_for_node(f"{NAME}__challenger_model")
    assert mat.metadata["version"].value == 2 and mat.metadata["promoted"].value is False
    assert "| roc_auc |" in str(mat.metadata["comparison"].value)

    events = Warehouse(env.url).events.read(env.spec)
    assert [e["event_type"] for e in events] == ["trigger", "retraining"]
    details = json.loads(events[1]["details_json"])
    assert details["event_id"] == request.tags["monitoring/event_id"]
    # The broken day is neither trained on nor held out: n_train counts the labeled rows of the
    # window's training days but that one, from the raw tables.
    assert details["excluded_days"] == [broken.isoformat()] == run.data.params["excluded_days"].split(",")
    log, day = tables["inference_log"], tables["inference_log"]["scored_at"].dt.date
    first, holdout_from = dt.date.fromisoformat(details["window"][0]), dt.date.fromisoformat(details["holdout_from"])
    labeled = log["request_id"].isin(tables["loan_outcomes"]["request_id"])
    assert details["n_train"] == int(((day >= first) & (day < holdout_from) & (day != broken) & labeled).sum())
    assert first < broken < holdout_from and (day == broken).sum() > 0
    assert events[1]["model_version"] == "2" and events[1]["run_id"] == result.run_id

    # Challenger against live traffic: both models score the rows scored after the labeled window
    # (no labels needed); flagged rates exact, the score drift near scipy's on the same scores.
    live = details["live_traffic"]
    last_labeled = dt.date.fromisoformat(details["window"][1])
    recent = log[day > last_labeled]
    features = [*env.spec.features.numeric, *env.spec.features.categorical]
    with env.registry.open() as reg:
        new = reg.load_model(NAME, 2).predict_proba(recent[features])[:, 1]
        old = reg.load_model(NAME, 1).predict_proba(recent[features])[:, 1]
    assert live["rows"] == len(recent) > 0
    assert (live["first_day"], live["last_day"]) == (min(day[day > last_labeled]).isoformat(), max(day).isoformat())
    assert live["flagged_rate_challenger"] == pytest.approx(np.mean(new >= 0.25), abs=1e-12)
    assert live["flagged_rate_champion"] == pytest.approx(np.mean(old >= 0.25), abs=1e-12)
    assert live["score_drift_method"] == "wasserstein"
    want = stats.wasserstein_distance(old, new) / np.std(old)
    assert live["score_drift"] == pytest.approx(want, rel=0.05, abs=5e-3)
    assert run.data.metrics["live_flagged_rate_change"] == pytest.approx(live["flagged_rate_change"])

    # The run succeeded: the next tick closes the event, and new drift inside the cooldown waits.
    for i in range(3, 6):
        env.report(_day(i), drift=True)
    after = env.tick(fired.cursor)
    assert not after.run_requests
    assert "done" in (after.skip_message or "") and "cooldown" in (after.skip_message or "")


def test_failed_run_is_retried_without_a_second_challenger(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    for i in range(3):
        env.report(_day(i), drift=True)
    fired = env.tick(None)
    (request,) = fired.run_requests

    unreachable = env.definitions(RegistryResource(tracking_uri="http://127.0.0.1:9"))
    failed = env.run(request, unreachable)
    assert not failed.success
    assert "http://127.0.0.1:9" in str(failed.all_events)  # the error names the tracking URI
    assert env.client().get_registered_model(NAME).aliases == {CHAMPION: 1}  # nothing half-registered

    retry = env.tick(fired.cursor)
    (second,) = retry.run_requests
    assert second.run_key == request.run_key.replace("#1", "#2")
    assert second.tags[ATTEMPT_TAG] == "2"
    # Without the cursor (the UI's preview), the attempt is counted from the event's runs alike.
    assert [r.run_key for r in env.tick(None).run_requests] == [second.run_key]
    assert env.run(second).success
    # A third attempt of the same event (say the run was re-executed) reuses the version.
    third = dg.RunRequest(run_key="x", tags={**second.tags, ATTEMPT_TAG: "3"})
    assert env.run(third).success
    versions = env.client().search_model_versions(f"name='{NAME}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    events = [e["event_type"] for e in Warehouse(env.url).events.read(env.spec)]
    # One trigger for three attempts; the failed first one is recorded (the alerts sensor sends it).
    assert events == ["trigger", "retraining_failed", "retraining", "retraining"]


def test_a_retraining_that_fails_after_starting_its_mlflow_run_ends_the_run_failed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        env.report(_day(i), drift=True)
    (request,) = env.tick(None).run_requests

    def broken(*args: object, **kwargs: object) -> dict[str, float]:
        raise RuntimeError("scoring the held-out rows broke")

    monkeypatch.setattr("resources.trainer.evaluate", broken)
    assert not env.run(request).success
    client = env.client()
    experiment = client.get_experiment_by_name(f"monitoring/{env.spec.name}")
    assert experiment is not None
    statuses = {r.info.run_name: r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert statuses and "RUNNING" not in statuses.values(), statuses
    assert [s for name, s in statuses.items() if name.startswith("retrain ")] == ["FAILED"], statuses


def test_demo_runs_the_sensors_request_and_a_fresh_evaluation_requests_nothing(env: Env) -> None:
    """The demo launches the request of a cursor-less tick as the daemon would; afterwards an
    evaluation without the cursor (the UI's sensor preview) finds the same event and its run."""
    for i in range(3):
        env.report(_day(i), drift=True)
    wh = Warehouse(env.url)
    try:
        said, details = _retrain(env.defs, env.spec, env.instance, {}, wh)
    finally:
        wh.dispose()
    event_id = f"{NAME}:dataset_drift:2024-02-01:2024-02-03"
    assert details is not None and details["event_id"] == event_id
    (run,) = env.instance.get_runs(dg.RunsFilter(tags={RUN_EVENT_TAG: event_id}))
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.run_id in said
    # What Dagster's daemon matches before launching a request (dagster._daemon.sensor
    # fetch_existing_runs): a run with the run key and, without a code-location origin, the
    # sensor's name. So the daemon, too, would skip this request.
    assert run.tags["dagster/run_key"] == f"{event_id}#1"
    assert run.tags["dagster/sensor_name"] == f"{NAME}_retraining_sensor"
    assert run.remote_job_origin is None
    assert [r.run_id for r in env.instance.get_runs(dg.RunsFilter(tags={"dagster/run_key": f"{event_id}#1"}))] == [
        run.run_id
    ]

    fresh = env.tick(None)
    assert fresh.run_requests == []
    assert f"event {event_id} done: retrained by run {run.run_id}" in (fresh.skip_message or "")
    # The cursor it returns remembers the event: the next tick waits out the cooldown.
    assert json.loads(fresh.cursor)["last_trigger_day"] == "2024-02-03"
    later = env.tick(fresh.cursor)
    assert later.run_requests == [] and "cooldown" in (later.skip_message or "")


def test_auto_promotion_and_rollback(
    tmp_path: Path, tables: dict[str, pd.DataFrame], mlflow_sqlite: Callable[[Path], str]
) -> None:
    with dg.instance_for_test() as instance:
        spec = _spec(promotion={"policy": "auto", "min_improvement": 0.0})
        env = Env(spec, tmp_path, tables, instance, mlflow_sqlite(tmp_path))
        for i in range(3):
            env.report(_day(i), drift=True)
        (request,) = env.tick(None).run_requests
        result = env.run(request)
        assert result.success
        (mat,) = result.asset_materializations_for_node(f"{NAME}__challenger_model")
        client = env.client()
        if mat.metadata["promoted"].value:
            assert client.get_registered_model(NAME).aliases == {CHAMPION: 2, PREVIOUS_CHAMPION: 1}
        else:  # the challenger did not beat the champion: nothing moved
            assert client.get_registered_model(NAME).aliases == {CHAMPION: 1, CHALLENGER: 2}
            pytest.fail(f"expected the challenger to win on post-drift data: {mat.metadata['decision'].value}")

        rollback = env.defs.resolve_job_def(f"{NAME}_rollback").execute_in_process(
            instance=instance,
            run_config={"ops": {f"{NAME}_rollback_champion": {"config": {"reason": "bad week"}}}},
        )
        assert rollback.success
        assert int(client.get_model_version_by_alias(NAME, CHAMPION).version) == 1
        events = Warehouse(env.url).events.read(env.spec)
        assert [e["event_type"] for e in events] == ["trigger", "retraining", "promotion", "rollback"]
        assert json.loads(events[-1]["details_json"]) == {"reason": "bad week", "from_version": 2, "to_version": 1}


def test_performance_error_triggers_on_its_own(env: Env) -> None:
    env.report(_day(0), drift=False, performance="ok")
    env.report(_day(1), drift=False, performance="error")
    (request,) = env.tick(None).run_requests
    assert request.tags["monitoring/reason"] == "performance_error"
    assert request.tags["monitoring/trigger_days"] == "2024-02-02"


def logistic_trainer(frame: pd.DataFrame, spec: MonitorSpec) -> Any:
    """A user trainer, named in the spec by import path: logistic regression on the numeric
    features (the pipeline drops the rest, so the model takes the full feature frame)."""
    model = make_pipeline(
        ColumnTransformer([("numeric", StandardScaler(), spec.features.numeric)], remainder="drop"),
        LogisticRegression(max_iter=500),
    )
    return model.fit(frame, frame["__label__"])


def test_user_trainer_by_import_path(
    tmp_path: Path, tables: dict[str, pd.DataFrame], mlflow_sqlite: Callable[[Path], str]
) -> None:
    with dg.instance_for_test() as instance:
        spec = _spec(trainer="tests.test_retraining:logistic_trainer")
        env = Env(spec, tmp_path, tables, instance, mlflow_sqlite(tmp_path))
        for i in range(3):
            env.report(_day(i), drift=True)
        (request,) = env.tick(None).run_requests
        result = env.run(request)
        assert result.success
        run = env.client().get_run(env.client().get_model_version_by_alias(NAME, CHALLENGER).run_id)
        assert run.data.params["trainer"] == "tests.test_retraining:logistic_trainer"
        (mat,) = result.asset_materializations_for_node(f"{NAME}__challenger_model")
        assert mat.metadata["version"].value == 2
        assert 0.5 < mat.metadata["challenger_roc_auc"].value < 1


def test_unknown_trainer_is_a_clear_error() -> None:
    with pytest.raises(MonitorError, match=r"retraining.trainer 'tests.nowhere:fit': cannot import 'tests.nowhere'"):
        load_trainer("tests.nowhere:fit")
    with pytest.raises(MonitorError, match=r"tests.test_retraining has no function 'missing'"):
        load_trainer("tests.test_retraining:missing")


def _one_retraining(env: Env) -> tuple[dg.ExecuteInProcessResult, Any]:
    """Three drifted days, the sensor's request, and its run; returns the run and the challenger version."""
    for i in range(3):
        env.report(_day(i), drift=True)
    (request,) = env.tick(None).run_requests
    result = env.run(request)
    assert result.success
    return result, env.client().get_model_version_by_alias(NAME, CHALLENGER)


def test_the_run_logs_its_report_and_dagster_and_mlflow_link_each_other_without_credentials(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_UI_URL", "http://127.0.0.1:3000/")
    monkeypatch.setenv("MLFLOW_UI_URL", "https://ml-user:s3cret@mlflow.example.com:8443/?x=1")
    result, challenger = _one_retraining(env)
    (mat,) = result.asset_materializations_for_node(f"{NAME}__challenger_model")
    run = env.client().get_run(challenger.run_id)

    run_url = f"http://127.0.0.1:3000/runs/{result.run_id}"
    assert challenger.tags["dagster.run_url"] == run_url == run.data.tags["dagster.run_url"]
    experiment = run.info.experiment_id
    assert mat.metadata["mlflow_run"] == dg.MetadataValue.url(
        f"https://mlflow.example.com:8443/#/experiments/{experiment}/runs/{challenger.run_id}"
    )
    assert mat.metadata["mlflow_model_version"] == dg.MetadataValue.url(
        f"https://mlflow.example.com:8443/#/models/{NAME}/versions/{challenger.version}"
    )
    assert "s3cret" not in str(result.all_events) and "ml-user" not in str(result.all_events)

    # The report: the 30 days through the trigger's last day (2024-02-03).
    path = run.data.tags["monitoring.report"]
    assert path == f"monitoring_report/{NAME}_2024-01-05_2024-02-03.html"
    (listed,) = env.client().list_artifacts(challenger.run_id, "monitoring_report")
    assert listed.path == path
    page = Path(
        mlflow.artifacts.download_artifacts(run_id=challenger.run_id, artifact_path=path, tracking_uri=env.tracking)
    )
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and NAME in text and "2024-01-05" in text and "2024-02-03" in text
    assert mat.metadata["monitoring_report"] == dg.MetadataValue.text(path)


def test_without_ui_addresses_the_links_are_ids_and_a_failed_report_only_warns(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_UI_URL", raising=False)
    monkeypatch.setenv("MLFLOW_UI_URL", "mlflow.example.com")  # no scheme: left out, with a warning

    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeError("a row value 12345 quoted by some library")

    monkeypatch.setattr("monitoring_assets.report.write_report", broken)
    result, challenger = _one_retraining(env)
    assert int(challenger.version) == 2
    assert "dagster.run_url" not in challenger.tags and challenger.tags["dagster.run_id"] == result.run_id
    (mat,) = result.asset_materializations_for_node(f"{NAME}__challenger_model")
    assert mat.metadata["mlflow_run"] == dg.MetadataValue.text(challenger.run_id)
    assert mat.metadata["mlflow_model_version"] == dg.MetadataValue.text(f"models:/{NAME}/{challenger.version}")
    logs = [r.user_message for r in env.instance.all_logs(result.run_id) if r.level >= logging.WARNING]
    assert any("MLFLOW_UI_URL must be the UI's http(s) address" in m and "does not start with http" in m for m in logs)
    assert not any("mlflow.example.com" in m for m in logs)  # the value is never quoted: it may hold a password

    run = env.client().get_run(challenger.run_id)
    assert run.data.tags["monitoring.report"] == "failed: RuntimeError" and run.info.status == "FINISHED"
    assert not env.client().list_artifacts(challenger.run_id, "monitoring_report")
    assert any("monitoring report was not logged to MLflow (RuntimeError)" in m for m in logs), logs
    assert "12345" not in str(result.all_events)
