"""Pictures for the Dagster UI and the report, drawn from aggregates only.

Every function here takes profiles, per-day metric values or slice reports, never rows, and
returns a PNG. Each ``*_png`` is ``_png(*_figure(...))``: the ``*_figure`` twin returns the
matplotlib ``Figure`` so tests can read the drawn bars and lines back. Figures are built on
``matplotlib.figure.Figure`` with the Agg canvas directly, so nothing touches pyplot's global
state or needs a display.

Privacy: a histogram or category cell holding ``0 < count < min_count`` values is suppressed:
drawn as a hatched strip of fixed height, never as its share, and a suppressed category's label
is replaced by "category <i>". An empty cell is drawn as an empty cell (a zero names no one).
When a profile has exactly one suppressed cell, the smallest shown cell is suppressed with it:
otherwise the hidden share would be one minus the shown ones. The axes never show a value
from a row: only the bin range, which is the reference's 0.1 % / 99.9 % quantiles.

Size budget: ``IMAGE_BUDGET_BYTES`` (40 000 bytes of PNG, about 53 kB once base64-encoded) per
image. Dagster keeps asset metadata in its event log, and every materialization (one per day
and asset) stores its own copy, so a 60-day backfill with five pictures a day writes 300 of
them into the instance's database. At their defaults (6 in wide, 90 dpi, a 64-colour palette,
``optimize``) the functions draw 5-20 kB; the largest, a 20 features x 90 days heat-map of
noise, about 20 kB, half the budget. :func:`markdown_image` refuses anything over it, so a
caller that draws bigger must shrink it first.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter
from PIL import Image

from monitoring_assets.core.fairness import NULL_GROUP, SliceReport
from monitoring_assets.core.profile import OTHER, CategoricalProfile, ColumnProfile, NumericBins, NumericProfile

IMAGE_BUDGET_BYTES = 40_000

DPI = 90
WIDTH_IN = 6.0
REFERENCE_COLOUR = "#4C72B0"  # blue and orange stay apart for colour-blind readers
CURRENT_COLOUR = "#DD8452"
FAIL_COLOUR = "#C44E52"
# Not evaluated: hatched light grey, the same in every picture.
_NA_FACE, _NA_EDGE, _NA_HATCH = "#E6E6E6", "#9E9E9E", "////"
_FONT = 8
_PALETTE = 64
_LABEL_CHARS = 18

# Heat-map colours of value / threshold: blues under 1 (no drift), oranges to dark red from 1.
_RATIO_BOUNDS = (0.0, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0)
_RATIO_COLOURS = ("#F7FBFF", "#C6DBEF", "#6BAED6", "#FDAE6B", "#F16913", "#A63603")


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _new_figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes, title: str) -> None:
    ax.set_title(title, fontsize=_FONT + 1, loc="left")
    ax.tick_params(labelsize=_FONT - 1)
    ax.spines[["top", "right"]].set_visible(False)


def _png(fig: Figure) -> bytes:
    """The figure as an optimized PNG with a palette of at most ``_PALETTE`` colours.

    Charts have a few flat colours plus anti-aliased edges; an adaptive palette without
    dithering keeps them visually identical at about a third of the RGBA size.
    """
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=DPI)
    raw.seek(0)
    with Image.open(raw) as image:
        palette = image.convert("RGB").quantize(_PALETTE, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)  # no text chunks: the same aggregates give the same bytes
    return out.getvalue()


def _message_figure(title: str, message: str) -> Figure:
    """A small figure that says why there is no picture (never an empty, silently green one)."""
    fig = _new_figure(1.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=_FONT + 1, loc="left")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=_FONT, transform=ax.transAxes)
    return fig


# --- distributions -------------------------------------------------------------------------


def _suppressed(counts: npt.NDArray[np.int64], min_count: int) -> npt.NDArray[np.bool_]:
    """Cells not to draw: ``0 < count < min_count``, plus one more when only one would hide."""
    hide = (counts > 0) & (counts < min_count)
    if hide.sum() == 1:
        shown = np.flatnonzero(counts >= min_count)
        if shown.size:
            hide[shown[np.argmin(counts[shown])]] = True
    return hide


def _numeric_cells(profile: NumericProfile, group: int) -> npt.NDArray[np.int64]:
    """Counts of underflow, inner cells merged ``group`` at a time (the last may be narrower), overflow."""
    inner = profile.hist[1:-1]
    starts = np.arange(0, inner.size, group)
    return np.concatenate([profile.hist[:1], np.add.reduceat(inner, starts), profile.hist[-1:]])


def _categorical_cells(profile: CategoricalProfile, keep: int) -> npt.NDArray[np.int64]:
    """Counts of the first ``keep`` categories, then everything else (the rest of top-K and other)."""
    return np.concatenate([profile.counts[:keep], [profile.counts[keep:].sum()]])


def _draw_series(
    ax: Axes,
    centres: npt.NDArray[np.float64],
    width: float,
    counts: npt.NDArray[np.int64],
    hide: npt.NDArray[np.bool_],
    *,
    label: str,
    colour: str,
) -> None:
    total = int(counts.sum())
    n_text = f"{label}, n={total:,}" if total else f"{label}: no values"
    shown = ~hide
    shares = counts / total if total else np.zeros(counts.size)
    # One collection of rectangles, not ax.bar's patch per bar: half the picture's drawing time.
    left, height = centres[shown] - width / 2, shares[shown]
    bottom = np.zeros_like(height)
    corners = [(left, bottom), (left, height), (left + width, height), (left + width, bottom)]
    bars = PolyCollection(
        list(np.stack([np.stack(c, axis=1) for c in corners], axis=1)),  # one (4, 2) array per bar
        facecolors=colour,
        edgecolors="none",
        label=n_text,
        gid=label,
    )
    bars.sticky_edges.y.append(0.0)  # like bars: no margin under 0
    ax.add_collection(bars)
    ax.autoscale_view()
    # A suppressed cell is a hatched strip of fixed height (5 % of the axes), not its share.
    transform = ax.get_xaxis_transform()
    for x in centres[hide]:
        ax.add_patch(
            Rectangle(
                (x - width / 2, 0.0),
                width,
                0.05,
                transform=transform,
                fill=False,
                hatch="////",
                edgecolor=colour,
                linewidth=0.0,
                gid=f"{label} suppressed",
            )
        )


def distribution_figure(
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    column: str,
    min_count: int,
    note: str = "",
    max_cells: int = 40,
    max_categories: int = 12,
) -> Figure:
    """Share of values per cell, reference against current.

    Numeric: the profile's fixed bins with adjacent cells merged so at most ``max_cells`` inner
    cells remain (counts add, so merged cells are exact), and the underflow ``< lo`` and
    overflow ``>= hi`` cells as separate bars at the ends. Categorical: the first
    ``max_categories`` of the reference's top-K, then one cell for every other value.
    Shares are of the profile's finite (numeric) or non-null (categorical) values.
    """
    title = f"{column}: {note}" if note else column
    if type(reference) is not type(current) or reference.bins != current.bins:
        raise ValueError(f"{column}: reference and current profiles must share kind and bins")
    numeric_bins: NumericBins | None = None
    categories: tuple[str, ...] = ()
    keep = 0  # categories drawn by name (categorical only)
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        numeric_bins = bins = reference.bins
        group = max(1, math.ceil(bins.n_bins / max_cells))
        edges = np.append(bins.inner_edges()[np.arange(0, bins.n_bins, group)], bins.hi)
        widths = np.diff(edges)
        tail = float(widths.max())
        gap = tail / 2  # the tails are unbounded: set apart from the range they do not belong to
        centres = np.concatenate([[bins.lo - gap - tail / 2], edges[:-1] + widths / 2, [bins.hi + gap + tail / 2]])
        cell_width = np.concatenate([[tail], widths, [tail]])
        ref_counts, cur_counts = _numeric_cells(reference, group), _numeric_cells(current, group)
    elif isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        categories = reference.bins.categories
        keep = min(max_categories, len(categories))
        centres = np.arange(keep + 1, dtype=np.float64)
        cell_width = np.ones(keep + 1)
        ref_counts, cur_counts = _categorical_cells(reference, keep), _categorical_cells(current, keep)
    else:  # pragma: no cover - the type check above rules this out
        raise TypeError(type(reference))

    ref_hide, cur_hide = _suppressed(ref_counts, min_count), _suppressed(cur_counts, min_count)
    fig = _new_figure(2.6)
    ax = fig.add_subplot()
    # Side by side in each cell: reference left, current right, each 45 % of the cell.
    offsets = cell_width * 0.225
    for counts, hide, sign, label, colour in (
        (ref_counts, ref_hide, -1, "reference", REFERENCE_COLOUR),
        (cur_counts, cur_hide, 1, "current", CURRENT_COLOUR),
    ):
        # Bars of one series share a width: the narrowest cell's, so none spills into a neighbour.
        _draw_series(
            ax, centres + sign * offsets, float(cell_width.min() * 0.45), counts, hide, label=label, colour=colour
        )
    _style(ax, title)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("share of values", fontsize=_FONT)

    if numeric_bins is None:
        # A category is named only when a drawn bar shows it; otherwise it gets its index.
        named = (ref_counts >= min_count) & ~ref_hide | (cur_counts >= min_count) & ~cur_hide
        ticks = [c[:_LABEL_CHARS] if named[i] else f"category {i + 1}" for i, c in enumerate(categories[:keep])]
        ticks.append(f"other ({len(categories) - keep} + rest)" if len(categories) > keep else "other")
        slanted = len(ticks) > 6
        ax.set_xticks(centres, ticks, rotation=30 if slanted else 0, ha="right" if slanted else "center")
    else:
        lo, hi = numeric_bins.lo, numeric_bins.hi
        # Inner ticks keep clear of the tail labels (an eighth of the range), which would overlap.
        margin = (hi - lo) / 8
        inner_ticks = [t for t in MaxNLocator(5).tick_values(lo, hi) if lo + margin <= t <= hi - margin]
        ax.set_xticks(
            [centres[0], *inner_ticks, centres[-1]],
            [f"< {lo:.3g}", *(f"{t:.3g}" for t in inner_ticks), f"≥ {hi:.3g}"],
        )
    handles, _ = ax.get_legend_handles_labels()
    n_hidden = int(ref_hide.sum() + cur_hide.sum())
    if n_hidden:
        handles.append(
            Patch(
                fill=False,
                hatch="////",
                edgecolor="#555555",
                label=f"{_plural(n_hidden, 'cell')} suppressed\n(under {min_count} values)",
            )
        )
    ax.legend(handles=handles, fontsize=_FONT - 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def distribution_png(
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    column: str,
    min_count: int,
    note: str = "",
    max_cells: int = 40,
    max_categories: int = 12,
) -> bytes:
    """PNG of :func:`distribution_figure`."""
    return _png(
        distribution_figure(
            reference,
            current,
            column=column,
            min_count=min_count,
            note=note,
            max_cells=max_cells,
            max_categories=max_categories,
        )
    )


# --- over days -----------------------------------------------------------------------------


def _calendar(*series: Mapping[dt.date, float]) -> list[dt.date]:
    """Every day from the first to the last one any series names: a missing day is a gap."""
    days = {d for s in series for d in s}
    if not days:
        return []
    first, last = min(days), max(days)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _x(days: Sequence[dt.date]) -> npt.NDArray[np.datetime64]:
    """Days as numpy dates, which matplotlib plots on a date axis."""
    return np.array(days, dtype="datetime64[D]")


def _values_on(days: Sequence[dt.date], series: Mapping[dt.date, float]) -> npt.NDArray[np.float64]:
    return np.array([series.get(d, math.nan) for d in days], dtype=np.float64)


SHORT_SPAN_DAYS = 8  # up to this many days, one tick per day (matplotlib's locator would tick hours)


def _date_axis(ax: Axes, days: Sequence[dt.date], *, cells: bool = False) -> None:
    """Short tick labels ("Jan", "15") and the exact range as the axis label, for a reader who
    would otherwise have to guess the year from matplotlib's offset text. ``cells``: each day is a
    cell from its midnight to the next (the heat-map), so its tick sits at the cell's centre."""
    if len(days) <= SHORT_SPAN_DAYS:
        # Over a few days the automatic locator ticks hours, as if the values were hourly.
        centre = np.timedelta64(12, "h") if cells else np.timedelta64(0, "h")
        ax.set_xticks(_x(days) + centre, [d.strftime("%b %d") for d in days])
    else:
        # matplotlib.dates has no type hints for these two.
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))  # type: ignore[no-untyped-call]
    ax.set_xlabel(f"{days[0].isoformat()} to {days[-1].isoformat()}", fontsize=_FONT - 1)


def _not_evaluated_handle(n_days: int) -> Line2D:
    return Line2D([], [], linestyle="none", label=f"{_plural(n_days, 'day')} not evaluated")


def heatmap_figure(ratios: Mapping[dt.date, Mapping[str, float]], *, title: str) -> Figure:
    """Day x feature value / threshold (>= 1 is drift); NaN or a missing day/feature is not evaluated.

    Features keep their order of first appearance; days run over the whole calendar range.
    """
    days = _calendar({d: 0.0 for d in ratios})
    features = list(dict.fromkeys(f for d in sorted(ratios) for f in ratios[d]))
    if not days or not features:
        return _message_figure(title, "not evaluated: no days with drift values")
    grid = np.array([[ratios.get(d, {}).get(f, math.nan) for d in days] for f in features], dtype=np.float64)
    fig = _new_figure(max(1.8, 0.9 + 0.14 * len(features)))
    ax = fig.add_subplot()
    # Not-evaluated cells are transparent in the mesh, showing the hatched grey underneath.
    ax.add_patch(
        Rectangle(
            (0, 0),
            1,
            1,
            transform=ax.transAxes,
            zorder=0,
            gid="not evaluated",
            facecolor=_NA_FACE,
            edgecolor=_NA_EDGE,
            hatch=_NA_HATCH,
        )
    )
    cmap = ListedColormap(_RATIO_COLOURS).with_extremes(bad=(0, 0, 0, 0), under=_RATIO_COLOURS[0], over="#67000D")
    norm = BoundaryNorm(_RATIO_BOUNDS, cmap.N)
    x_edges = _x([*days, days[-1] + dt.timedelta(days=1)])
    mesh = ax.pcolormesh(
        x_edges, np.arange(len(features) + 1), np.ma.masked_invalid(grid), cmap=cmap, norm=norm, zorder=1
    )
    ax.set_yticks(np.arange(len(features)) + 0.5, [f[:_LABEL_CHARS] for f in features])
    ax.set_ylim(len(features), 0)
    _date_axis(ax, days, cells=True)
    _style(ax, title)
    bar = fig.colorbar(mesh, ax=ax, extend="max", pad=0.01, fraction=0.04)
    bar.set_label("value / threshold (≥ 1 = drift)", fontsize=_FONT - 1)
    bar.ax.tick_params(labelsize=_FONT - 1)
    n_missing = int(np.isnan(grid).sum())
    ax.legend(
        handles=[
            Patch(
                facecolor=_NA_FACE,
                edgecolor=_NA_EDGE,
                hatch=_NA_HATCH,
                label=f"not evaluated ({_plural(n_missing, 'cell')})",
            )
        ],
        fontsize=_FONT - 1,
        frameon=False,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        borderaxespad=0.1,
    )
    return fig


def heatmap_png(ratios: Mapping[dt.date, Mapping[str, float]], *, title: str) -> bytes:
    """PNG of :func:`heatmap_figure`."""
    return _png(heatmap_figure(ratios, title=title))


def metric_over_days_figure(
    daily: Mapping[dt.date, float],
    *,
    metric: str,
    reference: float | None,
    bands: Sequence[tuple[str, float]],
    coverage: Mapping[dt.date, float],
) -> Figure:
    """The metric per day (a NaN or missing day is a gap), its reference, the named threshold
    lines (e.g. ``("WARN", 0.69)``), and below it the share of rows labeled per day."""
    days = _calendar(daily, coverage)
    if not days:
        return _message_figure(metric, "not evaluated: no labeled days")
    values = _values_on(days, daily)
    fig = _new_figure(3.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(
        _x(days), values, marker="o", markersize=2.5, linewidth=1.2, color=REFERENCE_COLOUR, label=metric, gid=metric
    )
    if reference is not None and math.isfinite(reference):
        top.axhline(reference, color="#555555", linestyle="--", linewidth=1, label=f"reference {_fmt(reference)}")
    for i, (name, value) in enumerate(bands):
        colour = FAIL_COLOUR if name.upper() == "ERROR" else CURRENT_COLOUR if name.upper() == "WARN" else "#888888"
        top.axhline(
            value, color=colour, linestyle=":" if i % 2 == 0 else "-.", linewidth=1, label=f"{name} {_fmt(value)}"
        )
    handles, _ = top.get_legend_handles_labels()
    n_gaps = int(np.isnan(values).sum())
    if n_gaps:
        handles.append(_not_evaluated_handle(n_gaps))
    top.legend(handles=handles, fontsize=_FONT - 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(top, f"{metric} per day")
    cov = _values_on(days, coverage)
    bottom.bar(_x(days), np.nan_to_num(cov), width=0.8, color="#8C8C8C", gid="coverage")
    bottom.set_ylim(0, 1)
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    bottom.set_ylabel("labeled", fontsize=_FONT - 1)
    _style(bottom, "")
    _date_axis(bottom, days)
    return fig


def metric_over_days_png(
    daily: Mapping[dt.date, float],
    *,
    metric: str,
    reference: float | None,
    bands: Sequence[tuple[str, float]],
    coverage: Mapping[dt.date, float],
) -> bytes:
    """PNG of :func:`metric_over_days_figure`."""
    return _png(metric_over_days_figure(daily, metric=metric, reference=reference, bands=bands, coverage=coverage))


def drift_over_days_figure(values: Mapping[dt.date, float], *, label: str, threshold: float) -> Figure:
    """One series per day against its threshold; days over it are marked, NaN days are gaps."""
    days = _calendar(values)
    if not days:
        return _message_figure(label, "not evaluated: no days")
    y = _values_on(days, values)
    fig = _new_figure(2.4)
    ax = fig.add_subplot()
    ax.plot(_x(days), y, marker="o", markersize=2.5, linewidth=1.2, color=REFERENCE_COLOUR, label=label, gid=label)
    ax.axhline(threshold, color=FAIL_COLOUR, linestyle="--", linewidth=1, label=f"threshold {_fmt(threshold)}")
    over = np.nan_to_num(y, nan=-math.inf) >= threshold
    if over.any():
        ax.plot(
            _x(days)[over],
            y[over],
            linestyle="none",
            marker="o",
            markersize=4,
            color=FAIL_COLOUR,
            label=f"over threshold ({_plural(int(over.sum()), 'day')})",
            gid="over",
        )
    handles, _ = ax.get_legend_handles_labels()
    n_gaps = int(np.isnan(y).sum())
    if n_gaps:
        handles.append(_not_evaluated_handle(n_gaps))
    ax.legend(handles=handles, fontsize=_FONT - 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(ax, f"{label} per day")
    _date_axis(ax, days)
    return fig


def drift_over_days_png(values: Mapping[dt.date, float], *, label: str, threshold: float) -> bytes:
    """PNG of :func:`drift_over_days_figure`."""
    return _png(drift_over_days_figure(values, label=label, threshold=threshold))


# --- fairness ------------------------------------------------------------------------------


def _group_label(group: str) -> str:
    return {OTHER: "other", NULL_GROUP: "missing"}.get(group, group)[:_LABEL_CHARS]


def group_rates_figure(reports: Mapping[str, SliceReport], *, rate: str, limit: float, title: str) -> Figure:
    """Per slice column, each shown group's ``rate`` as a bar, against a band of width ``limit``.

    The band starts at the lowest rate when the report compares the extreme groups, and spans
    ``limit`` either side of the reference group's rate when it names one: a bar outside the
    band is a disparity over the limit. Suppressed groups are counted, never named.
    """
    rows: list[tuple[str, str, float]] = [
        (column, group, metrics.get(rate, math.nan))
        for column, report in reports.items()
        for group, metrics in report.groups.items()
    ]
    n_suppressed = sum(len(r.suppressed) for r in reports.values())
    if not rows:
        return _message_figure(title, f"not evaluated: no group large enough ({n_suppressed} suppressed)")
    fig = _new_figure(max(1.8, 0.8 + 0.2 * len(rows)))
    ax = fig.add_subplot()
    y = 0
    band_drawn = False
    for column, report in reports.items():
        start = y
        mine = [(g, r) for c, g, r in rows if c == column]
        finite = {g: r for g, r in mine if math.isfinite(r)}
        reference = report.compared.removeprefix("reference group ") if report.compared != "extremes" else None
        if reference is None and finite:
            lo, hi = min(finite.values()), min(finite.values()) + limit
        elif reference is not None and reference in finite:
            lo, hi = finite[reference] - limit, finite[reference] + limit
        else:
            lo = hi = math.nan
        if mine and math.isfinite(lo):
            ax.fill_betweenx(
                [start - 0.45, start + len(mine) - 0.55],
                lo,
                hi,
                color="#55A868",
                alpha=0.18,
                linewidth=0,
                label=None if band_drawn else f"within {_fmt(limit)} of lowest / reference rate",
                gid=f"band {column}",
            )
            band_drawn = True
        for group, value in mine:
            # A rate exactly on the band edge is inside, whatever the float rounding of lo + limit.
            outside = math.isfinite(lo) and math.isfinite(value) and not lo - 1e-12 <= value <= hi + 1e-12
            ax.barh(
                y,
                0.0 if math.isnan(value) else value,
                height=0.7,
                gid=f"{column}={group}",
                color=FAIL_COLOUR if outside else REFERENCE_COLOUR,
            )
            y += 1
    labels = [f"{c}: {_group_label(g)}" + (" (no data)" if math.isnan(r) else "") for c, g, r in rows]
    ax.set_yticks(np.arange(len(rows)), labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(rate.replace("_", " "), fontsize=_FONT)
    _style(ax, title)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color=FAIL_COLOUR, label="outside the band"))
    if n_suppressed:
        handles.append(
            Line2D([], [], linestyle="none", label=f"{_plural(n_suppressed, 'group')} suppressed (too few rows)")
        )
    ax.legend(handles=handles, fontsize=_FONT - 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def group_rates_png(reports: Mapping[str, SliceReport], *, rate: str, limit: float, title: str) -> bytes:
    """PNG of :func:`group_rates_figure`."""
    return _png(group_rates_figure(reports, rate=rate, limit=limit, title=title))


# --- markdown ------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,...)`` for Dagster markdown metadata and the report.

    Dagster's UI renders it: its markdown metadata view (react-markdown 8 with rehype-sanitize)
    adds ``data`` to the protocols allowed in ``img src``. Raises ``ValueError`` when ``png`` is
    not a PNG or is over :data:`IMAGE_BUDGET_BYTES`.
    """
    if not png.startswith(_PNG_SIGNATURE):
        raise ValueError("markdown_image needs PNG bytes")
    if len(png) > IMAGE_BUDGET_BYTES:
        raise ValueError(
            f"image of {len(png):,} bytes is over the {IMAGE_BUDGET_BYTES:,}-byte budget; draw a smaller figure"
        )
    # Brackets and line breaks would end the alt text early.
    safe_alt = " ".join(alt.replace("[", "(").replace("]", ")").split())
    return f"![{safe_alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def estimate_over_days_figure(
    estimated: Mapping[dt.date, tuple[float, float, float]],
    realized: Mapping[dt.date, float],
    *,
    metric: str,
    reference: float | None,
    bands: Sequence[tuple[str, float]],
) -> Figure:
    """The metric estimated without labels per day (line) inside its band (shaded; ``estimated``
    maps a day to (estimate, lower, upper)), the realized metric where labels have arrived
    (dots), the reference and the named threshold lines."""
    days = _calendar({d: v[0] for d, v in estimated.items()}, realized)
    if not days:
        return _message_figure(metric, "not evaluated: no estimated days")
    est = np.array([estimated.get(d, (math.nan,) * 3) for d in days], dtype=np.float64).reshape(-1, 3)
    fig = _new_figure(2.6)
    ax = fig.subplots()
    x = _x(days)
    ax.fill_between(x, est[:, 1], est[:, 2], color=REFERENCE_COLOUR, alpha=0.2, linewidth=0, label="estimate band")
    ax.plot(x, est[:, 0], linewidth=1.2, color=REFERENCE_COLOUR, label=f"estimated {metric}", gid="estimated")
    got = _values_on(days, realized)
    if np.isfinite(got).any():
        ax.plot(x, got, "o", markersize=3, color=CURRENT_COLOUR, label=f"realized {metric}", gid="realized")
    if reference is not None and math.isfinite(reference):
        ax.axhline(reference, color="#555555", linestyle="--", linewidth=1, label=f"reference {_fmt(reference)}")
    for i, (name, value) in enumerate(bands):
        colour = FAIL_COLOUR if name.upper() == "ERROR" else "#888888"
        ax.axhline(
            value, color=colour, linestyle=":" if i % 2 == 0 else "-.", linewidth=1, label=f"{name} {_fmt(value)}"
        )
    ax.legend(fontsize=_FONT - 1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(ax, f"{metric} estimated without labels, and realized")
    _date_axis(ax, days)
    return fig


def estimate_over_days_png(
    estimated: Mapping[dt.date, tuple[float, float, float]],
    realized: Mapping[dt.date, float],
    *,
    metric: str,
    reference: float | None,
    bands: Sequence[tuple[str, float]],
) -> bytes:
    """PNG of :func:`estimate_over_days_figure`."""
    return _png(estimate_over_days_figure(estimated, realized, metric=metric, reference=reference, bands=bands))
