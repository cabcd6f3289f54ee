"""Retraining without Dagster: train a challenger on the recent labeled window, register it,
compare it with the champion on held-out days, and apply the promotion policy.

The window ends on the latest scoring day with labels; its last ``holdout_days`` are held out.
Days whose data-quality suite failed critically (a broken export) are left out of both.
Both models are scored on exactly those held-out rows, with the monitoring metrics
(``core.performance``), so the comparison means the same as the dashboards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from expectations import blocked_days
from monitoring_assets.core.drift import get_method
from monitoring_assets.core.performance import (
    EXPECTED_LABELS,
    HIGHER_IS_BETTER,
    PRIMARY_METRIC,
    TASK_METRICS,
    multiclass_aggregate_from_rows,
    multiclass_metrics,
)
from monitoring_assets.core.profile import NumericBins, ProfileLayout, profile_from_values
from monitoring_assets.errors import MonitorError, RegistryError
from monitoring_assets.spec import MonitorSpec
from resources import tags, trainer
from resources._registry_types import CHALLENGER, CHAMPION, RegisteredVersion
from resources._rows import DAY_COLUMN, LABEL
from resources.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from resources.registry import ModelRegistry  # MLflow: its instances come from RegistryResource.open


@dataclass(frozen=True)
class Trigger:
    """Why a retraining runs: the sensor's event, or a person launching the job."""

    event_id: str
    reason: str
    days: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        return {
            tags.EVENT_ID: self.event_id,
            tags.REASON: self.reason,
            tags.TRIGGER_DAYS: ",".join(self.days),
        }


@dataclass(frozen=True)
class RetrainingResult:
    registry_name: str
    version: int
    created: bool  # False when a retried run found the event's version already registered
    mlflow_run_id: str
    window: tuple[dt.date, dt.date]
    holdout_from: dt.date
    n_train: int
    n_holdout: int
    challenger: dict[str, float]
    champion: dict[str, float] | None
    champion_version: int | None
    primary_metric: str
    promoted: bool
    decision: str
    excluded_days: tuple[dt.date, ...] = ()  # critical data quality: neither trained nor scored on
    report: str = ""  # the monitoring report's artifact path in the MLflow run, or "failed: <class>"
    report_error: str = ""  # why the report is missing (a warning: retraining goes on without it)
    live: Mapping[str, Any] = field(default_factory=dict)  # challenger vs champion on live traffic (aggregates)


REPORT_DAYS = 30  # the report logged with a retraining: these many days through the trigger's last
REPORT_ARTIFACT_DIR = "monitoring_report"


# Tags of a retraining run: the retraining sensor sets them, the challenger_model asset reads them.
EVENT_TAG = tags.RUN_EVENT_ID
REASON_TAG = tags.RUN_REASON
DAYS_TAG = tags.RUN_TRIGGER_DAYS
ATTEMPT_TAG = tags.RUN_ATTEMPT
REFUSED_TAG = tags.RUN_REFUSED

FAILED_EVENT = "retraining_failed"  # event_type of a failed retraining in monitoring.events
ERROR_LIMIT = 500  # characters of an error message kept in the event


def synthetic_example(rows: pd.DataFrame, spec: MonitorSpec) -> pd.DataFrame:
    """One made-up row for the model's MLflow input example (the signature is inferred from it),
    so that no training row is logged to MLflow.

    Per numeric feature: the mean of the training rows' finite values (NaN when there are none).
    Per categorical feature: its most frequent value in the training rows (ties: the first in
    sort order; None when every value is missing): an aggregate of many rows, and a value the
    model's own fitted encoder stores anyway (README, "What leaves the warehouse").
    """
    import pandas as pd  # noqa: PLC0415 - pandas would slow every start of the code location

    example: dict[str, pd.Series] = {}
    for name in spec.features.numeric:
        values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        finite = values[np.isfinite(values)]
        example[name] = pd.Series([float(finite.mean()) if finite.size else float("nan")], dtype="float64")
    for name in spec.features.categorical:
        counts = rows[name].dropna().value_counts()
        top = min(counts[counts == counts.max()].index, key=str) if len(counts) else None
        example[name] = pd.Series([top], dtype=rows[name].dtype)  # the type the model was fitted on
    return pd.DataFrame(example, columns=spec.feature_columns)


def record_failure(wh: Warehouse, spec: MonitorSpec, trigger: Trigger, error: BaseException, run_id: str) -> None:
    """A ``retraining_failed`` row in ``monitoring.events`` (the alerts sensor sends it at
    ``warning``): the trigger, the attempt and the error's class. The message is kept only for
    our own errors (``MonitorError``: they name the masked store and quote no data); another
    exception's text may quote a value, so only its class is kept."""
    message = str(error)[:ERROR_LIMIT] if isinstance(error, MonitorError) else ""
    wh.events.append(
        spec,
        FAILED_EVENT,
        {
            "event_id": trigger.event_id,
            "reason": trigger.reason,
            "trigger_days": list(trigger.days),
            "attempt": trigger.details.get("attempt"),
            "error_class": type(error).__name__,
            "error": message,
            "registry": isinstance(error, RegistryError),
        },
        partition_date=dt.date.fromisoformat(trigger.days[-1]) if trigger.days else None,
        model_name=spec.model.registry_name if spec.model else None,
        run_id=run_id,
    )


def _better_by(spec: MonitorSpec, challenger: float, champion: float) -> float:
    metric = PRIMARY_METRIC[spec.prediction.task]
    return challenger - champion if HIGHER_IS_BETTER[metric] else champion - challenger


def chance_level(spec: MonitorSpec, train_labels: Any, holdout_labels: Any) -> float:
    """The primary metric of a model that knows nothing: ROC AUC 0.5 (binary), the holdout macro
    F1 of predicting the training rows' most frequent class (multiclass), or the holdout MAE of
    predicting the training rows' mean target (regression)."""
    if spec.prediction.task == "binary_classification":
        return 0.5
    if spec.prediction.task == "multiclass_classification":
        return _majority_f1(spec, train_labels, holdout_labels)
    y = np.asarray(holdout_labels, dtype=np.float64)
    return float(np.mean(np.abs(y - float(np.mean(np.asarray(train_labels, dtype=np.float64))))))


def _majority_f1(spec: MonitorSpec, train_labels: Any, holdout_labels: Any) -> float:
    """Macro F1 on the holdout of always predicting the training rows' most frequent class."""
    classes = spec.prediction.classes
    assert classes is not None
    train = trainer.class_indices(train_labels, classes)
    majority = np.bincount(train[train >= 0].astype(np.int64), minlength=len(classes)).argmax()
    y = trainer.class_indices(holdout_labels, classes)
    agg = multiclass_aggregate_from_rows(y, np.full(len(y), float(majority)), None, len(classes), 0)
    return multiclass_metrics(agg, classes)["f1_macro"]


def _guards(spec: MonitorSpec, value: float, chance: float) -> list[str]:
    """Why the challenger's primary metric ``value`` rules out auto-promotion (empty: it does not)."""
    metric = PRIMARY_METRIC[spec.prediction.task]
    higher = HIGHER_IS_BETTER[metric]
    floor = spec.retraining.promotion.min_metric
    if math.isnan(value):
        return [f"challenger {metric} cannot be computed on the held-out rows"]
    reasons = []
    if (value <= chance) if higher else (value >= chance):
        baseline = (
            f"{chance:.4f}, predicting the training mean"
            if not higher
            else f"{chance:.4f}, predicting the most frequent class"
            if spec.prediction.task == "multiclass_classification"
            else "0.5"
        )
        reasons.append(f"challenger {metric} {value:.4f} is at or below chance ({baseline})")
    if floor is not None and ((value < floor) if higher else (value > floor)):
        reasons.append(f"challenger {metric} {value:.4f} is worse than promotion.min_metric {floor}")
    return reasons


def _decide(
    spec: MonitorSpec, challenger: dict[str, float], champion: dict[str, float] | None, chance: float = 0.5
) -> tuple[bool, str]:
    policy = spec.retraining.promotion
    metric = PRIMARY_METRIC[spec.prediction.task]
    if champion is None:
        gain, text = math.inf, f"no champion yet; challenger {metric} {challenger[metric]:.4f}"
    else:
        gain = _better_by(spec, challenger[metric], champion[metric])
        text = f"challenger {metric} {challenger[metric]:.4f} vs champion {champion[metric]:.4f} ({gain:+.4f})"
    guards = _guards(spec, challenger[metric], chance)
    if policy.policy == "manual":
        warning = f" ({'; '.join(guards)})" if guards else ""
        return False, f"{text}; promotion policy manual: nothing moved{warning}"
    if guards:
        return False, f"{text}; not promoted: {'; '.join(guards)}"
    if gain >= policy.min_improvement:
        return True, f"{text}; auto-promoted (min_improvement {policy.min_improvement})"
    return False, f"{text}; not promoted: improvement below {policy.min_improvement}"


class RetrainingRefusedError(MonitorError):
    """Retraining stopped before registering anything: the data or the trained model is not what
    the spec claims. A ``retraining_refused`` event records why."""


def _refuse(
    wh: Warehouse,
    spec: MonitorSpec,
    *,
    trigger: Trigger,
    run_id: str,
    last: dt.date,
    why: str,
    details: dict[str, Any],
) -> RetrainingRefusedError:
    """Record a ``retraining_refused`` event (aggregates only) and return the error to raise."""
    assert spec.model is not None
    wh.events.append(
        spec,
        "retraining_refused",
        {"event_id": trigger.event_id, "reason": trigger.reason, "refused": why, **details},
        partition_date=last,
        model_name=spec.model.registry_name,
        run_id=run_id,
    )
    return RetrainingRefusedError(f"monitor {spec.name!r}: retraining refused, nothing registered: {why}")


def _check_labels(
    wh: Warehouse,
    spec: MonitorSpec,
    trigger: Trigger,
    run_id: str,
    *,
    window: tuple[dt.date, dt.date],
    excluded: tuple[dt.date, ...],
) -> None:
    """Refuse when the window's days (blocked days left out) have a larger share of labeled rows
    with an invalid label than ``performance.max_invalid_share``."""
    first, last = window
    counts = [c for d, c in wh.labels.label_counts(spec, first, last).items() if d not in excluded]
    labeled, invalid = sum(n for n, _ in counts), sum(bad for _, bad in counts)
    share = invalid / labeled if labeled else 0.0
    limit = spec.performance.max_invalid_share
    if share <= limit:
        return
    why = (
        f"{invalid:,} of {labeled:,} labeled rows of {first}..{last} have {EXPECTED_LABELS[spec.prediction.task]} "
        f"({share:.2%}, limit performance.max_invalid_share {limit:.2%})"
    )
    details = {
        "n_labeled": labeled,
        "n_invalid_labels": invalid,
        "invalid_share": share,
        "limit": limit,
        "window": [first.isoformat(), last.isoformat()],
    }
    raise _refuse(wh, spec, trigger=trigger, run_id=run_id, last=last, why=why, details=details)


def _check_task(
    wh: Warehouse, spec: MonitorSpec, trigger: Trigger, run_id: str, *, window: tuple[dt.date, dt.date], model: Any
) -> None:
    """Refuse a trained model that is not a model of the spec's task (see ``task_problem``)."""
    problem = task_problem(model, spec)
    if problem is None:
        return
    why = f"{problem} (trainer: {spec.retraining.trainer or 'default'})"
    details = {"window": [d.isoformat() for d in window]}
    raise _refuse(wh, spec, trigger=trigger, run_id=run_id, last=window[1], why=why, details=details)


def task_problem(model: Any, spec: MonitorSpec) -> str | None:
    """Why a fitted ``model`` is not a model of the spec's task (None: it is). Binary
    classification needs ``classes_`` of exactly 0 and 1, so that ``predict_proba[:, 1]`` is
    P(label 1); multiclass needs ``predict_proba`` and ``classes_`` among ``prediction.classes``
    (as text); regression needs a model that is not a classifier."""
    classes = getattr(model, "classes_", None)
    if spec.prediction.task == "multiclass_classification":
        if classes is None or not hasattr(model, "predict_proba"):
            return "the trained model has no classes_ or predict_proba: a multiclass classifier needs both"
        unknown = sorted({str(v) for v in np.asarray(classes).ravel()} - set(spec.prediction.classes or ()))
        return f"the trained model has classes outside prediction.classes: {unknown}" if unknown else None
    if spec.prediction.task != "binary_classification":
        return None if classes is None else "the trained model is a classifier (it has classes_), not a regressor"
    if classes is None or not hasattr(model, "predict_proba"):
        return "the trained model has no classes_ or predict_proba: a binary classifier needs both"
    values = np.asarray(classes).ravel()
    if len(values) != 2:
        return f"the trained model has {len(values)} classes; a binary_classification model needs exactly 2 (0 and 1)"
    try:
        ok = [float(v) for v in values] == [0.0, 1.0]
    except (TypeError, ValueError):
        ok = False
    return None if ok else "the trained model's two classes are not 0 and 1"


def report_window(trigger: Trigger, last_labeled: dt.date) -> tuple[dt.date, dt.date]:
    """The days of the report a retraining logs: ``REPORT_DAYS`` through the trigger's last day
    (the last labeled day for a manual run), widened to the trigger's first day."""
    end = dt.date.fromisoformat(trigger.days[-1]) if trigger.days else last_labeled
    start = end - dt.timedelta(days=REPORT_DAYS - 1)
    if trigger.days:
        start = min(start, dt.date.fromisoformat(trigger.days[0]))
    return start, end


def _log_report(
    wh: Warehouse, registry: ModelRegistry, spec: MonitorSpec, run_id: str, window: tuple[dt.date, dt.date]
) -> tuple[str, str]:
    """Write the monitoring report of ``window`` and log it to the MLflow run, as the evidence
    behind the trigger. Returns (artifact path, "") or ("failed: <class>", why): a report that
    cannot be made never stops the retraining. Only our own errors' text is kept (it names no
    data); another exception's may quote a value."""
    # Imported here: the report draws with matplotlib, which a retraining without it never loads.
    from monitoring_assets import report  # noqa: PLC0415

    try:
        with tempfile.TemporaryDirectory(prefix="monitoring-report-") as tmp:
            path = report.write_report(wh, spec, window[0], window[1], Path(tmp))
            return registry.log_artifact(run_id, path, REPORT_ARTIFACT_DIR), ""
    except Exception as error:
        why = str(error)[:ERROR_LIMIT] if isinstance(error, (MonitorError, ValueError)) else ""
        return f"failed: {type(error).__name__}", f"{type(error).__name__}{': ' + why if why else ''}"


@dataclass(frozen=True)
class _Split:
    """The labeled window of a retraining, cut into training and held-out rows."""

    first: dt.date
    last: dt.date
    holdout_from: dt.date
    excluded: tuple[dt.date, ...]
    train_rows: pd.DataFrame
    holdout: pd.DataFrame


def _split(wh: Warehouse, spec: MonitorSpec, trigger: Trigger, dagster_run_id: str) -> _Split:
    """The window's valid labeled rows, blocked days left out; refuses a broken labels feed."""
    r = spec.retraining
    last = wh.labels.last_labeled_day(spec)
    if last is None:
        raise MonitorError(f"monitor {spec.name!r}: no labeled rows in the warehouse to retrain on")
    first = last - dt.timedelta(days=r.training_window_days - 1)
    holdout_from = last - dt.timedelta(days=r.holdout_days - 1)
    frame = wh.rows.training_frame(spec, first, last)
    excluded = tuple(blocked_days(wh, spec, [first + dt.timedelta(days=i) for i in range(r.training_window_days)]))
    frame = frame[~frame[DAY_COLUMN].isin(excluded)]
    # The frame holds valid labels only; too many invalid ones mean the labels feed is broken.
    _check_labels(wh, spec, trigger, dagster_run_id, window=(first, last), excluded=excluded)
    train_rows = frame[frame[DAY_COLUMN] < holdout_from]
    holdout = frame[frame[DAY_COLUMN] >= holdout_from]
    if train_rows.empty or holdout.empty or train_rows[LABEL].nunique() < 2:
        raise MonitorError(
            f"monitor {spec.name!r}: the window {first}..{last} has {len(train_rows)} training and {len(holdout)} "
            f"held-out labeled rows (need both, and two classes to train on)"
        )
    return _Split(first, last, holdout_from, excluded, train_rows, holdout)


def retrain(
    wh: Warehouse,
    registry: ModelRegistry,
    spec: MonitorSpec,
    trigger: Trigger,
    dagster_run_id: str,
    *,
    dagster_run_url: str | None = None,
) -> RetrainingResult:
    """Train, register and compare a challenger for ``trigger`` (see the module docstring).
    ``dagster_run_url`` (the run's page in the Dagster UI) joins the run id in the MLflow tags."""
    assert spec.model is not None
    name = spec.model.registry_name
    r = spec.retraining
    dagster_tags = {tags.DAGSTER_RUN_ID: dagster_run_id}
    if dagster_run_url:
        dagster_tags[tags.DAGSTER_RUN_URL] = dagster_run_url
    split = _split(wh, spec, trigger, dagster_run_id)
    first, last, holdout_from, excluded = split.first, split.last, split.holdout_from, split.excluded
    train_rows, holdout = split.train_rows, split.holdout

    run_id = ""  # the MLflow run this retraining writes to: it ends FINISHED or FAILED, never stays RUNNING
    try:
        existing = registry.version_for_event(name, trigger.event_id)
        if existing is not None:
            # A retried run: the event's challenger is registered already; never register a second one.
            model = registry.load_model(name, existing)
            registry.set_alias(name, CHALLENGER, existing)
            run_id = registry.version_tags(name, existing).get(tags.MLFLOW_RUN_ID, "")
            registered = RegisteredVersion(name, existing, run_id, created=False)
        else:
            model = trainer.train(train_rows, spec)
            _check_task(wh, spec, trigger, dagster_run_id, window=(first, last), model=model)
            run_id = registry.start_run(
                f"monitoring/{spec.name}",
                run_name=f"retrain {spec.name} ({trigger.reason})",
                tags={**trigger.tags(), **dagster_tags, tags.SPEC_HASH: spec.spec_hash()},
            )
            registry.log(
                run_id,
                params={
                    "trainer": r.trainer or "default: one-hot + HistGradientBoosting",
                    "window_start": first.isoformat(),
                    "window_end": last.isoformat(),
                    "holdout_from": holdout_from.isoformat(),
                    "n_train": len(train_rows),
                    "n_holdout": len(holdout),
                    "excluded_days": ",".join(d.isoformat() for d in excluded) or "none",
                },
                tags={tags.TRIGGER: json.dumps(dict(trigger.details), sort_keys=True, default=str)},
            )
            registered = registry.register(
                run_id,
                model=model,
                registry_name=name,
                input_example=synthetic_example(train_rows, spec),
                version_tags={
                    **trigger.tags(),
                    **dagster_tags,
                    tags.MLFLOW_RUN_ID: run_id,
                    tags.WINDOW: f"{first.isoformat()}..{last.isoformat()}",
                },
                event_id=trigger.event_id,
                alias=CHALLENGER,
            )
        challenger = trainer.evaluate(model, holdout, spec)
        champion_version, champion, champion_model = _evaluate_champion(registry, spec, registered.version, holdout)
        metrics = TASK_METRICS[spec.prediction.task]
        logged = {f"challenger_{m}": challenger[m] for m in metrics}
        if champion is not None:
            logged |= {f"champion_{m}": champion[m] for m in metrics}
        live = live_traffic(wh, spec, model, champion_model, last)
        logged |= {f"live_{k}": v for k, v in live.items() if isinstance(v, float) and math.isfinite(v)}
        report, report_error = _log_report(wh, registry, spec, registered.run_id, report_window(trigger, last))
        registry.log(registered.run_id, metrics=logged, tags={tags.REPORT: report})
        chance = chance_level(spec, train_rows[LABEL], holdout[LABEL])
        promoted, decision = _decide(spec, challenger, champion, chance)
        if promoted:
            registry.promote(name, registered.version)
        result = RetrainingResult(
            name,
            registered.version,
            registered.created,
            registered.run_id,
            (first, last),
            holdout_from,
            len(train_rows),
            len(holdout),
            challenger,
            champion,
            champion_version,
            PRIMARY_METRIC[spec.prediction.task],
            promoted,
            decision,
            excluded,
            report,
            report_error,
            live,
        )
        _record(wh, spec, trigger, result, dagster_run_id)
        registry.describe_version(name, registered.version, version_description(spec, trigger, result))
        registry.end_run(registered.run_id, "FINISHED")
        return result
    except BaseException:
        if run_id:
            with contextlib.suppress(Exception):  # the original error is the one to report
                registry.end_run(run_id, "FAILED")
        raise


def _evaluate_champion(
    registry: ModelRegistry, spec: MonitorSpec, challenger_version: int, holdout: Any
) -> tuple[int | None, dict[str, float] | None, Any]:
    """The champion's version, its metrics on the held-out rows and the model (None: no other champion)."""
    assert spec.model is not None
    version = registry.alias_version(spec.model.registry_name, CHAMPION)
    if version is None or version == challenger_version:
        return version, None, None
    model = registry.load_model(spec.model.registry_name, version)
    return version, trainer.evaluate(model, holdout, spec), model


def live_traffic(
    wh: Warehouse, spec: MonitorSpec, challenger: Any, champion: Any, last_labeled: dt.date
) -> dict[str, Any]:
    """The challenger against the champion on the same recent rows, scored after the labeled
    window (the most recent ``retraining.live_rows``; no labels needed): the drift between the two
    score distributions (the spec's numeric drift method, the champion's scores as the reference:
    they fix the bins) and, for binary models, each one's flagged rate (score >=
    ``prediction.threshold``) and the change; for regression, the change in mean prediction.
    Aggregates only. Empty when there is no champion, no such row, or ``live_rows`` is 0; a
    multiclass model is not compared here yet (``note`` says so)."""
    rows = spec.retraining.live_rows
    if champion is None or rows == 0:
        return {}
    frame = wh.rows.live_frame(spec, last_labeled, rows)
    if frame.empty:
        return {"rows": 0, "note": f"no row scored after the labeled window (after {last_labeled})"}
    new, old = trainer.predict(challenger, frame, spec), trainer.predict(champion, frame, spec)
    days = frame[DAY_COLUMN]
    out: dict[str, Any] = {"rows": len(frame), "first_day": min(days).isoformat(), "last_day": max(days).isoformat()}
    if np.ndim(new) != 1:
        return out | {"note": "multiclass models are not compared on live traffic yet"}
    score = spec.prediction.score_column or "score"  # one score: binary or regression
    finite = old[np.isfinite(old)]
    lo, hi = (float(v) for v in np.quantile(finite, [0.001, 0.999])) if finite.size else (0.0, 1.0)
    # Bins as a reference fixes them (monitoring_assets.core.profile), the champion's scores the reference.
    bins = NumericBins(lo, hi if hi > lo else lo + 1.0, spec.drift.n_bins)
    layout = ProfileLayout(numeric={score: bins}, categorical={})
    champion_profile, challenger_profile = (profile_from_values(layout, {score: s}).columns[score] for s in (old, new))
    method = spec.drift.methods.numeric
    out |= {
        "score_drift_method": method,
        "score_drift": float(get_method(method).compute(champion_profile, challenger_profile)),
    }
    if spec.prediction.task == "binary_classification":
        flagged_new, flagged_old = (float(np.mean(s >= spec.prediction.threshold)) for s in (new, old))
        return out | {
            "flagged_rate_challenger": flagged_new,
            "flagged_rate_champion": flagged_old,
            "flagged_rate_change": flagged_new - flagged_old,
        }
    return out | {"mean_prediction_change": float(np.mean(new) - np.mean(old))}


def version_description(spec: MonitorSpec, trigger: Trigger, result: RetrainingResult) -> str:
    """The challenger version's description in the registry: why it exists, how it compares, what was decided."""
    first, last = result.window
    metric = result.primary_metric
    text = (
        f"Challenger for {spec.name} trained on {first}..{result.holdout_from - dt.timedelta(days=1)} "
        f"({result.n_train:,} rows) after {trigger.reason}"
        + (f" on {trigger.days[0]}..{trigger.days[-1]}" if trigger.days else "")
        + f". Held-out {result.holdout_from}..{last} ({result.n_holdout:,} rows): {metric} "
        f"{result.challenger[metric]:.3f}"
    )
    if result.champion is not None:
        gain = result.challenger[metric] - result.champion[metric]
        text += f" vs champion v{result.champion_version} {result.champion[metric]:.3f} ({gain:+.3f})"
    return text + f". Decision: {result.decision}."


def _record(wh: Warehouse, spec: MonitorSpec, trigger: Trigger, result: RetrainingResult, run_id: str) -> None:
    common = {"model_name": result.registry_name, "model_version": str(result.version), "run_id": run_id}
    wh.events.append(
        spec,
        "retraining",
        {
            "event_id": trigger.event_id,
            "reason": trigger.reason,
            "trigger_days": list(trigger.days),
            "trigger": dict(trigger.details),
            "window": [d.isoformat() for d in result.window],
            "holdout_from": result.holdout_from.isoformat(),
            "n_train": result.n_train,
            "n_holdout": result.n_holdout,
            "excluded_days": [d.isoformat() for d in result.excluded_days],
            "challenger": result.challenger,
            "champion": result.champion,
            "champion_version": result.champion_version,
            "mlflow_run_id": result.mlflow_run_id,
            "monitoring_report": result.report,
            "decision": result.decision,
            "new_version": result.created,
            "live_traffic": dict(result.live),
        },
        partition_date=result.window[1],
        **common,
    )
    if result.promoted:
        wh.events.append(
            spec,
            "promotion",
            {"event_id": trigger.event_id, "previous_champion": result.champion_version, "decision": result.decision},
            partition_date=result.window[1],
            **common,
        )


def rollback(wh: Warehouse, registry: ModelRegistry, spec: MonitorSpec, reason: str, run_id: str) -> tuple[int, int]:
    """Move ``champion`` back to ``previous_champion``; recorded with the reason."""
    assert spec.model is not None
    from_version, to_version = registry.rollback(spec.model.registry_name)
    wh.events.append(
        spec,
        "rollback",
        {"reason": reason, "from_version": from_version, "to_version": to_version},
        model_name=spec.model.registry_name,
        model_version=str(to_version),
        run_id=run_id,
    )
    return from_version, to_version
