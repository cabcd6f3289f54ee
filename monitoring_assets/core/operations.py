"""Operational health from mergeable aggregates: request count, latency quantiles, error rate.

Latency quantiles come from a log-scale histogram with relative accuracy ``alpha`` (the bucket
scheme of DDSketch, Masson et al., VLDB 2019), so a warehouse returns one count per bucket instead
of sorting the day's latencies, and days merge by addition:

* ``gamma = (1 + alpha) / (1 - alpha)``; a finite latency ``x > 0`` falls in bucket
  ``k = ceil(ln(x) / ln(gamma))``, which holds ``gamma^(k-1) < x <= gamma^k``;
* a latency ``<= 0`` counts in ``zero_count`` (its quantile value is 0); a NULL or non-finite
  latency counts in ``null_count`` and in no quantile;
* the ``q`` quantile is the bucket holding the order statistic of rank ``ceil(n * q - 1)``
  (0-based, at least 0), i.e. numpy's ``percentile(..., method="inverted_cdf")``, and
  its value is the bucket's representative ``2 gamma^k / (gamma + 1)``.

Error bound: every value of bucket ``k`` is within relative error ``alpha`` of the representative
(``|r - x| <= alpha * x``), so the estimate is within ``alpha`` (relative) of
``numpy.percentile(x, 100 q, method="inverted_cdf")`` on the same values, up to floating-point
rounding at a bucket edge (the engine's ``ln`` may put a value within an ulp of ``gamma^k`` in the
next bucket, whose representative is still within ``alpha`` of it). Against numpy's default
``linear`` method the estimate lies within ``alpha`` of one of the two order statistics that method
interpolates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from monitoring_assets.core.levels import Level
from monitoring_assets.errors import ProfileError

DEFAULT_ALPHA = 0.01
QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}


def gamma(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ProfileError(f"relative accuracy must be in (0, 1), got {alpha}")
    return (1.0 + alpha) / (1.0 - alpha)


@dataclass(frozen=True, eq=False)
class LatencyHistogram:
    """Counts of latencies per log bucket (see the module docstring); merges by addition."""

    alpha: float
    buckets: Mapping[int, int] = field(default_factory=dict)
    zero_count: int = 0
    null_count: int = 0

    @property
    def count(self) -> int:
        """Latencies that count in the quantiles (finite ones)."""
        return self.zero_count + sum(self.buckets.values())

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        if other.alpha != self.alpha:
            raise ProfileError("latency histograms of different accuracies cannot be merged")
        buckets = dict(self.buckets)
        for k, n in other.buckets.items():
            buckets[k] = buckets.get(k, 0) + n
        return LatencyHistogram(
            self.alpha, buckets, self.zero_count + other.zero_count, self.null_count + other.null_count
        )

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (see the module docstring); NaN without finite latencies."""
        if not 0.0 <= q <= 1.0:
            raise ProfileError(f"quantile must be in [0, 1], got {q}")
        n = self.count
        if n == 0:
            return math.nan
        rank = max(math.ceil(n * q - 1), 0)  # numpy's inverted_cdf index, in its float arithmetic
        if rank < self.zero_count:
            return 0.0
        seen = self.zero_count
        g = gamma(self.alpha)
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if rank < seen:
                return 2.0 * g**k / (g + 1.0)
        raise AssertionError("rank beyond the histogram")  # unreachable: rank < n


def latency_histogram(values: np.ndarray, alpha: float = DEFAULT_ALPHA) -> LatencyHistogram:
    """The histogram of raw latencies, with numpy (the warehouse SQL's twin, for tests and tiny data)."""
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    positive = finite[finite > 0]
    keys, counts = np.unique(np.ceil(np.log(positive) / math.log(gamma(alpha))).astype(np.int64), return_counts=True)
    return LatencyHistogram(
        alpha,
        {int(k): int(n) for k, n in zip(keys, counts, strict=True)},
        zero_count=int(finite.size - positive.size),
        null_count=int(x.size - finite.size),
    )


@dataclass(frozen=True)
class OperationsDay:
    """One day's operational aggregates: requests (rows), errors among rows with a status, latencies."""

    requests: int
    errors: int
    with_status: int
    latency: LatencyHistogram | None

    def merge(self, other: OperationsDay) -> OperationsDay:
        latency = self.latency.merge(other.latency) if self.latency is not None and other.latency is not None else None
        return OperationsDay(
            self.requests + other.requests, self.errors + other.errors, self.with_status + other.with_status, latency
        )

    def metrics(self) -> dict[str, float]:
        """``request_count``; ``error_rate`` = errors / rows with a status (NaN without a status
        column or rows); ``latency_p50/p95/p99`` and ``latency_null_count`` with a latency column."""
        out: dict[str, float] = {
            "request_count": float(self.requests),
            "error_rate": self.errors / self.with_status if self.with_status else math.nan,
        }
        if self.latency is not None:
            out |= {name: self.latency.quantile(q) for name, q in QUANTILES.items()}
            out["latency_null_count"] = float(self.latency.null_count)
        return out


@dataclass(frozen=True)
class SloVerdict:
    """One SLO of one day: the metric's value against its upper limits (``warn``, ``error``)."""

    metric: str
    value: float
    warn: float | None
    error: float | None
    level: Level
    reason: str


def evaluate_slos(
    metrics: Mapping[str, float], limits: Mapping[str, tuple[float | None, float | None]], min_requests: int
) -> list[SloVerdict]:
    """Each SLO: ERROR above ``error``, WARN above ``warn``, else OK; NOT_EVALUATED when the day has
    fewer than ``min_requests`` requests or the metric has no value (no latency, no status)."""
    requests = int(metrics.get("request_count", 0))
    out = []
    for metric, (warn, error) in limits.items():
        value = metrics.get(metric, math.nan)
        if requests < min_requests:
            level, reason = Level.NOT_EVALUATED, f"too few requests: {requests} < {min_requests}"
        elif not math.isfinite(value):
            level, reason = Level.NOT_EVALUATED, f"{metric} has no value (no rows with a latency or a status)"
        elif error is not None and value > error:
            level, reason = Level.ERROR, f"{metric} {value:.4g} > {error:.4g}"
        elif warn is not None and value > warn:
            level, reason = Level.WARN, f"{metric} {value:.4g} > {warn:.4g}"
        else:
            level, reason = Level.OK, f"{metric} {value:.4g} within its limits"
        out.append(SloVerdict(metric, value, warn, error, level, reason))
    return out
