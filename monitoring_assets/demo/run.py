"""Materialize the demo monitor through Dagster and summarize what it found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from monitoring_assets._factory import WAREHOUSE_KEY, build_monitor_definitions
from monitoring_assets.demo.data import DemoConfig, generate, write_duckdb
from monitoring_assets.spec import MonitorSpec
from resources import _store
from resources.warehouse import Warehouse, WarehouseResource


@dataclass(frozen=True)
class DaySummary:
    day: dt.date
    rows: int
    drifted_features: tuple[str, ...]
    drift_share: float
    dataset_drift: bool
    prediction_drift: bool


def run_demo(
    *, spec: MonitorSpec, warehouse_path: Path, instance: dg.DagsterInstance, config: DemoConfig | None = None
) -> list[DaySummary]:
    """Write fresh demo tables, materialize the reference, then every daily partition in one run."""
    config = config or DemoConfig()
    write_duckdb(generate(config), warehouse_path)
    url = f"duckdb:///{warehouse_path}"
    defs = dg.Definitions.merge(
        build_monitor_definitions(spec=spec),
        dg.Definitions(resources={WAREHOUSE_KEY: WarehouseResource(url=url)}, executor=dg.in_process_executor),
    )
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    ref = defs.resolve_job_def(f"{spec.name}_reference").execute_in_process(instance=instance, run_config=quiet)
    assert ref.success
    first = spec.partitions.start_date
    last = first + dt.timedelta(days=config.days - 1)
    daily = defs.resolve_job_def(f"{spec.name}_daily_monitoring").execute_in_process(
        instance=instance,
        run_config=quiet,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert daily.success
    return day_summaries(Warehouse(url), spec.name)


def day_summaries(wh: Warehouse, monitor: str) -> list[DaySummary]:
    """Per-day rows and drift verdicts, read back from the metric tables."""
    p, d = _store.profile_metrics.c, _store.drift_metrics.c
    with wh.begin() as conn:
        rows = dict(
            conn.execute(
                sa.select(p.partition_date, p.value).where(
                    (p.monitor == monitor)
                    & (p.profile == "daily")
                    & (p.column_name == _store.TABLE_ROW)
                    & (p.metric == "row_count")
                )
            ).fetchall()
        )
        drift = conn.execute(
            sa.select(d.partition_date, d.scope, d.feature, d.value, d.drifted)
            .where(d.monitor == monitor)
            .order_by(d.partition_date, d.feature)
        ).fetchall()
    features: dict[dt.date, list[str]] = {}
    share: dict[dt.date, float] = {}
    dataset: dict[dt.date, bool] = {}
    prediction: dict[dt.date, bool] = {}
    for day, scope, feature, value, drifted in drift:
        features.setdefault(day, [])
        if feature == _store.DATASET_ROW:
            share[day], dataset[day] = float("nan") if value is None else value, bool(drifted)
        elif scope == "prediction":
            prediction[day] = bool(drifted)
        elif drifted:
            features[day].append(feature)
    return [
        DaySummary(
            day,
            int(rows.get(day, 0)),
            tuple(names),
            share.get(day, float("nan")),
            dataset.get(day, False),
            prediction.get(day, False),
        )
        for day, names in sorted(features.items())
    ]


def format_summary(summaries: list[DaySummary]) -> str:
    lines = [f"{'day':<10}  {'rows':>5}  {'share':>5}  {'dataset':<7}  {'score':<5}  drifted features", "-" * 78]
    for s in summaries:
        lines.append(
            f"{s.day.isoformat():<10}  {s.rows:>5}  {s.drift_share:>5.2f}  "
            f"{'DRIFT' if s.dataset_drift else 'ok':<7}  {'DRIFT' if s.prediction_drift else 'ok':<5}  "
            f"{', '.join(s.drifted_features) or '-'}"
        )
    return "\n".join(lines)
