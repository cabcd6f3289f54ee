"""Pure core: profiles and the statistics computed from them.

numpy and scipy only: no Dagster, no SQL (a test imports this package in a fresh interpreter and
checks that Dagster, SQLAlchemy and pandas stay unloaded).
"""

from monitoring_assets.core.drift import DEFAULT_METHODS, DRIFT_METHODS, DriftMethod, get_method
from monitoring_assets.core.evaluate import ColumnRule, DatasetDrift, FeatureDrift, evaluate_drift
from monitoring_assets.core.guards import GuardLimits
from monitoring_assets.core.profile import (
    OTHER,
    CategoricalBins,
    CategoricalProfile,
    NumericBins,
    NumericProfile,
    Profile,
    ProfileLayout,
    empty_profile,
    merge_profiles,
    profile_from_values,
)
from monitoring_assets.core.thresholds import CalibratedThreshold, ConstantThreshold, Threshold

__all__ = [
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
