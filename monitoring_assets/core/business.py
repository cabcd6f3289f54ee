"""Business KPIs tied to the predictions, as mergeable sums: a mean, a sum or a rate per day.

A :class:`BusinessAggregate` holds ``total`` and ``n`` over one window's matching rows: for ``mean``
and ``sum`` the sum and the count of the column's finite values; for ``rate`` the rows whose value
equals the spec's ``value`` and the rows with any non-NULL value. Windows merge by addition. The
day's number is ``total / n`` (``mean``, ``rate``) or ``total`` (``sum``); NaN when ``n == 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from monitoring_assets.core.levels import Level
from monitoring_assets.errors import ProfileError


@dataclass(frozen=True)
class BusinessAggregate:
    total: float
    n: int

    def merge(self, other: BusinessAggregate) -> BusinessAggregate:
        return BusinessAggregate(self.total + other.total, self.n + other.n)

    def value(self, aggregate: str) -> float:
        if self.n == 0:
            return math.nan
        return self.total if aggregate == "sum" else self.total / self.n


def calibrated_band(reference_values: Sequence[float], k: float) -> tuple[float, float]:
    """``mean -/+ k std`` (ddof 1) of the metric's values on the reference's days (finite ones)."""
    values = np.asarray([v for v in reference_values if math.isfinite(v)], dtype=np.float64)
    if values.size < 2:
        raise ProfileError(
            f"a calibrated band needs the metric on >= 2 reference days, got {values.size}; use a reference "
            "with a timestamp column that holds the metric's columns, or constant limits"
        )
    mean, std = float(values.mean()), float(values.std(ddof=1))
    return mean - k * std, mean + k * std


@dataclass(frozen=True)
class BusinessVerdict:
    name: str
    value: float
    n: int
    lower: float | None
    upper: float | None
    level: Level
    reason: str


def evaluate_business(
    name: str, value: float, n: int, band: tuple[float | None, float | None], *, min_rows: int, failing: Level
) -> BusinessVerdict:
    """``failing`` (WARN or ERROR) outside ``[lower, upper]``; NOT_EVALUATED under ``min_rows`` rows."""
    lower, upper = band
    if n < min_rows or not math.isfinite(value):
        return BusinessVerdict(
            name, value, n, lower, upper, Level.NOT_EVALUATED, f"{name}: too few rows: {n} < {min_rows}"
        )
    if lower is not None and value < lower:
        return BusinessVerdict(name, value, n, lower, upper, failing, f"{name} {value:.4g} < {lower:.4g}")
    if upper is not None and value > upper:
        return BusinessVerdict(name, value, n, lower, upper, failing, f"{name} {value:.4g} > {upper:.4g}")
    return BusinessVerdict(name, value, n, lower, upper, Level.OK, f"{name} {value:.4g} within its limits")
