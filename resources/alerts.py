"""Alert sinks: tiered alerts to the Dagster log, a generic JSON webhook and a Slack-compatible webhook.

Tiers, lowest first: ``info`` (retraining triggered or finished), ``warning`` (a check failed at
WARN, a promotion or a rollback) and ``critical`` (a check failed at ERROR). Every alert goes to
the log; each webhook gets the alerts at or above its minimum tier (default: webhook ``info``,
Slack ``warning``).

Webhook URLs are secrets (a Slack URL *is* its token). They reach the Dagster resource only through
``dg.EnvVar`` (``$MONITORING_ALERT_WEBHOOK_URL``, ``$MONITORING_SLACK_WEBHOOK_URL``, or the
variables a spec's ``alerts`` section names), and every message this module writes shows them
masked to scheme, host and port (``https://hooks.slack.com/***``); error texts are scrubbed too.

Delivery never raises. A POST that times out, cannot connect or gets a 5xx or 429 is retried
(``attempts`` in all, ``timeout_seconds`` each, sleeping ``backoff_seconds`` x 1, 2, 4, ...
between them); any other 4xx is final at once. A destination that fails is *down* for the rest
of the sink's life (one sensor tick): later alerts are recorded undelivered without waiting
again, so one tick spends at most ``attempts x timeout + backoff`` per destination. An alert left
undelivered somewhere is sent again to just those destinations on later ticks (the alerts
sensor's ``AlertState``), until it is delivered or ``give_up_after_hours`` (default 24 h) after
its first attempt, when it is recorded as given up.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from monitoring_assets.core.levels import Level
from monitoring_assets.spec import MonitorSpec
from monitoring_assets.spec._model import AlertsSpec

if TYPE_CHECKING:
    from resources.warehouse import Warehouse

Tier = Literal["info", "warning", "critical"]
AlertKind = Literal["firing", "resolved", "event"]
TIERS: tuple[Tier, ...] = ("info", "warning", "critical")
WEBHOOK_URL_ENV = "MONITORING_ALERT_WEBHOOK_URL"
SLACK_WEBHOOK_URL_ENV = "MONITORING_SLACK_WEBHOOK_URL"
ALERT_EVENT = "alert"  # event_type of alert rows in monitoring.events
DESCRIPTION_LIMIT = 1000  # characters of a check description (a run's failed days) forwarded in an alert
USER_AGENT = "dagster-model-monitoring/alerts"

_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
_SLACK_MARK = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{8,}")


def tier_rank(tier: Tier) -> int:
    return TIERS.index(tier)


_TIER_OF_LEVEL: dict[Level, Tier] = {Level.INFO: "info", Level.WARN: "warning", Level.ERROR: "critical"}


def tier_of(level: Level) -> Tier:
    """The alert tier of a finding's level (the one place the two vocabularies meet)."""
    try:
        return _TIER_OF_LEVEL[level]
    except KeyError:
        raise ValueError(f"level {level} has no alert tier: only info, warn and error findings are alerted") from None


# -- alerts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One alert. Only aggregates: the check, its severity, its description and day counts; never
    a row or a feature value (a check's metadata is not forwarded, only the day counts below).

    ``check`` is the Dagster check key (``monitor/asset:check``) or, for ``kind = "event"``, the
    event type (``trigger``, ``retraining``, ``promotion``, ``rollback``).
    """

    monitor: str
    tier: Tier
    kind: AlertKind
    check: str
    summary: str
    description: str = ""
    severity: str | None = None  # the check's WARN / ERROR
    failed_days: int | None = None
    days: int | None = None
    first_failed_day: str | None = None
    last_failed_day: str | None = None
    run_id: str | None = None
    partition_date: dt.date | None = None
    model_name: str | None = None
    model_version: str | None = None
    source_event: str | None = None  # fingerprint of the monitoring.events row it reports
    event_id: str | None = None  # the trigger event a failed retraining belongs to (its dedup key)

    @property
    def dedup_key(self) -> str:
        """monitor + check + tier: what the dedup window applies to."""
        return f"{self.check}|{self.tier}"

    def text(self) -> str:
        """One line for the log and Slack."""
        label = "RESOLVED" if self.kind == "resolved" else self.tier.upper()
        line = f"[{label}] {self.monitor}: {self.summary}"
        if self.description:
            line += f" - {self.description}"
        return line

    def payload(self, sent_at: dt.datetime) -> dict[str, Any]:
        """The generic webhook's JSON body."""
        return {
            "source": "dagster-model-monitoring",
            "monitor": self.monitor,
            "tier": self.tier,
            "kind": self.kind,
            "check": self.check,
            "severity": self.severity,
            "summary": self.summary,
            "description": self.description,
            "failed_days": self.failed_days,
            "days": self.days,
            "first_failed_day": self.first_failed_day,
            "last_failed_day": self.last_failed_day,
            "run_id": self.run_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "sent_at": sent_at.isoformat(),
            "text": self.text(),
        }

    def slack_payload(self) -> dict[str, Any]:
        """Slack's ``{"text": ...}``; &, < and > escaped as Slack requires (``>=`` is common here)."""
        mark = ":white_check_mark:" if self.kind == "resolved" else _SLACK_MARK[self.tier]
        text = self.text().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return {"text": f"{mark} {text}"}


def clean_description(text: str | None) -> str:
    """One line, at most ``DESCRIPTION_LIMIT`` characters."""
    one_line = " ".join((text or "").split())
    return one_line if len(one_line) <= DESCRIPTION_LIMIT else one_line[: DESCRIPTION_LIMIT - 3] + "..."


# -- masking ------------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """Scheme, host and port only: ``https://hooks.slack.com/***``."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not parts.hostname:
        return "<invalid URL>"
    return f"{parts.scheme}://{parts.hostname}{port}/***"


def scrub(text: str, url: str) -> str:
    """``text`` with the URL, its path, query, user info and any long token of them replaced."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return text.replace(url, "***")
    secrets = {url, parts.path, parts.query, parts.netloc.rpartition("@")[0], parts.password or ""}
    secrets |= set(_TOKEN.findall(parts.path + "?" + parts.query))
    secrets.discard(parts.hostname or "")
    for secret in sorted((s for s in secrets if s and s != "/"), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# -- destinations and delivery ------------------------------------------------------------------


Transport = Callable[[str, bytes, float], int]  # (url, JSON body, timeout) -> HTTP status; raises on failure


def post_json(url: str, body: bytes, timeout: float) -> int:
    """POST ``body`` as JSON with the standard library; HTTP errors raise ``HTTPError``."""
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked to be http(s) before)
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": USER_AGENT}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (same)
        response.read(65536)
        return int(response.status)


@dataclass(frozen=True)
class Destination:
    """A webhook: ``style`` ``json`` (the alert's fields) or ``slack`` (``{"text": ...}``)."""

    name: str
    url: str = field(repr=False)
    min_tier: Tier
    style: Literal["json", "slack"]

    @property
    def masked(self) -> str:
        return mask_url(self.url)


@dataclass(frozen=True)
class Delivery:
    """Where one alert went. ``undelivered`` and ``skipped`` map a destination to why."""

    delivered: tuple[str, ...]
    undelivered: dict[str, str]
    skipped: dict[str, str]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    timeout_seconds: float = 5.0
    backoff_seconds: float = 0.5


_RETRYABLE_STATUS = {408, 425, 429}


class AlertSink:
    """Sends alerts for one sensor tick: to ``log`` always, then to each destination by tier."""

    def __init__(
        self,
        log: logging.Logger | logging.LoggerAdapter[Any],
        destinations: Sequence[Destination],
        policy: RetryPolicy = RetryPolicy(),
        *,
        transport: Transport = post_json,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.log = log
        self.destinations = list(destinations)
        self.policy = policy
        self._transport = transport
        self._sleep = sleep
        self._down: dict[str, str] = {}  # destination -> why it failed earlier in this tick

    def send(
        self, alert: Alert, sent_at: dt.datetime, *, only: Collection[str] | None = None, attempt: int = 1
    ) -> Delivery:
        """Deliver ``alert``; never raises. The log line names every destination, masked.

        ``only``: a later attempt goes to these destinations alone (those that did not get it)."""
        delivered, undelivered, skipped = ["log"], {}, {}
        for dest in self.destinations:
            if only is not None and dest.name not in only:
                skipped[dest.name] = "delivered before"
            elif tier_rank(alert.tier) < tier_rank(dest.min_tier):
                skipped[dest.name] = f"below its minimum tier {dest.min_tier}"
            elif dest.name in self._down:
                undelivered[dest.name] = f"not attempted: failed earlier in this tick ({self._down[dest.name]})"
            else:
                ok, reason = self._post(dest, alert, sent_at)
                if ok:
                    delivered.append(dest.name)
                else:
                    undelivered[dest.name] = reason
                    self._down[dest.name] = reason
        masked = {d.name: d.masked for d in self.destinations}
        routes = [f"{n} ({masked[n]})" if n in masked else n for n in delivered]
        line = f"{alert.text()} | sent to {', '.join(routes)}"
        if attempt > 1:
            line = f"(delivery attempt {attempt}) {line}"
        if undelivered:
            line += "; undelivered: " + "; ".join(f"{n} ({masked[n]}): {why}" for n, why in undelivered.items())
        level = logging.INFO if alert.kind == "resolved" else _LOG_LEVEL[alert.tier]
        self.log.log(level, line)
        return Delivery(tuple(delivered), undelivered, skipped)

    def _post(self, dest: Destination, alert: Alert, sent_at: dt.datetime) -> tuple[bool, str]:
        if dest.masked == "<invalid URL>" or not dest.url.lower().startswith(("http://", "https://")):
            return False, "not an http(s) URL"
        body = json.dumps(alert.slack_payload() if dest.style == "slack" else alert.payload(sent_at)).encode()
        policy = self.policy
        reason = "not attempted"
        for attempt in range(1, policy.attempts + 1):
            retry, reason = self._attempt(dest, body)
            if retry is None:
                return True, reason
            if not retry:
                return False, f"{reason} (not retried)"
            if attempt < policy.attempts:
                self._sleep(policy.backoff_seconds * 2 ** (attempt - 1))
        return False, f"{reason} after {policy.attempts} attempt(s)"

    def _attempt(self, dest: Destination, body: bytes) -> tuple[bool | None, str]:
        """(None, status) on success, else (whether to retry, why), the why scrubbed of the URL."""
        try:
            status = self._transport(dest.url, body, self.policy.timeout_seconds)
        except Exception as e:  # any failure, even of a broken transport, is an outcome, not a crash
            retry, why = _failure(e, self.policy.timeout_seconds)
            return retry, scrub(why, dest.url)
        return None, f"HTTP {status}"


def _failure(error: Exception, timeout: float) -> tuple[bool, str]:
    """Whether a failed POST is worth retrying, and why it failed."""
    if isinstance(error, urllib.error.HTTPError):
        error.close()
        return error.code >= 500 or error.code in _RETRYABLE_STATUS, f"HTTP {error.code}"
    if isinstance(error, TimeoutError) or (
        isinstance(error, urllib.error.URLError) and isinstance(error.reason, TimeoutError)
    ):
        return True, f"timed out after {timeout:g}s"
    if isinstance(error, urllib.error.URLError):
        return True, f"cannot connect: {error.reason}"
    if isinstance(error, OSError | http.client.HTTPException):
        return True, f"{type(error).__name__}: {error}"
    return False, f"{type(error).__name__}: {error}"


# -- the settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and how hard delivery tries (the Dagster resource
    ``monitoring_assets.resources.AlertsResource`` holds them as its config). A spec's ``alerts``
    section overrides the URLs (by naming other variables), the minimum tiers and the dedup window
    for its monitor."""

    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    webhook_min_tier: Tier = "info"
    slack_min_tier: Tier = "warning"
    dedup_window_hours: float = 24.0
    give_up_after_hours: float = 24.0
    attempts: int = 3
    timeout_seconds: float = 5.0
    backoff_seconds: float = 0.5

    def dedup_window(self, overrides: AlertsSpec | None = None) -> dt.timedelta:
        hours = overrides.dedup_window_hours if overrides and overrides.dedup_window_hours else self.dedup_window_hours
        return dt.timedelta(hours=hours)

    def give_up_after(self, overrides: AlertsSpec | None = None) -> dt.timedelta:
        hours = overrides.give_up_after_hours if overrides and overrides.give_up_after_hours else None
        return dt.timedelta(hours=hours or self.give_up_after_hours)

    def destinations(self, overrides: AlertsSpec | None = None) -> list[Destination]:
        """The configured webhooks, with a spec's overrides applied (URLs from its named variables)."""
        out = []
        for name, style, default_url, default_tier in (
            ("webhook", "json", self.webhook_url, self.webhook_min_tier),
            ("slack", "slack", self.slack_webhook_url, self.slack_min_tier),
        ):
            override = getattr(overrides, name) if overrides else None
            url, min_tier = default_url, default_tier
            if override is not None:
                if not override.enabled:
                    continue
                if override.url_env:
                    url = os.environ.get(override.url_env)
                min_tier = override.min_tier or default_tier
            if url:
                out.append(Destination(name, url, min_tier, style))  # type: ignore[arg-type]
        return out

    def sink(
        self,
        log: logging.Logger | logging.LoggerAdapter[Any],
        overrides: AlertsSpec | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> AlertSink:
        policy = RetryPolicy(self.attempts, self.timeout_seconds, self.backoff_seconds)
        for name in ("webhook", "slack"):
            override = getattr(overrides, name) if overrides else None
            if override and override.enabled and override.url_env and not os.environ.get(override.url_env):
                log.warning(
                    f"alerts: the spec names ${override.url_env} for {name}, but it is not set: not sending there"
                )
        return AlertSink(log, self.destinations(overrides), policy, sleep=sleep)


# -- the record ---------------------------------------------------------------------------------


def alert_details(
    alert: Alert,
    delivery: Delivery,
    *,
    sent_at: dt.datetime,
    evaluation_id: int | None,
    alert_id: str | None = None,
    retry_of: str | None = None,
    attempt: int = 1,
    given_up: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``details_json`` of an alert row in ``monitoring.events``.

    ``alert_id`` names the alert; a later delivery attempt is a row of its own with ``retry_of``
    (the first row's id), ``attempt`` (2, 3, ...) and what it delivered, or ``given_up`` (the
    destinations abandoned, with why). The row carries every field of the alert, so that a later
    tick can send it again as it was."""
    return {
        "alert_id": alert_id,
        "retry_of": retry_of,
        "attempt": attempt,
        "given_up": dict(given_up or {}),
        "run_id": alert.run_id,
        "partition_date": alert.partition_date.isoformat() if alert.partition_date else None,
        "model_name": alert.model_name,
        "model_version": alert.model_version,
        "kind": alert.kind,
        "tier": alert.tier,
        "monitor": alert.monitor,
        "check": alert.check,
        "severity": alert.severity,
        "summary": alert.summary,
        "description": alert.description,
        "text": alert.text(),
        "failed_days": alert.failed_days,
        "days": alert.days,
        "first_failed_day": alert.first_failed_day,
        "last_failed_day": alert.last_failed_day,
        "dedup_key": alert.dedup_key,
        "sent_at": sent_at.isoformat(),
        "delivered": list(delivery.delivered),
        "undelivered": delivery.undelivered,
        "skipped": delivery.skipped,
        "source_event": alert.source_event,
        "event_id": alert.event_id,
        "evaluation_id": evaluation_id,
    }


def record_alert(
    wh: Warehouse,
    spec: MonitorSpec,
    alert: Alert,
    delivery: Delivery,
    *,
    sent_at: dt.datetime,
    evaluation_id: int | None,
    retry_of: str | None = None,
    attempt: int = 1,
    given_up: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Append the alert's row; returns its details (``alert_id`` new for a first attempt)."""
    alert_id = None if retry_of else uuid.uuid4().hex[:16]
    details = alert_details(
        alert,
        delivery,
        sent_at=sent_at,
        evaluation_id=evaluation_id,
        alert_id=alert_id,
        retry_of=retry_of,
        attempt=attempt,
        given_up=given_up,
    )
    wh.events.append(
        spec,
        ALERT_EVENT,
        details,
        partition_date=alert.partition_date,
        model_name=alert.model_name,
        model_version=alert.model_version,
        run_id=alert.run_id,
    )
    return details


def alert_from_details(d: Mapping[str, Any]) -> Alert:
    """The alert an alert row recorded (to send it again)."""
    day = d.get("partition_date")
    return Alert(
        monitor=d["monitor"],
        tier=d["tier"],
        kind=d["kind"],
        check=d["check"],
        summary=d["summary"],
        description=d.get("description") or "",
        severity=d.get("severity"),
        failed_days=d.get("failed_days"),
        days=d.get("days"),
        first_failed_day=d.get("first_failed_day"),
        last_failed_day=d.get("last_failed_day"),
        run_id=d.get("run_id"),
        partition_date=dt.date.fromisoformat(day) if day else None,
        model_name=d.get("model_name"),
        model_version=d.get("model_version"),
        source_event=d.get("source_event"),
        event_id=d.get("event_id"),
    )


def alert_log(wh: Warehouse, spec: MonitorSpec, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The alerts recorded for ``spec``'s monitor (since ``since``, naive UTC), oldest first: when,
    tier, kind, check, the text sent, and where it was and was not delivered (with why)."""
    rows = wh.events.read(spec, [ALERT_EVENT], since)
    out = []
    for row in rows:
        d: Mapping[str, Any] = json.loads(row["details_json"])
        out.append(
            {
                "created_at": row["created_at"],
                "sent_at": d.get("sent_at"),
                "tier": d.get("tier"),
                "kind": d.get("kind"),
                "check": d.get("check"),
                "text": d.get("text"),
                "delivered": d.get("delivered", []),
                "undelivered": d.get("undelivered", {}),
                "alert_id": d.get("alert_id"),
                "retry_of": d.get("retry_of"),
                "attempt": d.get("attempt", 1),
                "given_up": d.get("given_up", {}),
            }
        )
    return out
