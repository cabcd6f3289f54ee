"""Business metrics through the warehouse and Dagster, on DuckDB and PostgreSQL: each day's mean,
sum and rate equal pandas on the raw rows, calibrated bands equal mean -/+ k std of the reference
days' values, and the check fails the day a KPI leaves its band."""

from __future__ import annotations

import copy
import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_assets import _pipeline, build_definitions
from monitoring_assets.core.levels import Level, worst
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources import schema
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import SMALL_SPEC, run_days, write_table

DAYS = [dt.date(2024, 1, 4) + dt.timedelta(days=i) for i in range(4)]
DROP_DAY = dt.date(2024, 1, 6)  # approvals fall from 60 % to 30 %
EMPTY_DAY = dt.date(2024, 1, 7)  # no rows at all


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(41)
    parts = []
    for i in range(6):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
        n = 800
        approve = 0.3 if day == DROP_DAY else 0.6
        decision = rng.choice(["approved", "declined"], n, p=[approve, 1 - approve]).astype(object)
        decision[rng.choice(n, 20, replace=False)] = None
        revenue = rng.gamma(2.0, 50.0, n).astype(object)
        revenue[rng.choice(n, 10, replace=False)] = float("nan")
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(day) + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
                    "x": rng.normal(10, 2, n),
                    "y": rng.exponential(3.0, n),
                    "score": rng.uniform(0, 1, n),
                    "c": rng.choice(["a", "b"], n),
                    "mv": "1",
                    "decision": decision,
                    "revenue": revenue,
                    "region": rng.choice(["north", "south"], n),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["numeric"] = ("revenue",)
    return frame


def _spec() -> MonitorSpec:
    doc = copy.deepcopy(SMALL_SPEC)
    doc["business_metrics"] = [
        {"name": "approval_rate", "column": "decision", "aggregate": "rate", "value": "approved"},
        {
            "name": "north_revenue",
            "column": "revenue",
            "aggregate": "sum",
            "where": {"region": "north"},
            "threshold": {"type": "constant", "lower": 1_000},
            "severity": "error",
        },
        {"name": "mean_revenue", "column": "revenue", "aggregate": "mean", "threshold": {"type": "calibrated", "k": 4}},
    ]
    return parse_spec(doc)


def _expected(rows: pd.DataFrame) -> dict[str, float]:
    revenue = pd.to_numeric(rows.revenue)
    decision = rows.decision.dropna()
    return {
        "approval_rate": float((decision == "approved").mean()),
        "north_revenue": float(revenue[rows.region == "north"].sum()),  # pandas skips NaN
        "mean_revenue": float(revenue.mean()),
    }


def test_the_business_check_fails_the_day_a_kpi_leaves_its_band(duckdb_url: str) -> None:
    """Through Dagster on DuckDB; the numbers on both engines are the next test's."""
    frame, spec = _frame(), _spec()
    write_table(duckdb_url, "t", frame)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=duckdb_url))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("m_reference").execute_in_process(instance=instance).success
        result = run_days(defs, instance, "m_daily_monitoring", "2024-01-04", "2024-01-07")
    checks = {str(e.partition): e for e in result.get_asset_check_evaluations() if e.check_name == "business_limits"}
    assert checks["2024-01-04"].passed and checks["2024-01-05"].passed
    drop = checks["2024-01-06"]
    assert not drop.passed and drop.severity == dg.AssetCheckSeverity.WARN
    assert drop.description is not None and drop.description.startswith("approval_rate ")
    assert checks["2024-01-07"].passed
    assert checks["2024-01-07"].description == "not evaluated: " + "; ".join(
        f"{name}: too few rows: 0 < 100" for name in ("approval_rate", "north_revenue", "mean_revenue")
    )


def test_business_metrics_per_day_against_pandas_and_their_bands(engine_url: str) -> None:
    frame, spec = _frame(), _spec()
    write_table(engine_url, "t", frame)
    wh = Warehouse(engine_url)
    try:
        verdicts = _pipeline.compute_business(wh, spec, DAYS, Audit("r", spec.spec_hash()))
        assert {d: worst(v.level for v in vs) for d, vs in verdicts.items()} == {
            DAYS[0]: Level.OK,
            DAYS[1]: Level.OK,
            DROP_DAY: Level.WARN,
            EMPTY_DAY: Level.NOT_EVALUATED,
        }
    finally:
        wh.dispose()
    t = schema.business_metrics.c
    wh = Warehouse(engine_url)
    try:
        with wh.begin() as conn:
            rows = conn.execute(sa.select(t.partition_date, t.metric, t.value, t.n, t.lower, t.upper, t.status)).all()
    finally:
        wh.dispose()
    stored = {(r.partition_date, r.metric): r for r in rows}
    reference = [_expected(frame[frame.ts.dt.date == dt.date(2024, 1, 1) + dt.timedelta(days=i)]) for i in range(3)]
    for name, k in (("approval_rate", 3.0), ("mean_revenue", 4.0)):
        values = [r[name] for r in reference]
        band = (np.mean(values) - k * np.std(values, ddof=1), np.mean(values) + k * np.std(values, ddof=1))
        assert (stored[(DAYS[0], name)].lower, stored[(DAYS[0], name)].upper) == pytest.approx(band, rel=1e-9)
    assert (stored[(DAYS[0], "north_revenue")].lower, stored[(DAYS[0], "north_revenue")].upper) == (1_000, None)
    for day in DAYS[:3]:
        for name, value in _expected(frame[frame.ts.dt.date == day]).items():
            assert stored[(day, name)].value == pytest.approx(value, rel=1e-9), (day, name)
            assert stored[(day, name)].status == "evaluated"
    assert {stored[(EMPTY_DAY, m)].status for m in ("approval_rate", "north_revenue", "mean_revenue")} == {
        "not_evaluated"
    }
    assert stored[(EMPTY_DAY, "mean_revenue")].value is None


def test_spec_refuses_a_business_metric_it_cannot_compute() -> None:
    doc = copy.deepcopy(SMALL_SPEC)
    for metrics, message in [
        ([{"name": "r", "column": "x", "aggregate": "rate"}], "value is needed by aggregate 'rate'"),
        ([{"name": "r", "column": "x", "aggregate": "mean", "value": 1}], "value is needed by aggregate 'rate'"),
        ([{"name": "r", "column": "x", "aggregate": "sum"}] * 2, "names repeated: r"),
        ([{"name": "r", "column": "x", "aggregate": "sum", "where": {"a; drop": 1}}], "where"),
        ([{"name": "r", "column": "x", "aggregate": "sum", "threshold": {"type": "constant"}}], "lower, upper or both"),
    ]:
        doc["business_metrics"] = metrics
        with pytest.raises(Exception, match=message):
            parse_spec(doc)
