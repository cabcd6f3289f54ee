"""Profiles: small, mergeable summaries of a set of rows.

A profile is what the warehouse returns instead of rows. Every field merges by addition
(min/max by min/max, mean/variance by Chan's parallel formula), so the profile of a 7-day window
is the merge of 7 daily profiles and never needs a rescan.

Binning contract (the same for every engine, fixed once by the reference):

* Numeric column: ``NumericBins(lo, hi, n_bins)``. ``lo`` and ``hi`` are the reference's
  0.1 % and 99.9 % quantiles of its finite values, so a few extreme values cannot squeeze all the
  mass into one cell. They equal ``np.quantile(finite, [0.001, 0.999])`` (numpy's default
  ``linear`` method) to the bit: the warehouse returns only the two order statistics each quantile
  interpolates (:class:`QuantileRanks`), never sorts a column, and Python interpolates. The
  histogram has
  ``n_bins + 2`` cells: cell 0 holds finite values ``x < lo`` (underflow), cell ``k`` in
  ``1..n_bins`` holds ``lo + (k-1)*w <= x < lo + k*w`` with ``w = (hi - lo) / n_bins``, and cell
  ``n_bins + 1`` holds ``x >= hi`` (overflow). The contract is the formula: the cell of ``x`` is
  ``1 + clamp(floor((x - lo) / w), -1, n_bins)`` in double precision, evaluated identically by
  numpy and by every SQL engine, so a value within rounding of a boundary (e.g. exactly ``hi``)
  may land in the cell just below it; the mapping is monotone in ``x``.
  Nulls and non-finite values (NaN, +-inf) are counted separately and never binned.
  Tail sums: ``tail_low_sum`` is the sum of the values in cell 0 and ``tail_high_sum`` the sum of
  the values in cell ``n_bins + 1`` (the same cell formula picks them, so a value is summed exactly
  when it is counted there). With the cell counts they give each tail's mean, and so the integral
  of the CDF over the tail (see :func:`monitoring_assets.core.drift.wasserstein`).
* Categorical column: ``CategoricalBins(categories)``: the reference's top K values by count
  (ties broken by value), compared as text. The counts vector has ``K + 1`` cells, the last one
  is ``other`` (any non-null value outside the top K). Nulls are counted separately.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from monitoring_assets.errors import ProfileError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

OTHER = "__other__"

# A probability column's fine score histogram is profiled as one more numeric column of the
# layout, named ``SCORE_CELLS + column`` (the spec reserves names starting with ``__``, and ``:`` is
# no identifier character, so it names no user column), binned on ``[0, 1)`` in ``n_bins``
# equal-width cells: ``score_cells_bins``. Its cell ``k`` in ``1..n_bins`` is the labeled
# performance's score cell ``k - 1`` (``monitoring_assets.core.performance.score_cells``) except
# within rounding of a cell edge (``x / w`` against ``x * n_bins``); cell 0 holds scores below 0
# and cell ``n_bins + 1`` scores of 1 and above. The estimate of performance without labels
# (``monitoring_assets.core.estimate``) reads it from stored daily profiles alone.
SCORE_CELLS = "__p:"
MAX_COLUMN_NAME = 63  # the warehouse's column_name width (resources/schema.py)


def score_cells_column(column: str) -> str | None:
    """The layout name of ``column``'s fine score histogram; None when the name would not fit
    the warehouse's ``column_name`` (a score column of more than 59 characters has none)."""
    name = SCORE_CELLS + column
    return name if len(name) <= MAX_COLUMN_NAME else None


def source_column(name: str) -> str:
    """The warehouse column a layout column reads: the score column of a fine score histogram,
    else the column itself."""
    return name[len(SCORE_CELLS) :] if name.startswith(SCORE_CELLS) else name


def is_score_cells(name: str) -> bool:
    return name.startswith(SCORE_CELLS)


@dataclass(frozen=True)
class NumericBins:
    """Equal-width cells over ``[lo, hi)`` plus an underflow and an overflow cell."""

    lo: float
    hi: float
    n_bins: int

    def __post_init__(self) -> None:
        if self.n_bins < 1:
            raise ProfileError(f"n_bins must be >= 1, got {self.n_bins}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.hi <= self.lo:
            raise ProfileError(f"bin range must be finite with lo < hi, got [{self.lo}, {self.hi})")

    @classmethod
    def from_range(cls, lo: float, hi: float, n_bins: int) -> NumericBins:
        """Bins over ``[lo, hi)``; a constant column (``hi == lo``) gets a unit-wide range."""
        if hi <= lo:
            hi = lo + 1.0
        return cls(float(lo), float(hi), int(n_bins))

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.n_bins

    @property
    def n_cells(self) -> int:
        return self.n_bins + 2

    def inner_edges(self) -> FloatArray:
        """The ``n_bins + 1`` finite cell boundaries ``lo, lo + w, ..., hi``."""
        return self.lo + self.width * np.arange(self.n_bins + 1, dtype=np.float64)

    def cell_of(self, values: npt.ArrayLike) -> IntArray:
        """Cell index of each finite value, exactly as the SQL computes it."""
        x = np.asarray(values, dtype=np.float64)
        k = np.floor((x - self.lo) / self.width)
        return (np.clip(k, -1, self.n_bins) + 1).astype(np.int64)


def score_cells_bins(n_bins: int) -> NumericBins:
    """The fine score histogram's bins: ``n_bins`` equal-width cells on ``[0, 1)``."""
    return NumericBins(0.0, 1.0, int(n_bins))


@dataclass(frozen=True)
class QuantileRanks:
    """The order statistics behind quantile ``q`` of ``n`` values, as numpy's ``linear`` method
    (the default of ``np.quantile``) takes them, and its interpolation between them.

    With the values sorted ascending, ``x[0] <= ... <= x[n-1]``, the quantile sits at position
    ``h = (n - 1) * q`` (double precision). It interpolates between ranks ``below = floor(h)`` and
    ``above = below + 1`` (both ``n - 1`` when ``h >= n - 1``) with weight ``gamma = h - below``,
    using numpy's two-sided formula (``a + (b - a) * gamma`` for ``gamma < 0.5``, else
    ``b - (b - a) * (1 - gamma)``), so :meth:`interpolate` of ``x[below]`` and ``x[above]``
    equals ``np.quantile(x, q)`` exactly. This is what lets a warehouse fix bin edges from two
    values per quantile (a bounded top-m or a ``percentile_disc``) instead of a holistic
    ``quantile_cont``: the answer is the same number.
    """

    n: int
    q: float

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ProfileError(f"a quantile needs at least one value, got n={self.n}")
        if not 0.0 <= self.q <= 1.0:
            raise ProfileError(f"quantile must be in [0, 1], got {self.q}")

    @property
    def position(self) -> float:
        return (self.n - 1) * float(self.q)

    @property
    def below(self) -> int:
        """0-based rank of the lower order statistic."""
        return min(math.floor(self.position), self.n - 1)

    @property
    def above(self) -> int:
        """0-based rank of the upper order statistic (``below`` at the top)."""
        return min(math.floor(self.position) + 1, self.n - 1)

    @property
    def gamma(self) -> float:
        return 0.0 if self.position >= self.n - 1 else self.position - math.floor(self.position)

    def interpolate(self, below_value: float, above_value: float) -> float:
        """The quantile from ``x[below]`` and ``x[above]``, in numpy's arithmetic."""
        a, b, t = float(below_value), float(above_value), self.gamma
        diff = b - a
        return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


@dataclass(frozen=True)
class CategoricalBins:
    """The reference's top-K categories; everything else is ``other``."""

    categories: tuple[str, ...]

    @property
    def n_cells(self) -> int:
        return len(self.categories) + 1

    def labels(self) -> tuple[str, ...]:
        return (*self.categories, OTHER)


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """Summary of one numeric column over a set of rows.

    ``count`` counts finite values only; ``mean``, ``m2`` (sum of squared deviations from the
    mean), ``min``, ``max`` and ``hist`` are over those finite values. With ``count == 0`` the
    float fields are NaN and ``m2`` is 0. ``tail_low_sum`` / ``tail_high_sum`` are the sums of
    the values counted in the underflow cell ``hist[0]`` / overflow cell ``hist[-1]`` (0.0 when
    the cell is empty); NaN means not known (a profile stored before the sums existed), and NaN
    survives a merge, so a window with one such day has unknown tails too.
    """

    bins: NumericBins
    count: int
    null_count: int
    nonfinite_count: int
    min: float
    max: float
    mean: float
    m2: float
    hist: IntArray = field(repr=False)
    tail_low_sum: float = math.nan
    tail_high_sum: float = math.nan

    def __post_init__(self) -> None:
        hist = np.asarray(self.hist, dtype=np.int64)
        if hist.shape != (self.bins.n_cells,):
            raise ProfileError(f"histogram has {hist.shape} cells, bins need {self.bins.n_cells}")
        if int(hist.sum()) != self.count:
            raise ProfileError(f"histogram holds {int(hist.sum())} values but count is {self.count}")
        object.__setattr__(self, "hist", hist)

    @property
    def variance(self) -> float:
        """Population variance (divides by ``count``); NaN when empty."""
        return self.m2 / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.count else math.nan

    @property
    def n_rows(self) -> int:
        return self.count + self.null_count + self.nonfinite_count

    @property
    def has_tail_sums(self) -> bool:
        return math.isfinite(self.tail_low_sum) and math.isfinite(self.tail_high_sum)

    def merge(self, other: NumericProfile) -> NumericProfile:
        if other.bins != self.bins:
            raise ProfileError(f"cannot merge numeric profiles with bins {self.bins} and {other.bins}")
        n = self.count + other.count
        if self.count == 0 or other.count == 0:
            src = other if self.count == 0 else self
            mean, m2, lo, hi = src.mean, src.m2, src.min, src.max
        else:
            # Chan et al. (1979): exact merge of mean and sum of squared deviations.
            delta = other.mean - self.mean
            mean = self.mean + delta * other.count / n
            m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
            lo, hi = min(self.min, other.min), max(self.max, other.max)
        return NumericProfile(
            bins=self.bins,
            count=n,
            null_count=self.null_count + other.null_count,
            nonfinite_count=self.nonfinite_count + other.nonfinite_count,
            min=lo,
            max=hi,
            mean=mean,
            m2=m2,
            hist=self.hist + other.hist,
            tail_low_sum=self.tail_low_sum + other.tail_low_sum,
            tail_high_sum=self.tail_high_sum + other.tail_high_sum,
        )


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """Counts of one categorical column over the reference's top-K categories plus ``other``."""

    bins: CategoricalBins
    counts: IntArray = field(repr=False)
    null_count: int

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.shape != (self.bins.n_cells,):
            raise ProfileError(f"counts have {counts.shape} cells, categories need {self.bins.n_cells}")
        object.__setattr__(self, "counts", counts)

    @property
    def count(self) -> int:
        """Non-null values."""
        return int(self.counts.sum())

    @property
    def n_rows(self) -> int:
        return self.count + self.null_count

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        if other.bins != self.bins:
            raise ProfileError("cannot merge categorical profiles over different category lists")
        return CategoricalProfile(self.bins, self.counts + other.counts, self.null_count + other.null_count)


ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class ProfileLayout:
    """The bins of every profiled column, fixed by the reference so all days are comparable."""

    numeric: Mapping[str, NumericBins]
    categorical: Mapping[str, CategoricalBins]


@dataclass(frozen=True, eq=False)
class Profile:
    """Profile of a set of rows: one entry per profiled column.

    ``model_versions`` counts rows per model version (empty when the spec names no version
    column); it merges by addition like everything else.
    """

    n_rows: int
    columns: Mapping[str, ColumnProfile]
    model_versions: Mapping[str, int] = field(default_factory=dict)

    @property
    def layout(self) -> ProfileLayout:
        return ProfileLayout(
            numeric={k: c.bins for k, c in self.columns.items() if isinstance(c, NumericProfile)},
            categorical={k: c.bins for k, c in self.columns.items() if isinstance(c, CategoricalProfile)},
        )

    def merge(self, other: Profile) -> Profile:
        if set(self.columns) != set(other.columns):
            raise ProfileError(
                f"cannot merge profiles of different columns: {sorted(set(self.columns) ^ set(other.columns))}"
            )
        columns: dict[str, ColumnProfile] = {}
        for name, mine in self.columns.items():
            theirs = other.columns[name]
            if type(mine) is not type(theirs):
                raise ProfileError(f"column {name!r} is numeric in one profile and categorical in the other")
            columns[name] = mine.merge(theirs)  # type: ignore[arg-type]  # same type, checked above
        versions = dict(self.model_versions)
        for version, n in other.model_versions.items():
            versions[version] = versions.get(version, 0) + n
        return Profile(self.n_rows + other.n_rows, columns, versions)


def merge_profiles(profiles: list[Profile]) -> Profile:
    """Merge a non-empty list of profiles (e.g. 7 daily profiles into a weekly one)."""
    if not profiles:
        raise ProfileError("merge_profiles needs at least one profile")
    merged = profiles[0]
    for p in profiles[1:]:
        merged = merged.merge(p)
    return merged


def empty_profile(layout: ProfileLayout) -> Profile:
    """The profile of zero rows under ``layout`` (the identity of ``merge``)."""
    columns: dict[str, ColumnProfile] = {}
    for name, nb in layout.numeric.items():
        columns[name] = NumericProfile(
            nb, 0, 0, 0, math.nan, math.nan, math.nan, 0.0, np.zeros(nb.n_cells, dtype=np.int64), 0.0, 0.0
        )
    for name, cb in layout.categorical.items():
        columns[name] = CategoricalProfile(cb, np.zeros(cb.n_cells, dtype=np.int64), 0)
    return Profile(0, columns)


def profile_from_values(
    layout: ProfileLayout, data: Mapping[str, npt.ArrayLike], model_versions: Mapping[str, int] | None = None
) -> Profile:
    """Profile in-memory columns with numpy.

    This is the in-Python twin of the warehouse SQL, used by tests and for tiny data; production
    profiles always come from the warehouse.
    """
    columns: dict[str, ColumnProfile] = {}
    n_rows = None
    for name, nb in layout.numeric.items():
        x = np.asarray(data[name], dtype=np.float64)
        n_rows = len(x)
        null = np.isnan(x) & ~_is_nan_value(data[name])
        finite = np.isfinite(x)
        xf = x[finite]
        count = int(finite.sum())
        cells = nb.cell_of(xf)
        hist = np.bincount(cells, minlength=nb.n_cells).astype(np.int64)
        columns[name] = NumericProfile(
            bins=nb,
            count=count,
            null_count=int(null.sum()),
            nonfinite_count=int((~finite & ~null).sum()),
            min=float(xf.min()) if count else math.nan,
            max=float(xf.max()) if count else math.nan,
            mean=float(xf.mean()) if count else math.nan,
            m2=float(((xf - xf.mean()) ** 2).sum()) if count else 0.0,
            hist=hist,
            tail_low_sum=float(xf[cells == 0].sum()),
            tail_high_sum=float(xf[cells == nb.n_bins + 1].sum()),
        )
    for name, cb in layout.categorical.items():
        values = np.asarray(data[name], dtype=object).tolist()
        n_rows = len(values)
        index = {c: i for i, c in enumerate(cb.categories)}
        counts = np.zeros(cb.n_cells, dtype=np.int64)
        nulls = 0
        for v in values:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                nulls += 1
            else:
                counts[index.get(str(v), len(cb.categories))] += 1
        columns[name] = CategoricalProfile(cb, counts, nulls)
    return Profile(n_rows or 0, columns, dict(model_versions or {}))


def _is_nan_value(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where the input holds a real NaN float rather than a missing value (None / pd.NA).

    SQL keeps NULL and NaN apart; numpy folds both into NaN, so tell them apart before casting.
    """
    arr = np.asarray(values, dtype=object)
    return np.array([isinstance(v, float) and math.isnan(v) for v in arr], dtype=bool)
