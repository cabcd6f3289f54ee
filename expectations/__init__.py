"""Data quality: Great Expectations suites (``expectations/<monitor>.json``) and their runner.

Public API (pinned by ``tests/test_quality_suite.py``). Building definitions needs only the suite
files: the runner and the generator, which bring SQLAlchemy, are imported on first use (PEP 562),
and Great Expectations itself only when a suite runs. That keeps the code location's start light
(``tests/test_definitions.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from expectations._results import DayQuality, Outcome
from expectations._suite import (
    SEVERITIES,
    SUITES_DIR_ENV,
    Suite,
    SuiteExpectation,
    find_suite,
    load_suite,
    parse_suite,
    spec_columns,
    suite_path,
    suites_dir,
)

if TYPE_CHECKING:
    from expectations._generate import generate_suite
    from expectations._runner import CHUNK_ROWS, MAX_ROWS, blocked_days, check_days, validate_days

__all__ = [
    "SEVERITIES",
    "SUITES_DIR_ENV",
    "Suite",
    "SuiteExpectation",
    "find_suite",
    "load_suite",
    "parse_suite",
    "spec_columns",
    "suite_path",
    "suites_dir",
    "generate_suite",
    "CHUNK_ROWS",
    "MAX_ROWS",
    "DayQuality",
    "Outcome",
    "blocked_days",
    "check_days",
    "validate_days",
]

_STEP_TIME = {
    "generate_suite": "_generate",
    "CHUNK_ROWS": "_runner",
    "MAX_ROWS": "_runner",
    "blocked_days": "_runner",
    "check_days": "_runner",
    "validate_days": "_runner",
}


def __getattr__(name: str) -> Any:
    module = _STEP_TIME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
