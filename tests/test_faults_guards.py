"""Issue 10, section 1: guards that need no suite (volume, minimum evidence, null rate, constant
reference columns), through Dagster on DuckDB and PostgreSQL, read back from the metric tables.

Expected numbers come from the raw rows (pandas), never from our own earlier output: the
reference's daily rate is its row count over its window's days, a null share is (None + NaN +
inf) / rows, and the constant-reference rule's value is the share of the day's rows that differ
from the constant.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from monitoring_assets import _pipeline, build_definitions
from monitoring_assets.core.evaluate import ColumnRule, evaluate_drift
from monitoring_assets.core.guards import (
    CONSTANT_REFERENCE_NOTE,
    GuardLimits,
    constant_columns,
    null_rate_verdict,
    volume_verdict,
)
from monitoring_assets.core.profile import NumericBins, ProfileLayout, profile_from_values
from monitoring_assets.core.thresholds import ConstantThreshold
from monitoring_assets.resources import AlertsResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources import _store
from resources.alerts import alert_log
from resources.warehouse import Warehouse
from sensors.alerts import day_evaluated, evaluate_alerts
from tests.conftest import sample_frame, scratch_database, small_spec, write_table

NAME = "guards"
TABLE = "guards_log"
NORMAL, ZERO, TWENTY, ONE, ALL_NULL, NULL_RISE, NULL_WITHIN = (dt.date(2024, 1, d) for d in range(4, 11))
REFERENCE_DAYS = 3  # the window 2024-01-01..03
PER_DAY = 400
BINS = NumericBins(0.0, 1.0, 10)


def _spec(**overrides: Any) -> MonitorSpec:
    data: dict[str, Any] = {
        "name": NAME,
        "source": {"table": TABLE, "timestamp_column": "ts", "model_version_column": "mv"},
        "partitions": {"start_date": "2024-01-04", "end_date": "2024-01-13"},
        # 400 rows a day against 1,200 reference rows: W1/std reaches 0.15 from sampling alone.
        "drift": {"n_bins": 100, "top_k": 3, "thresholds": {"wasserstein": 0.25}},
    }
    data.update(overrides)
    return small_spec(**data)


def _frame() -> pd.DataFrame:
    """sample_frame's 12 days of 400 rows, with one fault per day from 2024-01-05 (see the names)."""
    frame = sample_frame(seed=5, days=12, per_day=PER_DAY)
    frame["y"] = frame["y"].astype(object)
    day = frame.ts.dt.date
    complete = frame.x.map(lambda v: v is not None and np.isfinite(v)) & frame.c.notna()
    keep = (day != ZERO) & (day != TWENTY) & (day != ONE)
    keep |= (day == TWENTY) & (frame.groupby(day).cumcount() < 20)
    keep |= (day == ONE) & (frame.index == frame[(day == ONE) & complete].index[0])
    rng = np.random.default_rng(11)
    for when, share in ((NULL_RISE, 0.2), (NULL_WITHIN, 0.05)):
        rows = frame.index[day == when]
        frame.loc[rng.choice(rows, int(share * len(rows)), replace=False), "x"] = None
    frame.loc[day == ALL_NULL, "y"] = None
    out = frame[keep].reset_index(drop=True)
    out.attrs["numeric"] = ("x", "y")
    return out


def _null_share(frame: pd.DataFrame, column: str, day: dt.date | None = None) -> float:
    rows = frame if day is None else frame[frame.ts.dt.date == day]
    values = rows[column]
    missing = values.map(lambda v: v is None or not np.isfinite(float(v)))
    return float(missing.mean())


class Env:
    """The guards monitor's definitions over one warehouse and a Dagster instance."""

    def __init__(self, url: str, spec: MonitorSpec, instance: dg.DagsterInstance) -> None:
        self.url, self.spec, self.instance = url, spec, instance
        self.alerts = AlertsResource()  # to the log only
        self.defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url), alerts=self.alerts)

    def reference(self) -> dg.ExecuteInProcessResult:
        result = self.defs.resolve_job_def(f"{self.spec.name}_reference").execute_in_process(instance=self.instance)
        assert result.success
        return result

    def run(self, day: dt.date) -> dict[str, dg.AssetCheckEvaluation]:
        """A one-day run's checks: one evaluation each, for that day."""
        job = self.defs.resolve_job_def(f"{self.spec.name}_daily_monitoring")
        result = job.execute_in_process(instance=self.instance, partition_key=day.isoformat())
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert {e.partition for e in evaluations} == {day.isoformat()}
        checks = {e.check_name: e for e in evaluations}
        assert len(checks) == len(evaluations)
        return checks

    def run_range(self, first: dt.date, last: dt.date) -> dict[str, dict[dt.date, dg.AssetCheckEvaluation]]:
        """A multi-day run's checks: check name -> day -> that day's evaluation."""
        job = self.defs.resolve_job_def(f"{self.spec.name}_daily_monitoring")
        tags = {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        result = job.execute_in_process(instance=self.instance, tags=tags)
        assert result.success
        checks: dict[str, dict[dt.date, dg.AssetCheckEvaluation]] = {}
        for e in result.get_asset_check_evaluations():
            assert e.partition is not None
            per_day = checks.setdefault(e.check_name, {})
            assert dt.date.fromisoformat(e.partition) not in per_day  # one evaluation per check and day
            per_day[dt.date.fromisoformat(e.partition)] = e
        return checks

    def drift_rows(self, day: dt.date) -> set[tuple[Any, ...]]:
        d = _store.drift_metrics.c
        wh = Warehouse(self.url)
        try:
            with wh.begin() as conn:
                rows = conn.execute(
                    sa.select(d.scope, d.feature, d.method, d.value, d.threshold, d.drifted, d.status, d.reason).where(
                        (d.monitor == self.spec.name) & (d.partition_date == day)
                    )
                ).fetchall()
        finally:
            wh.dispose()
        return {tuple(r) for r in rows}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame()


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], ids=["duckdb", "postgres"]
)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[Env]:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('guards') / 'wh.duckdb'}"
    else:
        url = request.getfixturevalue("pg_url")
    write_table(url, TABLE, frame)
    with dg.instance_for_test() as instance:
        e = Env(url, _spec(), instance)
        e.reference()
        yield e


def _meta(evaluation: dg.AssetCheckEvaluation, key: str) -> Any:
    return evaluation.metadata[key].value


# -- volume ---------------------------------------------------------------------------------------


def test_a_day_without_rows_fails_volume_at_error_and_its_drift_is_not_evaluated(env: Env) -> None:
    checks = env.run(ZERO)
    rate = PER_DAY * REFERENCE_DAYS / REFERENCE_DAYS  # reference rows / window days
    volume = checks["volume"]
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.ERROR
    assert volume.description == (f"no rows (reference daily rate {rate:.0f}, minimum 0.1 x rate = {0.1 * rate:.0f})")
    assert _meta(volume, "evaluated") is True
    for name in ("no_dataset_drift", "no_feature_drift", "no_prediction_drift"):
        check = checks[name]
        assert check.passed and check.severity == dg.AssetCheckSeverity.WARN, name
        assert check.description == "not evaluated: 0 rows, minimum 100"
        assert _meta(check, "evaluated") is False
    assert {r[6] for r in env.drift_rows(ZERO)} == {"not_evaluated"}


def test_a_day_far_below_the_reference_rate_fails_volume(env: Env, frame: pd.DataFrame) -> None:
    checks = env.run(TWENTY)
    n = int((frame.ts.dt.date == TWENTY).sum())
    assert n == 20
    volume = checks["volume"]
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.ERROR
    assert volume.description == "20 rows, below reference daily rate 400, minimum 0.1 x rate = 40"
    assert checks["no_dataset_drift"].description == "not evaluated: 20 rows, minimum 100"
    assert _meta(checks["no_dataset_drift"], "evaluated") is False


# -- minimum evidence -----------------------------------------------------------------------------


def test_a_one_row_day_is_not_evaluated_stored_so_and_no_drift_check_fails(env: Env) -> None:
    checks = env.run(ONE)
    reason = "1 row, minimum 100"
    assert env.drift_rows(ONE) == {
        ("feature", "x", "wasserstein", None, 0.25, None, "not_evaluated", reason),
        ("feature", "y", "wasserstein", None, 0.25, None, "not_evaluated", reason),
        ("feature", "c", "jensenshannon", None, 0.1, None, "not_evaluated", reason),
        ("feature", "__dataset__", "drift_share", None, 0.5, None, "not_evaluated", reason),
        ("prediction", "score", "wasserstein", None, 0.25, None, "not_evaluated", reason),
    }
    for name in ("no_dataset_drift", "no_feature_drift", "no_prediction_drift"):
        assert checks[name].passed and checks[name].description == f"not evaluated: {reason}"
        assert not day_evaluated(checks[name])  # the alerts sensor: neither an alert nor a recovery
    assert not checks["volume"].passed and checks["volume"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["null_rate"].passed
    assert checks["null_rate"].description == "margin not evaluated: 1 row, minimum 100 (no column 100 % null)"
    event = env.instance.get_latest_materialization_event(dg.AssetKey([NAME, "feature_drift"]))
    assert event is not None and event.asset_materialization is not None
    meta = event.asset_materialization.metadata
    assert meta["dataset_drift"].value is None and "drift_share" not in meta  # neither drift nor no drift
    assert meta["not_evaluated"].value == f"not evaluated: {reason}"


# -- null rate ------------------------------------------------------------------------------------


def test_a_feature_all_null_fails_null_rate_naming_it_and_its_drift_is_not_evaluated(env: Env) -> None:
    checks = env.run(ALL_NULL)
    null_rate = checks["null_rate"]
    assert not null_rate.passed and null_rate.severity == dg.AssetCheckSeverity.ERROR
    assert null_rate.description == "y is 100 % null (400 rows)"
    rows = {r[1]: r for r in env.drift_rows(ALL_NULL)}
    assert rows["y"][3:] == (None, 0.25, None, "not_evaluated", "null rate: y is 100 % null (400 rows)")
    assert rows["x"][6] == rows["c"][6] == rows["__dataset__"][6] == "evaluated"
    assert rows["__dataset__"][7] == "left out: y (null rate: y is 100 % null (400 rows))"
    feature = checks["no_feature_drift"].description or ""
    assert feature.endswith("; not evaluated: y (null rate: y is 100 % null (400 rows))")
    assert _meta(checks["no_feature_drift"], "evaluated") is True  # x and c were judged
    assert _meta(checks["no_feature_drift"], "n_not_evaluated") == 1
    assert checks["volume"].passed


def test_a_null_rate_rise_above_the_margin_fails_and_one_within_it_passes(env: Env, frame: pd.DataFrame) -> None:
    reference = frame[frame.ts.dt.date < NORMAL]
    ref_share = _null_share(reference, "x")
    risen, within = _null_share(frame, "x", NULL_RISE), _null_share(frame, "x", NULL_WITHIN)
    assert risen > ref_share + 0.1 > within  # the data is what the test says it is
    checks = env.run(NULL_RISE)
    assert not checks["null_rate"].passed and checks["null_rate"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["null_rate"].description == (
        f"x null share {risen:.3f} above the reference's {ref_share:.3f} + margin 0.1"
    )
    assert {r[1]: r[6] for r in env.drift_rows(NULL_RISE)}["x"] == "not_evaluated"
    checks = env.run(NULL_WITHIN)
    assert checks["null_rate"].passed
    assert checks["null_rate"].description == "null shares within the reference's + 0.1"
    assert {r[1]: r[6] for r in env.drift_rows(NULL_WITHIN)}["x"] == "evaluated"


# -- same distribution ----------------------------------------------------------------------------


def test_a_normal_day_stays_green(env: Env) -> None:
    checks = env.run(NORMAL)
    assert {n: c.passed for n, c in checks.items()} == {
        "volume": True,
        "null_rate": True,
        "no_feature_drift": True,
        "no_dataset_drift": True,
        "no_prediction_drift": True,
    }
    assert checks["volume"].description == "400 rows (reference daily rate 400, minimum 0.1 x rate = 40)"
    assert checks["no_dataset_drift"].description == "0 of 3 features drifted (share 0 < 0.5)"
    assert all(_meta(c, "evaluated") is True for c in checks.values())
    rows = env.drift_rows(NORMAL)
    assert {(r[1], r[6], r[7]) for r in rows} == {
        (f, "evaluated", None) for f in ("x", "y", "c", "__dataset__", "score")
    }
    assert all(r[3] is not None and r[5] is False for r in rows)


def test_a_range_run_names_the_days_not_evaluated(env: Env) -> None:
    checks = env.run_range(NORMAL, ONE)
    days = [NORMAL, ZERO, TWENTY, ONE]
    assert all(sorted(per_day) == days for per_day in checks.values())
    dataset = checks["no_dataset_drift"]
    assert all(e.passed for e in dataset.values())
    assert dataset[NORMAL].description == "0 of 3 features drifted (share 0 < 0.5)"
    assert day_evaluated(dataset[NORMAL])  # the judged day: a pass is a pass
    for day, rows in ((ZERO, "0 rows"), (TWENTY, "20 rows"), (ONE, "1 row")):
        assert dataset[day].description == f"not evaluated: {rows}, minimum 100", day
        assert dataset[day].severity == dg.AssetCheckSeverity.WARN and not day_evaluated(dataset[day])
    volume = checks["volume"]
    assert {d: e.passed for d, e in volume.items()} == {NORMAL: True, ZERO: False, TWENTY: False, ONE: False}
    assert all(volume[d].severity == dg.AssetCheckSeverity.ERROR for d in days[1:])
    assert volume[ONE].description == "1 row, below reference daily rate 400, minimum 0.1 x rate = 40"


# -- constant reference column --------------------------------------------------------------------


def test_a_constant_reference_column_warns_and_follows_the_share_rule(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = sample_frame(seed=1, days=5, per_day=PER_DAY)
    k = np.full(len(frame), 5.0)
    day = frame.ts.dt.date.to_numpy()
    moved = rng.choice(np.flatnonzero(day == dt.date(2024, 1, 4)), 120, replace=False)
    k[moved] = 6.0
    frame["k"] = k
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, TABLE, frame)
    spec = _spec(features={"numeric": ["x", "y", "k"], "categorical": ["c"]})
    with dg.instance_for_test() as instance:
        env = Env(url, spec, instance)
        ref = env.reference()
        warnings = [
            e.message
            for e in instance.all_logs(ref.run_id)
            if e.level == logging.WARNING and "constant column(s) k" in e.message
        ]
        assert len(warnings) == 1 and "wasserstein" in warnings[0]
        event = instance.get_latest_materialization_event(dg.AssetKey([NAME, "reference_profile"]))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.metadata["constant_columns"].value == "k"
        env.run(dt.date(2024, 1, 4))
        env.run(dt.date(2024, 1, 5))
        moved_rows = {r[1]: r for r in env.drift_rows(dt.date(2024, 1, 4))}
        still_rows = {r[1]: r for r in env.drift_rows(dt.date(2024, 1, 5))}
    share = float((frame.k[day == dt.date(2024, 1, 4)] != 5.0).mean())  # 120 / 400
    assert moved_rows["k"][2:] == (
        "wasserstein",
        pytest.approx(share, abs=1e-12),
        0.25,
        True,
        "evaluated",
        CONSTANT_REFERENCE_NOTE,
    )
    assert still_rows["k"][2:] == ("wasserstein", 0.0, 0.25, False, "evaluated", CONSTANT_REFERENCE_NOTE)


# -- alerts ---------------------------------------------------------------------------------------


def test_alerts_fire_for_volume_and_null_rate_and_not_evaluated_drift_neither_fires_nor_resolves(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    write_table(url, TABLE, frame)
    spec = _spec()
    now = dt.datetime(2024, 1, 20, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        env = Env(url, spec, instance)
        env.reference()
        checks = env.defs.resolve_asset_graph().asset_check_keys
        log = logging.getLogger("test_faults_guards")
        cursor: str | None = None

        def tick(at: dt.datetime) -> list[dict[str, Any]]:
            nonlocal cursor
            wh = Warehouse(url)
            try:
                before = len(alert_log(wh, spec))
                result = evaluate_alerts(
                    instance=instance,
                    cursor=cursor,
                    spec=spec,
                    checks=sorted(checks, key=lambda k: k.to_user_string()),
                    wh=wh,
                    sink=env.alerts.settings().sink(log, spec.alerts),
                    window=dt.timedelta(hours=24),
                    now=at,
                )
                cursor = result.cursor
                return alert_log(wh, spec)[before:]
            finally:
                wh.dispose()

        # An open dataset-drift incident (a failed day's result, as our checks write it).
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey([NAME, "feature_drift"]),
                check_name="no_dataset_drift",
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                description="3 of 3 features drifted (share 1 >= 0.5): x wasserstein 0.9 > 0.25",
                metadata={"evaluated": True},
                partition=NORMAL.isoformat(),
            )
        )
        assert [(a["kind"], a["check"]) for a in tick(now)] == [("firing", f"{NAME}/feature_drift:no_dataset_drift")]

        env.run(ONE)
        sent = tick(now + dt.timedelta(hours=1))
        assert [(a["kind"], a["tier"], a["check"]) for a in sent] == [
            ("firing", "critical", f"{NAME}/daily_profile:volume")
        ]
        assert "1 row, below reference daily rate 400" in sent[0]["text"]

        env.run(ALL_NULL)
        sent = tick(now + dt.timedelta(hours=2))
        by_check = {a["check"]: a for a in sent}
        # The drift incident is still open: a not-evaluated day never resolved it; this judged day does.
        assert by_check[f"{NAME}/daily_profile:null_rate"]["tier"] == "critical"
        assert "y is 100 % null" in by_check[f"{NAME}/daily_profile:null_rate"]["text"]
        assert by_check[f"{NAME}/daily_profile:volume"]["kind"] == "resolved"
        assert by_check[f"{NAME}/feature_drift:no_dataset_drift"]["kind"] == "resolved"


# -- table upgrade --------------------------------------------------------------------------------


OLD_DRIFT_METRICS = """CREATE TABLE monitoring.drift_metrics (
    monitor VARCHAR(63) NOT NULL, partition_date DATE NOT NULL, scope VARCHAR(16) NOT NULL,
    feature VARCHAR(63) NOT NULL, method VARCHAR(32) NOT NULL, value DOUBLE PRECISION,
    threshold DOUBLE PRECISION, drifted BOOLEAN NOT NULL, run_id VARCHAR(64) NOT NULL,
    spec_hash VARCHAR(64) NOT NULL, model_version VARCHAR(256), computed_at TIMESTAMP NOT NULL)"""


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], ids=["duckdb", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty warehouse: a DuckDB file, or a PostgreSQL database of its own."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'old.duckdb'}"
        return
    with scratch_database(request.getfixturevalue("pg_url"), "guards") as url:
        yield url


def test_ensure_tables_upgrades_an_existing_drift_metrics_table(fresh_url: str) -> None:
    engine = sa.create_engine(fresh_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA monitoring")
        conn.exec_driver_sql(OLD_DRIFT_METRICS)
        conn.exec_driver_sql(
            "INSERT INTO monitoring.drift_metrics VALUES "
            "('m', DATE '2024-01-02', 'feature', 'x', 'ks', 0.05, 0.1, false, 'r0', 'h', NULL, TIMESTAMP '2024-01-03')"
        )
    engine.dispose()
    wh = Warehouse(fresh_url)
    try:
        wh.ensure_tables()
        wh.ensure_tables()  # idempotent
        spec = small_spec()
        rules = {"x": ColumnRule("ks", ConstantThreshold(0.1))}
        layout = ProfileLayout(numeric={"x": BINS}, categorical={})
        reference = profile_from_values(layout, {"x": np.linspace(0, 1, 500)})
        one_row = profile_from_values(layout, {"x": [0.5]})
        result = evaluate_drift(rules, reference, one_row, 0.5, guards=GuardLimits())
        wh.profiles.write_drift(spec, "feature", {dt.date(2024, 1, 4): (result, _store.Audit("r1", "h"))})
        d = _store.drift_metrics.c
        with wh.begin() as conn:
            rows = set(
                conn.execute(
                    sa.select(d.partition_date, d.feature, d.value, d.drifted, d.status, d.reason).order_by(
                        d.partition_date, d.feature
                    )
                ).fetchall()
            )
    finally:
        wh.dispose()
    assert rows == {
        (dt.date(2024, 1, 2), "x", 0.05, False, "evaluated", None),
        (dt.date(2024, 1, 4), "x", None, None, "not_evaluated", "1 row, minimum 100"),
        (dt.date(2024, 1, 4), "__dataset__", None, None, "not_evaluated", "1 row, minimum 100"),
    }


# -- pure rules -----------------------------------------------------------------------------------


def test_volume_rules_without_a_reference_rate() -> None:
    limits = GuardLimits(min_rows=100, min_volume_ratio=0.1)
    assert volume_verdict(0, None, limits).level == "error"
    assert "only the zero-row rule applies" in volume_verdict(0, None, limits).reason
    assert volume_verdict(5, None, limits).level == "warn"  # too few to judge drift, not a volume failure
    assert volume_verdict(500, None, limits).level == "ok"
    assert volume_verdict(99, 1000.0, limits).level == "error"  # below 0.1 x 1000
    assert volume_verdict(100, 1000.0, limits).level == "ok"
    assert volume_verdict(50, 1000.0, GuardLimits(min_rows=10, min_volume_ratio=0.0)).level == "ok"  # ratio off


def test_null_rate_rules() -> None:
    layout = ProfileLayout(numeric={"x": BINS}, categorical={})
    ref = profile_from_values(layout, {"x": [0.1] * 90 + [None] * 10}).columns["x"]  # 10 % null
    limits = GuardLimits(min_rows=100, null_rate_margin=0.1)

    def verdict(values: list[Any]) -> bool:
        cur = profile_from_values(layout, {"x": values}).columns["x"]
        v = null_rate_verdict("x", ref, cur, len(values), limits)
        assert v is not None
        return v.failed

    assert verdict([0.1] * 79 + [None] * 21)  # 21 % > 10 % + 10 %
    assert not verdict([0.1] * 80 + [None] * 20)  # exactly at the margin: passes
    assert verdict([0.1] * 79 + [float("nan")] * 11 + [float("inf")] * 10)  # non-finite counts as missing
    assert verdict([None] * 3)  # 100 % null fails on any day with rows
    assert not verdict([0.1] * 1 + [None] * 2)  # 67 % on 3 rows: too few rows to judge the margin


def test_constant_columns_of_a_profile() -> None:
    layout = ProfileLayout(numeric={"a": BINS, "b": BINS}, categorical={})
    profile = profile_from_values(layout, {"a": [0.3, 0.3, None], "b": [0.3, 0.4, 0.3]})
    assert constant_columns(profile) == ["a"]


def test_a_table_reference_rate_counts_its_distinct_days_and_without_a_timestamp_there_is_none(
    fresh_url: str,
) -> None:
    frame = sample_frame(seed=2, days=3, per_day=300)
    reference = frame[frame.ts.dt.date != dt.date(2024, 1, 2)]  # 600 rows over 2 distinct days
    write_table(fresh_url, "guards_ref", reference)
    day = sample_frame(seed=4, days=1, per_day=400).head(25)
    day["ts"] = day.ts + pd.Timedelta(days=5)  # 2024-01-06
    write_table(fresh_url, TABLE, day)
    when = dt.date(2024, 1, 6)
    wh = Warehouse(fresh_url)
    try:
        for ts, expected in (
            ("ts", "25 rows, below reference daily rate 300, minimum 0.1 x rate = 30"),
            (
                None,
                "25 rows: too few to evaluate drift (guards.min_rows 100; the reference has no timestamp "
                "column, so no daily rate: only the zero-row rule applies)",
            ),
        ):
            spec = _spec(reference={"table": "guards_ref", "timestamp_column": ts})
            audit = _store.Audit("r", spec.spec_hash())
            _pipeline.build_reference(wh, spec, audit)
            profiles = _pipeline.build_daily_profiles(wh, spec, [when], audit)
            guards = _pipeline.check_guards(wh, spec, profiles)[when]
            assert guards.volume.reason == expected
            assert guards.volume.level == ("error" if ts else "warn")
    finally:
        wh.dispose()
