"""Reading spec files and turning a spec into drift rules."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import ValidationError

from monitoring_assets.core.catalog import DRIFT_TRAITS
from monitoring_assets.errors import SpecError
from monitoring_assets.spec._model import (
    CalibratedThresholdSpec,
    ConstantThresholdSpec,
    MonitorSpec,
    ThresholdSpec,
)

if TYPE_CHECKING:
    from monitoring_assets.core.evaluate import ColumnRule
    from monitoring_assets.core.thresholds import Threshold

SPECS_DIR_ENV = "MONITORING_SPECS_DIR"
# libyaml's safe loader when PyYAML has it: the pure-Python one took 18 ms a spec, a third of
# loading a code location of 50 monitors. Same documents, same values.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# A model validator's message may start with the field it is about, relative to the model
# ("start_date: ..."): that field then joins the location instead of repeating in the reason.
_SUBFIELD = re.compile(r"^([A-Za-z_][\w.]*): ")


def _format_errors(path: Path | str, error: ValidationError) -> str:
    parts = []
    for e in error.errors():
        loc = [str(p) for p in e["loc"] if not str(p).startswith(("function-", "constant", "calibrated"))]
        reason = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            reason = "unknown key"
        if e["type"] == "value_error" and (sub := _SUBFIELD.match(reason)):
            loc.append(sub.group(1))
            reason = reason[sub.end() :]
        parts.append(f"{'.'.join(loc) or '<root>'}: {' '.join(reason.split())}")
    return f"{path}: " + "; ".join(parts)


def parse_spec(data: object, source: Path | str | None = None) -> MonitorSpec:
    """Validate a parsed YAML document; errors name the source, the field and the reason on one
    line. ``source`` (the file) is remembered for later errors (``MonitorSpec.origin``)."""
    try:
        spec = MonitorSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format_errors(source or "<spec>", e)) from None
    return spec.with_origin(str(source)) if source is not None else spec


def load_spec(path: Path | str) -> MonitorSpec:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_SafeLoader)  # noqa: S506 (a safe loader, C or Python)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read spec: {e.strerror}") from None
    return parse_spec(data, path)


def specs_dir() -> Path:
    """``$MONITORING_SPECS_DIR`` or ``monitors/`` in the current directory."""
    return Path(os.environ.get(SPECS_DIR_ENV, "monitors"))


def load_specs(directory: Path | str | None = None) -> list[MonitorSpec]:
    """Every ``*.yaml`` / ``*.yml`` spec in ``directory`` (sorted by file name); names must be unique."""
    directory = Path(directory) if directory is not None else specs_dir()
    if not directory.is_dir():
        raise SpecError(f"{directory}: monitor spec directory not found (set {SPECS_DIR_ENV})")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    specs = [load_spec(f) for f in files]
    seen: dict[str, Path] = {}
    for spec, f in zip(specs, files, strict=True):
        if spec.name in seen:
            raise SpecError(f"{f}: name: monitor {spec.name!r} is already defined in {seen[spec.name]}")
        seen[spec.name] = f
    return specs


def _threshold(spec: float | ThresholdSpec) -> Threshold:
    # Step time (numpy): the spec is read while definitions are built, the rules when a step runs.
    from monitoring_assets.core.thresholds import CalibratedThreshold, ConstantThreshold  # noqa: PLC0415

    if isinstance(spec, CalibratedThresholdSpec):
        return CalibratedThreshold(k=spec.k)
    if isinstance(spec, ConstantThresholdSpec):
        return ConstantThreshold(spec.value)
    return ConstantThreshold(float(spec))


def drift_columns(spec: MonitorSpec) -> list[tuple[str, Literal["numeric", "categorical"]]]:
    """The columns drift is computed on, with their kind, in the order of :func:`drift_rules`'
    keys: the numeric columns (features, then the prediction score), then the categorical ones.
    Numpy-free, for building definitions."""
    return [(c, "numeric") for c in spec.numeric_columns] + [(c, "categorical") for c in spec.categorical_columns]


def drift_rules(spec: MonitorSpec) -> dict[str, ColumnRule]:
    """Method and threshold for every feature (in spec order) and the prediction score.

    Precedence: per-feature override, then the method's entry in ``drift.thresholds``, then the
    method's registered default threshold.
    """
    from monitoring_assets.core.evaluate import ColumnRule  # noqa: PLC0415  (step time, see _threshold)

    rules: dict[str, ColumnRule] = {}
    for column, kind in drift_columns(spec):
        override = spec.drift.features.get(column)
        method = (override.method if override else None) or getattr(spec.drift.methods, kind)
        threshold = override.threshold if override and override.threshold is not None else None
        if threshold is None:
            threshold = spec.drift.thresholds.get(method, DRIFT_TRAITS[method].default_threshold)
        rules[column] = ColumnRule(method, _threshold(threshold))
    return rules
