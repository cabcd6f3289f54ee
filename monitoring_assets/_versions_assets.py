"""Model versions side by side: the ``version_comparison`` asset and its per-day check (the spec's ``versions``)."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from typing import TYPE_CHECKING

import dagster as dg

from monitoring_assets._common import MonitorKeys, StepEvents, daily_checked_asset, step_audit, step_days
from monitoring_assets._day_checks import DayVerdict, combined_verdict, day_check_events
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets._pipeline import VersionsDay  # numpy: step time only

CHECK_NAME = "newer_version_not_worse"


def versions_key(spec: MonitorSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.name, "version_comparison"])


def versions_verdict(day: "VersionsDay") -> DayVerdict:
    """The worst comparison of the day; without two versions or a shadow score, not evaluated."""
    if not day.comparisons:
        present = ", ".join(s.version for s in day.summaries) or "none"
        return DayVerdict.not_evaluated(f"one model version that day and no shadow score (versions: {present})")
    met = "; ".join(c.reason for c in day.comparisons if c.level.evaluated)
    return combined_verdict([(c.level, c.reason) for c in day.comparisons], met)


def build_versions_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys
) -> dg.Definitions:
    vs = spec.versions
    assert vs is not None
    key = versions_key(spec)
    deps = [keys.daily_profile, keys.reference_profile]

    @daily_checked_asset(
        spec=spec,
        partitions=partitions,
        key=key,
        deps=deps,
        kinds={"sql"},
        check=(
            CHECK_NAME,
            f"Fails ({vs.severity}) on a day when the newest model version (or a shadow score) is worse than the "
            f"incumbent (the live score) in the primary metric by more than {vs.tolerance}.",
        ),
        description=f"Model versions of {spec.name} side by side per day: each version's score distribution, "
        "positive rate and labeled metrics, and the score drift between the newest version and the incumbent "
        "(and each shadow score and the live one). Rows in monitoring.version_metrics.",
    )
    def version_comparison(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from monitoring_assets import _pipeline  # noqa: PLC0415  (step time: monitoring_assets/_common.py)

        days = step_days(context)
        with warehouse.open() as wh:
            results = _pipeline.compute_versions(wh, spec, days, step_audit(context, spec))
        for day, result in results.items():
            meta: dict[str, dg.RawMetadataValue] = {"versions": dg.MetadataValue.int(len(result.summaries))}
            for c in result.comparisons:
                tag = c.newer.replace(":", "_")
                meta[f"score_drift_{tag}"] = dg.MetadataValue.float(c.score_drift)
                meta[f"positive_rate_change_{tag}"] = dg.MetadataValue.float(c.positive_rate_change)
                meta[f"{c.metric}_change_{tag}"] = dg.MetadataValue.float(c.newer_value - c.older_value)
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        yield dg.MaterializeResult()
        yield from day_check_events(context, key, {CHECK_NAME: {d: versions_verdict(r) for d, r in results.items()}})

    return dg.Definitions(assets=[version_comparison])
