"""Model versions side by side through the warehouse and Dagster, on DuckDB and PostgreSQL: per
version the rows, positive rate and ROC AUC against scikit-learn on its raw rows, the score drift
between versions against scipy's KS statistic, and the check failing the day the canary is worse."""

from __future__ import annotations

import copy
import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy import stats
from sklearn.metrics import roc_auc_score

from monitoring_assets import _pipeline, build_definitions
from monitoring_assets.core.levels import Level
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources import schema
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import SMALL_SPEC, run_days, write_table

ONE_VERSION, CANARY_OK, CANARY_BAD = dt.date(2024, 1, 4), dt.date(2024, 1, 5), dt.date(2024, 1, 6)
DAYS = [ONE_VERSION, CANARY_OK, CANARY_BAD]


def _scores(rng: np.random.Generator, label: np.ndarray, quality: float) -> np.ndarray:
    """Scores in [0, 1] that rank the labels with a skill set by ``quality`` (0: none)."""
    return 1 / (1 + np.exp(-(quality * (2 * label - 1) + rng.normal(size=label.size))))


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(53)
    parts = []
    for i in range(6):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
        n = 3_000
        label = (rng.uniform(size=n) < 0.3).astype(int)
        canary = (rng.uniform(size=n) < 0.3) & (day >= CANARY_OK)
        live = _scores(rng, label, 1.5)
        bad = _scores(rng, label, 0.2)
        score = np.where(canary, bad if day == CANARY_BAD else live, live)
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(day) + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
                    "x": rng.normal(10, 2, n),
                    "y": rng.exponential(3.0, n),
                    "score": score,
                    "c": rng.choice(["a", "b"], n),
                    "mv": np.where(canary, "2", "1"),
                    "label": label,
                    "shadow": _scores(rng, label, 2.5),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _spec() -> MonitorSpec:
    doc = copy.deepcopy(SMALL_SPEC)
    doc["prediction"] = {**doc["prediction"], "shadow_score_columns": ["shadow"]}
    doc["labels"] = {"label_column": "label"}
    doc["drift"] = {**doc["drift"], "methods": {"numeric": "ks", "categorical": "jensenshannon"}}
    doc["versions"] = {"tolerance": 0.05}
    return parse_spec(doc)


def test_the_check_fails_the_day_the_canary_is_worse(duckdb_url: str) -> None:
    """Through Dagster on DuckDB; the numbers on both engines are the next test's."""
    frame, spec = _frame(), _spec()
    write_table(duckdb_url, "t", frame)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=duckdb_url))
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("m_reference").execute_in_process(instance=instance).success
        result = run_days(defs, instance, "m_daily_monitoring", "2024-01-04", "2024-01-06")
    checks = {
        str(e.partition): e for e in result.get_asset_check_evaluations() if e.check_name == "newer_version_not_worse"
    }
    # Day 4 has one model version, but the shadow score is compared with the live one.
    assert checks["2024-01-04"].passed and "roc_auc" in (checks["2024-01-04"].description or "")
    assert checks["2024-01-05"].passed
    bad = checks["2024-01-06"]
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.WARN
    assert bad.description is not None and bad.description.startswith("2 is worse than 1: roc_auc")


def test_versions_side_by_side_against_sklearn_and_scipy(engine_url: str) -> None:
    frame, spec = _frame(), _spec()
    write_table(engine_url, "t", frame)
    wh = Warehouse(engine_url)
    try:
        audit = Audit("r", spec.spec_hash())
        _pipeline.build_reference(wh, spec, audit)
        results = _pipeline.compute_versions(wh, spec, DAYS, audit)
    finally:
        wh.dispose()
    levels = {d: [c.level for c in r.comparisons] for d, r in results.items()}
    assert levels == {ONE_VERSION: [Level.OK], CANARY_OK: [Level.OK, Level.OK], CANARY_BAD: [Level.WARN, Level.OK]}

    t = schema.version_metrics.c
    wh = Warehouse(engine_url)
    try:
        with wh.begin() as conn:
            rows = conn.execute(
                sa.select(t.partition_date, t.model_version, t.compared_with, t.metric, t.value, t.status)
            ).all()
    finally:
        wh.dispose()
    stored = {(r.partition_date, r.model_version, r.compared_with, r.metric): r.value for r in rows}
    for day in DAYS:
        raw = frame[frame.ts.dt.date == day]
        for version, part in [("1", raw[raw.mv == "1"]), ("2", raw[raw.mv == "2"]), ("live", raw)]:
            if part.empty:
                assert (day, version, None, "rows") not in stored
                continue
            assert stored[(day, version, None, "rows")] == len(part)
            assert stored[(day, version, None, "positive_rate")] == pytest.approx((part.score >= 0.5).mean(), abs=1e-12)
            # 10,000 score cells: within 0.002 of scikit-learn on the raw scores (README, Performance).
            want = roc_auc_score(part.label, part.score)
            assert stored[(day, version, None, "roc_auc")] == pytest.approx(want, abs=2e-3), (day, version)
        shadow = roc_auc_score(raw.label, raw.shadow)
        assert stored[(day, "shadow:shadow", None, "roc_auc")] == pytest.approx(shadow, abs=2e-3)
    # The canary's score drift: KS on the reference's 100 score cells is at most one cell's mass
    # below scipy's exact statistic on the raw scores.
    raw = frame[frame.ts.dt.date == CANARY_BAD]
    exact = stats.ks_2samp(raw[raw.mv == "1"].score, raw[raw.mv == "2"].score).statistic
    got = stored[(CANARY_BAD, "2", "1", "score_drift")]
    assert exact - 0.05 <= got <= exact + 1e-12
    change = stored[(CANARY_BAD, "2", "1", "roc_auc_change")]
    want_change = roc_auc_score(raw[raw.mv == "2"].label, raw[raw.mv == "2"].score) - roc_auc_score(
        raw[raw.mv == "1"].label, raw[raw.mv == "1"].score
    )
    assert change == pytest.approx(want_change, abs=4e-3)
    assert (ONE_VERSION, "2", "1", "score_drift") not in stored


def test_spec_needs_a_version_column_or_shadow_scores() -> None:
    doc = copy.deepcopy(SMALL_SPEC)
    doc["source"] = {"table": "t", "timestamp_column": "ts"}
    doc["versions"] = {}
    with pytest.raises(Exception, match=r"needs source\.model_version_column or prediction\.shadow_score_columns"):
        parse_spec(doc)
    doc["prediction"] = {**doc["prediction"], "shadow_score_columns": ["x"]}
    with pytest.raises(Exception, match="'x' is already a feature or the score"):
        parse_spec(doc)
