"""Issue 10, section 7: statistical truth in the tails.

Wasserstein/std used to spread the mass outside the reference's bin range [lo, hi) uniformly out
to the observed min / max, which overstates a day whose spread grows (+14 % in the issue's 1.6x
example, about +10 % with 1000 bins). The profile now carries, per numeric column, the sums of the
values in the underflow and overflow cells; with them the integral of each CDF over each tail is
exact, and the tail term is exact or a bounded estimate (drift.wasserstein docstring).

Every expected value is computed from the RAW rows: scipy.stats.wasserstein_distance divided by
numpy's population std, sums of raw values picked by plain comparisons, empirical CDFs integrated
from sorted raw values, scipy quadrature of the closed forms. Tolerances:

* ``REL_TOL = 3 %``: the issue's target on shifted, scaled (1.6x, 0.5x), skewed (lognormal,
  exponential) and heavy-tailed (Student t, 2 and 3 df) samples of 40,000 rows (20,000 through
  the warehouses, to keep the row-by-row inserts short). Over 30 seeds per scenario the observed
  worst case is 0.01 % for normal / exponential samples, 0.3 % for lognormal and t3, 1.8 % for t2
  (1000 bins; 2.2 % with 100), so 3 % is the requirement itself, not a loosened one. Cauchy
  samples are not held to it (see ``test_cauchy_tails_stay_in_the_guaranteed_interval``).
* ``SUM_REL = 1e-9``: engine sums against numpy sums of the same values (summation order only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy import integrate, stats
from sqlalchemy.pool import NullPool

from monitoring_assets import _pipeline
from monitoring_assets.core import drift
from monitoring_assets.core.drift import TailModel, tail_gap, tail_models
from monitoring_assets.core.profile import (
    NumericBins,
    NumericProfile,
    ProfileLayout,
    empty_profile,
    profile_from_values,
)
from monitoring_assets.spec import MonitorSpec
from resources._sql import ProfileQuery, Relation
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import scratch_database, small_spec, write_table

REL_TOL = 0.03
SUM_REL = 1e-9
N = 40_000  # rows of the reference and of the current day, as in the example
N_ENGINE = 20_000  # the same through the warehouses (row-by-row inserts are the slow part)
AUDIT = Audit("tails-run", "tails-spec")
DAY = dt.date(2024, 1, 5)

Sampler = Callable[[np.random.Generator, int], np.ndarray]

# name -> (reference sampler, current sampler). Names are SQL column names in the engine tests.
SCENARIOS: dict[str, tuple[Sampler, Sampler]] = {
    "normal_shift": (lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0.5, 1, n)),
    "normal_scale_1_6": (lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0, 1.6, n)),
    "normal_scale_0_5": (lambda g, n: g.normal(0, 1, n), lambda g, n: g.normal(0, 0.5, n)),
    "lognormal": (lambda g, n: g.lognormal(0, 1, n), lambda g, n: g.lognormal(0.2, 1.1, n)),
    "exponential": (lambda g, n: g.exponential(1, n), lambda g, n: g.exponential(1.5, n)),
    "t2_scale_1_6": (lambda g, n: g.standard_t(2, n), lambda g, n: 1.6 * g.standard_t(2, n)),
    "t3_scale_1_6": (lambda g, n: g.standard_t(3, n), lambda g, n: 1.6 * g.standard_t(3, n)),
    "t2_shift": (lambda g, n: g.standard_t(2, n), lambda g, n: g.standard_t(2, n) + 0.5),
    "t3_shift": (lambda g, n: g.standard_t(3, n), lambda g, n: g.standard_t(3, n) + 0.5),
}


def layout_for(raw_ref: np.ndarray, n_bins: int = 1000) -> ProfileLayout:
    lo, hi = np.quantile(raw_ref, [0.001, 0.999])  # the warehouse's edges equal this to the bit
    return ProfileLayout(numeric={"x": NumericBins.from_range(lo, hi, n_bins)}, categorical={})


def numeric(layout: ProfileLayout, raw: object) -> NumericProfile:
    col = profile_from_values(layout, {"x": raw}).columns["x"]
    assert isinstance(col, NumericProfile)
    return col


def scipy_w1_over_std(raw_ref: np.ndarray, raw_cur: np.ndarray) -> float:
    return float(stats.wasserstein_distance(raw_ref, raw_cur) / np.std(raw_ref))


def raw_tail_integral(raw_ref: np.ndarray, raw_cur: np.ndarray, bound: float, side: str) -> float:
    """Exact integral of |F_ref - F_cur| below ``bound`` (side "low") or above it ("high"), from
    the sorted raw values: both empirical CDFs are step functions, constant between the values."""
    if side == "high":  # mirror: 1 - F(x) above the bound is F(-x) below -bound (up to ties)
        raw_ref, raw_cur, bound = -raw_ref, -raw_cur, -bound
    r, c = np.sort(raw_ref), np.sort(raw_cur)
    pts = np.sort(np.concatenate([r[r < bound], c[c < bound], [bound]]))
    f_r = np.searchsorted(r, pts[:-1], side="right") / r.size
    f_c = np.searchsorted(c, pts[:-1], side="right") / c.size
    return float(np.sum(np.abs(f_r - f_c) * np.diff(pts)))


def raw_tail_cdf_integral(raw: np.ndarray, bound: float, side: str) -> float:
    """E[(bound - X)+] (low) or E[(X - bound)+] (high) straight from the raw values."""
    excess = bound - raw if side == "low" else raw - bound
    return float(np.sum(excess[excess > 0]) / raw.size)


# --------------------------------------------------------------------------------------------------
# The profile's tail sums (numpy profiler)


def messy_sample(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(0.2, 1.7, n).astype(object)  # wider than the reference: plenty in both tails
    kind = rng.choice(5, size=n, p=[0.88, 0.03, 0.03, 0.03, 0.03])
    x[kind == 1] = None
    x[kind == 2] = math.nan
    x[kind == 3] = math.inf
    x[kind == 4] = -math.inf
    return x


def finite(raw: object) -> np.ndarray:
    x = np.asarray(raw, dtype=np.float64)
    return x[np.isfinite(x)]


REF_LAYOUT = layout_for(np.random.default_rng(99).normal(0, 1, 5_000), n_bins=200)


def test_numpy_profiler_tail_sums_are_the_sums_of_the_raw_tail_values() -> None:
    raw = messy_sample(np.random.default_rng(1), 5_000)
    col = numeric(REF_LAYOUT, raw)
    x, bins = finite(raw), REF_LAYOUT.numeric["x"]
    low, high = x[x < bins.lo], x[x >= bins.hi]
    assert low.size > 50 and high.size > 50  # both tails really exercised
    assert (col.hist[0], col.hist[-1]) == (low.size, high.size)  # the summed values are the counted ones
    assert col.tail_low_sum == pytest.approx(low.sum(), rel=SUM_REL)
    assert col.tail_high_sum == pytest.approx(high.sum(), rel=SUM_REL)
    assert col.has_tail_sums


def test_tail_sums_merge_by_addition_and_unknown_stays_unknown() -> None:
    rng = np.random.default_rng(2)
    a, b = messy_sample(rng, 3_000), messy_sample(rng, 2_000)
    merged = numeric(REF_LAYOUT, a).merge(numeric(REF_LAYOUT, b))
    whole = numeric(REF_LAYOUT, np.concatenate([a, b]))
    assert merged.tail_low_sum == pytest.approx(whole.tail_low_sum, rel=SUM_REL)
    assert merged.tail_high_sum == pytest.approx(whole.tail_high_sum, rel=SUM_REL)
    old = dataclasses.replace(numeric(REF_LAYOUT, b), tail_low_sum=math.nan, tail_high_sum=math.nan)
    unknown = numeric(REF_LAYOUT, a).merge(old)
    assert math.isnan(unknown.tail_low_sum) and math.isnan(unknown.tail_high_sum)
    assert not unknown.has_tail_sums


def test_empty_profile_and_a_sample_without_tails_have_zero_tail_sums() -> None:
    empty = empty_profile(REF_LAYOUT).columns["x"]
    assert isinstance(empty, NumericProfile)
    assert (empty.tail_low_sum, empty.tail_high_sum) == (0.0, 0.0)
    inside = numeric(REF_LAYOUT, np.random.default_rng(3).uniform(-1, 1, 500))
    assert (inside.hist[0], inside.hist[-1]) == (0, 0)
    assert (inside.tail_low_sum, inside.tail_high_sum) == (0.0, 0.0)
    assert drift.wasserstein(inside, empty.merge(inside)) == 0.0


# --------------------------------------------------------------------------------------------------
# Wasserstein against scipy on raw rows (pure core)


@functools.cache
def raw_pair(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ref_sampler, cur_sampler = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    return ref_sampler(rng, N), cur_sampler(rng, N)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_wasserstein_within_3_percent_of_scipy(name: str, seed: int) -> None:
    raw_ref, raw_cur = raw_pair(name, seed)
    layout = layout_for(raw_ref)
    got = drift.wasserstein(numeric(layout, raw_ref), numeric(layout, raw_cur))
    want = scipy_w1_over_std(raw_ref, raw_cur)
    assert got == pytest.approx(want, rel=REL_TOL)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_wasserstein_within_3_percent_of_scipy_with_100_bins(name: str) -> None:
    """Coarser cells (small_spec's n_bins) move more of the error into the inner cells."""
    raw_ref, raw_cur = raw_pair(name, 0)
    layout = layout_for(raw_ref, n_bins=100)
    got = drift.wasserstein(numeric(layout, raw_ref), numeric(layout, raw_cur))
    assert got == pytest.approx(scipy_w1_over_std(raw_ref, raw_cur), rel=REL_TOL)


DOMINATED = {
    # A monotone map of the same draws orders the two tail CDFs across each whole tail. A change of
    # scale also orders the tail models (more mass beyond the bound comes with a longer reach), and
    # so does a shift of light-tailed (normal) data, whose mean excess shrinks further out.
    "t3-scale-1.6": (lambda g: g.standard_t(3, N), lambda x: 1.6 * x),
    "t3-scale-0.5": (lambda g: g.standard_t(3, N), lambda x: 0.5 * x),
    "lognormal-power-1.3": (lambda g: g.lognormal(0, 1, N), lambda x: x**1.3),
    "normal-shift-right": (lambda g: g.normal(0, 1, N), lambda x: x + 0.5),
    "normal-shift-left": (lambda g: g.normal(0, 1, N), lambda x: x - 0.7),
}


@pytest.mark.parametrize("name", list(DOMINATED))
def test_tail_term_is_exact_when_one_tail_cdf_dominates(name: str) -> None:
    """The tail term must then equal the exact integral of |F_ref - F_cur| over the tail, computed
    from the raw sorted values, to summation precision."""
    sampler, transform = DOMINATED[name]
    raw_ref = sampler(np.random.default_rng(4))
    raw_cur = transform(raw_ref)
    layout = layout_for(raw_ref)
    (ref_low, ref_high), (cur_low, cur_high) = (
        tail_models(numeric(layout, raw_ref)),
        tail_models(numeric(layout, raw_cur)),
    )
    bins = layout.numeric["x"]
    assert tail_gap(ref_low, cur_low) == pytest.approx(raw_tail_integral(raw_ref, raw_cur, bins.lo, "low"), rel=1e-9)
    assert tail_gap(ref_high, cur_high) == pytest.approx(raw_tail_integral(raw_ref, raw_cur, bins.hi, "high"), rel=1e-9)


def test_heavy_tailed_shift_stays_in_the_guaranteed_interval() -> None:
    """A shift of t3 data orders the true tail CDFs, but beyond the upper bound the current's tail
    is the reference's nearer in, with a smaller mean excess than the reference's own: there the
    models cross, and the tail term is an estimate inside [|A_ref - A_cur|, A_ref + A_cur], above
    the exact term (here by less than 10 % of it)."""
    raw_ref = np.random.default_rng(4).standard_t(3, N)
    raw_cur = raw_ref + 0.5
    layout = layout_for(raw_ref)
    bins = layout.numeric["x"]
    ref_models, cur_models = tail_models(numeric(layout, raw_ref)), tail_models(numeric(layout, raw_cur))
    above_exact = []
    for k, (side, bound) in enumerate((("low", bins.lo), ("high", bins.hi))):
        a_ref, a_cur = raw_tail_cdf_integral(raw_ref, bound, side), raw_tail_cdf_integral(raw_cur, bound, side)
        exact = raw_tail_integral(raw_ref, raw_cur, bound, side)
        assert exact == pytest.approx(abs(a_ref - a_cur), rel=1e-9), side  # the true CDFs are ordered
        estimate = tail_gap(ref_models[k], cur_models[k])
        assert exact * (1 - 1e-9) <= estimate <= a_ref + a_cur, side
        assert estimate == pytest.approx(exact, rel=0.1), side
        above_exact.append(estimate > exact * (1 + 1e-6))
    assert any(above_exact)  # the crossing models are really exercised


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cauchy_tails_stay_in_the_guaranteed_interval(seed: int) -> None:
    """Cauchy samples: W1 is dominated by a handful of extreme values, and the two sums cannot
    place them exactly (the estimate can be >3 % off; see README). What is guaranteed: each tail
    term lies in [|A_ref - A_cur|, A_ref + A_cur] (A = the exact integral of the tail CDF, here
    from the raw values), the interval the exact term lies in too."""
    rng = np.random.default_rng(seed)
    raw_ref, raw_cur = rng.standard_cauchy(N), 1.6 * rng.standard_cauchy(N)
    layout = layout_for(raw_ref)
    bins = layout.numeric["x"]
    (ref_low, ref_high), (cur_low, cur_high) = (
        tail_models(numeric(layout, raw_ref)),
        tail_models(numeric(layout, raw_cur)),
    )
    for side, bound, estimate in (
        ("low", bins.lo, tail_gap(ref_low, cur_low)),
        ("high", bins.hi, tail_gap(ref_high, cur_high)),
    ):
        a_ref, a_cur = raw_tail_cdf_integral(raw_ref, bound, side), raw_tail_cdf_integral(raw_cur, bound, side)
        exact = raw_tail_integral(raw_ref, raw_cur, bound, side)
        slack = 1e-9 * (a_ref + a_cur)
        assert abs(a_ref - a_cur) - slack <= exact <= a_ref + a_cur + slack  # the interval is right
        assert abs(a_ref - a_cur) - slack <= estimate <= a_ref + a_cur + slack


MODEL_PAIRS = [
    # (a, b): crossing (more mass near the bound, shorter reach), one extreme far out, equal
    # integrals, a single value each, no tail on one side
    (TailModel(1e-4, 50.0, 2e-3, 0.3), TailModel(1e-4, 8.0, 1e-3, 1.5)),
    (TailModel(2.5e-5, 900.0, 5e-4, 0.2), TailModel(2.5e-5, 3.0, 9e-4, 0.4)),
    (TailModel(1e-3, 2.0, 4e-3, 0.5), TailModel(1e-3, 4.0, 1e-3, 1.0)),
    (TailModel(1e-3, 2.0, 0.0, 1.0), TailModel(1e-3, 0.5, 0.0, 1.0)),
    (TailModel(0.0, 0.0, 0.0, 1.0), TailModel(1e-4, 30.0, 3e-3, 0.7)),
]


@pytest.mark.parametrize(("a", "b"), MODEL_PAIRS)
def test_tail_gap_is_the_integral_of_the_model_difference(a: TailModel, b: TailModel) -> None:
    """The closed form (roots by Brent's method, exponentials integrated exactly) against scipy's
    adaptive quadrature of |G_a - G_b|, split at the two extents where the point masses end."""

    def g(m: TailModel, t: float) -> float:
        return m.point * (t <= m.extent) + m.rest * math.exp(-t / m.scale)

    cuts = sorted({0.0, a.extent, b.extent})
    want = sum(
        integrate.quad(lambda t: abs(g(a, t) - g(b, t)), u, v, limit=500, epsabs=1e-14, epsrel=1e-11)[0]
        for u, v in zip(cuts, [*cuts[1:], math.inf], strict=True)
        if v > u
    )
    assert tail_gap(a, b) == pytest.approx(want, rel=1e-8, abs=1e-15)
    assert tail_gap(a, b) == pytest.approx(tail_gap(b, a), rel=1e-12)
    ints = (a.point * a.extent + a.rest * a.scale, b.point * b.extent + b.rest * b.scale)
    assert abs(ints[0] - ints[1]) - 1e-15 <= tail_gap(a, b) <= sum(ints) + 1e-15


def test_tail_model_keeps_the_exact_tail_integral() -> None:
    """The model's integral equals excess / count, the exact integral of the tail CDF."""
    raw = np.random.default_rng(5).lognormal(0, 1.3, N)
    layout = layout_for(np.random.default_rng(6).lognormal(0, 1, N))
    low, high = tail_models(numeric(layout, raw))
    bins = layout.numeric["x"]
    for model, side, bound in ((low, "low", bins.lo), (high, "high", bins.hi)):
        assert model.point * model.extent + model.rest * model.scale == pytest.approx(
            raw_tail_cdf_integral(raw, bound, side), rel=1e-9
        )


# --------------------------------------------------------------------------------------------------
# Profiles without tail sums (stored before they existed) and the other methods


def uniform_outer_reference(ref: NumericProfile, cur: NumericProfile) -> float:
    """The documented fallback, computed independently: both CDFs piecewise linear through the cell
    boundaries (outer cells closed at the min / max of both samples), |F_ref - F_cur| integrated by
    the trapezoid rule on a grid 20x finer than the cells (exact but at the few sign changes)."""
    inner = ref.bins.inner_edges()
    bounds = np.concatenate([[min(ref.min, cur.min)], inner, [max(ref.max, cur.max)]])
    grid = np.unique(np.concatenate([bounds, np.linspace(bounds[0], bounds[-1], 20 * bounds.size)]))
    f_r = np.interp(grid, bounds, np.concatenate([[0.0], np.cumsum(ref.hist) / ref.count]))
    f_c = np.interp(grid, bounds, np.concatenate([[0.0], np.cumsum(cur.hist) / cur.count]))
    return float(integrate.trapezoid(np.abs(f_r - f_c), grid) / ref.std)


def without_tail_sums(col: NumericProfile) -> NumericProfile:
    return dataclasses.replace(col, tail_low_sum=math.nan, tail_high_sum=math.nan)


def test_profiles_without_tail_sums_use_the_uniform_outer_cells() -> None:
    raw_ref, raw_cur = raw_pair("normal_scale_1_6", 0)
    layout = layout_for(raw_ref)
    ref, cur = numeric(layout, raw_ref), numeric(layout, raw_cur)
    want = scipy_w1_over_std(raw_ref, raw_cur)
    for old_ref, old_cur in ((without_tail_sums(ref), cur), (ref, without_tail_sums(cur))):
        fallback = drift.wasserstein(old_ref, old_cur)
        assert fallback == pytest.approx(uniform_outer_reference(ref, cur), rel=1e-4)
        assert fallback > want * 1.05  # the overstatement the tail sums remove (about +10 %)
    assert drift.wasserstein(ref, cur) == pytest.approx(want, rel=REL_TOL)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_other_methods_ignore_the_tail_sums(name: str) -> None:
    """KS and the binned methods read only counts: with or without tail sums, the same numbers
    (their agreement with scipy is pinned by tests/test_drift_methods.py, unchanged)."""
    raw_ref, raw_cur = raw_pair(name, 0)
    layout = layout_for(raw_ref)
    ref, cur = numeric(layout, raw_ref), numeric(layout, raw_cur)
    for method in ("ks", "psi", "kl_divergence", "jensenshannon", "hellinger", "linf"):
        compute = drift.DRIFT_METHODS[method].compute
        assert compute(ref, cur) == compute(without_tail_sums(ref), without_tail_sums(cur)), method


# --------------------------------------------------------------------------------------------------
# Both engines: SQL tail sums, stored rows, drift on raw rows against scipy


def tails_spec(name: str, table: str, columns: list[str], n_bins: int = 1000) -> MonitorSpec:
    return small_spec(
        name=name,
        source={"table": table, "timestamp_column": "ts", "model_version_column": "mv"},
        features={"numeric": columns, "categorical": []},
        drift={"n_bins": n_bins, "top_k": 3},
    )


def timestamps(rng: np.random.Generator, first: dt.date, days: int, n: int) -> pd.Series:
    seconds = rng.integers(0, days * 86_400, n)
    return pd.Series(pd.Timestamp(first) + pd.to_timedelta(np.sort(seconds), unit="s"))


@functools.cache
def scenario_frame() -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Reference rows over 2024-01-01..03 and the current day 2024-01-05, one column per scenario."""
    rng, n = np.random.default_rng(2026), N_ENGINE
    raws = {name: (ref(rng, n), cur(rng, n)) for name, (ref, cur) in SCENARIOS.items()}
    frame = pd.DataFrame(
        {
            "ts": pd.concat(
                [timestamps(rng, dt.date(2024, 1, 1), 3, n), timestamps(rng, DAY, 1, n)], ignore_index=True
            ),
            **{name: np.concatenate(pair) for name, pair in raws.items()},
            "score": rng.uniform(0, 1, 2 * n),
            "mv": np.full(2 * n, "1"),
        }
    )
    return frame, raws


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def engine_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A warehouse of this module's own: on PostgreSQL a database next to the session's, so the
    monitoring tables other tests read whole never see these monitors' rows."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path_factory.mktemp('tails') / 'warehouse.duckdb'}"
        return
    with scratch_database(str(request.getfixturevalue("pg_url")), "tails") as url:
        yield url


@pytest.fixture(scope="module")
def drift_rows(engine_url: str) -> dict[str, float]:
    """Write the raw rows, profile them through the Warehouse, compute feature drift; return the
    ``monitoring.drift_metrics`` values of the day, read back from the table."""
    frame, _ = scenario_frame()
    write_table(engine_url, "tails_raw", frame)
    spec = tails_spec("tails", "tails_raw", list(SCENARIOS))
    wh = Warehouse(engine_url)
    try:
        _pipeline.build_reference(wh, spec, AUDIT)
        _pipeline.build_daily_profiles(wh, spec, [DAY], AUDIT)
        _pipeline.compute_drift(wh, spec, [DAY], "feature", AUDIT)
    finally:
        wh.dispose()
    return read_drift(engine_url, "tails")


def read_drift(url: str, monitor: str) -> dict[str, float]:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT feature, method, value FROM monitoring.drift_metrics "
                "WHERE monitor = :m AND partition_date = :d AND scope = 'feature' AND feature <> '__dataset__'"
            ),
            {"m": monitor, "d": DAY},
        ).fetchall()
    engine.dispose()
    assert {method for _, method, _ in rows} == {"wasserstein"}
    return {feature: float(value) for feature, _, value in rows}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_engine_wasserstein_within_3_percent_of_scipy(drift_rows: dict[str, float], name: str) -> None:
    assert set(drift_rows) == set(SCENARIOS)
    _, raws = scenario_frame()
    raw_ref, raw_cur = raws[name]
    assert drift_rows[name] == pytest.approx(scipy_w1_over_std(raw_ref, raw_cur), rel=REL_TOL)


def test_engine_tail_sums_equal_raw_sums_per_day_and_per_range(engine_url: str) -> None:
    """SQL picks the summed values by the histogram's own cell formula: the sums equal numpy's of the
    same raw rows (NULL, NaN and +-inf excluded); a day with no tail values gets 0.0, not NULL."""
    rng = np.random.default_rng(7)
    n = 3_000
    frame = pd.DataFrame({"ts": timestamps(rng, dt.date(2024, 1, 1), 3, n), "x": messy_sample(rng, n)})
    # the last day only holds values inside [lo, hi): its tails are empty
    last = frame["ts"] >= pd.Timestamp("2024-01-03")
    assert 0 < last.sum() < n
    frame.loc[last, "x"] = rng.uniform(-1, 1, int(last.sum()))
    frame.attrs["numeric"] = ("x",)
    write_table(engine_url, "tails_sums", frame)
    wh = Warehouse(engine_url)
    try:
        rel = Relation("tails_sums", "ts")
        with wh.begin() as conn:
            per_day = ProfileQuery(wh.sql, REF_LAYOUT, by_day=True).run(conn, rel)
            whole = ProfileQuery(wh.sql, REF_LAYOUT).run(conn, rel)[None]
    finally:
        wh.dispose()
    bins = REF_LAYOUT.numeric["x"]
    day_of = frame["ts"].dt.date
    assert set(per_day) == {dt.date(2024, 1, d) for d in (1, 2, 3)}
    for day, profile in [*per_day.items(), (None, whole)]:
        col = profile.columns["x"]
        assert isinstance(col, NumericProfile)
        values = finite(frame["x"][day_of == day] if day is not None else frame["x"])
        low, high = values[values < bins.lo], values[values >= bins.hi]
        assert (col.hist[0], col.hist[-1]) == (low.size, high.size), day
        assert col.tail_low_sum == pytest.approx(low.sum(), rel=SUM_REL, abs=0.0), day
        assert col.tail_high_sum == pytest.approx(high.sum(), rel=SUM_REL, abs=0.0), day
    quiet = per_day[dt.date(2024, 1, 3)].columns["x"]
    assert isinstance(quiet, NumericProfile)
    assert (quiet.tail_low_sum, quiet.tail_high_sum) == (0.0, 0.0)


def stored_metrics(url: str, monitor: str, column: str) -> dict[tuple[str, dt.date | None], dict[str, float | None]]:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT profile, partition_date, metric, value FROM monitoring.profile_metrics "
                "WHERE monitor = :m AND column_name = :c"
            ),
            {"m": monitor, "c": column},
        ).fetchall()
    engine.dispose()
    out: dict[tuple[str, dt.date | None], dict[str, float | None]] = {}
    for kind, stored_day, metric, value in rows:
        day = stored_day.date() if isinstance(stored_day, dt.datetime) else stored_day
        out.setdefault((kind, day), {})[metric] = value
    return out


BASE_METRICS = {"count", "null_count", "nonfinite_count", "min", "max", "mean", "variance", "std"}
TAIL_METRICS = {"tail_low_sum", "tail_high_sum"}


def test_stored_profiles_hold_tail_sums_and_read_them_back(engine_url: str, drift_rows: dict[str, float]) -> None:
    """Daily, reference and reference-window rows of profile_metrics carry the two sums, equal to
    the sums of the raw rows of that profile, and the profiles read back carry them too."""
    frame, _ = scenario_frame()
    name = "t2_scale_1_6"
    stored = stored_metrics(engine_url, "tails", name)
    windows = [dt.date(2024, 1, d) for d in (1, 2, 3)]
    assert set(stored) == {("reference", None), ("daily", DAY), *(("reference_window", d) for d in windows)}
    ref_rows = frame[frame["ts"] < pd.Timestamp("2024-01-04")]
    wh = Warehouse(engine_url)
    try:
        spec = tails_spec("tails", "tails_raw", list(SCENARIOS))
        ref = wh.profiles.read_reference(spec, [name], with_windows=True)
        daily = wh.profiles.read_daily_profiles(spec, ref.layout, [DAY], [name])[DAY]
    finally:
        wh.dispose()
    bins = ref.layout.numeric[name]
    for (kind, day), metrics in stored.items():
        extra = {"bins_lo", "bins_hi", "n_bins"} if kind == "reference" else set()
        assert set(metrics) == BASE_METRICS | TAIL_METRICS | extra, kind
        if kind == "reference":
            values, loaded = ref_rows[name].to_numpy(), ref.profile.columns[name]
        elif kind == "daily":
            values, loaded = frame[name][frame["ts"].dt.date == DAY].to_numpy(), daily.columns[name]
        else:
            values, loaded = frame[name][frame["ts"].dt.date == day].to_numpy(), ref.windows[day].columns[name]
        assert isinstance(loaded, NumericProfile)
        low, high = values[values < bins.lo].sum(), values[values >= bins.hi].sum()
        assert metrics["tail_low_sum"] == pytest.approx(low, rel=SUM_REL), (kind, day)
        assert metrics["tail_high_sum"] == pytest.approx(high, rel=SUM_REL), (kind, day)
        assert (loaded.tail_low_sum, loaded.tail_high_sum) == (metrics["tail_low_sum"], metrics["tail_high_sum"])


@pytest.fixture
def old_style_monitor(engine_url: str, drift_rows: dict[str, float]) -> Iterator[tuple[Warehouse, MonitorSpec]]:
    """A monitor whose stored profiles lack the tail-sum rows, as written before they existed
    (same raw table as ``drift_rows``, one feature)."""
    spec = tails_spec("tails_old", "tails_raw", ["normal_scale_1_6"])
    wh = Warehouse(engine_url)
    _pipeline.build_reference(wh, spec, AUDIT)
    _pipeline.build_daily_profiles(wh, spec, [DAY], AUDIT)
    with wh.begin() as conn:
        deleted = conn.execute(
            sa.text(
                "DELETE FROM monitoring.profile_metrics WHERE monitor = 'tails_old' "
                "AND metric IN ('tail_low_sum', 'tail_high_sum')"
            )
        ).rowcount
    # two sums x three numeric columns (the feature, the score and the score's fine histogram for
    # the estimate without labels) x (reference, 3 windows, 1 day)
    assert deleted == 2 * 3 * (1 + 3 + 1)
    yield wh, spec
    wh.dispose()


def test_profiles_stored_before_tail_sums_load_and_fall_back(
    engine_url: str, old_style_monitor: tuple[Warehouse, MonitorSpec]
) -> None:
    wh, spec = old_style_monitor
    name = "normal_scale_1_6"
    ref = wh.profiles.read_reference(spec, [name], with_windows=True)
    daily = wh.profiles.read_daily_profiles(spec, ref.layout, [DAY], [name])[DAY]
    loaded = [ref.profile.columns[name], daily.columns[name], *(w.columns[name] for w in ref.windows.values())]
    assert all(isinstance(c, NumericProfile) and not c.has_tail_sums for c in loaded)
    result = _pipeline.compute_drift(wh, spec, [DAY], "feature", AUDIT)[DAY]
    (feature,) = result.features
    stored = read_drift(engine_url, "tails_old")
    ref_col, cur_col = ref.profile.columns[name], daily.columns[name]
    assert isinstance(ref_col, NumericProfile) and isinstance(cur_col, NumericProfile)
    assert stored == {name: pytest.approx(uniform_outer_reference(ref_col, cur_col), rel=1e-4)}
    assert feature.value == stored[name]
    _, raws = scenario_frame()
    assert stored[name] > 1.05 * scipy_w1_over_std(*raws[name])  # the old overstatement, documented


def test_scenario_rows_are_the_reference_then_the_current_day() -> None:
    """Guard for the engine fixtures: the rows written are the raw samples scipy is given, the
    reference's on 2024-01-01..03 and the current sample's on DAY."""
    frame, raws = scenario_frame()
    n = N_ENGINE
    for name, (ref, cur) in raws.items():
        np.testing.assert_array_equal(frame[name].to_numpy()[:n], ref)
        np.testing.assert_array_equal(frame[name].to_numpy()[n:], cur)
    assert (frame["ts"][:n] < pd.Timestamp("2024-01-04")).all()
    assert (frame["ts"][n:].dt.date == DAY).all()
