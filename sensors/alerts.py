"""Alerts of one monitor: a sensor that turns failed checks and retraining events into tiered,
deduplicated alerts (``resources.alerts`` delivers them), and shows each one in Dagster.

What it reads, after its cursor (kept in Dagster storage):

* the **asset check executions** of every check on the monitor's assets (drift, performance,
  fairness, data quality: whatever checks the definitions hold under the monitor's key prefix),
  through ``instance.event_log_storage.get_asset_check_execution_history``: the API Dagster's UI
  and its freshness-check sensor read check results with. It works on every instance storage;
  the event-log query with an ``after_cursor`` does not on the default run-sharded SQLite storage,
  and ``instance.get_event_records`` is deprecated. The cursor keeps, per check, the highest
  execution id seen and the ids to read again (``waiting``): rows *planned* by a running run (an
  execution row is written per day when a run plans the check, and completed in place when that
  day reports), and the days of such a run already in, held back until it ends so that the run
  is judged once. The first tick looks only at each check's latest run (the days of the latest
  completed execution's run): switching the sensor on alerts on what fails now, not on history.
* the rows of ``monitoring.events`` of type trigger, retraining, promotion and rollback.

A check's executions become **one verdict per run** (``verdicts``): a run over N days records N
per-day results (``record.partition`` the day). Days whose metadata says ``evaluated`` False
(too few rows, blocked by data quality, no labels) are left out; the failed days are those of
the rest that did not pass; the verdict's tier is the worst failed day's. An unpartitioned result
(one per run, as checks wrote them before per-day results) is a verdict of its own, judged as
before (``not_evaluated``, ``failure_tier``).

How a verdict becomes an alert (``AlertState.decide``):

* failed at ERROR -> ``critical``, at WARN -> ``warning`` (an old unpartitioned data-quality
  result counting ``critical_days``: ``critical``, see ``failure_tier``); a retraining trigger or
  a finished retraining -> ``info``; a promotion or a rollback -> ``warning``. The alert counts
  the failed days ("failed on 3 of 60 day(s)"), names the first and last, and lists each failed
  day's findings (its description: the items that failed, with value and threshold), whole days
  up to ``DESCRIPTION_LIMIT`` characters, then "and N more day(s)".
* **dedup**: while a check's incident is open (it failed and has not passed since), a failure at
  a tier already sent within the dedup window (default 24 h) is not sent again; after the window
  it is sent again as a reminder. A failure at another tier (WARN becoming ERROR) is sent.
* **recovery**: the first run whose evaluated days all pass, for a check with an open incident,
  sends one ``resolved`` alert, at the incident's highest tier (so it reaches the destinations the
  failure reached), and closes it; later passes send nothing. A failure after that opens a new
  incident.
* **not evaluated**: a run that evaluated no day (every day too thin to judge, or blocked by data
  quality) is neither: no alert, and an open incident stays open. The day's ``volume`` or
  ``null_rate`` check says what is wrong with it.
* each retraining event is alerted once; a failed retraining (``retraining_failed``) at
  ``warning``, once per trigger event within the dedup window (the retraining sensor retries a
  failed event every few minutes: its later failures are logged, not re-sent).
* **undelivered**: dedup counts only delivered alerts. An alert a destination did not get (down,
  timed out, 5xx, ...) is sent again to that destination alone on every later tick, before new
  results, until it arrives or ``give_up_after_hours`` (default 24 h) after its first attempt,
  when a row records it as given up; meanwhile the same check and tier is not fired anew.

Where a person sees it, besides the destinations: each alert sent is one line of the tick's log
(the sensor's ``context.log``; error for critical, warning for warning, info for info and for
resolved), and one ``AssetObservation`` the sensor returns (``alert_observation``) on the asset
it concerns (a check's asset, on its last failed day when the asset is partitioned; a
retraining, promotion or rollback on ``challenger_model``; a trigger on ``feature_drift``, on its
day), with metadata ``alert_tier``, ``alert_kind``, ``alert_check``, ``alert`` (the text sent:
aggregates only) and ``alert_destinations``. Later delivery attempts of an alert are logged, not
observed again.

The memory behind dedup and recovery is the alert rows themselves (``monitoring.events``,
``event_type = 'alert'``, 90 days back), not the cursor: a restarted daemon or a reset cursor
neither repeats an alert within its window nor forgets an open incident. Every alert is recorded
there with its tier, check, and delivered and undelivered destinations (with why). Delivery never
fails the tick; a warehouse that cannot be reached skips the tick with the cursor unchanged.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from monitoring_assets._day_checks import level_of_severity
from monitoring_assets.errors import WarehouseError
from monitoring_assets.resources import AlertsResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources.alerts import (
    ALERT_EVENT,
    DESCRIPTION_LIMIT,
    Alert,
    AlertSink,
    Delivery,
    Tier,
    alert_from_details,
    clean_description,
    record_alert,
    tier_of,
    tier_rank,
)

if TYPE_CHECKING:
    from resources.warehouse import Warehouse  # SQLAlchemy: the warehouse opens in the tick

EVENT_TIERS: dict[str, Tier] = {
    "trigger": "info",
    "retraining": "info",
    "retraining_failed": "warning",
    "retraining_refused": "warning",
    "promotion": "warning",
    "rollback": "warning",
}
DEFAULT_GIVE_UP = dt.timedelta(hours=24)  # AlertsResource.give_up_after_hours' default
STATE_LOOKBACK = dt.timedelta(days=90)  # alert rows read back for dedup and open incidents
PAGE = 100  # check executions per storage query
MAX_PAGES = 10  # per check and tick: older unseen executions beyond 1000 are skipped
_COMPLETED = (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED)

Action = Literal["fire", "resolve", "suppress", "quiet"]


def _naive_utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class Pending:
    """An alert some destination has not received yet: ``remaining`` names them."""

    alert_id: str
    details: dict[str, Any]  # its first row
    first_attempt: dt.datetime
    remaining: set[str]
    attempts: int = 1

    @property
    def dedup_key(self) -> str:
        return f"{self.details['check']}|{self.details['tier']}"


@dataclass
class AlertState:
    """What has been alerted, rebuilt from the alert rows (oldest first).

    Dedup counts only *delivered* alerts: one that every destination it was routed to received, at
    its first attempt or a later one. An alert still owed to a destination is *pending*: later ticks
    send it there again, and while it is pending the same check and tier is not fired anew.
    """

    last_sent: dict[str, dt.datetime] = field(default_factory=dict)  # dedup key -> its last delivered firing
    open: dict[str, Tier] = field(default_factory=dict)  # check -> highest tier alerted since it last passed
    reported_events: set[str] = field(default_factory=set)  # fingerprints of alerted events rows
    pending: dict[str, Pending] = field(default_factory=dict)  # alert id -> what it still owes, oldest first
    failure_sent: dict[str, dt.datetime] = field(default_factory=dict)  # trigger event -> its last failure alert

    @classmethod
    def from_details(cls, rows: Iterable[Mapping[str, Any]]) -> "AlertState":
        state = cls()
        for d in rows:
            state.apply(d)
        return state

    def apply(self, d: Mapping[str, Any]) -> None:
        """Take one alert row's details into account (rows in the order they were written)."""
        sent_at = dt.datetime.fromisoformat(d["sent_at"])
        if d.get("retry_of"):
            self._apply_retry(d, sent_at)
            return
        undelivered = set(d.get("undelivered") or {})
        self._apply(d["kind"], d["check"], d["tier"], sent_at, d.get("source_event"), delivered=not undelivered)
        if not undelivered and d.get("event_id"):
            self.failure_sent[d["event_id"]] = sent_at
        if undelivered and d.get("alert_id"):  # rows written before retries existed have no id
            self.pending[d["alert_id"]] = Pending(d["alert_id"], dict(d), sent_at, undelivered)

    def _apply_retry(self, d: Mapping[str, Any], sent_at: dt.datetime) -> None:
        pending = self.pending.get(d["retry_of"])
        if pending is None:
            return
        pending.attempts = max(pending.attempts, int(d.get("attempt") or pending.attempts + 1))
        pending.remaining -= set(d.get("delivered") or ())
        if d.get("given_up"):
            del self.pending[pending.alert_id]  # abandoned: never counted as sent
        elif not pending.remaining:
            del self.pending[pending.alert_id]
            if pending.details["kind"] == "firing":
                self.last_sent[pending.dedup_key] = sent_at
            if pending.details.get("event_id"):
                self.failure_sent[pending.details["event_id"]] = sent_at

    def _apply(
        self, kind: str, check: str, tier: Tier, sent_at: dt.datetime, source_event: str | None, *, delivered: bool
    ) -> None:
        if kind == "firing":
            if delivered:
                self.last_sent[f"{check}|{tier}"] = sent_at
            if check not in self.open or tier_rank(tier) > tier_rank(self.open[check]):
                self.open[check] = tier
        elif kind == "resolved":
            self.open.pop(check, None)
        if source_event:
            self.reported_events.add(source_event)  # a pending event alert is retried, not re-fired

    def repeats_failure(self, event_id: str, now: dt.datetime, window: dt.timedelta) -> bool:
        """Whether a failure of the same trigger event was alerted within ``window`` (or is owed):
        the retraining sensor retries a failed event every few minutes, one alert is enough."""
        last = self.failure_sent.get(event_id)
        owed = any(p.details.get("event_id") == event_id for p in self.pending.values())
        return owed or (last is not None and now - last < window)

    def decide(
        self, check: str, failed_tier: Tier | None, now: dt.datetime, window: dt.timedelta
    ) -> tuple[Action, Tier | None]:
        """What to do with one result of ``check`` (``failed_tier`` None: it passed)."""
        if failed_tier is None:
            return ("resolve", self.open[check]) if check in self.open else ("quiet", None)
        key = f"{check}|{failed_tier}"
        last = self.last_sent.get(key)
        recent = last is not None and now - last < window
        if check in self.open and (recent or any(p.dedup_key == key for p in self.pending.values())):
            return "suppress", failed_tier
        return "fire", failed_tier


@dataclass(frozen=True)
class AlertTick:
    sent: list[Alert]
    suppressed: list[str]
    cursor: str
    retried: int = 0  # undelivered alerts of earlier ticks sent again
    redelivered: int = 0  # ...of which every destination now has them
    given_up: int = 0  # undelivered alerts abandoned (older than the give-up age)
    deliveries: list[Delivery] = field(default_factory=list)  # where each of ``sent`` went, in its order

    def summary(self, monitor: str) -> str:
        kinds = {k: sum(a.kind == k for a in self.sent) for k in ("firing", "resolved", "event")}
        text = f"{monitor}: " + (
            f"sent {len(self.sent)} alert(s) ({', '.join(f'{n} {k}' for k, n in kinds.items() if n)})"
            if self.sent
            else "no new alerts"
        )
        if self.retried:
            text += f"; retried {self.retried} undelivered alert(s), {self.redelivered} now delivered"
        if self.given_up:
            text += f"; gave up on {self.given_up} undelivered alert(s)"
        return text + (f"; {len(self.suppressed)} repeat(s) within the dedup window" if self.suppressed else "")


# -- reading check results ----------------------------------------------------------------------


def monitor_checks(repository: dg.RepositoryDefinition, spec: MonitorSpec) -> list[dg.AssetCheckKey]:
    """Every asset check on the monitor's assets (key prefix ``spec.name``), however it is defined."""
    keys = repository.asset_graph.asset_check_keys
    return sorted((k for k in keys if k.asset_key.path[0] == spec.name), key=lambda k: k.to_user_string())


class _Runs:
    """Whether a run is still going, asked once per run and tick (a 60-day run plans 60 rows)."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._instance = instance
        self._going: dict[str, bool] = {}

    def going(self, run_id: str) -> bool:
        if run_id not in self._going:
            run = self._instance.get_run_by_id(run_id) if run_id else None
            self._going[run_id] = run is not None and not run.is_finished
        return self._going[run_id]


def _history(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, more: Callable[[Sequence[AssetCheckExecutionRecord]], bool]
) -> list[AssetCheckExecutionRecord]:
    """Executions of ``key``, newest first, a page at a time while ``more(page)`` (MAX_PAGES at most)."""
    found: list[AssetCheckExecutionRecord] = []
    before: int | None = None
    for _ in range(MAX_PAGES):
        page = instance.event_log_storage.get_asset_check_execution_history(key, limit=PAGE, cursor=before)
        found.extend(page)
        if len(page) < PAGE or not more(page):
            break
        before = page[-1].id
    return found


def new_executions(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, state: Mapping[str, Any] | None
) -> tuple[list[AssetCheckExecutionRecord], dict[str, Any]]:
    """Completed executions of ``key`` not seen before (oldest first) and the check's next cursor:
    ``after`` (highest execution id seen) and ``waiting`` (ids to read again: rows planned by runs
    still going, and the per-day results of those runs already in, held back so that a run is
    judged once, over all its days)."""
    runs = _Runs(instance)
    if state is None:
        # First tick: the latest completed result, with the other days of its run.
        seen: list[AssetCheckExecutionRecord] = []

        def more(page: Sequence[AssetCheckExecutionRecord]) -> bool:
            """Whether older pages may hold the latest completed result, or more days of its run."""
            seen.extend(page)
            latest = next((r for r in seen if r.status in _COMPLETED), None)
            return latest is None or (latest.partition is not None and page[-1].run_id == latest.run_id)

        found = _history(instance, key, more)
        first = next((r for r in found if r.status in _COMPLETED), None)
        if first is None:
            new = []
        elif first.partition is None:
            new = [first]
        else:
            new = [r for r in found if r.status in _COMPLETED and r.run_id == first.run_id and r.partition is not None]
        planned = [
            r
            for r in found
            if r.status == AssetCheckExecutionRecordStatus.PLANNED
            and (first is None or r.id > first.id or r.run_id == first.run_id)
            and runs.going(r.run_id)
        ]
        after = max((r.id for r in found), default=0)
    else:
        after, waiting = int(state["after"]), set(state.get("waiting", []))
        floor = min([after, *waiting])
        found = [r for r in _history(instance, key, lambda page: page[-1].id > floor) if r.id >= floor]
        unseen = [r for r in found if r.id > after or r.id in waiting]
        new = [r for r in unseen if r.status in _COMPLETED]
        planned = [r for r in unseen if r.status not in _COMPLETED and runs.going(r.run_id)]
        after = max([after, *(r.id for r in found)])
    going = {r.run_id for r in planned}
    held = [r for r in new if r.partition is not None and r.run_id in going]
    new = [r for r in new if not (r.partition is not None and r.run_id in going)]
    next_state = {"after": after, "waiting": sorted(r.id for r in planned + held)}
    return sorted(new, key=lambda r: r.id), next_state


def _meta_value(meta: Mapping[str, Any], name: str) -> Any:
    return getattr(meta.get(name), "value", None)


def _meta_int(meta: Mapping[str, Any], name: str) -> int | None:
    value = _meta_value(meta, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _meta_day(meta: Mapping[str, Any], name: str) -> str | None:
    value = _meta_value(meta, name)
    try:
        return dt.date.fromisoformat(value).isoformat() if isinstance(value, str) and value else None
    except ValueError:
        return None


def not_evaluated(evaluation: dg.AssetCheckEvaluation) -> bool:
    """An unpartitioned result (one for a whole run, as checks wrote them before per-day results)
    that judged no day (``evaluated_days`` 0: too few rows, data quality blocked): neither an
    alert nor a recovery, so an open incident stays open."""
    return evaluation.passed and _meta_int(evaluation.metadata, "evaluated_days") == 0


def day_evaluated(evaluation: dg.AssetCheckEvaluation) -> bool:
    """A per-day result's ``evaluated`` (False: the day was too thin, blocked, unlabeled, ...)."""
    return _meta_value(evaluation.metadata, "evaluated") is not False


def _severity_tier(severity: dg.AssetCheckSeverity) -> Tier:
    return tier_of(level_of_severity(severity))


def failure_tier(evaluation: dg.AssetCheckEvaluation) -> Tier:
    """ERROR -> critical, WARN -> warning; but an unpartitioned result that counts
    ``critical_days`` (the data-quality check over several days, before per-day results) is
    critical whenever one day was: it was WARN only so that Dagster would not block every day."""
    if (_meta_int(evaluation.metadata, "critical_days") or 0) > 0:
        return "critical"
    return _severity_tier(evaluation.severity)


@dataclass(frozen=True)
class Verdict:
    """What one run said about one check: its per-day results (``days``, evaluated days only), or
    one unpartitioned result (``whole``, a record written before checks were per day)."""

    key: dg.AssetCheckKey
    run_id: str
    record_id: int  # the newest execution behind it: the alert row's evaluation_id
    days: Mapping[str, dg.AssetCheckEvaluation] = field(default_factory=dict)
    not_evaluated_days: int = 0
    whole: dg.AssetCheckEvaluation | None = None

    @property
    def judged(self) -> bool:
        """False when it judged no day: neither a failure nor a recovery."""
        return not not_evaluated(self.whole) if self.whole is not None else bool(self.days)

    @property
    def failed(self) -> dict[str, dg.AssetCheckEvaluation]:
        return {d: e for d, e in sorted(self.days.items()) if not e.passed}

    def failed_tier(self) -> Tier | None:
        """The worst tier among the failed days; None when nothing failed."""
        if self.whole is not None:
            return None if self.whole.passed else failure_tier(self.whole)
        tiers = [failure_tier(e) for e in self.failed.values()]
        if not tiers:
            return None
        return max(tiers, key=tier_rank)


def verdicts(key: dg.AssetCheckKey, records: Sequence[AssetCheckExecutionRecord]) -> list[Verdict]:
    """One verdict per run for the per-day records (the latest record of a day within a run counts),
    one per record for unpartitioned ones; in the order of their newest execution."""
    out: list[Verdict] = []
    by_run: dict[str, dict[str, AssetCheckExecutionRecord]] = {}
    for r in sorted(records, key=lambda r: r.id):
        evaluation = r.event.asset_check_evaluation if r.event else None
        if evaluation is None:
            continue
        if r.partition is None:
            out.append(Verdict(key, r.run_id, r.id, whole=evaluation))
        else:
            by_run.setdefault(r.run_id, {})[r.partition] = r
    for run_id, days in by_run.items():
        evaluations = {d: r.event.asset_check_evaluation for d, r in days.items() if r.event}
        judged = {d: e for d, e in evaluations.items() if e is not None and day_evaluated(e)}
        newest = max(r.id for r in days.values())
        out.append(Verdict(key, run_id, newest, judged, not_evaluated_days=len(days) - len(judged)))
    return sorted(out, key=lambda v: v.record_id)


def _day_text(day: str, evaluation: dg.AssetCheckEvaluation) -> str:
    """``day: what failed``; a description that repeats the day ("drift on D: ...") is cut to its
    findings, which name the features with their values and thresholds."""
    text = " ".join((evaluation.description or "").split())
    return f"{day}: {text.split(f'{day}: ', 1)[-1] or 'failed'}"


def failed_days_text(failed: Mapping[str, dg.AssetCheckEvaluation], limit: int = DESCRIPTION_LIMIT) -> str:
    """Each failed day's findings, oldest first: as many whole days as fit in ``limit`` characters,
    then "and N more day(s)" (when not even the first day fits, it is cut, with "...")."""
    entries = [_day_text(d, e) for d, e in sorted(failed.items())]

    def more(left: int) -> str:
        return f" | and {left} more day(s)" if left else ""

    shown: list[str] = []
    for entry in entries:
        if len(" | ".join([*shown, entry])) + len(more(len(entries) - len(shown) - 1)) > limit:
            break
        shown.append(entry)
    if entries and not shown:
        shown = [entries[0][: limit - len(more(len(entries) - 1)) - 3] + "..."]
    return " | ".join(shown) + more(len(entries) - len(shown))


def run_alert(spec: MonitorSpec, verdict: Verdict, *, tier: Tier, kind: Literal["firing", "resolved"]) -> Alert:
    """The alert for one check's verdict over a run: failed days counted and listed with their
    findings (each day's description names the items that failed), first and last failed day."""
    if verdict.whole is not None:
        return check_alert(spec, verdict.key, verdict.whole, tier=tier, kind=kind, run_id=verdict.run_id)
    asset, name = verdict.key.asset_key.to_user_string(), verdict.key.name
    failed, days = verdict.failed, sorted(verdict.days)
    skipped = f"; {verdict.not_evaluated_days} day(s) not evaluated" if verdict.not_evaluated_days else ""
    if kind == "firing":
        worst = max((e.severity for e in failed.values()), key=lambda s: tier_rank(_severity_tier(s)))
        first, last = min(failed), max(failed)
        when = first if first == last else f"first {first}, last {last}"
        summary = f"check {name} failed on {len(failed)} of {len(days)} day(s) on {asset} ({worst.value}): {when}"
        return Alert(
            monitor=spec.name,
            tier=tier,
            kind=kind,
            check=verdict.key.to_user_string(),
            summary=summary + skipped,
            description=failed_days_text(failed),
            severity=worst.value,
            failed_days=len(failed),
            days=len(days),
            first_failed_day=first,
            last_failed_day=last,
            run_id=verdict.run_id or None,
            partition_date=dt.date.fromisoformat(last),
        )
    span = days[0] if len(days) == 1 else f"{days[0]}..{days[-1]}"
    return Alert(
        monitor=spec.name,
        tier=tier,
        kind=kind,
        check=verdict.key.to_user_string(),
        summary=f"check {name} passes again on {asset} (alerted at {tier})",
        description=f"passed on all {len(days)} evaluated day(s), {span}{skipped}",
        severity=next(iter(verdict.days.values())).severity.value,
        failed_days=0,
        days=len(days),
        run_id=verdict.run_id or None,
    )


def check_alert(
    spec: MonitorSpec,
    key: dg.AssetCheckKey,
    evaluation: dg.AssetCheckEvaluation,
    *,
    tier: Tier,
    kind: Literal["firing", "resolved"],
    run_id: str | None,
) -> Alert:
    """The alert for one check result. Of the check's metadata only the day counts are forwarded
    (``failed_days``, ``days``, ``first_failed_day``, ``last_failed_day``, as our checks write
    them): a check such as a data-quality suite may carry observed values, which must not leave."""
    meta = evaluation.metadata
    asset = key.asset_key.to_user_string()
    failed, days = _meta_int(meta, "failed_days"), _meta_int(meta, "days")
    last_day = _meta_day(meta, "last_failed_day")
    if kind == "firing":
        counted = f", {failed} of {days} day(s)" if failed is not None and days is not None else ""
        summary = f"check {key.name} failed on {asset} ({evaluation.severity.value}{counted})"
    else:
        summary = f"check {key.name} passes again on {asset} (alerted at {tier})"
    return Alert(
        monitor=spec.name,
        tier=tier,
        kind=kind,
        check=key.to_user_string(),
        summary=summary,
        description=clean_description(evaluation.description),
        severity=evaluation.severity.value,
        failed_days=failed,
        days=days,
        first_failed_day=_meta_day(meta, "first_failed_day"),
        last_failed_day=last_day,
        run_id=run_id or None,
        partition_date=dt.date.fromisoformat(last_day) if last_day and kind == "firing" else None,
    )


# -- reading retraining events ------------------------------------------------------------------


def event_fingerprint(row: Mapping[str, Any]) -> str:
    raw = f"{row['event_type']}|{row['created_at'].isoformat()}|{row['run_id']}|{row['details_json']}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _day_range(days: Sequence[str]) -> str:
    days = sorted(days)
    if not days:
        return "no days"
    return days[0] if len(days) == 1 else f"{len(days)} days, {days[0]}..{days[-1]}"


def event_alert(spec: MonitorSpec, row: Mapping[str, Any]) -> Alert:
    """The alert for one trigger / retraining / promotion / rollback row (its aggregates only)."""
    kind = str(row["event_type"])
    d: dict[str, Any] = json.loads(row["details_json"])
    model, version = row.get("model_name") or "", row.get("model_version") or ""
    if kind == "trigger":
        summary = f"retraining triggered by {d.get('reason')} ({_day_range(list(d.get('days') or {}))})"
    elif kind == "retraining":
        window = d.get("window") or ["?", "?"]
        summary = f"challenger {model} v{version} trained on {window[0]}..{window[-1]}: {d.get('decision')}"
    elif kind == "retraining_failed":
        error = f"{d.get('error_class')}: {d.get('error')}" if d.get("error") else str(d.get("error_class"))
        summary = f"retraining of {model or spec.name} failed (attempt {d.get('attempt') or 1}): {error}"
    elif kind == "retraining_refused":
        summary = f"retraining of {model or spec.name} refused, nothing registered: {d.get('refused')}"
    elif kind == "promotion":
        summary = f"{model} v{version} promoted to champion (previous champion v{d.get('previous_champion')})"
    else:
        summary = f"{model} champion rolled back from v{d.get('from_version')} to v{d.get('to_version')}"
        summary += f" ({d.get('reason')})" if d.get("reason") else ""
    return Alert(
        monitor=spec.name,
        tier=EVENT_TIERS[kind],
        kind="event",
        check=kind,
        summary=clean_description(summary),
        run_id=row.get("run_id"),
        partition_date=row.get("partition_date"),
        model_name=model or None,
        model_version=version or None,
        source_event=event_fingerprint(row),
        event_id=d.get("event_id") if kind == "retraining_failed" else None,
    )


# -- one tick -----------------------------------------------------------------------------------


def evaluate_alerts(
    *,
    instance: dg.DagsterInstance,
    cursor: str | None,
    spec: MonitorSpec,
    checks: Sequence[dg.AssetCheckKey],
    wh: "Warehouse",
    sink: AlertSink,
    window: dt.timedelta,
    now: dt.datetime,
    give_up_after: dt.timedelta = DEFAULT_GIVE_UP,
) -> AlertTick:
    """One tick: send again what earlier ticks could not deliver, read new check results and
    events, decide, send, record. ``now`` (aware) is the clock the dedup window and the give-up
    age are measured with."""
    previous: dict[str, Any] = json.loads(cursor) if cursor else {}
    rows = wh.events.read(spec, [ALERT_EVENT], _naive_utc(now - STATE_LOOKBACK))
    state = AlertState.from_details(json.loads(r["details_json"]) for r in rows)
    sent: list[Alert] = []
    deliveries: list[Delivery] = []
    suppressed: list[str] = []
    retried, redelivered, given_up = retry_pending(
        state, wh=wh, spec=spec, sink=sink, now=now, give_up_after=give_up_after
    )

    def send(alert: Alert, evaluation_id: int | None) -> None:
        delivery = sink.send(alert, now)
        state.apply(record_alert(wh, spec, alert, delivery, sent_at=now, evaluation_id=evaluation_id))
        sent.append(alert)
        deliveries.append(delivery)

    checks_cursor: dict[str, Any] = {}
    for key in checks:
        name = key.to_user_string()
        records, checks_cursor[name] = new_executions(instance, key, previous.get("checks", {}).get(name))
        for verdict in verdicts(key, records):
            if not verdict.judged:
                continue
            action, tier = state.decide(name, verdict.failed_tier(), now, window)
            if action == "quiet" or tier is None:
                continue
            kind: Literal["firing", "resolved"] = "resolved" if action == "resolve" else "firing"
            alert = run_alert(spec, verdict, tier=tier, kind=kind)
            if action == "suppress":
                last = state.last_sent[alert.dedup_key]
                sink.log.info(f"not re-sent (same tier within {window}; last sent {last.isoformat()}): {alert.text()}")
                suppressed.append(alert.dedup_key)
                continue
            send(alert, verdict.record_id)

    events_after = (
        dt.datetime.fromisoformat(previous["events_after"])
        if previous.get("events_after")
        else _naive_utc(now - window)  # first tick: only recent events
    )
    for row in wh.events.read(spec, list(EVENT_TIERS), events_after):
        alert = event_alert(spec, row)
        if alert.source_event in state.reported_events:
            pass
        elif alert.event_id and state.repeats_failure(alert.event_id, now, window):
            sink.log.info(f"not re-sent (same trigger event failed within {window}): {alert.text()}")
            suppressed.append(f"{alert.check}|{alert.event_id}")
        else:
            send(alert, None)
        events_after = max(events_after, row["created_at"])
    next_cursor = {"checks": checks_cursor, "events_after": events_after.isoformat()}
    return AlertTick(
        sent, suppressed, json.dumps(next_cursor, sort_keys=True), retried, redelivered, given_up, deliveries
    )


def retry_pending(
    state: AlertState,
    *,
    wh: "Warehouse",
    spec: MonitorSpec,
    sink: AlertSink,
    now: dt.datetime,
    give_up_after: dt.timedelta,
) -> tuple[int, int, int]:
    """Send each pending alert again to the destinations that lack it, oldest first; one older
    than ``give_up_after`` (from its first attempt), or owed to a destination no longer
    configured (or no longer taking its tier), is recorded as given up instead.
    Returns (retried, now delivered, given up)."""
    retried = redelivered = given_up = 0
    for pending in list(state.pending.values()):
        alert = alert_from_details(pending.details)
        attempt = pending.attempts + 1
        age = now - pending.first_attempt
        routed = {d.name for d in sink.destinations if tier_rank(alert.tier) >= tier_rank(d.min_tier)}
        gone = {name: "no longer configured for this tier" for name in pending.remaining - routed}
        if age >= give_up_after or gone:
            why = f"undelivered for {age} (give-up age {give_up_after})"
            abandoned = {name: gone.get(name, why) for name in pending.remaining}
            delivery = Delivery(("log",), {}, {})
            sink.log.warning(
                f"gave up delivering: {alert.text()} | to {', '.join(sorted(abandoned))}: "
                + "; ".join(f"{n}: {w}" for n, w in sorted(abandoned.items()))
            )
            given_up += 1
        else:
            delivery = sink.send(alert, now, only=pending.remaining, attempt=attempt)
            abandoned = {}
            retried += 1
            redelivered += not (pending.remaining - set(delivery.delivered))
        state.apply(
            record_alert(
                wh,
                spec,
                alert,
                delivery,
                sent_at=now,
                evaluation_id=pending.details.get("evaluation_id"),
                retry_of=pending.alert_id,
                attempt=attempt,
                given_up=abandoned,
            )
        )
    return retried, redelivered, given_up


# -- alerts shown in Dagster ---------------------------------------------------------------------

RETRAINING_EVENTS = frozenset({"retraining", "retraining_failed", "retraining_refused", "promotion", "rollback"})


def alert_asset(alert: Alert, spec: MonitorSpec, asset_graph: BaseAssetGraph[Any]) -> dg.AssetKey:
    """The asset an alert concerns: a check's asset; for a retraining, promotion or rollback the
    monitor's challenger_model; for anything else (a trigger) its feature_drift."""
    drift = dg.AssetKey([spec.name, "feature_drift"])
    if alert.kind != "event":
        return dg.AssetCheckKey.from_user_string(alert.check).asset_key
    challenger = dg.AssetKey([spec.name, "challenger_model"])
    return challenger if alert.check in RETRAINING_EVENTS and asset_graph.has(challenger) else drift


def alert_observation(
    alert: Alert, delivery: Delivery, spec: MonitorSpec, asset_graph: BaseAssetGraph[Any]
) -> dg.AssetObservation:
    """An observation of the alert's asset, so that the asset's Events (and, on a partitioned
    asset, its last failed day's page) show the alert, tier included: aggregates only, as sent."""
    key = alert_asset(alert, spec, asset_graph)
    partitioned = asset_graph.has(key) and asset_graph.get(key).is_partitioned
    day = alert.last_failed_day if alert.kind == "firing" else None
    if alert.kind == "event" and alert.partition_date is not None:
        day = alert.partition_date.isoformat()
    metadata: dict[str, Any] = {
        "alert_tier": alert.tier,
        "alert_kind": alert.kind,
        "alert_check": alert.check,
        "alert": alert.text(),
        "alert_destinations": ", ".join(delivery.delivered),
    }
    if delivery.undelivered:
        metadata["alert_undelivered"] = ", ".join(sorted(delivery.undelivered))
    return dg.AssetObservation(asset_key=key, partition=day if partitioned else None, metadata=metadata)


def build_alert_sensor(*, spec: MonitorSpec) -> dg.SensorDefinition:
    name = spec.name

    @dg.sensor(
        name=f"{name}_alerts",
        minimum_interval_seconds=60,
        description=f"Alerts on {name}'s failed checks (drift, performance, fairness, quality) and retraining "
        "events: to the log, and to the webhooks of the `alerts` resource; deduplicated, recorded in "
        "monitoring.events.",
    )
    def alerts_sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource, alerts: AlertsResource
    ) -> dg.SensorResult:
        if context.repository_def is None:
            return dg.SensorResult(skip_reason=dg.SkipReason("no repository to read checks from"))
        checks = monitor_checks(context.repository_def, spec)
        settings = alerts.settings()
        sink = settings.sink(context.log, spec.alerts)
        try:
            with warehouse.open() as wh:
                tick = evaluate_alerts(
                    instance=context.instance,
                    cursor=context.cursor,
                    spec=spec,
                    checks=checks,
                    wh=wh,
                    sink=sink,
                    window=settings.dedup_window(spec.alerts),
                    now=dt.datetime.now(dt.UTC),
                    give_up_after=settings.give_up_after(spec.alerts),
                )
        except WarehouseError as e:
            # e.g. a DuckDB file locked by a running step: nothing is lost, the next tick retries.
            return dg.SensorResult(skip_reason=dg.SkipReason(f"{name}: warehouse unavailable, retrying: {e}"))
        graph = context.repository_def.asset_graph
        observations = [alert_observation(a, d, spec, graph) for a, d in zip(tick.sent, tick.deliveries, strict=True)]
        return dg.SensorResult(
            skip_reason=dg.SkipReason(tick.summary(name)), cursor=tick.cursor, asset_events=observations
        )

    return alerts_sensor
