"""Data quality: Great Expectations suites (``expectations/<monitor>.json``) and their runner.

Public API (pinned by ``tests/test_quality_suite.py``). Building definitions needs only the suite
files: the runner and the generator, which bring SQLAlchemy, are imported on first use (PEP 562),
and Great Expectations itself only when a suite runs. That keeps the code location's start light
(``tests/test_definitions.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from monitoring_assets._lazy import lazy_attributes

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

__getattr__ = lazy_attributes(
    __name__,
    {
        "generate_suite": "expectations._generate",
        "CHUNK_ROWS": "expectations._runner",
        "MAX_ROWS": "expectations._runner",
        "blocked_days": "expectations._runner",
        "check_days": "expectations._runner",
        "validate_days": "expectations._runner",
    },
)
