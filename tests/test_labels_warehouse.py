"""Labeled performance and fairness computed by SQL in the warehouse, checked against independent
references on the same RAW rows (scikit-learn, or a pandas groupby written here), on DuckDB and on
PostgreSQL. Nothing is compared with an earlier output of the code under test.

The scoring table has late labels (a separate labels table holding a subset of the ids, plus
orphan labels), NULL and NaN scores, scores of exactly 0 and 1, a few labels that are not 0/1,
rows just outside the days asked for (one at midnight of each boundary), and two slice columns:
``sex`` (a few NULLs, fewer than ``min_slice_size`` per day) and ``band`` (four common values, a
value under 30 rows a day, values outside the reference's top K, and NULLs).

Tolerances:

* counts and threshold metrics (accuracy, precision, recall, F1, FPR, ...) are exact counts: 1e-12;
* sums over rows (log loss, Brier, calibration error, MAE, RMSE, MAPE, R2, mean error) run in a
  different order in each engine: 1e-9;
* ROC AUC and average precision treat scores in one of the 10,000 score cells as tied: 0.002.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn import metrics as skm
from sqlalchemy.pool import NullPool

from monitoring_assets._metadata import fairness_metadata
from monitoring_assets._pipeline import build_reference, compute_fairness, compute_performance, disparity_verdicts
from monitoring_assets.core.performance import BinaryAggregate, performance_metrics
from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import scratch_database, write_table

DAYS = [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
ROLLING_DAYS = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(9)]
MIN_SLICE = 30  # fairness.min_slice_size (the default)
TOP_K = 5  # drift.top_k: the reference's five most frequent values of a slice column are kept
SPEC_THRESHOLD = 0.5  # prediction.threshold
LABEL_THRESHOLD = 0.4  # what the model's own predicted_label column uses (so the two paths differ)
EXACT, SUMS, RANKED = 1e-12, 1e-9, 0.002
RANKING_METRICS = ("roc_auc", "average_precision")

BANDS = ["low", "mid", "high", "top", "rare_band", "unseen_band", "ref_only_band", None]
BAND_P = [0.28, 0.22, 0.17, 0.14, 0.03, 0.06, 0.02, 0.08]


def monitor_name(prefix: str) -> str:
    """Unique per test: the PostgreSQL database (and its monitoring schema) is shared by the session."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------------------------
# Raw rows
# ---------------------------------------------------------------------------------------------


def _timestamps(rng: np.random.Generator, days: Sequence[dt.date], per_day: int) -> pd.Series:
    """``per_day`` rows on each day, one at exactly midnight, plus 20 rows on the day before the
    first and after the last (one of them at midnight of the day after: outside the window)."""
    first = pd.Timestamp(days[0])
    offsets = np.repeat(np.arange(len(days)), per_day) * 86_400 + rng.integers(0, 86_400, len(days) * per_day)
    offsets[::per_day] = np.arange(len(days)) * 86_400  # the first row of each day at midnight
    outside = np.r_[-rng.integers(1, 86_400, 10), len(days) * 86_400 + rng.integers(0, 86_400, 10)]
    outside[10] = len(days) * 86_400  # midnight right after the last day
    return pd.Series(first + pd.to_timedelta(np.r_[offsets, outside], unit="s"))


def binary_rows(days: Sequence[dt.date], per_day: int = 600, seed: int = 1) -> pd.DataFrame:
    """Scored rows with their true label ``y`` and whether it has arrived (``labeled``).

    ``score`` holds floats, NaN and None; ``predicted_label`` is ``score >= 0.4`` (0 for a NaN
    score, None for a NULL one).
    """
    rng = np.random.default_rng(seed)
    ts = _timestamps(rng, days, per_day)
    n = len(ts)
    y = (rng.random(n) < 0.35).astype(np.int64)
    score = 1 / (1 + np.exp(-rng.normal(-0.7 + 1.8 * y, 1.1)))
    score[rng.choice(n, 6, replace=False)] = 0.0
    score[rng.choice(n, 6, replace=False)] = 1.0
    predicted = np.array((score >= LABEL_THRESHOLD).astype(int).tolist(), dtype=object)  # Python ints
    score = score.astype(object)
    nan_rows, null_rows = np.split(rng.choice(n, 40, replace=False), 2)
    score[nan_rows] = float("nan")
    predicted[nan_rows] = 0
    score[null_rows] = None
    predicted[null_rows] = None
    y[rng.choice(n, 4, replace=False)] = 2  # a label that is not 0/1
    frame = pd.DataFrame(
        {
            "ts": ts,
            "id": np.arange(1_000, 1_000 + n, dtype=np.int64),
            "x": rng.normal(0, 1, n),
            "score": score,
            "predicted_label": predicted,
            "sex": rng.choice(np.array(["F", "M", None], dtype=object), n, p=[0.49, 0.48, 0.03]),
            "band": rng.choice(np.array(BANDS, dtype=object), n, p=BAND_P),
            "y": y,
            "labeled": rng.random(n) < 0.7,  # late labels: 30 % have not arrived
        }
    )
    return frame


def regression_rows(days: Sequence[dt.date], per_day: int = 500, seed: int = 2) -> pd.DataFrame:
    """Predictions ``pred`` (floats, NaN, None, inf) and targets ``y`` (some exactly 0, a few NaN or
    inf), with ``labeled`` as above."""
    rng = np.random.default_rng(seed)
    ts = _timestamps(rng, days, per_day)
    n = len(ts)
    x = rng.normal(5, 2, n)
    y = 3 * x + rng.normal(0, 2, n)
    y[rng.choice(n, 60, replace=False)] = 0.0
    y[rng.choice(n, 5, replace=False)] = np.nan
    y[rng.choice(n, 3, replace=False)] = np.inf
    pred = (3 * x + 1 + rng.normal(0, 3, n)).astype(object)
    odd = rng.choice(n, 30, replace=False)
    pred[odd[:10]] = float("nan")
    pred[odd[10:20]] = None
    pred[odd[20:]] = float("inf")
    frame = pd.DataFrame({"ts": ts, "id": np.arange(n, dtype=np.int64), "x": x, "pred": pred, "y": y})
    frame["labeled"] = rng.random(n) < 0.75
    return frame


def on_days(frame: pd.DataFrame, first: dt.date, last: dt.date | None = None) -> pd.DataFrame:
    last = last or first
    return frame[(frame.ts >= pd.Timestamp(first)) & (frame.ts < pd.Timestamp(last + dt.timedelta(days=1)))]


# ---------------------------------------------------------------------------------------------
# Tables and specs
# ---------------------------------------------------------------------------------------------


def labels_frame(frame: pd.DataFrame, label_type: type = np.int64) -> pd.DataFrame:
    """The labels that have arrived: (row_id, label, arrived_at), one per labeled scored row."""
    arrived = frame[frame.labeled]
    return pd.DataFrame(
        {
            "row_id": arrived["id"].to_numpy(),
            "label": arrived["y"].to_numpy().astype(label_type),
            "arrived_at": (arrived["ts"] + pd.Timedelta(hours=30)).to_numpy(),
        }
    )


def write_scored(url: str, prefix: str, frame: pd.DataFrame, label_type: type = np.int64) -> None:
    """``<prefix>_scored`` (with the arrived labels in its own ``label`` column too) and
    ``<prefix>_labels`` (joined on ``row_id``, plus two orphan labels of ids never scored)."""
    source = frame.drop(columns=["y", "labeled"])
    source["label"] = frame["y"].astype(object).where(frame["labeled"], None)
    source.attrs["numeric"] = ("score", "pred", "predicted_label", "label")
    write_table(url, f"{prefix}_scored", source)
    labels = labels_frame(frame, label_type)
    orphans = labels.iloc[:2].assign(row_id=[-1, -2])  # a LEFT JOIN from the source ignores them
    write_table(url, f"{prefix}_labels", pd.concat([labels, orphans], ignore_index=True))


def add_labels(url: str, prefix: str, new: pd.DataFrame) -> None:
    """Late labels: insert rows (row_id, label, arrived_at) into ``<prefix>_labels``."""
    rows = [
        {"i": int(i), "y": int(y), "at": pd.Timestamp(at).to_pydatetime()}
        for i, y, at in zip(new.row_id, new.label, new.arrived_at, strict=True)
    ]
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'INSERT INTO "{prefix}_labels" VALUES (:i, :y, :at)'), rows)
    engine.dispose()


def reference_rows(seed: int = 3) -> pd.DataFrame:
    """The reference table: labeled rows with the slice columns; ``band`` counts fix the top 5 as
    low > mid > high > top > rare_band (ref_only_band falls outside; unseen_band is absent)."""
    rng = np.random.default_rng(seed)
    band = np.repeat(["low", "mid", "high", "top", "rare_band", "ref_only_band"], [200, 160, 120, 90, 60, 30])
    n = len(band)
    y = (rng.random(n) < 0.35).astype(np.int64)
    score = 1 / (1 + np.exp(-rng.normal(-0.7 + 1.8 * y, 1.1)))
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "score": score,
            "predicted_label": (score >= LABEL_THRESHOLD).astype(np.int64),
            "sex": rng.choice(["F", "M"], n),
            "band": rng.permutation(band),
            "label": y,
        }
    )


def binary_spec(
    name: str, prefix: str = "bin", *, labels_table: bool = True, predicted_column: bool = True, **extra: object
) -> MonitorSpec:
    """Over ``<prefix>_scored``; labels from ``<prefix>_labels`` or (``labels_table=False``) from
    the source's own ``label`` column; ``predicted_column=False``: predict ``score >= 0.5``."""
    prediction: dict[str, object] = {
        "task": "binary_classification",
        "score_column": "score",
        "threshold": SPEC_THRESHOLD,
    }
    if predicted_column:
        prediction["label_column"] = "predicted_label"
    labels: dict[str, object] = {"label_column": "label"}
    if labels_table:
        labels |= {"table": f"{prefix}_labels", "id_column": "row_id", "arrived_at_column": "arrived_at"}
    data: dict[str, object] = {
        "name": name,
        "source": {"table": f"{prefix}_scored", "timestamp_column": "ts", "id_column": "id"},
        "features": {"numeric": ["x"]},
        "prediction": prediction,
        "labels": labels,
        "slices": ["sex", "band"],
        "reference": {"table": "ref"},
        "partitions": {"start_date": "2024-03-01"},
        "drift": {"top_k": TOP_K},
    }
    return parse_spec(data | extra)


def regression_spec(name: str, *, labels_table: bool = True) -> MonitorSpec:
    labels: dict[str, object] = {"label_column": "label"}
    if labels_table:
        labels |= {"table": "reg_labels", "id_column": "row_id"}
    return parse_spec(
        {
            "name": name,
            "source": {"table": "reg_scored", "timestamp_column": "ts", "id_column": "id"},
            "features": {"numeric": ["x"]},
            "prediction": {"task": "regression", "score_column": "pred"},
            "labels": labels,
            "reference": {"table": "ref"},
            "partitions": {"start_date": "2024-03-01"},
        }
    )


# ---------------------------------------------------------------------------------------------
# Warehouses: every table written once per engine (inserting rows into DuckDB is the slow part)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    binary: pd.DataFrame  # DAYS, tables bin_*
    regression: pd.DataFrame  # DAYS, tables reg_*
    rolling: pd.DataFrame  # ROLLING_DAYS, tables roll_* (the rolling test adds labels to roll_labels)
    reference: pd.DataFrame  # table ref


@pytest.fixture(scope="module")
def data() -> Data:
    return Data(
        binary_rows(DAYS), regression_rows(DAYS), binary_rows(ROLLING_DAYS, per_day=250, seed=5), reference_rows()
    )


def _load(url: str, data: Data) -> str:
    write_scored(url, "bin", data.binary)
    write_scored(url, "reg", data.regression, np.float64)
    write_scored(url, "roll", data.rolling)
    write_table(url, "ref", data.reference)
    return url


@pytest.fixture(scope="module")
def loaded_duckdb(tmp_path_factory: pytest.TempPathFactory, data: Data) -> str:
    return _load(f"duckdb:///{tmp_path_factory.mktemp('labels') / 'warehouse.duckdb'}", data)


@pytest.fixture(scope="module")
def loaded_postgres(pg_url: str, data: Data) -> str:
    return _load(pg_url, data)


@pytest.fixture(params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"loaded_{request.param}"))


# ---------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------


def _floats(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.astype(object)).to_numpy(dtype=np.float64)  # None and NaN -> NaN


def sklearn_binary(rows: pd.DataFrame, threshold: float | None = None) -> dict[str, float]:
    """Every binary metric on the raw rows. ``threshold``: predict ``score >= threshold`` instead of
    reading ``predicted_label``. Valid rows: labeled, label 0/1, finite score, a prediction."""
    score = _floats(rows["score"])
    if threshold is None:
        pred = _floats(rows["predicted_label"])
    else:
        pred = np.where(np.isfinite(score), (score >= threshold).astype(np.float64), np.nan)
    labeled = rows["labeled"].to_numpy()
    truth = rows["y"].to_numpy()
    valid = labeled & np.isin(truth, (0, 1)) & np.isfinite(score) & ~np.isnan(pred)
    y, p, yhat = truth[valid], score[valid], pred[valid].astype(np.int64)
    has_pred = ~np.isnan(pred)
    calibration_bin = np.clip(np.floor(p * 10), 0, 9)
    ece = sum(abs(y[calibration_bin == b].sum() - p[calibration_bin == b].sum()) for b in range(10)) / len(y)
    return {
        "n_scored": float(len(rows)),
        "n_labeled": float(labeled.sum()),
        "label_coverage": labeled.sum() / len(rows),
        "n_invalid": float((labeled & ~valid).sum()),
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat),
        "recall": skm.recall_score(y, yhat),
        "f1": skm.f1_score(y, yhat),
        "false_positive_rate": ((yhat == 1) & (y == 0)).sum() / (y == 0).sum(),
        "false_negative_rate": ((yhat == 0) & (y == 1)).sum() / (y == 1).sum(),
        "roc_auc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier_score": skm.brier_score_loss(y, p),
        "expected_calibration_error": ece,
        "positive_prediction_rate": (pred[has_pred] == 1).mean(),
        "prevalence": y.mean(),
    }


def sklearn_regression(rows: pd.DataFrame) -> dict[str, float]:
    """Valid rows: labeled, finite target and prediction; MAPE over those with a non-zero target."""
    pred, target = _floats(rows["pred"]), rows["y"].to_numpy(dtype=np.float64)
    labeled = rows["labeled"].to_numpy()
    valid = labeled & np.isfinite(pred) & np.isfinite(target)
    p, y = pred[valid], target[valid]
    nonzero = y != 0
    assert (~nonzero).sum() > 0  # the zero-target rows are there
    return {
        "n_scored": float(len(rows)),
        "n_labeled": float(labeled.sum()),
        "label_coverage": labeled.sum() / len(rows),
        "n_invalid": float((labeled & ~valid).sum()),
        "mae": skm.mean_absolute_error(y, p),
        "rmse": math.sqrt(skm.mean_squared_error(y, p)),
        "mape": skm.mean_absolute_percentage_error(y[nonzero], p[nonzero]),
        "r2": skm.r2_score(y, p),
        "mean_error": float(np.mean(p - y)),
        "n_zero_target": float((~nonzero).sum()),
    }


def tolerance(metric: str) -> float:
    if metric in RANKING_METRICS:
        return RANKED
    if metric in ("log_loss", "brier_score", "expected_calibration_error", "mae", "rmse", "mape", "r2", "mean_error"):
        return SUMS
    return EXACT


def mismatches(got: Mapping[str, float], want: Mapping[str, float], where: object) -> list[tuple[object, ...]]:
    """(where, metric, got, want) for every metric of ``want`` off by more than its tolerance."""
    bad: list[tuple[object, ...]] = []
    for metric, expected in want.items():
        value = got.get(metric, math.nan)
        both_nan = math.isnan(value) and math.isnan(expected)
        if not both_nan and not math.isclose(value, expected, rel_tol=EXACT, abs_tol=tolerance(metric)):
            bad.append((where, metric, value, expected))
    return bad


# ---------------------------------------------------------------------------------------------
# 1-3. Performance through the warehouse
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["labels_table", "labels_in_source", "threshold"])
def test_binary_performance_matches_sklearn(url: str, data: Data, variant: str) -> None:
    """Per day, metrics of the warehouse aggregates equal scikit-learn on that day's raw rows.

    ``threshold``: no ``prediction.label_column``, so the prediction is ``score >= 0.5`` (the
    table's own ``predicted_label`` uses 0.4 and would give other confusion counts)."""
    spec = binary_spec(
        monitor_name("bin"), labels_table=variant != "labels_in_source", predicted_column=variant != "threshold"
    )
    got = Warehouse(url).metrics.performance_aggregates(spec, DAYS)
    assert sorted(got) == DAYS
    bad = []
    for day in DAYS:
        rows = on_days(data.binary, day)
        want = sklearn_binary(rows, SPEC_THRESHOLD if variant == "threshold" else None)
        assert want["n_invalid"] > 0 and want["label_coverage"] < 0.8  # the edge cases are there
        bad += mismatches(performance_metrics(got[day]), want, day)
    assert not bad, bad


def test_binary_days_without_rows_are_empty(url: str) -> None:
    later = [dt.date(2024, 3, 10), dt.date(2024, 3, 11)]
    got = Warehouse(url).metrics.performance_aggregates(binary_spec(monitor_name("empty")), later)
    metrics = [performance_metrics(a) for a in got.values()]
    assert [m["n_scored"] for m in metrics] == [0.0, 0.0]
    assert all(math.isnan(m["roc_auc"]) and math.isnan(m["accuracy"]) for m in metrics)


@pytest.mark.parametrize("labels_in_source", [False, True])
def test_regression_performance_matches_sklearn(url: str, data: Data, labels_in_source: bool) -> None:
    spec = regression_spec(monitor_name("reg"), labels_table=not labels_in_source)
    got = Warehouse(url).metrics.performance_aggregates(spec, DAYS)
    bad = []
    for day in DAYS:
        want = sklearn_regression(on_days(data.regression, day))
        assert want["n_invalid"] > 0
        bad += mismatches(performance_metrics(got[day]), want, day)
    assert not bad, bad


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=SUMS, abs_tol=SUMS)


def _aggregate_differences(a: object, b: object, where: object) -> list[tuple[object, ...]]:
    """Fields of two aggregates that differ: integers exactly, floats beyond 1e-9."""
    bad: list[tuple[object, ...]] = []
    for f in dataclasses.fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            same = np.allclose(x, y, rtol=SUMS, atol=SUMS) if x.dtype.kind == "f" else np.array_equal(x, y)
        else:
            same = _same(x, y) if isinstance(x, float) else x == y
        if not same:
            bad.append((where, f.name, x, y))
    return bad


@pytest.mark.postgres
def test_duckdb_and_postgres_give_the_same_aggregates(loaded_duckdb: str, loaded_postgres: str) -> None:
    specs = {
        "binary": binary_spec(monitor_name("same")),
        "threshold": binary_spec(monitor_name("same"), predicted_column=False),
        "regression": regression_spec(monitor_name("same")),
    }
    bad = []
    for kind, spec in specs.items():
        duck = Warehouse(loaded_duckdb).metrics.performance_aggregates(spec, DAYS)
        pg = Warehouse(loaded_postgres).metrics.performance_aggregates(spec, DAYS)
        for day in DAYS:
            bad += _aggregate_differences(duck[day], pg[day], (kind, day))
            m_duck, m_pg = performance_metrics(duck[day]), performance_metrics(pg[day])
            bad += [(kind, day, k, m_duck[k], m_pg[k]) for k in m_duck if not _same(m_duck[k], m_pg[k])]
    assert not bad, bad


# ---------------------------------------------------------------------------------------------
# 4-5. Fairness through the warehouse
# ---------------------------------------------------------------------------------------------

NULL, OTHER = "__null__", "__other__"


def reference_top_k(ref: pd.DataFrame, column: str) -> list[str]:
    counts = ref[column].dropna().value_counts()
    return sorted(counts.index, key=lambda v: (-counts[v], v))[:TOP_K]


def expected_groups(rows: pd.DataFrame, column: str, known: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per group: n, the rates, and the denominators of the rates (a pandas groupby on raw rows).

    Rates use rows with a predicted label; the label-based ones only labeled rows with label 0/1."""
    group = rows[column].map(lambda v: NULL if pd.isna(v) else v if v in known else OTHER)
    pred = pd.Series(_floats(rows["predicted_label"]), index=rows.index)
    label = rows["y"].where(rows["labeled"] & rows["y"].isin([0, 1]))
    out = {}
    for name, g in pd.DataFrame({"group": group, "pred": pred, "label": label}).groupby("group"):
        predicted = g[g.pred.notna()]
        scored = predicted[predicted.label.notna()]
        pos, neg, flagged = scored[scored.label == 1], scored[scored.label == 0], scored[scored.pred == 1]
        out[str(name)] = {
            "n": float(len(g)),
            "selection_rate": (predicted.pred == 1).mean() if len(predicted) else math.nan,
            "true_positive_rate": (pos.pred == 1).mean() if len(pos) else math.nan,
            "false_positive_rate": (neg.pred == 1).mean() if len(neg) else math.nan,
            "precision": (flagged.label == 1).mean() if len(flagged) else math.nan,
            "accuracy": (scored.pred == scored.label).mean() if len(scored) else math.nan,
            # denominators: a rate is compared across groups only when its own is >= MIN_SLICE
            "den:selection_rate": len(predicted),
            "den:true_positive_rate": len(pos),
            "den:false_positive_rate": len(neg),
        }
    return out


def expected_disparities(groups: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Largest minus smallest rate (ratio: smallest / largest) over unsuppressed groups whose rate
    has a denominator of at least MIN_SLICE."""

    def rates(metric: str) -> list[float]:
        return [g[metric] for g in groups.values() if g["n"] >= MIN_SLICE and g[f"den:{metric}"] >= MIN_SLICE]

    def gap(values: list[float]) -> float:  # NaN: fewer than two groups to compare
        return max(values) - min(values) if len(values) >= 2 else math.nan

    sel, tpr, fpr = rates("selection_rate"), rates("true_positive_rate"), rates("false_positive_rate")
    return {
        "demographic_parity_difference": gap(sel),
        "demographic_parity_ratio": min(sel) / max(sel) if len(sel) >= 2 else math.nan,
        "equal_opportunity_difference": gap(tpr),
        "equalized_odds_difference": max(gap(tpr), gap(fpr)) if len(tpr) >= 2 and len(fpr) >= 2 else math.nan,
    }


def read_fairness_rows(url: str, monitor: str, day: dt.date, column: str) -> pd.DataFrame:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        result = conn.execute(
            sa.text(
                "SELECT slice_value, metric, value, n, suppressed FROM monitoring.fairness_metrics "
                "WHERE monitor = :m AND partition_date = :d AND slice_column = :c"
            ),
            {"m": monitor, "d": day, "c": column},
        )
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    engine.dispose()
    return frame


def test_fairness_matches_pandas_groupby_and_suppresses_small_groups(url: str, data: Data) -> None:
    frame, ref = data.binary, data.reference
    spec = binary_spec(monitor_name("fair"))
    wh = Warehouse(url)
    audit = Audit("run-1", spec.spec_hash())
    build_reference(wh, spec, audit)
    reports = compute_fairness(wh, spec, DAYS, audit)
    assert sorted(reports) == DAYS

    # The reference's labeled performance (stored by build_reference) is scikit-learn's on its rows.
    want_ref = sklearn_binary(ref.assign(y=ref["label"], labeled=True))
    assert not mismatches(wh.metrics.read_performance(spec, "reference")[None], want_ref, "reference")

    known = {c: reference_top_k(ref, c) for c in spec.slices}
    assert known["band"] == ["low", "mid", "high", "top", "rare_band"]
    bad: list[tuple[object, ...]] = []
    for day in DAYS:
        rows = on_days(frame, day)
        n_suppressed = 0
        for column in spec.slices:
            want = expected_groups(rows, column, known[column])
            shown = {g: v for g, v in want.items() if v["n"] >= MIN_SLICE}
            small = sorted(g for g, v in want.items() if v["n"] < MIN_SLICE)
            n_suppressed += len(small)
            report = reports[day][column]
            # The edge cases are there: a rare band value, values outside the top K, NULLs.
            if column == "band":
                assert "rare_band" in small and OTHER in shown and NULL in shown
            else:
                assert NULL in small
            assert sorted(report.groups) == sorted(shown), (day, column)
            assert sorted(report.suppressed) == small, (day, column)
            for group, values in shown.items():
                plain = {k: v for k, v in values.items() if not k.startswith("den:")}
                bad += mismatches(report.groups[group], plain, (day, column, group))
            bad += mismatches(report.disparities, expected_disparities(want), (day, column, "disparities"))

            # Stored rows: unsuppressed groups carry their values and n; a suppressed group is one
            # marker row with neither.
            stored = read_fairness_rows(url, spec.name, day, column)
            for group in small:
                marker = stored[stored.slice_value == group]
                assert len(marker) == 1, (day, column, group, marker)
                row = marker.iloc[0]
                assert row.metric == "suppressed" and bool(row.suppressed)
                assert pd.isna(row.value) and pd.isna(row.n)
            for group, values in shown.items():
                rows_of = stored[stored.slice_value == group].set_index("metric")
                assert not rows_of.suppressed.any() and (rows_of.n == values["n"]).all()
                got = {str(m): math.nan if pd.isna(v) else float(v) for m, v in rows_of.value.items()}
                bad += mismatches(got, {k: v for k, v in values.items() if k in got}, ("stored", day, group))

        # Materialization metadata: suppressed groups are counted, never named.
        meta = fairness_metadata(reports[day], disparity_verdicts(spec, reports[day]))
        text = " ".join(str(v.value) for v in meta.values())
        assert "rare_band" not in text
        assert meta["suppressed_groups"].value == n_suppressed
    assert not bad, bad


# ---------------------------------------------------------------------------------------------
# 6. Rolling window, and late labels re-computing it
# ---------------------------------------------------------------------------------------------


def read_stored_performance(url: str, monitor: str) -> pd.DataFrame:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        result = conn.execute(
            sa.text(
                'SELECT partition_date, "window", metric, value, run_id FROM monitoring.performance_metrics '
                "WHERE monitor = :m AND kind = 'realized'"
            ),
            {"m": monitor},
        )
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    engine.dispose()
    return frame


def test_rolling_window_matches_sklearn_and_follows_late_labels(url: str, data: Data) -> None:
    days = ROLLING_DAYS
    spec = binary_spec(monitor_name("roll"), "roll", performance={"rolling_days": 7})
    wh = Warehouse(url)
    build_reference(wh, spec, Audit("run-1", spec.spec_hash()))
    compute_performance(wh, spec, days, Audit("run-1", spec.spec_hash()))

    def check(day: dt.date, frame: pd.DataFrame) -> list[tuple[object, ...]]:
        """Stored daily and rolling metrics of ``day`` against scikit-learn on the raw rows."""
        rolling = wh.metrics.read_performance(spec, "rolling_7d", days=[day])[day]
        daily = wh.metrics.read_performance(spec, "daily", days=[day])[day]
        # The window holds the materialized days (from 2024-03-01) among the 7 ending on ``day``.
        window_rows = on_days(frame, max(day - dt.timedelta(days=6), days[0]), day)
        keys = ("n_scored", "n_labeled", "label_coverage", "n_invalid", "accuracy", "roc_auc")
        return [
            *mismatches(rolling, {k: v for k, v in sklearn_binary(window_rows).items() if k in keys}, (day, "rolling")),
            *mismatches(daily, {k: v for k, v in sklearn_binary(on_days(frame, day)).items() if k in keys}, day),
        ]

    assert not check(days[-1], data.rolling)

    # Late labels for every unlabeled row of day 2, then only day 2 re-run: the rolling window of
    # day 8 (days 2..8) now counts them; day 9's (3..9) is not rewritten.
    late = data.rolling.copy()
    on_day_2 = late.index.isin(on_days(late, days[1]).index)
    new = on_day_2 & ~late.labeled
    assert new.sum() > 50
    late.loc[new, "labeled"] = True
    add_labels(url, "roll", labels_frame(late[new]))
    before = wh.metrics.read_performance(spec, "rolling_7d", days=[days[7]])[days[7]]
    compute_performance(wh, spec, [days[1]], Audit("run-2", spec.spec_hash()))
    after = wh.metrics.read_performance(spec, "rolling_7d", days=[days[7]])[days[7]]
    assert after["n_labeled"] == before["n_labeled"] + new.sum()
    assert not check(days[7], late)
    assert not check(days[1], late)

    stored = read_stored_performance(url, spec.name)
    duplicated = stored[stored.duplicated(["partition_date", "window", "metric"], keep=False)]
    assert duplicated.empty, duplicated
    runs = stored[stored.window == "rolling_7d"].groupby("partition_date").run_id.unique()
    assert {d: list(r) for d, r in runs.items()} == {
        d: ["run-2"] if days[1] <= d <= days[7] else ["run-1"] for d in days
    }


# ---------------------------------------------------------------------------------------------
# The stored daily aggregates: a few rows a day, and tables of the earlier per-cell layout
# ---------------------------------------------------------------------------------------------

# A binary aggregate's fields: 11 scalars (n_bins is the spec's, not stored) and 3 arrays of 2 labels.
SCALAR_FIELDS = [
    f.name
    for f in dataclasses.fields(BinaryAggregate)
    if f.name != "n_bins" and f.name not in ("confusion", "hist", "score_sum")
]
ROWS_PER_DAY = len(SCALAR_FIELDS) + 3 * 2


def stored_aggregate_rows(url: str, monitor: str) -> dict[dt.date, tuple[int, int]]:
    """Per day: rows of performance_aggregates and the bytes of their ``cells``."""
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT partition_date, count(*), coalesce(sum(octet_length(cells)), 0) "
                "FROM monitoring.performance_aggregates WHERE monitor = :m GROUP BY partition_date"
            ),
            {"m": monitor},
        ).fetchall()
    engine.dispose()
    return {d: (int(n), int(size)) for d, n, size in rows}


def test_a_day_of_aggregates_is_a_few_rows_and_reads_back_exactly(url: str) -> None:
    spec = binary_spec(monitor_name("rows"))
    wh = Warehouse(url)
    compute_performance(wh, spec, DAYS, Audit("run-1", spec.spec_hash()))
    stored = stored_aggregate_rows(url, spec.name)
    # One row per scalar and per (array, label), whatever the 10,000 score cells hold; their
    # compressed cells stay a few KB (most cells are empty at 600 rows a day).
    assert {d: n for d, (n, _) in stored.items()} == {d: ROWS_PER_DAY for d in DAYS}
    assert all(size < 16_000 for _, size in stored.values()), stored
    fresh = wh.metrics.performance_aggregates(spec, DAYS)
    with wh.metrics.performance_writer(spec, Audit("read", spec.spec_hash())) as writer:
        read = writer.read_aggregates(DAYS[0], DAYS[-1])
    bad = [diff for d in DAYS for diff in _aggregate_differences(fresh[d], read[d], d)]
    assert not bad, bad
    # Bytes round-trip exactly: the float sums too, not just within 1e-9.
    assert all(np.array_equal(fresh[d].score_sum, read[d].score_sum) for d in DAYS)


OLD_AUDIT = "'old-run', 'old-hash', NULL, TIMESTAMP '2024-03-20 00:00:00'"


def write_old_layout(url: str, monitor: str, frame: pd.DataFrame, days: Sequence[dt.date]) -> dict[dt.date, int]:
    """An earlier release's performance_aggregates (one row per non-empty cell, in a ``cell``
    column) holding ``days``: scalar n_scored and per-cell ``hist`` rows of the labeled rows'
    scores (1,000 cells). Returns each day's histogram total."""
    engine = sa.create_engine(url, poolclass=NullPool)
    totals = {}
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS monitoring"))
        conn.execute(
            sa.text(
                "CREATE TABLE monitoring.performance_aggregates (monitor VARCHAR(63) NOT NULL, "
                "partition_date DATE NOT NULL, stat VARCHAR(32) NOT NULL, label INTEGER, cell INTEGER, "
                "value DOUBLE PRECISION NOT NULL, run_id VARCHAR(64) NOT NULL, spec_hash VARCHAR(64) NOT NULL, "
                "model_version VARCHAR(256), computed_at TIMESTAMP NOT NULL)"
            )
        )
        insert = sa.text(
            f"INSERT INTO monitoring.performance_aggregates VALUES (:m, :d, :stat, :label, :cell, :v, {OLD_AUDIT})"
        )
        for day in days:
            rows = on_days(frame, day)
            scalar = {"m": monitor, "d": day, "stat": "n_scored", "label": None, "cell": None, "v": len(rows)}
            conn.execute(insert, scalar)
            scores = _floats(rows.score)
            y = _floats(rows.y)
            ok = rows.labeled.to_numpy() & np.isin(y, (0.0, 1.0)) & np.isfinite(scores) & (scores >= 0) & (scores <= 1)
            cells = np.minimum((scores[ok] * 1000).astype(np.int64), 999)
            labels = y[ok].astype(np.int64)
            pairs, counts = np.unique(np.c_[labels, cells], axis=0, return_counts=True)
            params = [
                {"m": monitor, "d": day, "stat": "hist", "label": int(y), "cell": int(c), "v": float(n)}
                for (y, c), n in zip(pairs, counts, strict=True)
            ]
            conn.execute(insert, params)
            totals[day] = int(counts.sum())
    engine.dispose()
    return totals


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], ids=["duckdb", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, data: Data) -> Iterator[str]:
    """A warehouse of its own (its monitoring schema is rebuilt) holding the ``roll_*`` tables."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('old_layout') / 'warehouse.duckdb'}"
        write_scored(url, "roll", data.rolling)
        yield url
        return
    with scratch_database(request.getfixturevalue("pg_url"), "oldagg") as url:
        write_scored(url, "roll", data.rolling)
        yield url


def test_an_old_layout_table_is_upgraded_and_its_days_aggregated_again(fresh_url: str, data: Data) -> None:
    days = ROLLING_DAYS[:7]
    old_days = days[:6]
    spec = binary_spec(monitor_name("old"), "roll", performance={"rolling_days": 7})
    totals = write_old_layout(fresh_url, spec.name, data.rolling, old_days)
    wh = Warehouse(fresh_url)
    wh.ensure_tables()

    engine = sa.create_engine(fresh_url, poolclass=NullPool)
    with engine.connect() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'monitoring' AND table_name = 'performance_aggregates'"
            )
        ).scalars()
        assert "cells" in set(columns)
        hist = conn.execute(
            sa.text(
                "SELECT partition_date, label, value, cells FROM monitoring.performance_aggregates "
                "WHERE monitor = :m AND stat = 'hist'"
            ),
            {"m": spec.name},
        ).fetchall()
    engine.dispose()
    # Each old array became one row per label holding its sum, with no cells (nothing repacked).
    assert all(cells is None for *_, cells in hist)
    per_day: dict[dt.date, float] = {}
    for day, _label, value, _ in hist:
        per_day[day] = per_day.get(day, 0.0) + value
    assert per_day == {d: float(n) for d, n in totals.items()}
    assert len(hist) == 2 * len(old_days)
    assert wh.metrics.old_layout_days(spec, days[0], days[-1]) == set(old_days)

    # Read as they are, those days say what to do, never pass for a day without labels.
    error = "earlier release: re-materialize labeled_performance"
    with pytest.raises(WarehouseError, match=error), wh.metrics.performance_writer(spec, Audit("r", "h")) as writer:
        writer.read_aggregates(days[0], days[-1])

    # A run of the last day alone: its window reaches the six old days, which are aggregated again.
    said: list[str] = []
    compute_performance(wh, spec, [days[-1]], Audit("run-new", spec.spec_hash()), said.append)
    assert any("layout of an earlier release" in m and "6 day(s)" in m for m in said), said
    assert wh.metrics.old_layout_days(spec, days[0], days[-1]) == set()
    stored = stored_aggregate_rows(fresh_url, spec.name)
    assert {d: n for d, (n, _) in stored.items()} == {d: ROWS_PER_DAY for d in days}

    keys = ("n_scored", "n_labeled", "label_coverage", "n_invalid", "accuracy", "roc_auc", "log_loss")
    rolling = wh.metrics.read_performance(spec, "rolling_7d", days=[days[-1]])[days[-1]]
    want = {k: v for k, v in sklearn_binary(on_days(data.rolling, days[0], days[-1])).items() if k in keys}
    bad = mismatches(rolling, want, "rolling")
    for day in (old_days[0], days[-1]):
        daily = wh.metrics.read_performance(spec, "daily", days=[day])[day]
        want = {k: v for k, v in sklearn_binary(on_days(data.rolling, day)).items() if k in keys}
        bad += mismatches(daily, want, day)
    assert not bad, bad
