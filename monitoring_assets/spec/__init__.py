"""Monitor specs: pydantic models (no Dagster import) and their loading."""

from monitoring_assets.spec._load import SPECS_DIR_ENV, drift_rules, load_spec, load_specs, parse_spec
from monitoring_assets.spec._model import MonitorSpec

__all__ = ["SPECS_DIR_ENV", "MonitorSpec", "drift_rules", "load_spec", "load_specs", "parse_spec"]
