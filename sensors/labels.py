"""Late labels: re-materialize exactly the scoring days whose labels arrived since the last look.

Two ways to notice new labels, chosen by the spec:

* ``labels.arrived_at_column`` set: a cursor holds the latest arrival time seen; each tick asks
  the warehouse for labels that arrived after it, grouped by scoring day. The cursor is stored
  by Dagster with the tick's run requests, so a restarted daemon resumes from it: nothing is
  lost, nothing requested twice. Labels must be written with their arrival time (a row inserted
  later with an earlier ``arrived_at`` than the cursor is not seen). The first tick, with no
  cursor yet, compares counts as below, so labels that arrived while the sensor was off count.
* otherwise: each tick compares the labeled-row count per scoring day in the warehouse with the
  ``n_labeled`` stored by the last ``labeled_performance`` run of that day. The state is the
  metric table itself, so restarts need no cursor.

Only days already materialized are requested (the schedule does the others), within
``performance.label_lookback_days`` of the latest one. Affected days that form one contiguous
range go in one run (a single-run backfill); separate ranges get one run each. ``run_key``
names the days and what was seen, so the same labels never launch a second run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING

import dagster as dg

from monitoring_assets.resources import WarehouseResource
from monitoring_assets.spec import MonitorSpec
from resources.tags import RUN_REASON

if TYPE_CHECKING:
    from resources.warehouse import Warehouse  # SQLAlchemy: the warehouse opens in the tick

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def contiguous_ranges(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def changed_days(
    wh: Warehouse, spec: MonitorSpec, cursor: dict[str, str]
) -> tuple[dict[dt.date, int], dict[str, str], str]:
    """Days whose labels changed (day -> labels seen), the next cursor, and a signature of what was seen."""
    stored = {
        d: int(v["n_labeled"])
        for d, v in wh.metrics.read_performance(spec, "daily", metrics=["n_labeled"]).items()
        if d
    }
    if not stored:
        return {}, cursor, ""
    last = max(stored)
    first = max(min(stored), last - dt.timedelta(days=spec.performance.label_lookback_days))
    arrived_col = spec.labels.arrived_at_column if spec.labels else None
    if arrived_col and "arrived_after" in cursor:
        after = dt.datetime.fromisoformat(cursor["arrived_after"])
        counts, latest = wh.labels.label_arrivals(spec, after, first, last)
        changed = {d: n for d, n in counts.items() if d in stored}
        next_cursor = {"arrived_after": (latest or after).isoformat()}
        return changed, next_cursor, next_cursor["arrived_after"]
    current = wh.labels.labeled_counts(spec, first, last)
    changed = {d: current.get(d, 0) for d, n in stored.items() if d >= first and current.get(d, 0) != n}
    next_cursor = dict(cursor)
    if arrived_col:
        _, latest = wh.labels.label_arrivals(spec, None, first, last)
        if latest is not None:
            next_cursor["arrived_after"] = latest.isoformat()
    signature = json.dumps(sorted((d.isoformat(), n) for d, n in changed.items()))
    return changed, next_cursor, hashlib.sha256(signature.encode()).hexdigest()[:16]


def build_label_sensor(*, spec: MonitorSpec, job_name: str) -> dg.SensorDefinition:
    """The sensor that launches ``job_name`` (labeled performance and fairness) for the days whose labels arrived."""
    name = spec.name

    @dg.sensor(
        name=f"{name}_label_arrival",
        job_name=job_name,
        minimum_interval_seconds=300,
        description=f"Re-runs {name}'s labeled performance and fairness for the scoring days whose labels arrived.",
    )
    def label_arrival(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        # One connection for the tick's few small queries (Warehouse.session).
        with warehouse.open() as wh, wh.session():
            changed, next_cursor, signature = changed_days(wh, spec, cursor)
        encoded = json.dumps(next_cursor, sort_keys=True)
        if not changed:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"no new labels for {name}"), cursor=encoded)
        requests = []
        for first, last in contiguous_ranges(list(changed)):
            n = sum(v for d, v in changed.items() if first <= d <= last)
            requests.append(
                dg.RunRequest(
                    run_key=f"{name}:labels:{first}:{last}:{signature}",
                    tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat(), RUN_REASON: "labels"},
                )
            )
            context.log.info(f"{name}: labels changed for {first}..{last} ({n} labels); requesting a run")
        return dg.SensorResult(run_requests=requests, cursor=encoded)

    return label_arrival
