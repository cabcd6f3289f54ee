"""Multivariate drift: the ``multivariate_drift`` asset and its per-day check (``drift.multivariate``)."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from typing import TYPE_CHECKING

import dagster as dg

from expectations import Suite
from monitoring_assets._common import MonitorKeys, StepEvents, daily_checked_asset, step_audit, step_days
from monitoring_assets._day_checks import DayVerdict, blocked_verdict, day_check_events, fmt
from monitoring_assets._quality_checks import blocked_metadata
from monitoring_assets.core.levels import Level
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets.core.multivariate import MultivariateVerdict  # numpy: step time only

CHECK_NAME = "no_multivariate_drift"


def multivariate_key(spec: MonitorSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.name, "multivariate_drift"])


def multivariate_verdict(v: "MultivariateVerdict") -> DayVerdict:
    """WARN when the day's reconstruction error is above its threshold."""
    meta = {"reconstruction_error": dg.MetadataValue.float(v.value), "threshold": dg.MetadataValue.float(v.threshold)}
    if not v.evaluated:
        return DayVerdict.not_evaluated(v.reason or "no rows", {"threshold": meta["threshold"]})
    text = f"reconstruction error {fmt(v.value)} {'>' if v.drifted else '<='} threshold {fmt(v.threshold)}"
    if v.drifted:
        return DayVerdict(Level.WARN, f"multivariate drift: {text} (how the features move together changed)", meta)
    return DayVerdict(Level.OK, f"no multivariate drift: {text}", meta)


def build_multivariate_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys, suite: Suite | None
) -> dg.Definitions:
    mv = spec.drift.multivariate
    assert mv is not None
    key = multivariate_key(spec)

    @daily_checked_asset(
        spec=spec,
        partitions=partitions,
        key=key,
        deps=[keys.daily_profile, keys.reference_profile],
        kinds={"sql", "numpy"},
        check=(
            CHECK_NAME,
            "WARN on a day when the mean squared PCA reconstruction error of the standardized numeric features is "
            "above its threshold: their joint behaviour changed, even if no marginal did.",
        ),
        description=f"Multivariate drift of {spec.name}: PCA fitted on the reference's standardized numeric "
        f"features ({mv.variance_share:.0%} of their variance), each day's mean squared reconstruction error from "
        "its first and second moments, summed in the warehouse. Rows in monitoring.drift_metrics "
        "(scope 'multivariate', feature '__multivariate__') and monitoring.profile_moments.",
    )
    def multivariate_drift(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from expectations import blocked_days  # noqa: PLC0415  (step time: monitoring_assets/_common.py)
        from monitoring_assets import _pipeline  # noqa: PLC0415

        days = step_days(context)
        with warehouse.open() as wh:
            blocked = blocked_days(wh, spec, days) if suite else []
            todo = [d for d in days if d not in blocked]
            run = _pipeline.compute_multivariate(wh, spec, todo, step_audit(context, spec)) if todo else None
        verdicts = {d: multivariate_verdict(v) for d, v in (run.verdicts if run else {}).items()}
        if run is not None:
            if run.excluded:
                context.log.warning(
                    f"left out of multivariate drift (constant or empty in the reference): {', '.join(run.excluded)}"
                )
            for day, v in run.verdicts.items():
                meta = dict(verdicts[day].metadata) | {
                    "n_components": dg.MetadataValue.int(run.fitted.n_components_),
                    "rows": dg.MetadataValue.int(v.n_rows),
                }
                context.add_asset_metadata(meta, partition_key=day.isoformat())
        for day in blocked:
            context.add_asset_metadata(blocked_metadata(day), partition_key=day.isoformat())
        yield dg.MaterializeResult()
        yield from day_check_events(context, key, {CHECK_NAME: verdicts | {d: blocked_verdict(d) for d in blocked}})

    return dg.Definitions(assets=[multivariate_drift])
