"""Profiles merge exactly: profile(A) merged with profile(B) is profile(A + B).

Property tests over random data (fixed seeds) that contain nulls (None), NaN, +-inf and values
outside the bin range, so every counter and the underflow / overflow cells are exercised. Counts
must agree exactly; mean and m2 (Chan's parallel formula vs a direct pass) to rel 1e-9: both are
sums of a few thousand O(1) terms, so their rounding differences are ~1e-15 relative and 1e-9 is
far above rounding yet far below any formula slip (a wrong weight or a missing cross term moves
them by > 1e-3).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from functools import reduce

import numpy as np
import pytest

from monitoring_assets.core.profile import (
    OTHER,
    CategoricalBins,
    CategoricalProfile,
    NumericBins,
    NumericProfile,
    Profile,
    ProfileLayout,
    empty_profile,
    merge_profiles,
    profile_from_values,
)
from monitoring_assets.errors import ProfileError

FLOAT_REL = 1e-9
SEEDS = [0, 1, 2, 3, 4, 5]
CATEGORIES = ("a", "b", "c")


def make_layout() -> ProfileLayout:
    # Bins fixed by a reference sample, as the warehouse does: the 0.1 % / 99.9 % quantiles.
    reference = np.random.default_rng(99).normal(0, 1, 5_000)
    lo, hi = np.quantile(reference, [0.001, 0.999])
    return ProfileLayout(
        numeric={"x": NumericBins.from_range(lo, hi, 200), "y": NumericBins.from_range(0.0, 10.0, 7)},
        categorical={"c": CategoricalBins(CATEGORIES)},
    )


LAYOUT = make_layout()


def raw_rows(rng: np.random.Generator, n: int) -> dict[str, object]:
    """Random columns; x is wider than its bins and holds None / NaN / +-inf."""
    x = rng.normal(0.3, 1.8, n).astype(object)  # wider than the reference: plenty of under/overflow
    kind = rng.choice(6, size=n, p=[0.75, 0.05, 0.05, 0.04, 0.04, 0.07])
    x[kind == 1] = None
    x[kind == 2] = math.nan
    x[kind == 3] = math.inf
    x[kind == 4] = -math.inf
    # far outside [lo, hi): must land in the underflow / overflow cells, and dominate m2
    x[kind == 5] = rng.choice([-1.0, 1.0], size=int((kind == 5).sum())) * rng.uniform(5, 50, int((kind == 5).sum()))
    y = rng.exponential(4.0, n) - 1.0  # about 22 % below lo = 0, 6 % above hi = 10
    y[rng.random(n) < 0.05] = math.nan
    c = rng.choice(["a", "b", "c", "d", "e"], size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1]).astype(object)
    c[rng.random(n) < 0.04] = None
    c[rng.random(n) < 0.02] = math.nan  # a float NaN in a categorical column is a null too
    version = rng.choice(["v1", "v2", "v3"], size=n, p=[0.6, 0.3, 0.1])
    return {"x": x, "y": y, "c": c, "version": version}


def take(rows: dict[str, object], sl: slice) -> dict[str, object]:
    return {k: v[sl] for k, v in rows.items()}  # type: ignore[index]


def profile_of(rows: dict[str, object]) -> Profile:
    versions = Counter(rows["version"].tolist())  # type: ignore[attr-defined]
    return profile_from_values(LAYOUT, {k: rows[k] for k in ("x", "y", "c")}, model_versions=versions)


def assert_same_profile(got: Profile, want: Profile) -> None:
    assert got.n_rows == want.n_rows
    assert dict(got.model_versions) == dict(want.model_versions)
    assert set(got.columns) == set(want.columns)
    for name, w in want.columns.items():
        g = got.columns[name]
        assert type(g) is type(w), name
        assert g.bins == w.bins, name
        if isinstance(w, NumericProfile):
            assert isinstance(g, NumericProfile)
            assert (g.count, g.null_count, g.nonfinite_count) == (w.count, w.null_count, w.nonfinite_count), name
            assert g.hist.dtype == np.int64
            np.testing.assert_array_equal(g.hist, w.hist, err_msg=name)
            if w.count == 0:
                assert all(math.isnan(v) for v in (g.mean, g.min, g.max)) and g.m2 == 0.0, name
            else:
                # min / max are a min / max of the same floats: exact, not just close
                assert (g.min, g.max) == (w.min, w.max), name
                assert g.mean == pytest.approx(w.mean, rel=FLOAT_REL), name
                assert g.m2 == pytest.approx(w.m2, rel=FLOAT_REL, abs=1e-12), name
        else:
            assert isinstance(g, CategoricalProfile) and isinstance(w, CategoricalProfile)
            assert g.counts.dtype == np.int64
            np.testing.assert_array_equal(g.counts, w.counts, err_msg=name)
            assert g.null_count == w.null_count, name


# --------------------------------------------------------------------------------------------------
# The numpy profile itself, against numpy on the raw values


@pytest.mark.parametrize("seed", SEEDS)
def test_numpy_profile_matches_raw_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = raw_rows(rng, 3_000)
    prof = profile_of(rows)
    assert prof.n_rows == 3_000
    assert dict(prof.model_versions) == dict(Counter(rows["version"].tolist()))
    for name in ("x", "y"):
        raw = rows[name]
        col = prof.columns[name]
        assert isinstance(col, NumericProfile)
        nones = sum(v is None for v in raw)
        xf = np.asarray(raw, dtype=np.float64)
        nonfinite = int((~np.isfinite(xf)).sum()) - nones  # NaN and +-inf that were not None
        fin = xf[np.isfinite(xf)]
        assert (col.count, col.null_count, col.nonfinite_count) == (fin.size, nones, nonfinite)
        assert col.n_rows == len(raw)
        assert col.mean == pytest.approx(np.mean(fin), rel=1e-12)
        assert col.variance == pytest.approx(np.var(fin), rel=1e-12)
        assert col.std == pytest.approx(np.std(fin), rel=1e-12)
        assert (col.min, col.max) == (fin.min(), fin.max())
        # The cell contract by hand: [lo + (k-1) w, lo + k w) is cell k, below lo cell 0, >= hi last.
        expected = np.bincount(np.searchsorted(col.bins.inner_edges(), fin, side="right"), minlength=col.bins.n_cells)
        np.testing.assert_array_equal(col.hist, expected)
        assert col.hist[0] > 0 and col.hist[-1] > 0  # under- and overflow really exercised
    assert prof.columns["x"].nonfinite_count > 0 and prof.columns["x"].null_count > 0
    cat = prof.columns["c"]
    assert isinstance(cat, CategoricalProfile)
    raw_c = rows["c"]
    present = Counter(v for v in raw_c if isinstance(v, str))
    assert cat.bins.labels() == (*CATEGORIES, OTHER)
    assert cat.counts.tolist() == [present["a"], present["b"], present["c"], present["d"] + present["e"]]
    assert cat.null_count == len(raw_c) - sum(present.values())


# --------------------------------------------------------------------------------------------------
# merge(profile(A), profile(B)) == profile(A + B)


@pytest.mark.parametrize("seed", SEEDS)
def test_merge_of_two_parts_equals_profile_of_whole(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4_000
    rows = raw_rows(rng, n)
    cut = int(rng.integers(1, n))
    a, b = profile_of(take(rows, slice(0, cut))), profile_of(take(rows, slice(cut, n)))
    whole = profile_of(rows)
    assert_same_profile(a.merge(b), whole)
    assert_same_profile(b.merge(a), whole)  # order does not matter


@pytest.mark.parametrize("cut", [0, 1, 3_999, 4_000])
def test_merge_with_edge_splits(cut: int) -> None:
    """Splits leaving one side empty or with a single row."""
    rows = raw_rows(np.random.default_rng(11), 4_000)
    a, b = profile_of(take(rows, slice(0, cut))), profile_of(take(rows, slice(cut, None)))
    assert_same_profile(a.merge(b), profile_of(rows))


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_merge_with_a_part_without_finite_values(seed: int) -> None:
    """Part A has rows but only None / NaN / +-inf in x: count 0, yet its null and non-finite rows count."""
    rng = np.random.default_rng(seed)
    part_a = raw_rows(rng, 500)
    part_a["x"] = np.array([None, math.nan, math.inf, -math.inf] * 125, dtype=object)
    part_b = raw_rows(rng, 1_500)
    whole = {k: np.concatenate([part_a[k], part_b[k]]) for k in part_a}
    a = profile_of(part_a)
    assert a.columns["x"].count == 0 and a.columns["x"].n_rows == 500
    assert_same_profile(a.merge(profile_of(part_b)), profile_of(whole))
    assert_same_profile(profile_of(part_b).merge(a), profile_of(whole))


@pytest.mark.parametrize("seed", SEEDS)
def test_merge_profiles_of_many_chunks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 6_000
    rows = raw_rows(rng, n)
    # 8 chunks of random sizes; repeated cut points make some chunks empty
    cuts = np.sort(np.concatenate([rng.integers(0, n, 6), np.repeat(rng.integers(0, n), 2)]))
    bounds = [0, *cuts.tolist(), n]
    chunks = [profile_of(take(rows, slice(lo, hi))) for lo, hi in itertools.pairwise(bounds)]
    assert any(c.n_rows == 0 for c in chunks)
    whole = profile_of(rows)
    assert_same_profile(merge_profiles(chunks), whole)
    assert_same_profile(merge_profiles(chunks[::-1]), whole)
    # a balanced tree of merges (how a week could be built from pairs of days) gives the same
    level = chunks
    while len(level) > 1:
        level = [reduce(Profile.merge, level[i : i + 2]) for i in range(0, len(level), 2)]
    assert_same_profile(level[0], whole)
    # and the merged moments are numpy's on the finite raw values
    xf = np.asarray(rows["x"], dtype=np.float64)
    xf = xf[np.isfinite(xf)]
    merged_x = merge_profiles(chunks).columns["x"]
    assert isinstance(merged_x, NumericProfile)
    assert merged_x.mean == pytest.approx(np.mean(xf), rel=FLOAT_REL)
    assert merged_x.variance == pytest.approx(np.var(xf), rel=FLOAT_REL)


def test_merge_profiles_needs_a_profile() -> None:
    with pytest.raises(ProfileError):
        merge_profiles([])


def test_merge_leaves_its_inputs_unchanged() -> None:
    rows = raw_rows(np.random.default_rng(12), 1_000)
    a, b = profile_of(take(rows, slice(0, 400))), profile_of(take(rows, slice(400, None)))
    a_hist, b_counts = a.columns["x"].hist.copy(), b.columns["c"].counts.copy()  # type: ignore[union-attr]
    a_versions = dict(a.model_versions)
    a.merge(b)
    np.testing.assert_array_equal(a.columns["x"].hist, a_hist)  # type: ignore[union-attr]
    np.testing.assert_array_equal(b.columns["c"].counts, b_counts)  # type: ignore[union-attr]
    assert dict(a.model_versions) == a_versions


# --------------------------------------------------------------------------------------------------
# empty_profile is the identity


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_empty_profile_is_the_identity_of_merge(seed: int) -> None:
    prof = profile_of(raw_rows(np.random.default_rng(seed), 2_000))
    empty = empty_profile(LAYOUT)
    assert empty.layout == LAYOUT
    assert empty.n_rows == 0 and dict(empty.model_versions) == {}
    assert_same_profile(empty.merge(prof), prof)
    assert_same_profile(prof.merge(empty), prof)
    assert_same_profile(empty.merge(empty), empty)
    assert_same_profile(empty, profile_of(take(raw_rows(np.random.default_rng(seed), 10), slice(0, 0))))


# --------------------------------------------------------------------------------------------------
# Mismatches are errors


def test_merge_rejects_different_numeric_bins() -> None:
    rows = raw_rows(np.random.default_rng(13), 200)
    prof = profile_of(rows)
    other_layout = ProfileLayout(
        numeric={"x": NumericBins(LAYOUT.numeric["x"].lo, LAYOUT.numeric["x"].hi, 201), "y": LAYOUT.numeric["y"]},
        categorical=LAYOUT.categorical,
    )
    other = profile_from_values(other_layout, {k: rows[k] for k in ("x", "y", "c")})
    with pytest.raises(ProfileError):
        prof.merge(other)
    with pytest.raises(ProfileError):
        prof.columns["x"].merge(other.columns["x"])  # type: ignore[arg-type]


def test_merge_rejects_different_categories() -> None:
    a = CategoricalProfile(CategoricalBins(("a", "b")), np.array([1, 2, 3]), 0)
    b = CategoricalProfile(CategoricalBins(("a", "c")), np.array([1, 2, 3]), 0)
    with pytest.raises(ProfileError):
        a.merge(b)


def test_merge_rejects_different_columns_or_kinds() -> None:
    rows = raw_rows(np.random.default_rng(14), 200)
    prof = profile_of(rows)
    fewer = profile_from_values(
        ProfileLayout(numeric={"x": LAYOUT.numeric["x"]}, categorical={"c": LAYOUT.categorical["c"]}),
        {"x": rows["x"], "c": rows["c"]},
    )
    with pytest.raises(ProfileError):
        prof.merge(fewer)
    swapped = profile_from_values(  # same names, but c numeric and y categorical
        ProfileLayout(
            numeric={"x": LAYOUT.numeric["x"], "c": LAYOUT.numeric["y"]}, categorical={"y": CategoricalBins(("1",))}
        ),
        {"x": rows["x"], "c": rows["y"], "y": rows["y"]},
    )
    with pytest.raises(ProfileError):
        prof.merge(swapped)


def test_profile_rejects_inconsistent_histograms() -> None:
    bins = NumericBins(0.0, 1.0, 4)
    with pytest.raises(ProfileError):
        NumericProfile(bins, 3, 0, 0, 0.0, 1.0, 0.5, 0.1, np.array([1, 1, 1, 0]))  # 5 cells needed
    with pytest.raises(ProfileError):
        NumericProfile(bins, 4, 0, 0, 0.0, 1.0, 0.5, 0.1, np.array([1, 1, 1, 0, 0]))  # holds 3, count 4
    with pytest.raises(ProfileError):
        CategoricalProfile(CategoricalBins(("a",)), np.array([1, 2, 3]), 0)


# --------------------------------------------------------------------------------------------------
# NumericBins.cell_of


def test_cell_of_on_exactly_representable_bins() -> None:
    bins = NumericBins(0.0, 8.0, 8)  # width 1: every boundary is exact
    values = [-1e300, -1.0, np.nextafter(0.0, -1.0), 0.0, 0.5, 1.0, 7.999, 8.0, np.nextafter(8.0, 9.0), 9.0, 1e300]
    assert bins.cell_of(values).tolist() == [0, 0, 0, 1, 1, 2, 8, 9, 9, 9, 9]
    assert bins.n_cells == 10


@pytest.mark.parametrize("seed", SEEDS)
def test_cell_of_underflow_overflow_and_inner_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lo, hi = np.quantile(rng.normal(rng.normal(0, 10), rng.uniform(0.1, 10), 2_000), [0.001, 0.999])
    bins = NumericBins.from_range(lo, hi, int(rng.integers(10, 2_000)))
    w = bins.width
    below = np.concatenate([[np.nextafter(lo, -np.inf), lo - w, -1e300], lo - rng.exponential(10 * w, 200)])
    assert (below < lo).all()
    assert (bins.cell_of(below) == 0).all()
    # At least 1e-6 of a cell above hi: a value within a few ulps of hi may round into the last inner
    # cell (see test_cell_of_exactly_at_hi below).
    above = np.concatenate([[hi + 1e-6 * w, hi + w, 1e300], hi + w * rng.uniform(1e-6, 1e3, 200)])
    assert (above >= hi).all()
    assert (bins.cell_of(above) == bins.n_bins + 1).all()
    inside = rng.uniform(lo, hi, 2_000)
    expected = np.searchsorted(bins.inner_edges(), inside, side="right")
    assert ((expected >= 1) & (expected <= bins.n_bins)).all()
    np.testing.assert_array_equal(bins.cell_of(inside), expected)


def test_cell_of_is_monotone_and_boundaries_land_in_an_adjacent_cell() -> None:
    # The formula floor((x - lo) / w) is the contract (shared with the SQL); at a boundary it may
    # round to the cell just below, never further, and it never reorders values.
    rng = np.random.default_rng(3)
    for _ in range(200):
        lo, width = rng.normal(), rng.uniform(0.01, 10)
        n = int(rng.integers(1, 500))
        bins = NumericBins(lo, lo + width, n)
        edges = bins.inner_edges()
        cells = bins.cell_of(edges)
        expected = np.arange(1, n + 2)  # edge k opens cell k + 1
        assert np.all((cells == expected) | (cells == expected - 1))
        x = np.sort(rng.uniform(lo - width, lo + 2 * width, 1000))
        assert np.all(np.diff(bins.cell_of(x)) >= 0)


def test_constant_column_gets_unit_range() -> None:
    bins = NumericBins.from_range(3.0, 3.0, 10)
    assert (bins.lo, bins.hi) == (3.0, 4.0)
    assert bins.cell_of([3.0]).tolist() == [1]
    with pytest.raises(ProfileError):
        NumericBins(1.0, 1.0, 10)
    with pytest.raises(ProfileError):
        NumericBins(0.0, 1.0, 0)
    with pytest.raises(ProfileError):
        NumericBins(0.0, math.inf, 10)
