"""The demo: synthetic credit scoring in a DuckDB warehouse, monitored end to end (`make demo`)."""

from monitoring_assets._readback import DaySummary, day_summaries
from monitoring_assets.demo.data import (
    CONCEPT_DAY,
    CORRELATION_DAY,
    DRIFT_DAY,
    FAIRNESS_DAY,
    LABEL_DELAY,
    QUALITY_BREAK_DAY,
    SLOW_DAY,
    DemoConfig,
    generate,
    write_duckdb,
)
from monitoring_assets.demo.run import run_demo

__all__ = [
    "CONCEPT_DAY",
    "CORRELATION_DAY",
    "DRIFT_DAY",
    "FAIRNESS_DAY",
    "LABEL_DELAY",
    "QUALITY_BREAK_DAY",
    "SLOW_DAY",
    "DaySummary",
    "DemoConfig",
    "day_summaries",
    "generate",
    "run_demo",
    "write_duckdb",
]
