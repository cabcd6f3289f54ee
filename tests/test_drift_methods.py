"""Drift statistics checked against independent references computed on the RAW samples.

Every expected value below comes from scipy / numpy applied to the raw rows (binned by hand where the
method is defined on bins), never from an earlier output of our own code and never from a golden
number. Profiles are built the way the warehouse builds them: numeric bins over the reference's
0.1 % / 99.9 % quantiles with 1000 cells, categorical bins over a fixed top-K list.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial import distance

from monitoring_assets.core import drift
from monitoring_assets.core.drift import DRIFT_METHODS, coarse_starts
from monitoring_assets.core.evaluate import ColumnRule, evaluate_drift, evaluate_feature, is_drift
from monitoring_assets.core.profile import (
    CategoricalBins,
    CategoricalProfile,
    ColumnProfile,
    NumericBins,
    NumericProfile,
    Profile,
    ProfileLayout,
    profile_from_values,
)
from monitoring_assets.core.thresholds import CalibratedThreshold, ConstantThreshold
from monitoring_assets.errors import ProfileError

N_REF = 20_000
N_CUR = 15_000  # deliberately != N_REF: catches a proportion normalised by the wrong total
N_BINS = 1000
EPS = 1e-4  # drift.py's documented empty-cell replacement (checked against drift.EPSILON below)
CATEGORIES = ("a", "b", "c")  # the reference's top K; every other non-null value is OTHER

# Float tolerance for statistics that are the same closed formula evaluated on the same counts:
# only summation order differs, so the disagreement is a few ulps of values <= ~10.
FORMULA_REL = 1e-12
FORMULA_ABS = 1e-12

Sampler = Callable[[np.random.Generator, int], np.ndarray]


# --------------------------------------------------------------------------------------------------
# Building profiles and hand-binning raw samples


def finite(raw: Sequence[object] | np.ndarray) -> np.ndarray:
    """The finite float values of a raw numeric column (None / NaN / +-inf dropped)."""
    x = np.asarray(raw, dtype=np.float64)
    return x[np.isfinite(x)]


def numeric_layout(raw_ref: np.ndarray, n_bins: int = N_BINS) -> ProfileLayout:
    lo, hi = np.quantile(finite(raw_ref), [0.001, 0.999])  # the warehouse's edges equal this to the bit
    return ProfileLayout(numeric={"x": NumericBins.from_range(lo, hi, n_bins)}, categorical={})


def numeric_profiles(raw_ref: np.ndarray, raw_cur: np.ndarray) -> tuple[NumericProfile, NumericProfile]:
    layout = numeric_layout(raw_ref)
    ref = profile_from_values(layout, {"x": raw_ref}).columns["x"]
    cur = profile_from_values(layout, {"x": raw_cur}).columns["x"]
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    return ref, cur


CAT_LAYOUT = ProfileLayout(numeric={}, categorical={"c": CategoricalBins(CATEGORIES)})


def categorical_profiles(raw_ref: list[object], raw_cur: list[object]) -> tuple[CategoricalProfile, ...]:
    ref = profile_from_values(CAT_LAYOUT, {"c": raw_ref}).columns["c"]
    cur = profile_from_values(CAT_LAYOUT, {"c": raw_cur}).columns["c"]
    assert isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)
    return ref, cur


def coarse_edges(reference: NumericProfile) -> np.ndarray:
    """Value boundaries of the coarse groups, from -inf to +inf, to bin raw values by hand."""
    starts = coarse_starts(reference)
    inner = reference.bins.lo + reference.bins.width * (starts[1:] - 1).astype(np.float64)
    return np.concatenate([[-np.inf], inner, [np.inf]])


def hand_bin_numeric(raw: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of the finite raw values in the cells ``[edges[i], edges[i+1])``."""
    group = np.searchsorted(edges, finite(raw), side="right") - 1
    return np.bincount(group, minlength=len(edges) - 1)


def hand_count_categorical(raw: list[object]) -> np.ndarray:
    """Counts over CATEGORIES + other, nulls (None / float NaN) excluded."""
    tally = Counter(v for v in raw if v is not None and not (isinstance(v, float) and math.isnan(v)))
    in_top = [tally[c] for c in CATEGORIES]
    return np.array([*in_top, sum(tally.values()) - sum(in_top)], dtype=np.int64)


def sprinkle_missing(x: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Object array with ``share`` of the entries replaced by None, NaN, +inf or -inf."""
    out = x.astype(object)
    hit = rng.random(len(out)) < share
    out[hit] = rng.choice(np.array([None, math.nan, math.inf, -math.inf], dtype=object), size=int(hit.sum()))
    return out


def categorical_sample(rng: np.random.Generator, n: int, probs: dict[str, float], null_share: float = 0.02) -> list:
    values = rng.choice(list(probs), size=n, p=list(probs.values())).tolist()
    for i in np.flatnonzero(rng.random(n) < null_share):
        values[i] = None if i % 2 else math.nan  # both spellings of a missing category
    return values


# --------------------------------------------------------------------------------------------------
# Scenarios (raw samples, fixed seeds)


@dataclass(frozen=True)
class NumericScenario:
    ref: Sampler
    cur: Sampler
    continuous: bool = True  # False: heavy ties (point masses), see the wasserstein test
    missing_share: float = 0.0  # share of None / NaN / +-inf sprinkled into both samples


NUMERIC_SCENARIOS: dict[str, NumericScenario] = {
    "normal-same": NumericScenario(lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0, 1, n)),
    "normal-shift-0.3": NumericScenario(lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0.3, 1, n)),
    "normal-shift-1": NumericScenario(lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(1, 1, n)),
    "normal-scale-1.5": NumericScenario(lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0, 1.5, n)),
    "lognormal": NumericScenario(lambda g, n: g.lognormal(0, 1, n), lambda g, n: g.lognormal(0.2, 1.1, n)),
    "exponential": NumericScenario(lambda g, n: g.exponential(1, n), lambda g, n: g.exponential(1.3, n)),
    "uniform-overlap": NumericScenario(lambda g, n: g.uniform(0, 1, n), lambda g, n: g.uniform(0.1, 1.2, n)),
    "poisson-ties": NumericScenario(
        lambda g, n: g.poisson(5, n).astype(float), lambda g, n: g.poisson(6, n).astype(float), continuous=False
    ),
    "with-null-nan-inf": NumericScenario(
        lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0.2, 1.1, n), missing_share=0.03
    ),
}


@dataclass(frozen=True)
class NumericCase:
    raw_ref: np.ndarray
    raw_cur: np.ndarray
    ref: NumericProfile
    cur: NumericProfile


@functools.cache
def numeric_case(name: str) -> NumericCase:
    scenario = NUMERIC_SCENARIOS[name]
    rng = np.random.default_rng(sorted(NUMERIC_SCENARIOS).index(name) + 100)
    raw_ref, raw_cur = scenario.ref(rng, N_REF), scenario.cur(rng, N_CUR)
    if scenario.missing_share:
        raw_ref = sprinkle_missing(raw_ref, rng, scenario.missing_share)
        raw_cur = sprinkle_missing(raw_cur, rng, scenario.missing_share)
    ref, cur = numeric_profiles(raw_ref, raw_cur)
    return NumericCase(raw_ref, raw_cur, ref, cur)


BASE_PROBS = {"a": 0.35, "b": 0.25, "c": 0.2, "d": 0.12, "e": 0.08}  # d, e fall into OTHER

CATEGORICAL_SCENARIOS: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "same": (BASE_PROBS, BASE_PROBS),
    "mild": (BASE_PROBS, {"a": 0.33, "b": 0.26, "c": 0.21, "d": 0.12, "e": 0.08}),
    "strong": (BASE_PROBS, {"a": 0.1, "b": 0.15, "c": 0.25, "d": 0.2, "e": 0.3}),
    # current never shows "b": exercises the EPSILON replacement of psi / kl_divergence
    "empty-cell": (BASE_PROBS, {"a": 0.45, "b": 0.0, "c": 0.3, "d": 0.15, "e": 0.1}),
    # neither side shows "c": an all-zero column that chisquare must drop
    "zero-column": ({"a": 0.5, "b": 0.3, "c": 0.0, "d": 0.2}, {"a": 0.4, "b": 0.35, "c": 0.0, "d": 0.25}),
    # a category the reference never saw: it lands in OTHER
    "unseen": (BASE_PROBS, {"a": 0.3, "b": 0.25, "c": 0.2, "d": 0.1, "e": 0.05, "zz": 0.1}),
}


@dataclass(frozen=True)
class CategoricalCase:
    raw_ref: list
    raw_cur: list
    ref: CategoricalProfile
    cur: CategoricalProfile


@functools.cache
def categorical_case(name: str) -> CategoricalCase:
    ref_probs, cur_probs = CATEGORICAL_SCENARIOS[name]
    rng = np.random.default_rng(sorted(CATEGORICAL_SCENARIOS).index(name) + 200)
    raw_ref, raw_cur = categorical_sample(rng, N_REF, ref_probs), categorical_sample(rng, N_CUR, cur_probs)
    ref, cur = categorical_profiles(raw_ref, raw_cur)
    return CategoricalCase(raw_ref, raw_cur, ref, cur)


def test_documented_constants() -> None:
    assert drift.EPSILON == EPS
    assert drift.COARSE_BINS == 10


# --------------------------------------------------------------------------------------------------
# Distribution methods: hand formulas / scipy on hand-binned raw samples


def check_distribution_methods(ref: ColumnProfile, cur: ColumnProfile, r: np.ndarray, c: np.ndarray) -> None:
    """Compare psi, kl, js, hellinger, linf on the profiles with references on the counts r, c."""
    p, q = r / r.sum(), c / c.sum()
    pf, qf = np.where(p == 0, EPS, p), np.where(q == 0, EPS, q)  # no renormalisation, as documented
    expected = {
        "jensenshannon": distance.jensenshannon(r, c, base=2),
        "psi": float(np.sum((qf - pf) * np.log(qf / pf))),
        "kl_divergence": float(special.rel_entr(pf, qf).sum()),
        "hellinger": float(np.sqrt(0.5) * np.linalg.norm(np.sqrt(p) - np.sqrt(q))),
        "linf": float(np.max(np.abs(p - q))),
    }
    if (r > 0).all() and (c > 0).all():
        # Nothing floored: KL is then the textbook one and scipy.stats.entropy applies directly.
        assert expected["kl_divergence"] == pytest.approx(stats.entropy(r, c), rel=FORMULA_REL, abs=FORMULA_ABS)
    for name, want in expected.items():
        got = DRIFT_METHODS[name].compute(ref, cur)
        assert got == pytest.approx(want, rel=FORMULA_REL, abs=FORMULA_ABS), name


@pytest.mark.parametrize("name", list(NUMERIC_SCENARIOS))
def test_distribution_methods_numeric_match_hand_binned_raw(name: str) -> None:
    case = numeric_case(name)
    edges = coarse_edges(case.ref)
    r, c = hand_bin_numeric(case.raw_ref, edges), hand_bin_numeric(case.raw_cur, edges)
    assert r.sum() == finite(case.raw_ref).size and c.sum() == finite(case.raw_cur).size
    assert r.sum() == case.ref.count and c.sum() == case.cur.count
    check_distribution_methods(case.ref, case.cur, r, c)


@pytest.mark.parametrize("name", list(NUMERIC_SCENARIOS))
def test_coarse_groups_are_reference_deciles(name: str) -> None:
    """Each coarse cut is where the raw reference CDF first reaches some k/10 (at fine-cell resolution):
    the share of raw reference values below the cut is >= k/10 and exceeds it by less than the one
    fine cell that crossed k/10."""
    case = numeric_case(name)
    ref_f = finite(case.raw_ref)
    cuts = coarse_edges(case.ref)[1:-1]
    below = np.array([np.mean(ref_f < e) for e in cuts])
    max_cell = (case.ref.hist / case.ref.count).max()
    deciles = np.arange(1, 10) / 10
    # every decile is closed by some cut, and every cut closes some decile
    closes = (below[:, None] >= deciles[None, :] - 1e-12) & (below[:, None] - deciles[None, :] < max_cell)
    assert closes.any(axis=0).all()
    assert closes.any(axis=1).all()
    assert np.all(np.diff(cuts) > 0)
    if NUMERIC_SCENARIOS[name].continuous:
        assert len(cuts) == 9  # no point masses: nothing collapses
    else:
        assert 1 <= len(cuts) < 9  # point masses spanning several deciles collapse groups


@pytest.mark.parametrize("name", list(CATEGORICAL_SCENARIOS))
def test_distribution_methods_categorical_match_hand_counted_raw(name: str) -> None:
    case = categorical_case(name)
    r, c = hand_count_categorical(case.raw_ref), hand_count_categorical(case.raw_cur)
    if name == "empty-cell":
        assert (c == 0).any()  # the epsilon path is really exercised
    check_distribution_methods(case.ref, case.cur, r, c)


@pytest.mark.parametrize("name", list(CATEGORICAL_SCENARIOS))
def test_chisquare_matches_scipy_contingency_on_raw(name: str) -> None:
    case = categorical_case(name)
    table = np.vstack([hand_count_categorical(case.raw_ref), hand_count_categorical(case.raw_cur)])
    table = table[:, table.sum(axis=0) > 0]
    if name == "zero-column":
        assert table.shape[1] < len(CATEGORIES) + 1  # an empty column was really dropped
    want = stats.chi2_contingency(table, correction=False).pvalue
    assert drift.chisquare(case.ref, case.cur) == pytest.approx(want, rel=FORMULA_REL, abs=FORMULA_ABS)


def test_chisquare_on_two_cells_has_no_yates_correction() -> None:
    """A 2 x 2 table is where scipy would apply Yates' correction by default; the documented test has none."""
    rng = np.random.default_rng(8)
    raw_ref = rng.choice(["a", "b"], size=400, p=[0.5, 0.5]).tolist()
    raw_cur = rng.choice(["a", "b"], size=300, p=[0.43, 0.57]).tolist()
    layout = ProfileLayout(numeric={}, categorical={"c": CategoricalBins(("a",))})  # cells: a, OTHER
    ref = profile_from_values(layout, {"c": raw_ref}).columns["c"]
    cur = profile_from_values(layout, {"c": raw_cur}).columns["c"]
    table = np.array([[raw_ref.count("a"), raw_ref.count("b")], [raw_cur.count("a"), raw_cur.count("b")]])
    want = stats.chi2_contingency(table, correction=False).pvalue
    assert abs(want - stats.chi2_contingency(table, correction=True).pvalue) > 1e-3  # the case can tell
    assert drift.chisquare(ref, cur) == pytest.approx(want, rel=FORMULA_REL, abs=FORMULA_ABS)


def test_chisquare_pvalue_is_calibrated_under_the_null() -> None:
    """Under H0 the p-value is uniform, so the false-alarm rate at 0.05 must be about 5 %.

    400 replicates: the count of alarms is Binomial(400, 0.05) (mean 20, sd 4.4); [5, 40] is
    more than 3.4 sd either side, so a calibrated test fails this with probability < 1e-3, while
    a p-value computed with the wrong degrees of freedom or on proportions instead of counts fails it.
    """
    rng = np.random.default_rng(7)
    bins = CategoricalBins(CATEGORIES)
    probs = [0.35, 0.25, 0.2, 0.2]
    alarms = 0
    for _ in range(400):
        ref = CategoricalProfile(bins, rng.multinomial(3000, probs), 0)
        cur = CategoricalProfile(bins, rng.multinomial(2000, probs), 0)
        alarms += is_drift("chisquare", drift.chisquare(ref, cur), 0.05)
    assert 5 <= alarms <= 40


# --------------------------------------------------------------------------------------------------
# Distance-on-the-line methods: scipy on the raw rows


@pytest.mark.parametrize("name", list(NUMERIC_SCENARIOS))
def test_ks_matches_scipy_on_raw_within_one_cell(name: str) -> None:
    case = numeric_case(name)
    exact = stats.ks_2samp(finite(case.raw_ref), finite(case.raw_cur)).statistic
    binned = drift.ks(case.ref, case.cur)
    # The binned statistic is |F_ref - F_cur| taken at the cell boundaries only (as left limits), a
    # subset of where the exact sup looks: it can never exceed the exact value. Between two
    # boundaries each empirical CDF rises by at most its proportion in that cell, so the exact sup
    # exceeds the boundary max by at most the largest single-cell proportion of either sample.
    max_cell = max((case.ref.hist / case.ref.count).max(), (case.cur.hist / case.cur.count).max())
    assert binned <= exact + 1e-12
    assert exact - binned <= max_cell


def test_ks_is_exact_when_each_cell_holds_one_distinct_value() -> None:
    """Integer data: if every fine cell holds at most one distinct value, both empirical CDFs are
    constant between a cell's left boundary and its value and between its value and its right
    boundary: the sup is attained at a boundary and the binned statistic equals the exact one."""
    rng = np.random.default_rng(3)
    raw_ref = rng.integers(0, 30, N_REF).astype(float)
    raw_cur = rng.integers(4, 30, N_CUR).astype(float)
    ref, cur = numeric_profiles(raw_ref, raw_cur)
    both = np.concatenate([raw_ref, raw_cur])
    distinct = np.unique(both)
    assert np.bincount(ref.bins.cell_of(distinct)).max() == 1  # the precondition really holds
    exact = stats.ks_2samp(raw_ref, raw_cur).statistic
    assert exact > 0.1  # a non-trivial value
    assert drift.ks(ref, cur) == pytest.approx(exact, abs=1e-12)


# Practical tolerance. Inner fine cells are ~6 sd / 1000 wide and hold ~20 rows each. Inside a
# cell the empirical CDF wanders around its chord like a Brownian bridge of height ~sqrt(m) / n
# with a random sign, so the per-cell errors of the uniform-within-cell integral mostly cancel:
# their sum is ~sqrt(1000) * w * sqrt(20) / 20000 ~ 1e-4 reference sds (observed 1e-5..5e-5).
# 2e-3 leaves >10x margin, yet is ~10x below the rigorous bound (~1.5e-2) and below w / sd
# (~6e-3), the most that misplacing one CDF by one cell can move the result. It holds for
# continuous data only: a point mass is the worst case of "uniform within a cell".
WASSERSTEIN_PRACTICAL_TOL = 2e-3


@pytest.mark.parametrize("name", list(NUMERIC_SCENARIOS))
def test_wasserstein_matches_scipy_on_raw(name: str) -> None:
    case = numeric_case(name)
    ref_f, cur_f = finite(case.raw_ref), finite(case.raw_cur)
    exact = stats.wasserstein_distance(ref_f, cur_f) / np.std(ref_f)  # population std (ddof=0)
    got = drift.wasserstein(case.ref, case.cur)

    inner = case.ref.bins.inner_edges()
    bounds = np.concatenate(
        [[min(ref_f.min(), cur_f.min(), inner[0])], inner, [max(ref_f.max(), cur_f.max(), inner[-1])]]
    )
    # Rigorous bound: inside cell i the exact CDF and its linear interpolant both stay between the
    # CDF's values at the cell boundaries, so they differ by at most the cell's mass p_i; hence
    # |D_exact - D_lin| <= p_ref_i + p_cur_i there, and integrating over the cell (outside
    # [min, max] both differences are 0) gives sum_i width_i * (p_ref_i + p_cur_i).
    per_cell = np.diff(bounds) * (case.ref.hist / case.ref.count + case.cur.hist / case.cur.count) / np.std(ref_f)
    error = abs(got - exact)
    assert error <= per_cell.sum()
    if NUMERIC_SCENARIOS[name].continuous:
        # The underflow / overflow cells stretch from lo / hi to the observed extremes and their
        # mass piles up near lo / hi (tails), so "uniform inside" is genuinely wrong there: for those
        # two cells only the rigorous term applies; the inner cells must meet the practical tolerance.
        outer = per_cell[0] + per_cell[-1]
        assert error <= WASSERSTEIN_PRACTICAL_TOL + outer


def test_wasserstein_inner_cells_alone_meet_practical_tolerance() -> None:
    """When the current sample stays inside the reference range (no outer mass on either side),
    the whole error must be within the practical tolerance, with no allowance for outer cells."""
    rng = np.random.default_rng(5)
    raw_ref = rng.uniform(0, 1, N_REF)
    raw_cur = rng.uniform(0.2, 0.9, N_CUR)
    ref, cur = numeric_profiles(raw_ref, raw_cur)
    assert cur.hist[0] == 0 and cur.hist[-1] == 0
    exact = stats.wasserstein_distance(raw_ref, raw_cur) / np.std(raw_ref)
    assert abs(drift.wasserstein(ref, cur) - exact) <= WASSERSTEIN_PRACTICAL_TOL


EVEN_A = [5_000, 10_000, 40_000, 10_000, 35_000, 0]  # underflow, four unit cells, overflow
EVEN_B = [0, 30_000, 10_000, 35_000, 10_000, 15_000]


@pytest.mark.parametrize(("ref_counts", "cur_counts"), [(EVEN_A, EVEN_B), (EVEN_B, EVEN_A)], ids=["a-b", "b-a"])
def test_wasserstein_is_exact_for_values_spread_evenly_within_cells(
    ref_counts: list[int], cur_counts: list[int]
) -> None:
    """With values spread evenly inside each cell, "uniform within a cell" is (almost) true, so the
    piecewise-linear integral must match scipy on the raw rows up to the staircase error alone.

    Cells: underflow [-2, 0), four unit cells, overflow [4, 7]. Only one sample has underflow and
    only the other has overflow, so the outer cells must be closed at the min / max observed over
    *both* samples. F_ref - F_cur changes sign inside four cells, where the integral of |D| is not a
    trapezoid. Staircase bound: k points at a + j * (width / k) (right-aligned in the overflow,
    which ends at 7) differ from the linear CDF of the cell by at most its mass / k = 1 / n, so the
    error is at most sum_i width_i * (1 / n_ref + 1 / n_cur), divided by the reference std.
    """
    starts, widths = [-2.0, 0.0, 1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 1.0, 1.0, 1.0, 3.0]

    def spread(counts: list[int]) -> np.ndarray:
        parts = [a + w * np.arange(k) / k for a, w, k in zip(starts[:-1], widths[:-1], counts[:-1], strict=True)]
        parts.append(starts[-1] + widths[-1] * np.arange(1, counts[-1] + 1) / counts[-1])
        return np.concatenate(parts)

    raw_ref, raw_cur = spread(ref_counts), spread(cur_counts)
    layout = ProfileLayout(numeric={"x": NumericBins(0.0, 4.0, 4)}, categorical={})
    ref = profile_from_values(layout, {"x": raw_ref}).columns["x"]
    cur = profile_from_values(layout, {"x": raw_cur}).columns["x"]
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    assert ref.hist.tolist() == ref_counts and cur.hist.tolist() == cur_counts
    assert min(ref.min, cur.min) == -2.0 and max(ref.max, cur.max) == 7.0
    d = np.cumsum(ref_counts) / sum(ref_counts) - np.cumsum(cur_counts) / sum(cur_counts)
    assert (np.sign(d[:-2]) != np.sign(d[1:-1])).sum() == 4  # sign changes inside four inner cells
    exact = stats.wasserstein_distance(raw_ref, raw_cur) / np.std(raw_ref)
    staircase = sum(widths) * (1 / raw_ref.size + 1 / raw_cur.size) / np.std(raw_ref)
    assert abs(drift.wasserstein(ref, cur) - exact) <= staircase


# --------------------------------------------------------------------------------------------------
# Contract suite over every registered method


CONTRACT_CASES = [
    pytest.param(name, kind, id=f"{name}-{kind}")
    for name, method in DRIFT_METHODS.items()
    for kind in sorted(method.column_kinds)
]
SYMMETRY_CASES = [
    pytest.param(name, kind, id=f"{name}-{kind}")
    for name, method in DRIFT_METHODS.items()
    if method.symmetric
    for kind in sorted(method.column_kinds)
    # distribution methods cut numeric cells at the *first* argument's deciles, so only categorical
    # cells (and the fine cells of ks) are the same whichever side comes first
    if kind == "categorical" or name == "ks"
]


@dataclass(frozen=True)
class ContractProfiles:
    ref: ColumnProfile
    same: ColumnProfile  # independent sample of the reference's distribution
    shifted: ColumnProfile  # clearly drifted
    extreme: ColumnProfile  # every value in one outer cell (overflow / OTHER)
    empty: ColumnProfile  # no values at all (every row null)


@functools.cache
def contract_profiles(kind: str) -> ContractProfiles:
    rng = np.random.default_rng(2024)
    n = 20_000
    if kind == "numeric":
        raw_ref = rng.normal(0, 1, n)
        layout = numeric_layout(raw_ref)
        # shifted: mean + 1 sd; extreme: mean + 10 sd, all beyond the reference's 99.9 % quantile
        raws = [raw_ref, rng.normal(0, 1, n), rng.normal(1, 1, n), rng.normal(10, 1, n), [None] * 50]
        cols = [profile_from_values(layout, {"x": raw}).columns["x"] for raw in raws]
    else:
        raws = [
            categorical_sample(rng, n, BASE_PROBS),
            categorical_sample(rng, n, BASE_PROBS),
            categorical_sample(rng, n, {"a": 0.1, "b": 0.15, "c": 0.25, "d": 0.2, "e": 0.3}),
            ["zz"] * 500,
            [None] * 50,
        ]
        cols = [profile_from_values(CAT_LAYOUT, {"c": raw}).columns["c"] for raw in raws]
    return ContractProfiles(*cols)


@functools.cache
def disjoint_categorical() -> tuple[CategoricalProfile, ...]:
    """Supports with no cell in common: reference only a, b; current only c and OTHER."""
    return categorical_profiles(["a"] * 300 + ["b"] * 100, ["c"] * 50 + ["zz"] * 150)


def no_drift_value(name: str) -> float:
    return 1.0 if DRIFT_METHODS[name].drift_when == "below" else 0.0


@pytest.mark.parametrize(("name", "kind"), CONTRACT_CASES)
def test_contract_identity_is_no_drift(name: str, kind: str) -> None:
    method = DRIFT_METHODS[name]
    profiles = contract_profiles(kind)
    # every non-empty profile this module builds: rounding in the cancellation-prone formulas shows
    # up on some vectors and not on others
    if kind == "numeric":
        scenario_profiles = [c for n in NUMERIC_SCENARIOS for c in (numeric_case(n).ref, numeric_case(n).cur)]
    else:
        scenario_profiles = [
            c for n in CATEGORICAL_SCENARIOS for c in (categorical_case(n).ref, categorical_case(n).cur)
        ]
    for p in (profiles.ref, profiles.same, profiles.shifted, profiles.extreme, *scenario_profiles):
        value = method.compute(p, p)
        assert value == pytest.approx(no_drift_value(name), abs=1e-12)
        assert not is_drift(name, value, method.default_threshold)


@pytest.mark.parametrize(("name", "kind"), SYMMETRY_CASES)
def test_contract_symmetry(name: str, kind: str) -> None:
    method = DRIFT_METHODS[name]
    profiles = contract_profiles(kind)
    pairs = [(profiles.ref, other) for other in (profiles.same, profiles.shifted, profiles.extreme)]
    if kind == "categorical":
        pairs.append(disjoint_categorical())
    for a, b in pairs:
        assert method.compute(a, b) == pytest.approx(method.compute(b, a), rel=1e-12, abs=1e-15)


def test_symmetry_cases_cover_every_symmetric_method() -> None:
    covered = {p.values[0] for p in SYMMETRY_CASES}
    assert covered == {name for name, m in DRIFT_METHODS.items() if m.symmetric}


@pytest.mark.parametrize(("name", "kind"), CONTRACT_CASES)
def test_contract_values_within_range(name: str, kind: str) -> None:
    method = DRIFT_METHODS[name]
    lo, hi = method.value_range
    p = contract_profiles(kind)
    pairs = [(p.ref, p.same), (p.ref, p.shifted), (p.shifted, p.ref), (p.ref, p.extreme), (p.extreme, p.ref)]
    if kind == "categorical":
        a, b = disjoint_categorical()
        pairs += [(a, b), (b, a)]
    for a, b in pairs:
        value = method.compute(a, b)
        assert lo <= value <= hi, (value, method.value_range)


@pytest.mark.parametrize(("name", "kind"), CONTRACT_CASES)
def test_contract_no_drift_on_same_distribution(name: str, kind: str) -> None:
    # Distances: two 20k samples of one distribution sit ~10x below every default threshold.
    # chisquare: the p-value is uniform under H0 (false alarm 5 % by design, calibration is tested
    # above); the seed is fixed, not tuned.
    method = DRIFT_METHODS[name]
    p = contract_profiles(kind)
    value = method.compute(p.ref, p.same)
    assert not is_drift(name, value, method.default_threshold), value


@pytest.mark.parametrize(("name", "kind"), CONTRACT_CASES)
def test_contract_drift_on_clear_shift(name: str, kind: str) -> None:
    method = DRIFT_METHODS[name]
    p = contract_profiles(kind)
    value = method.compute(p.ref, p.shifted)
    assert is_drift(name, value, method.default_threshold), value


@pytest.mark.parametrize(("name", "kind"), CONTRACT_CASES)
def test_contract_empty_current_is_nan_and_not_drift(name: str, kind: str) -> None:
    method = DRIFT_METHODS[name]
    p = contract_profiles(kind)
    assert p.empty.count == 0
    value = method.compute(p.ref, p.empty)
    assert math.isnan(value)
    assert not is_drift(name, value, method.default_threshold)


@pytest.mark.parametrize(("name", "kind"), CONTRACT_CASES)
def test_contract_mismatched_bins_raise(name: str, kind: str) -> None:
    method = DRIFT_METHODS[name]
    p = contract_profiles(kind)
    if kind == "numeric":
        assert isinstance(p.same, NumericProfile)
        bins = p.same.bins
        other = profile_from_values(
            ProfileLayout(numeric={"x": NumericBins(bins.lo - 0.5, bins.hi, bins.n_bins)}, categorical={}),
            {"x": np.linspace(-2, 2, 100)},
        ).columns["x"]
        wrong_kind = categorical_profiles(["a", "b"], ["a"])[0]
    else:
        other = CategoricalProfile(CategoricalBins(("a", "b", "d")), np.array([5, 5, 5, 5]), 0)
        wrong_kind = numeric_profiles(np.linspace(0, 1, 100), np.linspace(0, 1, 100))[0]
    with pytest.raises(ProfileError):
        method.compute(p.ref, other)
    with pytest.raises(ProfileError):
        method.compute(other, p.ref)
    with pytest.raises(ProfileError):
        method.compute(p.ref, wrong_kind)


# --------------------------------------------------------------------------------------------------
# Verdicts


def test_is_drift_sides_and_missing_values() -> None:
    assert is_drift("psi", 0.21, 0.2) and not is_drift("psi", 0.2, 0.2) and not is_drift("psi", 0.19, 0.2)
    assert is_drift("chisquare", 0.01, 0.05) and not is_drift("chisquare", 0.05, 0.05)
    assert not is_drift("chisquare", 0.5, 0.05)
    assert not is_drift("ks", math.nan, 0.1)
    assert not is_drift("ks", 0.9, math.nan)
    assert not is_drift("wasserstein", math.inf, math.inf)
    assert is_drift("wasserstein", math.inf, 0.1)
    with pytest.raises(ProfileError):
        is_drift("no-such-method", 1.0, 0.1)


DATASET_REF_PROBS = {"a": 0.35, "b": 0.25, "c": 0.2, "d": 0.2}


def dataset_profiles(rng: np.random.Generator, x2_empty: bool = False) -> tuple[Profile, Profile]:
    n = 20_000
    ref_data = {
        "x1": rng.normal(0, 1, n),
        "x2": rng.normal(5, 2, n),
        "c": categorical_sample(rng, n, DATASET_REF_PROBS),
    }
    cur_data = {
        "x1": rng.normal(1, 1, n),  # shifted by one sd: drifted
        "x2": [None] * n if x2_empty else rng.normal(5, 2, n),  # unchanged (or no values at all)
        "c": categorical_sample(rng, n, {"a": 0.1, "b": 0.1, "c": 0.4, "d": 0.4}),  # drifted
    }
    layout = ProfileLayout(
        numeric={k: NumericBins.from_range(*np.quantile(ref_data[k], [0.001, 0.999]), N_BINS) for k in ("x1", "x2")},
        categorical={"c": CategoricalBins(CATEGORIES)},
    )
    return profile_from_values(layout, ref_data), profile_from_values(layout, cur_data)


RULES = {
    "x1": ColumnRule("ks", ConstantThreshold(0.1)),
    "x2": ColumnRule("wasserstein", ConstantThreshold(0.1)),
    "c": ColumnRule("jensenshannon", ConstantThreshold(0.1)),
}


def test_evaluate_drift_dataset_share() -> None:
    ref, cur = dataset_profiles(np.random.default_rng(31))
    result = evaluate_drift(RULES, ref, cur, drift_share=0.5)
    by_name = {f.feature: f for f in result.features}
    assert {k: f.drifted for k, f in by_name.items()} == {"x1": True, "x2": False, "c": True}
    assert [f.kind for f in result.features] == ["numeric", "numeric", "categorical"]
    for k, f in by_name.items():
        assert f.value == DRIFT_METHODS[RULES[k].method].compute(ref.columns[k], cur.columns[k])
        assert f.threshold == 0.1
    assert (result.n_drifted, result.n_features) == (2, 3)
    assert result.share == pytest.approx(2 / 3)
    assert result.drifted
    # share >= drift_share: the boundary itself is drift, just above it is not
    assert evaluate_drift(RULES, ref, cur, drift_share=2 / 3).drifted
    assert not evaluate_drift(RULES, ref, cur, drift_share=0.7).drifted


def test_evaluate_drift_excludes_columns_without_values() -> None:
    ref, cur = dataset_profiles(np.random.default_rng(32), x2_empty=True)
    result = evaluate_drift(RULES, ref, cur, drift_share=1.0)
    x2 = next(f for f in result.features if f.feature == "x2")
    assert math.isnan(x2.value)
    assert not x2.drifted
    assert (result.n_drifted, result.n_features) == (2, 2)  # x2 counts in neither
    assert result.share == 1.0
    assert result.drifted


def test_evaluate_drift_all_columns_empty_is_not_drift() -> None:
    ref, _ = dataset_profiles(np.random.default_rng(33))
    layout = ref.layout
    empty_cur = profile_from_values(layout, {"x1": [None] * 10, "x2": [None] * 10, "c": [None] * 10})
    result = evaluate_drift(RULES, ref, empty_cur, drift_share=0.0)
    assert result.n_features == 0
    assert math.isnan(result.share)
    assert not result.drifted


def test_evaluate_feature_rejects_method_of_wrong_kind() -> None:
    ref, cur = dataset_profiles(np.random.default_rng(34))
    with pytest.raises(ProfileError):
        evaluate_feature("x1", ColumnRule("chisquare", ConstantThreshold(0.05)), ref.columns["x1"], cur.columns["x1"])
    with pytest.raises(ProfileError):
        evaluate_feature("c", ColumnRule("ks", ConstantThreshold(0.1)), ref.columns["c"], cur.columns["c"])


# --------------------------------------------------------------------------------------------------
# Thresholds


def test_calibrated_threshold_is_mean_plus_k_sample_std() -> None:
    values = np.random.default_rng(41).gamma(2.0, 0.01, size=9)
    fitted = CalibratedThreshold(k=3).fit(values.tolist())
    assert fitted.value_ == pytest.approx(np.mean(values) + 3 * np.std(values, ddof=1), rel=1e-12)
    assert fitted.n_windows_ == 9


def test_calibrated_threshold_ignores_non_finite_windows() -> None:
    fitted = CalibratedThreshold(k=2).fit([0.1, math.nan, 0.3, math.inf])
    assert fitted.value_ == pytest.approx(np.mean([0.1, 0.3]) + 2 * np.std([0.1, 0.3], ddof=1), rel=1e-12)
    assert fitted.n_windows_ == 2


@pytest.mark.parametrize("values", [[], [0.1], [0.1, math.nan], [math.inf, math.nan, 0.2]])
def test_calibrated_threshold_needs_two_values(values: list[float]) -> None:
    with pytest.raises(ProfileError):
        CalibratedThreshold(k=3).fit(values)


def test_calibrated_threshold_in_evaluate_uses_reference_windows() -> None:
    rng = np.random.default_rng(42)
    raw_ref = rng.normal(0, 1, 14_000)
    layout = numeric_layout(raw_ref)
    ref = profile_from_values(layout, {"x": raw_ref})
    windows = [profile_from_values(layout, {"x": day}) for day in np.split(raw_ref, 7)]
    cur = profile_from_values(layout, {"x": rng.normal(0.5, 1, 2_000)})
    rule = ColumnRule("wasserstein", CalibratedThreshold(k=3))
    result = evaluate_drift({"x": rule}, ref, cur, drift_share=0.5, reference_windows=windows)
    # Each window's value is checked against scipy on its raw rows (continuous data, windows inside
    # the reference's range: the practical tolerance applies), the threshold against numpy.
    window_values = [drift.wasserstein(ref.columns["x"], w.columns["x"]) for w in windows]
    exact = [stats.wasserstein_distance(raw_ref, day) / np.std(raw_ref) for day in np.split(raw_ref, 7)]
    np.testing.assert_allclose(window_values, exact, atol=WASSERSTEIN_PRACTICAL_TOL)
    (feature,) = result.features
    assert feature.threshold == pytest.approx(np.mean(window_values) + 3 * np.std(window_values, ddof=1))
    assert feature.drifted  # a half-sd shift is far above the day-to-day noise


def test_distribution_methods_on_disjoint_supports() -> None:
    """No common cell: the bounded distances reach the top of their range (JS and Hellinger = 1)."""
    ref, cur = disjoint_categorical()
    raw_ref, raw_cur = ["a"] * 300 + ["b"] * 100, ["c"] * 50 + ["zz"] * 150
    check_distribution_methods(ref, cur, hand_count_categorical(raw_ref), hand_count_categorical(raw_cur))
    assert drift.jensenshannon(ref, cur) == pytest.approx(1.0, abs=1e-12)
    assert drift.hellinger(ref, cur) == pytest.approx(1.0, abs=1e-12)
