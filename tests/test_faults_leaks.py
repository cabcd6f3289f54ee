"""Nothing leaks (issue 10, section 5): no password or webhook token, no data cell and no bound
category value in any text Dagster stores (event records with their error chains, run records,
compute logs, the sensor's log, cursors, the events table), and no training row in MLflow.
Runs go through Dagster on a real instance; every stored record of the run is read back."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import sqlalchemy as sa
from dagster_shared.serdes import serialize_value
from threadpoolctl import threadpool_limits

from monitoring_assets import build_definitions
from monitoring_assets._factory import ALERTS_KEY, WAREHOUSE_KEY
from monitoring_assets.resources import AlertsResource, RegistryResource, WarehouseResource
from resources.warehouse import Warehouse
from tests.conftest import sample_frame, small_spec, write_table
from tests.test_faults_outages import CHECK, Hook, closed_port, labeled_frame, retraining_spec, retraining_tags

SECRET = "s3cr3tpw"
CELL, CATEGORY = "secretcell123", "secretcat456"


def stored_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """Every record the instance keeps of the run, serialized: its event records (log lines,
    metadata, step failures with their stack, cause and context chains), the run record (tags,
    config), and the compute logs it captured."""
    records = instance.all_logs(run_id)
    texts = [serialize_value(r) for r in records]
    texts.append(serialize_value(instance.get_run_by_id(run_id)))
    for record in records:
        event = record.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.LOGS_CAPTURED:
            key = [run_id, "compute_logs", event.logs_captured_data.file_key]
            data = instance.compute_log_manager.get_log_data(key)
            texts += [(data.stdout or b"").decode(), (data.stderr or b"").decode()]
    return "\n".join(texts)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """What the failed step raised (Dagster wraps it in DagsterExecutionStepExecutionError)."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None and error.cause is not None
    assert error.cause.cause is None and error.cause.context is None  # nothing chained below ours
    return error.cause.message


# -- secrets --------------------------------------------------------------------------------------


def test_the_warehouse_password_is_in_no_text_dagster_stores(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LEAK_WAREHOUSE_URL", f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/db")
    defs = build_definitions(specs=[small_spec()], warehouse=WarehouseResource(url=dg.EnvVar("LEAK_WAREHOUSE_URL")))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("m_reference").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        message = failure_message(result)
        seen = stored_text(instance, result.run_id)
    assert message.startswith(
        "monitoring_assets.errors.WarehouseError: warehouse postgresql+psycopg2://u:***@127.0.0.1:1/db failed a "
        'query: connection: connection to server at "127.0.0.1", port 1 failed: Connection refused; '
        "the warehouse could not be reached or opened; check that it runs and the URL [OperationalError"
    )
    out, err = capfd.readouterr()
    assert "u:***@127.0.0.1:1/db" in seen  # the records read are the ones that tell the error
    assert SECRET not in seen + out + err


def test_the_mlflow_password_is_in_no_text_dagster_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    port = closed_port()
    monkeypatch.setenv("LEAK_MLFLOW_URI", f"http://u:{SECRET}@127.0.0.1:{port}")
    defs = build_definitions(
        specs=[retraining_spec()],
        warehouse=WarehouseResource(url=f"duckdb:///{tmp_path / 'wh.duckdb'}"),
        registry=RegistryResource(tracking_uri=dg.EnvVar("LEAK_MLFLOW_URI")),
    )
    with dg.instance_for_test() as instance:
        # The rollback job asks MLflow for the model's aliases first: MLflow's own error quotes the
        # request URL, password included.
        result = defs.resolve_job_def("m_rollback").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        message = failure_message(result)
        seen = stored_text(instance, result.run_id)
    assert message == (
        f"monitoring_assets.errors.RegistryError: MLflow at http://u:***@127.0.0.1:{port} is unreachable while "
        "reading aliases of m_model: ConnectionRefusedError: [Errno 111] Connection refused. To fix: check that "
        "the tracking server runs and that MLFLOW_TRACKING_URI names it (gave up after 0 retries, 15 s timeout: "
        "MLFLOW_HTTP_REQUEST_* in README)\n"
    )
    out, err = capfd.readouterr()
    assert f"u:***@127.0.0.1:{port}" in seen
    assert SECRET not in seen + out + err


def test_the_webhook_token_is_in_no_log_cursor_or_event_row(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = Hook()  # its URL's path holds the token: /hook/T0K3N/secretpath123
    monkeypatch.setenv("LEAK_HOOK_URL", hook.url)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    alerts = AlertsResource(webhook_url=dg.EnvVar("LEAK_HOOK_URL"), backoff_seconds=0)
    defs = build_definitions(specs=[small_spec()], warehouse=WarehouseResource(url=url), alerts=alerts)
    sensor = defs.resolve_sensor_def("m_alerts")
    said, cursor = [], None
    try:
        with dg.instance_for_test() as instance, caplog.at_level(logging.DEBUG):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=CHECK.asset_key,
                    check_name=CHECK.name,
                    passed=False,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description="2 of 3 features drifted (share 0.667 >= 0.5): x wasserstein 0.4 > 0.1",
                    metadata={"evaluated": True},
                    partition="2024-01-05",
                )
            )
            for down in (True, False):  # undelivered (logged with why), then delivered on retry
                hook.down = down
                context = dg.build_sensor_context(
                    instance=instance,
                    cursor=cursor,
                    resources={WAREHOUSE_KEY: WarehouseResource(url=url), ALERTS_KEY: alerts},
                    definitions=defs,
                )
                tick = sensor.evaluate_tick(context)
                said.append(tick.skip_message or "")
                cursor = tick.cursor
    finally:
        hook.close()
    assert said == [
        "m: sent 1 alert(s) (1 firing)",
        "m: no new alerts; retried 1 undelivered alert(s), 1 now delivered",
    ]
    assert len(hook.delivered()) == 1
    wh = Warehouse(url)
    try:
        rows = json.dumps([r["details_json"] for r in wh.events.read(small_spec(), ["alert"])])
    finally:
        wh.dispose()
    out, err = capfd.readouterr()
    seen = "\n".join([*said, cursor or "", rows, caplog.text, out, err])
    assert "HTTP 503 after 3 attempt(s)" in rows and "http://127.0.0.1:" in caplog.text + err
    for secret in ("secretpath123", "T0K3N", "/hook/"):
        assert secret not in seen


# -- raw values -----------------------------------------------------------------------------------


def _text_cell_table(url: str) -> None:
    """``small_spec``'s table with ``x`` stored as text: numbers in the reference days, and the
    cell ``secretcell123`` on 2024-01-04; ``c`` mostly ``secretcat456`` (a reference top-K
    category, so bound as a parameter of every daily profile query)."""
    frame = sample_frame(days=4, per_day=100)
    finite = [v if v is not None and np.isfinite(v) else 1.0 for v in frame["x"]]
    frame["x"] = [repr(float(v)) for v in finite]
    frame.loc[frame.index[-3:], "x"] = CELL
    frame["c"] = np.where(np.arange(len(frame)) % 4 == 0, "a", CATEGORY)
    frame.attrs["numeric"] = ()  # x is a VARCHAR column
    write_table(url, "t", frame)


@pytest.fixture(params=["duckdb", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "duckdb":
        yield "duckdb", f"duckdb:///{tmp_path / 'wh.duckdb'}"
        return
    pg_url: str = request.getfixturevalue("pg_url")
    name = f"{sa.make_url(pg_url).database}_leaks"  # next to the session's own database, as unique
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield "postgresql", sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_no_data_cell_or_category_value_in_any_stored_error(
    engine_url: tuple[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    engine, url = engine_url
    _text_cell_table(url)
    spec = small_spec()
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("m_reference").execute_in_process(instance=instance).success
        wh = Warehouse(url)
        try:  # the category is one the failing query binds
            assert CATEGORY in wh.profiles.read_layout(spec, ["c"]).categorical["c"].categories
        finally:
            wh.dispose()
        result = defs.resolve_job_def("m_daily_monitoring").execute_in_process(
            instance=instance, partition_key="2024-01-04", raise_on_error=False
        )
        assert not result.success
        message = failure_message(result)
        seen = stored_text(instance, result.run_id)
    which, cause = {
        "duckdb": ("column x", "DataError (ConversionException)"),
        "postgresql": ("one of the columns x, y, score", "DataError (InvalidTextRepresentation)"),
    }[engine]
    safe_url = sa.make_url(url).render_as_string(hide_password=True)
    assert message == (
        f"monitoring_assets.errors.WarehouseError: warehouse {safe_url} failed a query: type conversion ({which}); "
        "a value cannot be converted to the column's type (e.g. text in a numeric feature); fix the table's type "
        f"or its values [{cause}]\n"
    )
    out, err = capfd.readouterr()
    for value in (CELL, CATEGORY):
        assert value not in seen + out + err


# -- MLflow ---------------------------------------------------------------------------------------


def test_the_logged_input_example_holds_no_training_row(tmp_path: Path, mlflow_sqlite: Callable[[Path], str]) -> None:
    spec = retraining_spec()
    frame = labeled_frame()
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, "t", frame)
    registry = RegistryResource(tracking_uri=mlflow_sqlite(tmp_path), artifact_root=str(tmp_path / "art"))
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url), registry=registry)
    with dg.instance_for_test() as instance, threadpool_limits(1):
        result = defs.resolve_job_def("m_retraining").execute_in_process(instance=instance, tags=retraining_tags())
        assert result.success
    # Trained on 2024-01-04..01-07: the 6-day window ends on the last labeled day (01-09), whose
    # last 2 days are held out.
    day = frame["ts"].dt.date
    train = frame[(day >= dt.date(2024, 1, 4)) & (day <= dt.date(2024, 1, 7))]
    mode = Counter(train["c"]).most_common(1)[0][0]
    expected = [[float(np.mean(train["x"])), float(np.mean(train["y"])), mode]]

    (example_file,) = (tmp_path / "art").rglob("input_example.json")
    example = json.loads(example_file.read_text())
    assert example["columns"] == ["x", "y", "c"]
    assert example["data"][0][:2] == pytest.approx(expected[0][:2], rel=1e-12)
    assert example["data"][0][2] == expected[0][2]
    assert len(example["data"]) == 1
    rows = {tuple(r) for r in train[["x", "y", "c"]].itertuples(index=False)}
    assert not any(tuple(r) in rows for r in example["data"])
    (serving,) = (tmp_path / "art").rglob("serving_input_example.json")
    for value in train["x"].head(5):  # what the old example logged
        assert repr(float(value)) not in serving.read_text() + example_file.read_text()
