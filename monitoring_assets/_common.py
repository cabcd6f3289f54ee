"""What every asset family of a monitor shares: the warehouse pool, the resource keys, and the
step's days and audit stamp.

Step-time imports: the asset modules build definitions, which every run process, sensor and code
location server loads, so they import at the top only what building needs. A step body imports
its machinery (``_pipeline``, ``_retraining``, the ``expectations`` runner, and through them
SQLAlchemy and the warehouse) when it runs: ``tests/test_definitions.py`` checks that loading the
code location leaves SQLAlchemy, pandas, scipy, scikit-learn, matplotlib, MLflow and Great
Expectations unloaded."""

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import dagster as dg

from monitoring_assets.spec import MonitorSpec

if TYPE_CHECKING:
    from resources._store import Audit

POOL = "monitoring_warehouse"  # limit it to 1 in dagster.yaml for a DuckDB file (one writer)
WAREHOUSE_KEY = "warehouse"
REGISTRY_KEY = "registry"
ALERTS_KEY = "alerts"

# What an asset step yields: its materialization, its checks' outputs and their per-day evaluations.
StepEvents = Iterator[dg.MaterializeResult[Any] | dg.Output[None] | dg.AssetCheckEvaluation]


def step_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The days (partition keys) of a step: one, or a single-run backfill's range."""
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def step_audit(context: dg.AssetExecutionContext, spec: MonitorSpec) -> "Audit":
    """What each row this step writes carries: the run and the spec that made it."""
    from resources._store import Audit  # noqa: PLC0415  (step time, see above: it brings SQLAlchemy)

    return Audit(context.run.run_id, spec.spec_hash())


@dataclass(frozen=True)
class MonitorKeys:
    """The asset keys of one monitor, all under the key prefix ``spec.name``."""

    reference_profile: dg.AssetKey
    daily_profile: dg.AssetKey
    feature_drift: dg.AssetKey
    prediction_drift: dg.AssetKey
    labeled_performance: dg.AssetKey
    fairness_slices: dg.AssetKey
    monitoring_report: dg.AssetKey
    challenger_model: dg.AssetKey
    estimated_performance: dg.AssetKey

    @classmethod
    def of(cls, spec: MonitorSpec) -> "MonitorKeys":
        return cls(*(dg.AssetKey([spec.name, f.name]) for f in fields(cls)))


def daily_checked_asset(
    *,
    spec: MonitorSpec,
    partitions: dg.PartitionsDefinition,
    key: dg.AssetKey,
    deps: list[dg.AssetKey],
    kinds: set[str],
    check: tuple[str, str],
    description: str,
) -> Callable[[Callable[..., StepEvents]], dg.AssetsDefinition]:
    """The decorator of a daily, single-run-backfilled asset of ``spec``'s group with one
    per-day check (``check``: its name and description), on the warehouse pool."""
    name, check_description = check
    return dg.asset(
        key=key,
        deps=deps,
        group_name=spec.name,
        kinds=kinds,
        pool=POOL,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec(name, asset=key, partitions_def=partitions, description=check_description)],
        description=description,
    )
