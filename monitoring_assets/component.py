"""``MonitorComponent``: one monitored model in your own ``dg`` project.

``defs/credit_default/defs.yaml``::

    type: monitoring_assets.component.MonitorComponent
    attributes:          # a monitor spec, exactly as in monitors/*.yaml
      name: credit_default
      source: {table: inference_log, timestamp_column: scored_at}
      ...

The attributes are validated by the code that reads ``monitors/*.yaml`` (``parse_spec``), so a
bad field is the same one-line error, naming the ``defs.yaml``. The component builds what the
code location builds for that spec (``build_definitions``): its assets, checks, jobs, schedule and
sensors, with the warehouse, MLflow and alerts resources from the environment (README), shared by
every monitor of the project. ``dg list components`` finds it through the
``dagster_dg_cli.registry_modules`` entry point in ``pyproject.toml``.
"""

from __future__ import annotations

from typing import Any, Self

import dagster as dg
from pydantic import BaseModel, ConfigDict

from monitoring_assets._factory import build_definitions
from monitoring_assets.spec import MonitorSpec, parse_spec

__all__ = ["MonitorComponent"]


class MonitorAttributes(BaseModel):
    """The spec as written; ``MonitorComponent.load`` validates it with ``parse_spec``. Its JSON
    schema is the spec's, for editors and ``dg``."""

    model_config = ConfigDict(extra="allow")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return MonitorSpec.model_json_schema(*args, **kwargs)


class MonitorComponent(dg.Component):
    """Monitor one ML model from its warehouse tables: profiles, drift, labeled performance,
    fairness, data quality, alerts and MLflow retraining (attributes: a monitor spec)."""

    def __init__(self, spec: MonitorSpec) -> None:
        self.spec = spec

    @classmethod
    def get_model_cls(cls) -> type[BaseModel]:
        return MonitorAttributes

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Self:
        data = attributes.model_dump() if attributes is not None else {}
        return cls(parse_spec(data, context.path / "defs.yaml"))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return build_definitions(specs=[self.spec])
