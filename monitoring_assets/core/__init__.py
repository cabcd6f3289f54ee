"""Pure core: profiles and the statistics computed from them.

numpy and scipy only: no Dagster, no SQL (a test imports this package in a fresh interpreter and
checks that Dagster, SQLAlchemy and pandas stay unloaded). The package itself imports nothing: its
names are loaded on first use (PEP 562), so the numpy-free modules (``catalog``, ``levels``,
``trigger``) that building definitions needs load alone, without numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_MODULES = {
    "DEFAULT_METHODS": "drift",
    "DRIFT_METHODS": "drift",
    "DriftMethod": "drift",
    "get_method": "drift",
    "ColumnRule": "evaluate",
    "DatasetDrift": "evaluate",
    "FeatureDrift": "evaluate",
    "evaluate_drift": "evaluate",
    "GuardLimits": "guards",
    "OTHER": "profile",
    "CategoricalBins": "profile",
    "CategoricalProfile": "profile",
    "NumericBins": "profile",
    "NumericProfile": "profile",
    "Profile": "profile",
    "ProfileLayout": "profile",
    "empty_profile": "profile",
    "merge_profiles": "profile",
    "profile_from_values": "profile",
    "CalibratedThreshold": "thresholds",
    "ConstantThreshold": "thresholds",
    "Threshold": "thresholds",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
