"""The public API is small and pinned: changing it is a deliberate act."""

import expectations
import monitoring_assets
import monitoring_assets.core
import monitoring_assets.demo
import monitoring_assets.spec
import resources
import sensors


def test_package_exports() -> None:
    assert monitoring_assets.__all__ == [
        "MonitorError",
        "MonitorSpec",
        "ProfileError",
        "RegistryError",
        "SpecError",
        "WarehouseError",
        "build_definitions",
        "build_monitor_definitions",
        "load_spec",
        "load_specs",
    ]
    for name in monitoring_assets.__all__:
        assert getattr(monitoring_assets, name) is not None


def test_core_exports() -> None:
    assert sorted(monitoring_assets.core.__all__) == sorted(
        [
            "DEFAULT_METHODS",
            "DRIFT_METHODS",
            "OTHER",
            "CalibratedThreshold",
            "CategoricalBins",
            "CategoricalProfile",
            "ColumnRule",
            "ConstantThreshold",
            "DatasetDrift",
            "DriftMethod",
            "FeatureDrift",
            "GuardLimits",
            "NumericBins",
            "NumericProfile",
            "Profile",
            "ProfileLayout",
            "Threshold",
            "empty_profile",
            "evaluate_drift",
            "get_method",
            "merge_profiles",
            "profile_from_values",
        ]
    )
    assert set(monitoring_assets.core.DRIFT_METHODS) == {
        "psi",
        "jensenshannon",
        "hellinger",
        "kl_divergence",
        "linf",
        "chisquare",
        "ks",
        "wasserstein",
    }


def test_errors_form_one_hierarchy() -> None:
    for cls in (
        monitoring_assets.SpecError,
        monitoring_assets.ProfileError,
        monitoring_assets.WarehouseError,
        monitoring_assets.RegistryError,
    ):
        assert issubclass(cls, monitoring_assets.MonitorError)


def test_subpackage_exports() -> None:
    assert monitoring_assets.spec.__all__ == [
        "SPECS_DIR_ENV",
        "MonitorSpec",
        "drift_rules",
        "load_spec",
        "load_specs",
        "parse_spec",
    ]
    assert monitoring_assets.demo.__all__ == [
        "CONCEPT_DAY",
        "CORRELATION_DAY",
        "DRIFT_DAY",
        "FAIRNESS_DAY",
        "LABEL_DELAY",
        "QUALITY_BREAK_DAY",
        "SLOW_DAY",
        "DaySummary",
        "DemoConfig",
        "day_summaries",
        "generate",
        "run_demo",
        "write_duckdb",
    ]
    # Modules, not re-exports: import what you need from resources.<module> and sensors.<module>.
    assert resources.__all__ == [] and sensors.__all__ == []
    for package in (monitoring_assets, monitoring_assets.core, monitoring_assets.spec, expectations):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
