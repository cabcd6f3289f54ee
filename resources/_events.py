"""The event log: the audit trail ``monitoring.events`` (``Warehouse.events``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from monitoring_assets.core.performance import PRIMARY_METRIC
from monitoring_assets.spec import MonitorSpec
from resources import _store, schema
from resources._engine import WarehouseEngine


class EventLog:
    """Append, read and delete one monitor's events, and what the monitoring said on a trigger's days."""

    def __init__(self, db: WarehouseEngine) -> None:
        self._db = db

    def append(self, spec: MonitorSpec, event_type: str, details: Mapping[str, Any], **columns: Any) -> None:
        """One row of the audit trail ``monitoring.events``."""
        with self._db.begin_tables() as conn:
            _store.append_event(conn, monitor=spec.name, event_type=event_type, details=details, **columns)

    def read(
        self, spec: MonitorSpec, event_types: Sequence[str] | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """``spec``'s events (of ``event_types``, created at or after ``since``, naive UTC), oldest first."""
        e = schema.events.c
        cond = e.monitor == spec.name
        if event_types is not None:
            cond &= e.event_type.in_(list(event_types))
        if since is not None:
            cond &= e.created_at >= since
        with self._db.begin_tables() as conn:
            rows = conn.execute(sa.select(schema.events).where(cond).order_by(e.created_at))
            return [dict(r._mapping) for r in rows]

    def delete(self, spec: MonitorSpec, event_types: Sequence[str]) -> int:
        """Delete ``spec``'s events of these types (the demo starts its alerts afresh); returns how many."""
        e = schema.events.c
        with self._db.begin_tables() as conn:
            result = conn.execute(
                sa.delete(schema.events).where((e.monitor == spec.name) & e.event_type.in_(list(event_types)))
            )
            return int(result.rowcount)

    def has(self, spec: MonitorSpec, event_type: str, event_id: str) -> bool:
        """Whether an event of this type was recorded for ``event_id`` (retried runs record once)."""
        events = self.read(spec, [event_type])
        return any(json.loads(e["details_json"]).get("event_id") == event_id for e in events)

    def trigger_context(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[str, dict[str, Any]]:
        """What the monitoring said on ``days``: drift share, drifted features and the primary
        performance metric (aggregates only), for the trigger's record in MLflow and the events."""
        d = schema.drift_metrics.c
        out: dict[str, dict[str, Any]] = {day.isoformat(): {"drifted_features": []} for day in days}
        with self._db.begin_tables() as conn:
            rows = conn.execute(
                sa.select(d.partition_date, d.feature, d.value, d.drifted).where(
                    (d.monitor == spec.name) & (d.scope == "feature") & d.partition_date.in_(list(days))
                )
            ).fetchall()
            perf = _store.read_performance(conn, monitor=spec.name, window="daily", days=days)
        for day, feature, value, drifted in rows:
            entry = out[day.isoformat()]
            if feature == schema.DATASET_ROW:
                entry["drift_share"] = value
            elif drifted:
                entry["drifted_features"].append(feature)
        primary = PRIMARY_METRIC[spec.prediction.task]
        for day, values in perf.items():
            if day is not None and day.isoformat() in out:
                out[day.isoformat()][primary] = values.get(primary)
        return out
