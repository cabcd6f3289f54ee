"""Assets materialized through Dagster with a real DuckDB warehouse on small demo data: values in
the metric tables (checked against scipy on the raw rows), metadata, checks, re-runs, backfills."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from scipy import stats
from scipy.spatial import distance

from monitoring_assets import build_definitions
from monitoring_assets.core.thresholds import ConstantThreshold
from monitoring_assets.demo import (
    DemoConfig,
    write_duckdb,
)
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, drift_rules
from resources import _store
from resources.warehouse import Warehouse
from tests.conftest import demo_spec

CONFIG = DemoConfig(rows_per_day=1000, days=34, reference_rows=6200, last_day=dt.date(2024, 2, 3))
DAY = "2024-02-02"  # after the injected drift


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return demo_spec()


@pytest.fixture(scope="module")
def tables(demo_tables: Callable[[DemoConfig], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return demo_tables(CONFIG)


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
    assert meta["drift_share"].value == pytest.approx(4 / 6, rel=1e-3)  # metadata floats: 4 significant digits
    assert meta["dataset_drift"].value is True
    assert "debt_to_income" in meta["results"].value
    profile_event = instance.get_latest_materialization_event(dg.AssetKey(["credit_default", "daily_profile"]))
    assert profile_event.asset_materialization.metadata["row_count"].value == len(day)  # type: ignore[union-attr]
    evaluations = result.get_asset_check_evaluations()
    assert {e.partition for e in evaluations} == {DAY}  # one evaluation per check, for the run's day
    checks = {e.check_name: e for e in evaluations}
    assert len(checks) == len(evaluations)
    assert not checks["no_dataset_drift"].passed and checks["no_dataset_drift"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["no_feature_drift"].passed and checks["no_feature_drift"].severity == dg.AssetCheckSeverity.WARN
    assert checks["no_dataset_drift"].description.startswith("4 of 6 features drifted")  # type: ignore[union-attr]
    # The failing day names every drifted feature with its value and threshold, and no other.
    for feature, row in features.drop("__dataset__").iterrows():
        item = f"{feature} {row.method} {row.value:.3g} > {row.threshold:.3g}"
        assert (item in (checks["no_feature_drift"].description or "")) == bool(row.drifted), item
    assert checks["no_feature_drift"].metadata["evaluated"].value is True
    assert checks["no_feature_drift"].metadata["n_drifted"].value == 4

    # Performance estimated without labels (the day has none yet): plotted numbers with their band,
    # and its check judged (the reference's labels calibrate the score).
    estimated = instance.get_latest_materialization_event(dg.AssetKey(["credit_default", "estimated_performance"]))
    assert estimated is not None and estimated.asset_materialization is not None
    est = estimated.asset_materialization.metadata
    assert est["n_scored"].value == len(day)
    assert est["estimated_roc_auc_lower"].value < est["estimated_roc_auc"].value < est["estimated_roc_auc_upper"].value
    assert "realized_roc_auc" not in est and "estimate_over_days" in est
    check = checks["estimated_performance_vs_reference"]
    assert check.metadata.get("not_evaluated") is None and "roc_auc" in (check.description or "")


def test_rematerialization_replaces_rows(env: tuple[dg.Definitions, str, dg.DagsterInstance]) -> None:
    defs, url, instance = env
    _run_day(defs, instance, DAY)
    first = _drift_rows(url, DAY)
    second_run = _run_day(defs, instance, DAY)
    second = _drift_rows(url, DAY)
    assert len(second) == len(first) == 8  # 6 features, the dataset, the score
    assert set(second.run_id) == {second_run.run_id}
    p = _store.profile_metrics.c
    with Warehouse(url).begin() as conn:
        n = conn.execute(
            sa.select(sa.func.count()).where(
                (p.partition_date == dt.date.fromisoformat(DAY)) & (p.metric == "row_count")
            )
        ).scalar()
    assert n == 1


def test_range_backfill_is_one_run_with_per_day_metadata(
    env: tuple[dg.Definitions, str, dg.DagsterInstance], spec: MonitorSpec
) -> None:
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
        "2024-02-01": pytest.approx(4 / 6, rel=1e-3),
        "2024-02-02": pytest.approx(4 / 6, rel=1e-3),
    }
    # One no_dataset_drift evaluation per day: ERROR exactly on the two drifted days.
    checks = {str(e.partition): e for e in result.get_asset_check_evaluations() if e.check_name == "no_dataset_drift"}
    assert sorted(checks) == days
    assert {d: c.passed for d, c in checks.items()} == dict(zip(days, [True, True, False, False], strict=True))
    for d in days[2:]:
        assert checks[d].severity == dg.AssetCheckSeverity.ERROR
        assert (checks[d].description or "").startswith(
            f"4 of 6 features drifted (share 0.667 >= {spec.drift.drift_share:g}): "
        )
    for d in days[:2]:
        assert checks[d].description == f"0 of 6 features drifted (share 0 < {spec.drift.drift_share:g})"
        assert checks[d].metadata["evaluated"].value is True


def _psi(ref: pd.Series, cur: pd.Series) -> float:
    """PSI over the reference's deciles (open-ended outer cells), empty cells floored at 1e-4."""
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    p = np.clip(np.histogram(ref, edges)[0] / len(ref), 1e-4, None)
    q = np.clip(np.histogram(cur, edges)[0] / len(cur), 1e-4, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _independent_drift(ref: pd.DataFrame, day: pd.DataFrame, spec: MonitorSpec) -> dict[str, bool]:
    """Which columns drift on the day by scipy / numpy on the raw rows, with the spec's thresholds."""
    rules = drift_rules(spec)
    drifted: dict[str, bool] = {}
    for column, rule in rules.items():
        r, c = ref[column].dropna(), day[column].dropna()
        if rule.method == "wasserstein":
            value = stats.wasserstein_distance(r, c) / np.std(r)
        elif rule.method == "jensenshannon":
            cats = sorted(r.unique())
            p = r.value_counts().reindex(cats).to_numpy()
            value = distance.jensenshannon(p, c.value_counts().reindex(cats, fill_value=0).to_numpy(), base=2)
        else:
            assert rule.method == "psi", f"no independent reference for {rule.method}"
            value = _psi(r, c)
        assert isinstance(rule.threshold, ConstantThreshold)
        drifted[column] = bool(value > rule.threshold.value)
    return drifted


def test_check_history_has_one_record_per_day_with_the_days_status(
    env: tuple[dg.Definitions, str, dg.DagsterInstance], spec: MonitorSpec, tables: dict[str, pd.DataFrame]
) -> None:
    """The instance's check history after a multi-day run: one finished record per day and check,
    its status the day's drift as scipy computes it on the raw rows."""
    defs, _url, instance = env
    days = ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02", "2024-02-03"]
    result = defs.resolve_job_def("credit_default_daily_monitoring").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
    )
    assert result.success
    ref = tables["training_data"]
    score = spec.prediction.score_column
    features = [c for c in drift_rules(spec) if c != score]
    want: dict[str, dict[str, bool]] = {}  # check -> day -> passed
    for day in days:
        drifted = _independent_drift(ref, _day_rows(tables, day), spec)
        share = sum(drifted[c] for c in features) / len(features)
        want.setdefault("no_feature_drift", {})[day] = not any(drifted[c] for c in features)
        want.setdefault("no_dataset_drift", {})[day] = share < spec.drift.drift_share
        want.setdefault("no_prediction_drift", {})[day] = not drifted[score]
    # Both outcomes occur, so a check that always passes (or always fails) cannot match.
    assert all(set(per_day.values()) == {True, False} for per_day in want.values())

    storage = instance.event_log_storage
    ok, failed = AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED
    for check, asset in [
        ("no_feature_drift", "feature_drift"),
        ("no_dataset_drift", "feature_drift"),
        ("no_prediction_drift", "prediction_drift"),
    ]:
        key = dg.AssetCheckKey(dg.AssetKey(["credit_default", asset]), check)
        records = storage.get_asset_check_execution_history(key, limit=100)
        assert sorted(str(r.partition) for r in records) == days, check
        for r in records:
            day = str(r.partition)
            assert r.run_id == result.run_id
            assert r.status == (ok if want[check][day] else failed), (check, day)
            evaluation = r.event.asset_check_evaluation if r.event else None
            assert evaluation is not None and evaluation.partition == day
            assert evaluation.passed == want[check][day]
            assert evaluation.metadata["evaluated"].value is True

    # Every check of the run finished on every day: nothing left PLANNED (shown as SKIPPED).
    for spec_key in result.job_def.asset_layer.asset_graph.asset_check_keys:
        records = storage.get_asset_check_execution_history(spec_key, limit=100)
        assert sorted(str(r.partition) for r in records) == days, spec_key
        assert {r.status for r in records} <= {ok, failed}, spec_key


def test_each_days_check_evaluation_is_about_this_runs_materialization(
    env: tuple[dg.Definitions, str, dg.DagsterInstance],
) -> None:
    """A multi-day step looks up its days' materializations at once; days that an earlier run
    materialized too must still point at this run's, as each partition's newest record says."""
    defs, _url, instance = env
    job = defs.resolve_job_def("credit_default_daily_monitoring")
    days = ["2024-01-30", "2024-01-31", "2024-02-01"]

    def run(first: str, last: str) -> dg.ExecuteInProcessResult:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        result = job.execute_in_process(instance=instance, tags=tags)
        assert result.success
        return result

    earlier = run(days[0], days[1])
    result = run(days[0], days[-1])
    evaluations = result.get_asset_check_evaluations()
    per_check: dict[tuple[dg.AssetKey, str], list[str]] = {}
    for e in evaluations:
        per_check.setdefault((e.asset_key, e.check_name), []).append(str(e.partition))
        (latest,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=e.asset_key, asset_partitions=[str(e.partition)]), limit=1
        ).records
        assert latest.run_id == result.run_id != earlier.run_id
        target = e.target_materialization_data
        assert target is not None
        assert (target.run_id, target.storage_id) == (result.run_id, latest.storage_id), (e.check_name, e.partition)
    assert per_check and all(sorted(p) == days for p in per_check.values()), per_check


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
