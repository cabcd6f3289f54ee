"""Operational health: the ``operations`` asset and its per-day ``slo`` check (the spec's ``operations`` block)."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from monitoring_assets._common import MonitorKeys, StepEvents, daily_checked_asset, step_audit, step_days
from monitoring_assets._day_checks import DayVerdict, combined_verdict, day_check_events
from monitoring_assets.core.levels import Level
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets.core.operations import SloVerdict  # numpy: step time only

CHECK_NAME = "slo"


def operations_key(spec: MonitorSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.name, "operations"])


def slo_verdict(verdicts: "Sequence[SloVerdict]") -> DayVerdict:
    """The worst SLO of the day; every failing one named. Without SLOs: OK, with the day's numbers shown."""
    if not verdicts:
        return DayVerdict(Level.OK, "no SLO set (operations.slo)")
    return combined_verdict([(v.level, v.reason) for v in verdicts], f"{len(verdicts)} SLO(s) met")


def build_operations_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys
) -> dg.Definitions:
    ops = spec.operations
    assert ops is not None
    key = operations_key(spec)
    measured = [c for c in (ops.latency_column, ops.status_column) if c]

    @daily_checked_asset(
        spec=spec,
        partitions=partitions,
        key=key,
        deps=[keys.daily_profile],
        kinds={"sql"},
        check=(
            CHECK_NAME,
            "WARN / ERROR on a day when an operational metric (latency p50/p95/p99, error rate) is above its limit "
            "in operations.slo; not evaluated under operations.min_requests rows.",
        ),
        description=f"Operational health of {spec.name} from `{spec.source.table}` ({', '.join(measured)}): request "
        "count, latency p50/p95/p99 and error rate per day, aggregated in the warehouse. Rows in "
        "monitoring.operations_metrics.",
    )
    def operations(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from monitoring_assets import _pipeline  # noqa: PLC0415  (step time: monitoring_assets/_common.py)

        days = step_days(context)
        with warehouse.open() as wh:
            run = _pipeline.compute_operations(wh, spec, days, step_audit(context, spec))
        for day, values in run.metrics.items():
            meta: dict[str, dg.RawMetadataValue] = {
                name: dg.MetadataValue.float(value) for name, value in values.items() if name != "request_count"
            }
            meta["request_count"] = dg.MetadataValue.int(int(values["request_count"]))
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        yield dg.MaterializeResult()
        yield from day_check_events(context, key, {CHECK_NAME: {d: slo_verdict(v) for d, v in run.verdicts.items()}})

    return dg.Definitions(assets=[operations])
