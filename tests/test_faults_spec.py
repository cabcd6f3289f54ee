"""Issue 10, section 6: spec mistakes caught at load in one line, missing columns caught before any
work, bad warehouse URLs explained, and days cut in ``partitions.timezone``.

Each test asserts the exact outcome: the whole one-line message, or the exact rows per day
against pandas (which converts the timestamps to the zone and takes the date).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.pool import NullPool

from expectations import parse_suite, validate_days
from monitoring_assets import _pipeline
from monitoring_assets.core.profile import CategoricalBins, NumericBins, ProfileLayout
from monitoring_assets.errors import SpecError, WarehouseError
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, load_spec, parse_spec
from resources._rows import DAY_COLUMN
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import REPO, SMALL_SPEC, sample_frame, write_table


def _write_spec(tmp_path: Path, data: dict[str, Any], name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _with(**sections: dict[str, Any] | list[str]) -> dict[str, Any]:
    """SMALL_SPEC with some sections merged in (dicts are merged one level deep)."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SMALL_SPEC.items()}
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    return data


def _load_error(tmp_path: Path, data: dict[str, Any]) -> tuple[Path, str]:
    path = _write_spec(tmp_path, data)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    return path, message


# -- 1. spec mistakes at load -------------------------------------------------------------------


TIMEZONE = "partitions.timezone: unknown time zone 'Mars/Base': use an IANA name such as 'UTC' or 'Europe/Paris'"
CRON = "partitions.schedule: '99 99 * * *' is not a valid cron expression: minute 99 is outside 0-59"
P_VALUE = "gives a p-value, which cannot be calibrated; give a constant threshold such as 0.05"


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"partitions": {"timezone": "Mars/Base"}}, TIMEZONE),
        ({"partitions": {"timezone": "../../etc/passwd"}}, TIMEZONE.replace("Mars/Base", "../../etc/passwd")),
        ({"partitions": {"schedule": "99 99 * * *"}}, CRON),
        (
            {"partitions": {"schedule": "0 3 * * 8"}},
            "partitions.schedule: '0 3 * * 8' is not a valid cron expression: day of week 8 is outside 0-7",
        ),
        (
            {"partitions": {"schedule": "0 3 * *"}},
            "partitions.schedule: '0 3 * *' has 4 field(s); a cron expression has 5 "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'",
        ),
        (
            {"partitions": {"schedule": "*/0 3 * * *"}},
            "partitions.schedule: '*/0 3 * * *' is not a valid cron expression: minute step '0' is not a "
            "whole number >= 1",
        ),
        ({"features": {"numeric": ["x", "y", "x"]}}, "features.numeric: listed more than once: 'x'"),
        ({"features": {"categorical": ["c", "c"]}}, "features.categorical: listed more than once: 'c'"),
        (
            {"features": {"numeric": ["x", "y"], "categorical": ["c", "y"]}},
            "features: listed as both numeric and categorical: 'y'",
        ),
        (
            {"prediction": {"task": "regression", "score_column": "score"}, "slices": ["c"]},
            "slices: fairness slices need a classification task; a regression monitor would ignore them "
            "(remove slices)",
        ),
        (
            {"drift": {"thresholds": {"chisquare": {"type": "calibrated"}}}},
            f"drift.thresholds.chisquare: method chisquare {P_VALUE}",
        ),
        (
            {"drift": {"features": {"c": {"method": "chisquare", "threshold": {"type": "calibrated"}}}}},
            f"drift.features.c.threshold: method chisquare {P_VALUE}",
        ),
        (
            {
                "drift": {
                    "methods": {"categorical": "chisquare"},
                    "features": {"c": {"threshold": {"type": "calibrated", "k": 2}}},
                }
            },
            f"drift.features.c.threshold: method chisquare (drift.methods.categorical) {P_VALUE}",
        ),
        (
            {"partitions": {"start_date": "2024-01-05", "end_date": "2024-01-05"}},
            "partitions.end_date: must be after start_date",
        ),
    ],
)
def test_spec_mistake_is_one_line_naming_file_field_and_reason(
    tmp_path: Path, sections: dict[str, Any], expected: str
) -> None:
    path, message = _load_error(tmp_path, _with(**sections))
    assert message == f"{path}: {expected}"


def test_future_start_date_is_judged_by_the_partitions_timezone(tmp_path: Path) -> None:
    # Kiritimati (UTC+14) is always a day or two ahead of Pago Pago (UTC-11): its today is in the
    # future there, and not in its own zone.
    ahead = dt.datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    behind_zone = "Pacific/Pago_Pago"
    own = _write_spec(
        tmp_path,
        _with(partitions={"start_date": ahead.isoformat(), "end_date": None, "timezone": "Pacific/Kiritimati"}),
    )
    assert load_spec(own).partitions.start_date == ahead
    path, message = _load_error(
        tmp_path, _with(partitions={"start_date": ahead.isoformat(), "end_date": None, "timezone": behind_zone})
    )
    today = dt.datetime.now(ZoneInfo(behind_zone)).date()
    assert message == (
        f"{path}: partitions.start_date: {ahead} is in the future (today is {today} in {behind_zone}); "
        "partitions start on a day that has begun"
    )


@pytest.mark.parametrize(
    "schedule", ["0 3 * * *", "*/15 * * * *", "30 6 * * mon-fri", "0 0 1 jan,jul *", "0 3 * * 7", "5-50/5 0-23 * * *"]
)
def test_standard_cron_expressions_load(tmp_path: Path, schedule: str) -> None:
    assert load_spec(_write_spec(tmp_path, _with(partitions={"schedule": schedule}))).partitions.schedule == schedule


def test_the_spec_layer_imports_no_dagster() -> None:
    code = "import sys, monitoring_assets.spec; assert 'dagster' not in sys.modules, 'dagster imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_spec_file_is_remembered_without_changing_the_hash(tmp_path: Path) -> None:
    a = load_spec(_write_spec(tmp_path, SMALL_SPEC, "a.yaml"))
    b = load_spec(_write_spec(tmp_path, SMALL_SPEC, "b.yaml"))
    assert (a.origin, b.origin) == (str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    assert a.spec_hash() == b.spec_hash() == parse_spec(SMALL_SPEC).spec_hash()
    assert parse_spec(SMALL_SPEC).origin == "monitor 'm'"


# -- 2. missing columns before any work ---------------------------------------------------------


def _schemas(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {str(s) for (s,) in conn.execute(sa.text("SELECT schema_name FROM information_schema.schemata"))}
    finally:
        engine.dispose()


@pytest.fixture
def duck(duckdb_url: str) -> Iterator[Warehouse]:
    wh = Warehouse(duckdb_url)
    yield wh
    wh.dispose()


def test_missing_feature_column_is_named_with_file_field_and_table(tmp_path: Path, duck: Warehouse) -> None:
    url = duck.safe_url
    write_table(url, "t", sample_frame(days=2, per_day=20).drop(columns=["x"]))
    spec = load_spec(_write_spec(tmp_path, SMALL_SPEC))
    with pytest.raises(WarehouseError) as info:
        _pipeline.build_daily_profiles(duck, spec, [dt.date(2024, 1, 4)], Audit("r", spec.spec_hash()))
    assert str(info.value) == (
        f"{tmp_path / 'm.yaml'}: features.numeric: column 'x' not found in table t (columns: ts, y, score, c, mv)"
    )
    assert "monitoring" not in _schemas(url)  # before any work: nothing was created or written


def test_every_missing_column_of_the_reference_is_named_on_one_line(tmp_path: Path, duck: Warehouse) -> None:
    write_table(duck.safe_url, "t", sample_frame(days=1, per_day=40).drop(columns=["score", "mv"]))
    spec = load_spec(_write_spec(tmp_path, SMALL_SPEC))
    with pytest.raises(WarehouseError) as info:
        _pipeline.build_reference(duck, spec, Audit("r", spec.spec_hash()))
    assert str(info.value) == (
        f"{tmp_path / 'm.yaml'}: prediction.score_column: column 'score' not found in table t; "
        "source.model_version_column: column 'mv' not found in table t (columns: ts, x, y, c)"
    )


def test_missing_reference_timestamp_column_is_named(tmp_path: Path, duck: Warehouse) -> None:
    write_table(duck.safe_url, "ref", sample_frame(days=1, per_day=40).drop(columns=["ts"]))
    data = _with(reference={"table": "ref", "timestamp_column": "ts"})
    data["reference"].pop("window")
    spec = load_spec(_write_spec(tmp_path, data))
    with pytest.raises(WarehouseError) as info:
        _pipeline.build_reference(duck, spec, Audit("r", spec.spec_hash()))
    assert str(info.value) == (
        f"{tmp_path / 'm.yaml'}: reference.timestamp_column: column 'ts' not found in table ref "
        "(columns: x, y, score, c, mv)"
    )


def _labels_spec(tmp_path: Path, **extra: Any) -> MonitorSpec:
    data = _with(
        source={"id_column": "id"},
        labels={"table": "analytics.outcomes", "id_column": "id", "label_column": "defaulted"},
        **extra,
    )
    return load_spec(_write_spec(tmp_path, data))


def _scored(days: int = 2) -> pd.DataFrame:
    frame = sample_frame(days=days, per_day=20)
    frame["id"] = np.arange(len(frame))
    return frame


def test_missing_label_column_is_named_with_its_table(tmp_path: Path, duck: Warehouse) -> None:
    write_table(duck.safe_url, "t", _scored())
    write_table(duck.safe_url, "analytics.outcomes", pd.DataFrame({"id": [1, 2], "label": [0, 1]}))
    spec = _labels_spec(tmp_path)
    with pytest.raises(WarehouseError) as info:
        _pipeline.compute_performance(duck, spec, [dt.date(2024, 1, 4)], Audit("r", spec.spec_hash()))
    assert str(info.value) == (
        f"{tmp_path / 'm.yaml'}: labels.label_column: column 'defaulted' not found in table analytics.outcomes "
        "(columns: id, label)"
    )
    assert "monitoring" not in _schemas(duck.safe_url)


def test_missing_slice_column_is_named_before_fairness_runs(tmp_path: Path, duck: Warehouse) -> None:
    write_table(duck.safe_url, "t", _scored())
    write_table(duck.safe_url, "analytics.outcomes", pd.DataFrame({"id": [1], "defaulted": [1]}))
    spec = _labels_spec(tmp_path, slices=["region"])
    with pytest.raises(WarehouseError) as info:
        _pipeline.compute_fairness(duck, spec, [dt.date(2024, 1, 4)], Audit("r", spec.spec_hash()))
    assert str(info.value) == (
        f"{tmp_path / 'm.yaml'}: slices: column 'region' not found in table t (columns: ts, x, y, score, c, mv, id)"
    )


def test_missing_labels_table_is_named(tmp_path: Path, duck: Warehouse) -> None:
    write_table(duck.safe_url, "t", _scored())
    spec = _labels_spec(tmp_path)
    with pytest.raises(WarehouseError) as info:
        _pipeline.compute_performance(duck, spec, [dt.date(2024, 1, 4)], Audit("r", spec.spec_hash()))
    assert str(info.value) == (
        f"{tmp_path / 'm.yaml'}: labels.table: table analytics.outcomes not found or not readable on "
        f"{duck.safe_url} (CatalogException)"
    )


@pytest.mark.postgres
def test_missing_columns_and_tables_on_postgres(tmp_path: Path, pg_url: str) -> None:
    write_table(pg_url, "t", _scored().drop(columns=["y"]))
    wh = Warehouse(pg_url)
    try:
        with wh.begin() as conn:
            conn.exec_driver_sql('DROP TABLE IF EXISTS "analytics"."outcomes"')
        spec = _labels_spec(tmp_path)
        with pytest.raises(WarehouseError) as info:
            _pipeline.build_daily_profiles(wh, spec, [dt.date(2024, 1, 4)], Audit("r", spec.spec_hash()))
        assert str(info.value) == (
            f"{tmp_path / 'm.yaml'}: features.numeric: column 'y' not found in table t "
            "(columns: ts, x, score, c, mv, id)"
        )
        with pytest.raises(WarehouseError) as info:
            _pipeline.compute_performance(wh, spec, [dt.date(2024, 1, 4)], Audit("r", spec.spec_hash()))
        assert str(info.value) == (
            f"{tmp_path / 'm.yaml'}: labels.table: table analytics.outcomes not found or not readable on "
            f"{wh.safe_url} (UndefinedTable)"
        )
    finally:
        wh.dispose()


# -- 3. bad warehouse URLs ----------------------------------------------------------------------


def _url_error(url: str) -> str:
    with pytest.raises(WarehouseError) as info, WarehouseResource(url=url).open():
        pass
    message = str(info.value)
    assert "s3cret" not in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    return message


def test_postgres_scheme_gets_the_url_form_to_use() -> None:
    assert _url_error("postgres://monitor:s3cret@db:5432/analytics") == (
        "MONITORING_WAREHOUSE_URL: postgres://monitor:***@db:5432/analytics: SQLAlchemy has no dialect "
        "'postgres'; write postgresql+psycopg2://monitor:***@db:5432/analytics "
        "(the form is postgresql+psycopg2://user:password@host:5432/database)"
    )


@pytest.mark.skipif(importlib.util.find_spec("snowflake") is not None, reason="snowflake-sqlalchemy is installed")
def test_dialect_without_its_package_names_the_package() -> None:
    assert _url_error("snowflake://monitor:s3cret@acme/analytics") == (
        "MONITORING_WAREHOUSE_URL: snowflake://monitor:***@acme/analytics needs the SQLAlchemy dialect "
        "'snowflake', which is not installed: pip install 'snowflake-sqlalchemy'"
    )


@pytest.mark.skipif(importlib.util.find_spec("psycopg") is not None, reason="psycopg 3 is installed")
@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql"])
def test_driver_not_installed_names_the_package(scheme: str) -> None:
    assert _url_error(f"{scheme}://monitor:s3cret@db/analytics") == (
        f"MONITORING_WAREHOUSE_URL: {scheme}://monitor:***@db/analytics needs the driver of {scheme!r}, which is "
        "not installed (module 'psycopg' not found): pip install 'psycopg[binary]', or use psycopg2 (installed "
        "with this plugin): postgresql+psycopg2://user:password@host:5432/database"
    )


# -- 4. days cut in partitions.timezone ---------------------------------------------------------

PARIS = "Europe/Paris"
DAYS = [dt.date(2024, 1, 4) + dt.timedelta(days=i) for i in range(6)]


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, duckdb_url: str) -> str:
    return duckdb_url if request.param == "duckdb" else str(request.getfixturevalue("pg_url"))


def _make_aware(url: str, table: str, *columns: str) -> None:
    """Turn naive UTC columns into time-zone-aware ones (TIMESTAMPTZ / timestamptz)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        for c in columns:
            if engine.dialect.name == "duckdb":
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER {c} TYPE TIMESTAMPTZ USING timezone('UTC', {c})")
            else:
                conn.exec_driver_sql(
                    f"ALTER TABLE {table} ALTER COLUMN {c} TYPE timestamptz USING {c} AT TIME ZONE 'UTC'"
                )
    engine.dispose()


def _paris_spec(timezone: str = PARIS) -> MonitorSpec:
    return parse_spec(
        _with(
            partitions={"timezone": timezone},
            labels={"label_column": "label", "arrived_at_column": "arrived"},
        )
    )


def _labeled_frame() -> pd.DataFrame:
    frame = sample_frame(seed=3, days=10, per_day=150)
    # The edge of the issue: 23:30 UTC on 2024-01-04 is 00:30 in Paris on 2024-01-05.
    edge = frame.iloc[:8].copy()
    edge["ts"] = [pd.Timestamp("2024-01-04 23:30")] * 5 + [pd.Timestamp("2024-01-04 22:59:59")] * 3
    frame = pd.concat([frame, edge], ignore_index=True)
    frame["label"] = np.random.default_rng(4).integers(0, 2, len(frame))
    frame["arrived"] = frame["ts"] + pd.Timedelta(hours=30)
    frame.attrs["numeric"] = ("x",)
    return frame


def _paris_days(timestamps_utc: pd.Series) -> pd.Series:
    """Independent reference: the date of each instant in Paris."""
    return timestamps_utc.dt.tz_localize("UTC").dt.tz_convert(PARIS).dt.date


def test_aware_timestamps_are_cut_at_midnight_in_the_partitions_timezone(url: str) -> None:
    frame = _labeled_frame()
    write_table(url, "t", frame)
    _make_aware(url, "t", "ts", "arrived")
    expected = _paris_days(frame["ts"]).value_counts().to_dict()
    spec = _paris_spec()
    wh = Warehouse(url)
    try:
        ref = wh.profiles.profile_reference(spec)  # window 2024-01-01..03, Paris days
        reference_days = [dt.date(2024, 1, d) for d in (1, 2, 3)]
        assert {d: p.n_rows for d, p in ref.windows.items()} == {d: expected[d] for d in reference_days}
        assert ref.profile.n_rows == sum(expected[d] for d in reference_days)

        profiles = wh.profiles.profile_days(spec, ref.layout, DAYS)  # GROUP BY day
        assert {d: p.n_rows for d, p in profiles.items()} == {d: expected[d] for d in DAYS}
        single = wh.profiles.profile_days(spec, ref.layout, [dt.date(2024, 1, 5)])  # one day's WHERE window
        assert single[dt.date(2024, 1, 5)].n_rows == expected[dt.date(2024, 1, 5)]
        assert wh.rows.count_day_rows(spec, dt.date(2024, 1, 5)) == expected[dt.date(2024, 1, 5)]

        aggregates = wh.metrics.performance_aggregates(spec, DAYS)
        assert {d: a.n_scored for d, a in aggregates.items()} == {d: expected[d] for d in DAYS}
        assert wh.labels.labeled_counts(spec, DAYS[0], DAYS[-1]) == {d: expected[d] for d in DAYS}
        counts, latest = wh.labels.label_arrivals(spec, None, DAYS[0], DAYS[-1])  # the label sensor's grouping
        assert counts == {d: expected[d] for d in DAYS}
        assert latest is not None
        assert (
            latest.astimezone(dt.UTC).replace(tzinfo=None)
            == frame["arrived"][_paris_days(frame["ts"]) <= DAYS[-1]].max()
        )
        training = wh.rows.training_frame(spec, DAYS[0], DAYS[1])
        assert training[DAY_COLUMN].value_counts().to_dict() == {d: expected[d] for d in DAYS[:2]}
        assert wh.labels.last_labeled_day(spec) == max(expected)
    finally:
        wh.dispose()


LAYOUT = ProfileLayout(
    {c: NumericBins.from_range(0.0, 1.0, 10) for c in ("x", "y", "score")}, {"c": CategoricalBins(("a", "b"))}
)


def _edge_rows() -> pd.DataFrame:
    """5 rows at 23:30 UTC on 2024-01-04 (Paris: 2024-01-05) and 3 at 22:30 UTC (Paris: 2024-01-04)."""
    frame = sample_frame(days=1, per_day=40).iloc[:8].drop(columns=["x"]).assign(x=0.5)
    frame["ts"] = [pd.Timestamp("2024-01-04 23:30")] * 5 + [pd.Timestamp("2024-01-04 22:30")] * 3
    return frame


@pytest.mark.parametrize(
    ("aware", "timezone", "expected"),
    [
        (True, PARIS, {dt.date(2024, 1, 4): 3, dt.date(2024, 1, 5): 5}),
        (True, "UTC", {dt.date(2024, 1, 4): 8, dt.date(2024, 1, 5): 0}),
        # Naive timestamps are taken as already in the zone: cut at their own midnight.
        (False, PARIS, {dt.date(2024, 1, 4): 8, dt.date(2024, 1, 5): 0}),
    ],
)
def test_rows_at_2330_utc_belong_to_the_next_paris_day(
    url: str, aware: bool, timezone: str, expected: dict[dt.date, int]
) -> None:
    write_table(url, "t", _edge_rows())
    if aware:
        _make_aware(url, "t", "ts")
    spec = _paris_spec(timezone)
    wh = Warehouse(url)
    try:
        profiles = wh.profiles.profile_days(spec, LAYOUT, list(expected))
        assert {d: p.n_rows for d, p in profiles.items()} == expected
        assert {d: wh.rows.count_day_rows(spec, d) for d in expected} == expected
        if wh.sql.is_duckdb:  # the pandas batches Great Expectations validates on DuckDB
            batches = {d: sum(len(f) for f in wh.rows.day_frames(spec, d, ["x"], chunk_rows=100)) for d in expected}
            assert batches == expected
        # The Great Expectations day query (PostgreSQL: SQL data source; DuckDB: pandas batches).
        suite = parse_suite(
            {
                "name": "m",
                "expectations": [
                    {
                        "type": "expect_table_row_count_to_be_between",
                        "kwargs": {"min_value": 1},
                        "meta": {"severity": "warning"},
                        "severity": "warning",
                    }
                ],
            },
            spec,
            Path("m.json"),
        )
        quality = validate_days(wh, spec, suite, list(expected))
        assert {d: q.outcomes[0].observed for d, q in quality.items()} == {d: f"{n} rows" for d, n in expected.items()}
    finally:
        wh.dispose()


def test_an_unknown_zone_of_the_warehouse_is_one_clear_error(duck: Warehouse) -> None:
    # Valid for Python's zoneinfo, unknown to DuckDB's ICU: the error names the setting.
    write_table(duck.safe_url, "t", _edge_rows())
    spec = _paris_spec()
    # model_copy skips validation: a name the spec would have refused, as a stand-in for a zone
    # Python knows and the engine does not.
    spec = spec.model_copy(update={"partitions": spec.partitions.model_copy(update={"timezone": "Not/AZone"})})
    with pytest.raises(WarehouseError) as info:
        duck.rows.count_day_rows(spec, dt.date(2024, 1, 4))
    assert str(info.value) == "monitor 'm': partitions.timezone: 'Not/AZone' is not a time zone duckdb knows"
