"""The ``monitoring_report`` asset: the HTML report of the run's days."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import time
from collections.abc import Sequence

import dagster as dg

from monitoring_assets._common import POOL, step_days
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

REPORT_MIN_DAYS = 30  # a one-day run's report still shows the month before it


def build_report_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, deps: Sequence[dg.AssetKey]
) -> dg.Definitions:
    """``monitoring_report``: the HTML report (``monitoring_assets.report``) of the run's days, at
    least the last REPORT_MIN_DAYS, linked by path from each day's metadata."""

    @dg.asset(
        key=dg.AssetKey([spec.name, "monitoring_report"]),
        deps=list(deps),
        group_name=spec.name,
        kinds={"html"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"One self-contained HTML report of {spec.name} (summary, per-day verdicts, pictures, drift, "
        f"performance, fairness, data quality) for the run's days, from the metric tables alone; at least the "
        f"last {REPORT_MIN_DAYS} days. Written under $MONITORING_REPORTS_DIR (default data/reports).",
    )
    def monitoring_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        # Imported here: the report draws with matplotlib, too slow to load with the code location.
        from monitoring_assets.report import reports_dir, write_report  # noqa: PLC0415

        days = step_days(context)
        last = max(days)
        first = max(min(*days, last - dt.timedelta(days=REPORT_MIN_DAYS - 1)), spec.partitions.start_date)
        started = time.monotonic()
        with warehouse.open() as wh:
            path = write_report(wh, spec, first, last, reports_dir()).resolve()
        context.log.info(f"report of {first}..{last} written to {path} in {time.monotonic() - started:.1f}s")
        for day in days:
            context.add_asset_metadata(
                {"report": dg.MetadataValue.path(str(path)), "report_days": f"{first}..{last}"},
                partition_key=day.isoformat(),
            )
        return dg.MaterializeResult()

    return dg.Definitions(assets=[monitoring_report])
