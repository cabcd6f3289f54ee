"""What a suite found on one day: per-expectation outcomes and the day's level.

Pure (no Great Expectations, no SQL): the runner hands in Great Expectations' result dicts, one
per expectation and pandas chunk (or one per expectation from the SQL data source), and
``finish`` merges them:

* count ("map") expectations add up ``element_count``, ``missing_count`` and
  ``unexpected_count`` over chunks, and succeed when ``(considered - unexpected) / considered >=
  mostly`` with ``considered = element - missing``, exactly Great Expectations' rule;
* other expectations succeed when they succeed on every chunk (exact for schema checks: column
  present, type);
* where the day's profile decides a count exactly (``profile_counts``), that count replaces the
  chunks' one: nulls (SQL NULL, as on PostgreSQL; pandas would also count NaN), values outside a
  numeric range (when the day's min and max settle it), values outside a category set (when the
  set is within the reference's top K: the ``other`` cell and the excluded top-K cells), and the
  day's row count;
* a numeric range that the min and max do not settle passes without reading rows when an upper
  bound from the day's histogram passes (``profile_bound``: every value of a cell that may reach
  outside the range counts as outside); its outcome says "at most".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expectations._suite import SEVERITIES, SuiteExpectation

if TYPE_CHECKING:
    # numpy, through the profiles: imported where a step uses them (this module is loaded while
    # definitions are built, which must not import numpy; tests/test_definitions.py).
    from monitoring_assets.core.profile import CategoricalProfile, NumericProfile, Profile

SOURCE_PROFILE = "profile"  # exact count from the day's profile (DuckDB path)
SOURCE_ROWS = "all rows"  # Great Expectations on every row of the day (pandas chunks)
SOURCE_SAMPLE = "sample"  # Great Expectations on a sample of the day's rows
SOURCE_SQL = "sql"  # Great Expectations' SQL data source: the count ran in the database
SOURCE_SCHEMA = "column types"  # DuckDB: presence and types, once per run on the source's first rows
PARTIAL_VALUES = 20  # unexpected values kept per expectation (warehouse table only, never metadata)

SCHEMA_TYPES = {
    "expect_column_to_exist",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_of_type",
    "expect_table_columns_to_match_set",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_column_count_to_equal",
    "expect_table_column_count_to_be_between",
}
ROW_COUNT = "expect_table_row_count_to_be_between"
_WHAT = {
    "expect_column_values_to_not_be_null": "null",
    "expect_column_values_to_be_between": "outside the range",
    "expect_column_values_to_be_in_set": "not in the set",
    "expect_column_values_to_be_in_type_list": "not of an allowed type",
}


@dataclass(frozen=True)
class Counts:
    """A count expectation's numbers: rows seen, rows not considered (null), rows failing."""

    element: int
    missing: int
    unexpected: int

    @property
    def considered(self) -> int:
        return self.element - self.missing


@dataclass(frozen=True)
class Outcome:
    """One expectation on one day."""

    index: int
    type: str
    column: str | None
    severity: str
    success: bool
    observed: str  # e.g. "9,013 of 10,000 null (90.13 %)"; "DOUBLE PRECISION"; "missing"
    expected: str  # e.g. "null rate <= 5.00 %"
    source: str  # profile, all rows, sample, sql
    unexpected_count: int | None = None
    considered_count: int | None = None
    unexpected_values: tuple[str, ...] = ()
    error: str | None = None

    @property
    def exact(self) -> bool:
        return self.source != SOURCE_SAMPLE


@dataclass(frozen=True)
class DayQuality:
    """A suite's outcomes on one day, and how the rows were validated."""

    day: dt.date
    outcomes: tuple[Outcome, ...]
    validation: str  # e.g. "PostgreSQL: Great Expectations SQL data source, in the database"
    rows_validated: int | None  # rows Great Expectations looked at (None: in the database)
    sampled: bool = False

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def level(self) -> str:
        """The most severe failed expectation's severity (critical, warning, info), or ``ok``."""
        failed = {o.severity for o in self.failed}
        return next((s for s in SEVERITIES if s in failed), "ok")

    def count(self, severity: str) -> int:
        return sum(o.severity == severity for o in self.failed)


def _mostly(kwargs: Mapping[str, Any]) -> float:
    value = kwargs.get("mostly", 1.0)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 1.0


def mostly_success(counts: Counts, mostly: float) -> bool:
    """Great Expectations' rule: the share of considered rows that pass is at least ``mostly``;
    vacuously true when no row is considered."""
    if counts.considered <= 0:
        return True
    return (counts.considered - counts.unexpected) / counts.considered >= mostly


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _range_of(col: NumericProfile, kwargs: Mapping[str, Any]) -> tuple[float | None, float | None] | None:
    """The expectation's (min_value, max_value), None for an open side; None when the profile
    cannot judge it: a suite parameter, or NaN/inf, which the engines treat differently."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    lo, hi = _number(low), _number(high)
    if (low is not None and lo is None) or (high is not None and hi is None) or col.nonfinite_count:
        return None
    return lo, hi


def _outside_range(col: NumericProfile, kwargs: Mapping[str, Any]) -> int | None:
    """Finite values outside [min_value, max_value], when the day's min/max settle it exactly."""
    bounds = _range_of(col, kwargs)
    if bounds is None:
        return None
    if col.count == 0:
        return 0
    lo, hi = bounds
    strict_lo, strict_hi = bool(kwargs.get("strict_min")), bool(kwargs.get("strict_max"))

    def below(x: float) -> bool:
        return lo is not None and (x <= lo if strict_lo else x < lo)

    def above(x: float) -> bool:
        return hi is not None and (x >= hi if strict_hi else x > hi)

    if below(col.max) or above(col.min):
        return col.count  # every value is on one side
    if not below(col.min) and not above(col.max):
        return 0
    return None  # some values outside: the histogram's outer cells only bound how many


def _outside_range_at_most(col: NumericProfile, kwargs: Mapping[str, Any]) -> int | None:
    """At most how many finite values lie outside [min_value, max_value]: the values of every
    histogram cell that may hold one. Where a cell's values can lie: the underflow cell in
    ``[min, lo)`` (a value is there exactly when ``x < lo``), inner cell k within one cell width of
    its own edges (the SQL's ``floor((x - lo) / w)`` may round across an edge), the overflow cell
    in ``[hi - w, max]``. A cell counts as inside only when all of that lies strictly inside the
    range, so the bound holds for strict and non-strict ranges alike."""
    bounds = _range_of(col, kwargs)
    if bounds is None:
        return None
    if col.count == 0:
        return 0
    import numpy as np  # noqa: PLC0415  (step time, see the imports)

    low, high = bounds
    bins = col.bins
    inner = bins.lo + bins.width * np.arange(bins.n_bins, dtype=np.float64)  # left edge of inner cell k
    first = np.maximum(np.concatenate(([col.min], inner - bins.width, [bins.hi - bins.width])), col.min)
    first[1] = bins.lo  # inner cell 1 starts exactly at lo (below it is the underflow cell)
    last = np.minimum(np.concatenate(([bins.lo], inner + 2 * bins.width, [col.max])), col.max)
    inside = np.ones(bins.n_cells, dtype=bool)
    if low is not None:
        inside &= first > low
    if high is not None:
        inside &= last < high
    return col.count - int(col.hist[inside].sum())


def _outside_set(col: CategoricalProfile, kwargs: Mapping[str, Any]) -> int | None:
    """Non-null values outside ``value_set``, when the set is within the reference's top K (a
    value of the set beyond them could hide in the ``other`` cell)."""
    value_set = kwargs.get("value_set")
    if not isinstance(value_set, list):
        return None
    allowed = {str(v) for v in value_set}
    categories = col.bins.categories
    if not allowed <= set(categories):
        return None
    excluded = sum(int(n) for c, n in zip(categories, col.counts, strict=False) if c not in allowed)
    return int(col.counts[-1]) + excluded


def profile_counts(expectation: SuiteExpectation, profile: Profile) -> Counts | None:
    """The exact counts of ``expectation`` from the day's profile, when it decides them."""
    from monitoring_assets.core.profile import CategoricalProfile, NumericProfile  # noqa: PLC0415  (step time)

    kwargs = expectation.kwargs
    col = profile.columns.get(expectation.column or "")
    if col is None or "row_condition" in kwargs:
        return None
    if expectation.type == "expect_column_values_to_not_be_null":
        return Counts(profile.n_rows, 0, col.null_count)
    outside: int | None = None
    if expectation.type == "expect_column_values_to_be_between" and isinstance(col, NumericProfile):
        outside = _outside_range(col, kwargs)
    elif expectation.type == "expect_column_values_to_be_in_set" and isinstance(col, CategoricalProfile):
        outside = _outside_set(col, kwargs)
    return None if outside is None else Counts(profile.n_rows, col.null_count, outside)


def profile_bound(expectation: SuiteExpectation, profile: Profile) -> Counts | None:
    """Counts whose ``unexpected`` is an upper bound from the day's histogram, for a numeric range
    the day's min/max do not settle (a generated range has its bounds in the reference's tail
    cells, so on a healthy day only those cells' few values are in doubt)."""
    from monitoring_assets.core.profile import NumericProfile  # noqa: PLC0415  (step time)

    kwargs = expectation.kwargs
    col = profile.columns.get(expectation.column or "")
    if expectation.type != "expect_column_values_to_be_between" or "row_condition" in kwargs:
        return None
    if not isinstance(col, NumericProfile):
        return None
    at_most = _outside_range_at_most(col, kwargs)
    return None if at_most is None else Counts(profile.n_rows, col.null_count, at_most)


def _passes_by_bound(expectation: SuiteExpectation, profile: Profile) -> Counts | None:
    bound = profile_bound(expectation, profile)
    return bound if bound is not None and mostly_success(bound, _mostly(expectation.kwargs)) else None


def answered_by_profile(expectation: SuiteExpectation, profile: Profile | None, row_count: int | None) -> bool:
    """Whether the day's profile (and its row count) settles ``expectation``, so Great
    Expectations need not read a row for it: the row count, and a count the profile decides
    exactly that passes, or a range whose histogram bound passes. A failing one is still
    validated on the rows, for the failing values kept for diagnosis (its count stays the
    profile's)."""
    if expectation.type == ROW_COUNT:
        return row_count is not None
    if profile is None:
        return False
    counts = profile_counts(expectation, profile)
    if counts is not None:
        return mostly_success(counts, _mostly(expectation.kwargs))
    return _passes_by_bound(expectation, profile) is not None


def _fmt_number(x: object) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return json.dumps(x, default=str)
    return f"{x:,}" if isinstance(x, int) or float(x).is_integer() else f"{x:.6g}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def expected_text(e: SuiteExpectation) -> str:
    """What the expectation asks for, in words (never listing category values)."""
    k = e.kwargs
    mostly = _mostly(k)
    share = f" for >= {_pct(mostly)} of values" if mostly < 1 else ""
    if e.type == "expect_column_values_to_not_be_null":
        return f"null rate <= {_pct(1 - mostly)}" if mostly < 1 else "no nulls"
    if e.type in ("expect_column_values_to_be_between", ROW_COUNT):
        low = "-inf" if k.get("min_value") is None else _fmt_number(k.get("min_value"))
        high = "inf" if k.get("max_value") is None else _fmt_number(k.get("max_value"))
        unit = " rows" if e.type == ROW_COUNT else ""
        return f"in [{low}, {high}]{unit}{share}"
    if e.type == "expect_column_values_to_be_in_set":
        n = len(k["value_set"]) if isinstance(k.get("value_set"), list) else "?"
        return f"one of {n} allowed values{share}"
    if e.type == "expect_column_values_to_be_in_type_list":
        types = k.get("type_list") or []
        family = "numeric" if "float64" in types else "string" if "str" in types else None
        return f"a {family} type" if family else f"one of {', '.join(map(str, types[:5]))}"
    if e.type == "expect_column_to_exist":
        return "present"
    rest = {
        key: (f"<{len(v)} values>" if isinstance(v, list) else v)
        for key, v in k.items()
        if key not in ("column", "batch_id")
    }
    text = json.dumps(rest, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _observed_counts(e: SuiteExpectation, counts: Counts, sampled: bool) -> str:
    what = _WHAT.get(e.type, "unexpected")
    share = counts.unexpected / counts.considered if counts.considered else 0.0
    approx = "~" if sampled else ""
    of = "sampled " if sampled else ""
    return f"{approx}{_pct(share)} {what} ({counts.unexpected:,} of {counts.considered:,} {of}values)"


@dataclass
class Tally:
    """Great Expectations' results of one expectation, accumulated over chunks."""

    expectation: SuiteExpectation
    source: str | None = None  # where its rows came from, when not the day's (SOURCE_SCHEMA)
    chunks: int = 0
    failures: int = 0
    counts: Counts | None = None
    observed: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, success: bool, result: Mapping[str, Any], error: str | None = None) -> None:
        self.chunks += 1
        self.failures += not success
        if error:
            if error not in self.errors:
                self.errors.append(error)
            return
        if "unexpected_count" in result and "element_count" in result:
            chunk = Counts(
                int(result["element_count"] or 0),
                int(result.get("missing_count") or 0),
                int(result["unexpected_count"] or 0),
            )
            prev = self.counts or Counts(0, 0, 0)
            self.counts = Counts(
                prev.element + chunk.element, prev.missing + chunk.missing, prev.unexpected + chunk.unexpected
            )
            for v in result.get("partial_unexpected_list") or []:
                if len(self.values) < PARTIAL_VALUES:
                    self.values.append(str(v))
        if "observed_value" in result:
            text = str(result["observed_value"])
            if text not in self.observed:
                self.observed.append(text)

    def _outcome(
        self, *, success: bool, observed: str, source: str, counts: Counts | None = None, error: str | None = None
    ) -> Outcome:
        e = self.expectation
        return Outcome(
            index=e.index,
            type=e.type,
            column=e.column,
            severity=e.severity,
            success=success,
            observed=observed,
            expected=expected_text(e),
            source=source,
            unexpected_count=counts.unexpected if counts is not None else None,
            considered_count=counts.considered if counts is not None else None,
            unexpected_values=tuple(self.values) if counts is not None else (),
            error=error,
        )

    def finish(
        self, *, exact: Counts | None, row_count: int | None, source: str, bound: Counts | None = None
    ) -> Outcome:
        """The day's outcome: exact profile counts first, then a passing histogram bound
        (``bound``: at most that many unexpected), then the merged chunk results."""
        e = self.expectation
        source = self.source or source
        if e.type == ROW_COUNT and row_count is not None:
            low, high = _number(e.kwargs.get("min_value")), _number(e.kwargs.get("max_value"))
            ok = (low is None or row_count >= low) and (high is None or row_count <= high)
            return self._outcome(success=ok, observed=f"{row_count:,} rows", source=SOURCE_PROFILE)
        if exact is not None:
            return self._outcome(
                success=mostly_success(exact, _mostly(e.kwargs)),
                observed=_observed_counts(e, exact, sampled=False),
                source=SOURCE_PROFILE,
                counts=exact,
            )
        if bound is not None and self.chunks == 0:
            share = bound.unexpected / bound.considered if bound.considered else 0.0
            return self._outcome(
                success=True,
                observed=f"at most {_pct(share)} {_WHAT.get(e.type, 'unexpected')} ({bound.unexpected:,} of "
                f"{bound.considered:,} values, bounded by the profile's histogram)",
                source=SOURCE_PROFILE,
            )
        if self.errors or self.chunks == 0:
            reason = self.errors[0] if self.errors else "not evaluated"
            observed = "missing" if e.type == "expect_column_to_exist" else f"error: {reason}"
            return self._outcome(success=False, observed=observed, source=source, error=reason)
        if self.counts is not None:
            return self._outcome(
                success=mostly_success(self.counts, _mostly(e.kwargs)),
                observed=_observed_counts(e, self.counts, source == SOURCE_SAMPLE),
                source=source,
                counts=self.counts,
            )
        if e.type == "expect_column_to_exist":
            observed = "present" if not self.failures else "missing"
        elif e.type == ROW_COUNT and len(self.observed) == 1 and self.observed[0].isdigit():
            observed = f"{int(self.observed[0]):,} rows"
        else:
            observed = ", ".join(self.observed) or ("passed" if not self.failures else "failed")
            if self.chunks > 1 and e.type not in SCHEMA_TYPES:
                observed += f" (must hold in each of {self.chunks} chunks)"
        return self._outcome(success=not self.failures, observed=observed, source=source)


def merge_day(
    day: dt.date,
    tallies: list[Tally],
    *,
    profile: Profile | None,
    row_count: int | None,
    source: str,
    validation: str,
    rows_validated: int | None,
) -> DayQuality:
    """Finish every tally of a day (exact profile counts where the profile decides them)."""
    outcomes = []
    for tally in tallies:
        exact = profile_counts(tally.expectation, profile) if profile is not None else None
        bound = _passes_by_bound(tally.expectation, profile) if profile is not None and exact is None else None
        outcomes.append(tally.finish(exact=exact, row_count=row_count, source=source, bound=bound))
    return DayQuality(day, tuple(outcomes), validation, rows_validated, source == SOURCE_SAMPLE)
