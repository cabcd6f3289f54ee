"""The demo: synthetic credit scoring in a DuckDB warehouse, monitored end to end (`make demo`)."""

from monitoring_assets.demo.data import (
    CONCEPT_START,
    DRIFT_START,
    FAIRNESS_START,
    LABEL_DELAY,
    DemoConfig,
    generate,
    write_duckdb,
)
from monitoring_assets.demo.run import DaySummary, day_summaries, run_demo

__all__ = [
    "CONCEPT_START",
    "DRIFT_START",
    "FAIRNESS_START",
    "LABEL_DELAY",
    "DaySummary",
    "DemoConfig",
    "day_summaries",
    "generate",
    "run_demo",
    "write_duckdb",
]
