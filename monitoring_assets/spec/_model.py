"""The monitor spec: one YAML file per monitored model, validated by pydantic.

The spec names tables and columns, never SQL fragments: every name must be a plain identifier
(letters, digits, underscore; tables may be schema-qualified as ``schema.table``), and the
warehouse layer quotes them. Shaped so that it can later be the attributes of a Dagster Component.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from monitoring_assets.core.catalog import DEFAULT_METHODS, DISPARITIES, DRIFT_TRAITS, HIGHER_IS_BETTER, TASK_METRICS
from monitoring_assets.spec._cron import cron_problem

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _check_identifier(value: str) -> str:
    if value.startswith("__"):
        raise ValueError(f"{value!r} starts with '__', which this plugin reserves for its own columns")
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a plain identifier (letters, digits and _, not starting with a digit, "
            "at most 63 characters)"
        )
    return value


def _check_table(value: str) -> str:
    parts = value.split(".")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"{value!r} must be table, schema.table or database.schema.table")
    for part in parts:
        _check_identifier(part)
    return value


Identifier = Annotated[str, AfterValidator(_check_identifier)]
TableName = Annotated[str, AfterValidator(_check_table)]
MethodName = Literal["psi", "jensenshannon", "hellinger", "kl_divergence", "linf", "chisquare", "ks", "wasserstein"]
assert set(MethodName.__args__) == set(DRIFT_TRAITS)  # type: ignore[attr-defined]
PerformanceMetricName = Literal[
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
    "roc_auc_ovr_macro",
    "roc_auc_ovr_weighted",
    "mae",
    "rmse",
    "mape",
    "r2",
]
assert set(PerformanceMetricName.__args__) == set(HIGHER_IS_BETTER)  # type: ignore[attr-defined]
DisparityName = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "accuracy_difference",
]
assert set(DisparityName.__args__) == set(DISPARITIES)  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """The inference log: one row per prediction."""

    table: TableName
    timestamp_column: Identifier
    id_column: Identifier | None = None
    model_version_column: Identifier | None = None


class FeaturesSpec(_Strict):
    numeric: list[Identifier] = Field(default_factory=list)
    categorical: list[Identifier] = Field(default_factory=list)

    @field_validator("numeric", "categorical")
    @classmethod
    def _once(cls, columns: list[str]) -> list[str]:
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(map(repr, twice))}")
        return columns

    @model_validator(mode="after")
    def _some_features(self) -> Self:
        if not self.numeric and not self.categorical:
            raise ValueError("declare at least one numeric or categorical feature")
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(f"listed as both numeric and categorical: {', '.join(map(repr, sorted(both)))}")
        return self


# A class value: compared as text in SQL and part of per-class metric names (``recall.<class>``,
# also MLflow metric keys), hence the short, plain alphabet.
_CLASS_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def _class_value(value: object) -> str:
    """A class value as text: YAML gives ``[0, 1, 2]`` as integers, ``[a, b]`` as strings."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"class value {value!r} must be a string or an integer")
    text = str(value)
    if not _CLASS_VALUE.fullmatch(text):
        raise ValueError(f"class value {text!r}: use 1 to 40 letters, digits, '_', '.' or '-'")
    return text


class PredictionSpec(_Strict):
    """What the model predicts. Binary classification and regression: ``score_column`` (P(label 1),
    or the prediction), and for binary an optional predicted-label column ``label_column`` (else
    ``score >= threshold``).

    Multiclass classification: ``classes`` (the class values, in order) and
    ``score_columns: {class: column}`` (one probability column per class), or ``label_column``
    (the predicted class), or both. Without ``label_column`` the predicted class is the class
    of the largest probability, the first in ``classes`` order on a tie. Class values, labels and
    predicted classes are compared as text (``CAST(... AS VARCHAR)``): use text or integer columns.
    """

    task: Literal["binary_classification", "regression", "multiclass_classification"]
    score_column: Identifier | None = None
    label_column: Identifier | None = None
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    # Candidate models' scores logged beside the live one (README "Model versions side by side").
    shadow_score_columns: list[Identifier] = Field(default_factory=list)
    classes: list[str] | None = None
    score_columns: dict[str, Identifier] | None = None

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_text(cls, value: object) -> object:
        return [_class_value(v) for v in value] if isinstance(value, list) else value

    @field_validator("score_columns", mode="before")
    @classmethod
    def _keys_text(cls, value: object) -> object:
        return {_class_value(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _task_fields(self) -> Self:
        if self.task != "multiclass_classification":
            if self.score_column is None:
                raise ValueError(f"score_column: required for task {self.task}")
            if self.classes is not None or self.score_columns is not None:
                raise ValueError("classes and score_columns are for task multiclass_classification only")
            return self
        if self.score_column is not None:
            raise ValueError("score_column: a multiclass monitor names score_columns (one per class) instead")
        if not self.classes or len(self.classes) < 2:
            raise ValueError("classes: a multiclass monitor needs at least 2 class values")
        twice = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if twice:
            raise ValueError(f"classes: listed more than once: {', '.join(map(repr, twice))}")
        if self.score_columns is None and self.label_column is None:
            raise ValueError("give score_columns (one probability column per class), label_column, or both")
        if self.score_columns is not None:
            if set(self.score_columns) != set(self.classes):
                raise ValueError(
                    f"score_columns: needs exactly one column per class of classes {self.classes}, "
                    f"got {sorted(self.score_columns)}"
                )
            columns = list(self.score_columns.values())
            if len(set(columns)) != len(columns) or self.label_column in columns:
                raise ValueError("score_columns: each class needs its own column (and not label_column)")
        return self

    @property
    def class_score_columns(self) -> list[str]:
        """Multiclass: the probability columns in ``classes`` order (empty without them)."""
        if self.score_columns is None or self.classes is None:
            return []
        return [self.score_columns[c] for c in self.classes]

    @property
    def numeric_columns(self) -> list[str]:
        """The prediction's numeric columns: the score, or (multiclass) each class's probability."""
        return [self.score_column] if self.score_column is not None else self.class_score_columns

    @property
    def predicted_class_column(self) -> str | None:
        """Multiclass: the predicted-class column, profiled as a categorical column (None otherwise)."""
        return self.label_column if self.task == "multiclass_classification" else None

    @property
    def columns(self) -> list[str]:
        """Every column of the prediction: ``numeric_columns``, then the predicted-label column."""
        return [*self.numeric_columns, *([self.label_column] if self.label_column else [])]


class LabelsSpec(_Strict):
    """Ground truth: in the source table (no ``table``) or a separate table joined on id.

    ``duplicates``: which label counts when the labels table holds several rows for one id:
    ``latest`` (default) or ``earliest`` by ``arrived_at_column``; without that column, the
    largest label value (ties and NULL arrival times fall back to it too). Label rows with a
    NULL label are ignored. Scored rows repeating an id on one day count once (the latest by
    timestamp)."""

    table: TableName | None = None
    id_column: Identifier | None = None
    label_column: Identifier
    arrived_at_column: Identifier | None = None
    duplicates: Literal["latest", "earliest"] = "latest"


class WindowSpec(_Strict):
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before start {self.start}")
        return self


class ReferenceSpec(_Strict):
    """Either a separate table (e.g. the training data) or a window [start, end] of the source.

    ``timestamp_column`` lets the reference be cut into daily sub-windows for calibrated
    thresholds; it defaults to the source's timestamp column.
    """

    table: TableName | None = None
    window: WindowSpec | None = None
    timestamp_column: Identifier | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.table is None) == (self.window is None):
            raise ValueError("give exactly one of reference.table or reference.window")
        return self


class PartitionsSpec(_Strict):
    """Daily partitions. ``timezone`` (an IANA name) says when a day starts: the schedule runs in
    it, and time-zone-aware timestamps are cut into days at its midnight (naive timestamps are
    taken as already in it)."""

    start_date: dt.date
    end_date: dt.date | None = None
    schedule: str = "0 3 * * *"
    timezone: str = "UTC"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as 'UTC' or 'Europe/Paris'") from None
        return value

    @model_validator(mode="after")
    def _valid(self) -> Self:
        today = dt.datetime.now(ZoneInfo(self.timezone)).date()
        if self.start_date > today:
            raise ValueError(
                f"start_date: {self.start_date} is in the future (today is {today} in {self.timezone}); "
                "partitions start on a day that has begun"
            )
        if self.end_date is not None and self.end_date <= self.start_date:
            raise ValueError("end_date: must be after start_date")
        return self


class ConstantThresholdSpec(_Strict):
    type: Literal["constant"]
    value: float


class CalibratedThresholdSpec(_Strict):
    type: Literal["calibrated"]
    k: float = Field(default=3.0, gt=0)


ThresholdSpec = Annotated[ConstantThresholdSpec | CalibratedThresholdSpec, Field(discriminator="type")]


class FeatureDriftSpec(_Strict):
    method: MethodName | None = None
    threshold: float | ThresholdSpec | None = None


class MethodsSpec(_Strict):
    numeric: MethodName = DEFAULT_METHODS["numeric"]  # type: ignore[assignment]
    categorical: MethodName = DEFAULT_METHODS["categorical"]  # type: ignore[assignment]


class MultivariateDriftSpec(_Strict):
    """Multivariate drift (README "Multivariate drift"): PCA on the reference's standardized numeric
    features, keeping ``variance_share`` of their variance; a day drifts when its mean squared
    reconstruction error exceeds ``threshold`` (default: calibrated on the reference's days,
    mean + 3 std). ``columns``: the numeric features it covers (default: all, at least two)."""

    columns: list[Identifier] = Field(default_factory=list)
    variance_share: float = Field(default=0.65, gt=0.0, lt=1.0)
    threshold: float | ThresholdSpec = Field(default_factory=lambda: CalibratedThresholdSpec(type="calibrated"))


class DriftSpec(_Strict):
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)
    multivariate: MultivariateDriftSpec | None = None
    methods: MethodsSpec = Field(default_factory=MethodsSpec)
    thresholds: dict[MethodName, float | ThresholdSpec] = Field(default_factory=dict)
    features: dict[Identifier, FeatureDriftSpec] = Field(default_factory=dict)
    n_bins: int = Field(default=1000, ge=10, le=100_000)
    top_k: int = Field(default=50, ge=1, le=1000)


class GuardsSpec(_Strict):
    """Checks every monitor gets from its profiles alone (README "Guards"): ``volume`` and
    ``null_rate`` on daily_profile, and the minimum evidence behind every drift verdict."""

    min_rows: int = Field(default=100, ge=1)  # rows a day (and values a column) needs for drift
    min_volume_ratio: float = Field(default=0.1, ge=0.0, le=1.0)  # of the reference's daily rate; 0: off
    null_rate_margin: float = Field(default=0.1, ge=0.0, le=1.0)  # absolute rise over the reference's share


class ToleranceSpec(_Strict):
    """How far a metric may fall short of its reference before a check fails (WARN, then ERROR).

    Degradation is measured in the metric's bad direction (below for ROC AUC, above for MAE);
    ``relative`` makes the tolerances fractions of the reference value.
    """

    warn: float = Field(ge=0)
    error: float = Field(ge=0)
    relative: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.error < self.warn:
            raise ValueError(f"error tolerance {self.error} is smaller than warn tolerance {self.warn}")
        return self


class PerformanceSpec(_Strict):
    """Labeled performance. ``tolerances`` replaces the task's defaults (see ``default_tolerances``)."""

    min_labeled: int = Field(default=100, ge=1)
    rolling_days: int = Field(default=7, ge=1, le=366)
    score_bins: int = Field(default=10_000, ge=100, le=1_000_000)
    tolerances: dict[PerformanceMetricName, ToleranceSpec] | None = None
    label_lookback_days: int = Field(default=90, ge=1)
    # Check label_validity (ERROR) fails above this share of invalid labels (of labeled rows) or
    # invalid scores (of scored rows); retraining refuses a window above it.
    max_invalid_share: float = Field(default=0.001, ge=0.0, le=1.0)
    # Check no_duplicates (WARN) fails above this share of repeated ids or extra label rows.
    max_duplicate_share: float = Field(default=0.001, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _bins(self) -> Self:
        if self.score_bins % 10:
            raise ValueError("score_bins must be a multiple of 10 (calibration uses 10 bins of whole cells)")
        return self

    @property
    def rolling_window(self) -> str:
        """The name of the rolling window's rows in ``monitoring.performance_metrics``."""
        return f"rolling_{self.rolling_days}d"

    def effective_tolerances(self, task: str) -> dict[str, ToleranceSpec]:
        if self.tolerances is not None:
            return {str(k): v for k, v in self.tolerances.items()}
        return dict(DEFAULT_TOLERANCES[task])


class DisparityThresholdSpec(_Strict):
    """Disparity limits: a difference fails above them, a ratio below them."""

    warn: float = Field(ge=0)
    error: float = Field(ge=0)


class FairnessSpec(_Strict):
    """Fairness slices. A slice column listed in ``reference_groups`` compares every group with
    that named group; the others compare the extreme groups (largest minus smallest rate)."""

    min_slice_size: int = Field(default=30, ge=1)
    reference_groups: dict[Identifier, str] = Field(default_factory=dict)
    thresholds: dict[DisparityName, DisparityThresholdSpec] = Field(
        default_factory=lambda: dict(DEFAULT_DISPARITY_THRESHOLDS)  # type: ignore[arg-type]
    )

    @model_validator(mode="after")
    def _directions(self) -> Self:
        for name, limit in self.thresholds.items():
            if name.endswith("_ratio") and limit.error > limit.warn:
                raise ValueError(f"thresholds.{name}: a ratio fails below its limits, so error must be <= warn")
            if not name.endswith("_ratio") and limit.error < limit.warn:
                raise ValueError(f"thresholds.{name}: error must be >= warn")
        return self


# Documented in README ("Performance and fairness"). Daily values on a few thousand labeled rows
# move by about 0.02 in ROC AUC from sampling alone, hence the 0.025 / 0.05 steps.
DEFAULT_TOLERANCES: dict[str, dict[str, ToleranceSpec]] = {
    "binary_classification": {"roc_auc": ToleranceSpec(warn=0.025, error=0.05)},
    "regression": {"mae": ToleranceSpec(warn=0.1, error=0.25, relative=True)},
    "multiclass_classification": {"f1_macro": ToleranceSpec(warn=0.025, error=0.05)},
}
DEFAULT_DISPARITY_THRESHOLDS: dict[str, DisparityThresholdSpec] = {
    "demographic_parity_difference": DisparityThresholdSpec(warn=0.1, error=0.2),
    "equalized_odds_difference": DisparityThresholdSpec(warn=0.15, error=0.25),
}


class DriftDaysSpec(_Strict):
    """Fire when at least ``count`` of the last ``of`` monitored days show dataset drift."""

    count: int = Field(default=3, ge=1)
    of: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.count > self.of:
            raise ValueError(f"count {self.count} is larger than the window of {self.of} days")
        return self


class TriggerSpec(_Strict):
    dataset_drift_days: DriftDaysSpec | None = Field(default_factory=DriftDaysSpec)
    performance_error: bool = True  # any ERROR of performance_vs_reference in the same window
    # Any ERROR of estimated_performance_vs_reference (performance estimated without labels) in
    # the same window. Off by default: the estimate is blind to concept drift and rests on the
    # reference's calibration (README, "Performance estimated without labels").
    estimated_performance: bool = False


class PromotionSpec(_Strict):
    """``auto`` promotes a challenger that beats the champion by ``min_improvement`` in the
    task's primary metric, never one at or below chance (ROC AUC <= 0.5; MAE >= that of
    predicting the training mean), nor one worse than ``min_metric`` (ROC AUC below it, or MAE
    above it), with or without a champion."""

    policy: Literal["manual", "auto"] = "manual"
    min_improvement: float = Field(default=0.0, ge=0.0)  # in the task's primary metric
    min_metric: float | None = Field(default=None, ge=0.0)  # the worst primary metric auto-promoted


class RetrainingSpec(_Strict):
    """Drift- and performance-triggered retraining (needs ``labels`` and ``model``)."""

    enabled: bool = True
    trigger: TriggerSpec = Field(default_factory=TriggerSpec)
    min_days_between_retrains: int = Field(default=7, ge=0)
    training_window_days: int = Field(default=28, ge=2)
    holdout_days: int = Field(default=3, ge=1)
    trainer: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    # The challenger and the champion score the most recent rows scored after the labeled window
    # (at most this many; 0: not done), README "Retraining": "Challenger against live traffic".
    live_rows: int = Field(default=100_000, ge=0)

    @model_validator(mode="after")
    def _holdout(self) -> Self:
        if self.holdout_days >= self.training_window_days:
            raise ValueError("holdout_days must be smaller than training_window_days")
        return self


class ModelSpec(_Strict):
    registry_name: str = Field(min_length=1, max_length=256)


AlertTier = Literal["info", "warning", "critical"]


class AlertDestinationSpec(_Strict):
    """One webhook of a monitor. Its URL is a secret, so the spec never holds it: ``url_env``
    names the environment variable to read it from (default: the alerts resource's URL, from
    ``$MONITORING_ALERT_WEBHOOK_URL`` or ``$MONITORING_SLACK_WEBHOOK_URL``)."""

    enabled: bool = True
    url_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    min_tier: AlertTier | None = None  # default: the alerts resource's (webhook info, Slack warning)


class AlertsSpec(_Strict):
    """Alerting of one monitor; every key overrides the alerts resource's setting for this monitor."""

    enabled: bool = True
    dedup_window_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    give_up_after_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    webhook: AlertDestinationSpec = Field(default_factory=AlertDestinationSpec)
    slack: AlertDestinationSpec = Field(default_factory=AlertDestinationSpec)


SloMetricName = Literal["latency_p50", "latency_p95", "latency_p99", "error_rate"]


class SloLimitSpec(_Strict):
    """Upper limits of one operational metric: above ``warn`` the day WARNs, above ``error`` it ERRORs."""

    warn: float | None = Field(default=None, ge=0)
    error: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.warn is None and self.error is None:
            raise ValueError("give warn, error or both")
        if self.warn is not None and self.error is not None and self.warn > self.error:
            raise ValueError(f"warn ({self.warn}) must not exceed error ({self.error})")
        return self


class OperationsSpec(_Strict):
    """Operational health from the inference log (README "Operations"): request count, latency
    quantiles from ``latency_column`` (a log-scale histogram with ``relative_accuracy``) and the
    error rate, the share of rows with a ``status_column`` value in ``error_values`` (compared as
    text, bound as values) among rows with a status. ``slo`` sets the checked upper limits; a day
    with fewer than ``min_requests`` rows is not evaluated."""

    latency_column: Identifier | None = None
    status_column: Identifier | None = None
    error_values: list[str] = Field(default_factory=list)
    relative_accuracy: float = Field(default=0.01, gt=0.0, le=0.1)
    min_requests: int = Field(default=100, ge=1)
    slo: dict[SloMetricName, SloLimitSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _columns(self) -> Self:
        if self.latency_column is None and self.status_column is None:
            raise ValueError("give latency_column, status_column or both")
        if self.status_column is not None and not self.error_values:
            raise ValueError("status_column needs error_values (the status values that count as errors)")
        if self.error_values and self.status_column is None:
            raise ValueError("error_values need a status_column")
        for metric in self.slo:
            if metric.startswith("latency") and self.latency_column is None:
                raise ValueError(f"slo.{metric} needs a latency_column")
            if metric == "error_rate" and self.status_column is None:
                raise ValueError("slo.error_rate needs a status_column")
        return self


FilterValue = str | int | float | bool


class BandSpec(_Strict):
    """Fixed limits of a business metric: below ``lower`` or above ``upper`` fails the day."""

    type: Literal["constant"]
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if self.lower is None and self.upper is None:
            raise ValueError("give lower, upper or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) must not exceed upper ({self.upper})")
        return self


class CalibratedBandSpec(_Strict):
    """Limits ``mean -/+ k std`` (ddof 1) of the metric over the reference's days."""

    type: Literal["calibrated"]
    k: float = Field(default=3.0, gt=0)


class BusinessMetricSpec(_Strict):
    """One business KPI per day (README "Business metrics"): the ``mean`` or ``sum`` of ``column``'s
    finite values, or the ``rate`` of ``value`` among its non-NULL values (compared as text), over
    the rows matching every ``where`` equality (values bound, never SQL)."""

    name: Identifier
    column: Identifier
    aggregate: Literal["mean", "sum", "rate"]
    value: FilterValue | None = None
    where: dict[Identifier, FilterValue] = Field(default_factory=dict)
    threshold: Annotated[BandSpec | CalibratedBandSpec, Field(discriminator="type")] = Field(
        default_factory=lambda: CalibratedBandSpec(type="calibrated")
    )
    severity: Literal["warn", "error"] = "warn"

    @model_validator(mode="after")
    def _value(self) -> Self:
        if (self.aggregate == "rate") != (self.value is not None):
            raise ValueError("value is needed by aggregate 'rate' and only by it")
        return self


class ReportSpec(_Strict):
    """The daily ``monitoring_report`` asset (README "The report"): an HTML file per run. Off, the
    monitor has no such asset; ``make report`` and the retraining's report in MLflow still work."""

    enabled: bool = True


class VersionsSpec(_Strict):
    """Model versions side by side (README "Model versions side by side"): on a day with two or more
    ``source.model_version_column`` values, the newest against the incumbent, and each of
    ``prediction.shadow_score_columns`` against the live score. The newer fails (at ``severity``)
    when its primary metric is worse by more than ``tolerance``; ``min_rows`` rows and
    ``min_labeled`` labeled rows per side are needed to judge."""

    tolerance: float = Field(default=0.02, ge=0.0)
    min_rows: int = Field(default=100, ge=1)
    min_labeled: int = Field(default=100, ge=1)
    severity: Literal["warn", "error"] = "warn"


# Calibration sets a threshold at mean + k std of the method's value on reference sub-windows: a
# distance, not a p-value (which is uniform on same-distribution windows and shrinks with rows).
_NOT_CALIBRATED = "method {method} gives a p-value, which cannot be calibrated; give a constant threshold such as 0.05"


# (path, default) of the spec fields added since the first release (see ``MonitorSpec.spec_hash``).
_ADDED_FIELDS: dict[tuple[str, ...], object] = {
    ("prediction", "classes"): None,
    ("prediction", "score_columns"): None,
    ("prediction", "shadow_score_columns"): [],
    ("drift", "multivariate"): None,
    ("retraining", "live_rows"): 100_000,
    ("operations",): None,
    ("business_metrics",): [],
    ("versions",): None,
    ("report",): {"enabled": True},
}


class MonitorSpec(_Strict):
    """One monitored model."""

    # The file the spec was loaded from (set by ``load_spec``), for errors found later, such as a
    # column missing from a table. Private: not part of the spec, so not in ``spec_hash``.
    _origin: str | None = PrivateAttr(default=None)

    name: Identifier
    description: str = ""
    source: SourceSpec
    features: FeaturesSpec
    prediction: PredictionSpec
    labels: LabelsSpec | None = None
    slices: list[Identifier] = Field(default_factory=list)
    reference: ReferenceSpec
    partitions: PartitionsSpec
    drift: DriftSpec = Field(default_factory=DriftSpec)
    guards: GuardsSpec = Field(default_factory=GuardsSpec)
    model: ModelSpec | None = None
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    fairness: FairnessSpec = Field(default_factory=FairnessSpec)
    retraining: RetrainingSpec = Field(default_factory=RetrainingSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    operations: OperationsSpec | None = None
    business_metrics: list[BusinessMetricSpec] = Field(default_factory=list)
    versions: VersionsSpec | None = None
    report: ReportSpec = Field(default_factory=ReportSpec)

    @property
    def retrains(self) -> bool:
        """Retraining is wired when it is enabled and the spec names labels and a registry model."""
        return self.retraining.enabled and self.labels is not None and self.model is not None

    @property
    def origin(self) -> str:
        """Where the spec came from, to start error messages: its file, else ``monitor '<name>'``."""
        return self._origin or f"monitor {self.name!r}"

    def with_origin(self, origin: str) -> Self:
        """Remember the spec's file (see ``origin``); returns the spec itself."""
        self._origin = origin
        return self

    @model_validator(mode="after")
    def _labels_and_slices(self) -> Self:
        numeric, prediction = set(self.features.numeric), set(self.prediction.numeric_columns)
        if self.slices and self.prediction.task == "regression":
            raise ValueError(
                "slices: fairness slices need a classification task; a regression "
                "monitor would ignore them (remove slices)"
            )
        for column in self.slices:
            if column in numeric or column in prediction:
                raise ValueError(f"slices: {column!r} is numeric; slice on a categorical column (e.g. a band)")
        for column in self.fairness.reference_groups:
            if column not in self.slices:
                raise ValueError(f"fairness.reference_groups.{column}: not a slice column")
        if (
            self.labels is not None
            and self.labels.table is not None
            and not (self.source.id_column and self.labels.id_column)
        ):
            raise ValueError("labels in a separate table need source.id_column and labels.id_column to join on")
        task_metrics = TASK_METRICS[self.prediction.task]
        for metric in self.performance.effective_tolerances(self.prediction.task):
            if metric not in task_metrics:
                raise ValueError(f"performance.tolerances.{metric}: not a {self.prediction.task} metric")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        numeric, categorical = set(self.features.numeric), set(self.features.categorical)
        for column in self.prediction.columns:
            if column in numeric | categorical:
                raise ValueError(f"prediction column {column!r} is also listed as a feature")
        for feature, override in self.drift.features.items():
            if feature not in numeric | categorical:
                raise ValueError(f"drift.features.{feature}: not a declared feature")
            kind = "numeric" if feature in numeric else "categorical"
            if override.method and kind not in DRIFT_TRAITS[override.method].column_kinds:
                raise ValueError(
                    f"drift.features.{feature}: method {override.method!r} does not apply to {kind} columns"
                )
        for kind in ("numeric", "categorical"):
            method = getattr(self.drift.methods, kind)
            if kind not in DRIFT_TRAITS[method].column_kinds:
                raise ValueError(f"drift.methods.{kind}: {method!r} does not apply to {kind} columns")
        for method, threshold in self.drift.thresholds.items():
            if isinstance(threshold, CalibratedThresholdSpec) and DRIFT_TRAITS[method].drift_when == "below":
                raise ValueError(f"drift.thresholds.{method}: {_NOT_CALIBRATED.format(method=method)}")
        for feature, override in self.drift.features.items():
            kind = "numeric" if feature in numeric else "categorical"
            method = override.method or getattr(self.drift.methods, kind)
            if isinstance(override.threshold, CalibratedThresholdSpec) and DRIFT_TRAITS[method].drift_when == "below":
                via = "" if override.method else f" (drift.methods.{kind})"
                raise ValueError(f"drift.features.{feature}.threshold: {_NOT_CALIBRATED.format(method=method + via)}")
        return self

    @model_validator(mode="after")
    def _multivariate(self) -> Self:
        mv, numeric = self.drift.multivariate, self.features.numeric
        if mv is not None:
            for column in mv.columns:
                if column not in numeric:
                    raise ValueError(f"drift.multivariate.columns: {column!r} is not a numeric feature")
            if len(set(mv.columns or numeric)) < 2:
                raise ValueError("drift.multivariate: needs at least two numeric features")
        return self

    @model_validator(mode="after")
    def _versions(self) -> Self:
        shadows = self.prediction.shadow_score_columns
        taken = {*self.feature_columns, self.prediction.score_column, self.prediction.label_column}
        for column in shadows:
            if column in taken:
                raise ValueError(f"prediction.shadow_score_columns: {column!r} is already a feature or the score")
        if self.versions is not None and not (self.source.model_version_column or shadows):
            raise ValueError("versions: needs source.model_version_column or prediction.shadow_score_columns")
        if (self.versions is not None or shadows) and self.prediction.score_column is None:
            raise ValueError(
                "versions, prediction.shadow_score_columns: not for multiclass models yet (no score_column)"
            )
        return self

    @model_validator(mode="after")
    def _business_names(self) -> Self:
        names = [m.name for m in self.business_metrics]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"business_metrics: names repeated: {', '.join(repeated)}")
        return self

    def spec_hash(self) -> str:
        """Short, stable hash of the validated spec; stored on every metric row."""
        data = self.model_dump(mode="json")
        # Fields added since the first release are left out while at their defaults: a spec that
        # uses none of them keeps the hash it had before they existed.
        for (*path, key), default in _ADDED_FIELDS.items():
            parent = data
            for part in path:
                parent = parent[part]
            if parent.get(key) == default:
                del parent[key]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def feature_columns(self) -> list[str]:
        """The model's inputs: the numeric features, then the categorical ones (what a trainer
        fits on and a served model takes)."""
        return [*self.features.numeric, *self.features.categorical]

    @property
    def numeric_columns(self) -> list[str]:
        """Numeric columns profiled: the numeric features, then the prediction score (multiclass:
        each class's probability, in ``classes`` order)."""
        return [*self.features.numeric, *self.prediction.numeric_columns]

    @property
    def categorical_columns(self) -> list[str]:
        """Categorical columns drift is computed on: the features, then (multiclass) the
        predicted-class column."""
        predicted = self.prediction.predicted_class_column
        return [*self.features.categorical, *([predicted] if predicted else [])]

    @property
    def prediction_drift_columns(self) -> list[str]:
        """The columns of the ``prediction_drift`` asset: the score, or (multiclass) the class
        probabilities and the predicted class."""
        predicted = self.prediction.predicted_class_column
        return [*self.prediction.numeric_columns, *([predicted] if predicted else [])]

    @property
    def profiled_categorical_columns(self) -> list[str]:
        """Categorical features, then slice columns that are not features (their top K are fixed
        by the reference like any category)."""
        return [*self.categorical_columns, *(s for s in self.slices if s not in self.categorical_columns)]

    @property
    def profiled_columns(self) -> list[str]:
        """Every profiled column: ``numeric_columns``, then ``profiled_categorical_columns``."""
        return [*self.numeric_columns, *self.profiled_categorical_columns]
