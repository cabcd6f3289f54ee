"""Benchmark: one day's drift, end to end, against Evidently and NannyML on the same data.

Run as ``make bench-peers`` (``.venv/bin/python benchmarks/bench_vs_peers.py``).
``BENCH_PEERS_ROWS`` (default 1,000,000) sets the rows of the reference and of the day;
``BENCH_PEERS_REPS`` (default 2) how many times each of the three is timed (interleaved, the
minimum is reported, every run is in the JSON). ``BENCH_PEERS_KEEP=1`` keeps the run's directory
(data and logs of every process) instead of removing it.

What it does:

1. Evidently and NannyML go into their own virtual environments under ``$BENCH_PEERS_DIR``
   (default ``$TMPDIR/monitoring-bench-peers/``: ``evidently-venv``, ``nannyml-venv``), made with
   ``python -m venv`` and ``pip install`` of the pinned versions in ``PEERS``; a venv whose
   recorded requirements match is reused. Nothing is installed into the project's environment.

2. One dataset, drawn with numpy from a fixed seed: a reference of ``BENCH_PEERS_ROWS`` rows over
   28 days of January 2024 and a day (2024-02-01) of as many rows; 20 numeric features
   ``f00..f19`` (normal, log-normal, uniform, exponential; ~1 % NULLs in ``f03``), 5 categorical
   ``c0..c4`` (``c4`` ~200 values; ~2 % NULLs in ``c3``), and a ``score``. On the day ``f00``
   (mean +0.5 sd), ``f05`` (wider spread), ``f10`` (range shifted by 10 %) and ``c1`` (category
   mix) drift. It is written once into a DuckDB warehouse (tables ``reference_data``,
   ``inference_log``) and copied from there to Parquet (``reference.parquet``, ``current.parquet``)
   for the peers. Data generation is not timed.

3. Timed, as wall clock of the processes a user would start (start-up and imports included):

   * ``ours_s``: this project through the Dagster CLI, in a fresh copy of the warehouse and a
     new ``DAGSTER_HOME`` (``deploy/dagster.duckdb.yaml``) each time whose instance exists before
     the clock starts, as a user's does (``make demo`` or ``dagster dev`` made it): one untimed
     ``dagster instance info`` creates its SQLite storage (``ours_instance_create_s``, about 1.7 s
     that only the first command on a new ``DAGSTER_HOME`` pays; each run still writes its own
     event log file, timed). A monitor spec for the
     table (no labels, slices or data-quality suite), then one ``dagster asset materialize -m
     monitoring_assets.definitions --select <m>/reference_profile,<m>/daily_profile,<m>/feature_drift
     --partition 2024-02-01``, which runs the reference profile first (the day's assets depend on
     it). ``ours_separate_s`` is the same as two CLI processes, ``--select <m>/reference_profile``
     then ``--select <m>/daily_profile,<m>/feature_drift --partition 2024-02-01``, each paying
     Dagster's start-up (about 3 s here); its ratio to NannyML is ``nannyml_over_ours_separate``.
     The daily profile also profiles the score, which the peers are not given.
   * ``evidently_s``: a Python process in Evidently's venv that reads both Parquet files into
     pandas (the 25 features) and runs ``Report([DataDriftPreset()])`` on current vs reference
     (column types given explicitly; default drift methods: for these sizes normed Wasserstein
     for numeric and Jensen-Shannon for categorical columns, threshold 0.1).
   * ``nannyml_s``: a Python process in NannyML's venv that reads the same files and runs
     ``UnivariateDriftCalculator`` with its default methods (Jensen-Shannon for both kinds) and
     default chunking: ``fit`` on the reference, ``calculate`` on the day.

   Each peer process also reports its own phases (imports, reading, drift). For ours,
   ``ours_steps_s`` is the time Dagster reports for the steps of the run (its "Finished steps in
   process" event; ``ours_separate_steps_s`` for both runs of the two-process form), so ``ours_s -
   ours_steps_s`` is start-up and shut-down; and a process that
   only imports ``monitoring_assets.definitions`` (what each of our CLI processes loads before it
   runs anything) is timed once per repetition as ``ours_definitions_load_s``.

4. Each tool's drifted columns are compared with the planted ones; a tool that misses one is
   named in a WARNING line and in ``missed`` of the JSON. NannyML's default chunking splits the
   day into 10 chunks; a column counts as drifted when any chunk raises an alert.

Progress goes to stderr. Stdout has a small table and, last, one JSON line with ``rows``,
``ours_s``, ``evidently_s``, ``nannyml_s``, ``evidently_over_ours``, ``nannyml_over_ours`` and
extras. Targets at 1M rows: ``evidently_over_ours`` >= 20 and ``nannyml_over_ours`` >= 5.

The module imports only the standard library at the top: its ``--evidently`` and ``--nannyml``
modes run under the peers' interpreters, which do not have this project installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROWS = 1_000_000
DEFAULT_REPS = 2
SEED = 20240201
WORK_DIR = Path(os.environ.get("BENCH_PEERS_DIR") or Path(tempfile.gettempdir()) / "monitoring-bench-peers")

# Pinned so that the figures name what was measured. Evidently 0.7.23 and NannyML 0.13.1 are the
# newest releases on PyPI here. Neither caps pandas, but both were released against pandas 2.x
# (pandas 3 changes the default string dtype and copy semantics under them), so both get the last
# 2.x release. NannyML 0.13.1 imports statsmodels (nannyml/plots/components/joy_plot.py) without
# declaring it, so it is named here, at the version Evidently's resolution picks. pip resolves
# the rest of their dependencies.
PEERS: dict[str, list[str]] = {
    "evidently": ["evidently==0.7.23", "pandas==2.3.3"],
    "nannyml": ["nannyml==0.13.1", "pandas==2.3.3", "statsmodels==0.15.0"],
}
# Both peers can phone home (Evidently through iterative-telemetry, NannyML through Segment); a
# call that waits on a network that is not there would be timed as theirs.
PEER_ENV = {"DO_NOT_TRACK": "1", "NML_DISABLE_USAGE_LOGGING": "1"}

MONITOR = "peers_bench"
SOURCE_TABLE = "inference_log"
REFERENCE_TABLE = "reference_data"
TIMESTAMP = "scored_at"
DAY = "2024-02-01"
REFERENCE_START = "2024-01-01"
REFERENCE_DAYS = 28
NUMERIC = [f"f{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{j}" for j in range(5)]
FEATURES = NUMERIC + CATEGORICAL
SCORE = "score"
DRIFTING = ["c1", "f00", "f05", "f10"]  # see generate()


def log(message: str) -> None:
    print(f"[bench-peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- peers' environments -----------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(name: str, requirements: list[str]) -> Path:
    """The peer's venv under ``WORK_DIR``, made (or remade) unless it records these requirements."""
    venv = WORK_DIR / f"{name}-venv"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(requirements)
    if marker.is_file() and marker.read_text() == wanted and venv_python(venv).exists():
        log(f"{name}: reusing {venv}")
        return venv_python(venv)
    if venv.exists():
        shutil.rmtree(venv)
    log(f"{name}: creating {venv} and installing {' '.join(requirements)} (a few minutes)")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        check=True,
    )
    marker.write_text(wanted)
    log(f"{name}: installed in {time.perf_counter() - t0:.0f} s")
    return venv_python(venv)


# -- data --------------------------------------------------------------------------------------


def generate(data_dir: Path, n_rows: int) -> dict[str, Path]:
    """Write ``reference.parquet``, ``current.parquet`` and ``warehouse.duckdb`` under ``data_dir``."""
    import duckdb  # noqa: PLC0415  (the peers' modes run without the project's packages)
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    rng = np.random.default_rng(SEED)

    def frame(start: str, n_days: int, drift: bool) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        step_us = n_days * 86_400_000_000 // n_rows
        columns[TIMESTAMP] = np.datetime64(start, "us") + (np.arange(n_rows) * step_us).astype("timedelta64[us]")
        for i, name in enumerate(NUMERIC):
            family = i % 4
            if family == 0:  # normal, mean i, sd 1 + i/10; f00 drifts by +0.5 sd
                sd = 1 + i / 10
                values = rng.normal(i + (0.5 * sd if drift and i == 0 else 0.0), sd, n_rows)
            elif family == 1:  # log-normal; f05 drifts to a wider spread
                values = rng.lognormal(1.0, 0.75 if drift and i == 5 else 0.5, n_rows)
            elif family == 2:  # uniform [0, 100); f10 drifts to [10, 110)
                low = 10.0 if drift and i == 10 else 0.0
                values = rng.uniform(low, low + 100.0, n_rows)
            else:  # exponential with mean i + 1
                values = rng.exponential(i + 1, n_rows)
            if i == 3:  # DuckDB reads a pandas NaN as NULL
                values[rng.random(n_rows) < 0.01] = np.nan
            columns[name] = values
        for j, name in enumerate(CATEGORICAL):
            u = rng.random(n_rows)
            if j == 4:  # ~200 values with a long tail
                labels = np.array([f"k{k:03d}" for k in range(200)], dtype=object)
                codes = np.floor(200 * u**3).astype(np.int64)
            else:  # ~10 skewed values; c1 drifts from skewed to uniform
                labels = np.array([f"v{k}" for k in range(10)], dtype=object)
                codes = np.floor(10 * u ** (1 if drift and j == 1 else 2)).astype(np.int64)
            values = labels[codes]
            if j == 3:
                values[rng.random(n_rows) < 0.02] = None
            columns[name] = values
        f00 = np.asarray(columns["f00"])
        logit = (
            0.8 * f00
            + 0.03 * (columns["f02"] - 50)
            - 0.2 * (np.log(columns["f05"]) - 1)
            + 0.5 * rng.normal(0, 1, n_rows)
        )
        columns[SCORE] = 1 / (1 + np.exp(-logit))
        return pd.DataFrame(columns)

    paths = {
        "reference": data_dir / "reference.parquet",
        "current": data_dir / "current.parquet",
        "warehouse": data_dir / "warehouse.duckdb",
    }
    con = duckdb.connect(str(paths["warehouse"]))
    try:
        for table, key, start, n_days, drift in (
            (REFERENCE_TABLE, "reference", REFERENCE_START, REFERENCE_DAYS, False),
            (SOURCE_TABLE, "current", DAY, 1, True),
        ):
            con.register("generated", frame(start, n_days, drift))
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM generated")
            con.unregister("generated")
            target = str(paths[key]).replace("'", "''")  # COPY takes no bound parameter
            con.execute(f"COPY {table} TO '{target}' (FORMAT parquet)")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return paths


# -- ours: the Dagster CLI ---------------------------------------------------------------------


def spec_document() -> dict[str, Any]:
    """The monitor: the two tables, the same methods and thresholds as Evidently's defaults here."""
    return {
        "name": MONITOR,
        "description": "bench_vs_peers.py: one day against a reference",
        "source": {"table": SOURCE_TABLE, "timestamp_column": TIMESTAMP},
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "prediction": {"task": "binary_classification", "score_column": SCORE},
        "reference": {"table": REFERENCE_TABLE},
        "partitions": {"start_date": REFERENCE_START, "end_date": "2024-03-01"},
        "drift": {
            "methods": {"numeric": "wasserstein", "categorical": "jensenshannon"},
            "thresholds": {"wasserstein": 0.1, "jensenshannon": 0.1},
        },
    }


def dagster_command() -> list[str]:
    """The ``dagster`` console script of this interpreter's environment (as a user would type it)."""
    script = Path(sys.executable).parent / "dagster"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dagster"]


def ours_environment(run_dir: Path, warehouse: Path) -> dict[str, str]:
    specs = run_dir / "monitors"
    specs.mkdir()
    # JSON is YAML; the spec loader reads .yaml files.
    (specs / f"{MONITOR}.yaml").write_text(json.dumps(spec_document(), indent=2))
    home = run_dir / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.duckdb.yaml", home / "dagster.yaml")
    suites = run_dir / "expectations"  # empty: no data-quality suite
    suites.mkdir()
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "DAGSTER_HOME": str(home),
        "MONITORING_SPECS_DIR": str(specs),
        "MONITORING_WAREHOUSE_URL": f"duckdb:///{warehouse}",
        "MONITORING_EXPECTATIONS_DIR": str(suites),
        "MONITORING_REPORTS_DIR": str(run_dir / "reports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{run_dir / 'mlflow.db'}",
    }


def create_instance(env: dict[str, str], log_path: Path) -> float:
    """The instance of ``env``'s new ``DAGSTER_HOME`` (its SQLite storage, schema and migrations),
    created as a user's first command would; returns the seconds, which the timed runs then no
    longer pay."""
    return timed([*dagster_command(), "instance", "info"], env, log_path)


def timed(command: list[str], env: dict[str, str], log_path: Path) -> float:
    """Wall clock of one process; its output goes to ``log_path`` (tail shown if it fails)."""
    with log_path.open("wb") as out:
        t0 = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}; last lines of {log_path}:\n{tail}")
    return seconds


def run_ours(pristine: Path, run_dir: Path, n_rows: int) -> dict[str, Any]:
    """The reference profile and the day's daily_profile + feature_drift, timed two ways, each on a
    fresh copy of the warehouse and a new DAGSTER_HOME whose instance already exists
    (``create_instance``, untimed): in one CLI process (``seconds``: one
    ``dagster asset materialize`` of the three assets; Dagster runs them in dependency order, the
    reference first), and as two CLI processes, the reference then the day (``separate_s``)."""
    together, separate = run_dir / "together", run_dir / "separate"
    together.mkdir()
    separate.mkdir()
    base = [*dagster_command(), "asset", "materialize", "-m", "monitoring_assets.definitions", "-d", str(REPO)]
    reference = f"{MONITOR}/reference_profile"
    daily = f"{MONITOR}/daily_profile,{MONITOR}/feature_drift"

    warehouse = together / "warehouse.duckdb"
    shutil.copy(pristine, warehouse)
    env = ours_environment(together, warehouse)
    instance_s = create_instance(env, together / "instance.log")
    seconds = timed([*base, "--select", f"{reference},{daily}", "--partition", DAY], env, together / "run.log")
    log(f"ours: reference_profile + daily_profile + feature_drift in one process {seconds:.2f} s")
    drifted, counted = ours_results(warehouse)
    if counted != n_rows:
        raise SystemExit(f"our daily profile counted {counted} rows, expected {n_rows}")

    warehouse = separate / "warehouse.duckdb"
    shutil.copy(pristine, warehouse)
    env = ours_environment(separate, warehouse)
    create_instance(env, separate / "instance.log")
    reference_s = timed([*base, "--select", reference], env, separate / "reference.log")
    daily_s = timed([*base, "--select", daily, "--partition", DAY], env, separate / "daily.log")
    log(f"ours: as two processes, reference_profile {reference_s:.2f} s, daily_profile + feature_drift {daily_s:.2f} s")
    if ours_results(warehouse) != (drifted, counted):
        raise SystemExit("the two ways of running ours disagree on the drifted features")
    load_s = timed(
        [sys.executable, "-c", "import monitoring_assets.definitions"], env, separate / "definitions_load.log"
    )
    log(f"ours: importing monitoring_assets.definitions alone {load_s:.2f} s")
    return {
        "seconds": seconds,
        "steps_s": steps_seconds(together / "run.log"),
        "separate_s": reference_s + daily_s,
        "reference_s": reference_s,
        "daily_s": daily_s,
        "separate_steps_s": steps_seconds(separate / "reference.log") + steps_seconds(separate / "daily.log"),
        "definitions_load_s": load_s,
        "instance_create_s": instance_s,
        "drifted": drifted,
    }


STEPS_LINE = re.compile(r"Finished steps in process \(pid: \d+\) in (?:(\d+)m(\d+)s|([\d.]+)(ms|s))\b")


def steps_seconds(log_path: Path) -> float:
    """The run's own step time, from the in-process executor's closing event in the CLI's log
    (dagster_shared.utils.timing.format_duration: ``8.3ms``, ``533ms``, ``5.6s``, ``4m52s``)."""
    found = STEPS_LINE.search(log_path.read_text(errors="replace"))
    if found is None:
        raise SystemExit(f"no 'Finished steps in process' line in {log_path}")
    minutes, seconds, value, unit = found.groups()
    if minutes is not None:
        return 60 * int(minutes) + int(seconds)
    return float(value) / (1000 if unit == "ms" else 1)


def ours_results(warehouse: Path) -> tuple[list[str], int]:
    """The day's drifted features and profiled row count, read back from the metric tables."""
    import duckdb  # noqa: PLC0415

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        drifted = con.execute(
            "SELECT feature FROM monitoring.drift_metrics WHERE monitor = ? AND scope = 'feature' "
            "AND partition_date = CAST(? AS DATE) AND feature <> '__dataset__' AND drifted ORDER BY feature",
            [MONITOR, DAY],
        ).fetchall()
        row = con.execute(
            "SELECT value FROM monitoring.profile_metrics WHERE monitor = ? AND profile = 'daily' "
            "AND partition_date = CAST(? AS DATE) AND column_name = '__table__' AND metric = 'row_count'",
            [MONITOR, DAY],
        ).fetchone()
    finally:
        con.close()
    return [str(f) for (f,) in drifted], int(row[0]) if row else -1


# -- the peers (these run under the peers' interpreters) ---------------------------------------


def evidently_child(reference_path: str, current_path: str) -> None:
    t0 = time.perf_counter()
    import pandas as pd  # noqa: PLC0415
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found]  # noqa: PLC0415
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]  # noqa: PLC0415

    t1 = time.perf_counter()
    reference = pd.read_parquet(reference_path, columns=FEATURES)
    current = pd.read_parquet(current_path, columns=FEATURES)
    t2 = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    t3 = time.perf_counter()
    drifted = []
    for metric in result["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        # Above 1,000 rows the defaults are distances (drift at or above the threshold); below,
        # p-values, which this comparison does not read.
        if "distance" not in config["method"]:
            raise SystemExit(f"evidently chose {config['method']} for {config['column']}: not a distance")
        if metric["value"] >= config["threshold"]:
            drifted.append(config["column"])
    print(
        json.dumps(
            {
                "import_s": t1 - t0,
                "read_s": t2 - t1,
                "drift_s": t3 - t2,
                "drifted": sorted(drifted),
                "version": _version("evidently"),
            }
        )
    )


def nannyml_child(reference_path: str, current_path: str) -> None:
    t0 = time.perf_counter()
    import nannyml as nml  # type: ignore[import-not-found]  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    t1 = time.perf_counter()
    reference = pd.read_parquet(reference_path, columns=FEATURES)
    current = pd.read_parquet(current_path, columns=FEATURES)
    t2 = time.perf_counter()
    calculator = nml.UnivariateDriftCalculator(column_names=FEATURES, treat_as_categorical=CATEGORICAL)
    calculator.fit(reference)
    results = calculator.calculate(current)
    frame = results.filter(period="analysis").to_df()
    t3 = time.perf_counter()
    drifted = sorted(
        column
        for column in FEATURES
        if any(bool(frame[(column, method, "alert")].any()) for method in _nannyml_methods(frame, column))
    )
    print(
        json.dumps(
            {
                "import_s": t1 - t0,
                "read_s": t2 - t1,
                "drift_s": t3 - t2,
                "chunks": len(frame),
                "drifted": drifted,
                "version": _version("nannyml"),
            }
        )
    )


def _nannyml_methods(frame: Any, column: str) -> list[str]:
    return sorted({key[1] for key in frame.columns if key[0] == column})


def _version(package: str) -> str:
    return importlib.metadata.version(package)


def run_peer(python: Path, mode: str, paths: dict[str, Path], log_path: Path) -> dict[str, Any]:
    env = {**os.environ, **PEER_ENV}
    env.pop("PYTHONPATH", None)  # the peer sees only its own venv
    command = [str(python), str(Path(__file__).resolve()), mode, str(paths["reference"]), str(paths["current"])]
    with log_path.open("wb") as err:
        t0 = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=log_path.parent, stdout=subprocess.PIPE, stderr=err, check=False)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{mode} exited {done.returncode}; last lines of {log_path}:\n{tail}")
    inner: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return {"seconds": seconds, **inner}


# -- main --------------------------------------------------------------------------------------


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


Runs = list[dict[str, Any]]


def measure(data_dir: Path, n_rows: int, reps: int, pythons: dict[str, Path]) -> tuple[Runs, Runs, Runs]:
    """Generate the data under ``data_dir``, then time the three ``reps`` times, interleaved."""
    log(f"generating {n_rows:,} reference rows and {n_rows:,} rows on {DAY} (seed {SEED})")
    t0 = time.perf_counter()
    paths = generate(data_dir, n_rows)
    parquet_mb = (paths["reference"].stat().st_size + paths["current"].stat().st_size) / 2**20
    log(f"generated in {time.perf_counter() - t0:.1f} s (Parquet {parquet_mb:,.0f} MB)")
    ours: Runs = []
    evidently: Runs = []
    nannyml: Runs = []
    for rep in range(reps):
        run_dir = data_dir / f"ours-{rep}"
        run_dir.mkdir()
        ours.append(run_ours(paths["warehouse"], run_dir, n_rows))
        log(f"run {rep + 1}/{reps}: ours {ours[-1]['seconds']:.2f} s")
        evidently.append(run_peer(pythons["evidently"], "--evidently", paths, data_dir / f"evidently-{rep}.log"))
        log(f"run {rep + 1}/{reps}: evidently {evidently[-1]['seconds']:.2f} s")
        nannyml.append(run_peer(pythons["nannyml"], "--nannyml", paths, data_dir / f"nannyml-{rep}.log"))
        log(f"run {rep + 1}/{reps}: nannyml {nannyml[-1]['seconds']:.2f} s")
    return ours, evidently, nannyml


def main() -> None:
    n_rows = int(os.environ.get("BENCH_PEERS_ROWS", DEFAULT_ROWS))
    reps = int(os.environ.get("BENCH_PEERS_REPS", DEFAULT_REPS))
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    pythons = {name: ensure_venv(name, requirements) for name, requirements in PEERS.items()}
    load_before = load_average()

    keep = bool(os.environ.get("BENCH_PEERS_KEEP"))
    data_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK_DIR))
    try:
        ours, evidently, nannyml = measure(data_dir, n_rows, reps, pythons)
    finally:
        if keep:
            log(f"kept {data_dir} (BENCH_PEERS_KEEP): the data and every process's log")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    load_after = load_average()

    best = {
        "ours": min(ours, key=lambda r: r["seconds"]),
        "evidently": min(evidently, key=lambda r: r["seconds"]),
        "nannyml": min(nannyml, key=lambda r: r["seconds"]),
    }
    missed = {tool: sorted(set(DRIFTING) - set(run["drifted"])) for tool, run in best.items()}
    ours_s = best["ours"]["seconds"]

    rows_table = [
        ("rows (reference / day)", f"{n_rows:,} / {n_rows:,}"),
        ("columns", f"{len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical (+ score, ours only)"),
        (f"ours, 1 dagster CLI run of the 3 assets (best of {reps})", f"{ours_s:.2f} s"),
        ("  of which Dagster's steps", f"{best['ours']['steps_s']:.2f} s"),
        ("ours as 2 CLI runs, reference then day", f"{best['ours']['separate_s']:.2f} s"),
        ("  reference_profile / daily_profile + feature_drift", _pair(best["ours"], "reference_s", "daily_s")),
        ("  of which Dagster's steps (both runs)", f"{best['ours']['separate_steps_s']:.2f} s"),
        ("  import monitoring_assets.definitions alone", f"{best['ours']['definitions_load_s']:.2f} s"),
        ("  creating the instance, untimed (a new DAGSTER_HOME)", f"{best['ours']['instance_create_s']:.2f} s"),
        (f"evidently {best['evidently']['version']} (best of {reps})", f"{best['evidently']['seconds']:.2f} s"),
        ("  imports / read / DataDriftPreset", _phases(best["evidently"])),
        (f"nannyml {best['nannyml']['version']} (best of {reps})", f"{best['nannyml']['seconds']:.2f} s"),
        ("  imports / read / fit + calculate", _phases(best["nannyml"])),
        ("evidently / ours (target >= 20)", f"{best['evidently']['seconds'] / ours_s:.1f}x"),
        ("nannyml / ours (target >= 5)", f"{best['nannyml']['seconds'] / ours_s:.1f}x"),
        ("load average before / after", f"{load_before} / {load_after}"),
    ]
    rows_table += [(f"drifted, {tool}", ", ".join(run["drifted"]) or "-") for tool, run in best.items()]
    width = max(len(k) for k, _ in rows_table)
    print(f"Drift of one day against peers ({n_rows:,} rows; wall clock, start-up included)")
    for key, value in rows_table:
        print(f"{key:<{width}}  {value}")
    for tool, columns in missed.items():
        if columns:
            print(f"WARNING: {tool} did not flag the planted drift of {', '.join(columns)}")

    print(
        json.dumps(
            {
                "rows": n_rows,
                "ours_s": round(ours_s, 3),
                "evidently_s": round(best["evidently"]["seconds"], 3),
                "nannyml_s": round(best["nannyml"]["seconds"], 3),
                "evidently_over_ours": round(best["evidently"]["seconds"] / ours_s, 2),
                "nannyml_over_ours": round(best["nannyml"]["seconds"] / ours_s, 2),
                "ours_steps_s": round(best["ours"]["steps_s"], 3),
                "ours_separate_s": round(best["ours"]["separate_s"], 3),
                "nannyml_over_ours_separate": round(best["nannyml"]["seconds"] / best["ours"]["separate_s"], 2),
                "ours_reference_s": round(best["ours"]["reference_s"], 3),
                "ours_daily_s": round(best["ours"]["daily_s"], 3),
                "ours_separate_steps_s": round(best["ours"]["separate_steps_s"], 3),
                "ours_definitions_load_s": round(best["ours"]["definitions_load_s"], 3),
                "ours_instance_create_s": round(best["ours"]["instance_create_s"], 3),
                "evidently_phases_s": _rounded(best["evidently"]),
                "nannyml_phases_s": _rounded(best["nannyml"]),
                "nannyml_chunks": best["nannyml"]["chunks"],
                "runs_s": {
                    "ours": [round(r["seconds"], 3) for r in ours],
                    "ours_separate": [round(r["separate_s"], 3) for r in ours],
                    "evidently": [round(r["seconds"], 3) for r in evidently],
                    "nannyml": [round(r["seconds"], 3) for r in nannyml],
                },
                "drifted": {tool: run["drifted"] for tool, run in best.items()},
                "missed": missed,
                "versions": {"evidently": best["evidently"]["version"], "nannyml": best["nannyml"]["version"]},
                "load_average_before": load_before,
                "load_average_after": load_after,
                "cpus": os.cpu_count(),
            }
        )
    )


def _pair(run: dict[str, Any], first: str, second: str) -> str:
    return f"{run[first]:.2f} s / {run[second]:.2f} s"


def _phases(run: dict[str, Any]) -> str:
    return f"{run['import_s']:.2f} s / {run['read_s']:.2f} s / {run['drift_s']:.2f} s"


def _rounded(run: dict[str, Any]) -> dict[str, float]:
    return {key: round(run[key], 3) for key in ("import_s", "read_s", "drift_s")}


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--evidently":
        evidently_child(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "--nannyml":
        nannyml_child(sys.argv[2], sys.argv[3])
    else:
        main()
