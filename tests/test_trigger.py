"""The retraining trigger policy on hand-made day verdicts (each case worked out by hand)."""

from __future__ import annotations

import datetime as dt

from monitoring_assets.core.trigger import DayVerdict, TriggerEvent, TriggerPolicy, evaluate_trigger

D = dt.date(2024, 2, 1)
POLICY = TriggerPolicy(drift_count=3, drift_of=5, performance_error=True, cooldown_days=7)


def _days(drift: list[bool], perf: list[str] | None = None) -> dict[dt.date, DayVerdict]:
    perf = perf or ["ok"] * len(drift)
    return {D + dt.timedelta(days=i): DayVerdict(d, p) for i, (d, p) in enumerate(zip(drift, perf, strict=True))}


def test_three_of_the_last_five_drifted_days_fire_with_those_days() -> None:
    event = evaluate_trigger(_days([False, False, True, False, True, True]), POLICY, None)
    assert isinstance(event, TriggerEvent)
    assert event.reason == "dataset_drift"
    assert event.days == (D + dt.timedelta(days=2), D + dt.timedelta(days=4), D + dt.timedelta(days=5))
    assert event.event_id("m") == "m:dataset_drift:2024-02-03:2024-02-06"


def test_two_of_five_do_not_fire_and_say_why() -> None:
    outcome = evaluate_trigger(_days([True, False, False, True, False, False]), POLICY, None)
    assert (
        outcome == "no trigger through 2024-02-06: 1 drifted day(s) in the last 5 (need 3 of 5), 0 performance error(s)"
    )


def test_drift_older_than_the_window_does_not_count() -> None:
    # Days 0-2 drifted, days 3-7 clean: the last five days hold no drift.
    assert isinstance(evaluate_trigger(_days([True] * 3 + [False] * 5), POLICY, None), str)


def test_one_performance_error_fires_on_its_own() -> None:
    event = evaluate_trigger(_days([False] * 4, ["ok", "warn", "error", "too_few_labels"]), POLICY, None)
    assert isinstance(event, TriggerEvent)
    assert (event.reason, event.days) == ("performance_error", (D + dt.timedelta(days=2),))


def test_both_reasons_join() -> None:
    event = evaluate_trigger(_days([True, True, True], ["ok", "error", "ok"]), POLICY, None)
    assert isinstance(event, TriggerEvent) and event.reason == "dataset_drift+performance_error"


def test_cooldown_counts_monitored_days_since_the_last_trigger() -> None:
    verdicts = _days([True] * 10)
    last = D + dt.timedelta(days=4)
    # Latest day is D+9: 5 days after the last trigger, under the 7-day cooldown.
    outcome = evaluate_trigger(verdicts, POLICY, last)
    assert isinstance(outcome, str) and outcome.startswith("cooldown") and "2024-02-12" in outcome
    # Two more drifted days: D+11 is 7 days after D+4, and days after D+4 count again.
    verdicts |= _days([True] * 12)
    event = evaluate_trigger(verdicts, POLICY, last)
    assert isinstance(event, TriggerEvent)
    assert event.days == tuple(D + dt.timedelta(days=i) for i in range(7, 12))


def test_days_already_covered_by_the_last_trigger_do_not_fire_again() -> None:
    policy = TriggerPolicy(drift_count=3, drift_of=5, performance_error=True, cooldown_days=0)
    verdicts = _days([True, True, True])
    assert isinstance(evaluate_trigger(verdicts, policy, D + dt.timedelta(days=2)), str)


def test_disabled_drift_trigger_and_no_results() -> None:
    policy = TriggerPolicy(drift_count=None, drift_of=5, performance_error=False, cooldown_days=0)
    assert isinstance(evaluate_trigger(_days([True] * 5, ["error"] * 5), policy, None), str)
    assert evaluate_trigger({}, POLICY, None) == "no drift or performance results seen yet"


def test_an_estimated_performance_error_fires_only_when_that_trigger_is_on() -> None:
    verdicts = {
        D + dt.timedelta(days=i): DayVerdict(False, "too_few_labels", level)
        for i, level in enumerate(["ok", "error", "warn"])
    }
    off = evaluate_trigger(verdicts, POLICY, None)  # the default: off
    assert off == "no trigger through 2024-02-03: 0 drifted day(s) in the last 5 (need 3 of 5), 0 performance error(s)"
    on = TriggerPolicy(
        drift_count=3, drift_of=5, performance_error=True, cooldown_days=7, estimated_performance_error=True
    )
    event = evaluate_trigger(verdicts, on, None)
    assert isinstance(event, TriggerEvent)
    assert (event.reason, event.days) == ("estimated_performance", (D + dt.timedelta(days=1),))
    calm = {d: DayVerdict(False, "ok", "warn") for d in verdicts}
    assert evaluate_trigger(calm, on, None) == (
        "no trigger through 2024-02-03: 0 drifted day(s) in the last 5 (need 3 of 5), 0 performance error(s), "
        "0 estimated performance error(s)"
    )
