"""The data_quality check through Dagster (DuckDB): definitions with and without a suite, a bad
suite stopping definitions from loading, Dagster's own blocking in a one-day run, per-day blocking
of the drift assets in a multi-day run, a WARN day that blocks nothing, and an info finding that
passes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from expectations import SUITES_DIR_ENV, Suite
from expectations._store import quality_results
from monitoring_assets import build_definitions
from monitoring_assets.errors import SpecError
from monitoring_assets.resources import WarehouseResource
from resources import _store
from resources.warehouse import Warehouse
from tests.conftest import write_table
from tests.test_quality import DAY, _null_flood, _range_break, build_suite, quality_frame, quality_spec

DAILY = dg.AssetKey(["q", "daily_profile"])
FEATURE = dg.AssetKey(["q", "feature_drift"])
JOB = "q_daily_monitoring"


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Suite, dg.DagsterInstance]]:
    """A warehouse with the healthy table and its stored reference, the generated suite in a
    suites directory the definitions read, and a Dagster instance."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    suites = tmp_path / "suites"
    suites.mkdir()
    suite = build_suite(url, quality_spec(), suites)
    monkeypatch.setenv(SUITES_DIR_ENV, str(suites))
    with dg.instance_for_test() as instance:
        yield url, suite, instance


def _defs(url: str) -> dg.Definitions:
    return build_definitions(specs=[quality_spec()], warehouse=WarehouseResource(url=url))


def _run_day(url: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = _defs(url).resolve_job_def(JOB)
    return job.execute_in_process(instance=instance, partition_key=DAY.isoformat(), raise_on_error=False)


def _drift_days(url: str) -> set[dt.date]:
    d = _store.drift_metrics.c
    with Warehouse(url).begin() as conn:
        return {r[0] for r in conn.execute(sa.select(d.partition_date).where(d.monitor == "q").distinct())}


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "data_quality"]
    return check


def test_definitions_have_a_blocking_check_only_with_a_suite(
    setup: tuple[str, Suite, dg.DagsterInstance], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, _suite, _ = setup
    spec = _defs(url).resolve_assets_def(DAILY).get_spec_for_check_key(dg.AssetCheckKey(DAILY, "data_quality"))
    assert spec.blocking
    assert "ERROR when a critical expectation fails" in (spec.description or "")
    monkeypatch.setenv(SUITES_DIR_ENV, str(tmp_path / "empty"))  # no suite file: no check, documented
    # Only the guards that need no suite (tests/test_faults_guards.py), none of them blocking.
    checks = _defs(url).resolve_assets_def(DAILY).check_specs
    assert {(c.name, c.blocking) for c in checks} == {("volume", False), ("null_rate", False)}


def test_a_suite_naming_an_unknown_column_stops_definitions_from_loading(
    setup: tuple[str, Suite, dg.DagsterInstance],
) -> None:
    url, suite, _ = setup
    suite.path.write_text(suite.path.read_text().replace('"column": "y"', '"column": "why"', 1))
    with pytest.raises(SpecError) as info:
        _defs(url)
    message = str(info.value)
    assert message.startswith(f"{suite.path}: expectations[")
    assert "(expect_column_to_exist, why): column 'why' is not a column of monitor 'q'" in message
    assert "\n" not in message


def test_a_critical_day_blocks_its_own_run(setup: tuple[str, Suite, dg.DagsterInstance]) -> None:
    """One partition: Dagster's blocking check fails the step after it is materialized, and every
    asset downstream of daily_profile in the run is skipped."""
    url, _, instance = setup
    write_table(url, "t", _null_flood(quality_frame()))
    result = _run_day(url, instance)
    assert not result.success
    check = _check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR and check.partition == DAY.isoformat()
    assert check.metadata["failed_critical"].value == 1 and check.metadata["failed_warning"].value == 1
    assert "y column_values_to_not_be_null: 90.00 % null (450 of 500 values)" in (check.description or "")
    assert "(drift of this day blocked)" in (check.description or "")
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and failure.cls_name == "DagsterAssetCheckFailedError"
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [DAILY]
    assert instance.get_latest_materialization_event(FEATURE) is None
    assert _drift_days(url) == set()


def test_a_multi_day_run_blocks_only_the_critical_day(setup: tuple[str, Suite, dg.DagsterInstance]) -> None:
    url, _, instance = setup
    write_table(url, "t", _null_flood(quality_frame()))
    days = [DAY - dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=1)]
    result = (
        _defs(url)
        .resolve_job_def(JOB)
        .execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[-1].isoformat(),
            },
        )
    )
    assert result.success
    # One data_quality result per day: ERROR on the critical day (in a multi-day run too).
    evaluations = result.get_asset_check_evaluations()
    quality = {str(e.partition): e for e in evaluations if e.check_name == "data_quality"}
    assert sorted(quality) == [d.isoformat() for d in days]
    check = quality[DAY.isoformat()]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["failed_critical"].value == 1 and check.metadata["failed_warning"].value == 1
    assert (check.description or "").startswith(f"data quality on {DAY}: 1 critical, 1 warning failed")
    assert "(drift of this day blocked)" in (check.description or "")
    assert "y column_values_to_not_be_null: 90.00 % null (450 of 500 values)" in (check.description or "")
    for d in (days[0], days[2]):
        ok = quality[d.isoformat()]
        assert ok.passed and ok.metadata["failed_critical"].value == 0 and ok.metadata["failed_warning"].value == 0
    # Drift computed and stored for the healthy days only; the blocked partition says why.
    assert _drift_days(url) == {days[0], days[2]}
    drift = {e.partition: e.metadata for e in result.asset_materializations_for_node("q__feature_drift")}
    assert drift[DAY.isoformat()]["blocked_by_data_quality"].value is True
    assert "drift_share" in drift[days[0].isoformat()] and "drift_share" not in drift[DAY.isoformat()]
    # Every drift check says the blocked day was not evaluated, and why; the other days were judged.
    for name in ("no_dataset_drift", "no_feature_drift", "no_prediction_drift"):
        per_day = {str(e.partition): e for e in evaluations if e.check_name == name}
        assert sorted(per_day) == [d.isoformat() for d in days], name
        blocked = per_day[DAY.isoformat()]
        assert blocked.passed and blocked.severity == dg.AssetCheckSeverity.WARN
        assert blocked.description == (
            f"not evaluated: data quality failed critically on {DAY} (check data_quality of daily_profile)"
        )
        assert blocked.metadata["evaluated"].value is False
        assert blocked.metadata["blocked_by_data_quality"].value is True
        assert all(per_day[d.isoformat()].metadata["evaluated"].value is True for d in (days[0], days[2])), name
    # Per-day levels in the partition metadata and in monitoring.quality_results.
    profile = {e.partition: e.metadata for e in result.asset_materializations_for_node("q__daily_profile")}
    assert {p: m["data_quality"].value for p, m in profile.items()} == {
        days[0].isoformat(): "ok",
        DAY.isoformat(): "critical",
        days[2].isoformat(): "ok",
    }
    q = quality_results.c
    with Warehouse(url).begin() as conn:
        stored = pd.DataFrame(
            conn.execute(sa.select(q.partition_date, q.severity, q.success, q.run_id)).fetchall(),
            columns=["day", "severity", "success", "run_id"],
        )
    failed = stored[~stored.success.astype(bool)]
    assert set(failed.day) == {DAY} and sorted(failed.severity) == ["critical", "warning"]
    assert set(stored.run_id) == {result.run_id}


def test_a_warning_day_warns_and_blocks_nothing(setup: tuple[str, Suite, dg.DagsterInstance]) -> None:
    url, _, instance = setup
    write_table(url, "t", _range_break(quality_frame()))
    result = _defs(url).resolve_job_def(JOB).execute_in_process(instance=instance, partition_key=DAY.isoformat())
    assert result.success
    check = _check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["failed_warning"].value == 1 and check.metadata["failed_critical"].value == 0
    assert "| **FAILED** |" in check.metadata["results"].value
    assert _drift_days(url) == {DAY}


def test_a_missing_column_fails_the_profile_but_the_check_says_why(
    setup: tuple[str, Suite, dg.DagsterInstance],
) -> None:
    url, _, instance = setup
    write_table(url, "t", quality_frame().drop(columns=["y"]))
    result = _run_day(url, instance)
    assert not result.success
    check = _check(result)
    assert check.severity == dg.AssetCheckSeverity.ERROR and not check.passed
    assert "y column_to_exist: missing" in (check.description or "")
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and failure.cause is not None and failure.cause.cls_name == "WarehouseError"


def test_an_info_finding_is_reported_and_passes(setup: tuple[str, Suite, dg.DagsterInstance]) -> None:
    """A hand-added expectation (any Great Expectations type) at severity info: it fails, the check passes."""
    url, suite, instance = setup
    data = json.loads(suite.path.read_text())
    data["expectations"].append(
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "y", "min_value": 100, "max_value": 200},
            "meta": {"severity": "info", "basis": "added by hand"},
        }
    )
    suite.path.write_text(json.dumps(data))
    result = _defs(url).resolve_job_def(JOB).execute_in_process(instance=instance, partition_key=DAY.isoformat())
    assert result.success
    check = _check(result)
    assert check.passed
    assert check.metadata["failed_info"].value == 1
    n = len(data["expectations"])
    assert f"data quality on {DAY}: passed, 1 info finding(s) of {n}: y column_mean_to_be_between:" in (
        check.description or ""
    )
    profile = result.asset_materializations_for_node("q__daily_profile")[0]
    assert profile.metadata["data_quality"].value == "info"
    assert _drift_days(url) == {DAY}
