"""Business KPIs: the ``business_metrics`` asset and its per-day check (the spec's ``business_metrics``)."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from monitoring_assets._common import MonitorKeys, StepEvents, daily_checked_asset, step_audit, step_days
from monitoring_assets._day_checks import DayVerdict, combined_verdict, day_check_events
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets.core.business import BusinessVerdict  # numpy: step time only

CHECK_NAME = "business_limits"


def business_key(spec: MonitorSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.name, "business_metrics"])


def business_verdict(verdicts: "Sequence[BusinessVerdict]") -> DayVerdict:
    """The worst metric of the day; each one outside its limits named, each not evaluated said."""
    judged = sum(1 for v in verdicts if v.level.evaluated)
    return combined_verdict([(v.level, v.reason) for v in verdicts], f"{judged} metric(s) within their limits")


def build_business_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys
) -> dg.Definitions:
    key = business_key(spec)
    names = ", ".join(m.name for m in spec.business_metrics)

    @daily_checked_asset(
        spec=spec,
        partitions=partitions,
        key=key,
        deps=[keys.daily_profile],
        kinds={"sql"},
        check=(
            CHECK_NAME,
            "Fails (at each metric's severity) on a day when a business metric leaves its limits: fixed, or mean "
            "-/+ k std over the reference's days; not evaluated under guards.min_rows rows.",
        ),
        description=f"Business metrics of {spec.name} ({names}) per day, aggregated in the warehouse. Rows in "
        "monitoring.business_metrics; each metric is plotted from this asset's metadata.",
    )
    def business_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from monitoring_assets import _pipeline  # noqa: PLC0415  (step time: monitoring_assets/_common.py)

        days = step_days(context)
        with warehouse.open() as wh:
            verdicts = _pipeline.compute_business(wh, spec, days, step_audit(context, spec))
        for day, day_verdicts in verdicts.items():
            meta: dict[str, dg.RawMetadataValue] = {}
            for v in day_verdicts:
                meta[v.name] = dg.MetadataValue.float(v.value)
                meta[f"{v.name}_rows"] = dg.MetadataValue.int(v.n)
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        yield dg.MaterializeResult()
        yield from day_check_events(context, key, {CHECK_NAME: {d: business_verdict(v) for d, v in verdicts.items()}})

    return dg.Definitions(assets=[business_metrics])
