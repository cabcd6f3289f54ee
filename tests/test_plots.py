"""Pictures: what is drawn is checked against independent references on the raw data.

Profiles are built from raw numpy arrays with ``profile_from_values``; the expected bar heights
come from ``np.histogram`` / ``collections.Counter`` on those same raw arrays, the expected group
rates from the raw group counts, never from our own earlier output. The figures are read back
through their matplotlib artists (each ``*_png`` is ``_png(*_figure(...))``).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
from collections import Counter
from dataclasses import dataclass

import matplotlib.colors as mcolors
import matplotlib.dates as mdates
import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.collections import FillBetweenPolyCollection, PolyCollection, QuadMesh
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from monitoring_assets import _plots as plots
from monitoring_assets.core.fairness import GroupCounts, slice_report
from monitoring_assets.core.profile import (
    CategoricalBins,
    NumericBins,
    ProfileLayout,
    profile_from_values,
)

DAY0 = dt.date(2024, 1, 1)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _days(n: int) -> list[dt.date]:
    return [DAY0 + dt.timedelta(days=i) for i in range(n)]


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


@dataclass(frozen=True)
class _Bar:
    x: float
    width: float
    height: float

    def get_x(self) -> float:
        return self.x

    def get_width(self) -> float:
        return self.width

    def get_height(self) -> float:
        return self.height


def _bars(fig: Figure, gid: str) -> list[_Bar]:
    """A series' bars (one PolyCollection of rectangles) or its suppressed strips (patches)."""
    ax = fig.axes[0]
    bars = [
        _Bar(float(xs.min()), float(xs.max() - xs.min()), float(path.vertices[:, 1].max()))
        for c in ax.collections
        if isinstance(c, PolyCollection) and c.get_gid() == gid
        for path in c.get_paths()
        for xs in [path.vertices[:, 0]]
    ]
    strips = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]
    return bars + [_Bar(p.get_x(), p.get_width(), p.get_height()) for p in strips]


def _centre(p: _Bar | Rectangle) -> float:
    return float(p.get_x() + p.get_width() / 2)


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return np.asarray(mpimg.imread(io.BytesIO(png), format="png"))


def _numeric_layout(reference: np.ndarray, n_bins: int) -> tuple[ProfileLayout, float, float]:
    lo, hi = (float(q) for q in np.quantile(reference, [0.001, 0.999]))
    return ProfileLayout({"x": NumericBins(lo, hi, n_bins)}, {}), lo, hi


# --- numeric distributions -----------------------------------------------------------------


@pytest.mark.parametrize(("n_bins", "max_cells", "n_cells"), [(1000, 40, 40), (47, 10, 10), (12, 40, 12)])
def test_numeric_bars_are_histogram_shares_of_the_raw_values(n_bins: int, max_cells: int, n_cells: int) -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(0.0, 1.0, 20_000)
    cur = np.r_[rng.normal(0.6, 1.3, 8_000), np.full(50, np.nan)]  # nulls are not a share of values
    layout, lo, hi = _numeric_layout(ref, n_bins)
    # Display cells: the profile's bins merged ceil(n_bins / max_cells) at a time, the last cut at hi.
    group = math.ceil(n_bins / max_cells)
    width = (hi - lo) / n_bins
    edges = np.r_[lo + width * np.arange(0, n_bins, group), hi]
    assert edges.size == n_cells + 1

    fig = plots.distribution_figure(
        profile_from_values(layout, {"x": ref}).columns["x"],
        profile_from_values(layout, {"x": cur}).columns["x"],
        column="income",
        min_count=1,
        note="psi 0.86 > 0.25",
        max_cells=max_cells,
    )
    for gid, raw in (("reference", ref), ("current", cur)):
        finite = raw[np.isfinite(raw)]
        expected_inner = np.histogram(finite, edges)[0] / finite.size
        bars = _bars(fig, gid)
        assert len(bars) == n_cells + 2
        x = np.array([_centre(b) for b in bars])
        h = np.array([b.get_height() for b in bars])
        inner = (x >= lo) & (x < hi)
        order = np.argsort(x[inner])
        np.testing.assert_allclose(h[inner][order], expected_inner, rtol=1e-12, atol=0)
        # The tails sit outside [lo, hi), one bar each.
        assert h[x < lo] == pytest.approx([np.mean(finite < lo)], rel=1e-12)
        assert h[x >= hi] == pytest.approx([np.mean(finite >= hi)], rel=1e-12)
    texts = _texts(fig)
    assert "income: psi 0.86 > 0.25" in texts
    assert f"< {lo:.3g}" in texts and f"≥ {hi:.3g}" in texts
    assert any(t.startswith("reference, n=20,000") for t in texts)
    assert any(t.startswith("current, n=8,000") for t in texts)


def test_small_numeric_cells_are_suppressed_not_drawn() -> None:
    rng = np.random.default_rng(2)
    ref = rng.uniform(0.0, 1.0, 10_000)
    layout = ProfileLayout({"x": NumericBins(0.0, 1.0, 10)}, {})
    # Current: 3 values below lo and 4 at or above hi (under min_count), the rest in range.
    cur = np.r_[rng.uniform(0.0, 1.0, 2_000), [-5.0, -6.0, -7.0], [3.0, 4.0, 5.0, 6.0]]
    min_count = 10
    fig = plots.distribution_figure(
        profile_from_values(layout, {"x": ref}).columns["x"],
        profile_from_values(layout, {"x": cur}).columns["x"],
        column="x",
        min_count=min_count,
    )
    n = cur.size
    current = _bars(fig, "current")
    assert all(0.0 <= _centre(b) < 1.0 for b in current), "no tail bar for the current profile"
    heights = [b.get_height() for b in current]
    assert not any(math.isclose(h, 3 / n) or math.isclose(h, 4 / n) for h in heights)
    hidden = _bars(fig, "current suppressed")
    assert sorted(_centre(b) < 0.0 for b in hidden) == [False, True]  # one strip per tail
    # The strips have a fixed height in axes units, not a share.
    assert {b.get_height() for b in hidden} == {0.05}
    assert any("2 cells suppressed" in t for t in _texts(fig))
    # The reference's tails are empty: empty cells are drawn as zero, not as suppressed.
    assert not _bars(fig, "reference suppressed")
    assert [b.get_height() for b in _bars(fig, "reference") if not 0.0 <= _centre(b) < 1.0] == [0.0, 0.0]


def test_a_profile_without_values_is_said_so() -> None:
    layout = ProfileLayout({"x": NumericBins(0.0, 1.0, 10)}, {})
    ref = profile_from_values(layout, {"x": np.linspace(0, 0.99, 500)}).columns["x"]
    empty = profile_from_values(layout, {"x": np.full(20, np.nan)}).columns["x"]
    fig = plots.distribution_figure(ref, empty, column="x", min_count=10)
    assert "current: no values" in _texts(fig)
    assert {b.get_height() for b in _bars(fig, "current")} == {0.0}
    assert not _bars(fig, "current suppressed")


def test_profiles_of_different_bins_are_refused() -> None:
    values = np.linspace(0, 1, 100)
    a = profile_from_values(ProfileLayout({"x": NumericBins(0.0, 1.0, 10)}, {}), {"x": values}).columns["x"]
    b = profile_from_values(ProfileLayout({"x": NumericBins(0.0, 2.0, 10)}, {}), {"x": values}).columns["x"]
    with pytest.raises(ValueError, match="share kind and bins"):
        plots.distribution_figure(a, b, column="x", min_count=1)


# --- categorical distributions -------------------------------------------------------------


def _categorical(ref: list[str], cur: list[str], categories: tuple[str, ...], **kw: int) -> Figure:
    layout = ProfileLayout({}, {"c": CategoricalBins(categories)})
    return plots.distribution_figure(
        profile_from_values(layout, {"c": ref}).columns["c"],
        profile_from_values(layout, {"c": cur}).columns["c"],
        column="c",
        **kw,  # type: ignore[arg-type]
    )


def test_categorical_bars_are_shares_of_top_categories_and_the_rest() -> None:
    rng = np.random.default_rng(3)
    categories = tuple(f"cat{i:02d}" for i in range(20))
    p = rng.dirichlet(np.ones(22))
    values = np.array([*categories, "unseen_a", "unseen_b"])
    ref = list(rng.choice(values, 6_000, p=p))
    cur = [*rng.choice(values, 3_000, p=p[::-1]), None, None]
    keep = 8
    fig = _categorical(ref, cur, categories, min_count=1, max_categories=keep)
    for gid, raw in (("reference", ref), ("current", cur)):
        counts = Counter(v for v in raw if v is not None)
        n = sum(counts.values())
        expected = [counts[c] / n for c in categories[:keep]]
        expected.append(1 - sum(expected))  # the rest of the top-K and every unseen value
        bars = sorted(_bars(fig, gid), key=_centre)
        np.testing.assert_allclose([b.get_height() for b in bars], expected, rtol=1e-12, atol=1e-15)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [*categories[:keep], f"other ({20 - keep} + rest)"]


def test_small_categories_are_suppressed_and_unnamed() -> None:
    counts = {"alpha": 500, "beta": 300, "gamma": 200, "delta": 100, "rare_one": 3, "rare_two": 2}
    raw = [c for c, n in counts.items() for _ in range(n)]
    fig = _categorical(raw, raw, tuple(counts), min_count=10)
    texts = " | ".join(_texts(fig))
    assert "rare_one" not in texts and "rare_two" not in texts
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["alpha", "beta", "gamma", "delta", "category 5", "category 6", "other"]
    n = sum(counts.values())
    for gid in ("reference", "current"):
        heights = [b.get_height() for b in _bars(fig, gid)]
        assert not any(math.isclose(h, 3 / n) or math.isclose(h, 2 / n) for h in heights)
        # alpha..delta and the empty "other" cell are drawn, the two rare ones are not.
        assert len(heights) == 5
        assert len(_bars(fig, f"{gid} suppressed")) == 2
    assert "4 cells suppressed" in texts


def test_a_lone_small_cell_takes_the_next_smallest_with_it() -> None:
    # With one hidden cell, its share would be 1 - the shown shares: the next smallest hides too.
    counts = {"alpha": 500, "beta": 40, "gamma": 3}
    raw = [c for c, n in counts.items() for _ in range(n)]
    fig = _categorical(raw, raw, tuple(counts), min_count=10)
    texts = " | ".join(_texts(fig))
    assert "beta" not in texts and "gamma" not in texts
    n = sum(counts.values())
    for gid in ("reference", "current"):
        heights = sorted(b.get_height() for b in _bars(fig, gid))
        assert heights == pytest.approx([0.0, 500 / n])  # "other" (empty) and alpha
    # A category shown by one profile keeps its label even when the other hides it.
    # Current hides beta and its "other" cell (two small cells, so nothing more) but shows gamma.
    other = [c for c, n in {"alpha": 500, "beta": 5, "gamma": 40, "unlisted": 4}.items() for _ in range(n)]
    fig = _categorical(raw, other, tuple(counts), min_count=10)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["alpha", "category 2", "gamma", "other"]


# --- heat-map ------------------------------------------------------------------------------


def _ratios(n_days: int, n_features: int, seed: int = 4) -> dict[dt.date, dict[str, float]]:
    rng = np.random.default_rng(seed)
    return {
        d: {
            f"feature_{j:02d}": float(rng.gamma(2.0, 0.6)) if rng.random() > 0.1 else math.nan
            for j in range(n_features)
        }
        for d in _days(n_days)
    }


def test_heatmap_cells_are_the_ratios_and_nan_is_not_evaluated() -> None:
    ratios = _ratios(30, 5)
    del ratios[DAY0 + dt.timedelta(days=10)]  # a missing day is a column of not-evaluated cells
    del ratios[DAY0 + dt.timedelta(days=3)]["feature_02"]
    fig = plots.heatmap_figure(ratios, title="feature drift")
    (mesh,) = fig.axes[0].findobj(QuadMesh)
    grid = np.ma.asarray(mesh.get_array()).reshape(5, 30)
    expected = np.array([[ratios.get(d, {}).get(f"feature_{j:02d}", math.nan) for d in _days(30)] for j in range(5)])
    mask = np.ma.getmaskarray(grid)
    np.testing.assert_array_equal(mask, np.isnan(expected))
    assert mask[:, 10].all() and mask[2, 3]
    np.testing.assert_array_equal(grid.data[~mask], expected[~mask])
    # Masked cells are transparent over a hatched grey "not evaluated" background.
    assert mesh.cmap.get_bad()[3] == 0.0
    (background,) = [p for p in fig.axes[0].patches if p.get_gid() == "not evaluated"]
    assert background.get_hatch() == "////" and background.get_zorder() < mesh.get_zorder()
    assert f"not evaluated ({int(np.isnan(expected).sum())} cells)" in _texts(fig)
    # A ratio of 1 or more is drawn in the drift colours, under 1 in the no-drift ones.
    colours = mesh.to_rgba(np.array([0.3, 0.95, 1.0, 2.5]))
    assert [mcolors.to_hex(c) for c in colours] == ["#f7fbff", "#6baed6", "#fdae6b", "#a63603"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [f"feature_{j:02d}" for j in range(5)]
    assert "2024-01-01 to 2024-01-30" in _texts(fig)


def test_every_picture_decodes_and_stays_under_budget_for_20_features_x_90_days() -> None:
    rng = np.random.default_rng(5)
    days = _days(90)
    ref = rng.normal(0.0, 1.0, 50_000)
    layout, _, _ = _numeric_layout(ref, 1000)  # the spec's default n_bins
    cat_layout = ProfileLayout({}, {"c": CategoricalBins(tuple(f"category_value_{i}" for i in range(50)))})
    cat_values = [f"category_value_{i}" for i in rng.integers(0, 60, 20_000)]
    groups = {f"g{i}": GroupCounts(100 * (i + 1), 100 * (i + 1), 30 * (i + 1) + i * i) for i in range(8)}
    pngs = {
        "heatmap": plots.heatmap_png(_ratios(90, 20), title="feature drift: value / threshold"),
        "numeric": plots.distribution_png(
            profile_from_values(layout, {"x": ref}).columns["x"],
            profile_from_values(layout, {"x": rng.normal(0.5, 2.0, 30_000)}).columns["x"],
            column="income",
            min_count=30,
            note="psi 0.86 > 0.25",
        ),
        "categorical": plots.distribution_png(
            profile_from_values(cat_layout, {"c": cat_values}).columns["c"],
            profile_from_values(cat_layout, {"c": cat_values[::-1][:5000]}).columns["c"],
            column="c",
            min_count=30,
        ),
        "metric": plots.metric_over_days_png(
            {d: float(v) for d, v in zip(days, rng.normal(0.8, 0.03, 90), strict=True)},
            metric="roc_auc",
            reference=0.8,
            bands=[("WARN", 0.77), ("ERROR", 0.74)],
            coverage={d: float(v) for d, v in zip(days, rng.random(90), strict=True)},
        ),
        "drift": plots.drift_over_days_png(
            {d: float(v) for d, v in zip(days, rng.random(90), strict=True)}, label="drift share", threshold=0.5
        ),
        "fairness": plots.group_rates_png(
            {c: slice_report(c, groups, 30) for c in ("sex", "age_band", "region")},
            rate="selection_rate",
            limit=0.1,
            title="selection rate per group",
        ),
    }
    for name, png in pngs.items():
        assert len(png) <= plots.IMAGE_BUDGET_BYTES, (name, len(png))
        image = _decode(png)
        assert image.shape[1] == round(plots.WIDTH_IN * plots.DPI), name
        assert image.shape[0] > 50, name
        assert image.std() > 0.05, f"{name} is blank"
        plots.markdown_image(png, name)  # under budget, so accepted


def test_empty_input_says_not_evaluated() -> None:
    for fig in (
        plots.heatmap_figure({}, title="drift"),
        plots.drift_over_days_figure({}, label="drift share", threshold=0.5),
        plots.metric_over_days_figure({}, metric="roc_auc", reference=None, bands=[], coverage={}),
        plots.group_rates_figure({}, rate="selection_rate", limit=0.1, title="fairness"),
    ):
        assert any(t.startswith("not evaluated: ") for t in _texts(fig))


# --- over days -----------------------------------------------------------------------------


def test_metric_over_days_draws_values_gaps_reference_bands_and_coverage() -> None:
    days = _days(20)
    rng = np.random.default_rng(6)
    daily = {d: float(rng.uniform(0.6, 0.9)) for d in days}
    daily[days[4]] = math.nan  # unlabeled day
    del daily[days[9]]  # a day with no row at all
    coverage = {d: float(rng.random()) for d in days if d != days[9]}
    fig = plots.metric_over_days_figure(
        daily, metric="roc_auc", reference=0.8, bands=[("WARN", 0.69), ("ERROR", 0.665)], coverage=coverage
    )
    top, bottom = fig.axes
    (line,) = [ln for ln in top.get_lines() if ln.get_gid() == "roc_auc"]
    assert [x.date() for x in mdates.num2date(mdates.date2num(line.get_xdata()))] == days
    expected = np.array([daily.get(d, math.nan) for d in days])
    np.testing.assert_array_equal(np.asarray(line.get_ydata(), dtype=float), expected)  # NaN = gap
    horizontal = {ln.get_label(): ln.get_ydata()[0] for ln in top.get_lines() if ln.get_gid() != "roc_auc"}
    assert horizontal == {"reference 0.8": 0.8, "WARN 0.69": 0.69, "ERROR 0.665": 0.665}
    assert "2 days not evaluated" in _texts(fig)
    bars = sorted((p for p in bottom.patches if p.get_gid() == "coverage"), key=_centre)
    np.testing.assert_allclose([b.get_height() for b in bars], [coverage.get(d, 0.0) for d in days])


@pytest.mark.parametrize("n_days", [1, 3])
def test_a_short_run_ticks_its_days_not_hours(n_days: int) -> None:
    """A daily run has one day: its heat-map tick sits at the day's cell centre and names the day,
    and neither picture ticks hours as if the values were hourly."""
    days = _days(n_days)
    heat = plots.heatmap_figure({d: {"a": 0.5, "b": 1.5} for d in days}, title="t")
    line = plots.drift_over_days_figure({d: 0.1 for d in days}, label="share", threshold=0.5)
    for fig, centre in ((heat, 0.5), (line, 0.0)):
        ax = fig.axes[0]
        fig.canvas.draw()
        assert [t.get_text() for t in ax.get_xticklabels()] == [d.strftime("%b %d") for d in days]
        want = [mdates.date2num(dt.datetime.combine(d, dt.time())) + centre for d in days]
        assert ax.get_xticks() == pytest.approx(want)


def test_drift_over_days_marks_exactly_the_days_over_threshold() -> None:
    days = _days(15)
    values = dict(zip(days, np.random.default_rng(7).random(15).tolist(), strict=True))
    values[days[2]] = 0.5  # on the threshold counts as over, like the checks
    values[days[6]] = math.nan
    fig = plots.drift_over_days_figure(values, label="drift share", threshold=0.5)
    ax = fig.axes[0]
    (over,) = [ln for ln in ax.get_lines() if ln.get_gid() == "over"]
    expected = [d for d in days if values[d] >= 0.5]
    assert [x.date() for x in mdates.num2date(mdates.date2num(over.get_xdata()))] == expected
    (threshold,) = [ln for ln in ax.get_lines() if ln.get_label() == "threshold 0.5"]
    assert list(threshold.get_ydata()) == [0.5, 0.5]
    assert f"over threshold ({len(expected)} days)" in _texts(fig)
    assert "1 day not evaluated" in _texts(fig)


# --- fairness ------------------------------------------------------------------------------


def test_group_rates_are_raw_rates_with_band_and_suppressed_groups_unnamed() -> None:
    counts = {
        "north": GroupCounts(400, 400, 120),  # 0.30
        "south": GroupCounts(300, 280, 112),  # 0.40
        "east": GroupCounts(200, 200, 90),  # 0.45: over 0.30 + 0.1
        "tiny_secret_group": GroupCounts(5, 5, 5),
        "west": GroupCounts(50, 0, 0),  # no predictions: no rate, no bar
    }
    reports = {"region": slice_report("region", counts, min_size=30)}
    fig = plots.group_rates_figure(reports, rate="selection_rate", limit=0.1, title="selection rate")
    ax = fig.axes[0]
    bars = {p.get_gid(): p for p in ax.patches if str(p.get_gid()).startswith("region=")}
    expected = {
        f"region={g}": c.n_predicted_positive / c.n_predicted if c.n_predicted else 0.0
        for g, c in counts.items()
        if c.n >= 30
    }
    assert {g: b.get_width() for g, b in bars.items()} == pytest.approx(expected)
    # Extremes: the band runs from the lowest rate over the limit; bars beyond it are red.
    (band,) = ax.findobj(FillBetweenPolyCollection)
    x = band.get_paths()[0].vertices[:, 0]
    assert (x.min(), x.max()) == pytest.approx((0.30, 0.40))
    red = {g for g, b in bars.items() if mcolors.to_hex(b.get_facecolor()) == plots.FAIL_COLOUR.lower()}
    assert red == {"region=east"}
    texts = " | ".join(_texts(fig))
    assert "tiny_secret_group" not in texts
    assert "1 group suppressed (too few rows)" in texts
    assert "region: west (no data)" in texts


def test_group_band_is_centred_on_a_named_reference_group() -> None:
    counts = {"a": GroupCounts(400, 400, 200), "b": GroupCounts(400, 400, 120), "c": GroupCounts(400, 400, 180)}
    reports = {"s": slice_report("s", counts, min_size=30, reference_group="c")}
    fig = plots.group_rates_figure(reports, rate="selection_rate", limit=0.1, title="t")
    (band,) = fig.axes[0].findobj(FillBetweenPolyCollection)
    x = band.get_paths()[0].vertices[:, 0]
    assert (x.min(), x.max()) == pytest.approx((0.35, 0.55))
    red = {p.get_gid() for p in fig.axes[0].patches if mcolors.to_hex(p.get_facecolor()) == plots.FAIL_COLOUR.lower()}
    assert red == {"s=b"}


# --- markdown ------------------------------------------------------------------------------


def test_markdown_image_is_a_data_uri_of_the_bytes() -> None:
    png = plots.drift_over_days_png({DAY0: 0.2, DAY0 + dt.timedelta(days=1): 0.7}, label="share", threshold=0.5)
    md = plots.markdown_image(png, "drift [share]\nper day")
    prefix = "![drift (share) per day](data:image/png;base64,"
    assert md.startswith(prefix) and md.endswith(")")
    assert base64.b64decode(md[len(prefix) : -1], validate=True) == png


def test_markdown_image_refuses_over_budget_and_non_png() -> None:
    at_budget = PNG_SIGNATURE + bytes(plots.IMAGE_BUDGET_BYTES - len(PNG_SIGNATURE))
    plots.markdown_image(at_budget, "ok")
    with pytest.raises(ValueError, match="over the"):
        plots.markdown_image(at_budget + b"\0", "too big")
    with pytest.raises(ValueError, match="PNG"):
        plots.markdown_image(b"GIF89a", "gif")


def test_legend_handles_are_not_artists_on_the_axes() -> None:
    # The "n days not evaluated" entry is a legend-only handle: it must not draw a line.
    fig = plots.drift_over_days_figure({DAY0: math.nan, DAY0 + dt.timedelta(days=2): 0.1}, label="s", threshold=0.5)
    drawn = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert "2 days not evaluated" not in drawn
    assert "2 days not evaluated" in _texts(fig)
    assert isinstance(fig.axes[0].get_legend().legend_handles[-1], Line2D)
