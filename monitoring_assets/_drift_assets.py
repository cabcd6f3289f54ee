"""Drift: the ``feature_drift`` and ``prediction_drift`` assets and their per-day checks."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from expectations import Suite
from monitoring_assets._common import POOL, MonitorKeys, StepEvents, step_audit, step_days
from monitoring_assets._day_checks import (
    DayVerdict,
    blocked_verdict,
    dataset_drift_verdict,
    day_check_events,
    feature_drift_verdict,
)
from monitoring_assets._metadata import PICTURE_DAYS, distribution_pictures, drift_metadata, heatmap_picture
from monitoring_assets._quality_checks import blocked_metadata
from monitoring_assets.core.levels import Level
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets.core.evaluate import DatasetDrift  # numpy: step time only

# Up to this many days a run logs each day's drift; a longer one logs one line naming the drifted days.
SUMMARY_DAYS = 7


@dataclass(frozen=True)
class DriftCheck:
    """A check of a drift asset: its name, what it means, and the day's verdict from the day's drift."""

    name: str
    description: str
    verdict: "Callable[[DatasetDrift], DayVerdict]"


def build_drift_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys, suite: Suite | None
) -> dg.Definitions:
    """``feature_drift`` (checks ``no_feature_drift``, ``no_dataset_drift``) and ``prediction_drift``."""
    name = spec.name
    share = spec.drift.drift_share
    feature_drift = _drift_asset(
        spec,
        partitions,
        keys=(keys.feature_drift, keys.daily_profile, keys.reference_profile),
        scope="feature",
        checks=[
            DriftCheck(
                "no_feature_drift",
                "WARN on a day when any single feature drifts; names each drifted feature with its value and "
                "threshold.",
                lambda r: feature_drift_verdict(r, "feature drift", Level.WARN),
            ),
            DriftCheck(
                "no_dataset_drift",
                f"ERROR on a day when the share of drifted features >= {share}.",
                dataset_drift_verdict,
            ),
        ],
        description=f"Drift of each feature of {name} against the reference; rows in monitoring.drift_metrics "
        f"(scope 'feature'). Per day: the distributions of the drifted features (last {PICTURE_DAYS} days of a "
        "run); on a run's last day: a day x feature heat-map.",
        suite=suite,
    )
    prediction_drift = _drift_asset(
        spec,
        partitions,
        keys=(keys.prediction_drift, keys.daily_profile, keys.reference_profile),
        scope="prediction",
        checks=[
            DriftCheck(
                "no_prediction_drift",
                f"WARN on a day when a prediction column (`{'`, `'.join(spec.prediction_drift_columns)}`) drifts.",
                lambda r: feature_drift_verdict(r, "prediction drift", Level.WARN),
            )
        ],
        description=f"Drift of {name}'s prediction score against the reference; "
        "rows in monitoring.drift_metrics (scope 'prediction'). Per day: the score distribution.",
        suite=suite,
    )
    return dg.Definitions(assets=[feature_drift, prediction_drift])


def _drift_asset(
    spec: MonitorSpec,
    partitions: dg.PartitionsDefinition,
    *,
    keys: tuple[dg.AssetKey, dg.AssetKey, dg.AssetKey],
    scope: str,
    checks: Sequence[DriftCheck],
    description: str,
    suite: Suite | None,
) -> dg.AssetsDefinition:
    """``feature_drift`` or ``prediction_drift`` (``scope``), its checks and pictures."""
    key, daily_key, ref_key = keys

    @dg.asset(
        key=key,
        deps=[daily_key, ref_key],
        group_name=spec.name,
        kinds={"scipy"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(c.name, asset=key, description=c.description, partitions_def=partitions) for c in checks
        ],
        description=description,
    )
    def _drift(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from expectations import blocked_days  # noqa: PLC0415  (step time: monitoring_assets/_common.py)
        from monitoring_assets import _pipeline  # noqa: PLC0415

        days = step_days(context)
        with warehouse.open() as wh:
            # Days whose critical expectations failed are not evaluated (in a one-day run the
            # blocking data_quality check stops the run before this step).
            blocked = blocked_days(wh, spec, days) if suite else []
            todo = [d for d in days if d not in blocked]
            run = _pipeline.compute_drift_run(wh, spec, todo, scope, step_audit(context, spec)) if todo else None
        results = run.results if run else {}
        drawn = set(sorted(results)[-PICTURE_DAYS:])
        for day in blocked:
            context.add_asset_metadata(blocked_metadata(day), partition_key=day.isoformat())
            context.log.warning(f"{day}: drift not evaluated, data quality failed critically")
        last = max(results, default=None)
        for day, result in results.items():
            meta = drift_metadata(result, scope == "feature")
            if run is not None and day in drawn:
                meta |= distribution_pictures(
                    result, run.reference, run.profiles[day], min_count=spec.fairness.min_slice_size, scope=scope
                )
            if scope == "feature" and day == last:
                meta |= heatmap_picture(results, spec.drift.drift_share)
            context.add_asset_metadata(meta, partition_key=day.isoformat())
            if not result.evaluated:
                context.log.warning(f"{day}: {scope} drift not evaluated: {result.reason}")
            elif len(days) <= SUMMARY_DAYS:
                context.log.info(
                    f"{day}: {result.n_drifted}/{result.n_features} drifted, dataset drift={result.drifted}"
                    + (f"; {result.reason}" if result.reason else "")
                )
        if len(days) > SUMMARY_DAYS:
            drifted = sorted(d for d, r in results.items() if r.evaluated and r.drifted)
            evaluated = sum(1 for r in results.values() if r.evaluated)
            # One line for a long run: each log line is an event in Dagster's storage (~20 ms in
            # SQLite), and every day's verdict is on its check and its metadata anyway.
            shown = ", ".join(d.isoformat() for d in drifted[:SUMMARY_DAYS])
            more = f" and {len(drifted) - SUMMARY_DAYS} more" if len(drifted) > SUMMARY_DAYS else ""
            context.log.info(
                f"{scope} drift on {len(drifted)} of {evaluated} evaluated day(s)"
                + (f": {shown}{more}" if drifted else "")
            )
        yield dg.MaterializeResult()
        blocked_verdicts = {d: blocked_verdict(d) for d in blocked}
        yield from day_check_events(
            context, key, {c.name: {d: c.verdict(r) for d, r in results.items()} | blocked_verdicts for c in checks}
        )

    return _drift
