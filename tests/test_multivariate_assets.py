"""Multivariate drift through the warehouse and Dagster, on DuckDB and PostgreSQL: the moments the
SQL sums equal numpy's on the raw rows, and the asset catches a correlation break that every
univariate check misses, with the value scikit-learn's PCA gives on the day's rows."""

from __future__ import annotations

import copy
import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from monitoring_assets import build_definitions
from monitoring_assets.core.multivariate import Moments, Standardizer
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources import schema
from resources.warehouse import Warehouse
from tests.conftest import SMALL_SPEC, run_days, write_table

FEATURES = ["x", "y", "w"]
BREAK = dt.date(2024, 1, 9)  # x and y swap the sign of their correlation; every marginal stays N(0, 1)
DAYS = [dt.date(2024, 1, 6) + dt.timedelta(days=i) for i in range(5)]


def _frame(per_day: int = 1_500) -> pd.DataFrame:
    rng = np.random.default_rng(23)
    parts = []
    for i in range(10):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
        rho = -0.9 if day == BREAK else 0.9
        x = rng.normal(size=per_day)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=per_day)
        x = x.astype(object)
        x[rng.choice(per_day, 15, replace=False)] = None
        x[rng.choice(per_day, 5, replace=False)] = float("nan")
        seconds = rng.integers(0, 86_400, per_day)
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s"),
                    "x": x,
                    "y": y,
                    "w": rng.gamma(2.0, 3.0, per_day),
                    "score": rng.uniform(0, 1, per_day),
                    "c": rng.choice(["a", "b"], per_day),
                    "mv": "1",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["numeric"] = ("x",)
    return frame


def _spec() -> MonitorSpec:
    doc = copy.deepcopy(SMALL_SPEC)
    doc["features"] = {"numeric": FEATURES, "categorical": ["c"]}
    doc["reference"] = {"window": {"start": "2024-01-01", "end": "2024-01-05"}}
    doc["partitions"] = {"start_date": "2024-01-06", "end_date": "2024-01-11"}  # end exclusive
    doc["drift"] = {**doc["drift"], "multivariate": {}}
    return parse_spec(doc)


def _rows(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    ts = frame.ts
    return frame[(ts >= pd.Timestamp(first)) & (ts < pd.Timestamp(last) + pd.Timedelta(days=1))]


def _numeric(rows: pd.DataFrame) -> np.ndarray:
    return rows[FEATURES].to_numpy(dtype=np.float64)


def _sklearn_error(reference: pd.DataFrame, day: pd.DataFrame) -> float:
    """NannyML's pipeline on the raw rows: mean imputation, scaling, PCA(0.65), all fitted on the reference."""
    ref, cur = _numeric(reference), _numeric(day)
    ref, cur = (np.where(np.isfinite(a), a, np.nan) for a in (ref, cur))
    imputer = SimpleImputer(strategy="mean").fit(ref)
    scaler = StandardScaler().fit(imputer.transform(ref))
    pca = PCA(n_components=0.65, svd_solver="full").fit(scaler.transform(imputer.transform(ref)))
    z = scaler.transform(imputer.transform(cur))
    return float(np.mean(np.sum((z - pca.inverse_transform(pca.transform(z))) ** 2, axis=1)))


def test_moments_summed_in_the_warehouse_equal_numpys_on_the_rows(engine_url: str) -> None:
    frame, spec = _frame(per_day=400), _spec()
    write_table(engine_url, "t", frame)
    wh = Warehouse(engine_url)
    try:
        ref_rows = _rows(frame, dt.date(2024, 1, 1), dt.date(2024, 1, 5))
        means = np.nanmean(np.where(np.isfinite(_numeric(ref_rows)), _numeric(ref_rows), np.nan), axis=0)
        imputed = np.where(np.isfinite(_numeric(ref_rows)), _numeric(ref_rows), means)
        standardizer = Standardizer(tuple(FEATURES), means, imputed.std(axis=0))
        whole, windows = wh.moments.reference_moments(spec, standardizer)
        for got, rows in [(whole, ref_rows), *((m, _rows(frame, d, d)) for d, m in windows.items())]:
            want = Moments.from_rows(FEATURES, standardizer.transform({c: rows[c].to_numpy(float) for c in FEATURES}))
            assert got.n == want.n
            np.testing.assert_allclose(got.sum, want.sum, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(got.sum_products, want.sum_products, rtol=1e-9, atol=1e-9)
        assert sorted(windows) == [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(5)]
        empty = wh.moments.day_moments(spec, standardizer, [dt.date(2024, 2, 1)])
        assert empty[dt.date(2024, 2, 1)].n == 0
    finally:
        wh.dispose()


def test_the_asset_catches_a_correlation_break_that_univariate_drift_misses(duckdb_url: str) -> None:
    """Through Dagster on DuckDB; the PostgreSQL moments equal numpy's (the test above), so its values do."""
    engine_url = duckdb_url
    frame, spec = _frame(), _spec()
    write_table(engine_url, "t", frame)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=engine_url))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("m_reference").execute_in_process(instance=instance).success
        result = run_days(defs, instance, "m_daily_monitoring", "2024-01-06", "2024-01-10")
        assert result.success
        checks: dict[tuple[str, str], dg.AssetCheckEvaluation] = {
            (e.check_name, str(e.partition)): e for e in result.get_asset_check_evaluations()
        }
    for day in DAYS:
        mv = checks[("no_multivariate_drift", day.isoformat())]
        assert mv.passed == (day != BREAK), (day, mv.description)
        # Every marginal is unchanged: no feature drifts on any day, the break day included.
        assert checks[("no_feature_drift", day.isoformat())].passed, day
    broken = checks[("no_multivariate_drift", BREAK.isoformat())]
    assert broken.severity == dg.AssetCheckSeverity.WARN
    assert broken.description is not None and broken.description.startswith("multivariate drift")

    d = schema.drift_metrics.c
    wh = Warehouse(engine_url)
    try:
        with wh.begin() as conn:
            rows = conn.execute(
                sa.select(d.partition_date, d.feature, d.method, d.value, d.threshold, d.drifted, d.status).where(
                    d.scope == "multivariate"
                )
            ).all()
    finally:
        wh.dispose()
    by_day = {r.partition_date: r for r in rows}
    assert sorted(by_day) == DAYS
    reference = _rows(frame, dt.date(2024, 1, 1), dt.date(2024, 1, 5))
    for day, row in by_day.items():
        assert (row.feature, row.method, row.status) == ("__multivariate__", "pca_reconstruction", "evaluated")
        assert row.value == pytest.approx(_sklearn_error(reference, _rows(frame, day, day)), rel=1e-9)
        assert bool(row.drifted) == (day == BREAK)
    # The threshold is calibrated on the reference's five days: mean + 3 std of their errors.
    window_errors = [_sklearn_error(reference, _rows(frame, d, d)) for d in pd.date_range("2024-01-01", "2024-01-05")]
    assert by_day[BREAK].threshold == pytest.approx(
        np.mean(window_errors) + 3 * np.std(window_errors, ddof=1), rel=1e-9
    )


def test_spec_refuses_multivariate_drift_over_fewer_than_two_numeric_features() -> None:
    doc = copy.deepcopy(SMALL_SPEC)
    doc["drift"] = {**doc["drift"], "multivariate": {"columns": ["x"]}}
    with pytest.raises(Exception, match="at least two numeric features"):
        parse_spec(doc)
    doc["drift"]["multivariate"] = {"columns": ["x", "c"]}
    with pytest.raises(Exception, match="'c' is not a numeric feature"):
        parse_spec(doc)
