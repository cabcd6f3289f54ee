"""Pure core: profiles and the statistics computed from them.

numpy and scipy only: no Dagster, no SQL (a test imports this package in a fresh interpreter and
checks that Dagster, SQLAlchemy and pandas stay unloaded). The package itself imports nothing: its
names are loaded on first use (PEP 562), so the numpy-free modules (``catalog``, ``levels``,
``trigger``) that building definitions needs load alone, without numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitoring_assets._lazy import lazy_attributes

if TYPE_CHECKING:
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

__getattr__ = lazy_attributes(
    __name__,
    {
        "DEFAULT_METHODS": "monitoring_assets.core.drift",
        "DRIFT_METHODS": "monitoring_assets.core.drift",
        "DriftMethod": "monitoring_assets.core.drift",
        "get_method": "monitoring_assets.core.drift",
        "ColumnRule": "monitoring_assets.core.evaluate",
        "DatasetDrift": "monitoring_assets.core.evaluate",
        "FeatureDrift": "monitoring_assets.core.evaluate",
        "evaluate_drift": "monitoring_assets.core.evaluate",
        "GuardLimits": "monitoring_assets.core.guards",
        "OTHER": "monitoring_assets.core.profile",
        "CategoricalBins": "monitoring_assets.core.profile",
        "CategoricalProfile": "monitoring_assets.core.profile",
        "NumericBins": "monitoring_assets.core.profile",
        "NumericProfile": "monitoring_assets.core.profile",
        "Profile": "monitoring_assets.core.profile",
        "ProfileLayout": "monitoring_assets.core.profile",
        "empty_profile": "monitoring_assets.core.profile",
        "merge_profiles": "monitoring_assets.core.profile",
        "profile_from_values": "monitoring_assets.core.profile",
        "CalibratedThreshold": "monitoring_assets.core.thresholds",
        "ConstantThreshold": "monitoring_assets.core.thresholds",
        "Threshold": "monitoring_assets.core.thresholds",
    },
)
