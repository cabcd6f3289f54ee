"""Data-quality suites without a warehouse: the generator (compared whole with a suite written out
by hand from the documented rules), load-time validation (one line naming file and expectation),
Great Expectations' own check (first thing in a run), exact counts from a profile against numpy
on the raw values, and the merge of chunk results."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import expectations
from expectations import SEVERITIES, generate_suite, load_suite, parse_suite, validate_days
from expectations._generate import NUMERIC_TYPES, STRING_TYPES, type_family
from expectations._results import (
    Counts,
    Tally,
    answered_by_profile,
    merge_day,
    mostly_success,
    profile_bound,
    profile_counts,
)
from expectations._suite import SuiteExpectation
from monitoring_assets.core.profile import (
    CategoricalBins,
    NumericBins,
    ProfileLayout,
    profile_from_values,
)
from monitoring_assets.errors import SpecError
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources._profiles import ReferenceProfile
from tests.conftest import REPO


def tiny_spec() -> MonitorSpec:
    return parse_spec(
        {
            "name": "m",
            "source": {"table": "t", "timestamp_column": "ts", "id_column": "id"},
            "features": {"numeric": ["x"], "categorical": ["c"]},
            "prediction": {"task": "binary_classification", "score_column": "score"},
            "reference": {"window": {"start": "2024-01-01", "end": "2024-01-02"}},
            "partitions": {"start_date": "2024-01-03"},
        }
    )


LAYOUT = ProfileLayout(
    numeric={"x": NumericBins(0.0, 100.0, 10), "score": NumericBins(0.01, 0.99, 10)},
    categorical={"c": CategoricalBins(("a", "b"))},
)
ROWS = {
    "x": [None, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0],
    "score": [0.1] * 10,
    "c": ["a", "a", "a", "b", "b", "z", "a", "b", None, "a"],
}


def tiny_reference() -> ReferenceProfile:
    whole = profile_from_values(LAYOUT, ROWS)
    first = profile_from_values(LAYOUT, {k: v[:4] for k, v in ROWS.items()})
    second = profile_from_values(LAYOUT, {k: v[4:] for k, v in ROWS.items()})
    return ReferenceProfile(LAYOUT, whole, {dt.date(2024, 1, 1): first, dt.date(2024, 1, 2): second})


def _e(kind: str, kwargs: dict[str, Any], severity: str, basis: str) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": severity, "basis": basis}, "severity": severity}


def test_generated_suite_is_the_documented_one() -> None:
    suite = generate_suite(tiny_spec(), tiny_reference(), {"x": "DOUBLE", "score": "DOUBLE", "c": "VARCHAR"})
    numeric, string = list(NUMERIC_TYPES), list(STRING_TYPES)
    # Worked by hand from the rules in expectations/README.md:
    # reference days of 4 and 6 rows -> critical below 0.5 x 4 = 2, warning outside [0.8 x 4, 1.25 x 6] = [3, 8];
    # x: 1 null of 10 -> mostly 1 - (0.1 + 0.05) = 0.85 and 1 - (0.1 + 0.5) = 0.4; bins [0, 100) widened by
    # 50 each side -> [-50, 150], clamped to 0 (every x >= 0), 4 significant digits of the width 100 -> step 0.1;
    # score: no nulls; bins [0.01, 0.99) -> [-0.48, 1.48] -> [0, 1.48]; and in [0, 1] (critical);
    # c: 1 null of 10; 1 of 9 non-null values outside the top 2 -> mostly 1 - (1/9 + 0.01) = 0.8788 (floored).
    days = "reference days held 4..6 rows"
    expected = [
        _e(
            "expect_table_row_count_to_be_between",
            {"min_value": 2, "max_value": None},
            "critical",
            f"{days}: fewer than 0.5 x the smallest is a collapse",
        ),
        _e(
            "expect_table_row_count_to_be_between",
            {"min_value": 3, "max_value": 8},
            "warning",
            f"{days}: within 0.8 x the smallest and 1.25 x the largest",
        ),
    ]
    for column, family, types, null_rate, mostly in (
        ("x", "numeric", numeric, "10.00 %", (0.85, 0.4)),
        ("score", "numeric", numeric, "0.00 %", (0.95, 0.5)),
        ("c", "string", string, "10.00 %", (0.85, 0.4)),
    ):
        sql = "VARCHAR" if family == "string" else "DOUBLE"
        expected += [
            _e("expect_column_to_exist", {"column": column}, "critical", "named by the spec"),
            _e(
                "expect_column_values_to_be_in_type_list",
                {"column": column, "type_list": types},
                "critical",
                f"{family} in the source table ({sql})",
            ),
            _e(
                "expect_column_values_to_not_be_null",
                {"column": column, "mostly": mostly[0]},
                "warning",
                f"null rate above the reference's {null_rate} + 5 points",
            ),
            _e(
                "expect_column_values_to_not_be_null",
                {"column": column, "mostly": mostly[1]},
                "critical",
                f"null rate above the reference's {null_rate} + 50 points: the column is mostly missing",
            ),
        ]
        if column == "x":
            expected.append(
                _e(
                    "expect_column_values_to_be_between",
                    {"column": "x", "min_value": 0.0, "max_value": 150.0, "mostly": 0.99},
                    "warning",
                    "reference 0.1-99.9 % quantiles [0.0, 100.0] widened by 0.5 x their width on each side; "
                    "kept >= 0 like every reference value; at most 1.00 % of values outside",
                )
            )
        elif column == "score":
            expected += [
                _e(
                    "expect_column_values_to_be_between",
                    {"column": "score", "min_value": 0.0, "max_value": 1.48, "mostly": 0.99},
                    "warning",
                    "reference 0.1-99.9 % quantiles [0.01, 0.99] widened by 0.5 x their width on each side; "
                    "kept >= 0 like every reference value; at most 1.00 % of values outside",
                ),
                _e(
                    "expect_column_values_to_be_between",
                    {"column": "score", "min_value": 0.0, "max_value": 1.0},
                    "critical",
                    "a binary classifier's score is a probability (the reference's scores are all in [0, 1])",
                ),
            ]
        else:
            expected.append(
                _e(
                    "expect_column_values_to_be_in_set",
                    {"column": "c", "value_set": ["a", "b"], "mostly": 0.8788},
                    "warning",
                    "the reference's 2 most frequent values; 11.11 % of reference values were other values, so up "
                    "to 12.12 % may be outside the set",
                )
            )
    assert suite["name"] == "m"
    assert suite["expectations"] == expected
    assert suite["meta"]["monitoring"]["reference_rows"] == 10
    assert suite["meta"]["monitoring"]["reference_days"] == 2


def test_without_daily_sub_windows_only_an_empty_day_is_critical() -> None:
    ref = tiny_reference()
    suite = generate_suite(tiny_spec(), ReferenceProfile(ref.layout, ref.profile, {}), {})
    (row_count,) = [e for e in suite["expectations"] if e["type"] == "expect_table_row_count_to_be_between"]
    assert row_count["kwargs"] == {"min_value": 1, "max_value": None}
    assert row_count["meta"]["severity"] == "critical"


@pytest.mark.parametrize(
    ("sql_type", "family"),
    [
        ("DOUBLE", "numeric"),
        ("BIGINT", "numeric"),
        ("DECIMAL(10,2)", "numeric"),
        ("double precision", "numeric"),
        ("numeric", "numeric"),
        ("VARCHAR", "string"),
        ("character varying", "string"),
        ("text", "string"),
        ("TIMESTAMP", None),
        ("BOOLEAN", None),
    ],
)
def test_type_family_of_sql_types(sql_type: str, family: str | None) -> None:
    assert type_family(sql_type) == family


def test_the_committed_demo_suite_loads_and_every_expectation_has_a_severity() -> None:
    from monitoring_assets.spec import load_spec  # noqa: PLC0415

    spec = load_spec(REPO / "monitors" / "credit_default.yaml")
    suite = load_suite(REPO / "expectations" / "credit_default.json", spec)
    assert suite.name == "credit_default"
    assert {e.severity for e in suite.expectations} <= set(SEVERITIES)
    raw = json.loads((REPO / "expectations" / "credit_default.json").read_text())
    assert all(e["meta"]["severity"] == e["severity"] for e in raw["expectations"])
    null_flood = [
        e
        for e in suite.expectations
        if e.type == "expect_column_values_to_not_be_null" and e.column == "loan_amount" and e.severity == "critical"
    ]
    assert len(null_flood) == 1 and null_flood[0].kwargs["mostly"] == 0.5


# -- load-time validation ------------------------------------------------------------------------


def _suite(*expectations: dict[str, Any], name: str = "m") -> dict[str, Any]:
    return {"name": name, "expectations": list(expectations)}


GOOD = _e("expect_column_values_to_not_be_null", {"column": "x", "mostly": 0.9}, "warning", "")


def _load(tmp_path: Path, data: object) -> None:
    path = tmp_path / "m.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    load_suite(path, tiny_spec())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _suite(GOOD, _e("expect_column_values_to_be_between", {"column": "incme", "min_value": 0}, "warning", "")),
            "expectations[1] (expect_column_values_to_be_between, incme): column 'incme' is not a column of "
            "monitor 'm' (it names: ts, id, x, c, score)",
        ),
        (
            _suite({"type": "expect_column_to_exist", "kwargs": {"column": "x"}, "meta": {"severity": "high"}}),
            "expectations[0] (expect_column_to_exist): meta.severity must be one of critical, warning, info, "
            "got 'high'",
        ),
        (
            _suite({**GOOD, "severity": "critical"}),
            "expectations[0] (expect_column_values_to_not_be_null): severity 'critical' disagrees with "
            "meta.severity 'warning' (keep them equal)",
        ),
        (
            _suite(GOOD, GOOD),
            "expectations[1] (expect_column_values_to_not_be_null, x): repeats expectations[0] (same type and kwargs)",
        ),
        (_suite(GOOD, name="other"), "name: 'other' is not the monitor's name 'm'"),
        ('{"name": "m",\n "expectations": [}', "line 2: not valid JSON"),
    ],
)
def test_a_bad_suite_fails_at_load_with_one_line_naming_file_and_expectation(
    tmp_path: Path, data: object, message: str
) -> None:
    with pytest.raises(SpecError) as info:
        _load(tmp_path, data)
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'm.json'}: {message}")
    assert "\n" not in text


class _Untouchable:
    """A warehouse stand-in that fails the test on first use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the warehouse was used ({name}) before the suite was checked")


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (
            _e("expect_column_values_to_be_between", {"column": "x", "max_valu": 3}, "warning", ""),
            "expectations[0] (expect_column_values_to_be_between, x): not a valid Great Expectations expectation:",
        ),
        (
            _e("expect_column_values_to_be_sane", {"column": "x"}, "warning", ""),
            "expectations[0] (expect_column_values_to_be_sane, x): not a valid Great Expectations expectation:",
        ),
    ],
)
def test_an_expectation_great_expectations_rejects_fails_before_any_row_is_read(
    tmp_path: Path, expectation: dict[str, Any], message: str
) -> None:
    """Great Expectations' own models are not consulted at load (importing it takes seconds, in
    every run process); the run checks them first, with the same one line."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_suite(expectation)))
    suite = load_suite(path, tiny_spec())
    with pytest.raises(SpecError) as info:
        validate_days(_Untouchable(), tiny_spec(), suite, [dt.date(2024, 1, 3)])  # type: ignore[arg-type]
    text = str(info.value)
    assert text.startswith(f"{path}: {message}")
    assert "\n" not in text


def test_a_suite_may_name_every_source_column_of_the_spec(tmp_path: Path) -> None:
    columns = ["ts", "id", "x", "c", "score"]
    data = _suite(*(_e("expect_column_to_exist", {"column": c}, "info", "") for c in columns))
    suite = parse_suite(data, tiny_spec(), tmp_path / "m.json")
    assert [e.column for e in suite.expectations] == columns
    assert suite.counts() == {"critical": 0, "warning": 0, "info": 5}


# -- exact counts from a profile ------------------------------------------------------------------


def _expectation(kind: str, **kwargs: Any) -> SuiteExpectation:
    raw = {"type": kind, "kwargs": kwargs, "meta": {"severity": "warning"}}
    return SuiteExpectation(0, kind, kwargs, "warning", raw["meta"], raw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_profile_counts_equal_counts_on_the_raw_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    x = rng.normal(50, 10, n).astype(object)
    x[rng.choice(n, 37, replace=False)] = None
    c = rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.2, 0.07, 0.03]).astype(object)
    c[rng.choice(n, 11, replace=False)] = None
    layout = ProfileLayout({"x": NumericBins(20.0, 80.0, 50)}, {"c": CategoricalBins(("a", "b", "c"))})
    profile = profile_from_values(layout, {"x": x, "c": c})
    finite = np.array([v for v in x if v is not None], dtype=float)
    non_null_c = np.array([v for v in c if v is not None])

    nulls = profile_counts(_expectation("expect_column_values_to_not_be_null", column="x"), profile)
    assert nulls == Counts(n, 0, sum(v is None for v in x))

    wide = profile_counts(_expectation("expect_column_values_to_be_between", column="x", min_value=-1e9), profile)
    assert wide == Counts(n, 37, 0)  # every value inside: settled by the day's minimum
    above = profile_counts(
        _expectation("expect_column_values_to_be_between", column="x", max_value=float(finite.min()) - 1), profile
    )
    assert above == Counts(n, 37, len(finite))  # every value above max_value: settled by the minimum
    inside = _expectation("expect_column_values_to_be_between", column="x", min_value=40.0, max_value=60.0)
    assert profile_counts(inside, profile) is None  # some values outside: the histogram only bounds them

    subset = profile_counts(
        _expectation("expect_column_values_to_be_in_set", column="c", value_set=["a", "c"]), profile
    )
    assert subset == Counts(n, 11, int(np.isin(non_null_c, ["a", "c"], invert=True).sum()))
    beyond = _expectation("expect_column_values_to_be_in_set", column="c", value_set=["a", "b", "c", "d"])
    assert profile_counts(beyond, profile) is None  # "d" may hide in the other cell


def test_profile_counts_leave_nan_and_conditions_to_great_expectations() -> None:
    layout = ProfileLayout({"x": NumericBins(0.0, 1.0, 10)}, {})
    profile = profile_from_values(layout, {"x": [0.5, float("nan"), 0.2]})
    assert profile_counts(_expectation("expect_column_values_to_be_between", column="x", min_value=0), profile) is None
    conditional = _expectation("expect_column_values_to_not_be_null", column="x", row_condition="x>0")
    assert profile_counts(conditional, profile) is None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_histogram_bound_is_never_below_the_count_on_the_raw_values(seed: int) -> None:
    """``profile_bound`` is an upper bound of numpy's count of values outside the range, for ranges
    anywhere: on cell edges (where the cell arithmetic may round across), on data values, in the
    tails, strict or not."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.standard_t(3, 5000) * 2.0, rng.choice([-0.4, 0.0, 1.2], 500)])
    bins = NumericBins(-3.0, 3.0, 60)
    profile = profile_from_values(ProfileLayout({"x": bins}, {}), {"x": x})
    edges = bins.inner_edges()
    candidates = [
        *edges,
        *rng.choice(x, 30),
        *rng.uniform(-12, 12, 30),
        -0.4,
        0.0,
        1.2,
        bins.lo,
        bins.hi,
        float(x.min()),
        float(x.max()),
    ]
    for _ in range(1000):
        low, high = sorted(float(v) for v in rng.choice(candidates, 2))
        strict_min, strict_max = bool(rng.integers(2)), bool(rng.integers(2))
        kwargs: dict[str, Any] = {"column": "x", "min_value": low, "max_value": high}
        kwargs |= {"strict_min": strict_min, "strict_max": strict_max}
        if rng.integers(4) == 0:
            del kwargs[rng.choice(["min_value", "max_value"])]
        bound = profile_bound(_expectation("expect_column_values_to_be_between", **kwargs), profile)
        assert bound is not None
        below = (x <= low if strict_min else x < low) if "min_value" in kwargs else np.zeros(len(x), bool)
        above = (x >= high if strict_max else x > high) if "max_value" in kwargs else np.zeros(len(x), bool)
        assert int((below | above).sum()) <= bound.unexpected <= len(x), kwargs


def test_a_generated_range_on_a_healthy_day_passes_from_the_histogram_alone() -> None:
    """The generated range lies in the reference's tail cells: on a day like the reference only the
    tail cells' values are in doubt, so the bound passes at mostly = 0.99; a day with 3 % of its
    values beyond the range is left to Great Expectations (the bound cannot pass)."""
    rng = np.random.default_rng(7)
    reference = rng.normal(0, 1, 200_000)
    lo, hi = np.quantile(reference, [0.001, 0.999])
    layout = ProfileLayout({"x": NumericBins(float(lo), float(hi), 1000)}, {})
    width = hi - lo
    e = _expectation(
        "expect_column_values_to_be_between",
        column="x",
        min_value=lo - 0.1 * width,
        max_value=hi + 0.1 * width,
        mostly=0.99,
    )
    healthy = rng.normal(0, 1, 100_000)
    profile = profile_from_values(layout, {"x": healthy})
    assert profile_counts(e, profile) is None  # a few values beyond the range: min/max do not settle it
    bound = profile_bound(e, profile)
    assert bound is not None
    tails = int(((healthy < lo) | (healthy >= hi)).sum())
    assert bound.unexpected <= tails + int(((healthy >= hi - width / 1000) & (healthy < hi)).sum())
    assert answered_by_profile(e, profile, len(healthy))
    (outcome,) = merge_day(
        dt.date(2024, 1, 1),
        [Tally(e)],
        profile=profile,
        row_count=len(healthy),
        source="all rows",
        validation="",
        rows_validated=0,
    ).outcomes
    outside = int(((healthy < lo - 0.1 * width) | (healthy > hi + 0.1 * width)).sum())
    assert outcome.success and (len(healthy) - outside) / len(healthy) >= 0.99  # numpy agrees it passes
    assert outcome.source == "profile" and outcome.observed.startswith("at most ")
    assert outcome.unexpected_count is None  # a bound, not a count

    shifted = np.concatenate([healthy[:97_000], rng.uniform(hi + 0.2 * width, hi + width, 3_000)])
    assert not answered_by_profile(e, profile_from_values(layout, {"x": shifted}), len(shifted))


# -- merging chunk results ------------------------------------------------------------------------


def test_count_results_add_up_over_chunks_and_mostly_is_great_expectations_rule() -> None:
    e = _expectation("expect_column_values_to_be_in_set", column="c", value_set=["a"], mostly=0.9)
    tally = Tally(e)
    tally.add(
        False, {"element_count": 100, "missing_count": 10, "unexpected_count": 12, "partial_unexpected_list": ["z"]}
    )
    tally.add(True, {"element_count": 50, "missing_count": 0, "unexpected_count": 3, "partial_unexpected_list": []})
    outcome = tally.finish(exact=None, row_count=None, source="all rows")
    # 15 of 140 considered values unexpected: 125 / 140 = 0.893 < 0.9 although the second chunk passed.
    assert (outcome.unexpected_count, outcome.considered_count, outcome.success) == (15, 140, False)
    assert outcome.unexpected_values == ("z",)
    assert mostly_success(Counts(140, 0, 14), 0.9) and not mostly_success(Counts(140, 0, 15), 0.9)
    assert mostly_success(Counts(0, 0, 0), 1.0)  # nothing considered: vacuously true, as in GE


def test_an_exact_profile_count_wins_over_the_chunks() -> None:
    e = _expectation("expect_column_values_to_not_be_null", column="x", mostly=0.5)
    tally = Tally(e)
    tally.add(True, {"element_count": 100, "unexpected_count": 40})  # pandas also counts NaN as null
    outcome = tally.finish(exact=Counts(100, 0, 60), row_count=None, source="sample")
    assert (outcome.unexpected_count, outcome.success, outcome.source, outcome.exact) == (60, False, "profile", True)


def test_public_api_is_pinned() -> None:
    assert expectations.__all__ == [
        "SEVERITIES",
        "SUITES_DIR_ENV",
        "Suite",
        "SuiteExpectation",
        "find_suite",
        "load_suite",
        "parse_suite",
        "spec_columns",
        "suite_path",
        "suites_dir",
        "generate_suite",
        "CHUNK_ROWS",
        "MAX_ROWS",
        "DayQuality",
        "Outcome",
        "blocked_days",
        "check_days",
        "validate_days",
    ]
