"""Profiles computed by SQL in the warehouse, checked against numpy on the same raw rows, and
DuckDB against PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
import re
import zlib
from collections.abc import Iterator

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import default

from monitoring_assets.core.performance import score_cells
from monitoring_assets.core.profile import (
    NumericBins,
    NumericProfile,
    Profile,
    ProfileLayout,
    profile_from_values,
    score_cells_column,
    source_column,
)
from monitoring_assets.errors import WarehouseError
from resources import _store
from resources._profiles import ReferenceProfile
from resources._sql import (
    ProfileQuery,
    Relation,
    SqlBuilder,
    as_date,
    duckdb_columns_statement,
    duckdb_rows_statement,
    overflow_start,
)
from resources._store import Audit
from resources.warehouse import DEFAULT_DUCKDB_MEMORY_LIMIT, DUCKDB_MEMORY_ENV, Warehouse
from tests.conftest import sample_frame, small_spec, write_table

DAY = dt.date(2024, 1, 5)


@pytest.fixture(params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "pg_url")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sample_frame()


def _numpy_profile(layout: ProfileLayout, rows: pd.DataFrame) -> Profile:
    data = {c: rows[source_column(c)].tolist() for c in [*layout.numeric, *layout.categorical]}
    return profile_from_values(layout, data, rows["mv"].value_counts().to_dict())


def assert_same_profile(got: Profile, want: Profile, rel: float = 1e-9) -> None:
    """Counts exactly; floats to ``rel`` (sums run in a different order in each engine)."""
    assert got.n_rows == want.n_rows
    assert dict(got.model_versions) == dict(want.model_versions)
    assert set(got.columns) == set(want.columns)
    for name, g in got.columns.items():
        w = want.columns[name]
        assert g.null_count == w.null_count, name
        if isinstance(g, NumericProfile):
            assert isinstance(w, NumericProfile)
            assert (g.count, g.nonfinite_count) == (w.count, w.nonfinite_count), name
            np.testing.assert_array_equal(g.hist, w.hist, err_msg=name)
            for attr in ("min", "max", "mean", "m2"):
                assert math.isclose(getattr(g, attr), getattr(w, attr), rel_tol=rel, abs_tol=1e-12), (name, attr)
        else:
            np.testing.assert_array_equal(g.counts, w.counts, err_msg=name)  # type: ignore[union-attr]


def test_reference_bins_are_reference_quantiles_and_top_k(url: str, frame: pd.DataFrame) -> None:
    write_table(url, "t", frame)
    spec = small_spec()
    ref = Warehouse(url).profiles.profile_reference(spec)
    rows = frame[frame.ts < pd.Timestamp("2024-01-04")]
    for col in ("x", "y", "score"):
        values = pd.to_numeric(rows[col]).to_numpy(dtype=float)
        lo, hi = np.quantile(values[np.isfinite(values)], [0.001, 0.999])  # numpy's default is linear
        bins = ref.layout.numeric[col]
        assert (bins.lo, bins.hi) == (lo, hi)  # to the bit: the same order statistics, numpy's arithmetic
        assert bins.n_bins == 100
    counts = rows["c"].dropna().value_counts()
    expected = sorted(counts.index, key=lambda v: (-counts[v], v))[:3]
    assert ref.layout.categorical["c"].categories == tuple(expected)
    # The reference window spans 3 days: one sub-window per day, and they merge to the whole.
    assert sorted(ref.windows) == [dt.date(2024, 1, d) for d in (1, 2, 3)]
    assert_same_profile(ref.profile, _numpy_profile(ref.layout, rows))


def test_daily_profile_matches_numpy_on_the_same_rows(url: str, frame: pd.DataFrame) -> None:
    write_table(url, "t", frame)
    spec = small_spec()
    wh = Warehouse(url)
    layout = wh.profiles.profile_reference(spec).layout
    got = wh.profiles.profile_days(spec, layout, [DAY])[DAY]
    rows = frame[(frame.ts >= pd.Timestamp(DAY)) & (frame.ts < pd.Timestamp(DAY + dt.timedelta(days=1)))]
    want = _numpy_profile(layout, rows)
    assert want.columns["x"].nonfinite_count > 0 and want.columns["x"].null_count > 0  # the edge cases are there
    assert_same_profile(got, want)


def test_the_daily_profile_holds_the_scores_fine_histogram_in_the_performance_cells(
    url: str, frame: pd.DataFrame
) -> None:
    """The estimate without labels reads each day's histogram of all its scores on the labeled
    performance's cells (``floor(score * n_bins)``); numpy on the raw scores is the reference."""
    write_table(url, "t", frame)
    spec = small_spec()
    wh = Warehouse(url)
    layout = wh.profiles.profile_reference(spec).layout
    name = score_cells_column("score")
    assert name is not None and layout.numeric[name] == NumericBins(0.0, 1.0, spec.performance.score_bins)
    got = wh.profiles.profile_days(spec, layout, [DAY])[DAY].columns[name]
    assert isinstance(got, NumericProfile)
    rows = frame[(frame.ts >= pd.Timestamp(DAY)) & (frame.ts < pd.Timestamp(DAY + dt.timedelta(days=1)))]
    scores = pd.to_numeric(rows["score"]).to_numpy(dtype=float)
    valid = scores[np.isfinite(scores) & (scores >= 0) & (scores < 1)]
    n = spec.performance.score_bins
    want = np.bincount(score_cells(valid, n), minlength=n)
    assert valid.size > 100
    np.testing.assert_array_equal(got.hist[1 : n + 1], want)


def test_values_far_beyond_the_bins_land_in_the_tail_cells_as_numpy_puts_them(url: str, frame: pd.DataFrame) -> None:
    """A day whose x spreads over 1,000 times the reference's range (many distinct cell keys
    beyond it, merged into the tail cells), with values a million times out, NaN, infinities and
    NULLs: counts, cells, moments and tail sums as numpy computes them on the same rows."""
    day = frame.ts.dt.date == DAY
    wild = frame.copy()
    wild["x"] = wild["x"].astype(object)
    rng = np.random.default_rng(5)
    rows = np.flatnonzero(day)
    wild.loc[rows, "x"] = rng.normal(0, 1, rows.size) * 10 ** rng.uniform(0, 3, rows.size)
    wild.loc[rows[:4], "x"] = [3e6, -2e6, float("nan"), float("inf")]
    wild.loc[rows[4:6], "x"] = None
    write_table(url, "t", wild)
    spec = small_spec()
    wh = Warehouse(url)
    layout = wh.profiles.profile_reference(spec).layout
    got = wh.profiles.profile_days(spec, layout, [DAY])[DAY]
    want = _numpy_profile(layout, wild[day])
    x, w = got.columns["x"], want.columns["x"]
    assert isinstance(x, NumericProfile) and isinstance(w, NumericProfile)
    assert w.hist[0] > 10 and w.hist[-1] > 10 and (w.null_count, w.nonfinite_count) == (2, 2)
    assert_same_profile(got, want)
    assert math.isclose(x.tail_low_sum, w.tail_low_sum, rel_tol=1e-12)
    assert math.isclose(x.tail_high_sum, w.tail_high_sum, rel_tol=1e-12)


def test_postgres_overflow_of_a_huge_float_is_told_as_out_of_range(pg_url: str, frame: pd.DataFrame) -> None:
    """PostgreSQL raises on float overflow (two values near 1.8e308 summed): the error says the
    value is out of range and names the profiled columns, never the value."""
    day = frame.ts.dt.date == DAY
    huge = frame.copy()
    huge["x"] = huge["x"].astype(object)
    huge.loc[np.flatnonzero(day)[:2], "x"] = [1.7e308, 1.7e308]
    write_table(pg_url, "t", frame)
    spec = small_spec()
    wh = Warehouse(pg_url)
    layout = wh.profiles.profile_reference(spec).layout
    write_table(pg_url, "t", huge)
    with pytest.raises(WarehouseError) as info:
        wh.profiles.profile_days(spec, layout, [DAY])
    wh.dispose()
    text = str(info.value)
    assert "value out of range (one of the columns x, y, score)" in text and "NumericValueOutOfRange" in text
    assert "1.7e" not in text and "e+308" not in text


def test_range_query_by_day_equals_one_query_per_day(url: str, frame: pd.DataFrame) -> None:
    write_table(url, "t", frame)
    spec = small_spec()
    wh = Warehouse(url)
    layout = wh.profiles.profile_reference(spec).layout
    days = [dt.date(2024, 1, d) for d in (4, 5, 6)]
    together = wh.profiles.profile_days(spec, layout, days)
    for day in days:
        assert_same_profile(together[day], wh.profiles.profile_days(spec, layout, [day])[day])


# Awkward widths (none a power of two), a range far from zero, and a single bin.
EDGE_BINS = [
    NumericBins(-3.0664231098960593, 3.0860519772193142, 1000),
    NumericBins(0.1, 0.7, 7),
    NumericBins(1e6 + 0.1, 1e6 + 0.3, 3),
    NumericBins(-1e-300, 1e-300, 1),
]


@pytest.mark.parametrize("bins", EDGE_BINS, ids=str)
def test_overflow_start_is_the_first_value_numpy_puts_in_the_overflow_cell(bins: NumericBins) -> None:
    top = overflow_start(bins)
    below = np.nextafter(top, -np.inf)
    assert bins.cell_of([top])[0] == bins.n_bins + 1
    assert bins.cell_of([below])[0] <= bins.n_bins
    assert bins.cell_of([np.nextafter(bins.lo, -np.inf)])[0] == 0 and bins.cell_of([bins.lo])[0] == 1


def edge_values(bins: NumericBins) -> list[float | None]:
    """Every inner edge, the double on each side of it, the first overflow value and the one below
    it, the non-finite values and NULL."""
    edges = bins.inner_edges()
    top = overflow_start(bins)
    near = [edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [top, np.nextafter(top, -np.inf)]]
    values: list[float | None] = [float(v) for v in np.concatenate(near)]
    span = bins.hi - bins.lo
    return [*values, -math.inf, math.inf, math.nan, None, bins.lo - span, bins.hi + span]


def test_values_on_and_beside_every_edge_fall_in_numpys_cells(url: str) -> None:
    """The engines put each value in the cell numpy does (``NumericBins.cell_of``), one bit either
    side of every boundary, with the non-finite values and NULL kept out of the cells."""
    data = {f"x{i}": edge_values(b) for i, b in enumerate(EDGE_BINS)}
    n = max(len(v) for v in data.values())
    data = {k: v + [None] * (n - len(v)) for k, v in data.items()}
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})
    frame.attrs["numeric"] = tuple(data)
    write_table(url, "edges", frame)
    layout = ProfileLayout({f"x{i}": b for i, b in enumerate(EDGE_BINS)}, {})
    wh = Warehouse(url)
    with wh.begin() as conn:
        got = ProfileQuery(wh.sql, layout).run(conn, Relation("edges"))[None]
    want = profile_from_values(layout, data)
    assert_same_profile(got, want)
    for name, col in got.columns.items():
        assert isinstance(col, NumericProfile)
        w = want.columns[name]
        assert isinstance(w, NumericProfile)
        assert col.nonfinite_count == 3 and w.hist.sum() == col.count, name
        assert col.tail_low_sum == pytest.approx(w.tail_low_sum, rel=1e-12), name
        assert col.tail_high_sum == pytest.approx(w.tail_high_sum, rel=1e-12), name


def test_days_without_rows_get_empty_profiles(duckdb_url: str, frame: pd.DataFrame) -> None:
    write_table(duckdb_url, "t", frame)
    spec = small_spec()
    wh = Warehouse(duckdb_url)
    layout = wh.profiles.profile_reference(spec).layout
    profiles = wh.profiles.profile_days(spec, layout, [dt.date(2024, 1, 9), dt.date(2024, 1, 10)])
    assert profiles[dt.date(2024, 1, 9)].n_rows == 400
    assert profiles[dt.date(2024, 1, 10)].n_rows == 0
    assert wh.profiles.profile_days(spec, layout, [dt.date(2024, 1, 10)])[dt.date(2024, 1, 10)].n_rows == 0


def test_empty_string_category_and_null_model_versions(url: str, frame: pd.DataFrame) -> None:
    # '' is the catch-all key of DuckDB's histogram_exact on text; here it is a top-K category.
    frame = frame.assign(c=frame["c"].replace("b", ""), mv=frame["mv"].where(frame.index % 7 != 0, None))
    write_table(url, "t", frame)
    spec = small_spec()
    wh = Warehouse(url)
    ref = wh.profiles.profile_reference(spec)
    assert "" in ref.layout.categorical["c"].categories
    days = [DAY, DAY + dt.timedelta(days=1)]
    got = wh.profiles.profile_days(spec, ref.layout, days)  # by-day query
    for day in days:
        rows = frame[(frame.ts >= pd.Timestamp(day)) & (frame.ts < pd.Timestamp(day + dt.timedelta(days=1)))]
        assert_same_profile(got[day], _numpy_profile(ref.layout, rows))
        assert_same_profile(wh.profiles.profile_days(spec, ref.layout, [day])[day], got[day])  # single-window query


def test_stored_profiles_keep_the_model_version_counts(url: str, frame: pd.DataFrame) -> None:
    # Three versions with unequal counts, so that a label or a "most rows" guess cannot pass.
    frame = frame.assign(mv=np.where(frame.index % 5 == 0, "3", np.where(frame.index % 3 == 0, "2", "1")))
    write_table(url, "t", frame)
    spec = small_spec()
    wh = Warehouse(url)
    ref = wh.profiles.profile_reference(spec)
    days = [DAY, DAY + dt.timedelta(days=1)]
    wh.profiles.write_daily_profiles(spec, wh.profiles.profile_days(spec, ref.layout, days), Audit("r", "h"))
    stored = wh.profiles.read_daily_profiles(spec, ref.layout, days, [*ref.layout.numeric, *ref.layout.categorical])
    for day in days:
        rows = frame[(frame.ts >= pd.Timestamp(day)) & (frame.ts < pd.Timestamp(day + dt.timedelta(days=1)))]
        counts = rows["mv"].value_counts()
        assert len(counts) == 3
        assert dict(stored[day].model_versions) == counts.to_dict()
        assert_same_profile(stored[day], _numpy_profile(ref.layout, rows))
    with sa.create_engine(url).connect() as conn:
        labels = dict(
            conn.execute(
                sa.text(
                    "SELECT partition_date, model_version FROM monitoring.profile_metrics "
                    "WHERE column_name = '__table__' AND profile = 'daily' AND monitor = :m"
                ),
                {"m": spec.name},  # the PostgreSQL database is shared by the session's test files
            ).fetchall()
        )
    rows = frame[(frame.ts >= pd.Timestamp(DAY)) & (frame.ts < pd.Timestamp(DAY + dt.timedelta(days=1)))]
    counts = rows["mv"].value_counts()
    assert labels[DAY] == ",".join(sorted(counts.index, key=lambda v: (-counts[v], v)))  # most rows first


@pytest.mark.parametrize("by_day", [False, True])
def test_duckdb_profile_plan_has_no_materialized_copy(duckdb_url: str, frame: pd.DataFrame, by_day: bool) -> None:
    """DuckDB 2.0 rewrites a plain histogram(x) into a CTE materializing every projected row
    (~3.9 GB at 10M rows); the profile's queries group each column on its own instead, and
    must not hold such a copy either."""
    write_table(duckdb_url, "t", frame)
    spec = small_spec()
    wh = Warehouse(duckdb_url)
    query = ProfileQuery(wh.sql, wh.profiles.profile_reference(spec).layout, "mv", by_day=by_day)
    rel = Relation("t", "ts", dt.datetime(2024, 1, 4), dt.datetime(2024, 1, 7))
    for stmt, params in (query.cells_statement(rel), query.keys_statement(rel)):
        with wh.engine.connect() as conn:
            sa.event.listen(conn, "before_cursor_execute", lambda *a: ("EXPLAIN " + a[2], a[3]), retval=True)
            plan = "\n".join(str(row[1]) for row in conn.execute(stmt, params))
        assert "Hash Group By" in plan
        assert "histogram" not in plan
        assert not re.search(r"\bCTE\b", plan)


@pytest.mark.postgres
def test_duckdb_and_postgres_give_the_same_profile(duckdb_url: str, pg_url: str, frame: pd.DataFrame) -> None:
    spec = small_spec()
    results = []
    for url in (duckdb_url, pg_url):
        write_table(url, "t", frame)
        wh = Warehouse(url)
        ref = wh.profiles.profile_reference(spec)
        results.append((ref, wh.profiles.profile_days(spec, ref.layout, [DAY, DAY + dt.timedelta(days=1)])))
    (duck_ref, duck_days), (pg_ref, pg_days) = results
    for name, bins in duck_ref.layout.numeric.items():
        other = pg_ref.layout.numeric[name]
        assert math.isclose(bins.lo, other.lo, rel_tol=1e-9) and math.isclose(bins.hi, other.hi, rel_tol=1e-9)
    assert duck_ref.layout.categorical == pg_ref.layout.categorical
    assert_same_profile(duck_ref.profile, pg_ref.profile)
    for day in duck_days:
        assert_same_profile(duck_days[day], pg_days[day])


def test_schema_qualified_tables_work(url: str, frame: pd.DataFrame) -> None:
    write_table(url, "analytics.t", frame)
    spec = small_spec(source={"table": "analytics.t", "timestamp_column": "ts"})
    ref = Warehouse(url).profiles.profile_reference(spec)
    assert ref.profile.n_rows == 1200


def test_missing_column_is_a_clear_error(duckdb_url: str, frame: pd.DataFrame) -> None:
    write_table(duckdb_url, "t", frame)
    spec = small_spec(features={"numeric": ["x", "not_there"]})
    with pytest.raises(WarehouseError, match="not_there"):
        Warehouse(duckdb_url).profiles.profile_reference(spec)


def test_identifiers_are_quoted_with_embedded_quotes_escaped() -> None:
    sql = SqlBuilder(default.DefaultDialect())
    assert sql.col("income") == '"income"'
    assert sql.col('x"; DROP TABLE t; --') == '"x""; DROP TABLE t; --"'
    assert sql.table("analytics.inference_log") == '"analytics"."inference_log"'


def test_as_date_takes_the_day_of_what_drivers_return() -> None:
    assert as_date(dt.datetime(2024, 1, 5, 23, 59, 59)) == dt.date(2024, 1, 5)
    assert type(as_date(dt.datetime(2024, 1, 5, 0, 0))) is dt.date  # not the datetime itself
    assert as_date(dt.date(2024, 1, 5)) == dt.date(2024, 1, 5)
    assert as_date(None) is None
    # An aware timestamp's date is the one in its own offset (the session's zone), not UTC's.
    late = dt.datetime(2024, 1, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert as_date(late) == dt.date(2024, 1, 5)
    assert late.astimezone(dt.UTC).date() == dt.date(2024, 1, 6)
    assert as_date(pd.Timestamp("2024-01-05 12:00")) == dt.date(2024, 1, 5)
    with pytest.raises(TypeError, match="str"):
        as_date("2024-01-05")


def test_window_clauses_bind_the_bounds_on_the_aliased_timestamp() -> None:
    sql = SqlBuilder(default.DefaultDialect())
    start, end = dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 6)
    params: dict[str, object] = {}
    assert sql.window_clauses(Relation("t", "ts", start, end), params, alias="s") == [
        's."ts" >= :w_start',
        's."ts" < :w_end',
    ]
    assert params == {"w_start": start, "w_end": end}
    params = {}
    assert sql.window_clauses(Relation("t", "ts", None, end), params) == ['"ts" < :w_end']
    assert params == {"w_end": end}
    params = {}
    assert sql.window_clauses(Relation("t", None, start, end), params, alias="s") == []  # nothing to cut on
    assert params == {}
    assert sql.where(Relation("t"), params) == ""
    assert sql.where(Relation("t", "ts", start), params) == ' WHERE "ts" >= :w_start'


@pytest.fixture
def duck_rows() -> Iterator[tuple[SqlBuilder, sa.Connection]]:
    """Day 5 has ids 0..199, day 6 one row; x is a second, unrelated value per row."""
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (ts TIMESTAMP, id INTEGER, x DOUBLE)"))
        rows = [{"ts": dt.datetime(2024, 1, 5, 0, i % 60), "id": i, "x": i * 0.5} for i in range(200)]
        rows.append({"ts": dt.datetime(2024, 1, 6), "id": 999, "x": 1.0})
        conn.execute(sa.text("INSERT INTO t VALUES (:ts, :id, :x)"), rows)
        yield SqlBuilder(engine.dialect), conn
    engine.dispose()


def _run(conn: sa.Connection, text: str, params: dict[str, object]) -> pd.DataFrame:
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return raw.execute(text, params).fetch_df_chunk(10)  # type: ignore[attr-defined]


def test_duckdb_rows_statement_reads_the_window_and_samples_by_key(
    duck_rows: tuple[SqlBuilder, sa.Connection],
) -> None:
    sql, conn = duck_rows
    day = Relation("t", "ts", dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 6))
    whole = _run(conn, *duckdb_rows_statement(sql, day, ["id"]))
    assert sorted(whole["id"]) == list(range(200))  # the next day's midnight is outside
    assert list(_run(conn, *duckdb_rows_statement(sql, day, [])).columns) == ["ts"]
    # A share of 1 reads every row; a smaller one a deterministic subset, picked by the key alone.
    assert "hash" not in duckdb_rows_statement(sql, day, ["id"], sample_share=1.0, sample_key="id")[0]
    half = duckdb_rows_statement(sql, day, ["id"], sample_share=0.5, seed=7, sample_key="id")
    picked = set(_run(conn, *half)["id"])
    assert 40 < len(picked) < 160
    assert picked == set(_run(conn, *half)["id"])
    by_id = duckdb_rows_statement(sql, day, ["id", "x"], sample_share=0.5, seed=7, sample_key="id")
    assert set(_run(conn, *by_id)["id"]) == picked  # reading x too does not change the sample
    other_seed = duckdb_rows_statement(sql, day, ["id"], sample_share=0.5, seed=8, sample_key="id")
    assert set(_run(conn, *other_seed)["id"]) != picked
    empty = _run(conn, *duckdb_rows_statement(sql, day, ["id", "x"], limit=0))
    assert len(empty) == 0 and list(empty.columns) == ["id", "x"]
    assert str(empty["x"].dtype) == "float64"


def test_duckdb_columns_statement_reads_bare_schema_and_catalog_names(
    duck_rows: tuple[SqlBuilder, sa.Connection],
) -> None:
    _, conn = duck_rows
    want = [("ts", "TIMESTAMP"), ("id", "INTEGER"), ("x", "DOUBLE")]
    for name in ("t", "main.t", "memory.main.t"):
        assert [tuple(r) for r in conn.execute(*duckdb_columns_statement(name))] == want, name
    assert conn.execute(*duckdb_columns_statement("other.main.t")).fetchall() == []
    assert conn.execute(*duckdb_columns_statement("missing")).fetchall() == []


def test_password_is_masked_in_errors() -> None:
    wh = Warehouse("postgresql+psycopg2://bob:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in wh.safe_url
    with pytest.raises(WarehouseError) as info:
        wh.ensure_tables()
    assert "s3cret" not in str(info.value)


def _duckdb_memory_limit_setting(wh: Warehouse) -> str:
    with wh.begin() as conn:
        return str(conn.execute(sa.text("SELECT current_setting('memory_limit')")).scalar_one())


def _plain_duckdb_setting(**config: str) -> str:
    with duckdb.connect(config=config) as con:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize(
    ("env", "expected"),
    [(None, {"memory_limit": "512MB"}), ("2GB", {"memory_limit": "2GB"}), ("", {})],
    ids=["default-512MB", "override-2GB", "empty-duckdb-default"],
)
def test_duckdb_memory_limit_is_the_products_default_unless_the_env_overrides_it(
    duckdb_url: str, monkeypatch: pytest.MonkeyPatch, env: str | None, expected: dict[str, str]
) -> None:
    assert DEFAULT_DUCKDB_MEMORY_LIMIT == "512MB"
    if env is None:
        monkeypatch.delenv(DUCKDB_MEMORY_ENV, raising=False)
    else:
        monkeypatch.setenv(DUCKDB_MEMORY_ENV, env)
    wh = Warehouse(duckdb_url)
    got = _duckdb_memory_limit_setting(wh)
    wh.dispose()
    # DuckDB reports the limit in its own units (e.g. "488.2 MiB"): compare with a bare connection.
    assert got == _plain_duckdb_setting(**expected)
    assert (got == _plain_duckdb_setting()) == (not expected)  # the default really differs from DuckDB's


def _contract_histogram(values: pd.Series, lo: float, hi: float, n_bins: int) -> np.ndarray:
    """The schema docstring's cells of the finite values, by its formula, in numpy."""
    x = pd.to_numeric(values).to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    cells = 1 + np.clip(np.floor((x - lo) / ((hi - lo) / n_bins)), -1, n_bins).astype(np.int64)
    return np.bincount(cells, minlength=n_bins + 2)


def _day_rows(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return frame[(frame.ts >= pd.Timestamp(day)) & (frame.ts < pd.Timestamp(day + dt.timedelta(days=1)))]


def _store_two_days(url: str, frame: pd.DataFrame) -> tuple[ReferenceProfile, list[dt.date]]:
    """The reference and two daily profiles of ``frame``, stored as the assets store them."""
    write_table(url, "t", frame)
    spec = small_spec()
    wh = Warehouse(url)
    ref = wh.profiles.profile_reference(spec)
    wh.profiles.write_reference(spec, ref, Audit("r", "h"))
    days = [DAY, DAY + dt.timedelta(days=1)]
    wh.profiles.write_daily_profiles(spec, wh.profiles.profile_days(spec, ref.layout, days), Audit("r", "h"))
    wh.dispose()
    return ref, days


def test_a_numeric_histogram_is_one_packed_row_numpy_reads(url: str, frame: pd.DataFrame) -> None:
    """What a user reading ``profile_bins`` gets: one row per numeric column and day whose
    ``cells`` decode, as the schema docstring says, to the histogram numpy computes from the rows."""
    ref, days = _store_two_days(url, frame)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT partition_date, column_name, cell, category, count, lower, upper, cells "
                "FROM monitoring.profile_bins WHERE monitor = 'm' AND profile = 'daily'"
            )
        ).fetchall()
    engine.dispose()
    for day in days:
        on_day = _day_rows(frame, day)
        for column in ("x", "y", "score"):
            (row,) = [r for r in rows if r.partition_date == day and r.column_name == column]
            assert row.cell is None and row.category is None
            bins = ref.layout.numeric[column]
            assert (row.lower, row.upper) == (bins.lo, bins.hi)
            hist = np.frombuffer(zlib.decompress(row.cells), dtype="<i8")
            want = _contract_histogram(on_day[column], row.lower, row.upper, 100)
            np.testing.assert_array_equal(hist, want, err_msg=f"{day} {column}")
            assert row.count == want.sum() == np.isfinite(pd.to_numeric(on_day[column]).to_numpy(dtype=float)).sum()
        # Categories stay one row per non-empty cell, ranked by the reference's top K, other last.
        counts = on_day["c"].dropna().value_counts()
        top = ref.layout.categorical["c"].categories
        cats = {r.category: (r.cell, r.count) for r in rows if r.partition_date == day and r.column_name == "c"}
        assert all(r.cells is None for r in rows if r.column_name == "c")
        want_cats = {v: (top.index(v), int(counts[v])) for v in top if v in counts.index}
        want_cats["__other__"] = (len(top), int(counts[~counts.index.isin(top)].sum()))
        assert cats == want_cats


OLD_PROFILE_BINS = (
    "CREATE TABLE monitoring.profile_bins (monitor VARCHAR(63) NOT NULL, profile VARCHAR(32) NOT NULL, "
    "partition_date DATE, column_name VARCHAR(63) NOT NULL, cell INTEGER NOT NULL, lower DOUBLE PRECISION, "
    "upper DOUBLE PRECISION, category VARCHAR, count BIGINT NOT NULL, run_id VARCHAR(64) NOT NULL, "
    "spec_hash VARCHAR(64) NOT NULL, model_version VARCHAR(256), computed_at TIMESTAMP NOT NULL)"
)


def _old_layout_rows(kind: str, day: dt.date | None, rows: pd.DataFrame, layout: ProfileLayout) -> list[dict]:
    """``profile_bins`` rows as an earlier release wrote them (one per non-empty numeric cell, with
    its bounds), built from the raw rows with numpy."""
    key = {"monitor": "m", "profile": kind, "partition_date": day, "run_id": "old", "spec_hash": "h"}
    key |= {"model_version": None, "computed_at": dt.datetime(2024, 1, 1)}
    out = []
    for column, bins in layout.numeric.items():
        hist = _contract_histogram(rows[source_column(column)], bins.lo, bins.hi, bins.n_bins)
        edges = [bins.lo + bins.width * k for k in range(bins.n_bins + 1)]
        for c in np.flatnonzero(hist):
            lower = edges[c - 1] if c >= 1 else None
            upper = edges[c] if c <= bins.n_bins else None
            out.append(key | {"column_name": column, "cell": int(c), "lower": lower, "upper": upper})
            out[-1] |= {"category": None, "count": int(hist[c])}
    for column, cbins in layout.categorical.items():
        counts = rows[column].dropna().value_counts()
        labels = [*cbins.categories, "__other__"]
        values = [int(counts.get(v, 0)) for v in cbins.categories]
        values.append(int(counts.sum()) - sum(values))
        for c, (label, n) in enumerate(zip(labels, values, strict=True)):
            if n or kind == "reference":
                out.append(key | {"column_name": column, "cell": c, "lower": None, "upper": None})
                out[-1] |= {"category": label, "count": n}
    for rank, (version, n) in enumerate(rows["mv"].value_counts().items()):
        out.append(key | {"column_name": "__model_version__", "cell": rank, "lower": None, "upper": None})
        out[-1] |= {"category": str(version), "count": int(n)}
    return out


def test_an_old_profile_bins_table_is_rebuilt_and_its_cell_rows_still_read(url: str, frame: pd.DataFrame) -> None:
    ref, days = _store_two_days(url, frame)
    spec = small_spec()
    # The table of an earlier release, holding its rows (profile_metrics is the same in both).
    reference_rows = frame[frame.ts < pd.Timestamp("2024-01-04")]
    old = _old_layout_rows("reference", None, reference_rows, ref.layout)
    for day in days:
        old += _old_layout_rows("daily", day, _day_rows(frame, day), ref.layout)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    columns = ["monitor", "profile", "partition_date", "column_name", "cell", "lower", "upper", "category", "count"]
    columns += ["run_id", "spec_hash", "model_version", "computed_at"]
    insert = sa.text(
        f"INSERT INTO monitoring.profile_bins ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)}) "
        f"VALUES ({', '.join(f':{c}' for c in columns)})"
    )
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE monitoring.profile_bins"))
        conn.execute(sa.text(OLD_PROFILE_BINS))
        conn.execute(insert, old)

    wh = Warehouse(url)
    wh.ensure_tables()
    with engine.connect() as conn:
        got = conn.execute(
            sa.text(
                "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns "
                "WHERE table_schema = 'monitoring' AND table_name = 'profile_bins' ORDER BY ordinal_position"
            )
        ).fetchall()
        assert [tuple(r) for r in got] == [
            *[(c, c not in ("monitor", "profile", "column_name", "count")) for c in columns[:9]],
            ("cells", True),
            *[(c, c == "model_version") for c in columns[9:]],
        ]
        kept = conn.execute(sa.text("SELECT count(*), count(cells) FROM monitoring.profile_bins")).one()
        assert tuple(kept) == (len(old), 0)
    # The old rows read as the profiles numpy computes from the rows: the layout (categories of the
    # reference's cell rows), the reference and both days.
    wanted = [*ref.layout.numeric, *ref.layout.categorical]
    layout = wh.profiles.read_layout(spec, wanted)
    assert layout == ref.layout
    assert_same_profile(wh.profiles.read_reference(spec, wanted, with_windows=False).profile, ref.profile)
    stored = wh.profiles.read_daily_profiles(spec, layout, days, wanted)
    for day in days:
        assert_same_profile(stored[day], _numpy_profile(layout, _day_rows(frame, day)))
    # A day written again is packed; the other keeps its old rows, and both still read right.
    wh.profiles.write_daily_profiles(spec, wh.profiles.profile_days(spec, layout, days[:1]), Audit("r2", "h"))
    with engine.connect() as conn:
        packed = conn.execute(
            sa.text("SELECT partition_date, count(*) FROM monitoring.profile_bins WHERE cells IS NOT NULL GROUP BY 1")
        ).fetchall()
    assert dict(packed) == {days[0]: len(layout.numeric)}  # x, y, score and the score's fine histogram
    stored = wh.profiles.read_daily_profiles(spec, layout, days, wanted)
    for day in days:
        assert_same_profile(stored[day], _numpy_profile(layout, _day_rows(frame, day)))
    wh.dispose()
    engine.dispose()


def test_rows_written_by_copy_read_back_and_a_rejected_row_is_told_without_its_values(pg_url: str) -> None:
    """PostgreSQL writes rows by COPY: text, NULL, a tab, a newline, a backslash, floats to the
    bit, a boolean, bytes and a date come back as written; a row the server rejects raises a
    WarehouseError that quotes none of the row (the driver's message names the failing line)."""
    wh = Warehouse(pg_url)  # its own monitor name: other tests of the worker's database write monitor "m"
    at = dt.datetime(2024, 1, 5, 12, 30, 15, 123456)
    stamp = {"run_id": "r", "spec_hash": "h", "model_version": None, "computed_at": at}
    awkward = ["a\tb", "line\nbreak", "back\\slash", "\\N", "", "quote'\"", "é€"]
    rows = [
        {
            "monitor": "copy_rt",
            "profile": "daily",
            "partition_date": DAY,
            "column_name": "c",
            "metric": text,
            "value": v,
        }
        | stamp
        for text, v in zip(awkward, [0.1, -0.0, 1e-310, math.pi, 1e300, None, -2.5], strict=True)
    ]
    with wh.begin_tables() as conn:
        _store._insert(conn, _store.profile_metrics, rows)
        m = _store.profile_metrics.c
        got = conn.execute(
            sa.select(m.metric, m.value, m.partition_date, m.computed_at, m.model_version).where(m.monitor == "copy_rt")
        ).fetchall()
    assert sorted(got, key=lambda r: r[0]) == sorted(
        [(r["metric"], r["value"], DAY, at, None) for r in rows], key=lambda r: r[0]
    )
    assert [math.copysign(1, v) for t, v, *_ in got if t == "line\nbreak"] == [-1.0]  # -0.0 kept
    secret = "s3cret-" + "x" * 80  # longer than column_name's 63 characters
    with pytest.raises(WarehouseError) as info, wh.begin_tables() as conn:
        _store._insert(conn, _store.profile_metrics, [{**rows[0], "column_name": secret}])
    assert "s3cret" not in str(info.value) and info.value.__cause__ is None
    with wh.begin_tables() as conn:  # nothing of the failed transaction was kept
        assert conn.execute(sa.select(sa.func.count()).where(m.column_name == secret)).scalar_one() == 0
