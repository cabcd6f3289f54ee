"""Profiles: the ``reference_profile`` asset and the partitioned ``daily_profile`` with its
``volume`` and ``null_rate`` checks and, with a suite, its blocking ``data_quality`` check."""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import time

import dagster as dg

from expectations import Suite
from monitoring_assets._common import POOL, MonitorKeys, StepEvents, step_audit, step_days
from monitoring_assets._day_checks import day_check_events, graded_verdicts
from monitoring_assets._metadata import guard_metadata, profile_metadata
from monitoring_assets._quality_checks import CHECK_NAME as QUALITY_CHECK
from monitoring_assets._quality_checks import quality_check_spec, quality_partition_metadata, quality_verdict
from monitoring_assets.errors import MonitorError
from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec
from monitoring_assets.spec._load import drift_columns


def build_profile_definitions(
    *, spec: MonitorSpec, partitions: dg.PartitionsDefinition, keys: MonitorKeys, suite: Suite | None
) -> dg.Definitions:
    """``reference_profile`` and ``daily_profile`` (with its checks)."""
    return dg.Definitions(
        assets=[
            _reference_asset(spec, keys.reference_profile),
            _daily_profile_asset(spec, partitions, keys.daily_profile, keys.reference_profile, suite),
        ]
    )


def _reference_asset(spec: MonitorSpec, ref_key: dg.AssetKey) -> dg.AssetsDefinition:
    name = spec.name

    @dg.asset(
        key=ref_key,
        group_name=name,
        kinds={"sql"},
        pool=POOL,
        description=f"Profile of the reference for {name}: fixes histogram bins and top-K categories. "
        f"Rows in monitoring.profile_metrics / profile_bins with profile = 'reference'.",
    )
    def reference_profile(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
        from monitoring_assets import _pipeline  # noqa: PLC0415  (step time: monitoring_assets/_common.py)
        from monitoring_assets.core.guards import constant_columns  # noqa: PLC0415

        with warehouse.open() as wh:
            ref = _pipeline.build_reference(wh, spec, step_audit(context, spec))
        meta = profile_metadata(ref.profile)
        meta["reference_days"] = dg.MetadataValue.int(len(ref.windows))
        constant = constant_columns(ref.profile, [c for c, _ in drift_columns(spec)])
        meta["constant_columns"] = dg.MetadataValue.text(", ".join(constant) or "none")
        if constant:
            context.log.warning(
                f"reference of {name} has constant column(s) {', '.join(constant)}: every reference value is the "
                "same. A method that divides by the reference's spread (wasserstein) judges such a column by the "
                "share of a day's values that differ from it instead (README: Guards)"
            )
        return dg.MaterializeResult(metadata=meta)

    return reference_profile


def _daily_profile_asset(
    spec: MonitorSpec,
    partitions: dg.PartitionsDefinition,
    daily_key: dg.AssetKey,
    ref_key: dg.AssetKey,
    suite: Suite | None,
) -> dg.AssetsDefinition:
    """The day's profile, its ``volume`` and ``null_rate`` checks and, with a suite, its blocking
    ``data_quality`` check."""
    source_note = f"Source `{spec.source.table}` (timestamp `{spec.source.timestamp_column}`)."
    guard_specs = _guard_check_specs(spec, daily_key, partitions)

    @dg.asset(
        key=daily_key,
        deps=[ref_key],
        group_name=spec.name,
        kinds={"sql"},
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[*([quality_check_spec(daily_key, suite, partitions)] if suite else []), *guard_specs],
        description=f"Daily profile of {spec.name}'s inputs and score, computed in the warehouse. {source_note}"
        + (f" Data quality: the Great Expectations suite {suite.path} (check data_quality)." if suite else ""),
    )
    def daily_profile(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> StepEvents:
        from expectations import check_days  # noqa: PLC0415  (step time: monitoring_assets/_common.py)
        from monitoring_assets import _pipeline  # noqa: PLC0415

        days = step_days(context)
        started = time.monotonic()
        audit = step_audit(context, spec)
        failure: MonitorError | None = None
        with warehouse.open() as wh:
            try:
                profiles = _pipeline.build_daily_profiles(wh, spec, days, audit, context.log.info)
            except MonitorError as e:
                if suite is None:
                    raise
                # A missing column or a changed type can break the profile: the suite still says which.
                profiles, failure = {}, e
            quality = (
                check_days(wh, spec, suite, days, profiles, audit=audit, progress=context.log.info) if suite else {}
            )
            guards = _pipeline.check_guards(wh, spec, profiles) if profiles else {}
        for day, profile in profiles.items():
            meta = profile_metadata(profile) | guard_metadata(guards[day])
            if day in quality:
                meta |= quality_partition_metadata(quality[day])
            context.add_asset_metadata(meta, partition_key=day.isoformat())
        context.log.info(f"profiled {len(days)} day(s) in {time.monotonic() - started:.1f}s")
        if failure is None:
            yield dg.MaterializeResult()
        checks = {QUALITY_CHECK: {d: quality_verdict(d, q) for d, q in quality.items()}} if quality else {}
        if guards:
            checks["volume"] = graded_verdicts({d: (g.volume.level, g.volume.reason) for d, g in guards.items()})
            checks["null_rate"] = graded_verdicts({d: g.null_rate for d, g in guards.items()})
        yield from day_check_events(context, daily_key, checks, blocking=frozenset({QUALITY_CHECK}))
        if failure is not None:
            raise failure

    return daily_profile


def _guard_check_specs(
    spec: MonitorSpec, daily_key: dg.AssetKey, partitions: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    """``volume`` and ``null_rate``: from the day's profile and the reference's, no suite needed."""
    g = spec.guards
    if spec.reference.window is not None:
        rate = "the reference window's daily rate (rows / days of the window)"
    elif spec.reference.timestamp_column is not None:
        rate = "the reference's daily rate (rows / distinct days it covers)"
    else:
        rate = None
    ratio_rule = f", or fewer than {g.min_volume_ratio:g} x {rate}" if rate and g.min_volume_ratio > 0 else ""
    no_rate = (
        " The reference has no timestamp column, so it has no daily rate: only the zero-row rule applies."
        if rate is None
        else ""
    )
    columns = ", ".join(c for c, _ in drift_columns(spec))
    return [
        dg.AssetCheckSpec(
            "volume",
            asset=daily_key,
            partitions_def=partitions,
            description=f"ERROR when the day has no rows{ratio_rule}; WARN under guards.min_rows = {g.min_rows} "
            f"rows, too few to evaluate drift (drift is then 'not evaluated').{no_rate}",
        ),
        dg.AssetCheckSpec(
            "null_rate",
            asset=daily_key,
            partitions_def=partitions,
            description=f"ERROR naming each column ({columns}) whose null share (nulls and non-finite values "
            f"over rows) is 100 %, or exceeds the reference's by more than guards.null_rate_margin = "
            f"{g.null_rate_margin:g} on a day of at least {g.min_rows} rows; that column's drift is not evaluated.",
        ),
    ]
