"""Suites on disk: ``expectations/<monitor>.json``, Great Expectations 1.x ExpectationSuite JSON.

A suite is validated when definitions load (``load_suite``): the JSON shape, a severity in
``meta`` for every expectation, and every column it names against the monitor spec. Any problem is
one line naming the file and the expectation::

    expectations/credit_default.json: expectations[7] (expect_column_values_to_be_between):
    column 'incme' is not a column of monitor 'credit_default' (it names: age, ...)

Every expectation is also built with Great Expectations' own models (type and keyword arguments,
``check_with_great_expectations``), with the same one-line errors, when the suite runs: before
any row is read. Not at load: importing Great Expectations takes seconds, and every run and step
process loads the code location again.

A monitor without a suite file has no data-quality check.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring_assets.errors import SpecError
from monitoring_assets.spec import MonitorSpec

SUITES_DIR_ENV = "MONITORING_EXPECTATIONS_DIR"
SEVERITIES = ("critical", "warning", "info")  # most severe first
INDEX_KEY = "monitoring_index"  # added to each expectation's meta while it runs, to map results back

_SUITE_KEYS = {"name", "id", "expectations", "meta", "notes"}
_EXPECTATION_KEYS = {"type", "kwargs", "meta", "severity", "id", "notes", "description"}
# Keyword arguments that name one column, or a list of columns, of the validated rows.
_COLUMN_KEYS = ("column", "column_A", "column_B")
_COLUMN_LIST_KEYS = ("column_list",)


def suites_dir() -> Path:
    """``$MONITORING_EXPECTATIONS_DIR`` or ``expectations/`` in the current directory."""
    return Path(os.environ.get(SUITES_DIR_ENV, "expectations"))


def suite_path(monitor: str, directory: Path | str | None = None) -> Path:
    return (Path(directory) if directory is not None else suites_dir()) / f"{monitor}.json"


def spec_columns(spec: MonitorSpec) -> list[str]:
    """The columns of the source table that the spec names (a suite may use only these)."""
    names = [
        spec.source.timestamp_column,
        spec.source.id_column,
        spec.source.model_version_column,
        *spec.features.numeric,
        *spec.features.categorical,
        *spec.prediction.columns,
        *spec.slices,
        spec.labels.label_column if spec.labels is not None and spec.labels.table is None else None,
    ]
    return list(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class SuiteExpectation:
    """One expectation of a suite, as written in the file."""

    index: int  # position in the file's ``expectations`` list
    type: str
    kwargs: Mapping[str, Any]
    severity: str  # critical, warning or info (``meta.severity``)
    meta: Mapping[str, Any]
    raw: Mapping[str, Any]

    @property
    def column(self) -> str | None:
        value = self.kwargs.get("column")
        return value if isinstance(value, str) else None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of the validated rows the expectation names."""
        out = [v for k in _COLUMN_KEYS if isinstance(v := self.kwargs.get(k), str)]
        if not self.type.startswith("expect_table_"):
            for key in _COLUMN_LIST_KEYS:
                value = self.kwargs.get(key)
                if isinstance(value, list):
                    out += [v for v in value if isinstance(v, str)]
        return tuple(out)

    @property
    def label(self) -> str:
        """``expectations[3] (expect_column_values_to_not_be_null, income)``: names it in messages."""
        column = f", {self.column}" if self.column else ""
        return f"expectations[{self.index}] ({self.type}{column})"

    def configuration(self) -> dict[str, Any]:
        """The Great Expectations configuration, with the index in ``meta`` to map results back."""
        config = {k: v for k, v in self.raw.items() if k not in ("id",)}
        config["meta"] = {**self.meta, INDEX_KEY: self.index}
        config["severity"] = self.severity
        return config


@dataclass(frozen=True)
class Suite:
    """A monitor's suite: its expectations in file order, and a digest of the file's bytes."""

    name: str
    path: Path
    expectations: tuple[SuiteExpectation, ...]
    digest: str  # first 16 hex digits of the file's SHA-256, stored with every result row

    @property
    def columns(self) -> set[str]:
        return {c for e in self.expectations for c in e.columns}

    def counts(self) -> dict[str, int]:
        """Expectations per severity."""
        return {s: sum(e.severity == s for e in self.expectations) for s in SEVERITIES}


def _fail(path: Path, message: str) -> SpecError:
    return SpecError(f"{path}: {message}")


def parse_suite(data: object, spec: MonitorSpec, path: Path, digest: str = "") -> Suite:
    """Validate a parsed suite against ``spec``; errors name the file and the expectation on one line."""
    if not isinstance(data, dict):
        raise _fail(path, "a suite is a JSON object with 'name' and 'expectations'")
    unknown = sorted(set(data) - _SUITE_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)} (a suite has {', '.join(sorted(_SUITE_KEYS))})")
    if data.get("name") != spec.name:
        raise _fail(path, f"name: {data.get('name')!r} is not the monitor's name {spec.name!r}")
    items = data.get("expectations")
    if not isinstance(items, list):
        raise _fail(path, "expectations: must be a list")
    known = spec_columns(spec)
    expectations: list[SuiteExpectation] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        expectation = _parse_expectation(i, item, spec, known, path)
        # Great Expectations keeps one of two expectations that differ only in meta.
        key = json.dumps([expectation.type, expectation.kwargs], sort_keys=True, default=str)
        if key in seen:
            raise _fail(path, f"{expectation.label}: repeats expectations[{seen[key]}] (same type and kwargs)")
        seen[key] = i
        expectations.append(expectation)
    return Suite(spec.name, path, tuple(expectations), digest)


def _parse_expectation(i: int, item: object, spec: MonitorSpec, known: list[str], path: Path) -> SuiteExpectation:
    where = f"expectations[{i}]"
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise _fail(path, f"{where}: must be an object with a 'type'")
    where = f"{where} ({item['type']})"
    unknown = sorted(set(item) - _EXPECTATION_KEYS)
    if unknown:
        raise _fail(path, f"{where}: unknown key(s) {', '.join(unknown)}")
    kwargs = item.get("kwargs", {})
    meta = item.get("meta", {})
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise _fail(path, f"{where}: 'kwargs' and 'meta' must be objects")
    severity = meta.get("severity")
    if severity not in SEVERITIES:
        raise _fail(path, f"{where}: meta.severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    if "severity" in item and item["severity"] != severity:
        raise _fail(
            path, f"{where}: severity {item['severity']!r} disagrees with meta.severity {severity!r} (keep them equal)"
        )
    expectation = SuiteExpectation(i, item["type"], kwargs, str(severity), meta, item)
    for column in expectation.columns:
        if column not in known:
            raise _fail(
                path,
                f"{expectation.label}: column {column!r} is not a column of monitor {spec.name!r} "
                f"(it names: {', '.join(known)})",
            )
    return expectation


def check_with_great_expectations(suite: Suite) -> None:
    """Build every expectation with Great Expectations' own models: unknown types and keyword
    arguments fail here, before a run reads any row, with one line naming the file and the
    expectation."""
    from expectations._gx import expectation_from_config  # noqa: PLC0415  (GE: seconds to import, runs only)

    for e in suite.expectations:
        try:
            expectation_from_config(e.configuration())
        except Exception as error:  # any Great Expectations complaint becomes one line
            reason = " ".join(str(error).split())
            raise _fail(suite.path, f"{e.label}: not a valid Great Expectations expectation: {reason}") from None


def load_suite(path: Path | str, spec: MonitorSpec) -> Suite:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _fail(path, f"cannot read suite: {e.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _fail(path, f"line {e.lineno}: not valid JSON: {e.msg}") from None
    return parse_suite(data, spec, path, hashlib.sha256(raw).hexdigest()[:16])


def find_suite(spec: MonitorSpec, directory: Path | str | None = None) -> Suite | None:
    """The monitor's suite from ``<directory>/<name>.json`` (default ``suites_dir()``); None when
    there is no such file (the monitor then has no data-quality check)."""
    path = suite_path(spec.name, directory)
    return load_suite(path, spec) if path.is_file() else None
