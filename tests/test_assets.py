"""Assets materialized through Dagster with a real DuckDB warehouse on small demo data: values in
the metric tables (checked against scipy on the raw rows), metadata, checks, re-runs, backfills."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy import stats
from scipy.spatial import distance

from monitoring_assets import build_definitions
from monitoring_assets.demo import (
    LABEL_DELAY,
    DemoConfig,
    generate,
    run_demo,
    write_duckdb,
)
from monitoring_assets.demo.run import guard_problems, retraining_problems, unexpected
from monitoring_assets.spec import MonitorSpec, load_spec
from resources import _store
from resources.registry import RegistryResource
from resources.warehouse import Warehouse, WarehouseResource
from tests.conftest import REPO

CONFIG = DemoConfig(rows_per_day=1000, days=34, reference_rows=6200, last_day=dt.date(2024, 2, 3))
DAY = "2024-02-02"  # after the injected drift


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return load_spec(REPO / "monitors" / "credit_default.yaml")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return generate(CONFIG)


@pytest.fixture
def env(
    tmp_path: Path, spec: MonitorSpec, tables: dict[str, pd.DataFrame]
) -> Iterator[tuple[dg.Definitions, str, dg.DagsterInstance]]:
    path = tmp_path / "wh.duckdb"
    write_duckdb(tables, path)
    url = f"duckdb:///{path}"
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("credit_default_reference").execute_in_process(instance=instance).success
        yield defs, url, instance


def _run_day(defs: dg.Definitions, instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def("credit_default_daily_monitoring").execute_in_process(
        instance=instance, partition_key=day, raise_on_error=False
    )
    assert result.success
    return result


def _drift_rows(url: str, day: str) -> pd.DataFrame:
    d = _store.drift_metrics.c
    with Warehouse(url).begin() as conn:
        rows = conn.execute(
            sa.select(d.scope, d.feature, d.method, d.value, d.threshold, d.drifted, d.run_id).where(
                d.partition_date == dt.date.fromisoformat(day)
            )
        ).fetchall()
    return pd.DataFrame(rows, columns=["scope", "feature", "method", "value", "threshold", "drifted", "run_id"])


def _day_rows(tables: dict[str, pd.DataFrame], day: str) -> pd.DataFrame:
    log = tables["inference_log"]
    start = pd.Timestamp(day)
    return log[(log.scored_at >= start) & (log.scored_at < start + pd.Timedelta(days=1))]


def test_one_partition_end_to_end(
    env: tuple[dg.Definitions, str, dg.DagsterInstance], tables: dict[str, pd.DataFrame]
) -> None:
    defs, url, instance = env
    result = _run_day(defs, instance, DAY)
    rows = _drift_rows(url, DAY)
    features = rows[rows.scope == "feature"].set_index("feature")
    assert set(features.index) == {
        "income",
        "debt_to_income",
        "age",
        "loan_amount",
        "employment_type",
        "region",
        "__dataset__",
    }
    assert rows[rows.scope == "prediction"].feature.tolist() == ["score"]
    assert set(rows.run_id) == {result.run_id}

    # Independent references on the raw rows. Wasserstein: 1000 fine bins over the reference's
    # 0.1-99.9 % range keep the within-cell error far below 2e-3 reference std.
    ref, day = tables["training_data"], _day_rows(tables, DAY)
    want = stats.wasserstein_distance(ref.debt_to_income, day.debt_to_income) / np.std(ref.debt_to_income)
    assert features.loc["debt_to_income", "value"] == pytest.approx(want, abs=2e-3)
    # Jensen-Shannon on categories: every category is in the top 50, so the bins are exact.
    cats = sorted(ref.employment_type.unique())
    p = ref.employment_type.value_counts().reindex(cats).to_numpy()
    q = day.employment_type.value_counts().reindex(cats, fill_value=0).to_numpy()
    assert features.loc["employment_type", "value"] == pytest.approx(distance.jensenshannon(p, q, base=2), abs=1e-12)
    assert features.loc["age", "drifted"] == False  # noqa: E712 (numpy/SQL booleans)
    assert features.loc["__dataset__", "value"] == pytest.approx(4 / 6)
    assert features.loc["__dataset__", "drifted"] == True  # noqa: E712

    # Metadata the UI plots, and the checks at their severities.
    event = instance.get_latest_materialization_event(dg.AssetKey(["credit_default", "feature_drift"]))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    assert meta["drift_share"].value == pytest.approx(4 / 6)
    assert meta["dataset_drift"].value is True
    assert "debt_to_income" in meta["results"].value
    profile_event = instance.get_latest_materialization_event(dg.AssetKey(["credit_default", "daily_profile"]))
    assert profile_event.asset_materialization.metadata["row_count"].value == len(day)  # type: ignore[union-attr]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["no_dataset_drift"].passed and checks["no_dataset_drift"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["no_feature_drift"].passed and checks["no_feature_drift"].severity == dg.AssetCheckSeverity.WARN


def test_rematerialization_replaces_rows(env: tuple[dg.Definitions, str, dg.DagsterInstance]) -> None:
    defs, url, instance = env
    _run_day(defs, instance, DAY)
    first = _drift_rows(url, DAY)
    second_run = _run_day(defs, instance, DAY)
    second = _drift_rows(url, DAY)
    assert len(second) == len(first) == 8
    assert set(second.run_id) == {second_run.run_id}
    p = _store.profile_metrics.c
    with Warehouse(url).begin() as conn:
        n = conn.execute(
            sa.select(sa.func.count()).where(
                (p.partition_date == dt.date.fromisoformat(DAY)) & (p.metric == "row_count")
            )
        ).scalar()
    assert n == 1


def test_range_backfill_is_one_run_with_per_day_metadata(env: tuple[dg.Definitions, str, dg.DagsterInstance]) -> None:
    defs, _url, instance = env
    days = ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
    result = defs.resolve_job_def("credit_default_daily_monitoring").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
    )
    assert result.success
    assert len(instance.get_run_records()) == 2  # the reference run and this one
    events = result.asset_materializations_for_node("credit_default__feature_drift")
    share = {e.partition: e.metadata["drift_share"].value for e in events}
    assert share == {
        "2024-01-30": 0.0,
        "2024-01-31": 0.0,
        "2024-02-01": pytest.approx(4 / 6),
        "2024-02-02": pytest.approx(4 / 6),
    }
    check = {e.check_name: e for e in result.get_asset_check_evaluations()}["no_dataset_drift"]
    assert not check.passed and "2 of 4 days" in (check.description or "")


def test_drift_before_reference_is_a_clear_error(
    tmp_path: Path, spec: MonitorSpec, tables: dict[str, pd.DataFrame]
) -> None:
    path = tmp_path / "wh.duckdb"
    write_duckdb(tables, path)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=f"duckdb:///{path}"))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("credit_default_daily_monitoring").execute_in_process(
            instance=instance, partition_key=DAY, raise_on_error=False
        )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and failure.cause is not None
    assert failure.cause.cls_name == "WarehouseError"
    assert "materialize credit_default/reference_profile first" in failure.cause.message


def test_demo_shows_each_injected_problem_from_its_day_and_never_before(tmp_path: Path, spec: MonitorSpec) -> None:
    """The README's claims about `make demo`, on 55 days (through 2024-02-24) at the demo's volume."""
    config = DemoConfig(days=55, last_day=dt.date(2024, 2, 24))
    with dg.instance_for_test() as instance:
        registry = RegistryResource(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "art"))
        outcome = run_demo(
            spec=spec, warehouse_path=tmp_path / "demo.duckdb", instance=instance, registry=registry, config=config
        )
    summaries = outcome.days
    assert len(summaries) == config.days
    assert retraining_problems(outcome) == []
    assert guard_problems(outcome, config) == []
    assert outcome.retraining is not None and outcome.retraining["reason"] == "dataset_drift"
    assert all(s.rows == config.rows_per_day for s in summaries)
    assert unexpected(summaries, config) == []
    by_day = {s.day: s for s in summaries}
    assert not any(s.dataset_drift or s.drifted_features for s in summaries if s.day < config.drift_start)
    concept, fairness = by_day[config.concept_start], by_day[config.fairness_start]
    assert concept.performance == "error" and concept.primary_metric < 0.65
    assert by_day[config.fairness_start - dt.timedelta(days=1)].fairness == "ok"
    assert fairness.fairness == "error" and fairness.worst_disparity > 0.2
    last_labeled = config.now.date() - LABEL_DELAY
    assert by_day[last_labeled - dt.timedelta(days=1)].label_coverage == 1.0
    assert 0 < by_day[last_labeled].label_coverage < 1
    assert by_day[last_labeled + dt.timedelta(days=1)].performance == "too_few_labels"
