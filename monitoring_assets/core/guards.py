"""Guards that need no data-quality suite: pure decisions on a day's profile and the reference's.

* **Volume**: a day with no rows, or with fewer than ``min_volume_ratio`` x the reference's daily
  rate, is an ERROR; a day with rows but fewer than ``min_rows`` is a WARN (too few to judge
  drift). The reference's daily rate is its row count over its days: the window's length for a
  window reference, the distinct days it covers for a table reference with a timestamp column;
  without a timestamp it has no rate and only the zero-row and ``min_rows`` rules apply.
* **Minimum evidence**: below ``min_rows`` rows that day (or ``min_rows`` values of a column),
  a column's drift is *not evaluated* (never drift, never no drift); see :func:`not_evaluated`.
* **Null rate**: a column's null share is (nulls + non-finite values) / rows. It fails when it is
  1 (every row null; on any day with rows) or, on a day with at least ``min_rows`` rows, when it
  exceeds the reference's null share by more than ``null_rate_margin`` (absolute). Such a
  column's drift is not evaluated either: a distance over the few values left says nothing.
* **Constant reference column**: every finite reference value equal (numeric) or a single
  category (categorical). Methods that divide by the reference's spread then use
  :func:`constant_reference_share` instead (see :mod:`monitoring_assets.core.evaluate`).

Every decision here reads profile counts only: no extra scan of the rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitoring_assets.core.levels import Level
from monitoring_assets.core.profile import CategoricalProfile, ColumnProfile, NumericProfile, Profile


@dataclass(frozen=True)
class GuardLimits:
    """The spec's ``guards`` block. ``min_rows``: rows a day (and values a column) needs before
    its drift is evaluated. ``min_volume_ratio``: a day below this fraction of the reference's
    daily rate fails volume (0 turns the rule off). ``null_rate_margin``: absolute rise of a
    column's null share over the reference's that fails the null-rate check."""

    min_rows: int = 100
    min_volume_ratio: float = 0.1
    null_rate_margin: float = 0.1


def _rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def reference_daily_rate(n_rows: int, n_days: int | None) -> float | None:
    """Reference rows per day; None when the reference has no days (no timestamp column)."""
    if not n_days:
        return None
    return n_rows / n_days


@dataclass(frozen=True)
class VolumeVerdict:
    """One day's volume: ``minimum`` is ``ratio x daily_rate`` (None without a rate)."""

    n_rows: int
    daily_rate: float | None
    minimum: float | None
    level: Level
    reason: str


def volume_verdict(n_rows: int, daily_rate: float | None, limits: GuardLimits) -> VolumeVerdict:
    minimum = limits.min_volume_ratio * daily_rate if daily_rate is not None else None
    if daily_rate is None:
        rate = "the reference has no timestamp column, so no daily rate: only the zero-row rule applies"
    else:
        rate = f"reference daily rate {daily_rate:.0f}, minimum {limits.min_volume_ratio:g} x rate = {minimum:.0f}"
    if n_rows == 0:
        return VolumeVerdict(n_rows, daily_rate, minimum, Level.ERROR, f"no rows ({rate})")
    if minimum is not None and n_rows < minimum:
        return VolumeVerdict(n_rows, daily_rate, minimum, Level.ERROR, f"{_rows(n_rows)}, below {rate}")
    if n_rows < limits.min_rows:
        reason = f"{_rows(n_rows)}: too few to evaluate drift (guards.min_rows {limits.min_rows}; {rate})"
        return VolumeVerdict(n_rows, daily_rate, minimum, Level.WARN, reason)
    return VolumeVerdict(n_rows, daily_rate, minimum, Level.OK, f"{_rows(n_rows)} ({rate})")


def null_share(column: ColumnProfile) -> float:
    """(nulls + non-finite values) / rows of the column, in [0, 1]; NaN when there are no rows."""
    if column.n_rows == 0:
        return math.nan
    missing = column.null_count + (column.nonfinite_count if isinstance(column, NumericProfile) else 0)
    return missing / column.n_rows


@dataclass(frozen=True)
class NullRateVerdict:
    """A column's null share against the reference's: ``failed`` with the reason, or passed."""

    column: str
    share: float
    reference_share: float
    failed: bool
    reason: str


def null_rate_verdict(
    column: str, reference: ColumnProfile, current: ColumnProfile, n_rows: int, limits: GuardLimits
) -> NullRateVerdict | None:
    """None on a day without rows (nothing to judge; volume fails it)."""
    share, ref_share = null_share(current), null_share(reference)
    if math.isnan(share):
        return None
    ref = 0.0 if math.isnan(ref_share) else ref_share
    if share == 1.0:
        return NullRateVerdict(column, share, ref, True, f"{column} is 100 % null ({_rows(current.n_rows)})")
    if n_rows >= limits.min_rows and share > ref + limits.null_rate_margin:
        reason = f"{column} null share {share:.3f} above the reference's {ref:.3f} + margin {limits.null_rate_margin:g}"
        return NullRateVerdict(column, share, ref, True, reason)
    return NullRateVerdict(column, share, ref, False, f"{column} null share {share:.3f} (reference {ref:.3f})")


def null_rate_verdicts(
    reference: Profile, current: Profile, columns: Iterable[str], limits: GuardLimits
) -> list[NullRateVerdict]:
    """Verdicts of ``columns`` (those with rows that day), in the given order."""
    out = []
    for name in columns:
        v = null_rate_verdict(name, reference.columns[name], current.columns[name], current.n_rows, limits)
        if v is not None:
            out.append(v)
    return out


def null_rate_finding(verdicts: list[NullRateVerdict], n_rows: int, limits: GuardLimits) -> tuple[Level, str]:
    """The day's null-rate check level and reason (ERROR naming every failing column)."""
    failing = [v for v in verdicts if v.failed]
    if failing:
        return Level.ERROR, "; ".join(v.reason for v in failing)
    if n_rows == 0:
        return Level.OK, "no rows (see the volume check)"
    if n_rows < limits.min_rows:
        return Level.OK, f"margin not evaluated: {_rows(n_rows)}, minimum {limits.min_rows} (no column 100 % null)"
    return Level.OK, f"null shares within the reference's + {limits.null_rate_margin:g}"


def not_evaluated(
    current: Profile, columns: Iterable[str], null_rates: Mapping[str, NullRateVerdict], limits: GuardLimits
) -> dict[str, str]:
    """Why each column's drift is not evaluated that day (columns absent: evaluate them).

    In order: the day has fewer than ``min_rows`` rows; the column failed the null-rate check;
    the column has fewer than ``min_rows`` values (finite values for a numeric column)."""
    out: dict[str, str] = {}
    for name in columns:
        col = current.columns[name]
        rate = null_rates.get(name)
        if current.n_rows < limits.min_rows:
            out[name] = f"{_rows(current.n_rows)}, minimum {limits.min_rows}"
        elif rate is not None and rate.failed:
            out[name] = f"null rate: {rate.reason}"
        elif col.count < limits.min_rows:
            kind = "a finite value" if isinstance(col, NumericProfile) else "a value"
            out[name] = f"{_rows(col.count)} with {kind}, minimum {limits.min_rows}"
    return out


def is_constant(column: ColumnProfile) -> bool:
    """Every finite value equal (numeric, at least one value) or one category only (categorical)."""
    if isinstance(column, NumericProfile):
        return column.count > 0 and column.min == column.max
    assert isinstance(column, CategoricalProfile)
    return int((column.counts > 0).sum()) == 1


def constant_columns(profile: Profile, columns: Iterable[str] | None = None) -> list[str]:
    """Columns of ``profile`` (or of ``columns``) that are constant in it."""
    names = profile.columns if columns is None else columns
    return [n for n in names if is_constant(profile.columns[n])]


def constant_reference_share(reference: NumericProfile, current: NumericProfile) -> float:
    """The rule for a constant reference column (every finite value ``v``) under a method that
    divides by the reference's spread: the share of the day's finite values outside the fine cell
    holding ``v`` (cells are ``1 / n_bins`` wide for a constant reference), in [0, 1]; exactly 0
    when the day is constant at ``v`` too; NaN when the day has no finite values."""
    if current.count == 0:
        return math.nan
    if current.min == current.max == reference.min:
        return 0.0
    cell = int(reference.bins.cell_of([reference.min])[0])
    return 1.0 - int(current.hist[cell]) / current.count


CONSTANT_REFERENCE_NOTE = (
    "constant reference column: value is the share of the day's values outside the reference value's cell"
)
