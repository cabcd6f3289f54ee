"""A small monitored instance served by ``dagster-webserver`` and a headless Chromium to look at it.

The instance: a DuckDB warehouse of ``conftest.SMALL_SPEC``'s table with a few days, where the
features ``x`` and ``c`` shift from ``DRIFT_FROM`` on; a persistent Dagster instance (SQLite under a
temporary ``DAGSTER_HOME``) that ran the reference and one daily run over every day; and the
project's own code location (``monitoring_assets.definitions``) served from the same environment.

Chromium is Debian's package (``chromium`` on PATH, or ``$MONITORING_TEST_CHROMIUM``), driven by
Playwright for Python; Playwright's own browser download is never used.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from monitoring_assets import build_definitions
from monitoring_assets.resources import RegistryResource, WarehouseResource
from monitoring_assets.spec import parse_spec
from tests.conftest import REPO, SMALL_SPEC, write_table

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

ARTIFACTS = REPO / "test-artifacts" / "browser"
FIRST_DAY = dt.date(2024, 1, 4)  # the reference is 2024-01-01..03 (SMALL_SPEC)
DAYS = 4
DRIFT_FROM = dt.date(2024, 1, 6)  # x and c shift on this day and the next; 01-04 and 01-05 are clean
PER_DAY = 1000  # enough that sampling noise stays under the drift thresholds on clean days
CHROMIUM_ENV = "MONITORING_TEST_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing(reason: str) -> None:
    """Skip with the reason; under CI=true the browser test is required, so fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser test is required under CI=true: {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    """``$MONITORING_TEST_CHROMIUM``, else ``chromium`` on PATH (Debian's package)."""
    given = os.environ.get(CHROMIUM_ENV)
    path = shutil.which(given or "chromium")
    if path is None:
        missing(
            f"Chromium not found ({CHROMIUM_ENV}={given!r} is not an executable)"
            if given
            else f"Chromium not found: install Debian's chromium package (.ci/run does) or set {CHROMIUM_ENV}"
        )
    assert path is not None
    return path


def spec_document() -> dict[str, object]:
    doc = copy.deepcopy(SMALL_SPEC)
    end = FIRST_DAY + dt.timedelta(days=DAYS)  # exclusive, as Dagster's end_date
    doc["partitions"] = {"start_date": FIRST_DAY.isoformat(), "end_date": end.isoformat()}
    return doc


def frame(seed: int = 7) -> pd.DataFrame:
    """Rows for the reference days and the monitored days; from ``DRIFT_FROM`` ``x`` moves by 3
    standard deviations and category ``a`` takes most rows (``y`` and the score stay put)."""
    rng = np.random.default_rng(seed)
    days = (FIRST_DAY - dt.date(2024, 1, 1)).days + DAYS
    n = days * PER_DAY
    day = np.repeat(np.arange(days), PER_DAY)
    drifted = day >= (DRIFT_FROM - dt.date(2024, 1, 1)).days
    categories = np.array(["a", "b", "c", "d"])
    c = np.where(
        drifted,
        rng.choice(categories, n, p=[0.85, 0.05, 0.05, 0.05]),
        rng.choice(categories, n, p=[0.4, 0.3, 0.2, 0.1]),
    )
    return pd.DataFrame(
        {
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(day * 86_400 + rng.integers(0, 86_400, n), unit="s"),
            "x": rng.normal(10, 2, n) + np.where(drifted, 6.0, 0.0),
            "y": rng.normal(0, 1, n),
            "score": rng.uniform(0, 1, n),
            "c": c.astype(object),
            "mv": rng.choice(["1", "2"], n).astype(object),
        }
    )


@dataclass(frozen=True)
class Monitored:
    name: str
    env: dict[str, str]  # the code location's environment (warehouse, specs, MLflow, DAGSTER_HOME)
    home: Path


def build_instance(root: Path) -> Monitored:
    """Write the warehouse and spec under ``root``, run the reference and one daily run over all days."""
    doc = spec_document()
    specs_dir = root / "monitors"
    specs_dir.mkdir()
    (specs_dir / f"{doc['name']}.yaml").write_text(yaml.safe_dump(doc))
    url = f"duckdb:///{root / 'wh.duckdb'}"
    write_table(url, "t", frame())
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.duckdb.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "MONITORING_WAREHOUSE_URL": url,
        "MONITORING_SPECS_DIR": str(specs_dir),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    spec = parse_spec(doc)
    defs = build_definitions(
        specs=[spec],
        warehouse=WarehouseResource(url=url),
        registry=RegistryResource(tracking_uri=env["MLFLOW_TRACKING_URI"], artifact_root=str(root / "mlartifacts")),
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    last = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        reference = defs.resolve_job_def(f"{spec.name}_reference")
        assert reference.execute_in_process(instance=instance, run_config=quiet).success
        daily = defs.resolve_job_def(f"{spec.name}_daily_monitoring")
        span = {
            "dagster/asset_partition_range_start": FIRST_DAY.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        assert daily.execute_in_process(instance=instance, run_config=quiet, tags=span).success
    return Monitored(spec.name, env, home)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def webserver(monitored: Monitored, log: Path, timeout: float = 90.0) -> Iterator[str]:
    """``dagster-webserver`` on the project's code location in its own process group; yields its
    base URL once ``/server_info`` answers and the code location has loaded."""
    port = _free_port()
    env = {**os.environ, **monitored.env, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-m",
        "monitoring_assets.definitions",
        "-d",
        str(REPO),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "--read-only",
    ]
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_loaded(base, process, log, timeout)
            yield base
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


_LOCATIONS = '{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"}'


def _wait_until_loaded(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dagster-webserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                pass
            request = urllib.request.Request(
                f"{base}/graphql", data=_LOCATIONS.encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"dagster-webserver did not load within {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def browser(executable: str) -> Iterator[BrowserContext]:
    """A headless Chromium context (Debian's ``executable``) with Dagster's first-visit "Join the
    Dagster community" dialog already dismissed (the key its Skip button sets)."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 (optional: the test skips without it)
    except ImportError as e:
        missing(f"Playwright for Python is not installed ({e}); pip install -e '.[dev]'")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 1100})
            context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
            context.set_default_timeout(20_000)
            yield context
        finally:
            chromium.close()
