"""The code location: definitions load from specs, with the expected assets, checks, job and schedule."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from monitoring_assets import build_definitions
from monitoring_assets.demo import DemoConfig, run_demo
from monitoring_assets.demo.__main__ import write_dated_spec
from monitoring_assets.errors import SpecError
from monitoring_assets.resources import RegistryResource
from monitoring_assets.spec import load_spec, load_specs, parse_spec
from tests.conftest import REPO


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions(specs=load_specs(REPO / "monitors"))


def test_code_location_module_loads_every_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_SPECS_DIR", str(REPO / "monitors"))
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            "from monitoring_assets.definitions import defs; "
            "print(sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()))",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert result.stdout.strip() == str(
        sorted(
            f"credit_default/{a}"
            for a in (
                "business_metrics",
                "challenger_model",
                "daily_profile",
                "estimated_performance",
                "fairness_slices",
                "feature_drift",
                "labeled_performance",
                "monitoring_report",
                "multivariate_drift",
                "operations",
                "prediction_drift",
                "reference_profile",
            )
        )
    )


def test_assets_groups_partitions_and_single_run_backfills(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    daily = dg.AssetKey(["credit_default", "daily_profile"])
    node = graph.get(daily)
    assert node.group_name == "credit_default"
    partitions = node.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    keys = partitions.get_partition_keys()
    assert keys[0] == "2024-01-01" and keys[-1] == "2024-02-29"
    for name in (
        "daily_profile",
        "feature_drift",
        "prediction_drift",
        "labeled_performance",
        "fairness_slices",
        "estimated_performance",
    ):
        assert graph.get(dg.AssetKey(["credit_default", name])).backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey(["credit_default", "reference_profile"])).partitions_def is None


def test_asset_checks_carry_the_documented_names(defs: dg.Definitions) -> None:
    checks = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        ("credit_default/daily_profile", "data_quality"),  # from expectations/credit_default.json
        ("credit_default/daily_profile", "volume"),  # guards: every monitor, no suite needed
        ("credit_default/daily_profile", "null_rate"),
        ("credit_default/feature_drift", "no_feature_drift"),
        ("credit_default/feature_drift", "no_dataset_drift"),
        ("credit_default/prediction_drift", "no_prediction_drift"),
        ("credit_default/labeled_performance", "performance_vs_reference"),
        ("credit_default/labeled_performance", "label_validity"),
        ("credit_default/labeled_performance", "no_duplicates"),
        ("credit_default/fairness_slices", "fairness_disparity"),
        ("credit_default/multivariate_drift", "no_multivariate_drift"),  # drift.multivariate
        ("credit_default/operations", "slo"),  # operations
        ("credit_default/business_metrics", "business_limits"),  # business_metrics
        ("credit_default/estimated_performance", "estimated_performance_vs_reference"),
    }
    # Every check is partitioned like its asset (one result per day), and only data_quality blocks.
    graph = defs.resolve_asset_graph()
    for key in graph.asset_check_keys:
        if key.asset_key.path[0] != "credit_default":
            continue
        check = defs.resolve_assets_def(key.asset_key).get_spec_for_check_key(key)
        partitions = graph.get(key.asset_key).partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert check.partitions_def == partitions, key
        assert check.blocking == (key.name == "data_quality"), key


def test_daily_schedule_requests_the_previous_day(defs: dg.Definitions) -> None:
    schedule = defs.resolve_schedule_def("credit_default_daily_schedule")
    assert schedule.cron_schedule == "0 3 * * *"
    assert schedule.job_name == "credit_default_daily_monitoring"
    repo = defs.get_repository_def()
    ctx = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 1, 5, 3, 0, tzinfo=dt.UTC), repository_def=repo
    )
    requests = list(schedule.evaluate_tick(ctx).run_requests or [])
    assert [r.partition_key for r in requests] == ["2024-01-04"]
    ctx = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2023, 6, 1, 3, 0, tzinfo=dt.UTC), repository_def=repo
    )
    result = schedule.evaluate_tick(ctx)
    assert not result.run_requests and "outside" in (result.skip_message or "")


def test_jobs_resolve(defs: dg.Definitions) -> None:
    daily = defs.resolve_job_def("credit_default_daily_monitoring")
    assert {k.path[-1] for k in daily.asset_layer.executable_asset_keys} == {
        "daily_profile",
        "feature_drift",
        "prediction_drift",
        "labeled_performance",
        "fairness_slices",
        "estimated_performance",
        "monitoring_report",
        "multivariate_drift",
        "operations",
        "business_metrics",
    }
    assert {
        k.path[-1] for k in defs.resolve_job_def("credit_default_retraining").asset_layer.executable_asset_keys
    } == {"challenger_model"}
    defs.resolve_job_def("credit_default_rollback")
    defs.resolve_sensor_def("credit_default_label_arrival")
    assert defs.resolve_sensor_def("credit_default_retraining_sensor").job_name == "credit_default_retraining"
    labeled = defs.resolve_job_def("credit_default_labeled_monitoring")
    assert {k.path[-1] for k in labeled.asset_layer.executable_asset_keys} == {"labeled_performance", "fairness_slices"}
    defs.resolve_job_def("credit_default_reference")


def test_bad_spec_stops_definitions_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        (REPO / "monitors" / "credit_default.yaml").read_text().replace("numeric: wasserstein", "numeric: wassersteen")
    )
    (tmp_path / "broken.yaml").write_text(text)
    monkeypatch.setenv("MONITORING_SPECS_DIR", str(tmp_path))
    with pytest.raises(SpecError) as info:
        build_definitions()
    assert str(info.value).startswith(f"{tmp_path / 'broken.yaml'}: drift.methods.numeric: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        # The pure core: numpy and scipy only.
        ("monitoring_assets.core", "dagster sqlalchemy pydantic yaml pandas mlflow sklearn matplotlib"),
        ("monitoring_assets.spec", "dagster sqlalchemy pandas mlflow sklearn matplotlib"),
        # The adapters return plain results: Dagster objects are built in monitoring_assets/ and sensors/ only.
        (
            "resources.schema, resources.warehouse, resources._engine, resources._profiles, resources._metrics, "
            "resources._labels, resources._events, resources._rows, resources.registry, resources.alerts, "
            "resources.trainer, resources.links, expectations, expectations._runner, expectations._store, "
            "expectations._generate",
            "dagster",
        ),
    ],
)
def test_core_and_spec_import_standalone(module: str, absent: str) -> None:
    code = f"import sys, {module}; print(sorted(set({absent.split()!r}) & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


def test_code_location_loads_without_the_heavy_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run and step process imports the code location: building the definitions of the
    repository's monitors (with its suite, cwd = REPO) must not load what only steps use: SQLAlchemy
    comes with the first warehouse a step or a sensor tick opens, numpy with the first statistic."""
    heavy = ["great_expectations", "mlflow", "sklearn", "matplotlib", "scipy", "pandas", "sqlalchemy", "numpy"]
    monkeypatch.setenv("MONITORING_SPECS_DIR", str(REPO / "monitors"))
    code = (
        "import sys; from monitoring_assets.definitions import defs; "
        "print(sorted(k.name for k in defs.resolve_asset_graph().asset_check_keys if k.name == 'data_quality')); "
        f"print(sorted(set({heavy!r}) & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    quality, loaded = result.stdout.strip().splitlines()
    assert quality == "['data_quality']"  # the suite (expectations/credit_default.json) was loaded
    assert loaded == "[]"


def test_demo_spec_dated_to_its_days_ending_yesterday(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` writes the template with its partitions dated to the demo's days; the code
    location, pointed at that directory (as `make dev` does), has 60 daily partitions ending yesterday."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    template = REPO / "monitors" / "credit_default.yaml"
    config = DemoConfig()
    assert config.last_day == yesterday and config.first_day == yesterday - dt.timedelta(days=59)
    assert config.drift_start == config.first_day + dt.timedelta(days=31)  # day 32
    dated = write_dated_spec(template, tmp_path / "monitors", config)
    original = load_specs(REPO / "monitors")[0]
    # Only the partitions' dates differ from the template.
    assert dated.model_dump(exclude={"partitions"}) == original.model_dump(exclude={"partitions"})
    assert dated.partitions.model_dump(exclude={"start_date", "end_date"}) == original.partitions.model_dump(
        exclude={"start_date", "end_date"}
    )

    monkeypatch.setenv("MONITORING_SPECS_DIR", str(tmp_path / "monitors"))
    defs = build_definitions()
    partitions = defs.resolve_asset_graph().get(dg.AssetKey(["credit_default", "daily_profile"])).partitions_def
    assert partitions is not None
    keys = partitions.get_partition_keys()
    assert len(keys) == 60
    assert keys[0] == (yesterday - dt.timedelta(days=59)).isoformat() and keys[-1] == yesterday.isoformat()


def test_demo_refuses_a_spec_without_its_days(tmp_path: Path) -> None:
    template = load_specs(REPO / "monitors")[0]  # partitions 2024-01-01..2024-02-29
    with dg.instance_for_test() as instance, pytest.raises(ValueError, match=r"date the spec with write_dated_spec"):
        run_demo(
            spec=template,
            warehouse_path=tmp_path / "demo.duckdb",
            instance=instance,
            registry=RegistryResource(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db"),
            config=DemoConfig(days=60, last_day=dt.date(2024, 3, 1)),
        )
    assert not (tmp_path / "demo.duckdb").exists()


def test_a_monitor_without_the_daily_report_has_no_report_asset() -> None:
    data = load_spec(REPO / "monitors" / "credit_default.yaml").model_dump(mode="json")
    data["report"] = {"enabled": False}
    defs = build_definitions(specs=[parse_spec(data)])
    keys = {k.path[-1] for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "monitoring_report" not in keys and "daily_profile" in keys
    daily = defs.resolve_job_def("credit_default_daily_monitoring")
    assert "monitoring_report" not in {k.path[-1] for k in daily.asset_layer.executable_asset_keys}
