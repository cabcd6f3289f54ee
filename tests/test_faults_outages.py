"""Outages (issue 10, section 4): MLflow unreachable fails fast with a RegistryError, a
``retraining_failed`` event and a warning alert; an alert a webhook outage swallowed is retried on
later ticks until delivered once, or given up at the documented age, and dedup counts only what
was delivered. Real Dagster instance, real DuckDB warehouse, real local HTTP servers."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from monitoring_assets import build_definitions
from monitoring_assets._retraining import ATTEMPT_TAG, DAYS_TAG, EVENT_TAG, REASON_TAG
from monitoring_assets.resources import AlertsResource, RegistryResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources.alerts import alert_log
from resources.registry import HttpLimits, ModelRegistry
from resources.warehouse import Warehouse
from sensors.alerts import evaluate_alerts
from tests.conftest import small_spec, write_table

MLFLOW_HTTP_ENV = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
)
T0 = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)


# -- shared with tests/test_faults_leaks.py -------------------------------------------------------


def labeled_frame(seed: int = 0, days: int = 9, per_day: int = 150) -> pd.DataFrame:
    """Rows for ``retraining_spec`` from 2024-01-01, labels in the source table (``label``, 0/1,
    learnable from ``x``); no NULL or infinite value, so any trainer takes them."""
    rng = np.random.default_rng(seed)
    n = days * per_day
    seconds = np.repeat(np.arange(days), per_day) * 86_400 + rng.integers(0, 86_400, n)
    x = rng.normal(10, 2, n)
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"),
            "x": x,
            "y": rng.exponential(3.0, n),
            "score": rng.uniform(0, 1, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "mv": "1",
            "label": (rng.uniform(0, 1, n) < np.where(x > 10, 0.7, 0.2)).astype("int64"),
        }
    )


def retraining_spec() -> MonitorSpec:
    return small_spec(
        labels={"label_column": "label"},
        model={"registry_name": "m_model"},
        retraining={"training_window_days": 6, "holdout_days": 2},
    )


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def retraining_tags(event_id: str = "m:dataset_drift:2024-01-07:2024-01-09") -> dict[str, str]:
    return {EVENT_TAG: event_id, REASON_TAG: "dataset_drift", DAYS_TAG: "2024-01-07,2024-01-09", ATTEMPT_TAG: "1"}


class Hook:
    """A local webhook: answers 503 while ``down``, else 200; keeps every POST as (status, JSON)."""

    def __init__(self) -> None:
        self.down = False
        self.posts: list[tuple[int, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 503 if hook.down else 200
                with hook._lock:
                    hook.posts.append((status, body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/T0K3N/secretpath123"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[Any]:
        with self._lock:
            return [body for status, body in self.posts if status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def mlflow_http_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's HTTP variables unset (the resource's defaults apply), and restored afterwards
    (set then deleted, so that monkeypatch also undoes what the resource sets)."""
    for name in MLFLOW_HTTP_ENV:
        monkeypatch.setenv(name, "0")
        monkeypatch.delenv(name)


# -- MLflow unreachable ---------------------------------------------------------------------------


def test_unreachable_mlflow_fails_fast_with_a_registry_error_an_event_and_a_warning_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_http_env: None, hook: Hook
) -> None:
    spec = retraining_spec()
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "t", labeled_frame())
    port = closed_port()
    monkeypatch.setenv("FAULT_MLFLOW_URI", f"http://ops:pw@127.0.0.1:{port}")
    defs = build_definitions(
        specs=[spec],
        warehouse=WarehouseResource(url=url),
        registry=RegistryResource(tracking_uri=dg.EnvVar("FAULT_MLFLOW_URI")),
    )
    with dg.instance_for_test() as instance:
        started = time.monotonic()
        result = defs.resolve_job_def("m_retraining").execute_in_process(
            instance=instance, tags=retraining_tags(), raise_on_error=False
        )
        elapsed = time.monotonic() - started
        print(f"retraining against a closed MLflow port failed after {elapsed:.1f} s")
        assert not result.success
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_failure_data.error is not None
        error = failure.step_failure_data.error.cause  # Dagster wraps what the asset raised
        assert error is not None
        assert error.cls_name == "RegistryError"
        assert error.message == (
            f"monitoring_assets.errors.RegistryError: MLflow at http://ops:***@127.0.0.1:{port} is unreachable "
            "while looking up m_model versions: ConnectionRefusedError: [Errno 111] Connection refused. "
            "To fix: check that the tracking server runs and that MLFLOW_TRACKING_URI names it "
            "(gave up after 2 retries, 15 s timeout: MLFLOW_HTTP_REQUEST_* in README)\n"
        )
        assert error.cause is None and error.context is None  # nothing chained
    # The resource's bounds, since the user set none: 7 retries and ~4 minutes by MLflow's own.
    assert {name: os.environ.get(name) for name in MLFLOW_HTTP_ENV} == dict(
        zip(MLFLOW_HTTP_ENV, ("2", "15", "1"), strict=True)
    )
    assert elapsed < 30

    wh = Warehouse(url)
    try:
        (row,) = wh.events.read(spec, ["retraining_failed"])
        assert json.loads(row["details_json"]) == {
            "event_id": "m:dataset_drift:2024-01-07:2024-01-09",
            "reason": "dataset_drift",
            "trigger_days": ["2024-01-07", "2024-01-09"],
            "attempt": "1",
            "error_class": "RegistryError",
            "error": error.message.removeprefix("monitoring_assets.errors.RegistryError: ").rstrip(),
            "registry": True,
        }
        assert (row["model_name"], row["partition_date"]) == ("m_model", dt.date(2024, 1, 9))
        alerts = AlertsResource(webhook_url=hook.url)
        tick = evaluate_alerts(
            instance=instance,
            cursor=None,
            spec=spec,
            checks=[],
            wh=wh,
            sink=alerts.settings().sink(logging.getLogger("test_faults_outages")),
            window=alerts.settings().dedup_window(),
            now=dt.datetime.now(dt.UTC),
        )
    finally:
        wh.dispose()
    assert tick.summary("m") == "m: sent 2 alert(s) (2 event)"
    assert [(b["check"], b["tier"]) for b in hook.delivered()] == [
        ("trigger", "info"),
        ("retraining_failed", "warning"),
    ]
    failed = hook.delivered()[1]["summary"]
    assert failed == (
        f"retraining of m_model failed (attempt 1): RegistryError: MLflow at http://ops:***@127.0.0.1:{port} "
        "is unreachable while looking up m_model versions: ConnectionRefusedError: [Errno 111] Connection refused. "
        "To fix: check that the tracking server runs and that MLFLOW_TRACKING_URI names it "
        "(gave up after 2 retries, 15 s timeout: MLFLOW_HTTP_REQUEST_* in README)"
    )
    assert "ops:pw@" not in json.dumps(hook.delivered())


def test_user_set_mlflow_http_variables_win_over_the_resource(
    monkeypatch: pytest.MonkeyPatch, mlflow_http_env: None
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry = ModelRegistry(f"http://127.0.0.1:{closed_port()}", http=HttpLimits(max_retries=4, timeout_seconds=3))
    assert registry.http == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # the user's
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }


# -- undelivered alerts ---------------------------------------------------------------------------


CHECK = dg.AssetCheckKey(dg.AssetKey(["m", "feature_drift"]), "no_dataset_drift")


class Ticks:
    """Alert-sensor ticks of monitor ``m`` with an injected clock, over one instance and warehouse."""

    def __init__(self, instance: dg.DagsterInstance, url: str, alerts: AlertsResource) -> None:
        self.instance, self.url, self.alerts = instance, url, alerts
        self.spec = small_spec()
        self.cursor: str | None = None
        self.failures = 0

    def fail(self) -> None:
        """One failed ERROR result of the dataset-drift check for a day, as our checks write it.
        Each call reports the next day: Dagster stores one runless evaluation per check and day."""
        self.failures += 1
        self.instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=CHECK.asset_key,
                check_name=CHECK.name,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                description="2 of 3 features drifted (share 0.667 >= 0.5): x wasserstein 0.4 > 0.1; "
                "y wasserstein 0.3 > 0.1",
                metadata={"evaluated": True},
                partition=(dt.date(2024, 1, 4) + dt.timedelta(days=self.failures)).isoformat(),
            )
        )

    def tick(self, now: dt.datetime) -> str:
        wh = Warehouse(self.url)
        try:
            tick = evaluate_alerts(
                instance=self.instance,
                cursor=self.cursor,
                spec=self.spec,
                checks=[CHECK],
                wh=wh,
                sink=self.alerts.settings().sink(logging.getLogger("test_faults_outages"), sleep=lambda _: None),
                window=self.alerts.settings().dedup_window(),
                now=now,
                give_up_after=self.alerts.settings().give_up_after(self.spec.alerts),
            )
        finally:
            wh.dispose()
        self.cursor = tick.cursor
        return tick.summary("m")

    def log(self) -> list[dict[str, Any]]:
        wh = Warehouse(self.url)
        try:
            return alert_log(wh, self.spec)
        finally:
            wh.dispose()


@pytest.fixture
def ticks(tmp_path: Path, hook: Hook) -> Iterator[Ticks]:
    with dg.instance_for_test() as instance:
        yield Ticks(instance, f"duckdb:///{tmp_path / 'wh.duckdb'}", AlertsResource(webhook_url=hook.url))


def test_an_alert_lost_in_an_outage_is_delivered_once_on_a_later_tick(ticks: Ticks, hook: Hook) -> None:
    hook.down = True
    ticks.fail()
    assert ticks.tick(T0) == "m: sent 1 alert(s) (1 firing)"
    assert [s for s, _ in hook.posts] == [503, 503, 503]  # 3 attempts, none delivered
    assert hook.delivered() == []

    ticks.fail()  # the check fails again while the first alert is still owed
    hook.down = False
    assert ticks.tick(T0 + dt.timedelta(minutes=1)) == (
        "m: no new alerts; retried 1 undelivered alert(s), 1 now delivered; 1 repeat(s) within the dedup window"
    )
    (delivered,) = hook.delivered()
    assert (delivered["check"], delivered["tier"], delivered["kind"]) == (
        "m/feature_drift:no_dataset_drift",
        "critical",
        "firing",
    )
    assert (
        delivered["summary"] == "check no_dataset_drift failed on 1 of 1 day(s) on m/feature_drift (ERROR): 2024-01-05"
    )

    assert ticks.tick(T0 + dt.timedelta(minutes=2)) == "m: no new alerts"
    assert len(hook.posts) == 4  # nothing more sent

    first, retry = ticks.log()
    assert (first["delivered"], first["undelivered"], first["attempt"]) == (
        ["log"],
        {"webhook": "HTTP 503 after 3 attempt(s)"},
        1,
    )
    assert (retry["retry_of"], retry["attempt"], retry["delivered"], retry["undelivered"], retry["given_up"]) == (
        first["alert_id"],
        2,
        ["log", "webhook"],
        {},
        {},
    )


def test_an_alert_undelivered_past_the_give_up_age_is_recorded_given_up_and_not_sent_again(
    ticks: Ticks, hook: Hook
) -> None:
    assert ticks.alerts.settings().give_up_after() == dt.timedelta(hours=24)  # the documented default
    hook.down = True
    ticks.fail()
    assert ticks.tick(T0) == "m: sent 1 alert(s) (1 firing)"
    assert (
        ticks.tick(T0 + dt.timedelta(hours=23)) == "m: no new alerts; retried 1 undelivered alert(s), 0 now delivered"
    )
    assert len(hook.posts) == 6

    hook.down = False
    assert ticks.tick(T0 + dt.timedelta(hours=24)) == "m: no new alerts; gave up on 1 undelivered alert(s)"
    assert ticks.tick(T0 + dt.timedelta(hours=25)) == "m: no new alerts"
    assert len(hook.posts) == 6 and hook.delivered() == []  # given up: never sent again

    first, retry, given_up = ticks.log()
    assert retry["undelivered"] == {"webhook": "HTTP 503 after 3 attempt(s)"}
    assert given_up["retry_of"] == first["alert_id"]
    assert given_up["given_up"] == {"webhook": "undelivered for 1 day, 0:00:00 (give-up age 1 day, 0:00:00)"}

    # Dedup counts only delivered alerts: the check failing again is alerted, and now arrives.
    ticks.fail()
    assert ticks.tick(T0 + dt.timedelta(hours=26)) == "m: sent 1 alert(s) (1 firing)"
    assert [b["check"] for b in hook.delivered()] == ["m/feature_drift:no_dataset_drift"]


def test_the_give_up_age_comes_from_the_spec() -> None:
    spec = small_spec(alerts={"give_up_after_hours": 6})
    assert AlertsResource().settings().give_up_after(spec.alerts) == dt.timedelta(hours=6)
    assert AlertsResource(give_up_after_hours=2).settings().give_up_after(small_spec().alerts) == dt.timedelta(hours=2)


def test_a_failed_trigger_event_alerts_once_however_often_its_retries_fail(ticks: Ticks, hook: Hook) -> None:
    wh = Warehouse(ticks.url)
    try:
        for event_id, attempt in (("e1", "1"), ("e1", "2"), ("e2", "1"), ("e1", "3")):
            details = {"event_id": event_id, "attempt": attempt, "error_class": "RegistryError", "error": "down"}
            wh.events.append(ticks.spec, "retraining_failed", details, model_name="m_model")
    finally:
        wh.dispose()
    assert ticks.tick(T0) == "m: sent 2 alert(s) (2 event); 2 repeat(s) within the dedup window"
    assert [b["summary"] for b in hook.delivered()] == [
        "retraining of m_model failed (attempt 1): RegistryError: down",
        "retraining of m_model failed (attempt 1): RegistryError: down",
    ]
    wh = Warehouse(ticks.url)
    try:
        sent = [json.loads(r["details_json"])["event_id"] for r in wh.events.read(ticks.spec, ["alert"])]
    finally:
        wh.dispose()
    assert sent == ["e1", "e2"]  # e1's attempts 2 and 3 were not re-sent


def test_an_alert_owed_to_a_destination_no_longer_configured_is_given_up_at_once(ticks: Ticks, hook: Hook) -> None:
    hook.down = True
    ticks.fail()
    assert ticks.tick(T0) == "m: sent 1 alert(s) (1 firing)"
    ticks.alerts = AlertsResource(webhook_url=hook.url, webhook_min_tier="warning")  # still takes critical
    assert (
        ticks.tick(T0 + dt.timedelta(minutes=1)) == "m: no new alerts; retried 1 undelivered alert(s), 0 now delivered"
    )
    ticks.alerts = AlertsResource()  # the webhook removed
    assert ticks.tick(T0 + dt.timedelta(minutes=2)) == "m: no new alerts; gave up on 1 undelivered alert(s)"
    assert ticks.log()[-1]["given_up"] == {"webhook": "no longer configured for this tier"}
    assert len(hook.posts) == 6


def test_a_refused_retraining_alerts_at_warning_with_its_reason(ticks: Ticks, hook: Hook) -> None:
    wh = Warehouse(ticks.url)
    try:
        details = {"event_id": "e1", "reason": "dataset_drift", "refused": "40 of 300 labeled rows invalid"}
        wh.events.append(ticks.spec, "retraining_refused", details, model_name="m_model")
    finally:
        wh.dispose()
    assert ticks.tick(T0) == "m: sent 1 alert(s) (1 event)"
    (body,) = hook.delivered()
    assert body["tier"] == "warning"
    assert body["summary"] == "retraining of m_model refused, nothing registered: 40 of 300 labeled rows invalid"
