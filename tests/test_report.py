"""Issue 11, part 3: the monitoring report, written from metric tables that the real pipeline
filled (Dagster, DuckDB, a generated Great Expectations suite).

The expected verdicts come from the raw rows generated here, never from our own output:
Wasserstein-1 / reference std with scipy on ``x``, Jensen-Shannon with scipy on ``c``'s counts,
the dataset verdict as the share of those two (of three features) against ``drift_share``, and
ROC AUC with scikit-learn on each day's scores and labels.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy import stats
from scipy.spatial import distance
from sklearn.metrics import roc_auc_score

from expectations import SUITES_DIR_ENV, generate_suite, load_suite
from expectations.generate import suite_json
from monitoring_assets import _pipeline, build_definitions
from monitoring_assets.report import BLOCKED, main, write_report
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec, parse_spec
from resources._env import WAREHOUSE_URL_ENV
from resources._store import Audit
from resources.warehouse import Warehouse
from tests.conftest import REPO, write_table

# One worker for the file: its module fixture materializes a monitor through Dagster, once.
pytestmark = pytest.mark.xdist_group("report")

NAME, TABLE = "rpt", "rpt_log"
FIRST = dt.date(2024, 1, 1)  # the reference window is 01-01..01-03
MONITORED = [dt.date(2024, 1, d) for d in range(4, 12)]  # materialized in one run
START, END = dt.date(2024, 1, 4), dt.date(2024, 1, 12)  # the report's range: 01-12 never materialized
EMPTY = dt.date(2024, 1, 6)  # no rows at all
NULLS_WARN = dt.date(2024, 1, 5)  # 8 % of y NULL: above the suite's warning ceiling (5 %), under the guard's 10 %
DRIFT_FROM = dt.date(2024, 1, 8)  # x shifted by 1.5 std, c's shares reversed, from this day on
BLOCKED_DAY = dt.date(2024, 1, 11)  # also 70 % of y NULL: a critical expectation fails, drift blocked
NEVER = dt.date(2024, 1, 12)
PER_DAY = 400
HIDDEN = "zzhidden"  # a slice group of 5 rows a day: under min_slice_size, so never named
CATS = ["a", "b", "c", "d"]
THRESHOLDS = {"wasserstein": 0.25, "jensenshannon": 0.1}  # 400-row days: sampling alone stays far below


def spec_data() -> dict[str, Any]:
    return {
        "name": NAME,
        "source": {"table": TABLE, "timestamp_column": "ts", "id_column": "id", "model_version_column": "mv"},
        "features": {"numeric": ["x", "y"], "categorical": ["c"]},
        "prediction": {"task": "binary_classification", "score_column": "score"},
        "labels": {"label_column": "label"},
        "slices": ["grp"],
        "reference": {"window": {"start": "2024-01-01", "end": "2024-01-03"}},
        "partitions": {"start_date": "2024-01-04", "end_date": "2024-01-13"},
        "drift": {"n_bins": 100, "top_k": 3, "thresholds": THRESHOLDS},
    }


def the_spec() -> MonitorSpec:
    return parse_spec(spec_data())


def make_frame(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(11):
        day = FIRST + dt.timedelta(days=i)
        if day == EMPTY:
            continue
        drifted = day >= DRIFT_FROM
        n = PER_DAY
        y = rng.exponential(3.0, n).astype(object)
        share = {NULLS_WARN: 0.08, BLOCKED_DAY: 0.7}.get(day, 0.0)
        y[rng.permutation(n)[: int(share * n)]] = None
        score = rng.uniform(0, 1, n)
        grp = np.array(["g1", "g2"] * ((n - 5) // 2) + ["g1"] * ((n - 5) % 2) + [HIDDEN] * 5, dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp(day) + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s"),
                    "x": rng.normal(13.0 if drifted else 10.0, 2.0, n),
                    "y": y,
                    "score": score,
                    "c": rng.choice(CATS, n, p=[0.1, 0.2, 0.3, 0.4] if drifted else [0.4, 0.3, 0.2, 0.1]),
                    "grp": rng.permutation(grp),
                    "label": (rng.uniform(0, 1, n) < score).astype(np.int64),
                    "mv": "1",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "id", np.arange(len(frame)))
    frame.attrs["numeric"] = ("y",)
    return frame


def on(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    return frame[frame.ts.dt.date == day]


def expected_drift(frame: pd.DataFrame) -> dict[dt.date, dict[str, float]]:
    """Per evaluated day (rows and not blocked): x's W1 / reference std and c's Jensen-Shannon
    distance (base 2) on the raw rows."""
    ref = frame[frame.ts.dt.date < START]
    p = ref.c.value_counts().reindex(CATS, fill_value=0).to_numpy()
    out = {}
    for day in MONITORED:
        rows = on(frame, day)
        if rows.empty or day == BLOCKED_DAY:
            continue
        q = rows.c.value_counts().reindex(CATS, fill_value=0).to_numpy()
        out[day] = {
            "x": stats.wasserstein_distance(ref.x, rows.x) / np.std(ref.x),
            "c": float(distance.jensenshannon(p, q, base=2)),
        }
    return out


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (header rows included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_with(page: str, *headers: str) -> list[dict[str, str]]:
    """The table whose header row starts with ``headers``, as dicts by header."""
    parser = Tables()
    parser.feed(page)
    for table in parser.tables:
        if table and tuple(table[0][: len(headers)]) == headers:
            return [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    raise AssertionError(f"no table with headers {headers}")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[tuple[str, Path]]:
    """The warehouse after the real pipeline: the reference, a generated suite, and one Dagster run
    over MONITORED; two retraining events appended as the retraining job records them."""
    root = tmp_path_factory.mktemp("report")
    url = f"duckdb:///{root / 'wh.duckdb'}"
    write_table(url, TABLE, frame)
    spec = the_spec()
    suites = root / "suites"
    suites.mkdir()
    wh = Warehouse(url)
    try:
        ref = _pipeline.build_reference(wh, spec, Audit("suite", spec.spec_hash()))
        data = generate_suite(spec, ref, wh.rows.source_columns(spec), exact_types=False)
    finally:
        wh.dispose()
    (suites / f"{NAME}.json").write_text(suite_json(data))
    load_suite(suites / f"{NAME}.json", spec)
    with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
        mp.setenv(SUITES_DIR_ENV, str(suites))
        defs = build_definitions(specs=[spec], warehouse=WarehouseResource(url=url))
        assert defs.resolve_job_def(f"{NAME}_reference").execute_in_process(instance=instance).success
        tags = {
            "dagster/asset_partition_range_start": MONITORED[0].isoformat(),
            "dagster/asset_partition_range_end": MONITORED[-1].isoformat(),
        }
        job = defs.resolve_job_def(f"{NAME}_daily_monitoring")
        assert job.execute_in_process(instance=instance, tags=tags).success
    wh = Warehouse(url)
    try:
        details = {"event_id": "e1", "reason": "dataset_drift: 3 of 5 days"}
        wh.events.append(spec, "trigger", details, partition_date=dt.date(2024, 1, 10), run_id="r1")
        wh.events.append(spec, "trigger", {"event_id": "e0", "reason": "old"}, partition_date=dt.date(2023, 12, 1))
    finally:
        wh.dispose()
    yield url, root


@pytest.fixture(scope="module")
def page(warehouse: tuple[str, Path]) -> str:
    url, root = warehouse
    wh = Warehouse(url)
    try:
        path = write_report(wh, the_spec(), START, END, root / "out")
    finally:
        wh.dispose()
    assert path == root / "out" / f"{NAME}_{START}_{END}.html"
    assert path.is_file()
    return path.read_text(encoding="utf-8")


def test_the_data_is_what_the_test_says(frame: pd.DataFrame) -> None:
    drift = expected_drift(frame)
    for day, values in drift.items():
        shifted = day >= DRIFT_FROM
        assert (values["x"] > THRESHOLDS["wasserstein"]) == shifted, (day, values)
        assert (values["c"] > THRESHOLDS["jensenshannon"]) == shifted, (day, values)
    assert on(frame, EMPTY).empty and on(frame, NEVER).empty


def test_the_file_is_self_contained(page: str) -> None:
    lowered = page.lower()
    for needle in ("http", "<script", 'src="http', "<link", "@import", "url("):
        assert needle not in lowered, needle
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page


def test_one_verdict_per_day_matching_the_drift_scipy_finds(page: str, frame: pd.DataFrame) -> None:
    rows = table_with(page, "day", "rows", "data quality", "dataset drift")
    assert [r["day"] for r in rows] == [str(START + dt.timedelta(days=i)) for i in range((END - START).days + 1)]
    by_day = {dt.date.fromisoformat(r["day"]): r for r in rows}
    drift = expected_drift(frame)
    assert set(drift) == set(MONITORED) - {EMPTY, BLOCKED_DAY}
    for day, values in drift.items():
        row = by_day[day]
        drifted = [f for f, v in values.items() if v > THRESHOLDS["wasserstein" if f == "x" else "jensenshannon"]]
        share = len(drifted) / 3
        verdict = "DRIFT" if share >= the_spec().drift.drift_share else "ok"
        assert row["dataset drift"] == f"{verdict} {share:.3g}", day
        assert row["drifted features"] == (", ".join(sorted(drifted, key=["x", "y", "c"].index)) or "none"), day
        assert row["rows"] == f"{len(on(frame, day)):,}"
    # The per-feature table shows each day's value, rounded to 3 significant digits.
    values = table_with(page, "day", "x (wasserstein > 0.25)")
    for r in values:
        day = dt.date.fromisoformat(r["day"])
        if day in drift:
            assert float(r["x (wasserstein > 0.25)"]) == pytest.approx(drift[day]["x"], rel=6e-3, abs=2e-3)
            assert float(r["c (jensenshannon > 0.1)"]) == pytest.approx(drift[day]["c"], rel=6e-3)
    summary = table_with(page, "column", "method", "threshold", "days drifted")
    x = next(r for r in summary if r["column"] == "x")
    n_drifted = sum(v["x"] > THRESHOLDS["wasserstein"] for v in drift.values())
    assert x["days drifted"] == f"{n_drifted} of {len(drift)}"


def test_days_without_a_verdict_say_not_evaluated(page: str) -> None:
    by_day = {r["day"]: r for r in table_with(page, "day", "rows", "data quality", "dataset drift")}
    blocked = by_day[str(BLOCKED_DAY)]
    assert blocked["data quality"] == "ERROR (critical)"
    assert blocked["dataset drift"] == BLOCKED and blocked["drifted features"] == "-"
    empty = by_day[str(EMPTY)]
    assert empty["rows"] == "0" and empty["dataset drift"].startswith("not evaluated")
    never = by_day[str(NEVER)]
    assert never["rows"] == "no data"
    assert never["dataset drift"] == "not evaluated: no data"
    assert never["data quality"] == never["performance"] == never["fairness"] == "not evaluated"
    assert by_day[str(NULLS_WARN)]["data quality"] == "WARN"
    assert by_day[str(START)]["data quality"] == "ok"
    cells = {r["day"]: r for r in table_with(page, "day", "x (wasserstein > 0.25)")}
    assert cells[str(BLOCKED_DAY)]["x (wasserstein > 0.25)"] == "blocked"
    assert cells[str(NEVER)]["x (wasserstein > 0.25)"] == "no data"


def test_performance_matches_sklearn_on_the_raw_rows(page: str, frame: pd.DataFrame) -> None:
    by_day = {r["day"]: r for r in table_with(page, "day", "rows", "data quality", "dataset drift")}
    for day in MONITORED:
        rows = on(frame, day)
        if rows.empty:
            assert by_day[str(day)]["roc_auc"] == "n/a"
            continue
        if day == BLOCKED_DAY:
            continue  # whether data quality also blocks performance is the factory's choice
        want = roc_auc_score(rows.label, rows.score)
        assert float(by_day[str(day)]["roc_auc"]) == pytest.approx(want, abs=1.5e-3), day
        assert by_day[str(day)]["label coverage"] == "100 %"


def test_pictures_decode_from_data_uris(page: str) -> None:
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == len(re.findall(r"<img ", page)) >= 5  # heat-map, share, score, distributions, ...
    for uri in uris:
        image = Image.open(io.BytesIO(base64.b64decode(uri, validate=True)))
        image.load()
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert "picture not drawn" not in page
    assert "estimated without labels" in page  # the estimate beside the realized metric


def test_suppressed_groups_are_counted_never_named(page: str) -> None:
    assert HIDDEN not in page
    groups = table_with(page, "slice", "group", "n")
    assert {r["group"] for r in groups} == {"g1", "g2", "1 suppressed group(s)"}


def test_events_of_the_range_only(page: str) -> None:
    events = table_with(page, "recorded (UTC)", "event", "day")
    assert [(e["event"], e["day"], e["reason"]) for e in events] == [
        ("trigger", "2024-01-10", "dataset_drift: 3 of 5 days")
    ]


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(warehouse: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url, _ = warehouse
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / f"{NAME}.yaml").write_text(yaml.safe_dump(spec_data()))
    monkeypatch.setenv("MONITORING_SPECS_DIR", str(specs))
    monkeypatch.setenv(WAREHOUSE_URL_ENV, url)
    monkeypatch.setenv("MONITORING_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path


def test_cli_writes_the_report_to_the_reports_dir(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--monitor", NAME, "--start", "2024-01-07", "--end", "2024-01-09"]) == 0
    path = cli_env / "reports" / f"{NAME}_2024-01-07_2024-01-09.html"
    assert capsys.readouterr().out.strip() == str(path)
    days = [r["day"] for r in table_with(path.read_text(), "day", "rows", "data quality")]
    assert days == ["2024-01-07", "2024-01-08", "2024-01-09"]


def test_cli_as_a_module(cli_env: Path) -> None:
    out = cli_env / "elsewhere"
    result = subprocess.run(
        [sys.executable, "-m", "monitoring_assets.report", "--monitor", NAME, "--start", "2024-01-04",
         "--end", "2024-01-04", "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / f"{NAME}_2024-01-04_2024-01-04.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--monitor", "nope", "--start", "2024-01-04", "--end", "2024-01-05"],
            "unknown monitor 'nope' (monitors: rpt",
        ),
        (
            ["--monitor", NAME, "--start", "2024-01-09", "--end", "2024-01-05"],
            "start 2024-01-09 is after end 2024-01-05",
        ),
    ],
)
def test_cli_bad_input_is_one_clear_line_and_exit_2(
    cli_env: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (cli_env / "reports").exists()


def test_cli_rejects_a_date_that_is_not_one(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--monitor", NAME, "--start", "2024-13-01", "--end", "2024-01-05"])
    assert exit_info.value.code == 2
    assert "'2024-13-01' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
