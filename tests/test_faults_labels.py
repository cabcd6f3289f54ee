"""Issue 10, section 2: labels and scores that are what they claim (bad-input and fault cases).

Each case builds raw tables, runs the plugin (the warehouse adapter, the labeled_performance job,
or retraining with a throwaway SQLite MLflow store) and asserts the exact outcome: the check fails
with the count, the warehouse table holds exactly those values, the registry holds nothing. Counts
are computed in pandas on the raw frames and metrics by scikit-learn on the deduplicated valid raw
rows, never by the code under test. Warehouse cases run on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sqlalchemy.pool import NullPool

from monitoring_assets import build_definitions
from monitoring_assets._pipeline import compute_performance
from monitoring_assets._retraining import (
    REFUSED_TAG,
    RetrainingRefusedError,
    Trigger,
    _decide,
    chance_level,
    retrain,
    task_problem,
)
from monitoring_assets.core.performance import performance_metrics
from monitoring_assets.errors import WarehouseError
from monitoring_assets.resources import RegistryResource, WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources._rows import LABEL
from resources._store import Audit
from resources.registry import CHALLENGER
from resources.warehouse import Warehouse
from tests.conftest import write_table
from tests.test_labels_warehouse import mismatches, sklearn_binary

DAYS = [dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)]
PER_DAY = 1500


def unique(prefix: str) -> str:
    """Monitor and registry names are per test: the PostgreSQL database is shared by the session."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def scored_rows(days: list[dt.date], per_day: int, seed: int, signal: float = 2.0) -> pd.DataFrame:
    """``per_day`` scored rows per day, unique ids, a label ``y`` that follows ``x`` (``z`` is noise)
    and a calibrated-looking ``score``; every label has arrived (``labeled``)."""
    rng = np.random.default_rng(seed)
    n = len(days) * per_day
    seconds = np.repeat(np.arange(len(days)), per_day) * 86_400 + rng.integers(0, 86_400, n)
    x, z = rng.normal(0, 1, n), rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-signal * x))).astype(np.int64)
    score = 1 / (1 + np.exp(-(1.5 * x + rng.normal(0, 1, n))))
    return pd.DataFrame(
        {
            "ts": pd.Timestamp(days[0]) + pd.to_timedelta(seconds, unit="s"),
            "id": np.arange(10_000, 10_000 + n, dtype=np.int64),
            "x": x,
            "z": z,
            "score": score,
            "y": y,
            "labeled": np.ones(n, dtype=bool),
        }
    )


def write_tables(url: str, prefix: str, scored: pd.DataFrame, labels: pd.DataFrame) -> None:
    write_table(url, f"{prefix}_scored", scored[["ts", "id", "x", "z", "score"]])
    write_table(url, f"{prefix}_labels", labels)


def one_label_each(scored: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": scored["id"].to_numpy(),
            "label": scored["y"].to_numpy(),
            "arrived_at": (scored["ts"] + pd.Timedelta(hours=30)).to_numpy(),
        }
    )


def spec_for(name: str, prefix: str, *, labels: dict[str, Any] | None = None, **extra: Any) -> MonitorSpec:
    data: dict[str, Any] = {
        "name": name,
        "source": {"table": f"{prefix}_scored", "timestamp_column": "ts", "id_column": "id"},
        "features": {"numeric": ["x", "z"]},
        "prediction": {"task": "binary_classification", "score_column": "score", "threshold": 0.5},
        "labels": {
            "table": f"{prefix}_labels",
            "id_column": "row_id",
            "label_column": "label",
            "arrived_at_column": "arrived_at",
            **(labels or {}),
        },
        "reference": {"table": f"{prefix}_scored"},
        "partitions": {"start_date": "2024-05-01"},
    }
    return parse_spec(data | extra)


def stored_metrics(url: str, monitor: str, window: str, day: dt.date) -> dict[str, float]:
    """``monitoring.performance_metrics`` rows of one (window, day), read back with plain SQL."""
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                'SELECT metric, value FROM monitoring.performance_metrics WHERE monitor = :m AND "window" = :w '
                "AND partition_date = :d AND kind = 'realized'"
            ),
            {"m": monitor, "w": window, "d": day},
        ).fetchall()
    engine.dispose()
    return {str(m): float("nan") if v is None else float(v) for m, v in rows}


def events(url: str, monitor: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT event_type, details_json, model_name FROM monitoring.events WHERE monitor = :m "
                "ORDER BY created_at"
            ),
            {"m": monitor},
        ).fetchall()
    engine.dispose()
    return [{"event_type": t, "details": json.loads(d), "model_name": n} for t, d, n in rows]


def run_labeled_days(
    url: str, spec: MonitorSpec, day: dt.date, last: dt.date | None = None
) -> dict[str, dict[dt.date, dg.AssetCheckEvaluation]]:
    """Materialize labeled_performance for ``day`` (or the range ``day..last``, one run) through
    Dagster; its check evaluations by name and day (one per check and day)."""
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url))
    one_day: dict[str, Any] = {"partition_key": day.isoformat()}
    if last is not None:
        one_day = {
            "tags": {
                "dagster/asset_partition_range_start": day.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            }
        }
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(f"{spec.name}_labeled_monitoring").execute_in_process(
            instance=instance, raise_on_error=False, **one_day
        )
    assert result.success
    checks: dict[str, dict[dt.date, dg.AssetCheckEvaluation]] = {}
    for e in result.get_asset_check_evaluations():
        assert e.partition is not None
        per_day = checks.setdefault(e.check_name, {})
        assert dt.date.fromisoformat(e.partition) not in per_day
        per_day[dt.date.fromisoformat(e.partition)] = e
    return checks


def run_labeled(url: str, spec: MonitorSpec, day: dt.date) -> dict[str, dg.AssetCheckEvaluation]:
    """:func:`run_labeled_days` for one day: its one evaluation per check, by name."""
    checks = run_labeled_days(url, spec, day)
    assert all(set(per_day) == {day} for per_day in checks.values())
    return {name: per_day[day] for name, per_day in checks.items()}


# ---------------------------------------------------------------------------------------------
# Invalid labels and scores: counted per day, stored, merged into rolling windows, a failed check
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def invalid() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Day 1: a third of the labels are 2. Day 2: 18 scores outside [0, 1] or not finite. Day 3:
    one label of 2 and one score of 1.3 (under the 0.1 % limit of 1,500 rows)."""
    scored = scored_rows(DAYS, PER_DAY, seed=11)
    rng = np.random.default_rng(12)
    day = scored["ts"].dt.date
    first, second, third = (np.flatnonzero(day == d) for d in DAYS)
    scored.loc[rng.choice(first, PER_DAY // 3, replace=False), "y"] = 2
    bad = rng.choice(second, 18, replace=False)
    scored.loc[bad[:7], "score"] = 1.3
    scored.loc[bad[7:12], "score"] = -0.2
    scored.loc[bad[12:16], "score"] = np.nan
    scored.loc[bad[16:], "score"] = np.inf
    scored.loc[third[0], "y"] = 2
    scored.loc[third[1], "score"] = 1.3
    return scored, one_label_each(scored)


@pytest.fixture(params=["duckdb", "postgres"])
def invalid_url(
    request: pytest.FixtureRequest, tmp_path: Path, invalid: tuple[pd.DataFrame, pd.DataFrame]
) -> Iterator[str]:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    write_tables(url, "finv", *invalid)
    yield url


def expected_invalid(rows: pd.DataFrame) -> tuple[int, int]:
    """(labels outside {0, 1} among labeled rows, scores that are not finite or outside [0, 1]); the
    frame has no missing score (write_table stores a NaN as NaN, not NULL)."""
    labels = int((rows.labeled & ~rows.y.isin([0, 1])).sum())
    score = rows.score
    scores = int((~(np.isfinite(score) & (score >= 0) & (score <= 1))).sum())
    return labels, scores


def test_invalid_labels_and_scores_fail_label_validity_with_the_counts(
    invalid_url: str, invalid: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    scored, _ = invalid
    spec = spec_for(unique("finv"), "finv", performance={"rolling_days": 7})
    on = {d: scored[scored.ts.dt.date == d] for d in DAYS}
    want = {d: expected_invalid(rows) for d, rows in on.items()}
    assert want == {DAYS[0]: (500, 0), DAYS[1]: (0, 18), DAYS[2]: (1, 1)}  # the cases are there

    first = run_labeled(invalid_url, spec, DAYS[0])
    one = first["label_validity"]
    assert not one.passed and one.severity == dg.AssetCheckSeverity.ERROR
    assert one.description == (
        "500 of 1,500 labeled rows have a label outside {0, 1} (limit 0.10%)"
    )  # the scores of day 1 are fine, so they are not named
    # The performance check does not call day 1 "within tolerance": it was not evaluated.
    performance = first["performance_vs_reference"]
    assert performance.passed and performance.metadata["evaluated"].value is False
    assert (performance.description or "").startswith("not evaluated: 500 of 1,500 labeled rows")

    rest = run_labeled_days(invalid_url, spec, DAYS[1], DAYS[2])["label_validity"]  # one run, two days
    assert sorted(rest) == DAYS[1:3]
    assert not rest[DAYS[1]].passed and rest[DAYS[1]].severity == dg.AssetCheckSeverity.ERROR
    assert rest[DAYS[1]].description == (
        "18 of 1,500 scored rows have a score outside [0, 1] or not finite (limit 0.10%)"
    )
    assert rest[DAYS[2]].passed and rest[DAYS[2]].description == (  # 1 of 1,500 is under 0.1 %
        "1 of 1,500 labeled rows have a label outside {0, 1}; 1 of 1,500 scored rows have a score outside [0, 1] "
        "or not finite (limit 0.10%)"
    )

    for d in DAYS:
        daily = stored_metrics(invalid_url, spec.name, "daily", d)
        assert (daily["n_invalid_labels"], daily["n_invalid_scores"]) == want[d]
        # Metrics are over the valid rows only: scikit-learn on them.
        rows = on[d]
        valid = rows[rows.y.isin([0, 1]) & np.isfinite(rows.score) & (rows.score >= 0) & (rows.score <= 1)]
        assert daily["n_labeled"] == PER_DAY
        assert daily["n_invalid"] == PER_DAY - len(valid)
        assert daily["roc_auc"] == pytest.approx(skm.roc_auc_score(valid.y, valid.score), abs=0.002)
        assert daily["accuracy"] == pytest.approx(skm.accuracy_score(valid.y, valid.score >= 0.5), abs=1e-12)
    # The counts merge into the rolling window like the other counts.
    rolling = stored_metrics(invalid_url, spec.name, "rolling_7d", DAYS[2])
    assert (rolling["n_invalid_labels"], rolling["n_invalid_scores"]) == (501, 19)


@pytest.mark.parametrize("url_kind", ["duckdb", "postgres"])
def test_text_labels_are_one_clear_error(request: pytest.FixtureRequest, tmp_path: Path, url_kind: str) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if url_kind == "duckdb" else request.getfixturevalue("pg_url")
    scored = scored_rows(DAYS[:1], 50, seed=13)
    labels = one_label_each(scored).assign(label=np.where(scored.y == 1, "yes", "no"))
    write_tables(url, "ftext", scored, labels)
    spec = spec_for(unique("ftext"), "ftext")
    wh = Warehouse(url)
    for call in (
        lambda: wh.metrics.performance_aggregates(spec, DAYS[:1]),
        lambda: wh.rows.training_frame(spec, DAYS[0], DAYS[0]),
    ):
        with pytest.raises(WarehouseError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"monitor {spec.name!r}: labels.label_column 'label' of table 'ftext_labels' is ")
        assert "label must be 0 or 1 (an integer, numeric or boolean column)" in message
        assert caught.value.__cause__ is None  # raised before any aggregate query, not a cast error
        assert "yes" not in message  # no data value in the error


@pytest.mark.parametrize("url_kind", ["duckdb", "postgres"])
def test_boolean_labels_count_as_0_and_1(request: pytest.FixtureRequest, tmp_path: Path, url_kind: str) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if url_kind == "duckdb" else request.getfixturevalue("pg_url")
    scored = scored_rows(DAYS[:1], 300, seed=14)
    write_table(url, "fbool_scored", scored[["ts", "id", "x", "z", "score"]])
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS fbool_labels")
        conn.exec_driver_sql("CREATE TABLE fbool_labels (row_id BIGINT, label BOOLEAN, arrived_at TIMESTAMP)")
        conn.execute(
            sa.text("INSERT INTO fbool_labels VALUES (:i, :y, :t)"),
            [
                {"i": int(i), "y": bool(y), "t": pd.Timestamp(t).to_pydatetime()}
                for i, y, t in zip(scored.id, scored.y, scored.ts, strict=True)
            ],
        )
    engine.dispose()
    spec = spec_for(unique("fbool"), "fbool")
    got = performance_metrics(Warehouse(url).metrics.performance_aggregates(spec, DAYS[:1])[DAYS[0]])
    want = sklearn_binary(scored.assign(predicted_label=(scored.score >= 0.5).astype(int)))
    assert not mismatches(got, {k: want[k] for k in ("n_labeled", "n_invalid", "accuracy", "roc_auc")}, "bool")
    assert got["n_invalid_labels"] == 0


# ---------------------------------------------------------------------------------------------
# Duplicates: repeated ids in the source, several label rows for one id
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def duplicated() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One 1,500-row day: 20 ids scored twice (another score, another time), one id with 5 label
    rows and 30 with 2 (different labels, different arrival times), 10 % of ids unlabeled."""
    rng = np.random.default_rng(21)
    scored = scored_rows(DAYS[:1], PER_DAY - 20, seed=21)
    again = scored.sample(20, random_state=1).copy()
    again["ts"] = again["ts"] + pd.to_timedelta(rng.integers(-3_000, 3_000, 20), unit="s")
    again["ts"] = again["ts"].clip(pd.Timestamp(DAYS[0]), pd.Timestamp(DAYS[0]) + pd.Timedelta(seconds=86_399))
    again["score"] = rng.uniform(0, 1, 20)
    scored = pd.concat([scored, again], ignore_index=True)
    ids = scored["id"].drop_duplicates()
    labeled_ids = ids.sample(frac=0.9, random_state=2).to_numpy()
    truth = scored.drop_duplicates("id").set_index("id")["y"]
    base = pd.DataFrame(
        {
            "row_id": labeled_ids,
            "label": truth.loc[labeled_ids].to_numpy(),
            "arrived_at": pd.Timestamp(DAYS[0])
            + pd.Timedelta(days=2)
            + pd.to_timedelta(np.arange(len(labeled_ids)), "s"),
        }
    )
    five = base.iloc[[0] * 4].assign(
        label=[1 - base.label.iloc[0], base.label.iloc[0], 1 - base.label.iloc[0], 1 - base.label.iloc[0]],
        arrived_at=base.arrived_at.iloc[0] - pd.to_timedelta([4, 3, 2, 1], unit="h"),
    )  # four older rows: the newest (base) row is the one that counts
    twice = base.iloc[1:31].assign(
        label=lambda f: 1 - f.label, arrived_at=lambda f: f.arrived_at + pd.Timedelta(hours=5)
    )  # a newer, flipped label: it is the one that counts
    labels = pd.concat([base, five, twice], ignore_index=True).sample(frac=1, random_state=3)
    return scored, labels


@pytest.fixture(params=["duckdb", "postgres"])
def duplicated_url(
    request: pytest.FixtureRequest, tmp_path: Path, duplicated: tuple[pd.DataFrame, pd.DataFrame]
) -> Iterator[str]:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    write_tables(url, "fdup", *duplicated)
    yield url


def deduplicated(scored: pd.DataFrame, labels: pd.DataFrame, policy: str, arrived: bool) -> pd.DataFrame:
    """The documented policy in pandas: per (day, id) the latest scored row (then the highest
    score); per id the latest / earliest label by arrival (then the highest label)."""
    day = scored.assign(day=scored.ts.dt.date)
    rows = day.sort_values(["ts", "score"], ascending=False).drop_duplicates(["day", "id"])
    keys = (["arrived_at"] if arrived else []) + ["label"]
    ascending = ([policy == "earliest"] if arrived else []) + [False]
    kept = labels.sort_values(keys, ascending=ascending).drop_duplicates("row_id").set_index("row_id")["label"]
    y = rows["id"].map(kept)
    return rows.assign(y=y.fillna(-9).astype(int), labeled=y.notna())


@pytest.mark.parametrize(("policy", "arrived"), [("latest", True), ("earliest", True), ("latest", False)])
def test_duplicates_counted_and_each_id_counted_once(
    duplicated_url: str, duplicated: tuple[pd.DataFrame, pd.DataFrame], policy: str, arrived: bool
) -> None:
    scored, labels = duplicated
    extra: dict[str, Any] = {"duplicates": policy}
    if not arrived:
        extra["arrived_at_column"] = None
    spec = spec_for(unique("fdup"), "fdup", labels=extra)
    if policy == "latest" and arrived:  # the check through Dagster once; the other policies directly
        check: dg.AssetCheckEvaluation | None = run_labeled(duplicated_url, spec, DAYS[0])["no_duplicates"]
    else:
        check = None
        compute_performance(Warehouse(duplicated_url), spec, DAYS[:1], Audit("run-1", spec.spec_hash()))
    daily = stored_metrics(duplicated_url, spec.name, "daily", DAYS[0])

    rows = deduplicated(scored, labels, policy, arrived)
    n_dup_ids = len(scored) - scored["id"].nunique()
    per_id = labels.groupby("row_id").size()
    n_dup_labels = int((per_id[per_id.index.isin(scored["id"])] - 1).sum())
    assert (n_dup_ids, n_dup_labels) == (20, 4 + 30)
    assert daily["n_duplicate_ids"] == n_dup_ids and daily["n_duplicate_labels"] == n_dup_labels
    assert daily["n_scored"] == len(rows) == PER_DAY - 20 <= len(scored)
    assert daily["n_labeled"] == rows.labeled.sum()
    want = sklearn_binary(rows.assign(predicted_label=(rows.score >= 0.5).astype(int)), threshold=0.5)
    assert not mismatches(daily, want, policy)

    if check is None:
        return
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert f"20 repeated ids among 1,500 source rows; 34 extra label rows for {int(rows.labeled.sum()):,}" in (
        check.description or ""
    )
    assert f"label kept: {policy}" in (check.description or "")


def test_no_duplicates_passes_on_clean_rows(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    scored = scored_rows(DAYS[:1], 400, seed=22)
    write_tables(url, "fclean", scored, one_label_each(scored))
    spec = spec_for(unique("fclean"), "fclean")
    checks = run_labeled(url, spec, DAYS[0])
    assert checks["no_duplicates"].passed
    assert "0 repeated ids among 400 source rows; 0 extra label rows for 400 labeled ids" in (
        checks["no_duplicates"].description or ""
    )
    assert checks["label_validity"].passed


# ---------------------------------------------------------------------------------------------
# Retraining: refuses invalid labels and wrong-task models; promotion guards
# ---------------------------------------------------------------------------------------------

TRAIN_DAYS = [dt.date(2024, 6, 1) + dt.timedelta(days=i) for i in range(16)]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> RegistryResource:
    """One SQLite MLflow store for the module (its first open runs migrations); names are per test."""
    root = tmp_path_factory.mktemp("mlflow")
    return RegistryResource(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "artifacts"))


def client(registry: RegistryResource) -> MlflowClient:
    return MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)


def retraining_spec(prefix: str, **retraining: Any) -> MonitorSpec:
    return spec_for(
        unique(prefix),
        prefix,
        partitions={"start_date": TRAIN_DAYS[0].isoformat()},
        model={"registry_name": unique(f"{prefix}_model")},
        retraining={"training_window_days": 14, "holdout_days": 3, **retraining},
    )


def train_tables(url: str, prefix: str, *, n_invalid: int = 0, signal: float = 2.0) -> pd.DataFrame:
    scored = scored_rows(TRAIN_DAYS, 120, seed=31, signal=signal)
    if n_invalid:
        rows = np.random.default_rng(32).choice(len(scored), n_invalid, replace=False)
        scored.loc[rows[: n_invalid // 2], "y"] = 2
        scored.loc[rows[n_invalid // 2 :], "y"] = -1
    write_tables(url, prefix, scored, one_label_each(scored))
    return scored


def nothing_registered(registry: RegistryResource, name: str) -> bool:
    mlflow = client(registry)
    return not mlflow.search_registered_models(f"name = '{name}'") and not mlflow.search_model_versions(
        f"name = '{name}'"
    )


def test_retraining_refuses_invalid_labels_and_registers_nothing(tmp_path: Path, registry: RegistryResource) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    scored = train_tables(url, "fbad", n_invalid=100)
    spec = retraining_spec("fbad", promotion={"policy": "auto"})
    assert spec.model is not None
    window = scored[scored.ts.dt.date >= TRAIN_DAYS[-1] - dt.timedelta(days=13)]
    invalid = int((~window.y.isin([0, 1])).sum())
    assert invalid > 50  # most of the 100 fall in the 14-day window

    with registry.open() as reg, pytest.raises(RetrainingRefusedError) as caught:
        retrain(Warehouse(url), reg, spec, Trigger("evt-1", "manual"), "run-1")
    assert f"{invalid:,} of {len(window):,} labeled rows of 2024-06-03..2024-06-16 have a label outside {{0, 1}}" in (
        str(caught.value)
    )
    assert "nothing registered" in str(caught.value)
    assert nothing_registered(registry, spec.model.registry_name)
    (event,) = events(url, spec.name)
    assert event["event_type"] == "retraining_refused"
    assert event["model_name"] == spec.model.registry_name
    d = event["details"]
    assert (d["n_invalid_labels"], d["n_labeled"], d["event_id"]) == (invalid, len(window), "evt-1")
    assert d["invalid_share"] == pytest.approx(invalid / len(window))
    assert d["limit"] == 0.001 and d["window"] == ["2024-06-03", "2024-06-16"]


def test_training_frame_holds_only_valid_labels(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    scored = train_tables(url, "fvalid", n_invalid=100)
    spec = retraining_spec("fvalid")
    frame = Warehouse(url).rows.training_frame(spec, TRAIN_DAYS[0], TRAIN_DAYS[-1])
    assert sorted(frame[LABEL].unique()) == [0, 1]
    assert len(frame) == int(scored.y.isin([0, 1]).sum())


def test_training_frame_comes_in_timestamp_then_id_order(tmp_path: Path) -> None:
    """Stored shuffled, read back in (timestamp, id) order: the same rows always train the same model."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    scored = scored_rows(TRAIN_DAYS, 120, seed=31)
    scored.loc[scored.index[1::7], "ts"] = scored["ts"].iloc[0]  # ties on the timestamp: the id decides
    shuffled = scored.sample(frac=1.0, random_state=4)
    write_tables(url, "forder", shuffled, one_label_each(shuffled))
    frame = Warehouse(url).rows.training_frame(retraining_spec("forder"), TRAIN_DAYS[0], TRAIN_DAYS[-1])
    expected = scored[scored.ts.dt.date <= TRAIN_DAYS[-1]].sort_values(["ts", "id"])
    np.testing.assert_array_equal(frame["x"].to_numpy(), expected["x"].to_numpy())


def one_class_trainer(frame: pd.DataFrame, spec: MonitorSpec) -> Any:
    """A user trainer that returns a model of one class."""
    return DummyClassifier().fit(frame[["x", "z"]], np.zeros(len(frame), dtype=int))


def three_class_trainer(frame: pd.DataFrame, spec: MonitorSpec) -> Any:
    """A user trainer that returns a model of three classes (label 2 where x > 1)."""
    y = np.where(frame["x"] > 1, 2, frame[LABEL])
    return LogisticRegression(max_iter=500).fit(frame[["x", "z"]], y)


class BelowChance(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A binary model whose P(1) is sigmoid(-0.3 x + 3 z): mostly noise, slightly inverted, so its
    ROC AUC on labels that follow x is a little under 0.5."""

    def fit(self, x: pd.DataFrame, y: Any) -> BelowChance:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-(-0.3 * x["x"].to_numpy(dtype=float) + 3 * x["z"].to_numpy(dtype=float))))
        return np.c_[1 - p, p]

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


def below_chance_trainer(frame: pd.DataFrame, spec: MonitorSpec) -> Any:
    return BelowChance().fit(frame, frame[LABEL])


@pytest.mark.parametrize(("trainer", "classes"), [("one_class_trainer", 1), ("three_class_trainer", 3)])
def test_challenger_of_the_wrong_task_is_refused(
    tmp_path: Path, registry: RegistryResource, trainer: str, classes: int
) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    train_tables(url, "ftask")
    spec = retraining_spec("ftask", trainer=f"tests.test_faults_labels:{trainer}", promotion={"policy": "auto"})
    assert spec.model is not None
    with registry.open() as reg, pytest.raises(RetrainingRefusedError) as caught:
        retrain(Warehouse(url), reg, spec, Trigger("evt-1", "manual"), "run-1")
    assert (
        f"the trained model has {classes} classes; a binary_classification model needs exactly 2 (0 and 1) "
        f"(trainer: tests.test_faults_labels:{trainer})"
    ) in str(caught.value)
    assert nothing_registered(registry, spec.model.registry_name)
    assert [e["event_type"] for e in events(url, spec.name)] == ["retraining_refused"]


def test_auto_promotion_refuses_a_challenger_below_chance_without_champion(
    tmp_path: Path, registry: RegistryResource
) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    scored = train_tables(url, "fchance")
    spec = retraining_spec(
        "fchance", trainer="tests.test_faults_labels:below_chance_trainer", promotion={"policy": "auto"}
    )
    assert spec.model is not None
    with registry.open() as reg:
        result = retrain(Warehouse(url), reg, spec, Trigger("evt-1", "manual"), "run-1")

    holdout = scored[scored.ts.dt.date >= TRAIN_DAYS[-3]]
    auc = skm.roc_auc_score(holdout.y, BelowChance().predict_proba(holdout)[:, 1])
    assert 0.4 < auc < 0.5  # the case: below chance, not absurdly so
    assert result.challenger["roc_auc"] == pytest.approx(auc, abs=0.002)
    assert not result.promoted and result.champion is None
    assert result.decision == (
        f"no champion yet; challenger roc_auc {result.challenger['roc_auc']:.4f}; not promoted: challenger roc_auc "
        f"{result.challenger['roc_auc']:.4f} is at or below chance (0.5)"
    )
    assert client(registry).get_registered_model(spec.model.registry_name).aliases == {CHALLENGER: 1}
    types = [e["event_type"] for e in events(url, spec.name)]
    assert types == ["retraining"]  # no promotion event


def test_auto_promotion_respects_the_min_metric_floor(tmp_path: Path, registry: RegistryResource) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    train_tables(url, "ffloor")
    spec = retraining_spec("ffloor", promotion={"policy": "auto", "min_metric": 0.99})
    assert spec.model is not None
    with registry.open() as reg:
        result = retrain(Warehouse(url), reg, spec, Trigger("evt-1", "manual"), "run-1")
    auc = result.challenger["roc_auc"]
    assert 0.6 < auc < 0.99
    assert not result.promoted
    floor = f"not promoted: challenger roc_auc {auc:.4f} is worse than promotion.min_metric 0.99"
    assert result.decision.endswith(floor)
    assert client(registry).get_registered_model(spec.model.registry_name).aliases == {CHALLENGER: 1}

    # The same challenger with no floor and no champion is promoted: the guard was the reason.
    spec = retraining_spec("ffloor", promotion={"policy": "auto"})
    assert spec.model is not None
    with registry.open() as reg:
        result = retrain(Warehouse(url), reg, spec, Trigger("evt-2", "manual"), "run-2")
    assert result.promoted and "auto-promoted" in result.decision


def test_refused_run_is_tagged_and_its_event_not_retried(tmp_path: Path, registry: RegistryResource) -> None:
    """Through Dagster: the sensor fires, the run refuses (invalid labels), and the next tick closes
    the event instead of retrying it."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    train_tables(url, "fsensor", n_invalid=100)
    spec = retraining_spec("fsensor")
    defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url), registry=registry)
    sensor = defs.resolve_sensor_def(f"{spec.name}_retraining_sensor")
    with dg.instance_for_test() as instance:
        for day in TRAIN_DAYS[10:13]:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    [spec.name, "feature_drift"], partition=day.isoformat(), metadata={"dataset_drift": True}
                )
            )
        fired = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        (request,) = fired.run_requests
        run = defs.resolve_job_def(f"{spec.name}_retraining").execute_in_process(
            instance=instance, tags=request.tags, raise_on_error=False
        )
        assert not run.success
        (failure,) = run.get_step_failure_events()
        error = failure.step_failure_data.error
        assert error is not None and error.cause is not None
        assert error.cause.cls_name == "RetrainingRefusedError"
        assert instance.get_run_by_id(run.run_id).tags[REFUSED_TAG] == "true"  # type: ignore[union-attr]
        after = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=fired.cursor, definitions=defs))
        assert not after.run_requests
        assert f"refused by run {run.run_id}" in (after.skip_message or "")
    assert [e["event_type"] for e in events(url, spec.name)] == ["trigger", "retraining_refused"]


def regression_spec(**promotion: Any) -> MonitorSpec:
    return parse_spec(
        {
            "name": "freg",
            "source": {"table": "r", "timestamp_column": "ts", "id_column": "id"},
            "features": {"numeric": ["x"]},
            "prediction": {"task": "regression", "score_column": "pred"},
            "labels": {"label_column": "y"},
            "reference": {"table": "r"},
            "partitions": {"start_date": "2024-06-01"},
            "model": {"registry_name": "freg"},
            "retraining": {"promotion": {"policy": "auto", **promotion}},
        }
    )


def test_regression_chance_is_the_mae_of_the_training_mean() -> None:
    """Chance for regression: the held-out MAE of predicting the training rows' mean (a closed form
    on a tiny input: mean 2, holdout targets 0 and 6 -> MAE (2 + 4) / 2 = 3)."""
    spec = regression_spec()
    chance = chance_level(spec, [1.0, 2.0, 3.0], [0.0, 6.0])
    assert chance == 3.0
    assert _decide(spec, {"mae": 3.0}, None, chance) == (
        False,
        "no champion yet; challenger mae 3.0000; not promoted: challenger mae 3.0000 is at or below chance "
        "(3.0000, predicting the training mean)",
    )
    assert _decide(spec, {"mae": 2.5}, None, chance)[0] is True
    floored = regression_spec(min_metric=2.0)
    assert _decide(floored, {"mae": 2.5}, None, chance) == (
        False,
        "no champion yet; challenger mae 2.5000; not promoted: challenger mae 2.5000 is worse than "
        "promotion.min_metric 2.0",
    )


def test_task_problem_for_regression_and_binary() -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "z": [0.0, 0.0, 1.0, 1.0]})
    regressor = LinearRegression().fit(frame, [0.0, 1.0, 2.0, 3.0])
    classifier = LogisticRegression().fit(frame, [0, 0, 1, 1])
    assert task_problem(regressor, regression_spec()) is None
    assert task_problem(classifier, regression_spec()) == (
        "the trained model is a classifier (it has classes_), not a regressor"
    )
    binary = spec_for("fb", "fb")
    assert task_problem(classifier, binary) is None
    assert task_problem(regressor, binary) == (
        "the trained model has no classes_ or predict_proba: a binary classifier needs both"
    )
    yes_no = LogisticRegression().fit(frame, ["no", "no", "yes", "yes"])
    assert task_problem(yes_no, binary) == "the trained model's two classes are not 0 and 1"


@pytest.mark.parametrize("url_kind", ["duckdb", "postgres"])
def test_fractional_and_nan_labels_are_invalid_not_rounded(
    request: pytest.FixtureRequest, tmp_path: Path, url_kind: str
) -> None:
    """A DOUBLE label of 0.7 or NaN is invalid: compared with 0 and 1, never cast (a cast to
    INTEGER would round 0.7 into a valid 1)."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if url_kind == "duckdb" else request.getfixturevalue("pg_url")
    scored = scored_rows(DAYS[:1], 300, seed=15)
    labels = one_label_each(scored).assign(label=lambda f: f.label.astype(np.float64))
    labels.loc[:9, "label"] = 0.7
    labels.loc[10:14, "label"] = np.nan  # stored as NaN, not NULL: a label that arrived, and is invalid
    write_tables(url, "ffrac", scored, labels)
    got = performance_metrics(
        Warehouse(url).metrics.performance_aggregates(spec_for(unique("ffrac"), "ffrac"), DAYS[:1])[DAYS[0]]
    )
    assert (got["n_labeled"], got["n_invalid_labels"], got["n_invalid"]) == (300, 15, 15)
    valid = scored.iloc[15:]
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(valid.y, valid.score), abs=0.002)
