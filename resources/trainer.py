"""Training and scoring challengers: the default scikit-learn pipeline, or a user's trainer.

A user trainer is named in the spec as ``package.module:function``; it is called as
``function(frame, spec)`` with the labeled training rows (the spec's features plus the label in
column ``__label__``; multiclass: the class value as text) and must return a fitted
scikit-learn-compatible model: ``predict_proba`` for binary and multiclass classification (a
multiclass model's ``classes_`` among ``prediction.classes``, as text), ``predict`` for regression.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from monitoring_assets.core.performance import (
    binary_aggregate_from_rows,
    multiclass_aggregate_from_rows,
    performance_metrics,
    predicted_classes,
    regression_aggregate_from_rows,
)
from monitoring_assets.errors import MonitorError
from monitoring_assets.spec import MonitorSpec
from resources._rows import LABEL

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

Trainer = Callable[["pd.DataFrame", MonitorSpec], Any]


def default_model(task: str, categorical: Sequence[str]) -> Pipeline:
    """The default pipeline, unfitted: one-hot encoded ``categorical`` columns, the other columns
    as they are, and histogram gradient boosting (it handles missing values itself)."""
    # Imported here, not at the top: scikit-learn would slow every start of the code location.
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder  # noqa: PLC0415

    encode = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore"), list(categorical))], remainder="passthrough"
    )
    estimator = (
        HistGradientBoostingRegressor(random_state=0)
        if task == "regression"
        else HistGradientBoostingClassifier(random_state=0)  # binary or multiclass
    )
    return Pipeline([("encode", encode), ("model", estimator)])


def default_trainer(frame: pd.DataFrame, spec: MonitorSpec) -> Pipeline:
    """``default_model`` for the spec's task and features, fitted on ``frame``."""
    model = default_model(spec.prediction.task, spec.features.categorical)
    model.fit(frame[spec.feature_columns], frame[LABEL])
    return model


def load_trainer(path: str) -> Trainer:
    """``package.module:function`` -> the function (errors name the path)."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise MonitorError(f"retraining.trainer {path!r}: cannot import {module_name!r}: {e}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise MonitorError(f"retraining.trainer {path!r}: {module_name} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def train(frame: pd.DataFrame, spec: MonitorSpec) -> Any:
    trainer = load_trainer(spec.retraining.trainer) if spec.retraining.trainer else default_trainer
    return trainer(frame, spec)


def predict(model: Any, frame: pd.DataFrame, spec: MonitorSpec) -> np.ndarray:
    """The score the monitor watches: P(positive) for binary classification, else the prediction."""
    x = frame[spec.feature_columns]
    if spec.prediction.task == "binary_classification":
        return np.asarray(model.predict_proba(x))[:, 1]
    return np.asarray(model.predict(x), dtype=np.float64)


def class_probabilities(model: Any, frame: pd.DataFrame, spec: MonitorSpec) -> np.ndarray:
    """Multiclass: ``predict_proba`` as (rows, K) in ``prediction.classes`` order; a class the
    model never saw (absent from its training window) gets probability 0."""
    assert spec.prediction.classes is not None
    proba = np.asarray(model.predict_proba(frame[spec.feature_columns]), np.float64)
    column = {str(c): i for i, c in enumerate(np.asarray(model.classes_).ravel())}
    out = np.zeros((len(frame), len(spec.prediction.classes)))
    for i, name in enumerate(spec.prediction.classes):
        if name in column:
            out[:, i] = proba[:, column[name]]
    return out


def class_indices(values: Any, classes: Sequence[str]) -> np.ndarray:
    """Each value's index in ``classes`` compared as text (-1: not a class), as the SQL does."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(str(v), -1) for v in values], np.float64)


def evaluate(model: Any, frame: pd.DataFrame, spec: MonitorSpec) -> dict[str, float]:
    """Every task metric of ``model`` on ``frame``, computed exactly as monitoring computes them
    (binary: the decision is score >= prediction.threshold; multiclass: the most probable class,
    the first in ``classes`` on a tie)."""
    if spec.prediction.task == "multiclass_classification":
        classes = spec.prediction.classes
        assert classes is not None
        proba = class_probabilities(model, frame, spec)
        multiclass = multiclass_aggregate_from_rows(
            class_indices(frame[LABEL], classes),
            predicted_classes(proba),
            proba,
            len(classes),
            spec.performance.score_bins,
        )
        return performance_metrics(multiclass, classes)
    scores = predict(model, frame, spec)
    labels = frame[LABEL].to_numpy(dtype=np.float64)
    if spec.prediction.task == "binary_classification":
        decided = (scores >= spec.prediction.threshold).astype(np.float64)
        agg = binary_aggregate_from_rows(scores, labels, decided, spec.performance.score_bins)
        return performance_metrics(agg)
    return performance_metrics(regression_aggregate_from_rows(scores, labels))
