"""Production layout on the local PostgreSQL server: Dagster instance storage through
dagster-postgres (deploy/dagster.yaml, as README documents it), the warehouse on PostgreSQL, and
MLflow's backend store on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from sqlalchemy.pool import NullPool

from monitoring_assets import build_definitions
from monitoring_assets.demo import DemoConfig
from monitoring_assets.demo.run import register_initial_champion
from monitoring_assets.resources import RegistryResource, WarehouseResource
from monitoring_assets.spec import parse_spec
from resources import _store
from resources.registry import CHALLENGER, CHAMPION
from tests.conftest import REPO, demo_spec, demo_spec_data, write_table

pytestmark = pytest.mark.postgres

Tables = dict[str, pd.DataFrame]
CONFIG = DemoConfig(rows_per_day=500, days=33, reference_rows=3100, last_day=dt.date(2024, 2, 2))


def _postgres_home(
    pg_url: str, tables: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The demo tables in the PostgreSQL warehouse, and a DAGSTER_HOME with README's dagster.yaml
    (instance storage on the same server)."""
    for name, frame in tables.items():
        write_table(pg_url, name, frame)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    return home


def _monitor(defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str) -> dg.ExecuteInProcessResult:
    """The reference, then the days ``first..last`` in one run, as a single-run backfill does."""
    assert defs.resolve_job_def("credit_default_reference").execute_in_process(instance=instance).success
    return defs.resolve_job_def("credit_default_daily_monitoring").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


def test_pipeline_on_postgres_with_dagster_storage_on_postgres(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_tables: Callable[[DemoConfig], Tables]
) -> None:
    home = _postgres_home(pg_url, demo_tables(CONFIG), tmp_path, monkeypatch)

    spec = demo_spec(signals=True)  # every asset family of the demo, on PostgreSQL
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=pg_url))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = _monitor(defs, instance, "2024-01-31", "2024-02-02")
        assert result.success
        run_ids = {r.dagster_run.run_id for r in instance.get_run_records()}
        assert result.run_id in run_ids and len(run_ids) == 2
        # One check execution per day in PostgreSQL's event log, with the day's status.
        key = dg.AssetCheckKey(dg.AssetKey(["credit_default", "feature_drift"]), "no_dataset_drift")
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
        statuses = {r.partition: r.status.value for r in history if r.run_id == result.run_id}
    assert len(history) == len(statuses) == 3

    engine = sa.create_engine(pg_url, poolclass=NullPool)
    with engine.connect() as conn:
        # Dagster's own tables live in the same PostgreSQL database, and hold this run.
        stored = conn.execute(sa.text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": result.run_id}).scalar()
        d = _store.drift_metrics.c
        drift = pd.DataFrame(
            conn.execute(
                sa.select(d.partition_date, d.feature, d.drifted).where(
                    d.feature == _store.DATASET_ROW, d.monitor == spec.name
                )
            ).fetchall(),
            columns=["day", "feature", "drifted"],
        )
    engine.dispose()
    assert stored == 1
    verdicts = dict(zip(drift.day, drift.drifted, strict=True))
    assert verdicts == {dt.date(2024, 1, 31): False, dt.date(2024, 2, 1): True, dt.date(2024, 2, 2): True}
    assert statuses == {d.isoformat(): "FAILED" if drifted else "SUCCEEDED" for d, drifted in verdicts.items()}


def test_drift_triggered_retraining_on_postgres(
    pg_url: str,
    pg_mlflow_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    demo_tables: Callable[[DemoConfig], Tables],
) -> None:
    """Sensor -> run -> registry with Dagster's storage and MLflow's backend store on PostgreSQL,
    and the warehouse too."""
    config = DemoConfig(rows_per_day=500, days=36, reference_rows=3100, last_day=dt.date(2024, 2, 5))  # drift 02-01..05
    tables = demo_tables(config)
    home = _postgres_home(pg_url, tables, tmp_path, monkeypatch)
    data = demo_spec_data()
    data["retraining"]["training_window_days"] = 14
    spec = parse_spec(data)
    registry = RegistryResource(tracking_uri=pg_mlflow_url, artifact_root=str(tmp_path / "artifacts"))
    with registry.open() as reg:
        register_initial_champion(reg, spec, tables["training_data"])
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=pg_url), registry=registry)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        daily = _monitor(defs, instance, "2024-01-29", "2024-02-05")
        assert daily.success
        sensor = defs.resolve_sensor_def("credit_default_retraining_sensor")
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        (request,) = tick.run_requests
        assert request.tags["monitoring/reason"] == "dataset_drift"
        run = defs.resolve_job_def("credit_default_retraining").execute_in_process(instance=instance, tags=request.tags)
        assert run.success
        after = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor, definitions=defs))
        assert not after.run_requests and "done" in (after.skip_message or "")

    reader = MlflowClient(tracking_uri=pg_mlflow_url, registry_uri=pg_mlflow_url)
    assert reader.get_registered_model("credit_default").aliases == {CHAMPION: 1, CHALLENGER: 2}
    version = reader.get_model_version("credit_default", "2")
    assert version.tags["dagster.run_id"] == run.run_id
    assert version.tags["monitoring.event_id"] == request.tags["monitoring/event_id"]
