"""The public API is small and pinned: changing it is a deliberate act."""

import monitoring_assets
import monitoring_assets.core


def test_package_exports() -> None:
    assert monitoring_assets.__all__ == [
        "MonitorError",
        "MonitorSpec",
        "ProfileError",
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
    for cls in (monitoring_assets.SpecError, monitoring_assets.ProfileError, monitoring_assets.WarehouseError):
        assert issubclass(cls, monitoring_assets.MonitorError)
