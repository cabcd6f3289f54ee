"""The Dagster resources: the warehouse, the MLflow registry and the alert destinations.

Each is configuration over a plain adapter in ``resources/`` (``Warehouse``, ``ModelRegistry``,
``AlertSettings``), which knows nothing of Dagster. Secrets reach them through ``dg.EnvVar``, so
the UI shows a variable's name, never its value. ``environment_resources()`` builds the three from
the environment (README: Monitor your own model).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from resources._env import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV
from resources._registry_types import DEFAULT_ARTIFACT_ROOT, DEFAULT_TRACKING_URI, TRACKING_URI_ENV, HttpLimits
from resources.alerts import SLACK_WEBHOOK_URL_ENV, WEBHOOK_URL_ENV, AlertSettings, Tier

if TYPE_CHECKING:
    from resources.registry import ModelRegistry
    from resources.warehouse import Warehouse

__all__ = [
    "REGISTRY_URI_ENV",
    "AlertsResource",
    "RegistryResource",
    "WarehouseResource",
    "alerts_resource",
    "environment_resources",
    "registry_resource",
    "warehouse_resource",
]

REGISTRY_URI_ENV = "MLFLOW_REGISTRY_URI"


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The monitored warehouse. ``url`` is a SQLAlchemy URL; in definitions it comes from
    ``$MONITORING_WAREHOUSE_URL`` through ``dg.EnvVar``, defaulting to the demo DuckDB file."""

    url: str = Field(default=DEFAULT_WAREHOUSE_URL, description="SQLAlchemy URL of the warehouse")

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        # Imported here, like the registry below: only steps and sensor ticks need SQLAlchemy.
        from resources.warehouse import Warehouse  # noqa: PLC0415

        warehouse = Warehouse(self.url)
        try:
            yield warehouse
        finally:
            warehouse.dispose()


class RegistryResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The MLflow tracking store and model registry. In definitions ``tracking_uri`` comes from
    ``$MLFLOW_TRACKING_URI`` through ``dg.EnvVar``, defaulting to a SQLite store under the project."""

    tracking_uri: str = Field(default=DEFAULT_TRACKING_URI, description="MLflow tracking URI")
    registry_uri: str | None = Field(default=None, description="MLflow registry URI (default: the tracking URI)")
    artifact_root: str | None = Field(
        default=DEFAULT_ARTIFACT_ROOT,
        description="Artifact root for new experiments when MLflow has no server (path or s3://...)",
    )

    http_max_retries: int = Field(
        default=HttpLimits.max_retries,
        ge=0,
        le=10,
        description="MLflow HTTP retries (MLFLOW_HTTP_REQUEST_MAX_RETRIES, when unset)",
    )
    http_timeout_seconds: int = Field(
        default=HttpLimits.timeout_seconds,
        ge=1,
        description="MLflow HTTP request timeout in seconds (MLFLOW_HTTP_REQUEST_TIMEOUT, when unset)",
    )
    http_backoff_factor: int = Field(
        default=HttpLimits.backoff_factor,
        ge=0,
        description="MLflow HTTP backoff factor (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, when unset)",
    )

    @contextmanager
    def open(self) -> Iterator[ModelRegistry]:
        # Imported here: MLflow takes seconds to import, and only steps that open the registry need it.
        from resources.registry import ModelRegistry  # noqa: PLC0415

        # Nothing to close afterwards: MLflow keeps one engine per store URI for the process.
        http = HttpLimits(self.http_max_retries, self.http_timeout_seconds, self.http_backoff_factor)
        yield ModelRegistry(self.tracking_uri, self.registry_uri, self.artifact_root, http)


_ALERT_DEFAULTS = AlertSettings()


class AlertsResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where alerts go and how hard delivery tries (``resources.alerts.AlertSettings``).

    Set the URLs through ``dg.EnvVar`` (``alerts_resource()`` does, from
    ``$MONITORING_ALERT_WEBHOOK_URL`` and ``$MONITORING_SLACK_WEBHOOK_URL``): the UI then shows
    the variable's name, never the URL. Unset, alerts go to the Dagster log only.
    """

    webhook_url: str | None = Field(default=None, description="Generic JSON webhook (POST); a secret")
    slack_webhook_url: str | None = Field(default=None, description="Slack incoming webhook; a secret")
    webhook_min_tier: Tier = Field(
        default=_ALERT_DEFAULTS.webhook_min_tier, description="Lowest tier sent to the generic webhook"
    )
    slack_min_tier: Tier = Field(default=_ALERT_DEFAULTS.slack_min_tier, description="Lowest tier sent to Slack")
    dedup_window_hours: float = Field(
        default=_ALERT_DEFAULTS.dedup_window_hours,
        gt=0,
        description="An open check alert is not re-sent at the same tier within this window",
    )
    give_up_after_hours: float = Field(
        default=_ALERT_DEFAULTS.give_up_after_hours,
        gt=0,
        le=24 * 30,  # the sensor reads alert rows 90 days back
        description="An undelivered alert is retried on later ticks until this long after its first attempt",
    )
    attempts: int = Field(default=_ALERT_DEFAULTS.attempts, ge=1, le=5, description="POST attempts per alert")
    timeout_seconds: float = Field(default=_ALERT_DEFAULTS.timeout_seconds, gt=0, le=30, description="POST timeout")
    backoff_seconds: float = Field(
        default=_ALERT_DEFAULTS.backoff_seconds, ge=0, le=10, description="Sleep before the 2nd attempt; doubles"
    )

    def settings(self) -> AlertSettings:
        # The resource's config fields are the settings' fields, by name.
        return AlertSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(AlertSettings)})


def warehouse_resource() -> WarehouseResource:
    """``$MONITORING_WAREHOUSE_URL`` through dg.EnvVar (kept out of the UI), else the demo DuckDB file."""
    if WAREHOUSE_URL_ENV in os.environ:
        return WarehouseResource(url=dg.EnvVar(WAREHOUSE_URL_ENV))
    return WarehouseResource(url=DEFAULT_WAREHOUSE_URL)


def registry_resource() -> RegistryResource:
    """``$MLFLOW_TRACKING_URI`` (and ``$MLFLOW_REGISTRY_URI``) through dg.EnvVar, else the SQLite
    store under ``mlruns/`` in the project."""
    if TRACKING_URI_ENV in os.environ:
        registry_uri = dg.EnvVar(REGISTRY_URI_ENV) if REGISTRY_URI_ENV in os.environ else None
        return RegistryResource(tracking_uri=dg.EnvVar(TRACKING_URI_ENV), registry_uri=registry_uri)
    return RegistryResource()


def alerts_resource() -> AlertsResource:
    """The webhooks named by ``$MONITORING_ALERT_WEBHOOK_URL`` / ``$MONITORING_SLACK_WEBHOOK_URL``
    (through dg.EnvVar), when set; otherwise alerts go to the Dagster log only."""
    return AlertsResource(
        webhook_url=dg.EnvVar(WEBHOOK_URL_ENV) if WEBHOOK_URL_ENV in os.environ else None,
        slack_webhook_url=dg.EnvVar(SLACK_WEBHOOK_URL_ENV) if SLACK_WEBHOOK_URL_ENV in os.environ else None,
    )


# The variables the resources are built from (their values are read at run time, through dg.EnvVar).
_RESOURCE_ENV = (WAREHOUSE_URL_ENV, TRACKING_URI_ENV, REGISTRY_URI_ENV, WEBHOOK_URL_ENV, SLACK_WEBHOOK_URL_ENV)


def environment_resources() -> tuple[WarehouseResource, RegistryResource, AlertsResource]:
    """The warehouse, MLflow and alerts resources from the environment (README), the very same
    objects for the same variables: ``dg.Definitions.merge`` takes two resources under one key
    only when they are one object, and every ``MonitorComponent`` of a dg project brings them."""
    return _environment_resources(tuple(name in os.environ for name in _RESOURCE_ENV))


@functools.cache
def _environment_resources(_set: tuple[bool, ...]) -> tuple[WarehouseResource, RegistryResource, AlertsResource]:
    return warehouse_resource(), registry_resource(), alerts_resource()
