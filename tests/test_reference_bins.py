"""Reference bin edges: exact ``np.quantile`` values from two order statistics, the same on DuckDB
and PostgreSQL, without a holistic quantile aggregate."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from monitoring_assets.core.profile import QuantileRanks
from monitoring_assets.errors import ProfileError
from resources._sql import Relation, SqlBuilder, _EdgeRanks, build_layout
from resources.warehouse import Warehouse
from tests.conftest import sample_frame, small_spec, write_table

QUANTILES = (0.001, 0.999)


def _bits(x: float) -> bytes:
    return np.float64(x).tobytes()  # tells -0.0 from 0.0, and any last-bit difference


def _sample(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "normal":
        return rng.normal(3.0, 2.0, n)
    if kind == "ties":
        return rng.integers(0, 4, n).astype(np.float64)  # a handful of values, each many times
    return rng.lognormal(0.0, 3.0, n)  # many orders of magnitude


@pytest.mark.parametrize("kind", ["normal", "ties", "lognormal"])
def test_quantile_ranks_interpolate_to_numpys_quantile_bit_for_bit(kind: str) -> None:
    rng = np.random.default_rng(13)
    sizes = [1, 2, 3, 4, 5, 7, 10, 999, 1000, 1001, 1002, 2001, *rng.integers(1, 30_000, 40).tolist()]
    for n in sizes:
        x = _sample(rng, int(n), kind)
        ordered = np.sort(x)
        for q in (*QUANTILES, 0.0, 0.25, 0.5, 1.0, float(rng.random())):
            r = QuantileRanks(int(n), q)
            assert 0 <= r.below <= r.above <= n - 1 and r.above - r.below <= 1
            got = r.interpolate(ordered[r.below], ordered[r.above])
            want = np.quantile(x, q)  # numpy's default method, "linear"
            assert _bits(got) == _bits(want), (kind, n, q, got, want)


def test_quantile_ranks_closed_form_on_a_tiny_input() -> None:
    # x = 0, 10, 20, 30 (n = 4): q = 0.5 sits at h = 1.5, halfway between 10 and 20.
    r = QuantileRanks(4, 0.5)
    assert (r.below, r.above, r.gamma) == (1, 2, 0.5) and r.interpolate(10.0, 20.0) == 15.0
    one = QuantileRanks(1, 0.999)  # one value is every quantile of itself
    assert (one.below, one.above) == (0, 0) and one.interpolate(7.0, 7.0) == 7.0
    top = QuantileRanks(2, 1.0)
    assert (top.below, top.above) == (1, 1)
    with pytest.raises(ProfileError):
        QuantileRanks(0, 0.5)


def _edge_frame(n: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Columns with NULLs, NaN and +-inf among the values: normal, ties, heavy tail, one finite value."""
    rng = np.random.default_rng(seed)

    def spoil(values: np.ndarray) -> np.ndarray:
        out = values.astype(object)
        for v, k in ((None, 40), (float("nan"), 15), (float("inf"), 8), (float("-inf"), 8)):
            out[rng.choice(n, k, replace=False)] = v
        return out

    one = np.array([None] * n, dtype=object)
    one[rng.choice(n, 30, replace=False)] = float("nan")
    one[rng.choice(n, 5, replace=False)] = float("inf")
    one[np.flatnonzero(pd.isna(pd.Series(one)))[0]] = 2.5  # a single finite value among NULL/NaN/inf
    frame = pd.DataFrame(
        {
            "normal": spoil(rng.normal(0.0, 1.0, n)),
            "ties": spoil(rng.integers(-2, 3, n).astype(np.float64)),
            "heavy": spoil(rng.lognormal(0.0, 3.0, n)),
            "two": np.array([1.5, -4.0] + [None] * (n - 2), dtype=object),
            "one": one,
        }
    )
    frame.attrs["numeric"] = tuple(frame.columns)
    return frame


def _edges(url: str, table: str, columns: list[str]) -> dict[str, tuple[float, float]]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            layout = build_layout(
                conn,
                sql=SqlBuilder(engine.dialect),
                rel=Relation(table),
                numeric=columns,
                categorical=[],
                n_bins=10,
                top_k=3,
            )
    finally:
        engine.dispose()
    return {c: (b.lo, b.hi) for c, b in layout.numeric.items()}


def test_duckdb_and_postgres_fix_identical_edges_equal_to_numpy(duckdb_url: str, pg_url: str) -> None:
    frame = _edge_frame()
    columns = ["normal", "ties", "heavy", "two", "one"]
    write_table(duckdb_url, "edges", frame)
    write_table(pg_url, "edges", frame)
    duck = _edges(duckdb_url, "edges", columns)
    pg = _edges(pg_url, "edges", columns)
    for c in columns:
        x = pd.to_numeric(frame[c]).to_numpy(dtype=np.float64)
        lo, hi = np.quantile(x[np.isfinite(x)], QUANTILES)
        if hi <= lo:
            hi = lo + 1.0  # NumericBins.from_range: a constant column gets a unit-wide range
        assert [_bits(v) for v in duck[c]] == [_bits(lo), _bits(hi)], (c, duck[c], (lo, hi))
        assert [_bits(v) for v in pg[c]] == [_bits(v) for v in duck[c]], (c, pg[c], duck[c])


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_column_without_finite_values_cannot_fix_bins(engine: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("duckdb_url" if engine == "duckdb" else "pg_url")
    frame = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "empty": [None, float("nan"), float("inf")]})
    frame.attrs["numeric"] = ("ok", "empty")
    write_table(url, "no_finite", frame)
    with pytest.raises(ProfileError, match="'empty' has no finite values"):
        _edges(url, "no_finite", ["ok", "empty"])


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_the_reference_profile_runs_no_holistic_quantile(engine: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("duckdb_url" if engine == "duckdb" else "pg_url")
    write_table(url, "t", sample_frame())
    wh = Warehouse(url)
    sent: list[tuple[str, Any]] = []
    sa.event.listen(wh.engine, "before_cursor_execute", lambda _c, _cur, stmt, params, *_: sent.append((stmt, params)))
    wh.profiles.profile_reference(small_spec())
    statements = [s.lower() for s, _ in sent]
    assert statements  # the listener saw the queries
    assert not [s for s in statements if "quantile" in s or "percentile_cont" in s]
    if engine == "duckdb":
        # The order statistics come from bounded heaps: the plan aggregates with min/max, no quantile.
        stmt, params = next((s, p) for s, p in sent if "min(CASE WHEN isfinite" in s)
        with wh.engine.connect() as conn:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN {stmt}", params)).lower()
        assert "quantile" not in plan and "min(" in plan and "max(" in plan
    wh.dispose()


def test_reference_rows_arriving_between_the_two_scans_are_refused(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(pg_url, "moving", pd.DataFrame({"v": np.arange(50, dtype=np.float64)}))
    engine = sa.create_engine(pg_url, poolclass=NullPool)
    original = sa.Connection.execute
    calls = []

    def execute(self: sa.Connection, *args: Any, **kw: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:  # after the counts, before the order statistics: another writer commits
            with engine.begin() as other:
                other.exec_driver_sql('INSERT INTO "moving" VALUES (1000.0)')
        return original(self, *args, **kw)

    try:
        with engine.begin() as conn:
            monkeypatch.setattr(sa.Connection, "execute", execute)
            with pytest.raises(ProfileError, match="changed while its bins were fixed"):
                build_layout(
                    conn,
                    sql=SqlBuilder(engine.dialect),
                    rel=Relation("moving"),
                    numeric=["v"],
                    categorical=[],
                    n_bins=5,
                    top_k=1,
                )
    finally:
        monkeypatch.undo()
        engine.dispose()


def test_heaps_sized_for_the_row_count_reach_the_ranks_of_any_fewer_values() -> None:
    # DuckDB sizes every column's heaps from count(*): that is enough only if the sizes never
    # shrink as n grows, so a column with fewer finite values needs no more than the bound.
    def sizes(n: int) -> tuple[int, int]:
        r = _EdgeRanks(QuantileRanks(n, QUANTILES[0]), QuantileRanks(n, QUANTILES[1]))
        return r.n_smallest, r.n_largest

    ns = [*range(1, 30_000), *range(9_990_000, 10_010_000, 7)]
    for a, b in itertools.pairwise(ns):
        (sa_, la), (sb, lb) = sizes(a), sizes(b)
        assert sa_ <= sb and la <= lb, (a, b)
