"""The retraining trigger policy: a pure function of per-day verdicts.

Days are partition (scoring) dates, so the policy means the same in a live deployment and in a
backfill of old data: "3 of the last 5 days drifted" counts monitored days, and the cooldown
``min_days_between_retrains`` is measured in monitored days between the last day of one
trigger and the latest day seen now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class DayVerdict:
    dataset_drift: bool | None = None  # None: feature_drift not materialized for the day
    performance: str | None = None  # level of performance_vs_reference: ok, warn, error, too_few_labels
    estimated_performance: str | None = None  # level of estimated_performance_vs_reference


@dataclass(frozen=True)
class TriggerPolicy:
    drift_count: int | None  # None disables the drift trigger
    drift_of: int
    performance_error: bool
    cooldown_days: int
    estimated_performance_error: bool = False  # off by default (spec: retraining.trigger)


@dataclass(frozen=True)
class TriggerEvent:
    reason: str  # "dataset_drift", "performance_error" or "estimated_performance" (several joined by "+")
    days: tuple[dt.date, ...]  # the triggering days

    def event_id(self, monitor: str) -> str:
        return f"{monitor}:{self.reason}:{self.days[0].isoformat()}:{self.days[-1].isoformat()}"


def evaluate_trigger(
    verdicts: Mapping[dt.date, DayVerdict], policy: TriggerPolicy, last_trigger_day: dt.date | None
) -> TriggerEvent | str:
    """The event to fire, or the reason nothing fires (for the sensor's SkipReason)."""
    if not verdicts:
        return "no drift or performance results seen yet"
    latest = max(verdicts)
    if last_trigger_day is not None and (latest - last_trigger_day).days < policy.cooldown_days:
        resume = last_trigger_day + dt.timedelta(days=policy.cooldown_days)
        return f"cooldown: last retraining was triggered by {last_trigger_day}; next possible from {resume}"
    window = [latest - dt.timedelta(days=i) for i in range(policy.drift_of)]
    window = [d for d in window if d in verdicts and (last_trigger_day is None or d > last_trigger_day)]
    reasons: list[str] = []
    days: set[dt.date] = set()
    drifted = [d for d in window if verdicts[d].dataset_drift]
    if policy.drift_count is not None and len(drifted) >= policy.drift_count:
        reasons.append("dataset_drift")
        days.update(drifted)
    errors = [d for d in window if verdicts[d].performance == "error"]
    if policy.performance_error and errors:
        reasons.append("performance_error")
        days.update(errors)
    estimated = [d for d in window if verdicts[d].estimated_performance == "error"]
    if policy.estimated_performance_error and estimated:
        reasons.append("estimated_performance")
        days.update(estimated)
    if not reasons:
        need = f"{policy.drift_count} of {policy.drift_of}" if policy.drift_count is not None else "drift trigger off"
        return (
            f"no trigger through {latest}: {len(drifted)} drifted day(s) in the last {policy.drift_of} "
            f"(need {need}), {len(errors)} performance error(s)"
            + (f", {len(estimated)} estimated performance error(s)" if policy.estimated_performance_error else "")
        )
    return TriggerEvent("+".join(reasons), tuple(sorted(days)))
