"""The operations asset through the warehouse and Dagster, on DuckDB and PostgreSQL: latency
quantiles within the stated bound of numpy on the raw rows, the error rate exact, SLO verdicts."""

from __future__ import annotations

import copy
import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_assets import build_definitions
from monitoring_assets.core.operations import latency_histogram
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources import schema
from resources.warehouse import Warehouse
from tests.conftest import SMALL_SPEC, run_days, write_table

DAYS = [dt.date(2024, 1, 4), dt.date(2024, 1, 5), dt.date(2024, 1, 6)]
SLOW_DAY, THIN_DAY = dt.date(2024, 1, 5), dt.date(2024, 1, 6)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(31)
    parts = []
    for i in range(6):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
        n = 50 if day == THIN_DAY else 2_000
        latency = rng.lognormal(4.0, 0.6, n) * (4.0 if day == SLOW_DAY else 1.0)
        latency = latency.astype(object)
        latency[rng.choice(n, 10, replace=False)] = None
        latency[rng.choice(n, 3, replace=False)] = float("nan")
        latency[rng.choice(n, 3, replace=False)] = 0.0
        status = rng.choice(["ok", "error", "timeout"], n, p=[0.97, 0.02, 0.01]).astype(object)
        status[rng.choice(n, 5, replace=False)] = None
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(day) + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
                    "x": rng.normal(10, 2, n),
                    "y": rng.exponential(3.0, n),
                    "score": rng.uniform(0, 1, n),
                    "c": rng.choice(["a", "b"], n),
                    "mv": "1",
                    "latency_ms": latency,
                    "status": status,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["numeric"] = ("latency_ms",)
    return frame


def _spec() -> MonitorSpec:
    doc = copy.deepcopy(SMALL_SPEC)
    doc["operations"] = {
        "latency_column": "latency_ms",
        "status_column": "status",
        "error_values": ["error", "timeout"],
        "slo": {"latency_p99": {"warn": 300, "error": 600}, "error_rate": {"warn": 0.05}},
    }
    return parse_spec(doc)


def _day(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return frame[(frame.ts >= pd.Timestamp(day)) & (frame.ts < pd.Timestamp(day) + pd.Timedelta(days=1))]


def test_the_operations_asset_measures_each_day_against_numpy_and_judges_its_slos(duckdb_url: str) -> None:
    """Through Dagster on DuckDB; PostgreSQL's buckets are numpy's too (the test below)."""
    engine_url = duckdb_url
    frame, spec = _frame(), _spec()
    write_table(engine_url, "t", frame)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=engine_url))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("m_reference").execute_in_process(instance=instance).success
        result = run_days(defs, instance, "m_daily_monitoring", "2024-01-04", "2024-01-06")
        assert result.success
    checks = {str(e.partition): e for e in result.get_asset_check_evaluations() if e.check_name == "slo"}
    assert checks["2024-01-04"].passed
    slow = checks["2024-01-05"]
    assert not slow.passed and slow.severity == dg.AssetCheckSeverity.ERROR
    assert slow.description is not None and "latency_p99" in slow.description
    thin = checks["2024-01-06"]
    assert thin.passed and thin.description == "not evaluated: too few requests: 50 < 100"

    t = schema.operations_metrics.c
    wh = Warehouse(engine_url)
    try:
        with wh.begin() as conn:
            rows = conn.execute(sa.select(t.partition_date, t.metric, t.value)).all()
    finally:
        wh.dispose()
    stored = {(r.partition_date, r.metric): r.value for r in rows}
    for day in DAYS:
        raw = _day(frame, day)
        latency = raw.latency_ms.to_numpy(dtype=np.float64)
        finite = latency[np.isfinite(latency)]
        assert stored[(day, "request_count")] == len(raw)
        status = raw.status.dropna()
        assert stored[(day, "error_rate")] == pytest.approx(status.isin(["error", "timeout"]).mean(), rel=1e-12)
        assert stored[(day, "latency_null_count")] == len(latency) - len(finite)
        for metric, q in (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99)):
            want = float(np.quantile(finite, q, method="inverted_cdf"))
            assert abs(stored[(day, metric)] - want) <= 0.01 * want * (1 + 1e-9), (day, metric)


def test_the_warehouse_buckets_are_numpys(engine_url: str) -> None:
    frame, spec = _frame(), _spec()
    write_table(engine_url, "t", frame)
    wh = Warehouse(engine_url)
    try:
        found = wh.operations.operations_days(spec, DAYS)
    finally:
        wh.dispose()
    for day, agg in found.items():
        want = latency_histogram(_day(frame, day).latency_ms.to_numpy(dtype=np.float64), 0.01)
        assert agg.latency is not None
        assert dict(agg.latency.buckets) == dict(want.buckets)
        assert (agg.latency.zero_count, agg.latency.null_count) == (want.zero_count, want.null_count)


def test_spec_refuses_an_operations_block_it_cannot_measure() -> None:
    doc = copy.deepcopy(SMALL_SPEC)
    for block, message in [
        ({}, "give latency_column, status_column or both"),
        ({"status_column": "s"}, "status_column needs error_values"),
        ({"latency_column": "l", "slo": {"error_rate": {"warn": 0.1}}}, "slo.error_rate needs a status_column"),
        ({"latency_column": "l", "slo": {"latency_p99": {"warn": 9, "error": 5}}}, "must not exceed error"),
        ({"latency_column": "l; drop table t"}, "latency_column"),
    ]:
        doc["operations"] = block
        with pytest.raises(Exception, match=message):
            parse_spec(doc)
