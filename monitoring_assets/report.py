"""A monitoring report: one self-contained HTML file per monitor and date range.

``python -m monitoring_assets.report --monitor credit_default --start 2024-01-01 --end 2024-02-29``
(or ``make report``) writes ``<out>/<monitor>_<start>_<end>.html`` from the metric tables alone
(schema ``monitoring``, read through ``monitoring_assets._readback``): a summary, one verdict per
day, pictures, the drift table per feature, performance, fairness, data quality and the
retraining events of the range.

What it shows is what the monitoring stored: aggregates only. Drift values, rates and counts are
rounded (3 significant digits, or fixed decimals for rates); no raw feature value and no label of a
suppressed group appears, and histogram cells under ``fairness.min_slice_size`` are not drawn
(``monitoring_assets._plots``). A day without a verdict says "not evaluated" and why: no rows
stored, too few rows or labels, or drift blocked by data quality. Never silently green.

The file has inline CSS, PNG pictures as ``data:`` URIs and no scripts or external links, so it
opens anywhere and can be attached to an MLflow run or an e-mail as it is.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from expectations._store import read_levels
from monitoring_assets import _pipeline, _plots
from monitoring_assets._readback import (
    NO_PERFORMANCE,
    DriftRow,
    QualityFailure,
    drift_rows,
    enough_labels,
    fairness_levels,
    performance_levels,
    quality_failures,
    row_counts,
    slice_reports,
)
from monitoring_assets.core.fairness import SliceReport
from monitoring_assets.core.levels import Level
from monitoring_assets.core.performance import HIGHER_IS_BETTER, PRIMARY_METRIC
from monitoring_assets.errors import MonitorError
from monitoring_assets.spec import MonitorSpec, load_specs
from resources import schema
from resources._env import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV
from resources._store import ESTIMATED
from resources.warehouse import Warehouse
from sensors.alerts import EVENT_TIERS

REPORTS_DIR_ENV = "MONITORING_REPORTS_DIR"
DEFAULT_REPORTS_DIR = "data/reports"
MAX_DAYS = 400  # a report's range; a longer one is better split (the day table would be unreadable)
TOP_DISTRIBUTIONS = 3  # drifted features drawn reference against current, the largest value/threshold first

NOT_EVALUATED = "not evaluated"
BLOCKED = "not evaluated (data quality)"


def reports_dir() -> Path:
    """``$MONITORING_REPORTS_DIR``, else ``data/reports`` (relative to the working directory)."""
    return Path(os.environ.get(REPORTS_DIR_ENV) or DEFAULT_REPORTS_DIR)


def report_path(spec: MonitorSpec, start: dt.date, end: dt.date, out_dir: Path) -> Path:
    return out_dir / f"{spec.name}_{start.isoformat()}_{end.isoformat()}.html"


def write_report(wh: Warehouse, spec: MonitorSpec, start: dt.date, end: dt.date, out_dir: Path) -> Path:
    """Write the report of ``spec`` for the days ``start..end`` (inclusive); returns its path
    (``report_path``). Raises ValueError for a reversed or too long range."""
    if start > end:
        raise ValueError(f"start {start} is after end {end}: give the first day, then the last")
    n_days = (end - start).days + 1
    if n_days > MAX_DAYS:
        raise ValueError(f"{start}..{end} is {n_days} days; a report covers at most {MAX_DAYS}")
    days = [start + dt.timedelta(days=i) for i in range(n_days)]
    data = _collect(wh, spec, days)
    page = _render(spec, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = report_path(spec, start, end, out_dir)
    path.write_text(page, encoding="utf-8")
    return path


# -- what the tables hold ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DayVerdict:
    """One day of the range, as the metric tables have it."""

    day: dt.date
    rows: int | None  # None: never profiled (no daily_profile materialization stored)
    quality: Level  # worst failed expectation (OK: none failed; NOT_EVALUATED: no suite result)
    blocked: bool  # drift not computed: data quality failed critically
    dataset: DriftRow | None  # the dataset verdict (feature ``__dataset__``)
    score: DriftRow | None  # the prediction score's drift
    drifted: tuple[str, ...]  # drifted features
    label_coverage: float
    primary: float  # the task's primary metric on the day's labeled rows
    performance: Level  # NOT_EVALUATED: no labels stored, or too few (``too_few_labels``)
    too_few_labels: bool
    disparity: float  # largest demographic parity difference over slice columns
    fairness: Level


@dataclass(frozen=True)
class _Data:
    days: list[dt.date]
    verdicts: list[DayVerdict]
    drift: list[DriftRow]
    versions: dict[dt.date, str | None]
    daily_perf: dict[dt.date, dict[str, float]]
    rolling_perf: dict[dt.date, dict[str, float]]
    reference_perf: dict[str, float]
    slices: dict[dt.date, dict[str, SliceReport]]
    failures: list[QualityFailure]
    events: list[dict[str, Any]]
    pictures: list[tuple[str, str, bytes | str]]  # (section, caption, PNG or why it is missing)


def _collect(wh: Warehouse, spec: MonitorSpec, days: list[dt.date]) -> _Data:
    rows = row_counts(wh, spec, days)
    drift = drift_rows(wh, spec, days)
    quality = read_levels(wh, spec, days)
    perf = performance_levels(wh, spec, days) if spec.labels else {}
    fair = fairness_levels(wh, spec, days) if spec.labels and spec.slices else {}
    by_day: dict[dt.date, list[DriftRow]] = {}
    for r in drift:
        by_day.setdefault(r.day, []).append(r)
    order = list(_pipeline.scope_rules(spec, "feature"))
    verdicts = []
    for day in days:
        mine = by_day.get(day, [])
        dataset = next((r for r in mine if r.feature == schema.DATASET_ROW), None)
        score = next((r for r in mine if r.scope == "prediction"), None)
        p = perf.get(day, NO_PERFORMANCE)
        disparity, fairness = fair.get(day, (math.nan, Level.NOT_EVALUATED))
        verdicts.append(
            DayVerdict(
                day,
                rows.get(day),
                quality.get(day, Level.NOT_EVALUATED),
                not mine and quality.get(day) is Level.ERROR,
                dataset,
                score,
                tuple(sorted((r.feature for r in mine if _is_feature(r) and r.drifted), key=order.index)),
                p.label_coverage,
                p.primary_metric,
                p.level,
                p.too_few_labels,
                disparity,
                fairness,
            )
        )
    daily_perf = {d: v for d, v in wh.metrics.read_performance(spec, "daily", days).items() if d is not None}
    rolling = {
        d: v
        for d, v in wh.metrics.read_performance(spec, spec.performance.rolling_window, days).items()
        if d is not None
    }
    reference = wh.metrics.read_performance(spec, "reference").get(None, {})
    slices = slice_reports(wh, spec, days) if spec.slices else {}
    events = _events_in_range(wh, spec, days[0], days[-1])
    data = _Data(
        days,
        verdicts,
        drift,
        {d: v for d, v in wh.metrics.model_versions(spec, days).items()},
        daily_perf,
        rolling,
        reference,
        slices,
        quality_failures(wh, spec, days),
        events,
        [],
    )
    return replace(data, pictures=_pictures(wh, spec, data))


def _events_in_range(wh: Warehouse, spec: MonitorSpec, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Retraining events (trigger, retraining, promotion, rollback, ...) about a day of the range:
    by their partition date, or, without one (a rollback), by the day they were recorded (UTC)."""
    out = []
    for e in wh.events.read(spec, list(EVENT_TIERS)):
        when = e["partition_date"] or e["created_at"].date()
        if first <= when <= last:
            out.append(e)
    return out


# -- pictures ---------------------------------------------------------------------------------------


def _draw(make: Callable[..., bytes], *args: Any, **kwargs: Any) -> bytes | str:
    """``make(*args, **kwargs)``: a picture, or why it could not be drawn (the report is still written)."""
    try:
        return make(*args, **kwargs)
    except (ValueError, MonitorError) as e:
        return f"picture not drawn: {e}"


def _pictures(wh: Warehouse, spec: MonitorSpec, data: _Data) -> list[tuple[str, str, bytes | str]]:
    out: list[tuple[str, str, bytes | str]] = []
    features = [c for c in _pipeline.scope_rules(spec, "feature") if any(r.feature == c for r in data.drift)]
    ratios: dict[dt.date, dict[str, float]] = {d: dict.fromkeys(features, math.nan) for d in data.days}
    for r in data.drift:
        if r.scope == "feature" and r.feature in features:
            ratios[r.day][r.feature] = r.ratio
    if features:
        title = f"{spec.name}: feature drift, value / threshold ({data.days[0]}..{data.days[-1]})"
        out.append(
            (
                "drift",
                "Feature drift per day: value / threshold (1 or more is drift; grey: not evaluated)",
                _draw(_plots.heatmap_png, ratios, title=title),
            )
        )
    shares = {v.day: _value(v.dataset) for v in data.verdicts}
    if any(math.isfinite(x) for x in shares.values()):
        out.append(
            (
                "drift",
                f"Dataset drift: share of drifted features against drift_share {spec.drift.drift_share:g}",
                _draw(
                    _plots.drift_over_days_png,
                    shares,
                    label="share of drifted features",
                    threshold=spec.drift.drift_share,
                ),
            )
        )
    score_rows = [v.score for v in data.verdicts if v.score is not None]
    if score_rows:
        first = score_rows[0]
        values = {v.day: _value(v.score) for v in data.verdicts}
        label = f"{first.feature} {first.method}"
        if any(math.isfinite(x) for x in values.values()) and first.threshold is not None:
            threshold = first.threshold
            out.append(
                (
                    "drift",
                    f"Score drift: {label} against its threshold {_num(threshold)}",
                    _draw(_plots.drift_over_days_png, values, label=label, threshold=threshold),
                )
            )
    out += _distribution_pictures(wh, spec, data)
    out += _performance_picture(spec, data)
    out += _estimate_picture(wh, spec, data)
    out += _fairness_picture(spec, data)
    return out


def _estimate_picture(wh: Warehouse, spec: MonitorSpec, data: _Data) -> list[tuple[str, str, bytes | str]]:
    """The primary metric estimated without labels (``estimated_performance``) in its band,
    beside the realized one; nothing when no day of the range has an estimate."""
    primary = PRIMARY_METRIC[spec.prediction.task]
    rows = wh.metrics.read_performance(spec, "daily", data.days, kind=ESTIMATED)
    bounds = (primary, f"{primary}_lower", f"{primary}_upper")
    estimated = {d: (v[bounds[0]], v[bounds[1]], v[bounds[2]]) for d, v in rows.items() if d and bounds[1] in v}
    if not estimated:
        return []
    realized = {d: v.get(primary, math.nan) for d, v in data.daily_perf.items() if enough_labels(spec, v)}
    ref = data.reference_perf.get(primary)
    return [
        (
            "performance",
            f"Daily {primary} estimated without labels (band: 3 standard errors) and realized once labeled",
            _draw(
                _plots.estimate_over_days_png,
                estimated,
                realized,
                metric=primary,
                reference=ref if ref is not None and math.isfinite(ref) else None,
                bands=performance_bands(spec, data.reference_perf),
            ),
        )
    ]


def _is_feature(row: DriftRow) -> bool:
    return row.scope == "feature" and row.feature != schema.DATASET_ROW


def _value(row: DriftRow | None) -> float:
    return math.nan if row is None or not row.evaluated or row.value is None else row.value


def _distribution_pictures(wh: Warehouse, spec: MonitorSpec, data: _Data) -> list[tuple[str, str, bytes | str]]:
    """Reference against current for the top drifted features (each on its last drifted day of the
    range), and the score on the last day its drift was evaluated."""
    latest: dict[str, DriftRow] = {}
    for r in data.drift:
        if r.scope == "feature" and r.feature != schema.DATASET_ROW and r.drifted:
            latest[r.feature] = r  # rows come by day: the last one wins
    chosen = sorted(latest.values(), key=lambda r: -r.ratio)[:TOP_DISTRIBUTIONS]
    scores = [r for r in data.drift if r.scope == "prediction" and r.evaluated]
    if scores:
        chosen.append(scores[-1])
    if not chosen:
        return []
    columns = sorted({r.feature for r in chosen})
    try:
        ref = wh.profiles.read_reference(spec, columns, with_windows=False)
        current = wh.profiles.read_daily_profiles(spec, ref.layout, sorted({r.day for r in chosen}), columns)
    except MonitorError as e:
        return [("drift", "Distributions", f"picture not drawn: {e}")]
    out: list[tuple[str, str, bytes | str]] = []
    for r in chosen:
        verdict = "drift" if r.drifted else "no drift"
        note = f"{r.day}: {r.method} {_num(r.value)} vs threshold {_num(r.threshold)} ({verdict})"
        caption = f"{r.feature}: reference against {r.day} ({r.method} {_num(r.value)}, threshold {_num(r.threshold)})"
        png = _draw(
            _plots.distribution_png,
            ref.profile.columns[r.feature],
            current[r.day].columns[r.feature],
            column=r.feature,
            min_count=spec.fairness.min_slice_size,
            note=note,
        )
        out.append(("drift", caption, png))
    return out


def performance_bands(spec: MonitorSpec, reference: Mapping[str, float]) -> list[tuple[str, float]]:
    """The primary metric's WARN and ERROR lines: the reference worse by each tolerance."""
    primary = PRIMARY_METRIC[spec.prediction.task]
    tolerance = _pipeline.tolerances(spec).get(primary)
    ref = reference.get(primary, math.nan)
    if tolerance is None or not math.isfinite(ref):
        return []
    sign = -1.0 if HIGHER_IS_BETTER[primary] else 1.0
    out = []
    for name, step in (("WARN", tolerance.warn), ("ERROR", tolerance.error)):
        delta = step * abs(ref) if tolerance.relative else step
        out.append((name, ref + sign * delta))
    return out


def _performance_picture(spec: MonitorSpec, data: _Data) -> list[tuple[str, str, bytes | str]]:
    if not data.daily_perf:
        return []
    primary = PRIMARY_METRIC[spec.prediction.task]
    daily = {d: data.daily_perf.get(d, {}).get(primary, math.nan) for d in data.days}
    coverage = {d: data.daily_perf.get(d, {}).get("label_coverage", math.nan) for d in data.days}
    ref = data.reference_perf.get(primary)
    reference = ref if ref is not None and math.isfinite(ref) else None
    bands = performance_bands(spec, data.reference_perf)
    return [
        (
            "performance",
            f"Daily {primary} with the reference and the tolerance lines, and label coverage",
            _draw(
                _plots.metric_over_days_png, daily, metric=primary, reference=reference, bands=bands, coverage=coverage
            ),
        )
    ]


def _anonymous(report: SliceReport) -> SliceReport:
    """The report with its suppressed groups counted, never named."""
    return replace(report, suppressed=[f"suppressed group {i + 1}" for i in range(len(report.suppressed))])


def _worst_fairness_day(data: _Data) -> DayVerdict | None:
    judged = [v for v in data.verdicts if v.day in data.slices and math.isfinite(v.disparity)]
    return max(judged, key=lambda v: (v.fairness.rank, v.disparity), default=None)


def _fairness_picture(spec: MonitorSpec, data: _Data) -> list[tuple[str, str, bytes | str]]:
    worst = _worst_fairness_day(data)
    if worst is None:
        return []
    limit = spec.fairness.thresholds.get("demographic_parity_difference")
    warn = limit.warn if limit is not None else 0.1
    reports = {c: _anonymous(r) for c, r in data.slices[worst.day].items()}
    title = f"{worst.day}: selection rate per group (the range's worst fairness day)"
    return [
        (
            "fairness",
            f"Selection rate per group on {worst.day} against the demographic parity limit {_num(warn)}",
            _draw(_plots.group_rates_png, reports, rate="selection_rate", limit=warn, title=title),
        )
    ]


# -- text -------------------------------------------------------------------------------------------


def _num(x: float | None) -> str:
    """3 significant digits (thousands as whole numbers); n/a for a missing value."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.0f} %"


def _spans(days: Iterable[dt.date]) -> str:
    """2024-02-01..2024-02-03, 2024-02-05: consecutive days as ranges."""
    ordered = sorted(set(days))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] - ordered[j] == dt.timedelta(days=1):
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}..{ordered[j]}")
        i = j + 1
    return ", ".join(parts)


_LEVEL_CLASS = {"ok": "ok", "info": "ok", "warn": "warn", "error": "bad"}


def _quality_text(level: Level) -> tuple[str, str]:
    """A day's data-quality level in the suite's words (critical, warning, info)."""
    return {
        Level.ERROR: ("ERROR (critical)", "error"),
        Level.WARN: ("WARN", "warn"),
        Level.INFO: ("ok (info)", "ok"),
        Level.OK: ("ok", "ok"),
    }.get(level, (NOT_EVALUATED, "na"))


def dataset_verdict(v: DayVerdict) -> tuple[str, str]:
    """The day's dataset drift as text and level."""
    if v.rows is None:
        return f"{NOT_EVALUATED}: no data", "na"
    if v.blocked:
        return BLOCKED, "na"
    d = v.dataset
    if d is None:
        return f"{NOT_EVALUATED}: no drift computed", "na"
    if not d.evaluated:
        return f"{NOT_EVALUATED}: {d.reason or 'no reason stored'}", "na"
    return (f"DRIFT {_num(d.value)}", "error") if d.drifted else (f"ok {_num(d.value)}", "ok")


def _score_verdict(v: DayVerdict) -> tuple[str, str]:
    if v.rows is None or v.blocked or v.score is None:
        return "-", "na"
    s = v.score
    if not s.evaluated:
        return NOT_EVALUATED, "na"
    return (f"DRIFT {_num(s.value)}", "warn") if s.drifted else (f"ok {_num(s.value)}", "ok")


def _level_text(level: Level, too_few_labels: bool = False) -> tuple[str, str]:
    if too_few_labels:
        return f"{NOT_EVALUATED}: too few labels", "na"
    if level.evaluated:
        return (level.upper() if level is not Level.OK else "ok"), level.value
    return NOT_EVALUATED, "na"


# -- HTML -------------------------------------------------------------------------------------------

_CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--soft:#f5f7fa;--ok:#2f855a;--okbg:#e6f4ea;
--warn:#975a16;--warnbg:#fdf3d8;--bad:#b42318;--badbg:#fde8e7;--na:#52606d;--nabg:#eceff3}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
background:#fff}
main{max-width:1160px;margin:0 auto;padding:28px 24px 64px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:36px 0 10px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:14px;margin:20px 0 8px}
p.sub,.note{color:var(--muted);margin:0 0 8px}
nav{margin:14px 0 4px;display:flex;flex-wrap:wrap;gap:6px}
nav a{color:var(--ink);text-decoration:none;padding:3px 10px;border:1px solid var(--line);border-radius:14px;
font-size:13px}
nav a:hover{background:var(--soft)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px;margin:14px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--soft)}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:18px;font-weight:600;margin:2px 0}
.card .d{color:var(--muted);font-size:12px}
.card.ok{border-left:4px solid var(--ok)}.card.warn{border-left:4px solid #d69e2e}
.card.bad{border-left:4px solid var(--bad)}.card.na{border-left:4px solid #9aa5b1}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:var(--soft);font-weight:600;position:sticky;top:0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:0}
td.c-ok{background:var(--okbg)}td.c-warn{background:var(--warnbg)}td.c-bad{background:var(--badbg);font-weight:600}
td.c-na{color:var(--na);background:var(--nabg)}
figure{margin:14px 0;border:1px solid var(--line);border-radius:8px;padding:10px;display:inline-block;
max-width:100%;vertical-align:top}
figure img{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:12px;margin-top:6px;max-width:640px}
.missing{color:var(--na);font-style:italic}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:10px}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """A table of already escaped cells (``<td ...>`` markup or plain escaped text)."""
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if cell.startswith("<td"):
                cells.append(cell)
            else:
                cells.append(f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _card(key: str, value: str, detail: str, level: str) -> str:
    return (
        f'<div class="card {_LEVEL_CLASS.get(level, "na")}"><div class="k">{_e(key)}</div>'
        f'<div class="v">{_e(value)}</div><div class="d">{_e(detail)}</div></div>'
    )


def _render(spec: MonitorSpec, data: _Data) -> str:
    first, last = data.days[0], data.days[-1]
    sections = [
        ("summary", "Summary", _summary(spec, data)),
        ("days", "Per-day verdicts", _days_section(spec, data)),
        ("pictures", "Pictures", _pictures_section(data, "drift")),
        ("drift", "Drift per feature", _drift_section(spec, data)),
        ("performance", "Performance", _performance_section(spec, data)),
        ("fairness", "Fairness", _fairness_section(spec, data)),
        ("quality", "Data quality", _quality_section(data)),
        ("events", "Retraining events", _events_section(data)),
    ]
    nav = "".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{_e(title)}</h2>{content}</section>' for key, title, content in sections)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    model = spec.model.registry_name if spec.model else "no registered model"
    title = f"Monitoring report: {spec.name}"
    subtitle = f"{first} .. {last} ({len(data.days)} days) · model {model}"
    if spec.description:
        subtitle += f" · {spec.description}"
    footer = (
        f"Generated {generated} from the metric tables (schema {schema.SCHEMA}) only: aggregates, never raw "
        "rows. A day or check marked “not evaluated” had no verdict (no rows stored, too few rows or labels, "
        "or drift blocked by a critical data-quality failure): it is neither a pass nor a failure."
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(f'{title}, {first}..{last}')}</title><style>{_CSS}</style></head><body><main>"
        f'<h1>{_e(title)}</h1><p class="sub">{_e(subtitle)}</p>'
        f"<nav>{nav}</nav>{body}<footer>{_e(footer)}</footer></main></body></html>\n"
    )


def _summary(spec: MonitorSpec, data: _Data) -> str:
    v = data.verdicts
    monitored = [x.day for x in v if x.rows is not None]
    no_data = [x.day for x in v if x.rows is None]
    drifted = [x.day for x in v if x.dataset is not None and x.dataset.evaluated and x.dataset.drifted]
    judged = [x.day for x in v if x.dataset is not None and x.dataset.evaluated]
    cards = [
        _card(
            "Days monitored",
            f"{len(monitored)} of {len(v)}",
            f"no data: {_spans(no_data)}" if no_data else "every day has a stored profile",
            "ok" if not no_data else "warn",
        ),
        _card(
            "Dataset drift",
            f"{len(drifted)} of {len(judged)} evaluated days",
            _spans(drifted) if drifted else "no day drifted",
            "error" if drifted else ("ok" if judged else "na"),
        ),
    ]
    perf = [x for x in v if x.performance.evaluated]
    if spec.labels:
        worst = max(perf, key=lambda x: x.performance.rank, default=None)
        if worst is None:
            cards.append(_card("Worst performance", NOT_EVALUATED, "no day with enough labels", "na"))
        else:
            level = worst.performance
            at = [x.day for x in perf if x.performance == level]
            text, _ = _level_text(level)
            cards.append(_card("Worst performance", text, f"{len(at)} day(s): {_spans(at)}", level.value))
    else:
        cards.append(_card("Performance", NOT_EVALUATED, "the spec has no labels section", "na"))
    fair = [x for x in v if x.fairness.evaluated]
    if spec.labels and spec.slices:
        worst = max(fair, key=lambda x: (x.fairness.rank, x.disparity), default=None)
        if worst is None:
            cards.append(_card("Fairness", NOT_EVALUATED, "no day with slice results", "na"))
        else:
            failing = [x.day for x in fair if x.fairness.failed]
            text, _ = _level_text(worst.fairness)
            detail = f"failing {len(failing)} day(s): {_spans(failing)}" if failing else "within the limits every day"
            cards.append(
                _card(
                    "Fairness",
                    text,
                    f"{detail}; largest parity difference {_num(worst.disparity)}",
                    worst.fairness.value,
                )
            )
    else:
        cards.append(_card("Fairness", NOT_EVALUATED, "the spec has no slices", "na"))
    critical = [x.day for x in v if x.quality is Level.ERROR]
    warning = [x.day for x in v if x.quality is Level.WARN]
    validated = [x.day for x in v if x.quality.evaluated]
    if not validated:
        cards.append(_card("Data quality", NOT_EVALUATED, "no suite results stored for these days", "na"))
    else:
        parts = [f"critical: {_spans(critical)}" if critical else "", f"warning: {_spans(warning)}" if warning else ""]
        detail = "; ".join(p for p in parts if p) or f"all {len(validated)} validated days passed"
        css = "error" if critical else "warn" if warning else "ok"
        cards.append(_card("Data-quality failures", f"{len(critical) + len(warning)} day(s)", detail, css))
    kinds = sorted({e["event_type"] for e in data.events})
    cards.append(
        _card(
            "Retraining events",
            str(len(data.events)),
            ", ".join(kinds) if kinds else "none in this range",
            "warn" if data.events else "ok",
        )
    )
    versions = sorted({p for x in data.versions.values() if x for p in x.split(",")})
    facts = [
        ("Monitor", spec.name),
        (
            "Model",
            f"{spec.model.registry_name if spec.model else 'no registered model'}"
            + (f" (versions seen: {', '.join(versions)})" if versions else ""),
        ),
        ("Date range", f"{data.days[0]} .. {data.days[-1]} ({len(data.days)} days)"),
        ("Source table", spec.source.table),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(val)}</td></tr>" for k, val in facts)
    return f'<div class="cards">{"".join(cards)}</div><div class="scroll"><table>{rows}</table></div>'


def _td(text: str, level: str, title: str = "") -> str:
    attr = f' title="{_e(title)}"' if title else ""
    return f'<td class="c-{_LEVEL_CLASS.get(level, "na")}"{attr}>{_e(text)}</td>'


def _days_section(spec: MonitorSpec, data: _Data) -> str:
    primary = PRIMARY_METRIC[spec.prediction.task]
    headers = [
        "day",
        "rows",
        "data quality",
        "dataset drift",
        "drifted features",
        "score drift",
        "label coverage",
        primary,
        "performance",
        "worst parity diff.",
        "fairness",
    ]
    rows = []
    for v in data.verdicts:
        quality, q_level = _quality_text(v.quality) if v.rows is not None else (NOT_EVALUATED, "na")
        dataset, d_level = dataset_verdict(v)
        score, s_level = _score_verdict(v)
        perf, p_level = _level_text(v.performance, v.too_few_labels)
        fair, f_level = _level_text(v.fairness)
        features = "-" if v.blocked or v.rows is None else ", ".join(v.drifted) or "none"
        rows.append(
            [
                _e(v.day),
                _e(f"{v.rows:,}" if v.rows is not None else "no data"),
                _td(quality, q_level),
                _td(dataset, d_level, v.dataset.reason if v.dataset is not None else ""),
                _e(features),
                _td(score, s_level),
                _e(_pct(v.label_coverage)),
                _e(_num(v.primary)),
                _td(perf, p_level),
                _e(_num(v.disparity)),
                _td(fair, f_level),
            ]
        )
    note = (
        '<p class="note">Dataset drift: the share of drifted features (DRIFT at or above drift_share '
        f"{_e(f'{spec.drift.drift_share:g}')}). Hover a cell for the stored reason.</p>"
    )
    return note + _table(headers, rows, numeric=(1, 6, 7, 9))


def _figure(caption: str, png: bytes | str) -> str:
    if isinstance(png, str):
        return f'<figure><p class="missing">{_e(png)}</p><figcaption>{_e(caption)}</figcaption></figure>'
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_e(caption)}" src="{uri}"><figcaption>{_e(caption)}</figcaption></figure>'


def _pictures_section(data: _Data, section: str) -> str:
    shown = [_figure(caption, png) for where, caption, png in data.pictures if where == section]
    if not shown:
        return _note("No drift picture: no drift was evaluated in this range.")
    return "".join(shown)


def _drift_section(spec: MonitorSpec, data: _Data) -> str:
    rules = _pipeline.scope_rules(spec, "feature") | _pipeline.scope_rules(spec, "prediction")
    columns = [c for c in rules if any(r.feature == c for r in data.drift)]
    if not columns:
        return _note("No drift rows stored for these days: drift not evaluated.")
    cell: dict[tuple[dt.date, str], DriftRow] = {(r.day, r.feature): r for r in data.drift}
    method = {c: next(r.method for r in data.drift if r.feature == c) for c in columns}
    threshold = {
        c: next((r.threshold for r in data.drift if r.feature == c and r.threshold is not None), None) for c in columns
    }
    summary_rows = []
    for c in columns:
        mine = [r for r in data.drift if r.feature == c]
        evaluated = [r for r in mine if r.evaluated]
        drifted = [r.day for r in evaluated if r.drifted]
        largest = max((r.value for r in evaluated if r.value is not None), default=math.nan)
        summary_rows.append(
            [
                _e(c + (" (score)" if c in spec.prediction_drift_columns else "")),
                _e(method[c]),
                _e(_num(threshold[c])),
                _td(f"{len(drifted)} of {len(evaluated)}", "error" if drifted else "ok"),
                _e(_spans(drifted) or "-"),
                _e(_num(largest)),
            ]
        )
    parts = [
        _table(
            ["column", "method", "threshold", "days drifted", "drifted on", "largest value"],
            summary_rows,
            numeric=(2, 5),
        ),
        "<h3>Value per day</h3>",
        '<p class="note">Each cell is the day\'s drift value; shaded by value / threshold (red: drift). '
        "n/e: not evaluated (hover for why).</p>",
    ]
    headers = ["day", *[f"{c} ({method[c]} > {_num(threshold[c])})" for c in columns]]
    blocked = {v.day for v in data.verdicts if v.blocked}
    no_data = {v.day for v in data.verdicts if v.rows is None}
    rows = []
    for day in data.days:
        row = [_e(day)]
        for c in columns:
            r = cell.get((day, c))
            if r is None:
                why = "blocked" if day in blocked else "no data" if day in no_data else "n/e"
                row.append(_td(why, "na", BLOCKED if day in blocked else NOT_EVALUATED))
            elif not r.evaluated:
                row.append(_td("n/e", "na", f"{NOT_EVALUATED}: {r.reason}"))
            else:
                ratio = r.ratio
                level = "error" if r.drifted else "warn" if ratio >= 0.75 else "ok"
                row.append(_td(_num(r.value), level, f"value / threshold = {_num(ratio)}"))
        rows.append(row)
    parts.append(_table(headers, rows))
    return "".join(parts)


def _performance_section(spec: MonitorSpec, data: _Data) -> str:
    if spec.labels is None:
        return _note("Not evaluated: the spec has no labels section.")
    primary = PRIMARY_METRIC[spec.prediction.task]
    rolling = spec.performance.rolling_window
    ref = data.reference_perf.get(primary, math.nan)
    bands = performance_bands(spec, data.reference_perf)
    facts = f"Reference {primary}: {_num(ref)}" + "".join(
        f"; {name} below {_num(x)}" if HIGHER_IS_BETTER[primary] else f"; {name} above {_num(x)}" for name, x in bands
    )
    facts += f"; a day needs {spec.performance.min_labeled} valid labels to be evaluated."
    parts = [f'<p class="note">{_e(facts)}</p>', _pictures_only(data, "performance")]
    rows = []
    for v in data.verdicts:
        daily = data.daily_perf.get(v.day, {})
        perf, level = _level_text(v.performance, v.too_few_labels)
        rows.append(
            [
                _e(v.day),
                _e(f"{int(daily['n_labeled']):,}" if "n_labeled" in daily else "-"),
                _e(_pct(daily.get("label_coverage", math.nan))),
                _e(_num(daily.get(primary, math.nan))),
                _e(_num(data.rolling_perf.get(v.day, {}).get(primary, math.nan))),
                _td(perf, level),
            ]
        )
    parts.append(
        _table(
            ["day", "labeled rows", "label coverage", f"daily {primary}", f"{rolling} {primary}", "performance"],
            rows,
            numeric=(1, 2, 3, 4),
        )
    )
    return "".join(parts)


def _pictures_only(data: _Data, section: str) -> str:
    return "".join(_figure(caption, png) for where, caption, png in data.pictures if where == section)


def _fairness_section(spec: MonitorSpec, data: _Data) -> str:
    if not (spec.labels and spec.slices):
        return _note("Not evaluated: the spec has no slices (or no labels).")
    limits = "; ".join(
        f"{name} WARN {_num(t.warn)}, ERROR {_num(t.error)}" for name, t in spec.fairness.thresholds.items()
    )
    parts = [
        _note(
            f"Limits: {limits}. Groups under {spec.fairness.min_slice_size} rows are suppressed: counted, never named."
        ),
        _pictures_only(data, "fairness"),
    ]
    names = list(spec.fairness.thresholds)
    rows = []
    for v in data.verdicts:
        reports = data.slices.get(v.day, {})
        fair, level = _level_text(v.fairness)
        row = [_e(v.day)]
        for column in spec.slices:
            r = reports.get(column)
            row += [_e(_num(r.disparities.get(n, math.nan)) if r else "-") for n in names]
        hidden = sum(len(r.suppressed) for r in reports.values())
        row += [_e(str(hidden) if reports else "-"), _td(fair, level)]
        rows.append(row)
    headers = ["day", *[f"{c}: {n}" for c in spec.slices for n in names], "suppressed groups", "fairness"]
    parts.append(_table(headers, rows, numeric=tuple(range(1, len(headers) - 1))))
    worst = _worst_fairness_day(data)
    if worst is not None:
        group_rows = []
        for column, r in data.slices[worst.day].items():
            for group, m in r.groups.items():
                group_rows.append(
                    [
                        _e(column),
                        _e(group),
                        _e(f"{int(m.get('n', 0)):,}"),
                        *(
                            _e(_num(m.get(k, math.nan)))
                            for k in ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
                        ),
                    ]
                )
            if r.suppressed:
                group_rows.append([_e(column), _e(f"{len(r.suppressed)} suppressed group(s)"), "-", "-", "-", "-", "-"])
        parts += [
            f"<h3>{_e(f'Groups on {worst.day} (the worst fairness day of the range)')}</h3>",
            _table(
                ["slice", "group", "n", "selection rate", "TPR", "FPR", "precision"],
                group_rows,
                numeric=(2, 3, 4, 5, 6),
            ),
        ]
    return "".join(parts)


def _quality_section(data: _Data) -> str:
    validated = [v for v in data.verdicts if v.quality.evaluated]
    if not validated:
        return _note("Not evaluated: no data-quality results stored for these days (no suite, or no data).")
    words = {Level.OK: "ok", Level.INFO: "info", Level.WARN: "warning", Level.ERROR: "critical"}  # the suite's
    counts = {word: sum(v.quality is level for v in validated) for level, word in words.items()}
    summary = ", ".join(f"{n} {level}" for level, n in counts.items() if n)
    parts = [_note(f"{len(validated)} validated days: {summary}. A critical day blocks its drift.")]
    if not data.failures:
        parts.append(_note("No expectation failed."))
        return "".join(parts)
    rows = [
        [
            _e(f.day),
            _td(f.severity, f.severity),
            _e(f.expectation.removeprefix("expect_")),
            _e(f.column or "-"),
            _e(f.observed),
            _e(f.expected),
        ]
        for f in data.failures
    ]
    parts.append(_table(["day", "severity", "expectation", "column", "observed", "expected"], rows))
    return "".join(parts)


def _events_section(data: _Data) -> str:
    if not data.events:
        return _note("No retraining trigger, retraining, promotion or rollback about these days.")
    rows = []
    for e in data.events:
        details = json.loads(e["details_json"] or "{}")
        what = details.get("decision") or details.get("refused") or details.get("error_class") or ""
        rows.append(
            [
                _e(e["created_at"].strftime("%Y-%m-%d %H:%M")),
                _e(e["event_type"]),
                _e(e["partition_date"] or "-"),
                _e(e["model_version"] or "-"),
                _e(details.get("reason", "-")),
                _e(what or "-"),
            ]
        )
    return _table(["recorded (UTC)", "event", "day", "model version", "reason", "decision / outcome"], rows)


# -- command line -----------------------------------------------------------------------------------


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitoring_assets.report",
        description="Write one self-contained HTML monitoring report for a monitor and a date range, "
        "from the metric tables in the warehouse ($MONITORING_WAREHOUSE_URL).",
    )
    parser.add_argument("--monitor", required=True, help="the monitor's name (a spec in $MONITORING_SPECS_DIR)")
    parser.add_argument("--start", required=True, type=_date, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, type=_date, help="last day, YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"directory for the file (default ${REPORTS_DIR_ENV}, else {DEFAULT_REPORTS_DIR})",
    )
    args = parser.parse_args(argv)
    out = args.out or reports_dir()
    try:
        specs = {s.name: s for s in load_specs()}
        if args.monitor not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise MonitorError(f"unknown monitor {args.monitor!r} (monitors: {known}; set MONITORING_SPECS_DIR)")
        wh = Warehouse(os.environ.get(WAREHOUSE_URL_ENV, DEFAULT_WAREHOUSE_URL))
        try:
            path = write_report(wh, specs[args.monitor], args.start, args.end, out)
        finally:
            wh.dispose()
    except (MonitorError, ValueError) as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
