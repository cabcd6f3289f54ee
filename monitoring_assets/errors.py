"""One error hierarchy for the whole plugin; messages say what to do next."""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error this plugin raises on purpose."""


class SpecError(MonitorError):
    """A monitor spec (YAML) is invalid. The message names the file, the field and the reason."""


class ProfileError(MonitorError):
    """Profiles cannot be built or combined (mismatched bins, empty reference column, ...)."""


class WarehouseError(MonitorError):
    """The warehouse rejected a query or lacks a table/column the spec names."""


class RegistryError(MonitorError):
    """MLflow (tracking server, backend store or registry) failed; the message names the masked URI."""
