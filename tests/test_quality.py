"""A generated suite on real warehouses: it passes on reference-like data and fails, at the right
severity, on each injected break (missing column, type change, null flood, range break, unseen
category, row-count collapse); DuckDB (pandas batches, exact counts from the profile) and
PostgreSQL (Great Expectations' SQL data source) both.

The data are deterministic per day (exact null and category shares, shuffled), so a healthy day
passes every expectation with certainty, and every count is compared exactly (tolerance 0) with
a count on the raw frame.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from expectations import DayQuality, Suite, generate_suite, load_suite, validate_days
from expectations.generate import suite_json
from monitoring_assets import _pipeline
from monitoring_assets.core.profile import Profile
from monitoring_assets.errors import MonitorError
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import write_table

START = dt.date(2024, 1, 1)
DAYS = 6
PER_DAY = 500
DAY = dt.date(2024, 1, 5)  # the day validated (after the 3-day reference window)
COLUMNS = ["x", "y", "score", "c"]


def quality_spec(name: str = "q") -> MonitorSpec:
    return parse_spec(
        {
            "name": name,
            "source": {"table": "t", "timestamp_column": "ts", "id_column": "id", "model_version_column": "mv"},
            "features": {"numeric": ["x", "y"], "categorical": ["c"]},
            "prediction": {"task": "binary_classification", "score_column": "score"},
            "reference": {"window": {"start": "2024-01-01", "end": "2024-01-03"}},
            "partitions": {"start_date": "2024-01-04", "end_date": "2024-01-10"},
            "drift": {"n_bins": 100, "top_k": 3},
        }
    )


def quality_frame(seed: int = 0, days: int = DAYS, per_day: int = PER_DAY) -> pd.DataFrame:
    """Every day: exactly 2 % of x NULL, c shares 40/30/15/10/5 % (a, b, c in the top 3, 15 % other),
    x ~ N(10, 2), y ~ Exp(3), score ~ U(0, 1)."""
    rng = np.random.default_rng(seed)
    parts = []
    pattern = np.array(list("aaaaaaaabbbbbbcccdde"))  # 20 values: a 40 %, b 30 %, c 15 %, d 10 %, e 5 %
    for d in range(days):
        x = rng.normal(10, 2, per_day).astype(object)
        x[rng.permutation(per_day)[: per_day // 50]] = None
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(START + dt.timedelta(days=d))
                    + pd.to_timedelta(np.sort(rng.integers(0, 86_400, per_day)), unit="s"),
                    "x": x,
                    "y": rng.exponential(3.0, per_day),
                    "score": rng.uniform(0, 1, per_day),
                    "c": rng.permutation(np.resize(pattern, per_day)).astype(object),
                    "mv": "1",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "id", np.arange(len(frame)))
    frame.attrs["numeric"] = ("x",)
    return frame


def on_day(frame: pd.DataFrame, day: dt.date = DAY) -> pd.Series:
    return frame["ts"].dt.date == day


# Each break: how it changes the rows, the day's expected level, and the (type, column, severity)
# of every expectation expected to fail.
def _missing_column(f: pd.DataFrame) -> pd.DataFrame:
    return f.drop(columns=["y"])


def _type_change(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f["x"] = [None if v is None else f"{v:.3f}" for v in f["x"]]  # text from an upstream CSV export
    f.attrs["numeric"] = ()
    return f


def _null_flood(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f["y"] = f["y"].astype(object)
    rows = np.flatnonzero(on_day(f))
    f.loc[rows[: int(0.9 * len(rows))], "y"] = None
    f.attrs["numeric"] = ("x", "y")
    return f


def _range_break(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[on_day(f), "y"] = f.loc[on_day(f), "y"] * 1000  # a unit change
    return f


def _unseen_category(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[on_day(f) & (f["c"] == "a"), "c"] = "A"  # a renamed value
    return f


def _row_count_collapse(f: pd.DataFrame) -> pd.DataFrame:
    keep = ~on_day(f) | (np.arange(len(f)) % 10 == 0)  # a tenth of the day arrives
    return f[keep].reset_index(drop=True)


BREAKS = {
    "missing column": (
        _missing_column,
        "critical",
        {
            ("expect_column_to_exist", "y", "critical"),
            ("expect_column_values_to_be_in_type_list", "y", "critical"),
            ("expect_column_values_to_not_be_null", "y", "warning"),
            ("expect_column_values_to_not_be_null", "y", "critical"),
            ("expect_column_values_to_be_between", "y", "warning"),
        },
    ),
    "type change": (_type_change, "critical", {("expect_column_values_to_be_in_type_list", "x", "critical")}),
    "null flood": (
        _null_flood,
        "critical",
        {
            ("expect_column_values_to_not_be_null", "y", "warning"),
            ("expect_column_values_to_not_be_null", "y", "critical"),
        },
    ),
    "range break": (_range_break, "warning", {("expect_column_values_to_be_between", "y", "warning")}),
    "unseen category": (_unseen_category, "warning", {("expect_column_values_to_be_in_set", "c", "warning")}),
    "row-count collapse": (
        _row_count_collapse,
        "critical",
        {
            ("expect_table_row_count_to_be_between", None, "critical"),
            ("expect_table_row_count_to_be_between", None, "warning"),
        },
    ),
}
# Some breaks also upset a value check of the broken column (GE cannot compare text with numbers).
ALSO_MAY_FAIL = {"type change": {("expect_column_values_to_be_between", "x", "warning")}}


@pytest.fixture(params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'wh.duckdb'}"
        return
    pg_url: str = request.getfixturevalue("pg_url")
    yield pg_url
    engine = sa.create_engine(pg_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql('DROP TABLE IF EXISTS "t"')
        conn.exec_driver_sql('DROP SCHEMA IF EXISTS "monitoring" CASCADE')
    engine.dispose()


def build_suite(url: str, spec: MonitorSpec, directory: Path) -> Suite:
    """Reference profile of the healthy table, then the generated suite written and loaded back."""
    write_table(url, "t", quality_frame())
    wh = Warehouse(url)
    try:
        ref = _pipeline.build_reference(wh, spec, Audit("test", spec.spec_hash()))
        data = generate_suite(spec, ref, wh.rows.source_columns(spec), exact_types=not wh.sql.is_duckdb)
    finally:
        wh.dispose()
    path = directory / f"{spec.name}.json"
    path.write_text(suite_json(data))
    return load_suite(path, spec)


def validate(
    url: str, spec: MonitorSpec, suite: Suite, day: dt.date = DAY, **kwargs: int
) -> tuple[DayQuality, Profile | None]:
    """As daily_profile does it: profile the day (when the table allows), then run the suite."""
    wh = Warehouse(url)
    try:
        profiles: dict[dt.date, Profile] = {}
        try:
            layout = wh.profiles.read_layout(spec, spec.profiled_columns)
            profiles = wh.profiles.profile_days(spec, layout, [day])
        except MonitorError:
            pass  # e.g. a missing column: the suite still runs
        return validate_days(wh, spec, suite, [day], profiles, **kwargs)[day], profiles.get(day)
    finally:
        wh.dispose()


def failures(quality: DayQuality) -> set[tuple[str, str | None, str]]:
    return {(o.type, o.column, o.severity) for o in quality.failed}


def test_generated_suite_passes_on_reference_like_data(url: str, tmp_path: Path) -> None:
    spec = quality_spec()
    suite = build_suite(url, spec, tmp_path)
    quality, _ = validate(url, spec, suite)
    assert quality.level == "ok", [(o.type, o.column, o.observed) for o in quality.failed]
    assert len(quality.outcomes) == len(suite.expectations)
    assert all(o.error is None for o in quality.outcomes)
    by_type = {(o.type, o.column, o.severity): o for o in quality.outcomes}
    assert by_type[("expect_table_row_count_to_be_between", None, "critical")].observed == f"{PER_DAY:,} rows"
    nulls = by_type[("expect_column_values_to_not_be_null", "x", "warning")]
    assert (nulls.unexpected_count, nulls.considered_count) == (PER_DAY // 50, PER_DAY)
    other = by_type[("expect_column_values_to_be_in_set", "c", "warning")]
    assert other.unexpected_count == PER_DAY * 15 // 100  # d and e: outside the reference's top 3
    assert nulls.source == other.source == "profile"
    if url.startswith("duckdb"):
        # Every count the profile decides passes and the column types were checked once for the
        # run, so Great Expectations reads no row of a healthy day.
        assert quality.rows_validated == 0 and not quality.sampled
        assert "no row read" in quality.validation
        assert {o.source for o in quality.outcomes if o.type.endswith(("_to_exist", "_in_type_list"))} == {
            "column types"
        }
    else:
        assert "in the database" in quality.validation


def _outcome_counts(quality: DayQuality) -> list[tuple[object, ...]]:
    return [(o.type, o.column, o.severity, o.success, o.unexpected_count, o.considered_count) for o in quality.outcomes]


@pytest.mark.parametrize("name", ["healthy", *BREAKS])
def test_answers_from_the_profile_are_great_expectations_own_on_every_row(url: str, tmp_path: Path, name: str) -> None:
    """What the profile answers (and what it leaves to Great Expectations) gives the outcomes Great
    Expectations finds when it validates every expectation on every row of the day itself."""
    spec = quality_spec()
    suite = build_suite(url, spec, tmp_path)
    if name != "healthy":
        write_table(url, "t", BREAKS[name][0](quality_frame()))
    with_profile, profile = validate(url, spec, suite)
    wh = Warehouse(url)
    try:
        rows_only = validate_days(wh, spec, suite, [DAY])[DAY]  # no profile: Great Expectations counts all
    finally:
        wh.dispose()
    # Where Great Expectations cannot count (a range over text), the profile's number stands.
    unsure = ALSO_MAY_FAIL.get(name, set())
    compared = [_outcome_counts(q) for q in (with_profile, rows_only)]
    assert [c for c in compared[0] if c[:3] not in unsure] == [c for c in compared[1] if c[:3] not in unsure]
    if profile is not None:
        assert any(o.source == "profile" for o in with_profile.outcomes)
    counted = [o for o in rows_only.outcomes if o.type != "expect_table_row_count_to_be_between"]
    assert not any(o.source == "profile" for o in counted)


@pytest.mark.parametrize("name", list(BREAKS))
def test_each_break_fails_at_its_severity(url: str, tmp_path: Path, name: str) -> None:
    spec = quality_spec()
    suite = build_suite(url, spec, tmp_path)
    change, level, expected = BREAKS[name]
    broken = change(quality_frame())
    write_table(url, "t", broken)
    quality, _ = validate(url, spec, suite)
    assert quality.level == level
    failed = failures(quality)
    assert expected <= failed <= expected | ALSO_MAY_FAIL.get(name, set())
    # Independent counts on the raw rows of the day.
    day_rows = broken[on_day(broken)]
    by_key = {(o.type, o.column, o.severity): o for o in quality.outcomes}
    if name == "null flood":
        flood = by_key[("expect_column_values_to_not_be_null", "y", "critical")]
        assert flood.unexpected_count == int(day_rows["y"].isna().sum()) == int(0.9 * PER_DAY)
        assert flood.source == "profile"
    if name == "range break":
        between = next(e for e in suite.expectations if e.type.endswith("to_be_between") and e.column == "y")
        outside = int((day_rows["y"] > between.kwargs["max_value"]).sum())
        assert by_key[("expect_column_values_to_be_between", "y", "warning")].unexpected_count == outside
    if name == "unseen category":
        in_set = by_key[("expect_column_values_to_be_in_set", "c", "warning")]
        assert in_set.unexpected_count == int((~day_rows["c"].isin(["a", "b", "c"])).sum()) == PER_DAY * 55 // 100
    if name == "row-count collapse":
        assert by_key[("expect_table_row_count_to_be_between", None, "critical")].observed == f"{len(day_rows)} rows"


def test_a_range_with_a_few_values_outside_passes_from_the_histogram_as_on_every_row(url: str, tmp_path: Path) -> None:
    """0.4 % of the day's y beyond the generated range: the min/max no longer settle it, the
    histogram's bound does (at most the tail cells' values, under the 1 % allowed), and Great
    Expectations on every row agrees that it passes. On DuckDB no row is read for it."""
    spec = quality_spec()
    suite = build_suite(url, spec, tmp_path)
    between = next(e for e in suite.expectations if e.type.endswith("to_be_between") and e.column == "y")
    frame = quality_frame()
    rows = np.flatnonzero(on_day(frame))[: PER_DAY * 4 // 1000]
    frame.loc[rows, "y"] = between.kwargs["max_value"] * 1.5
    write_table(url, "t", frame)
    with_profile, profile = validate(url, spec, suite)
    assert profile is not None and profile.columns["y"].max > between.kwargs["max_value"]
    wh = Warehouse(url)
    try:
        rows_only = validate_days(wh, spec, suite, [DAY])[DAY]
    finally:
        wh.dispose()
    key = ("expect_column_values_to_be_between", "y", "warning")
    bounded = {(o.type, o.column, o.severity): o for o in with_profile.outcomes}[key]
    counted = {(o.type, o.column, o.severity): o for o in rows_only.outcomes}[key]
    day_y = frame.loc[on_day(frame), "y"].astype(float)
    assert counted.unexpected_count == int((day_y > between.kwargs["max_value"]).sum()) == len(rows)
    assert bounded.success and counted.success
    assert bounded.source == "profile" and bounded.observed.startswith("at most ")
    assert [o.success for o in with_profile.outcomes] == [o.success for o in rows_only.outcomes]
    if url.startswith("duckdb"):
        assert with_profile.rows_validated == 0


def test_a_day_beyond_max_rows_is_sampled_deterministically_with_exact_profile_counts(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    spec = quality_spec()
    suite = build_suite(url, spec, tmp_path)
    write_table(url, "t", _null_flood(quality_frame()))
    full, _ = validate(url, spec, suite)
    first, _ = validate(url, spec, suite, max_rows=200)
    again, _ = validate(url, spec, suite, max_rows=200)
    assert first.sampled and not full.sampled
    # About 200 of 500 rows (a hash of the id keeps each row with probability 0.4): 3.5 sd either side.
    assert first.rows_validated is not None and 160 <= first.rows_validated <= 240
    assert first == again  # the same rows, the same outcomes, every run
    assert "deterministic sample" in first.validation
    flood = [o for o in first.outcomes if o.type == "expect_column_values_to_not_be_null" and o.column == "y"]
    assert {(o.unexpected_count, o.source) for o in flood} == {(int(0.9 * PER_DAY), "profile")}
    assert first.level == full.level == "critical"
    assert [o.success for o in first.outcomes] == [o.success for o in full.outcomes]


def test_chunks_add_up_to_the_whole_day(tmp_path: Path) -> None:
    """A 5,000-row day in chunks of 2,048 rows gives the counts of one batch of every row."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    spec = quality_spec()
    suite = build_suite(url, spec, tmp_path)
    frame = _unseen_category(quality_frame(per_day=5000))
    write_table(url, "t", frame)
    # No profile: every count comes from Great Expectations on the chunks.
    wh = Warehouse(url)
    try:
        one = validate_days(wh, spec, suite, [DAY], chunk_rows=10_000)[DAY]
        chunked = validate_days(wh, spec, suite, [DAY], chunk_rows=2048)[DAY]
    finally:
        wh.dispose()
    assert "in 1 chunk" in one.validation and "in 3 chunk" in chunked.validation
    assert [(o.success, o.unexpected_count, o.considered_count) for o in chunked.outcomes] == [
        (o.success, o.unexpected_count, o.considered_count) for o in one.outcomes
    ]
    in_set = next(o for o in chunked.outcomes if o.type == "expect_column_values_to_be_in_set")
    day_rows = frame[on_day(frame)]
    assert in_set.unexpected_count == int((~day_rows["c"].isin(["a", "b", "c"])).sum())
    assert in_set.source == "all rows"


def test_suite_file_round_trips_as_great_expectations_json(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    suite = build_suite(url, quality_spec(), tmp_path)
    data = json.loads(suite.path.read_text())
    assert set(data) == {"name", "expectations", "meta", "notes"}
    assert all(set(e) == {"type", "kwargs", "meta", "severity"} for e in data["expectations"])
