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
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status
from threadpoolctl import threadpool_limits

from monitoring_assets import build_definitions
from monitoring_assets._factory import ALERTS_KEY, WAREHOUSE_KEY
from monitoring_assets.demo import DemoConfig, generate, write_duckdb
from monitoring_assets.spec import MonitorSpec, load_spec, load_specs, parse_spec
from resources.alerts import (
    SLACK_WEBHOOK_URL_ENV,
    WEBHOOK_URL_ENV,
    Alert,
    AlertSink,
    AlertsResource,
    Destination,
    RetryPolicy,
    alert_log,
    alerts_resource,
    mask_url,
    scrub,
)
from resources.warehouse import Warehouse, WarehouseResource
from sensors.alerts import evaluate_alerts, failure_tier, new_executions
from tests.conftest import REPO

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
    data = load_spec(REPO / "monitors" / "credit_default.yaml").model_dump(mode="json")
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
                sink=self.alerts.sink(self.log, self.spec.alerts),
                window=self.alerts.dedup_window(self.spec.alerts),
                now=now,
            )
        finally:
            wh.dispose()
        self.cursor = tick.cursor
        return tick.summary(NAME)

    def report(self, key: dg.AssetKey, check: str, *, passed: bool, severity: str = "ERROR") -> None:
        """A check result as our checks write them, through Dagster's public runless API."""
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
            return [json.loads(r["details_json"]) for r in wh.read_events(self.spec, ["alert"])]
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
def tables() -> dict[str, pd.DataFrame]:
    # One OpenMP thread: the demo model's training is small, and spinning threads on a busy
    # machine made it 5 to 10 times slower (threadpoolctl comes with scikit-learn).
    with threadpool_limits(1):
        return generate(CONFIG)


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
        assert daily.execute_in_process(instance=instance, run_config=quiet, tags=span).success

        assert env.tick().startswith(f"{NAME}: sent ")
        hooks = {b["check"]: b for b in _ours(receiver.posts("/hook/"))}
        # Drift failed on 02-01 and 02-02; performance (no labels yet) and fairness passed: quiet.
        assert {c: (b["tier"], b["kind"], b["severity"]) for c, b in hooks.items()} == {
            f"{NAME}/feature_drift:no_dataset_drift": ("critical", "firing", "ERROR"),
            f"{NAME}/feature_drift:no_feature_drift": ("warning", "firing", "WARN"),
            f"{NAME}/prediction_drift:no_prediction_drift": ("warning", "firing", "WARN"),
        }
        dataset = hooks[f"{NAME}/feature_drift:no_dataset_drift"]
        # Aggregates only: the check's own description and day counts, as the check reported them.
        assert dataset["description"] == "dataset drift on 2 of 4 days: 2024-02-01, 2024-02-02"
        assert (dataset["failed_days"], dataset["days"], dataset["first_failed_day"], dataset["last_failed_day"]) == (
            2,
            4,
            "2024-02-01",
            "2024-02-02",
        )
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
            assert wh.delete_events(env.spec, ["alert"]) == len(log)  # how the demo can start afresh
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


def test_executions_planned_by_running_runs_wait_and_are_read_when_they_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cursor logic over Dagster's execution rows (newest first, paged by id): a row a running
    run has planned is completed in place later, so its id can be below the cursor's."""

    class Storage:
        def __init__(self) -> None:
            self.rows: dict[int, SimpleNamespace] = {}

        def get_asset_check_execution_history(self, key: Any, limit: int, cursor: int | None = None) -> list[Any]:
            ids = sorted((i for i in self.rows if cursor is None or i < cursor), reverse=True)
            return [self.rows[i] for i in ids[:limit]]

    class Instance:
        def __init__(self) -> None:
            self.event_log_storage = Storage()
            self.running: set[str] = set()

        def get_run_by_id(self, run_id: str) -> Any:
            return SimpleNamespace(is_finished=run_id not in self.running)

        def add(self, i: int, status: str, run_id: str) -> None:
            self.event_log_storage.rows[i] = SimpleNamespace(id=i, status=Status[status], run_id=run_id)

    monkeypatch.setattr("sensors.alerts.PAGE", 2)
    key = dg.AssetCheckKey(DRIFT, "no_dataset_drift")
    instance = Instance()
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


# -- retraining events ------------------------------------------------------------------------------


def test_retraining_events_alert_once_at_their_tier(env: Env, receiver: Receiver) -> None:
    wh = Warehouse(env.url)
    try:
        wh.append_event(
            env.spec,
            "trigger",
            {"event_id": "e1", "reason": "dataset_drift", "days": {"2024-02-01": {}, "2024-02-03": {}}},
            partition_date=dt.date(2024, 2, 3),
            model_name=NAME,
        )
        wh.append_event(
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
    (slack,) = resource.destinations(spec.alerts)
    assert (slack.name, slack.url, slack.min_tier, slack.style) == (
        "slack",
        "https://hooks.slack.com/services/TEAM",
        "critical",
        "slack",
    )
    assert "TEAM" not in repr(slack)
    assert [d.name for d in resource.destinations(_spec().alerts)] == ["webhook", "slack"]
    assert AlertsResource().destinations(_spec().alerts) == []  # no URL anywhere: the log only
    assert resource.dedup_window(_spec(dedup_window_hours=6).alerts) == dt.timedelta(hours=6)


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
