"""Plotted metadata: a number undefined on a day is left out, never stood in for by 0.0.

Dagster's Plots tab draws every float key of a partition's materialization; a 0.0 written for an
undefined value (no rows, no labels) would draw as a real, perfect or worst-possible, value.
"""

from __future__ import annotations

import datetime as dt
import math

import dagster as dg
import numpy as np

from monitoring_assets._metadata import performance_metadata, profile_metadata
from monitoring_assets._pipeline import PerformanceDay
from monitoring_assets._retraining import RetrainingResult, Trigger
from monitoring_assets._retraining_assets import _retraining_metadata
from monitoring_assets.core.performance import BinaryAggregate, binary_aggregate_from_rows, performance_metrics
from monitoring_assets.core.profile import (
    CategoricalBins,
    NumericBins,
    ProfileLayout,
    empty_profile,
    profile_from_values,
)

N_BINS = 1_000
LAYOUT = ProfileLayout(numeric={"x": NumericBins.from_range(0.0, 1.0, 10)}, categorical={"c": CategoricalBins(("a",))})


def floats(meta: dict[str, object]) -> dict[str, float]:
    return {k: v.value for k, v in meta.items() if isinstance(v, dg.FloatMetadataValue)}


def day(metrics: dict[str, float]) -> PerformanceDay:
    return PerformanceDay(metrics=metrics, rolling=metrics, verdicts=[], too_few_labels=True)


def test_a_day_without_scored_rows_plots_no_label_coverage_and_no_metric() -> None:
    metrics = performance_metrics(BinaryAggregate.empty(N_BINS))
    assert math.isnan(metrics["label_coverage"]) and math.isnan(metrics["roc_auc"])
    meta = performance_metadata("binary_classification", day(metrics), {})
    assert floats(meta) == {}
    assert meta["n_scored"].value == 0 and meta["n_labeled"].value == 0  # counts are defined: 0 rows


def test_a_day_scored_but_not_yet_labeled_plots_its_true_zero_coverage_only() -> None:
    scores = np.array([0.1, 0.7, 0.9])
    metrics = performance_metrics(binary_aggregate_from_rows(scores, np.full(3, np.nan), scores > 0.5, N_BINS))
    meta = performance_metadata("binary_classification", day(metrics), {})
    assert floats(meta) == {"label_coverage": 0.0}  # a real 0: none of the 3 rows has a label


def test_a_labeled_day_plots_coverage_and_the_primary_metric() -> None:
    scores = np.array([0.1, 0.7, 0.9, 0.3])
    labels = np.array([0.0, 1.0, 1.0, np.nan])
    metrics = performance_metrics(binary_aggregate_from_rows(scores, labels, scores > 0.5, N_BINS))
    got = floats(performance_metadata("binary_classification", day(metrics), {}))
    assert got == {"label_coverage": 0.75, "roc_auc": 1.0, "rolling_roc_auc": 1.0}


def test_a_day_of_no_rows_plots_no_null_rate() -> None:
    meta = profile_metadata(empty_profile(LAYOUT))
    assert meta["row_count"].value == 0
    assert "max_null_rate" not in meta


def test_a_day_with_rows_plots_its_worst_null_rate() -> None:
    profile = profile_from_values(LAYOUT, {"x": [0.5, np.nan, 0.2, 0.1], "c": ["a", "a", None, None]})
    assert floats(profile_metadata(profile)) == {"max_null_rate": 0.5}


def result(challenger: dict[str, float], champion: dict[str, float] | None) -> RetrainingResult:
    first = dt.date(2024, 1, 1)
    return RetrainingResult(
        registry_name="m",
        version=2,
        created=True,
        mlflow_run_id="r",
        window=(first, first + dt.timedelta(days=29)),
        holdout_from=first + dt.timedelta(days=25),
        n_train=100,
        n_holdout=20,
        challenger=challenger,
        champion=champion,
        champion_version=None if champion is None else 1,
        primary_metric="roc_auc",
        promoted=False,
        decision="kept",
    )


def test_retraining_plots_no_undefined_holdout_metric() -> None:
    trigger = Trigger("e", "manual")
    meta = _retraining_metadata(result({"roc_auc": math.nan}, {"roc_auc": 0.8}), trigger, {})
    assert floats(meta) == {"champion_roc_auc": 0.8}
    meta = _retraining_metadata(result({"roc_auc": 0.7}, None), trigger, {})
    assert floats(meta) == {"challenger_roc_auc": 0.7}
