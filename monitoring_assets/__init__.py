"""Model monitoring as Dagster assets.

Public API (pinned by ``tests/test_public_api.py``). The pure core imports numpy and scipy only;
the spec (pydantic, yaml) and the Dagster factories load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitoring_assets._lazy import lazy_attributes
from monitoring_assets.errors import MonitorError, ProfileError, RegistryError, SpecError, WarehouseError

if TYPE_CHECKING:
    from monitoring_assets._factory import build_definitions, build_monitor_definitions
    from monitoring_assets.spec import MonitorSpec, load_spec, load_specs

__all__ = [
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

# Imported on first use: the pure core (monitoring_assets.core) loads this package, and must stay
# numpy and scipy only (the spec brings pydantic and yaml, the factories Dagster).
__getattr__ = lazy_attributes(
    __name__,
    {
        "build_definitions": "monitoring_assets._factory",
        "build_monitor_definitions": "monitoring_assets._factory",
        "MonitorSpec": "monitoring_assets.spec",
        "load_spec": "monitoring_assets.spec",
        "load_specs": "monitoring_assets.spec",
    },
)
