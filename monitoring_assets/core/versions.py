"""Model versions side by side: a canary or an A/B split (several ``model_version`` values on one
day), or shadow scores (candidate models' scores logged beside the live one).

Each version of a day is summarized by its score's numeric profile (the reference's bins of the
live score), its positive rate (binary: the share of its scored rows predicted positive) and, once
labels arrive, the labeled metrics of its rows. A comparison puts a *newer* version against an
*older* one: the score drift between them (the spec's numeric drift method, newer as "current"
against older as "reference"), the change in positive rate, and the task's primary metric. The
newer version fails the comparison when its primary metric is worse than the older's by more than
``tolerance`` (absolute, in the metric's units). With too few rows or labels on either side the
comparison is *not evaluated* and says which.

Which is newer: model versions are ordered by :func:`version_order` (numbers numerically, then
text); the newest version present is compared with the other version serving the most rows that
day (the incumbent). A shadow score is always the newer side, against the live score of the same
rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from monitoring_assets.core.levels import Level
from monitoring_assets.core.profile import NumericProfile

SHADOW_PREFIX = "shadow:"  # a shadow score column's "version" is shadow:<column>
LIVE = "live"  # the live score, as the older side of a shadow comparison


def version_order(version: str) -> tuple[int, float, str]:
    """Sort key: versions that are numbers (``"2"``, ``"10"``) by value, before any other text."""
    return (0, float(version), "") if re.fullmatch(r"\d+(\.\d+)?", version) else (1, 0.0, version)


@dataclass(frozen=True, eq=False)
class VersionSummary:
    """One version's rows on one day (see the module docstring)."""

    version: str
    rows: int
    positive_rate: float
    score: NumericProfile
    n_labeled: int = 0
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionComparison:
    newer: str
    older: str
    score_drift: float
    positive_rate_change: float  # newer minus older
    metric: str
    newer_value: float
    older_value: float
    level: Level
    reason: str


def pairs(versions: Iterable[str], rows: Mapping[str, int]) -> list[tuple[str, str]]:
    """(newer, older) to compare: the newest model version against the incumbent (most rows among
    the others), and every shadow score against the live score."""
    model = sorted((v for v in versions if not v.startswith(SHADOW_PREFIX) and v != LIVE), key=version_order)
    out = []
    if len(model) >= 2:
        newest = model[-1]
        incumbent = max(model[:-1], key=lambda v: (rows.get(v, 0), version_order(v)))
        out.append((newest, incumbent))
    out += [(v, LIVE) for v in sorted(versions) if v.startswith(SHADOW_PREFIX)]
    return out


def compare(
    newer: VersionSummary,
    older: VersionSummary,
    *,
    metric: str,
    higher_is_better: bool,
    tolerance: float,
    min_rows: int,
    min_labeled: int,
    drift: Callable[[NumericProfile, NumericProfile], float],
    failing: Level = Level.WARN,
) -> VersionComparison:
    """Score drift and positive-rate change always (NaN under ``min_rows`` rows); the verdict from
    the primary metric once both sides have ``min_labeled`` labeled rows."""
    thin = [s.version for s in (newer, older) if s.rows < min_rows]
    a, b = newer.metrics.get(metric, math.nan), older.metrics.get(metric, math.nan)

    def result(level: Level, reason: str) -> VersionComparison:
        drifted = math.nan if thin else drift(older.score, newer.score)
        change = newer.positive_rate - older.positive_rate
        return VersionComparison(newer.version, older.version, drifted, change, metric, a, b, level, reason)

    if thin:
        return result(Level.NOT_EVALUATED, f"too few rows for {', '.join(thin)} (< {min_rows})")
    unlabeled = [s.version for s in (newer, older) if s.n_labeled < min_labeled]
    if unlabeled or not (math.isfinite(a) and math.isfinite(b)):
        named = ", ".join(unlabeled or [newer.version, older.version])
        return result(Level.NOT_EVALUATED, f"too few labels for {named} (< {min_labeled})")
    worse_by = (b - a) if higher_is_better else (a - b)
    text = f"{metric} {a:.4g} ({newer.version}) vs {b:.4g} ({older.version})"
    if worse_by > tolerance:
        return result(
            failing, f"{newer.version} is worse than {older.version}: {text}, by {worse_by:.4g} > {tolerance:.4g}"
        )
    return result(Level.OK, f"{text}, within tolerance {tolerance:.4g}")
