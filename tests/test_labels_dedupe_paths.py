"""Issue 13: the duplicate policy's fast path (rows as they are on days without a repeated id,
labels unranked unless a day's join grew) gives what ranking every row gives.

Five scoring days: one clean, one with repeated source ids, one with ids holding several label
rows, one with both and rows without an id, one whose only extra label rows have a NULL label; an
id scored on two days holds two labels. Expected figures come from the documented policy in pandas
and scikit-learn, and from the window functions run on every day (``_binary_aggregates`` and
``_slice_counts`` without the counting pass). DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitoring_assets.core.performance import performance_metrics
from monitoring_assets.spec import MonitorSpec
from resources import _labels_sql
from resources.warehouse import Warehouse
from tests.conftest import write_table
from tests.test_faults_labels import spec_for as faults_spec
from tests.test_labels_warehouse import mismatches, sklearn_binary

DAYS = [dt.date(2024, 7, 1) + dt.timedelta(days=i) for i in range(5)]
PER_DAY = 400
GROUPS = ["a", "b", "c"]


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(13)
    n = len(DAYS) * PER_DAY
    day_of = np.repeat(np.arange(len(DAYS)), PER_DAY)
    x = rng.normal(0, 1, n)
    scored = pd.DataFrame(
        {
            "ts": pd.Timestamp(DAYS[0]) + pd.to_timedelta(day_of * 86_400 + rng.integers(0, 86_000, n), unit="s"),
            "id": pd.array(np.arange(50_000, 50_000 + n), dtype="Int64"),
            "x": x,
            "score": 1 / (1 + np.exp(-(1.5 * x + rng.normal(0, 1, n)))),
            "seg": rng.choice([*GROUPS, "z"], n),
            "y": (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(np.int64),
        }
    )
    first = {d: scored.index[day_of == d] for d in range(len(DAYS))}
    # Days 1 and 3: ids scored again on the same day (another score, another time or the same time).
    again = scored.loc[np.r_[first[1][:15], first[3][:7]]].copy()
    shift = rng.integers(-600, 600, len(again))
    shift[:4] = 0  # same time: the highest score wins
    again["ts"] = again["ts"] + pd.to_timedelta(shift, unit="s")
    again["score"] = rng.uniform(0, 1, len(again))
    again["seg"] = rng.choice(GROUPS, len(again))
    # Day 3: rows without an id, each a row of its own.
    no_id = scored.loc[first[3][20:26]].copy()
    no_id["id"] = pd.NA
    # Day 2 re-scores an id of day 0: one row on each day, no duplicate.
    other_day = scored.loc[first[0][[5]]].copy()
    other_day["ts"] = pd.Timestamp(DAYS[2]) + pd.Timedelta(hours=3)
    scored = pd.concat([scored, again, no_id, other_day], ignore_index=True).astype({"id": "Int64"})

    ids = scored["id"].dropna().drop_duplicates()
    labeled = ids.sample(frac=0.9, random_state=4)
    truth = scored.dropna(subset=["id"]).drop_duplicates("id").set_index("id")["y"]
    base = pd.DataFrame(
        {
            "row_id": labeled.to_numpy(dtype=np.int64),
            "label": truth.loc[labeled].to_numpy(dtype=np.float64),
            "arrived_at": pd.Timestamp(DAYS[-1]) + pd.Timedelta(days=1) + pd.to_timedelta(np.arange(len(labeled)), "s"),
        }
    )
    by_id = base.set_index("row_id")
    day_ids = {d: scored.loc[first[d], "id"].astype(np.int64) for d in range(len(DAYS))}

    def extra(id_list: list[int], hours: int, flip: bool) -> pd.DataFrame:
        rows = by_id.loc[id_list].reset_index()
        rows["arrived_at"] = rows["arrived_at"] + pd.Timedelta(hours=hours)
        rows["label"] = 1 - rows["label"] if flip else rows["label"]
        return rows

    def labeled_of(day: int, k: int, skip: int = 0) -> list[int]:
        return [int(i) for i in day_ids[day] if int(i) in by_id.index][skip : skip + k]

    shared = int(other_day["id"].iloc[0])
    parts = [
        base,
        extra(labeled_of(2, 10), 5, True),  # newer, flipped: kept by "latest"
        extra(labeled_of(2, 3), -5, True),  # older still: a third row for three of them
        extra(labeled_of(3, 6, skip=30), 2, True),
        extra([shared] if shared in by_id.index else labeled_of(0, 1), 1, True),
    ]
    null_label = extra(labeled_of(4, 8), 3, False).assign(label=np.nan)  # ignored: not a label
    labels = pd.concat([*parts, null_label], ignore_index=True).sample(frac=1, random_state=5)
    labels["label"] = labels["label"].astype(object).where(labels["label"].notna(), None)
    return scored, labels


def policy(scored: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The documented policy, in pandas: per (day, id) the latest row then the highest score, rows
    without an id all kept; per id the latest label by arrival then the highest; per kept row, its
    id's extra label rows (``dup_labels``)."""
    day = scored.assign(day=scored.ts.dt.date)
    with_id = day[day["id"].notna()].sort_values(["ts", "score"], ascending=False)
    rows = pd.concat([with_id.drop_duplicates(["day", "id"]), day[day["id"].isna()]])
    real = labels[labels["label"].notna()].astype({"label": np.float64})
    kept = real.sort_values(["arrived_at", "label"], ascending=False).drop_duplicates("row_id")
    label = rows["id"].map(kept.set_index("row_id")["label"])
    n_labels = rows["id"].map(real.groupby("row_id").size())
    return rows.assign(
        y=label.fillna(-9).astype(int).to_numpy(),
        labeled=label.notna().to_numpy(),
        dup_labels=(n_labels.fillna(1) - 1).astype(int).to_numpy(),
    )


@pytest.fixture(params=["duckdb", "postgres"])
def loaded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, pd.DataFrame, pd.DataFrame]:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    prefix = f"dd_{uuid.uuid4().hex[:8]}"
    scored, labels = frames()
    write_table(url, f"{prefix}_scored", scored[["ts", "id", "x", "score", "seg"]])
    table = labels.copy()
    table.attrs["numeric"] = ("label",)  # None cells: not a float column to pandas
    write_table(url, f"{prefix}_labels", table)
    return url, prefix, scored, labels


def spec_for(prefix: str) -> MonitorSpec:
    """test_faults_labels' monitor on this file's tables: one feature, partitions from DAYS[0]."""
    return faults_spec(prefix, prefix, features={"numeric": ["x"]}, partitions={"start_date": DAYS[0].isoformat()})


def test_fixture_has_duplicates_on_some_days_only() -> None:
    """The data exercise every path: a clean day, source-only, label-only and both."""
    scored, labels = frames()
    rows = policy(scored, labels)
    with_id = scored[scored["id"].notna()].assign(day=scored.ts.dt.date)
    dup_ids = with_id.groupby("day").size() - with_id.groupby("day")["id"].nunique()
    dup_labels = rows.groupby("day")["dup_labels"].sum()
    assert [int(dup_ids.get(d, 0)) for d in DAYS] == [0, 15, 0, 7, 0]
    assert [int(dup_labels.get(d, 0)) > 0 for d in DAYS] == [True, False, True, True, False]
    assert scored["id"].isna().sum() == 6


def test_fast_path_matches_policy_and_window_path(loaded: tuple[str, str, pd.DataFrame, pd.DataFrame]) -> None:
    url, prefix, scored, labels = loaded
    spec = spec_for(prefix)
    wh = Warehouse(url)
    rows = wh.labels.labeled_rows(spec, DAYS[0], DAYS[-1])
    slices = {"seg": GROUPS}
    with wh.begin() as conn:
        fast = rows.binary_aggregates(conn, wh.sql, spec.performance.score_bins)
        ranked = rows._binary_aggregates(conn, wh.sql, spec.performance.score_bins)  # every day ranked
        fast_slices = rows.slice_counts(conn, wh.sql, slices)
        ranked_slices = rows._slice_counts(conn, wh.sql, slices)
    wh.dispose()
    want_rows = policy(scored, labels)
    assert set(fast) == set(ranked) == set(DAYS)
    for day in DAYS:
        got, window = fast[day], ranked[day]
        day_rows = want_rows[want_rows["day"] == day]
        with_id = scored[(scored.ts.dt.date == day) & scored["id"].notna()]
        assert got.n_duplicate_ids == window.n_duplicate_ids == len(with_id) - with_id["id"].nunique(), day
        assert got.n_duplicate_labels == window.n_duplicate_labels == day_rows["dup_labels"].sum(), day
        assert got.n_scored == window.n_scored == len(day_rows), day
        metrics, window_metrics = performance_metrics(got), performance_metrics(window)
        want = sklearn_binary(day_rows, threshold=0.5)
        assert not mismatches(metrics, want, (day, "policy")), day
        assert not mismatches(metrics, window_metrics, (day, "window")), day
        assert np.array_equal(got.hist, window.hist) and np.array_equal(got.confusion, window.confusion), day

        for group in [*GROUPS, "__other__"]:
            in_group = day_rows[day_rows["seg"].isin(GROUPS) == (group != "__other__")]
            in_group = in_group[in_group["seg"] == group] if group != "__other__" else in_group
            counts, window_counts = fast_slices[day]["seg"][group], ranked_slices[day]["seg"][group]
            assert counts.n == window_counts.n == len(in_group), (day, group)
            valid = in_group[in_group["labeled"] & in_group["y"].isin([0, 1])]
            confusion = np.zeros((2, 2), np.int64)
            np.add.at(confusion, (valid["y"].to_numpy(), (valid["score"] >= 0.5).to_numpy().astype(int)), 1)
            assert np.array_equal(counts.confusion, confusion), (day, group)
            assert np.array_equal(counts.confusion, window_counts.confusion), (day, group)


@pytest.mark.parametrize("ids", ["integer", "text", "wide"])
def test_duckdb_source_counts_match_pandas_on_every_id_kind(
    ids: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per day, rows once de-duplicated and repeated ids, as pandas counts them: integer ids go
    through the bitmap of ``_bitmap_counts`` (and must: the statement is checked), text ids and
    an id range over ``BITMAP_BITS`` through ``count(DISTINCT)``."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    prefix = f"dc_{uuid.uuid4().hex[:8]}"
    scored, labels = frames()
    if ids == "text":
        scored["id"] = scored["id"].map(lambda v: None if pd.isna(v) else f"r{int(v)}").astype(object)
    elif ids == "wide":
        monkeypatch.setattr(_labels_sql, "BITMAP_BITS", 100)
    write_table(url, f"{prefix}_scored", scored[["ts", "id", "x", "score", "seg"]])
    table = labels.copy()
    table.attrs["numeric"] = ("label",)
    write_table(url, f"{prefix}_labels", table)
    wh = Warehouse(url)
    rows = wh.labels.labeled_rows(spec_for(prefix), DAYS[0], DAYS[-1])
    seen: list[str] = []
    with wh.begin() as conn:
        sa.event.listen(conn, "before_cursor_execute", lambda *a: seen.append(a[2]))
        got = rows._source_counts(conn, wh.sql)
    wh.dispose()
    day = scored.ts.dt.date
    with_id = scored[scored["id"].notna()]
    dups = with_id.groupby(day).size() - with_id.groupby(day)["id"].nunique()
    want = {d: (int((day == d).sum() - dups.get(d, 0)), int(dups.get(d, 0))) for d in DAYS}
    assert got == want
    assert [d for d in DAYS if want[d][1]] == [DAYS[1], DAYS[3]]
    assert any("bitstring_agg" in s for s in seen) == (ids == "integer"), seen
