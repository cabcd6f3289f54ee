"""Data quality: Great Expectations suites (``expectations/<monitor>.json``) and their runner.

Public API (pinned by ``tests/test_quality_suite.py``). Great Expectations itself is imported
only when a suite runs, so importing this package (and loading definitions) stays cheap.
"""

from __future__ import annotations

from expectations._generate import generate_suite
from expectations._results import DayQuality, Outcome
from expectations._runner import CHUNK_ROWS, MAX_ROWS, blocked_days, check_days, validate_days
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
