"""Model monitoring as Dagster assets.

Public API (pinned by ``tests/test_public_api.py``). The pure core and the spec are importable
without Dagster; the Dagster factories load lazily on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitoring_assets.errors import MonitorError, ProfileError, SpecError, WarehouseError
from monitoring_assets.spec import MonitorSpec, load_spec, load_specs

if TYPE_CHECKING:
    from monitoring_assets._factory import build_definitions, build_monitor_definitions

__all__ = [
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

_LAZY = {"build_definitions", "build_monitor_definitions"}


def __getattr__(name: str) -> Any:
    # Dagster is imported only when the wiring is asked for, so the pure core stays Dagster-free.
    if name in _LAZY:
        from monitoring_assets import _factory  # noqa: PLC0415  (lazy on purpose, see above)

        return getattr(_factory, name)
    raise AttributeError(f"module 'monitoring_assets' has no attribute {name!r}")
