"""Alerting through Dagster with a real instance, a real DuckDB warehouse and a local HTTP server
standing in for the generic webhook and Slack: real check results alert once and resolve once;
dedup within the window (clock injected) and after it; dedup state surviving a lost cursor;
retraining events; a failing (HTTP 500) and a hanging endpoint retried, then recorded
undelivered while the tick succeeds; webhook URLs never in logs, events or cursors."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.instigation_logger import get_instigation_log_records
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

from monitoring_assets import build_definitions
from monitoring_assets._factory import ALERTS_KEY, WAREHOUSE_KEY
from monitoring_assets.demo import DemoConfig, write_duckdb
from monitoring_assets.resources import AlertsResource, WarehouseResource, alerts_resource
from monitoring_assets.spec import MonitorSpec, load_specs, parse_spec
from resources.alerts import (
    DESCRIPTION_LIMIT,
    SLACK_WEBHOOK_URL_ENV,
    WEBHOOK_URL_ENV,
    Alert,
    AlertSink,
    Destination,
    RetryPolicy,
    alert_log,
    mask_url,
    scrub,
)
from resources.warehouse import Warehouse
from sensors.alerts import build_alert_sensor, evaluate_alerts, failed_days_text, failure_tier, new_executions
from tests.conftest import REPO, demo_spec_data

NAME = "credit_default"
DRIFT = dg.AssetKey([NAME, "feature_drift"])
PERF = dg.AssetKey([NAME, "labeled_performance"])
CHECK_PERF = "performance_vs_reference"
T0 = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


class Receiver:
    """A local HTTP server: ``/fail/...`` answers 500, ``/missing/...`` 404, ``/slow/...`` sleeps
    ``slow_seconds`` before answering, anything else 200. Every POST is kept as (path, JSON)."""

    def __init__(self, slow_seconds: float = 1.0) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._active = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver._lock:
                    receiver._active += 1
                try:
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    with receiver._lock:
                        receiver.requests.append((self.path, body))
                    if self.path.startswith("/slow"):
                        time.sleep(receiver.slow_seconds)
                    status = {"/fail": 500, "/missing": 404}.get("/" + self.path.split("/")[1], 200)
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up (timeout): nothing to answer
                finally:
                    with receiver._lock:
                        receiver._active -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def posts(self, prefix: str) -> list[Any]:
        with self._lock:
            return [body for path, body in self.requests if path.startswith(prefix)]

    def close(self) -> None:
        deadline = time.monotonic() + 5
        while self._active and time.monotonic() < deadline:
            time.sleep(0.05)
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _spec(**alerts: Any) -> MonitorSpec:
    data = demo_spec_data()
    data["model"] = None  # no MLflow here: alerts only
    data["alerts"] = {**data["alerts"], **alerts}
    # 600 rows a day split into age bands make parity gaps of 0.1 from noise alone: widen the
    # limits so that the real-run test's fairness check passes and its drift checks fail.
    wide = {"warn": 0.5, "error": 0.9}
    data["fairness"]["thresholds"] = {"demographic_parity_difference": wide, "equalized_odds_difference": wide}
    return parse_spec(data)


class Env:
    """A monitor's definitions over a DuckDB warehouse and a Dagster instance, with ticks of its
    alert sensor: through Dagster (real clock) or ``evaluate_alerts`` (injected clock)."""

    def __init__(self, spec: MonitorSpec, url: str, instance: dg.DagsterInstance, alerts: AlertsResource) -> None:
        self.spec, self.url, self.instance, self.alerts = spec, url, instance, alerts
        self.defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url), alerts=alerts)
        self.sensor = self.defs.resolve_sensor_def(f"{NAME}_alerts")
        self.cursor: str | None = None
        self.log = logging.getLogger("test_alerts")

    def tick(self, now: dt.datetime | None = None) -> str:
        """One tick from the stored cursor; returns its summary and keeps its cursor."""
        if now is None:
            context = dg.build_sensor_context(
                instance=self.instance,
                cursor=self.cursor,
                resources={WAREHOUSE_KEY: WarehouseResource(url=self.url), ALERTS_KEY: self.alerts},
                definitions=self.defs,
            )
            result = self.sensor.evaluate_tick(context)
            assert not result.run_requests
            for event in result.asset_events:  # what the daemon does with them (dagster/_daemon/sensor.py)
                self.instance.report_runless_asset_event(event)
            self.cursor = result.cursor
            return result.skip_message or ""
        wh = Warehouse(self.url)
        try:
            tick = evaluate_alerts(
                instance=self.instance,
                cursor=self.cursor,
                spec=self.spec,
                checks=[dg.AssetCheckKey(DRIFT, "no_dataset_drift"), dg.AssetCheckKey(PERF, CHECK_PERF)],
                wh=wh,
                sink=self.alerts.settings().sink(self.log, self.spec.alerts),
                window=self.alerts.settings().dedup_window(self.spec.alerts),
                now=now,
            )
        finally:
            wh.dispose()
        self.cursor = tick.cursor
        return tick.summary(NAME)

    def report(self, key: dg.AssetKey, check: str, *, passed: bool, severity: str = "ERROR") -> None:
        """An unpartitioned check result (as our checks wrote them before per-day results; the sensor
        still reads them), through Dagster's public runless API."""
        day = "2024-02-03"
        self.instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=check,
                passed=passed,
                severity=dg.AssetCheckSeverity(severity),
                description=f"{check} on {day}: " + ("ok" if passed else "share 0.67 >= 0.5"),
                metadata={
                    "failed_days": 0 if passed else 1,
                    "days": 1,
                    "first_failed_day": "" if passed else day,
                    "last_failed_day": "" if passed else day,
                },
            )
        )

    def alert_rows(self) -> list[dict[str, Any]]:
        wh = Warehouse(self.url)
        try:
            return [json.loads(r["details_json"]) for r in wh.events.read(self.spec, ["alert"])]
        finally:
            wh.dispose()


def _alerts(receiver: Receiver, **config: Any) -> AlertsResource:
    return AlertsResource(
        webhook_url=f"{receiver.base}/hook/abc", slack_webhook_url=f"{receiver.base}/slack/xyz", **config
    )


@pytest.fixture
def env(tmp_path: Path, receiver: Receiver) -> Iterator[Env]:
    with dg.instance_for_test() as instance:
        yield Env(_spec(), f"duckdb:///{tmp_path / 'wh.duckdb'}", instance, _alerts(receiver))


# -- real check results ---------------------------------------------------------------------------


# Through 2024-02-02 (pinned: the demo's days end yesterday by default), drift from day 32, 02-01.
CONFIG = DemoConfig(rows_per_day=600, days=33, reference_rows=3100, last_day=dt.date(2024, 2, 2))


@pytest.fixture(scope="module")
def tables(demo_tables: Callable[[DemoConfig], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return demo_tables(CONFIG)


def _ours(alerts: list[Any]) -> list[Any]:
    """Alerts of the drift, performance and fairness checks: the repository's data-quality suite,
    when there is one, alerts through the same path and is judged by its own tests."""
    return [a for a in alerts if "data_quality" not in json.dumps(a, default=str)]


def test_real_check_results_alert_once_then_resolve_once(
    tmp_path: Path, tables: dict[str, pd.DataFrame], receiver: Receiver
) -> None:
    write_duckdb(tables, tmp_path / "wh.duckdb")
    alerts = _alerts(receiver, slack_min_tier="critical")
    with dg.instance_for_test() as instance:
        env = Env(_spec(), f"duckdb:///{tmp_path / 'wh.duckdb'}", instance, alerts)
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        reference = env.defs.resolve_job_def(f"{NAME}_reference")
        assert reference.execute_in_process(instance=instance, run_config=quiet).success
        daily = env.defs.resolve_job_def(f"{NAME}_daily_monitoring")
        span = {"dagster/asset_partition_range_start": "2024-01-30", "dagster/asset_partition_range_end": "2024-02-02"}
        run = daily.execute_in_process(instance=instance, run_config=quiet, tags=span)
        assert run.success

        assert env.tick().startswith(f"{NAME}: sent ")
        hooks = {b["check"]: b for b in _ours(receiver.posts("/hook/"))}
        # Drift failed on 02-01 and 02-02; performance (no labels yet) and fairness passed: quiet.
        assert {c: (b["tier"], b["kind"], b["severity"]) for c, b in hooks.items()} == {
            f"{NAME}/feature_drift:no_dataset_drift": ("critical", "firing", "ERROR"),
            f"{NAME}/feature_drift:no_feature_drift": ("warning", "firing", "WARN"),
            f"{NAME}/prediction_drift:no_prediction_drift": ("warning", "firing", "WARN"),
        }
        dataset = hooks[f"{NAME}/feature_drift:no_dataset_drift"]
        # Aggregates only: each failed day's own description (the drifted features with their values
        # and thresholds) and the day counts, as the check reported them per day.
        per_day = {e.partition: e for e in run.get_asset_check_evaluations() if e.check_name == "no_dataset_drift"}
        assert sorted(per_day) == ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
        failed = [d for d, e in sorted(per_day.items()) if not e.passed]
        assert failed == ["2024-02-01", "2024-02-02"]
        assert dataset["description"] == " | ".join(f"{d}: {per_day[d].description}" for d in failed)
        for d in failed:
            assert (per_day[d].description or "").startswith(
                "4 of 6 features drifted (share 0.667 >= 0.5): income psi "
            )
        assert (dataset["failed_days"], dataset["days"], dataset["first_failed_day"], dataset["last_failed_day"]) == (
            2,
            4,
            "2024-02-01",
            "2024-02-02",
        )
        # Shown on the asset too: an observation on its last failed day, with the tier.
        seen = instance.fetch_observations(DRIFT, limit=10).records
        (dataset_seen,) = [r for r in seen if "no_dataset_drift" in r.asset_observation.metadata["alert_check"].value]
        assert dataset_seen.partition_key == "2024-02-02"
        assert dataset_seen.asset_observation.metadata["alert_tier"].value == "critical"
        assert dataset_seen.asset_observation.metadata["alert"].value == dataset["text"]
        # Slack takes critical only here: one message, in Slack's shape.
        (slack,) = _ours(receiver.posts("/slack/"))
        assert set(slack) == {"text"}
        assert slack["text"].startswith(":rotating_light: [CRITICAL] credit_default: check no_dataset_drift failed")

        rows = _ours(env.alert_rows())
        assert sorted((r["check"].split(":")[1], r["tier"], r["kind"]) for r in rows) == [
            ("no_dataset_drift", "critical", "firing"),
            ("no_feature_drift", "warning", "firing"),
            ("no_prediction_drift", "warning", "firing"),
        ]
        by_check = {r["check"].split(":")[1]: r for r in rows}
        assert by_check["no_dataset_drift"]["delivered"] == ["log", "webhook", "slack"]
        assert by_check["no_feature_drift"]["delivered"] == ["log", "webhook"]
        assert by_check["no_feature_drift"]["skipped"] == {"slack": "below its minimum tier critical"}
        assert all(r["undelivered"] == {} for r in rows)
        # The run's planned-per-partition executions are finished: nothing left waiting.
        assert all(c["waiting"] == [] for c in json.loads(env.cursor or "")["checks"].values())

        posted = len(receiver.requests)
        assert env.tick() == f"{NAME}: no new alerts"
        assert len(receiver.requests) == posted

        # A clean day: every check passes; each alerted check resolves once, the others stay quiet.
        assert daily.execute_in_process(instance=instance, run_config=quiet, partition_key="2024-01-20").success
        assert "resolved" in env.tick()
        resolved = [b for b in _ours(receiver.posts("/hook/")) if b["kind"] == "resolved"]
        assert sorted((b["check"].split(":")[1], b["tier"]) for b in resolved) == [
            ("no_dataset_drift", "critical"),
            ("no_feature_drift", "warning"),
            ("no_prediction_drift", "warning"),
        ]
        slack_texts = [b["text"] for b in _ours(receiver.posts("/slack/"))]
        assert len(slack_texts) == 2
        assert slack_texts[1].startswith(":white_check_mark: [RESOLVED] credit_default: check no_dataset_drift")
        assert env.tick() == f"{NAME}: no new alerts"

        wh = Warehouse(env.url)
        try:
            log = alert_log(wh, env.spec)
            assert [(e["kind"], e["check"].split(":")[1]) for e in _ours(log)].count(
                ("resolved", "no_dataset_drift")
            ) == 1
            assert len(_ours(log)) == 6
            assert wh.events.delete(env.spec, ["alert"]) == len(log)  # how the demo can start afresh
            assert alert_log(wh, env.spec) == []
        finally:
            wh.dispose()


# -- dedup and recovery (runless check results, injected clock) ---------------------------------------


def test_same_failure_is_not_resent_within_the_window_and_is_after_it(env: Env, receiver: Receiver) -> None:
    env.report(DRIFT, "no_dataset_drift", passed=False)
    assert env.tick(T0) == f"{NAME}: sent 1 alert(s) (1 firing)"
    env.report(DRIFT, "no_dataset_drift", passed=False)
    assert env.tick(T0 + dt.timedelta(hours=23)) == f"{NAME}: no new alerts; 1 repeat(s) within the dedup window"
    assert len(receiver.posts("/hook/")) == 1

    # A lost cursor (a new sensor, a wiped instance) does not repeat it: the state is in the table.
    env.cursor = None
    assert "1 repeat(s)" in env.tick(T0 + dt.timedelta(hours=23, minutes=30))
    assert len(receiver.posts("/hook/")) == 1

    # After the window the still-failing check is sent again, once.
    env.report(DRIFT, "no_dataset_drift", passed=False)
    assert env.tick(T0 + dt.timedelta(hours=25)) == f"{NAME}: sent 1 alert(s) (1 firing)"
    env.report(DRIFT, "no_dataset_drift", passed=False)
    assert "1 repeat(s)" in env.tick(T0 + dt.timedelta(hours=26))
    assert [b["tier"] for b in receiver.posts("/hook/")] == ["critical", "critical"]

    # Another severity of the same check is another alert (WARN after ERROR).
    env.report(DRIFT, "no_dataset_drift", passed=False, severity="WARN")
    assert env.tick(T0 + dt.timedelta(hours=27)) == f"{NAME}: sent 1 alert(s) (1 firing)"
    assert [r["sent_at"] for r in env.alert_rows()] == [
        T0.isoformat(),
        (T0 + dt.timedelta(hours=25)).isoformat(),
        (T0 + dt.timedelta(hours=27)).isoformat(),
    ]


def test_window_comes_from_the_spec(tmp_path: Path, receiver: Receiver) -> None:
    with dg.instance_for_test() as instance:
        env = Env(_spec(dedup_window_hours=2), f"duckdb:///{tmp_path / 'wh.duckdb'}", instance, _alerts(receiver))
        env.report(DRIFT, "no_dataset_drift", passed=False)
        env.tick(T0)
        env.report(DRIFT, "no_dataset_drift", passed=False)
        assert env.tick(T0 + dt.timedelta(hours=3)) == f"{NAME}: sent 1 alert(s) (1 firing)"


def test_recovery_sends_exactly_one_resolved_message(env: Env, receiver: Receiver) -> None:
    env.report(PERF, "performance_vs_reference", passed=False, severity="WARN")
    env.tick(T0)
    env.report(PERF, "performance_vs_reference", passed=True, severity="WARN")
    assert env.tick(T0 + dt.timedelta(hours=1)) == f"{NAME}: sent 1 alert(s) (1 resolved)"
    env.report(PERF, "performance_vs_reference", passed=True, severity="WARN")
    assert env.tick(T0 + dt.timedelta(hours=2)) == f"{NAME}: no new alerts"

    hooks = receiver.posts("/hook/")
    assert [(b["kind"], b["tier"]) for b in hooks] == [("firing", "warning"), ("resolved", "warning")]
    assert hooks[1]["summary"] == (
        "check performance_vs_reference passes again on credit_default/labeled_performance (alerted at warning)"
    )
    # The resolution reaches Slack, which took the warning (Slack's default minimum tier).
    slack = [b["text"] for b in receiver.posts("/slack/")]
    assert [t.split(" ")[:2] for t in slack] == [[":warning:", "[WARNING]"], [":white_check_mark:", "[RESOLVED]"]]
    assert slack[0].endswith("share 0.67 &gt;= 0.5")  # Slack's escaping of <, > and &
    # A new failure after the recovery is a new incident: sent even within the window.
    env.report(PERF, "performance_vs_reference", passed=False, severity="WARN")
    assert env.tick(T0 + dt.timedelta(hours=3)) == f"{NAME}: sent 1 alert(s) (1 firing)"


def test_a_passing_check_that_never_alerted_sends_nothing(env: Env, receiver: Receiver) -> None:
    env.report(DRIFT, "no_dataset_drift", passed=True)
    assert env.tick(T0) == f"{NAME}: no new alerts"
    assert receiver.requests == []


class FakeStorage:
    """Dagster's execution rows as ``get_asset_check_execution_history`` pages them: newest first,
    ``limit`` at a time, before the ``cursor`` id."""

    def __init__(self) -> None:
        self.rows: dict[int, SimpleNamespace] = {}

    def get_asset_check_execution_history(self, key: Any, limit: int, cursor: int | None = None) -> list[Any]:
        ids = sorted((i for i in self.rows if cursor is None or i < cursor), reverse=True)
        return [self.rows[i] for i in ids[:limit]]


class FakeInstance:
    def __init__(self) -> None:
        self.event_log_storage = FakeStorage()
        self.running: set[str] = set()

    def get_run_by_id(self, run_id: str) -> Any:
        return SimpleNamespace(is_finished=run_id not in self.running)

    def add(self, i: int, status: str, run_id: str, partition: str | None = None) -> None:
        self.event_log_storage.rows[i] = SimpleNamespace(
            id=i, status=Status[status], run_id=run_id, partition=partition
        )


def test_executions_planned_by_running_runs_wait_and_are_read_when_they_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cursor logic over Dagster's execution rows (newest first, paged by id): a row a running
    run has planned is completed in place later, so its id can be below the cursor's."""
    monkeypatch.setattr("sensors.alerts.PAGE", 2)
    key = dg.AssetCheckKey(DRIFT, "no_dataset_drift")
    instance = FakeInstance()
    instance.add(1, "FAILED", "a")
    instance.add(2, "PLANNED", "b")
    instance.running.add("b")
    records, state = new_executions(instance, key, None)
    assert ([r.id for r in records], state) == ([1], {"after": 2, "waiting": [2]})

    for i, status in ((3, "SUCCEEDED"), (4, "FAILED"), (5, "PLANNED"), (6, "SUCCEEDED"), (7, "PLANNED")):
        instance.add(i, status, f"r{i}")
    instance.running.add("r7")
    records, state = new_executions(instance, key, state)
    assert ([r.id for r in records], state) == ([3, 4, 6], {"after": 7, "waiting": [2, 7]})  # 5: run finished

    instance.add(2, "FAILED", "b")  # run b reports: its planned row completes in place
    instance.running.discard("b")
    records, state = new_executions(instance, key, state)
    assert ([r.id for r in records], state) == ([2], {"after": 7, "waiting": [7]})


def test_the_days_of_a_run_still_going_are_held_back_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run plans a row per day and check, and completes them in place as its days report: while
    it goes, the days already in wait with it, so that the run is judged once, over all its days."""
    monkeypatch.setattr("sensors.alerts.PAGE", 2)  # the run's rows span several pages
    key = dg.AssetCheckKey(DRIFT, "no_dataset_drift")
    instance = FakeInstance()
    instance.add(1, "FAILED", "old", "2024-01-01")
    for i, day in zip(range(2, 7), _days("2024-01-02", "2024-01-06"), strict=True):
        instance.add(i, "PLANNED", "r", day)
    instance.running.add("r")
    instance.add(2, "FAILED", "r", "2024-01-02")
    instance.add(3, "SUCCEEDED", "r", "2024-01-03")
    # First tick: the latest completed day is run r's, which still goes: nothing yet, all r's rows wait.
    records, state = new_executions(instance, key, None)
    assert ([r.id for r in records], state) == ([], {"after": 6, "waiting": [2, 3, 4, 5, 6]})
    instance.add(4, "FAILED", "r", "2024-01-04")
    records, state = new_executions(instance, key, state)
    assert ([r.id for r in records], state) == ([], {"after": 6, "waiting": [2, 3, 4, 5, 6]})
    # The run ends (day 6 never reported, e.g. a failed step): every day that reported, at once.
    instance.add(5, "SUCCEEDED", "r", "2024-01-05")
    instance.running.discard("r")
    records, state = new_executions(instance, key, state)
    assert ([(r.id, r.partition) for r in records], state) == (
        [(2, "2024-01-02"), (3, "2024-01-03"), (4, "2024-01-04"), (5, "2024-01-05")],
        {"after": 6, "waiting": []},
    )
    # A first tick after the run: the latest run's days (over several pages), not just its latest day.
    records, _ = new_executions(instance, key, None)
    assert [r.id for r in records] == [2, 3, 4, 5]


# -- retraining events ------------------------------------------------------------------------------


def test_retraining_events_alert_once_at_their_tier(env: Env, receiver: Receiver) -> None:
    wh = Warehouse(env.url)
    try:
        wh.events.append(
            env.spec,
            "trigger",
            {"event_id": "e1", "reason": "dataset_drift", "days": {"2024-02-01": {}, "2024-02-03": {}}},
            partition_date=dt.date(2024, 2, 3),
            model_name=NAME,
        )
        wh.events.append(
            env.spec,
            "promotion",
            {"event_id": "e1", "previous_champion": 1, "decision": "auto-promoted"},
            model_name=NAME,
            model_version="2",
        )
    finally:
        wh.dispose()
    assert env.tick() == f"{NAME}: sent 2 alert(s) (2 event)"
    assert [(b["check"], b["tier"], b["summary"]) for b in receiver.posts("/hook/")] == [
        ("trigger", "info", "retraining triggered by dataset_drift (2 days, 2024-02-01..2024-02-03)"),
        ("promotion", "warning", "credit_default v2 promoted to champion (previous champion v1)"),
    ]
    assert len(receiver.posts("/slack/")) == 1  # Slack takes warning and up
    assert env.tick() == f"{NAME}: no new alerts"
    env.cursor = None
    assert env.tick() == f"{NAME}: no new alerts"  # recorded as alerted, even without the cursor


# -- delivery failures ----------------------------------------------------------------------------


def test_failing_and_hanging_endpoints_are_retried_then_recorded_undelivered(tmp_path: Path) -> None:
    receiver = Receiver(slow_seconds=0.6)
    alerts = AlertsResource(
        webhook_url=f"{receiver.base}/fail/abc",
        slack_webhook_url=f"{receiver.base}/slow/xyz",
        timeout_seconds=0.2,
        backoff_seconds=0.05,
    )
    try:
        with dg.instance_for_test() as instance:
            env = Env(_spec(), f"duckdb:///{tmp_path / 'wh.duckdb'}", instance, alerts)
            env.report(DRIFT, "no_dataset_drift", passed=False)
            env.report(PERF, "performance_vs_reference", passed=False)
            started = time.monotonic()
            assert env.tick() == f"{NAME}: sent 2 alert(s) (2 firing)"  # the tick itself succeeds
            elapsed = time.monotonic() - started
    finally:
        receiver.close()
    # 3 attempts each for the first alert; the second does not wait on endpoints already down.
    assert len(receiver.posts("/fail/")) == 3
    assert len(receiver.posts("/slow/")) == 3
    assert elapsed < 3 * 0.2 + 0.05 + 0.1 + 3  # bounded: attempts x timeout + backoff, plus slack
    first, second = env.alert_rows()
    assert first["delivered"] == ["log"]
    assert first["undelivered"] == {
        "webhook": "HTTP 500 after 3 attempt(s)",
        "slack": "timed out after 0.2s after 3 attempt(s)",
    }
    assert second["delivered"] == ["log"]
    assert second["undelivered"]["webhook"].startswith("not attempted: failed earlier in this tick (HTTP 500")


def test_a_client_error_is_final_and_a_dead_port_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver()
    sleeps: list[float] = []
    sink = AlertSink(
        logging.getLogger("test_alerts"),
        [
            Destination("webhook", f"{receiver.base}/missing/abc", "info", "json"),
            Destination("slack", "http://127.0.0.1:9/nothing-listens", "info", "slack"),
        ],
        RetryPolicy(attempts=3, timeout_seconds=1, backoff_seconds=0.5),
        sleep=sleeps.append,
    )
    alert = Alert(NAME, "critical", "firing", f"{NAME}/feature_drift:no_dataset_drift", "check failed")
    try:
        with caplog.at_level(logging.INFO, logger="test_alerts"):
            delivery = sink.send(alert, T0)
    finally:
        receiver.close()
    assert delivery.delivered == ("log",)
    assert delivery.undelivered["webhook"] == "HTTP 404 (not retried)"
    assert delivery.undelivered["slack"].startswith("cannot connect: ")
    assert delivery.undelivered["slack"].endswith("after 3 attempt(s)")
    assert len(receiver.posts("/missing/")) == 1
    assert sleeps == [0.5, 1.0]  # backoff doubles between attempts of the dead port
    (record,) = caplog.records
    assert record.levelno == logging.ERROR  # critical
    assert "webhook (http://127.0.0.1:" in record.getMessage() and "/missing" not in record.getMessage()


# -- secrets ---------------------------------------------------------------------------------------


SECRET_HOOK = "T0SECRET/B0HOOK/hooktoken1234567890"
SECRET_SLACK = "T0SECRET/B0SLACK/slacktoken0987654321"


def test_webhook_urls_never_appear_in_logs_events_or_cursors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver()
    monkeypatch.setenv(WEBHOOK_URL_ENV, f"{receiver.base}/hook/{SECRET_HOOK}")
    monkeypatch.setenv(SLACK_WEBHOOK_URL_ENV, f"{receiver.base}/missing/{SECRET_SLACK}")  # fails: errors are logged
    alerts = alerts_resource()
    assert isinstance(alerts.webhook_url, dg.EnvVar)  # kept out of the UI and of config snapshots
    try:
        with dg.instance_for_test() as instance, caplog.at_level(logging.DEBUG):
            env = Env(_spec(), f"duckdb:///{tmp_path / 'wh.duckdb'}", instance, alerts)
            env.report(DRIFT, "no_dataset_drift", passed=False)
            said = env.tick()
            env.report(DRIFT, "no_dataset_drift", passed=True)
            said += env.tick()
    finally:
        receiver.close()
    assert len(receiver.posts(f"/hook/{SECRET_HOOK}")) == 2  # delivered to the secret URL...
    out, err = capfd.readouterr()
    rows = json.dumps(env.alert_rows())
    # ...and shown nowhere: not in the sensor's log, Python logging, the events table, the cursor.
    seen = "\n".join([out, err, caplog.text, rows, said, env.cursor or ""])
    assert f"{receiver.base}/***" in err  # the log names the destination, masked
    assert "HTTP 404 (not retried)" in rows
    for secret in (SECRET_HOOK, SECRET_SLACK, "hooktoken", "slacktoken", "T0SECRET"):
        assert secret not in seen


def test_masking() -> None:
    url = "https://user:pw@hooks.slack.com:8443/services/T000/B000/XXXXXXXXXXXX?token=abcdefgh123"
    assert mask_url(url) == "https://hooks.slack.com:8443/***"
    assert mask_url("not a url") == "<invalid URL>"
    said = scrub(f"cannot reach {url}; path /services/T000/B000/XXXXXXXXXXXX; token XXXXXXXXXXXX abcdefgh123", url)
    for secret in ("XXXXXXXXXXXX", "abcdefgh123", "pw", "/services"):
        assert secret not in said


# -- configuration -------------------------------------------------------------------------------


def test_spec_section_routes_per_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_SLACK_URL", "https://hooks.slack.com/services/TEAM")
    spec = _spec(webhook={"enabled": False}, slack={"url_env": "TEAM_SLACK_URL", "min_tier": "critical"})
    resource = AlertsResource(webhook_url="https://alerts.internal/hook", slack_webhook_url="https://other/x")
    (slack,) = resource.settings().destinations(spec.alerts)
    assert (slack.name, slack.url, slack.min_tier, slack.style) == (
        "slack",
        "https://hooks.slack.com/services/TEAM",
        "critical",
        "slack",
    )
    assert "TEAM" not in repr(slack)
    assert [d.name for d in resource.settings().destinations(_spec().alerts)] == ["webhook", "slack"]
    assert AlertsResource().settings().destinations(_spec().alerts) == []  # no URL anywhere: the log only
    assert resource.settings().dedup_window(_spec(dedup_window_hours=6).alerts) == dt.timedelta(hours=6)


def test_every_monitor_gets_an_alert_sensor_and_the_definitions_hold_the_resource() -> None:
    defs = build_definitions(specs=load_specs(REPO / "monitors"))
    sensor = defs.resolve_sensor_def(f"{NAME}_alerts")
    assert sensor.targets == []  # it sends alerts; it launches nothing
    assert sensor.required_resource_keys == {"alerts", "warehouse"}
    disabled = build_definitions(specs=[_spec(enabled=False)])
    assert f"{NAME}_alerts" not in {s.name for s in disabled.get_repository_def().sensor_defs}


def test_a_multi_day_quality_result_with_a_critical_day_alerts_at_critical() -> None:
    def evaluation(severity: str, **counts: int) -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey([NAME, "daily_profile"]),
            check_name="data_quality",
            passed=False,
            severity=dg.AssetCheckSeverity(severity),
            metadata=counts,
        )

    # WARN over 60 days with one critical day: critical (WARN only so Dagster blocks no other day).
    assert failure_tier(evaluation("WARN", failed_days=2, days=60, critical_days=1)) == "critical"
    assert failure_tier(evaluation("WARN", failed_days=2, days=60, critical_days=0)) == "warning"
    assert failure_tier(evaluation("WARN", failed_days=1, days=1)) == "warning"
    assert failure_tier(evaluation("ERROR", failed_days=1, days=1)) == "critical"


# -- per-day check results (one evaluation per day and check, as partitioned checks record them) --------


DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")
DAY_CHECKS = ("no_dataset_drift", "no_feature_drift")
CHALLENGER = dg.AssetKey([NAME, "challenger_model"])


@dataclass(frozen=True)
class Day:
    """One day's result of one check, as the per-day checks write it (see CONTRACTS.md)."""

    passed: bool = True
    severity: str = "WARN"
    evaluated: bool = True
    findings: str = ""

    def description(self, check: str, day: str) -> str:
        if not self.evaluated:
            return f"not evaluated: {day} has 3 rows, fewer than min_rows 100"
        return f"{check} on {day}: {self.findings}" if not self.passed else f"no {check} on {day}"


class DayEnv:
    """A monitor-prefixed partitioned drift asset whose step records one check evaluation per day
    and check (from ``plan``: check -> day -> Day, passing by default), an unpartitioned
    challenger_model asset, and the real alert sensor, ticked as the daemon ticks it: a context
    with the instance's ref and a log key (the tick log the UI shows), then the sensor's asset
    events reported to the instance."""

    def __init__(self, url: str, instance: dg.DagsterInstance, alerts: AlertsResource) -> None:
        self.url, self.instance, self.alerts = url, instance, alerts
        self.spec = _spec()
        self.plan: dict[str, dict[str, Day]] = {c: {} for c in DAY_CHECKS}
        self.cursor: str | None = None
        self.ticks = 0
        plan = self.plan

        @dg.asset(
            key=DRIFT,
            partitions_def=DAILY,
            check_specs=[dg.AssetCheckSpec(c, asset=DRIFT, partitions_def=DAILY) for c in DAY_CHECKS],
        )
        def feature_drift(context) -> Iterator[Any]:  # type: ignore[no-untyped-def]  # a string annotation (this module's __future__ import) is refused for `context`
            for check in DAY_CHECKS:
                for day in context.partition_keys:
                    d = plan[check].get(day, Day())
                    context.log_event(
                        dg.AssetCheckEvaluation(
                            asset_key=DRIFT,
                            check_name=check,
                            passed=d.passed,
                            severity=dg.AssetCheckSeverity(d.severity),
                            description=d.description(check, day),
                            metadata={"evaluated": d.evaluated},
                            partition=day,
                        )
                    )
            yield dg.MaterializeResult()
            for check in DAY_CHECKS:
                name = context.job_def.asset_layer.get_op_output_name(dg.AssetCheckKey(DRIFT, check))
                yield dg.Output(None, output_name=name)

        @dg.asset(key=CHALLENGER)
        def challenger_model() -> None:
            pass

        self.defs = dg.Definitions(
            assets=[feature_drift, challenger_model],
            jobs=[dg.define_asset_job("days", selection=[DRIFT])],
            sensors=[build_alert_sensor(spec=self.spec)],
            resources={WAREHOUSE_KEY: WarehouseResource(url=url), ALERTS_KEY: alerts},
        )

    def run(self, start: str, end: str) -> str:
        """One run over the days ``start``..``end``; returns its run id."""
        span = {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = self.defs.resolve_job_def("days").execute_in_process(
            instance=self.instance, tags=span, run_config=quiet
        )
        assert result.success
        return result.run_id

    def tick(self) -> tuple[str, list[dict[str, Any]]]:
        """One tick: its summary and its log records (as the UI reads them: level, message)."""
        self.ticks += 1
        sensor = self.defs.resolve_sensor_def(f"{NAME}_alerts")
        with dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),  # with a ref, the sensor's log is captured under log_key
            cursor=self.cursor,
            repository_name=f"tick{self.ticks}",  # a log key of its own per tick
            sensor_name=sensor.name,
            resources={WAREHOUSE_KEY: WarehouseResource(url=self.url), ALERTS_KEY: self.alerts},
            definitions=self.defs,
        ) as context:
            data = sensor.evaluate_tick(context)
            log_key = context.log_key
        for event in data.asset_events:  # what the daemon does with them (dagster/_daemon/sensor.py)
            self.instance.report_runless_asset_event(event)
        self.cursor = data.cursor
        assert log_key is not None
        records = get_instigation_log_records(self.instance, log_key)
        # The fields the UI's tick log shows (dagster_graphql's fetch_instigators reads these).
        lines = [
            {"level": logging.getLevelName(r["levelno"]), "message": r[LOG_RECORD_METADATA_ATTR]["orig_message"]}
            for r in records
        ]
        return data.skip_message or "", lines

    def observations(self, key: dg.AssetKey) -> list[dg.AssetObservation]:
        records = self.instance.fetch_observations(key, limit=100, ascending=True).records
        return [r.asset_observation for r in records if r.asset_observation is not None]


def _meta(observation: dg.AssetObservation) -> dict[str, Any]:
    return {k: v.value for k, v in observation.metadata.items()}


def _days(start: str, end: str) -> list[str]:
    return [d.date().isoformat() for d in pd.date_range(start, end, freq="D")]


@pytest.fixture
def days(tmp_path: Path, receiver: Receiver) -> Iterator[DayEnv]:
    with dg.instance_for_test() as instance:
        yield DayEnv(f"duckdb:///{tmp_path / 'wh.duckdb'}", instance, _alerts(receiver))


FINDINGS = "income psi 0.86 > 0.25; loan_amount wasserstein 1.00 > 0.10"


def test_per_day_results_alert_once_per_run_counting_failed_days(days: DayEnv, receiver: Receiver) -> None:
    dataset = days.plan["no_dataset_drift"]
    dataset["2024-01-02"] = Day(False, "WARN", findings="share 0.50 >= 0.5")
    dataset["2024-01-03"] = Day(True, "WARN", evaluated=False)
    dataset["2024-01-04"] = Day(False, "ERROR", findings=FINDINGS)
    dataset["2024-01-05"] = Day(False, "WARN", findings="share 0.67 >= 0.5")
    days.plan["no_feature_drift"]["2024-01-04"] = Day(False, "WARN", findings=FINDINGS)
    run_id = days.run("2024-01-01", "2024-01-06")
    history = days.instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(DRIFT, "no_dataset_drift"), limit=100
    )
    assert sorted(r.partition or "" for r in history) == _days("2024-01-01", "2024-01-06")  # one record a day

    said, lines = days.tick()
    assert said == f"{NAME}: sent 2 alert(s) (2 firing)"
    hooks = {b["check"].split(":")[1]: b for b in receiver.posts("/hook/")}
    # Dataset drift failed on 3 of the 5 evaluated days (01-03 was not evaluated), once at ERROR:
    # one alert for the run, at the worst day's tier.
    d = hooks["no_dataset_drift"]
    assert (d["tier"], d["kind"], d["severity"], d["run_id"]) == ("critical", "firing", "ERROR", run_id)
    assert (d["failed_days"], d["days"], d["first_failed_day"], d["last_failed_day"]) == (
        3,
        5,
        "2024-01-02",
        "2024-01-05",
    )
    assert d["summary"] == (
        f"check no_dataset_drift failed on 3 of 5 day(s) on {NAME}/feature_drift (ERROR): "
        "first 2024-01-02, last 2024-01-05; 1 day(s) not evaluated"
    )
    # Each failed day with what failed on it (the features with their values), the day said once.
    assert d["description"] == (
        f"2024-01-02: share 0.50 >= 0.5 | 2024-01-04: {FINDINGS} | 2024-01-05: share 0.67 >= 0.5"
    )
    f = hooks["no_feature_drift"]  # WARN days only: a warning
    assert (f["tier"], f["failed_days"], f["days"], f["description"]) == ("warning", 1, 6, f"2024-01-04: {FINDINGS}")

    # In the tick's log, one line per alert, at its tier's level, naming the tier.
    alert_lines = [(r["level"], r["message"].split(" ")[0]) for r in lines if f"{NAME}: check" in r["message"]]
    assert sorted(alert_lines) == [("ERROR", "[CRITICAL]"), ("WARNING", "[WARNING]")]
    (critical,) = [r for r in lines if r["level"] == "ERROR"]
    assert critical["message"].startswith(d["text"] + " | sent to log, webhook (")

    # On the asset, one observation per alert, on its last failed day, the tier included.
    observed = {_meta(o)["alert_check"]: o for o in days.observations(DRIFT)}
    dataset_seen = observed[f"{NAME}/feature_drift:no_dataset_drift"]
    assert dataset_seen.partition == "2024-01-05"
    assert _meta(dataset_seen) == {
        "alert_tier": "critical",
        "alert_kind": "firing",
        "alert_check": f"{NAME}/feature_drift:no_dataset_drift",
        "alert": d["text"],
        "alert_destinations": "log, webhook, slack",
    }
    assert observed[f"{NAME}/feature_drift:no_feature_drift"].partition == "2024-01-04"
    assert _meta(observed[f"{NAME}/feature_drift:no_feature_drift"])["alert_tier"] == "warning"

    said, lines = days.tick()
    assert said == f"{NAME}: no new alerts" and len(days.observations(DRIFT)) == 2
    assert not [r for r in lines if f"{NAME}: check" in r["message"]]


def test_a_run_of_days_all_not_evaluated_neither_fires_nor_resolves_and_a_passing_run_resolves(
    days: DayEnv, receiver: Receiver
) -> None:
    days.plan["no_dataset_drift"]["2024-01-02"] = Day(False, "ERROR", findings=FINDINGS)
    days.run("2024-01-01", "2024-01-02")
    assert days.tick()[0] == f"{NAME}: sent 1 alert(s) (1 firing)"

    for day in _days("2024-01-03", "2024-01-04"):
        for check in DAY_CHECKS:
            days.plan[check][day] = Day(True, "WARN", evaluated=False)
    days.run("2024-01-03", "2024-01-04")
    assert days.tick()[0] == f"{NAME}: no new alerts"  # not a recovery: the incident stays open

    # Failing again within the dedup window: the same tier is not sent again.
    days.plan["no_dataset_drift"]["2024-01-05"] = Day(False, "ERROR", findings=FINDINGS)
    days.run("2024-01-05", "2024-01-05")
    assert days.tick()[0] == f"{NAME}: no new alerts; 1 repeat(s) within the dedup window"

    # A run whose evaluated days all pass (one not evaluated) resolves it, once.
    days.plan["no_dataset_drift"]["2024-01-07"] = Day(True, "WARN", evaluated=False)
    days.run("2024-01-06", "2024-01-08")
    said, lines = days.tick()
    assert said == f"{NAME}: sent 1 alert(s) (1 resolved)"
    resolved = receiver.posts("/hook/")[-1]
    assert (resolved["kind"], resolved["tier"], resolved["failed_days"], resolved["days"]) == (
        "resolved",
        "critical",
        0,
        2,
    )
    assert resolved["description"] == "passed on all 2 evaluated day(s), 2024-01-06..2024-01-08; 1 day(s) not evaluated"
    assert [r["level"] for r in lines if "[RESOLVED]" in r["message"]] == ["INFO"]
    last = days.observations(DRIFT)[-1]
    assert (last.partition, _meta(last)["alert_kind"], _meta(last)["alert_tier"]) == (None, "resolved", "critical")

    days.run("2024-01-09", "2024-01-09")
    assert days.tick()[0] == f"{NAME}: no new alerts"
    assert [b["kind"] for b in receiver.posts("/hook/")] == ["firing", "resolved"]


def test_retraining_events_are_observed_on_the_challenger_and_a_trigger_on_feature_drift(
    days: DayEnv, receiver: Receiver
) -> None:
    wh = Warehouse(days.url)
    try:
        wh.events.append(
            days.spec,
            "trigger",
            {"event_id": "e1", "reason": "dataset_drift", "days": {"2024-02-01": {}, "2024-02-03": {}}},
            partition_date=dt.date(2024, 2, 3),
            model_name=NAME,
        )
        wh.events.append(days.spec, "rollback", {"from_version": 2, "to_version": 1}, model_name=NAME)
    finally:
        wh.dispose()
    assert days.tick()[0] == f"{NAME}: sent 2 alert(s) (2 event)"
    (trigger,) = days.observations(DRIFT)
    assert (trigger.partition, _meta(trigger)["alert_tier"], _meta(trigger)["alert_kind"]) == (
        "2024-02-03",
        "info",
        "event",
    )
    (rollback,) = days.observations(CHALLENGER)
    assert (rollback.partition, _meta(rollback)["alert_tier"], _meta(rollback)["alert_check"]) == (
        None,
        "warning",
        "rollback",
    )
    assert _meta(rollback)["alert"] == receiver.posts("/hook/")[1]["text"]


def test_a_long_run_lists_whole_days_up_to_the_limit_then_how_many_more() -> None:
    failed = {
        day: dg.AssetCheckEvaluation(
            asset_key=DRIFT,
            check_name="no_feature_drift",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"feature drift on {day}: {FINDINGS}; age psi 0.31 > 0.25",
        )
        for day in _days("2024-01-01", "2024-02-29")
    }
    text = failed_days_text(failed)
    shown, more = text.rsplit(" | and ", 1)
    entries = shown.split(" | ")
    assert len(text) <= DESCRIPTION_LIMIT
    assert entries == [f"{day}: {FINDINGS}; age psi 0.31 > 0.25" for day in sorted(failed)[: len(entries)]]
    assert more == f"{60 - len(entries)} more day(s)"
    assert len(text) + len(entries[0]) + 3 > DESCRIPTION_LIMIT  # no room for one more whole day
    assert failed_days_text(dict(list(failed.items())[:2])) == " | ".join(
        f"{day}: {FINDINGS}; age psi 0.31 > 0.25" for day in ("2024-01-01", "2024-01-02")
    )
    # A day too long alone is cut, and says so.
    cut = failed_days_text(dict(list(failed.items())[:3]), limit=60)
    assert cut.endswith("... | and 2 more day(s)") and len(cut) <= 60
    assert cut.startswith("2024-01-01: income psi 0.86")


def test_the_alerts_resource_configures_every_setting_and_nothing_else() -> None:
    from dataclasses import fields  # noqa: PLC0415

    from resources.alerts import AlertSettings  # noqa: PLC0415

    assert set(AlertsResource.model_fields) == {f.name for f in fields(AlertSettings)}
    configured = AlertsResource(webhook_url="https://hooks.example.com/x", attempts=2, slack_min_tier="critical")
    assert configured.settings() == AlertSettings(
        webhook_url="https://hooks.example.com/x", attempts=2, slack_min_tier="critical"
    )
