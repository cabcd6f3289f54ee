"""The names and properties of the core's statistics, without their machinery (no numpy).

The spec validates against these tables while definitions are built, which must not import numpy
(``tests/test_definitions.py``). :mod:`monitoring_assets.core.drift`, ``fairness`` and
``performance`` take their tables from here and add the functions that compute them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class DriftTraits:
    """What is known of a drift method before computing it (see
    :class:`monitoring_assets.core.drift.DriftMethod`, which adds ``compute``)."""

    name: str
    column_kinds: frozenset[ColumnKind]
    default_threshold: float
    drift_when: Literal["above", "below"]
    symmetric: bool
    value_range: tuple[float, float]
    summary: str
    divides_by_reference_std: bool = False


_NUM: frozenset[ColumnKind] = frozenset({"numeric"})
_BOTH: frozenset[ColumnKind] = frozenset({"numeric", "categorical"})
_CAT: frozenset[ColumnKind] = frozenset({"categorical"})

DRIFT_TRAITS: Mapping[str, DriftTraits] = {
    t.name: t
    for t in (
        DriftTraits("psi", _BOTH, 0.2, "above", True, (0.0, math.inf), "population stability index"),
        DriftTraits("jensenshannon", _BOTH, 0.1, "above", True, (0.0, 1.0), "Jensen-Shannon distance, base 2"),
        DriftTraits("hellinger", _BOTH, 0.1, "above", True, (0.0, 1.0), "Hellinger distance"),
        DriftTraits(
            "kl_divergence", _BOTH, 0.1, "above", False, (0.0, math.inf), "KL(reference || current), natural log"
        ),
        DriftTraits("linf", _BOTH, 0.1, "above", True, (0.0, 1.0), "largest cell-proportion gap"),
        DriftTraits("chisquare", _CAT, 0.05, "below", True, (0.0, 1.0), "chi-square test p-value"),
        DriftTraits("ks", _NUM, 0.1, "above", True, (0.0, 1.0), "Kolmogorov-Smirnov statistic"),
        DriftTraits(
            "wasserstein",
            _NUM,
            0.1,
            "above",
            False,
            (0.0, math.inf),
            "Wasserstein-1 distance / reference std",
            divides_by_reference_std=True,
        ),
    )
}

DEFAULT_METHODS: Mapping[ColumnKind, str] = {"numeric": "wasserstein", "categorical": "jensenshannon"}

# Fairness: disparity name -> (group metric, difference or ratio).
DISPARITIES = {
    "demographic_parity_difference": ("selection_rate", "difference"),
    "demographic_parity_ratio": ("selection_rate", "ratio"),
    "equal_opportunity_difference": ("true_positive_rate", "difference"),
    "equalized_odds_difference": ("true_positive_rate+false_positive_rate", "difference"),
    "accuracy_difference": ("accuracy", "difference"),
}

# Performance: metrics a tolerance can apply to, and whether larger is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "false_positive_rate": False,
    "false_negative_rate": False,
    "roc_auc": True,
    "average_precision": True,
    "log_loss": False,
    "brier_score": False,
    "expected_calibration_error": False,
    # Multiclass (averages of per-class values; see monitoring_assets.core.performance).
    "balanced_accuracy": True,
    "precision_macro": True,
    "recall_macro": True,
    "f1_macro": True,
    "precision_micro": True,
    "recall_micro": True,
    "f1_micro": True,
    "precision_weighted": True,
    "recall_weighted": True,
    "f1_weighted": True,
    "roc_auc_ovr_macro": True,
    "roc_auc_ovr_weighted": True,
    "mae": False,
    "rmse": False,
    "mape": False,
    "r2": True,
}
BINARY_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "false_positive_rate",
    "false_negative_rate",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier_score",
    "expected_calibration_error",
    "positive_prediction_rate",
    "prevalence",
)
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2", "mean_error")
# Multiclass: per-class values (``recall.<class>``, ``precision.<class>``) come on top of these.
MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_micro",
    "recall_micro",
    "f1_micro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "log_loss",
    "roc_auc_ovr_macro",
    "roc_auc_ovr_weighted",
)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": BINARY_METRICS,
    "regression": REGRESSION_METRICS,
    "multiclass_classification": MULTICLASS_METRICS,
}
# Multiclass: macro F1, not accuracy (which a collapsing minority class barely moves) nor ROC AUC
# (which needs probability columns, and a monitor may have only the predicted class).
PRIMARY_METRIC = {"binary_classification": "roc_auc", "regression": "mae", "multiclass_classification": "f1_macro"}
# What makes a label row / a scored row invalid, by task (the label_validity check's wording).
EXPECTED_LABELS = {
    "binary_classification": "a label outside {0, 1}",
    "regression": "a non-finite target",
    "multiclass_classification": "a label that is not one of prediction.classes",
}
EXPECTED_SCORES = {
    "binary_classification": "a score outside [0, 1] or not finite",
    "regression": "a non-finite prediction",
    "multiclass_classification": "class probabilities outside [0, 1], not finite, or not summing to 1 (+-0.01)",
}
