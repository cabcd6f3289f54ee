"""Operational health: the ``operations`` asset and its per-day ``slo`` check (the spec's ``operations`` block)."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from monitoring_assets._common import POOL, MonitorKeys, StepEvents, step_audit, step_days
from monitoring_assets._day_checks import DayVerdict, day_check_events, graded
from monitoring_assets.core.levels import Level, worst
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
    level = worst(v.level for v in verdicts)
    failing = [v.reason for v in verdicts if v.level.failed]
    unjudged = list(dict.fromkeys(v.reason for v in verdicts if not v.level.evaluated))  # one "too few requests"
    if level is Level.NOT_EVALUATED:
        return graded(level, "; ".join(unjudged))
    text = "; ".join(failing) if failing else f"{len(verdicts)} SLO(s) met"
    if unjudged:
        text += f" (not evaluated: {'; '.join(unjudged)})"
    return graded(level, text)


def build_operations_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys
) -> dg.Definitions:
    ops = spec.operations
    assert ops is not None
    key = operations_key(spec)
    measured = [c for c in (ops.latency_column, ops.status_column) if c]

    @dg.asset(
        key=key,
        deps=[keys.daily_profile],
        group_name=spec.name,
        kinds={"sql"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                partitions_def=partitions,
                description="WARN / ERROR on a day when an operational metric (latency p50/p95/p99, error rate) is "
                "above its limit in operations.slo; not evaluated under operations.min_requests rows.",
            )
        ],
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
