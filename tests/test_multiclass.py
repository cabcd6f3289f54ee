"""Multiclass classification: metrics against scikit-learn on the raw rows, in numpy and through
the warehouse on DuckDB and PostgreSQL; the spec's rules; drift of the prediction columns.

Tolerances: counts and count-based metrics (accuracy, precision, recall, F1 and their averages)
1e-12; log loss (a sum in the engine's order) 1e-9; one-vs-rest ROC AUC within the bound
``ovr_auc_error_bound`` states, which these data keep below 0.002 at 10,000 cells.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn import metrics as skm
from sqlalchemy.pool import NullPool

from monitoring_assets._pipeline import build_daily_profiles, build_reference, compute_drift, compute_performance
from monitoring_assets.core.performance import (
    MulticlassAggregate,
    multiclass_aggregate_from_rows,
    ovr_auc_error_bound,
    performance_metrics,
    predicted_classes,
)
from monitoring_assets.errors import SpecError, WarehouseError
from monitoring_assets.spec import parse_spec
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import write_table

CLASSES = ["a", "b", "c"]
DAYS = [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
EXACT, SUMS, RANKED = 1e-12, 1e-9, 0.002


# ---------------------------------------------------------------------------------------------
# Raw rows and the scikit-learn reference
# ---------------------------------------------------------------------------------------------


def raw_rows(n: int, seed: int, classes: Sequence[object] = CLASSES) -> pd.DataFrame:
    """Rows with softmax probabilities (columns ``p0..``), the model's predicted class
    (``predicted``: the argmax, except 10% of rows where it is another class), the true class
    ``y`` (a few are ``zzz``, not a class) and whether the label has arrived (``labeled``). A few
    rows tie between the first two classes, a few have probabilities summing to 1.2, a few none."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    truth = rng.choice(k, n, p=np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    logits = rng.normal(0, 1, (n, k)) + 1.4 * np.eye(k)[truth]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs[:5] = [0.4, 0.4, *([0.2 / (k - 2)] * (k - 2))]  # ties: the first of the two wins
    probs[5:9] *= 1.2  # do not sum to 1: invalid scores
    probs[9:12] = np.nan  # missing
    predicted = predicted_classes(np.nan_to_num(probs))
    other = rng.random(n) < 0.1
    predicted[other] = rng.integers(0, k, other.sum())
    values = np.array(classes, dtype=object)
    y = values[truth].copy()
    y[12:18] = "zzz" if isinstance(classes[0], str) else 99
    frame = pd.DataFrame({f"p{i}": probs[:, i] for i in range(k)})
    frame["predicted"] = values[predicted]
    frame["y"] = y
    frame["labeled"] = rng.random(n) < 0.8
    return frame


def class_index(values: pd.Series, classes: Sequence[object]) -> np.ndarray:
    lookup = {str(c): i for i, c in enumerate(classes)}
    return np.array([lookup.get(str(v), -1) for v in values], np.float64)


def sklearn_multiclass(rows: pd.DataFrame, classes: Sequence[object], *, probabilities: bool) -> dict[str, float]:
    """Every multiclass metric on the valid raw rows (labeled, label a class, and with
    probabilities: all present, in [0, 1], summing to 1 within 0.01)."""
    k = len(classes)
    p = rows[[f"p{i}" for i in range(k)]].to_numpy(np.float64)
    y = class_index(rows["y"], classes)
    labeled = rows["labeled"].to_numpy()
    valid = labeled & (y >= 0)
    if probabilities:
        valid &= np.isfinite(p).all(axis=1) & (np.abs(p.sum(axis=1) - 1) <= 0.01)
    yt, yp = y[valid].astype(int), class_index(rows["predicted"], classes)[valid].astype(int)
    labels = list(range(k))
    out = {
        "n_scored": float(len(rows)),
        "n_labeled": float(labeled.sum()),
        "n_invalid": float((labeled & ~valid).sum()),
        "n_invalid_labels": float((labeled & (y < 0)).sum()),
        "accuracy": skm.accuracy_score(yt, yp),
        "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
    }
    for average in ("macro", "micro", "weighted"):
        prec, rec, f1, _ = skm.precision_recall_fscore_support(
            yt, yp, labels=labels, average=average, zero_division=np.nan
        )
        out |= {f"precision_{average}": prec, f"recall_{average}": rec, f"f1_{average}": f1}
    prec, rec, _, _ = skm.precision_recall_fscore_support(yt, yp, labels=labels, average=None, zero_division=np.nan)
    for i, c in enumerate(classes):
        out |= {f"precision.{c}": prec[i], f"recall.{c}": rec[i]}
    if probabilities:
        pv = p[valid]
        out["log_loss"] = skm.log_loss(yt, pv, labels=labels)
        out["roc_auc_ovr_macro"] = skm.roc_auc_score(yt, pv, multi_class="ovr", average="macro", labels=labels)
        out["roc_auc_ovr_weighted"] = skm.roc_auc_score(yt, pv, multi_class="ovr", average="weighted", labels=labels)
    else:
        out |= {"log_loss": math.nan, "roc_auc_ovr_macro": math.nan, "roc_auc_ovr_weighted": math.nan}
    return out


def tolerance(metric: str) -> float:
    return RANKED if metric.startswith("roc_auc") else SUMS if metric == "log_loss" else EXACT


def mismatches(got: Mapping[str, float], want: Mapping[str, float], where: object) -> list[tuple[object, ...]]:
    bad: list[tuple[object, ...]] = []
    for metric, expected in want.items():
        value = got.get(metric, math.nan)
        if math.isnan(value) and math.isnan(expected):
            continue
        if not math.isclose(value, expected, rel_tol=EXACT, abs_tol=tolerance(metric)):
            bad.append((where, metric, value, expected))
    return bad


def numpy_aggregate(
    rows: pd.DataFrame, classes: Sequence[object], n_bins: int, *, probabilities: bool
) -> MulticlassAggregate:
    k = len(classes)
    labels = np.where(rows["labeled"].to_numpy(), class_index(rows["y"], classes), np.nan)
    probs = rows[[f"p{i}" for i in range(k)]].to_numpy(np.float64) if probabilities else None
    return multiclass_aggregate_from_rows(
        labels, class_index(rows["predicted"], classes), probs, k, n_bins if probabilities else 0
    )


# ---------------------------------------------------------------------------------------------
# The pure core
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("probabilities", [True, False])
def test_core_metrics_match_sklearn_on_raw_rows(probabilities: bool) -> None:
    rows = raw_rows(4000, seed=1)
    agg = numpy_aggregate(rows, CLASSES, 10_000, probabilities=probabilities)
    got = performance_metrics(agg, CLASSES)
    assert not mismatches(got, sklearn_multiclass(rows, CLASSES, probabilities=probabilities), "core")
    assert got["n_invalid_scores"] == (4 if probabilities else 0)
    assert got["n_invalid_labels"] > 0


def test_ovr_auc_is_within_its_stated_bound_and_the_bound_shrinks_with_cells() -> None:
    rows = raw_rows(3000, seed=2)
    want = sklearn_multiclass(rows, CLASSES, probabilities=True)
    bounds = []
    for n_bins in (100, 1000, 10_000):
        agg = numpy_aggregate(rows, CLASSES, n_bins, probabilities=True)
        got = performance_metrics(agg, CLASSES)
        bound = ovr_auc_error_bound(agg)
        bounds.append(bound)
        for metric in ("roc_auc_ovr_macro", "roc_auc_ovr_weighted"):
            assert abs(got[metric] - want[metric]) <= bound + 1e-12, (n_bins, metric)
    assert bounds[0] > bounds[1] > bounds[2] and bounds[2] < RANKED


def test_merge_is_the_sum_of_days_and_argmax_ties_pick_the_first_class() -> None:
    rows = raw_rows(1500, seed=3)
    parts = [numpy_aggregate(rows.iloc[i : i + 500], CLASSES, 1000, probabilities=True) for i in (0, 500, 1000)]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    whole = numpy_aggregate(rows, CLASSES, 1000, probabilities=True)
    for field in ("confusion", "hist", "predicted"):
        assert np.array_equal(getattr(merged, field), getattr(whole, field)), field
    assert (merged.n_scored, merged.n_labeled, merged.n_invalid) == (whole.n_scored, whole.n_labeled, whole.n_invalid)
    assert math.isclose(merged.log_loss_sum, whole.log_loss_sum, rel_tol=1e-12)
    assert predicted_classes(np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.3, 0.3, 0.3]])).tolist() == [0, 1, 0]


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


def spec_doc(name: str, prediction: Mapping[str, object], **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "source": {"table": f"{name}_scored", "timestamp_column": "ts", "id_column": "id"},
        "features": {"numeric": ["x"]},
        "prediction": dict(prediction),
        "labels": {"table": f"{name}_labels", "id_column": "row_id", "label_column": "label"},
        "reference": {"window": {"start": "2024-02-27", "end": "2024-02-29"}},
        "partitions": {"start_date": "2024-03-01"},
    } | extra


PROBS = {
    "task": "multiclass_classification",
    "classes": CLASSES,
    "score_columns": {c: f"p{i}" for i, c in enumerate(CLASSES)},
}


@pytest.mark.parametrize(
    ("prediction", "message"),
    [
        ({"task": "multiclass_classification", "classes": ["a", "b"]}, "give score_columns"),
        ({"task": "multiclass_classification", "classes": ["a"], "label_column": "pr"}, "at least 2"),
        ({"task": "multiclass_classification", "classes": ["a", "a"], "label_column": "pr"}, "more than once"),
        ({"task": "multiclass_classification", "classes": ["a b", "c"], "label_column": "pr"}, "letters, digits"),
        ({"task": "multiclass_classification", "classes": [True, False], "label_column": "pr"}, "string or an integer"),
        (PROBS | {"score_columns": {"a": "p0", "b": "p1"}}, "one column per class"),
        (PROBS | {"score_columns": {"a": "p0", "b": "p0", "c": "p2"}}, "its own column"),
        (PROBS | {"score_column": "s"}, "names score_columns"),
        ({"task": "multiclass_classification", "label_column": "pr"}, "at least 2"),
        (
            {"task": "binary_classification", "score_column": "s", "classes": ["a", "b"]},
            "multiclass_classification only",
        ),
        ({"task": "binary_classification"}, "score_column: required"),
    ],
)
def test_bad_multiclass_prediction_specs_are_refused(prediction: Mapping[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(spec_doc("m", prediction))


def test_multiclass_spec_columns_and_defaults() -> None:
    spec = parse_spec(
        spec_doc(
            "m", PROBS | {"classes": [2, 0, 1], "score_columns": {2: "p0", 0: "p1", 1: "p2"}, "label_column": "pr"}
        )
    )
    assert spec.prediction.classes == ["2", "0", "1"]
    assert spec.numeric_columns == ["x", "p0", "p1", "p2"]
    assert spec.categorical_columns == ["pr"]
    assert spec.prediction_drift_columns == ["p0", "p1", "p2", "pr"]
    assert spec.performance.effective_tolerances("multiclass_classification").keys() == {"f1_macro"}
    with pytest.raises(SpecError, match="not a multiclass_classification metric"):
        parse_spec(spec_doc("m", PROBS, performance={"tolerances": {"roc_auc": {"warn": 0.1, "error": 0.2}}}))
    with pytest.raises(SpecError, match="also listed as a feature"):
        parse_spec(spec_doc("m", PROBS, features={"numeric": ["x", "p1"]}))


# ---------------------------------------------------------------------------------------------
# Through the warehouse, on DuckDB and PostgreSQL
# ---------------------------------------------------------------------------------------------


def scored_frame(classes: Sequence[object], seed: int) -> pd.DataFrame:
    """Two days of 1,500 rows (ids, timestamps, a feature), plus the reference window's three days."""
    days = [dt.date(2024, 2, 27), dt.date(2024, 2, 28), dt.date(2024, 2, 29), *DAYS]
    per_day = 1500
    frame = raw_rows(per_day * len(days), seed, classes)
    rng = np.random.default_rng(seed + 100)
    day_of = np.repeat(np.arange(len(days)), per_day)
    frame = frame.sample(frac=1, random_state=seed).reset_index(drop=True)  # bad rows spread over the days
    frame["ts"] = pd.Timestamp(days[0]) + pd.to_timedelta(day_of * 86_400 + rng.integers(0, 86_400, len(frame)), "s")
    frame["id"] = np.arange(len(frame))
    frame["x"] = rng.normal(0, 1, len(frame)) + (day_of >= 4) * 0.8  # the last day drifts
    frame["region"] = rng.choice(
        np.array(["north", "south", "east", None], dtype=object), len(frame), p=[0.5, 0.3, 0.19, 0.01]
    )
    return frame


def load(url: str, name: str, frame: pd.DataFrame) -> None:
    source = frame.drop(columns=["y", "labeled"])
    write_table(url, f"{name}_scored", source)
    arrived = frame[frame.labeled]
    write_table(
        url, f"{name}_labels", pd.DataFrame({"row_id": arrived["id"].to_numpy(), "label": arrived["y"].to_numpy()})
    )


def on_day(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return frame[frame.ts.dt.date == day]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, duckdb_url: str) -> str:
    return duckdb_url if request.param == "duckdb" else str(request.getfixturevalue("pg_url"))


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_performance_through_the_warehouse_matches_sklearn_with_probabilities(url: str) -> None:
    spec = parse_spec(spec_doc(_name("mcp"), PROBS | {"label_column": "predicted"}, performance={"rolling_days": 2}))
    frame = scored_frame(CLASSES, seed=4)
    load(url, spec.name, frame)
    wh = Warehouse(url)
    audit = Audit("run-1", spec.spec_hash())
    build_reference(wh, spec, audit)
    results = compute_performance(wh, spec, DAYS, audit)
    for day in DAYS:
        rows = on_day(frame, day)
        want = sklearn_multiclass(rows, CLASSES, probabilities=True)
        assert not mismatches(results[day].metrics, want, day)
        # In SQL a NaN probability is present and invalid (NULL would be missing), like a sum of 1.2.
        p = rows[["p0", "p1", "p2"]].to_numpy()
        invalid = ~np.isfinite(p).all(axis=1) | (np.abs(p.sum(axis=1) - 1) > 0.01)
        assert results[day].metrics["n_invalid_scores"] == invalid.sum() > 0
    rolling = wh.metrics.read_performance(spec, "rolling_2d", days=[DAYS[1]])[DAYS[1]]
    both = frame[frame.ts.dt.date.isin(DAYS)]
    assert not mismatches(rolling, sklearn_multiclass(both, CLASSES, probabilities=True), "rolling")
    reference = wh.metrics.read_performance(spec, "reference")[None]
    ref_rows = frame[frame.ts.dt.date < DAYS[0]]
    assert not mismatches(reference, sklearn_multiclass(ref_rows, CLASSES, probabilities=True), "reference")


def test_argmax_in_sql_matches_numpy_and_integer_classes_compare_as_text(url: str) -> None:
    """No predicted-class column: the warehouse takes the argmax (ties: the first class)."""
    classes = [0, 1, 2]
    prediction = {"task": "multiclass_classification", "classes": classes, "score_columns": {0: "p0", 1: "p1", 2: "p2"}}
    spec = parse_spec(spec_doc(_name("mca"), prediction))
    frame = scored_frame(classes, seed=5)
    frame = frame.assign(predicted=predicted_classes(np.nan_to_num(frame[["p0", "p1", "p2"]].to_numpy())))
    load(url, spec.name, frame.drop(columns=["predicted"]).assign(predicted=frame.predicted))
    wh = Warehouse(url)
    results = compute_performance(wh, spec, DAYS, Audit("run-1", spec.spec_hash()))
    for day in DAYS:
        rows = on_day(frame, day)
        assert not mismatches(results[day].metrics, sklearn_multiclass(rows, classes, probabilities=True), day)


def test_predicted_class_only_through_the_warehouse(url: str) -> None:
    prediction = {"task": "multiclass_classification", "classes": CLASSES, "label_column": "predicted"}
    spec = parse_spec(spec_doc(_name("mco"), prediction))
    frame = scored_frame(CLASSES, seed=6).drop(columns=["p0", "p1", "p2"])
    frame[["p0", "p1", "p2"]] = np.nan  # unused: the reference gets no probabilities
    load(url, spec.name, frame.drop(columns=["p0", "p1", "p2"]))
    wh = Warehouse(url)
    results = compute_performance(wh, spec, DAYS, Audit("run-1", spec.spec_hash()))
    for day in DAYS:
        want = sklearn_multiclass(on_day(frame, day), CLASSES, probabilities=False)
        assert not mismatches(results[day].metrics, want, day)
        assert math.isnan(results[day].metrics["roc_auc_ovr_macro"])


def test_fractional_label_columns_are_refused(duckdb_url: str) -> None:
    spec = parse_spec(
        spec_doc(_name("mcf"), {"task": "multiclass_classification", "classes": [0, 1, 2], "label_column": "predicted"})
    )
    frame = scored_frame([0, 1, 2], seed=7)
    frame["y"] = frame["y"].astype(np.float64)
    load(duckdb_url, spec.name, frame)
    with pytest.raises(WarehouseError, match="compared as text"):
        compute_performance(Warehouse(duckdb_url), spec, DAYS, Audit("run-1", spec.spec_hash()))


def test_prediction_drift_covers_each_probability_and_the_predicted_class(url: str) -> None:
    spec = parse_spec(spec_doc(_name("mcd"), PROBS | {"label_column": "predicted"}))
    frame = scored_frame(CLASSES, seed=8)
    last = frame.ts.dt.date == DAYS[1]
    # On the last day the model predicts "c" with probability 0.9 for half the rows.
    shifted = last & (frame.id % 2 == 0)
    frame.loc[shifted, ["p0", "p1", "p2"]] = [0.05, 0.05, 0.9]
    frame.loc[shifted, "predicted"] = "c"
    load(url, spec.name, frame)
    wh = Warehouse(url)
    audit = Audit("run-1", spec.spec_hash())
    build_reference(wh, spec, audit)
    build_daily_profiles(wh, spec, DAYS, audit)
    drift = compute_drift(wh, spec, DAYS, "prediction", audit)
    columns = {c.feature: c for c in drift[DAYS[1]].features}
    assert set(columns) == {"p0", "p1", "p2", "predicted"}
    assert all(columns[c].drifted for c in columns), {c: columns[c].value for c in columns}
    assert not any(c.drifted for c in drift[DAYS[0]].features), [(c.feature, c.value) for c in drift[DAYS[0]].features]
    features = compute_drift(wh, spec, DAYS, "feature", audit)
    assert {c.feature for c in features[DAYS[0]].features} == {"x"}
    with sa.create_engine(url, poolclass=NullPool).connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT DISTINCT feature FROM monitoring.drift_metrics WHERE monitor = :m AND scope = 'prediction'"
            ),
            {"m": spec.name},
        ).scalars()
        assert set(stored) == {"p0", "p1", "p2", "predicted"}


# ---------------------------------------------------------------------------------------------
# Dagster: the monitor's assets and checks on DuckDB
# ---------------------------------------------------------------------------------------------


def test_multiclass_monitor_materializes_through_dagster(duckdb_url: str) -> None:
    import dagster as dg  # noqa: PLC0415

    from monitoring_assets import build_definitions  # noqa: PLC0415
    from monitoring_assets.resources import WarehouseResource  # noqa: PLC0415

    spec = parse_spec(
        spec_doc("mc_dagster", PROBS | {"label_column": "predicted"}, performance={"max_invalid_share": 0})
    )
    frame = scored_frame(CLASSES, seed=9)
    load(duckdb_url, spec.name, frame)
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=duckdb_url))
    day = DAYS[1].isoformat()
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def(f"{spec.name}_reference").execute_in_process(instance=instance).success
        daily = defs.resolve_job_def(f"{spec.name}_daily_monitoring").execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False
        )
        assert daily.success
        labeled = defs.resolve_job_def(f"{spec.name}_labeled_monitoring").execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False
        )
        assert labeled.success
        events = labeled.get_asset_materialization_events()
        meta = next(e.materialization.metadata for e in events if e.asset_key.path[-1] == "labeled_performance")
        want = sklearn_multiclass(on_day(frame, DAYS[1]), CLASSES, probabilities=True)
        assert meta["f1_macro"].value == pytest.approx(want["f1_macro"], abs=5e-5)  # metadata: 4 decimals
        assert meta["recall.b"].value == pytest.approx(want["recall.b"], abs=5e-5)
        assert "| precision.c |" in str(meta["metrics"].value)
        checks = {
            e.check_name: e.passed
            for e in labeled.get_asset_check_evaluations()
            if e.asset_key.path[-1] == "labeled_performance"
        }
        # The day has a 'zzz' label and a row whose probabilities sum to 1.2 (limit: none).
        assert checks["label_validity"] is False
        assert checks["performance_vs_reference"] is True


def expected_groups(rows: pd.DataFrame, classes: Sequence[object]) -> dict[str, dict[str, float]]:
    """Per region (pandas on the raw rows): rows, accuracy on the valid labeled rows, and each
    class's selection rate (predicted class, labeled or not) and recall."""
    out = {}
    labels = class_index(rows["y"], classes)
    predicted = class_index(rows["predicted"], classes)
    for region, g in rows.assign(label=labels, pred=predicted).groupby(rows["region"].fillna("__null__")):
        valid = g[g.labeled & (g.label >= 0) & (g.pred >= 0)]
        values = {"n": float(len(g)), "accuracy": float((valid.label == valid.pred).mean())}
        for i, c in enumerate(classes):
            values[f"selection_rate.{c}"] = float((g.pred[g.pred >= 0] == i).mean())
            values[f"true_positive_rate.{c}"] = float((valid.pred[valid.label == i] == i).mean())
            values[f"false_positive_rate.{c}"] = float((valid.pred[valid.label != i] == i).mean())
        out[str(region)] = values
    return out


def test_fairness_slices_match_pandas_on_raw_rows(url: str) -> None:
    from monitoring_assets._pipeline import compute_fairness, disparity_verdicts  # noqa: PLC0415

    thresholds = {
        "demographic_parity_difference": {"warn": 0.01, "error": 0.5},
        "accuracy_difference": {"warn": 0.5, "error": 0.6},
    }
    spec = parse_spec(
        spec_doc(
            _name("mcs"),
            PROBS | {"label_column": "predicted"},
            slices=["region"],
            fairness={"min_slice_size": 30, "thresholds": thresholds},
        )
    )
    frame = scored_frame(CLASSES, seed=10)
    south = (frame.region == "south") & (frame.ts.dt.date == DAYS[1]) & (frame.id % 3 == 0)
    frame.loc[south, "predicted"] = "c"  # the model favours class c for the south on the last day
    load(url, spec.name, frame)
    wh = Warehouse(url)
    audit = Audit("run-1", spec.spec_hash())
    build_reference(wh, spec, audit)
    reports = compute_fairness(wh, spec, DAYS, audit)
    for day in DAYS:
        report = reports[day]["region"]
        want = expected_groups(on_day(frame, day), CLASSES)
        assert report.suppressed == ["__null__"]  # about 15 rows a day, under 30
        assert set(report.groups) == set(want) - {"__null__"}
        for group, values in report.groups.items():
            assert not mismatches(values, want[group], (day, group))
        rates = {c: [want[g][f"selection_rate.{c}"] for g in report.groups] for c in CLASSES}
        parity = max(max(r) - min(r) for r in rates.values())
        assert report.disparities["demographic_parity_difference"] == pytest.approx(parity, abs=EXACT)
        accuracies = [want[g]["accuracy"] for g in report.groups]
        assert report.disparities["accuracy_difference"] == pytest.approx(max(accuracies) - min(accuracies), abs=EXACT)
    levels = {v.disparity: v.level.value for v in disparity_verdicts(spec, reports[DAYS[1]])}
    assert levels == {"demographic_parity_difference": "warn", "accuracy_difference": "ok"}


# ---------------------------------------------------------------------------------------------
# Retraining: the default trainer fits a multiclass model, compared on macro F1
# ---------------------------------------------------------------------------------------------


def test_retraining_fits_a_multiclass_challenger_and_judges_it_on_macro_f1(
    duckdb_url: str, tmp_path: object, mlflow_sqlite: object
) -> None:
    from pathlib import Path  # noqa: PLC0415

    from monitoring_assets._retraining import Trigger, retrain  # noqa: PLC0415
    from monitoring_assets.resources import RegistryResource  # noqa: PLC0415
    from resources._rows import LABEL  # noqa: PLC0415

    tmp = Path(str(tmp_path))
    spec = parse_spec(
        spec_doc(
            "mc_retrain",
            PROBS | {"label_column": "predicted"},
            features={"numeric": ["x", "signal"]},
            model={"registry_name": "mc_retrain_model"},
            retraining={"training_window_days": 5, "holdout_days": 1, "promotion": {"policy": "auto"}},
        )
    )
    frame = scored_frame(CLASSES, seed=11)
    rng = np.random.default_rng(12)
    frame["signal"] = class_index(frame["y"], CLASSES) + rng.normal(0, 0.7, len(frame))  # informative
    load(duckdb_url, spec.name, frame)
    wh = Warehouse(duckdb_url)
    registry = RegistryResource(tracking_uri=mlflow_sqlite(tmp), artifact_root=str(tmp / "artifacts"))  # type: ignore[operator]
    with registry.open() as reg:
        result = retrain(wh, reg, spec, Trigger("manual-1", "manual"), "run-1")
        model = reg.load_model("mc_retrain_model", result.version)
    assert result.primary_metric == "f1_macro" and result.champion is None and result.promoted, result.decision
    assert not result.report_error, result.report_error
    holdout = wh.rows.training_frame(spec, DAYS[1], DAYS[1])
    assert len(holdout) == result.n_holdout
    truth = holdout[LABEL].astype(str)
    assert set(truth) <= set(CLASSES)  # the label 'zzz' is not a class: not trained or scored on
    predicted = np.asarray(model.predict(holdout[spec.feature_columns])).astype(str)
    proba = model.predict_proba(holdout[spec.feature_columns])
    want = {
        "f1_macro": skm.f1_score(truth, predicted, average="macro"),
        "accuracy": skm.accuracy_score(truth, predicted),
        "log_loss": skm.log_loss(truth, proba, labels=list(model.classes_)),
    }
    assert not mismatches(result.challenger, want, "challenger")
    assert result.challenger["f1_macro"] > 0.6


def test_the_documented_example_spec_is_valid() -> None:
    from monitoring_assets.spec import load_spec  # noqa: PLC0415
    from tests.conftest import REPO  # noqa: PLC0415

    spec = load_spec(REPO / "docs" / "examples" / "species_multiclass.yaml")
    assert spec.prediction.class_score_columns == ["p_setosa", "p_versicolor", "p_virginica"]
    assert spec.prediction_drift_columns == ["p_setosa", "p_versicolor", "p_virginica", "predicted_species"]
    assert spec.retrains


def test_a_day_of_multiclass_aggregates_reads_back_exactly(url: str) -> None:
    """18 rows a day for 3 classes (9 scalars, 3 arrays of one row per class), bytes exact."""
    spec = parse_spec(spec_doc(_name("mcr"), PROBS | {"label_column": "predicted"}))
    load(url, spec.name, scored_frame(CLASSES, seed=13))
    wh = Warehouse(url)
    compute_performance(wh, spec, DAYS, Audit("run-1", spec.spec_hash()))
    # Written, then read back (a second aggregation could sum the log losses in another order).
    fresh = wh.metrics.performance_aggregates(spec, DAYS)
    with wh.metrics.performance_writer(spec, Audit("read", spec.spec_hash())) as writer:
        writer.write_aggregates(fresh)
        read = writer.read_aggregates(DAYS[0], DAYS[-1])
    for day in DAYS:
        for field in ("predicted", "confusion", "hist"):
            assert np.array_equal(getattr(fresh[day], field), getattr(read[day], field)), (day, field)
        assert fresh[day].log_loss_sum == read[day].log_loss_sum
        assert fresh[day].hist.shape == (3, 2, 10_000)
    with sa.create_engine(url, poolclass=NullPool).connect() as conn:
        counts = conn.execute(
            sa.text(
                "SELECT partition_date, count(*) FROM monitoring.performance_aggregates WHERE monitor = :m "
                "GROUP BY partition_date"
            ),
            {"m": spec.name},
        ).fetchall()
    assert {d: int(n) for d, n in counts} == {d: 18 for d in DAYS}


def test_a_trained_model_must_be_a_classifier_of_the_spec_classes() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: PLC0415

    from monitoring_assets._retraining import chance_level, task_problem  # noqa: PLC0415

    spec = parse_spec(spec_doc("m", PROBS))
    x = np.arange(12, dtype=float).reshape(-1, 1)
    assert task_problem(LogisticRegression().fit(x, ["a", "b", "c"] * 4), spec) is None
    assert task_problem(LogisticRegression().fit(x, ["a", "b"] * 6), spec) is None  # a class unseen: allowed
    unknown = task_problem(LogisticRegression().fit(x, ["a", "z"] * 6), spec)
    assert unknown is not None and "'z'" in unknown
    assert "predict_proba" in (task_problem(LinearRegression().fit(x, np.arange(12.0)), spec) or "")
    # Chance: always the training window's most frequent class ('c'), scored on the holdout.
    holdout = ["a", "b", "c", "c"]
    want = skm.f1_score(holdout, ["c"] * 4, labels=CLASSES, average="macro", zero_division=np.nan)
    assert chance_level(spec, ["c", "c", "a"], holdout) == pytest.approx(want, abs=EXACT)


def test_late_labels_change_the_day_and_the_rolling_window(url: str) -> None:
    spec = parse_spec(spec_doc(_name("mcl"), PROBS | {"label_column": "predicted"}, performance={"rolling_days": 2}))
    frame = scored_frame(CLASSES, seed=14)
    early = frame.assign(labeled=frame.labeled & (frame.id % 2 == 0))  # half the labels have arrived
    load(url, spec.name, early)
    wh = Warehouse(url)
    compute_performance(wh, spec, DAYS, Audit("run-1", spec.spec_hash()))
    late = frame[frame.labeled & (frame.id % 2 == 1)]
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f'INSERT INTO "{spec.name}_labels" VALUES (:i, :y)'),
            [{"i": int(i), "y": y} for i, y in zip(late["id"], late["y"], strict=True)],
        )
    engine.dispose()
    compute_performance(wh, spec, [DAYS[0]], Audit("run-2", spec.spec_hash()))  # only the first day again
    both = frame[frame.ts.dt.date.isin(DAYS)]
    rolling = wh.metrics.read_performance(spec, "rolling_2d", days=[DAYS[1]])[DAYS[1]]
    # Day 2's window (days 1..2) now counts day 1's late labels, though day 2 was not re-run.
    want = sklearn_multiclass(
        both.assign(labeled=both.labeled & ((both.id % 2 == 0) | (both.ts.dt.date == DAYS[0]))),
        CLASSES,
        probabilities=True,
    )
    assert not mismatches(rolling, want, "rolling")
    daily = wh.metrics.read_performance(spec, "daily", days=[DAYS[0]])[DAYS[0]]
    assert not mismatches(daily, sklearn_multiclass(on_day(frame, DAYS[0]), CLASSES, probabilities=True), "day 1")
