"""Performance estimated without labels, end to end on each warehouse: the calibration stored
with the reference profile, the fine score histogram of each daily profile, and the estimated
rows of performance_metrics, against scikit-learn's isotonic regression and numpy on the raw rows."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from sklearn.isotonic import IsotonicRegression

from monitoring_assets import _estimation, _pipeline, build_definitions
from monitoring_assets.core.levels import Level
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import small_spec, write_table

N_BINS = 1000
DAYS = [dt.date(2024, 1, d) for d in (4, 5, 6)]
EMPTY_DAY = dt.date(2024, 1, 7)  # no rows


@pytest.fixture(params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "pg_url")


def _frame(seed: int = 5, per_day: int = 600) -> pd.DataFrame:
    """3 reference days, then 3 days whose x shifts up day by day; P(label | x) fixed and the
    score that probability (calibrated)."""
    rng = np.random.default_rng(seed)
    shift = np.repeat([0.0, 0.0, 0.0, 0.4, 0.8, 1.2], per_day)
    n = len(shift)
    x = rng.normal(shift, 1.0, n)
    score = 1 / (1 + np.exp(-(1.5 * x - 0.5)))
    seconds = np.repeat(np.arange(6), per_day) * 86_400 + rng.integers(0, 86_400, n)
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"),
            "x": x,
            "y": rng.exponential(3.0, n),
            "score": score,
            "c": rng.choice(["a", "b", "c", "d"], n).astype(object),
            "mv": rng.choice(["1", "2"], n),
            "label": (rng.uniform(size=n) < score).astype(float),
        }
    )


def test_estimated_rows_are_the_expected_counts_under_sklearns_isotonic_calibration(url: str) -> None:
    frame = _frame()
    write_table(url, "t", frame)
    spec = small_spec(
        labels={"label_column": "label"},
        prediction={"task": "binary_classification", "score_column": "score", "threshold": 0.5},
        performance={"score_bins": N_BINS, "min_labeled": 100},
    )
    wh = Warehouse(url)
    audit = Audit("run", spec.spec_hash())
    _pipeline.build_reference(wh, spec, audit)
    _pipeline.build_daily_profiles(wh, spec, [*DAYS, EMPTY_DAY], audit)
    results = _estimation.compute_estimated_performance(wh, spec, [*DAYS, EMPTY_DAY], audit, _pipeline.tolerances(spec))
    stored = wh.metrics.read_performance(spec, "daily", [*DAYS, EMPTY_DAY], kind="estimated")
    realized = wh.metrics.read_performance(spec, "daily", [*DAYS, EMPTY_DAY])
    wh.dispose()

    # The reference: sklearn's isotonic regression on its raw rows, scores on the contract's cells.
    ref = frame[frame.ts < pd.Timestamp("2024-01-04")]
    iso = IsotonicRegression(out_of_bounds="clip").fit(np.floor(ref.score * N_BINS), ref.label)
    for day in DAYS:
        rows = frame[(frame.ts >= pd.Timestamp(day)) & (frame.ts < pd.Timestamp(day + dt.timedelta(days=1)))]
        p = iso.predict(np.floor(rows.score * N_BINS))
        flagged = rows.score.to_numpy() >= 0.5
        tp, fp = p[flagged].sum(), (1 - p[flagged]).sum()
        fn, tn = p[~flagged].sum(), (1 - p[~flagged]).sum()
        got = stored[day]
        assert got["n_scored"] == len(rows)
        for name, want in (("expected_tp", tp), ("expected_fp", fp), ("expected_fn", fn), ("expected_tn", tn)):
            assert got[name] == pytest.approx(want, rel=1e-9), (day, name)
        assert got["accuracy"] == pytest.approx((tp + tn) / len(rows), rel=1e-9)
        assert got["precision"] == pytest.approx(tp / (tp + fp), rel=1e-9)
        assert got["roc_auc_lower"] < got["roc_auc"] < got["roc_auc_upper"]
        assert results[day].finding[0].evaluated
    # The shift lowers the share of negatives, and the estimate follows the rows (not the reference).
    assert stored[DAYS[-1]]["expected_tp"] / stored[DAYS[-1]]["n_scored"] > stored[DAYS[0]]["expected_tp"] / 600
    # A day without rows is not evaluated, and says why; its row holds only n_scored = 0.
    level, reason = results[EMPTY_DAY].finding
    assert level is Level.NOT_EVALUATED and "too few scored rows (0" in reason
    assert stored[EMPTY_DAY] == {"n_scored": 0.0}
    # Estimated rows never read as realized ones.
    assert realized == {}


def test_a_reference_without_labels_gives_not_evaluated_with_the_reason() -> None:
    spec = small_spec(labels={"label_column": "label"})
    (calibration,) = _estimation.fit_calibrations(spec, None)
    assert calibration.p is None and calibration.reason == "the reference has no labels"
    day = _estimation.estimate_day(None, calibration, spec, {}, _pipeline.tolerances(spec))
    assert day.finding == (Level.NOT_EVALUATED, "the score is not calibrated: the reference has no labels")


def test_the_asset_exists_for_a_labeled_binary_monitor_and_the_trigger_watches_it_only_when_on() -> None:
    key = dg.AssetKey(["m", "estimated_performance"])
    challenger = dg.AssetKey(["m", "challenger_model"])
    labeled = {"labels": {"label_column": "label"}, "model": {"registry_name": "m"}}

    def graph(spec: MonitorSpec) -> AssetGraph:
        return build_definitions(
            specs=[spec], warehouse=WarehouseResource(url="duckdb:///:memory:")
        ).resolve_asset_graph()

    plain = graph(small_spec(**labeled))
    assert key in plain.get_all_asset_keys() and key not in plain.get(challenger).parent_keys
    assert key not in graph(small_spec()).get_all_asset_keys()
    on = small_spec(**labeled, retraining={"trigger": {"estimated_performance": True}})
    assert key in graph(on).get(challenger).parent_keys


OLD_PERFORMANCE_METRICS = (
    "CREATE TABLE monitoring.performance_metrics (monitor VARCHAR(63) NOT NULL, partition_date DATE, "
    '"window" VARCHAR(32) NOT NULL, metric VARCHAR(63) NOT NULL, value DOUBLE PRECISION, n_labeled BIGINT NOT NULL, '
    "label_coverage DOUBLE PRECISION, run_id VARCHAR(64) NOT NULL, spec_hash VARCHAR(64) NOT NULL, "
    "model_version VARCHAR(256), computed_at TIMESTAMP NOT NULL)"
)


def test_an_old_performance_metrics_table_gets_kind_and_its_rows_read_as_realized(url: str) -> None:
    spec = small_spec()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS monitoring"))
        conn.execute(sa.text("DROP TABLE IF EXISTS monitoring.performance_metrics"))
        conn.execute(sa.text(OLD_PERFORMANCE_METRICS))
        conn.execute(
            sa.text(
                "INSERT INTO monitoring.performance_metrics VALUES "
                "('m', DATE '2024-01-04', 'daily', 'roc_auc', 0.7, 500, 1.0, 'old', 'h', NULL, TIMESTAMP '2024-01-05')"
            )
        )
    engine.dispose()
    wh = Warehouse(url)
    wh.ensure_tables()
    day = dt.date(2024, 1, 4)
    assert wh.metrics.read_performance(spec, "daily") == {day: {"roc_auc": 0.7}}
    assert wh.metrics.read_performance(spec, "daily", kind="estimated") == {}
    # An estimated row of the same day and metric replaces nothing realized.
    wh.metrics.write_estimated(spec, {day: {"roc_auc": 0.75}}, Audit("new", "h"), {})
    assert wh.metrics.read_performance(spec, "daily") == {day: {"roc_auc": 0.7}}
    assert wh.metrics.read_performance(spec, "daily", kind="estimated") == {day: {"roc_auc": 0.75}}
    wh.dispose()
