"""Fairness slices checked against an independent pandas groupby on the RAW rows.

The per-group counts are built here with plain numpy counting, the expected group metrics come from
pandas groupby means over the raw rows, and the expected disparities from max / min over those
pandas results following the module docstring (fairlearn's extremes, or a reference group).
Nothing is compared with an earlier output of our own code.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monitoring_assets.core.fairness import (
    DISPARITIES,
    GROUP_METRICS,
    GroupCounts,
    SliceReport,
    evaluate_disparities,
    slice_report,
)

MIN_SIZE = 30


# ---------------------------------------------------------------------------------------------
# Raw rows
# ---------------------------------------------------------------------------------------------


def _rows(rng: np.random.Generator, group: str, n: int, prevalence: float, tpr: float, fpr: float) -> pd.DataFrame:
    y = (rng.random(n) < prevalence).astype(np.float64)
    pred = (rng.random(n) < np.where(y == 1, tpr, fpr)).astype(np.float64)
    label = np.where(rng.random(n) < 0.15, np.nan, y)  # late labels
    return pd.DataFrame({"group": group, "label": label, "pred": pred})


def make_rows(seed: int = 7) -> pd.DataFrame:
    """Five groups of different sizes.

    * ``a`` (600 rows), ``b`` (300 rows) and ``e`` (200 rows): ordinary groups, a few rows without a
      prediction in ``a``; ``e`` has a high FPR, so the FPR gap is the larger half of equalized odds;
    * ``c`` (40 rows): only 5 labeled positives, all predicted positive (TPR 1.0, the most extreme), but
      33 labeled negatives, so its FPR is comparable while its TPR is not;
    * ``d`` (12 rows, under MIN_SIZE): everything predicted positive on negatives (selection rate and
      FPR 1.0), so any leak into a disparity would show.
    """
    rng = np.random.default_rng(seed)
    a = _rows(rng, "a", 600, prevalence=0.4, tpr=0.80, fpr=0.20)
    a.loc[rng.choice(600, 20, replace=False), "pred"] = np.nan
    b = _rows(rng, "b", 300, prevalence=0.5, tpr=0.55, fpr=0.10)
    e = _rows(rng, "e", 200, prevalence=0.45, tpr=0.65, fpr=0.70)
    c_label = np.array([1.0] * 5 + [0.0] * 33 + [np.nan] * 2)
    c_pred = np.array([1.0] * 5 + [1.0] * 6 + [0.0] * 27 + [1.0, 0.0])
    c = pd.DataFrame({"group": "c", "label": c_label, "pred": c_pred})
    d = pd.DataFrame({"group": "d", "label": np.r_[np.zeros(10), np.full(2, np.nan)], "pred": np.ones(12)})
    df = pd.concat([a, b, c, d, e], ignore_index=True)
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)  # interleave the groups


def counts_by_numpy(df: pd.DataFrame) -> dict[str, GroupCounts]:
    """GroupCounts per group from plain numpy counting on the raw columns."""
    group, label, pred = df["group"].to_numpy(), df["label"].to_numpy(float), df["pred"].to_numpy(float)
    out = {}
    for name in np.unique(group):
        m = group == name
        lab, pr = label[m], pred[m]
        valid = ~np.isnan(lab) & ~np.isnan(pr)
        confusion = np.zeros((2, 2), np.int64)
        for i in (0, 1):
            for j in (0, 1):
                confusion[i, j] = np.sum(valid & (lab == i) & (pr == j))
        out[str(name)] = GroupCounts(
            n=int(m.sum()),
            n_predicted=int(np.sum(~np.isnan(pr))),
            n_predicted_positive=int(np.sum(pr == 1)),
            confusion=confusion,
        )
    return out


def pandas_reference(df: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Per-group n, each GROUP_METRIC, and each metric's own denominator, by pandas groupby."""
    n = df.groupby("group").size()
    has_pred = df[df["pred"].notna()]
    lab = df[df["label"].notna() & df["pred"].notna()]
    parts = {
        "selection_rate": has_pred.groupby("group")["pred"].agg(["mean", "size"]),
        "true_positive_rate": lab[lab["label"] == 1].groupby("group")["pred"].agg(["mean", "size"]),
        "false_positive_rate": lab[lab["label"] == 0].groupby("group")["pred"].agg(["mean", "size"]),
        "precision": lab[lab["pred"] == 1].groupby("group")["label"].agg(["mean", "size"]),
        "accuracy": lab.assign(ok=lab["label"] == lab["pred"]).groupby("group")["ok"].agg(["mean", "size"]),
    }
    rates = pd.DataFrame({m: p["mean"] for m, p in parts.items()}).reindex(n.index)
    dens = pd.DataFrame({m: p["size"] for m, p in parts.items()}).reindex(n.index).fillna(0)
    return n, rates, dens


def comparable(metric: str, n: pd.Series, rates: pd.DataFrame, dens: pd.DataFrame) -> dict[str, float]:
    """Rates of unsuppressed groups whose own denominator reaches MIN_SIZE."""
    keep = (n >= MIN_SIZE) & (dens[metric] >= MIN_SIZE) & rates[metric].notna()
    return {str(g): float(r) for g, r in rates.loc[keep, metric].items()}


def extremes(rates: dict[str, float], kind: str) -> float:
    """fairlearn's definitions: max - min, min / max."""
    hi, lo = max(rates.values()), min(rates.values())
    return hi - lo if kind == "difference" else lo / hi


def against(rates: dict[str, float], kind: str, ref: str) -> float:
    """Reference-group definitions: max |r - r0|, min min(r, r0) / max(r, r0) over the other groups."""
    if ref not in rates or len(rates) < 2:
        return math.nan
    r0 = rates[ref]
    others = [r for g, r in rates.items() if g != ref]
    if kind == "difference":
        return max(abs(r - r0) for r in others)
    return min(min(r, r0) / max(r, r0) for r in others)


def expected_disparities(df: pd.DataFrame, reference_group: str | None) -> dict[str, float]:
    n, rates, dens = pandas_reference(df)
    sel = comparable("selection_rate", n, rates, dens)
    tpr = comparable("true_positive_rate", n, rates, dens)
    fpr = comparable("false_positive_rate", n, rates, dens)

    def dis(r: dict[str, float], kind: str) -> float:
        return extremes(r, kind) if reference_group is None else against(r, kind, reference_group)

    return {
        "demographic_parity_difference": dis(sel, "difference"),
        "demographic_parity_ratio": dis(sel, "ratio"),
        "equal_opportunity_difference": dis(tpr, "difference"),
        "equalized_odds_difference": max(dis(tpr, "difference"), dis(fpr, "difference")),
    }


def assert_disparities(got: dict[str, float], expected: dict[str, float]) -> None:
    assert set(got) == set(DISPARITIES)
    for name, value in expected.items():
        if math.isnan(value):
            assert math.isnan(got[name]), name
        else:
            assert got[name] == pytest.approx(value, abs=1e-12, rel=0), name


# ---------------------------------------------------------------------------------------------
# Group metrics and disparities
# ---------------------------------------------------------------------------------------------


def test_fixture_is_what_the_tests_assume() -> None:
    """Guard: the raw rows really have the shape the other tests rely on."""
    n, rates, dens = pandas_reference(make_rows())
    assert n.to_dict() == {"a": 600, "b": 300, "c": 40, "d": 12, "e": 200}
    assert dens.loc["c", "true_positive_rate"] == 5 and dens.loc["c", "false_positive_rate"] == 33
    assert rates.loc["c", "true_positive_rate"] == 1.0
    assert rates.loc["d", "selection_rate"] == 1.0 and rates.loc["d", "false_positive_rate"] == 1.0
    assert dens.loc["a", "selection_rate"] == 580  # 20 rows without a predicted label
    tpr = rates.loc[["a", "b", "e"], "true_positive_rate"]
    fpr = rates.loc[["a", "b", "c", "e"], "false_positive_rate"]
    assert fpr.max() - fpr.min() > tpr.max() - tpr.min() + 0.05  # equalized odds takes the FPR gap


def test_group_metrics_match_pandas_groupby() -> None:
    """Every reported group metric equals the pandas groupby mean on the raw rows."""
    df = make_rows()
    report = slice_report("segment", counts_by_numpy(df), MIN_SIZE)
    n, rates, _ = pandas_reference(df)
    assert report.column == "segment"
    assert report.compared == "extremes"
    assert set(report.groups) == {"a", "b", "c", "e"}
    for g, values in report.groups.items():
        assert values["n"] == n[g]
        assert set(values) == {"n", *GROUP_METRICS}
        for metric in GROUP_METRICS:
            assert values[metric] == pytest.approx(rates.loc[g, metric], abs=1e-12, rel=0), (g, metric)
    # The small-denominator TPR of c is reported, even though it is not compared.
    assert report.groups["c"]["true_positive_rate"] == 1.0


def test_disparities_extremes_match_by_hand() -> None:
    """Extremes mode: max - min and min / max over the pandas rates of the comparable groups."""
    df = make_rows()
    report = slice_report("segment", counts_by_numpy(df), MIN_SIZE)
    assert_disparities(report.disparities, expected_disparities(df, None))


@pytest.mark.parametrize("reference_group", ["a", "b", "e"])
def test_disparities_reference_group_match_by_hand(reference_group: str) -> None:
    """Reference mode: max |r - r0| and min min(r, r0)/max(r, r0) over the other comparable groups."""
    df = make_rows()
    report = slice_report("segment", counts_by_numpy(df), MIN_SIZE, reference_group=reference_group)
    assert report.compared == f"reference group {reference_group}"
    expected = expected_disparities(df, reference_group)
    assert all(math.isfinite(v) for v in expected.values())
    assert_disparities(report.disparities, expected)


def test_reference_group_modes_differ() -> None:
    """Guard: with three comparable selection rates the two modes are genuinely different numbers."""
    df = make_rows()
    n, rates, dens = pandas_reference(df)
    sel = comparable("selection_rate", n, rates, dens)
    assert set(sel) == {"a", "b", "c", "e"}
    mid = sorted(sel, key=sel.get)[1]
    ext = slice_report("s", counts_by_numpy(df), MIN_SIZE).disparities
    ref = slice_report("s", counts_by_numpy(df), MIN_SIZE, reference_group=mid).disparities
    assert ref["demographic_parity_difference"] < ext["demographic_parity_difference"]
    assert ref["demographic_parity_ratio"] > ext["demographic_parity_ratio"]


# ---------------------------------------------------------------------------------------------
# Suppression and small denominators
# ---------------------------------------------------------------------------------------------


def test_small_group_is_suppressed_and_does_not_leak() -> None:
    """Group d (12 rows) is listed as suppressed, not shown, and its extreme rates change no disparity."""
    df = make_rows()
    counts = counts_by_numpy(df)
    report = slice_report("segment", counts, MIN_SIZE)
    assert report.suppressed == ["d"]
    assert "d" not in report.groups
    # Identical to the report on the rows without d at all.
    without_d = df[df["group"] != "d"]
    assert_disparities(report.disparities, expected_disparities(without_d, None))
    # And the test would notice a leak: with d counted the demographic parity is far larger.
    _, rates, _ = pandas_reference(df)
    leaked = rates.loc[["a", "b", "c", "d", "e"], "selection_rate"]
    assert leaked.max() - leaked.min() > report.disparities["demographic_parity_difference"] + 0.2
    assert leaked.min() / leaked.max() < report.disparities["demographic_parity_ratio"] - 0.1


def test_small_denominator_rate_reported_but_not_compared() -> None:
    """c's TPR (5 labeled positives) is left out of the TPR disparities; its FPR (33 negatives) is not."""
    df = make_rows()
    report = slice_report("segment", counts_by_numpy(df), MIN_SIZE)
    _, rates, _ = pandas_reference(df)
    tpr = rates.loc[["a", "b", "e"], "true_positive_rate"]
    fpr = rates.loc[["a", "b", "c", "e"], "false_positive_rate"]
    eo = tpr.max() - tpr.min()
    assert report.disparities["equal_opportunity_difference"] == pytest.approx(eo, abs=1e-12)
    assert report.disparities["equalized_odds_difference"] == pytest.approx(max(eo, fpr.max() - fpr.min()), abs=1e-12)
    # A leak of c's TPR (1.0, above every other group) would change the number.
    tpr_leaked = rates.loc[["a", "b", "c", "e"], "true_positive_rate"]
    assert tpr_leaked.max() - tpr_leaked.min() > eo + 0.1


def test_reference_group_without_comparable_rate_gives_nan() -> None:
    """Reference c: its selection rate is comparable but its TPR is not, so only the TPR disparities are NaN."""
    df = make_rows()
    got = slice_report("segment", counts_by_numpy(df), MIN_SIZE, reference_group="c").disparities
    expected = expected_disparities(df, "c")
    assert math.isnan(expected["equal_opportunity_difference"])
    assert math.isfinite(expected["demographic_parity_difference"])
    assert_disparities(got, expected)


def test_suppressed_reference_group_gives_nan() -> None:
    """A suppressed reference group has no values to compare with: every disparity is NaN."""
    df = make_rows()
    got = slice_report("segment", counts_by_numpy(df), MIN_SIZE, reference_group="d").disparities
    assert all(math.isnan(v) for v in got.values())


def test_single_group_left_gives_nan() -> None:
    """With one unsuppressed group there is nothing to compare."""
    df = make_rows()
    counts = {g: c for g, c in counts_by_numpy(df).items() if g in {"a", "d"}}
    report = slice_report("segment", counts, MIN_SIZE)
    assert set(report.groups) == {"a"} and report.suppressed == ["d"]
    assert all(math.isnan(v) for v in report.disparities.values())


def test_counts_merge_by_addition() -> None:
    """GroupCounts of two halves of the rows, merged, give the pandas metrics of all the rows."""
    df = make_rows()
    first, second = counts_by_numpy(df.iloc[:400]), counts_by_numpy(df.iloc[400:])
    merged = {g: first.get(g, GroupCounts()).merge(second.get(g, GroupCounts())) for g in set(first) | set(second)}
    report = slice_report("segment", merged, MIN_SIZE)
    _, rates, _ = pandas_reference(df)
    for g, values in report.groups.items():
        for metric in GROUP_METRICS:
            assert values[metric] == pytest.approx(rates.loc[g, metric], abs=1e-12, rel=0), (g, metric)
    assert_disparities(report.disparities, expected_disparities(df, None))


# ---------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------

THRESHOLDS = {
    "demographic_parity_difference": (0.1, 0.2),
    "demographic_parity_ratio": (0.8, 0.6),
    "equal_opportunity_difference": (0.1, 0.2),
    "equalized_odds_difference": (0.1, 0.2),
}


def _report(column: str, **disparities: float) -> SliceReport:
    return SliceReport(column, {}, [], dict(disparities), "extremes")


def test_evaluate_disparities_levels() -> None:
    """Differences: > error is error, > warn is warn; ratios: < error is error, < warn is warn; NaN no_data."""
    reports = {
        "gender": _report(
            "gender",
            demographic_parity_difference=0.25,
            demographic_parity_ratio=0.5,
            equal_opportunity_difference=0.15,
            equalized_odds_difference=math.nan,
        ),
        "region": _report(
            "region",
            demographic_parity_difference=0.05,
            demographic_parity_ratio=0.7,
            equal_opportunity_difference=0.0,
        ),  # equalized_odds_difference missing entirely
    }
    verdicts = evaluate_disparities(reports, THRESHOLDS)
    levels = {(v.column, v.disparity): v.level for v in verdicts}
    assert levels == {
        ("gender", "demographic_parity_difference"): "error",
        ("gender", "demographic_parity_ratio"): "error",
        ("gender", "equal_opportunity_difference"): "warn",
        ("gender", "equalized_odds_difference"): "not_evaluated",
        ("region", "demographic_parity_difference"): "ok",
        ("region", "demographic_parity_ratio"): "warn",
        ("region", "equal_opportunity_difference"): "ok",
        ("region", "equalized_odds_difference"): "not_evaluated",
    }
    v = next(v for v in verdicts if v.column == "gender" and v.disparity == "demographic_parity_ratio")
    assert (v.value, v.warn, v.error) == (0.5, 0.8, 0.6)


def test_evaluate_disparities_on_real_report() -> None:
    """The verdict on the raw-row report follows the by-hand disparity values."""
    df = make_rows()
    report = slice_report("segment", counts_by_numpy(df), MIN_SIZE)
    expected = expected_disparities(df, None)
    for v in evaluate_disparities({"segment": report}, THRESHOLDS):
        value = expected[v.disparity]
        warn, error = THRESHOLDS[v.disparity]
        if v.disparity.endswith("_ratio"):
            want = "error" if value < error else "warn" if value < warn else "ok"
        else:
            want = "error" if value > error else "warn" if value > warn else "ok"
        assert v.level == want, (v.disparity, value)


def test_min_size_boundary_is_inclusive() -> None:
    """A group of exactly MIN_SIZE rows is shown; a rate with exactly MIN_SIZE in its denominator is compared.

    Group x: 30 rows, 30 labeled positives, TPR 0.5 and selection rate 0.5; group y: 31 rows,
    selection rate 0 with 31 labeled negatives (no positives: its TPR is NaN).
    """
    x = GroupCounts(30, 30, 15, np.array([[0, 0], [15, 15]], np.int64))
    y = GroupCounts(31, 31, 0, np.array([[31, 0], [0, 0]], np.int64))
    z = GroupCounts(29, 29, 29, np.array([[0, 29], [0, 0]], np.int64))
    report = slice_report("s", {"x": x, "y": y, "z": z}, MIN_SIZE)
    assert set(report.groups) == {"x", "y"} and report.suppressed == ["z"]
    assert report.disparities["demographic_parity_difference"] == 0.5
    assert report.disparities["demographic_parity_ratio"] == 0.0
    assert math.isnan(report.disparities["equal_opportunity_difference"])  # one comparable TPR only
    assert math.isnan(report.disparities["equalized_odds_difference"])
    assert math.isnan(report.groups["y"]["true_positive_rate"])


def test_evaluate_disparities_boundaries_are_strict() -> None:
    """A value exactly at a threshold does not cross it (binary fractions, no rounding)."""
    report = _report("s", demographic_parity_difference=0.25, demographic_parity_ratio=0.5)
    thresholds = {"demographic_parity_difference": (0.125, 0.25), "demographic_parity_ratio": (0.75, 0.5)}
    assert [v.level for v in evaluate_disparities({"s": report}, thresholds)] == ["warn", "warn"]


@pytest.mark.parametrize("reference_group", [None, "x"])
def test_ratio_of_two_zero_rates_is_one(reference_group: str | None) -> None:
    """No group selected at all: the selection rates are equal (0 and 0), so the ratio is 1, not NaN."""
    x = GroupCounts(40, 40, 0, np.array([[20, 0], [20, 0]], np.int64))
    y = GroupCounts(50, 50, 0, np.array([[25, 0], [25, 0]], np.int64))
    got = slice_report("s", {"x": x, "y": y}, MIN_SIZE, reference_group=reference_group).disparities
    assert got["demographic_parity_ratio"] == 1.0
    assert got["demographic_parity_difference"] == 0.0
