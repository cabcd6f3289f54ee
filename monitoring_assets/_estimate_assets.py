"""Performance estimated without labels: the ``estimated_performance`` asset and its check
(binary classification with labels on the reference; ``monitoring_assets._estimation`` does the
work, ``monitoring_assets.core.estimate`` the statistics)."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import datetime as dt
import math
import time
from typing import TYPE_CHECKING, Any

import dagster as dg

from monitoring_assets._common import POOL, MonitorKeys, StepEvents, step_audit, step_days
from monitoring_assets._day_checks import day_check_events, graded_verdicts
from monitoring_assets._metadata import PERFORMANCE_CHECK_KEY, estimate_picture
from monitoring_assets.core.catalog import PRIMARY_METRIC
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from monitoring_assets._estimation import EstimatedDay

CHECK_NAME = "estimated_performance_vs_reference"
HISTORY_DAYS = 90  # days of the picture, through the run's last day
# The metrics estimated (monitoring_assets.core.estimate.ESTIMATED_METRICS, which imports numpy).
SHOWN = ("accuracy", "precision", "recall", "f1", "roc_auc")


def estimates_performance(spec: MonitorSpec) -> bool:
    """The asset exists for a binary classifier whose reference can carry labels."""
    return spec.prediction.task == "binary_classification" and spec.labels is not None


def _day_metadata(day: "EstimatedDay", realized: dict[str, float], enough: bool) -> dict[str, Any]:
    """Each estimate with its band as plotted numbers, the realized value beside it once the day
    has enough labels, and the expected confusion counts as a table."""
    meta: dict[str, Any] = {"n_scored": dg.MetadataValue.int(day.n_scored)}
    meta[PERFORMANCE_CHECK_KEY] = dg.MetadataValue.text(day.finding[0].value)
    est = day.estimate
    if est is None:
        meta["not_evaluated"] = dg.MetadataValue.text(day.finding[1])
        return meta
    lines = ["| metric | estimated | band | realized |", "|---|---|---|---|"]
    for m in SHOWN:
        v = est.values[m]
        seen = realized.get(m, math.nan) if enough else math.nan
        if math.isfinite(v):
            meta[f"estimated_{m}"] = dg.MetadataValue.float(float(f"{v:.4g}"))
            meta[f"estimated_{m}_lower"] = dg.MetadataValue.float(float(f"{est.lower(m):.4g}"))
            meta[f"estimated_{m}_upper"] = dg.MetadataValue.float(float(f"{est.upper(m):.4g}"))
        if math.isfinite(seen):
            meta[f"realized_{m}"] = dg.MetadataValue.float(float(f"{seen:.4g}"))
        lines.append(f"| {m} | {v:.4g} | [{est.lower(m):.4g}, {est.upper(m):.4g}] | {seen:.4g} |")
    (tn, fp), (fn, tp) = est.confusion
    lines += ["", "| expected | predicted 0 | predicted 1 |", "|---|---|---|"]
    lines += [f"| label 0 | {tn:.1f} | {fp:.1f} |", f"| label 1 | {fn:.1f} | {tp:.1f} |"]
    meta["estimate"] = dg.MetadataValue.md("\n".join(lines).replace("nan", "n/a"))
    return meta


def build_estimate_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys
) -> dg.Definitions:
    """``estimated_performance`` with its check, for a binary classifier (else nothing)."""
    if not estimates_performance(spec):
        return dg.Definitions()
    key = keys.estimated_performance
    tol = ", ".join(
        f"{m}: WARN beyond {t.warn}, ERROR beyond {t.error}{' (relative)' if t.relative else ''}"
        for m, t in spec.performance.effective_tolerances(spec.prediction.task).items()
    )

    @dg.asset(
        key=key,
        deps=[keys.daily_profile, keys.reference_profile],
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
                description=f"Performance estimated without labels against the reference's realized "
                f"performance, with the tolerances of performance_vs_reference ({tol}). 'Not evaluated' "
                f"on a day under {spec.performance.min_labeled} scored rows or when the reference "
                "cannot calibrate the score (no labels, one class). Blind to concept drift (README).",
            )
        ],
        description=f"Accuracy, precision, recall, F1 and ROC AUC of {spec.name} estimated per day from the "
        "daily profile's score histogram and the reference's calibration of the score (CBPE), with a "
        "band of 3 standard errors; no labels and no scan of the day's rows. Rows in "
        "monitoring.performance_metrics with kind = 'estimated'.",
    )
    def estimated_performance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from monitoring_assets import _estimation, _pipeline  # noqa: PLC0415  (step time: _common.py)
        from monitoring_assets._readback import enough_labels  # noqa: PLC0415
        from monitoring_assets.report import performance_bands  # noqa: PLC0415

        days = step_days(context)
        started = time.monotonic()
        last = max(days)
        shown = [last - dt.timedelta(days=i) for i in range(HISTORY_DAYS)]
        with warehouse.open() as wh:
            tolerances = _pipeline.tolerances(spec)
            results = _estimation.compute_estimated_performance(wh, spec, days, step_audit(context, spec), tolerances)
            realized = {d: v for d, v in wh.metrics.read_performance(spec, "daily", shown).items() if d is not None}
            history = {
                d: v for d, v in wh.metrics.read_performance(spec, "daily", shown, kind="estimated").items() if d
            }
            reference = wh.metrics.read_performance(spec, "reference").get(None, {})
        primary = PRIMARY_METRIC[spec.prediction.task]
        for day, result in results.items():
            seen = realized.get(day, {})
            meta = _day_metadata(result, seen, enough_labels(spec, seen) if seen else False)
            if day == last:
                estimated = {
                    d: (v[primary], v[f"{primary}_lower"], v[f"{primary}_upper"])
                    for d, v in history.items()
                    if primary in v and f"{primary}_lower" in v
                }
                got = {d: v.get(primary, math.nan) for d, v in realized.items() if enough_labels(spec, v)}
                meta |= estimate_picture(
                    primary, estimated, got, reference.get(primary), performance_bands(spec, reference)
                )
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        skipped = [r.finding[1] for r in results.values() if r.estimate is None]
        context.log.info(
            f"estimated {len(days) - len(skipped)} of {len(days)} day(s) without labels in "
            f"{time.monotonic() - started:.1f}s" + (f"; not evaluated, first: {skipped[0]}" if skipped else "")
        )
        yield dg.MaterializeResult()
        findings = {d: r.finding for d, r in results.items()}
        yield from day_check_events(context, key, {CHECK_NAME: graded_verdicts(findings)})

    return dg.Definitions(assets=[estimated_performance])
