"""The concerns of the warehouse are written against ``WarehouseEngine``, not ``Warehouse``: a
fake that implements the protocol over one bare DuckDB connection backs them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources import schema
from resources._engine import WarehouseEngine
from resources._events import EventLog
from resources._labels import LabelQueries
from resources._rows import RawRows
from resources._sql import SqlBuilder
from resources.warehouse import Warehouse
from tests.conftest import small_spec


class FakeEngine:
    """Every transaction on one DuckDB connection; no URL, no pool, no write lock."""

    def __init__(self) -> None:
        self.conn = sa.create_engine("duckdb:///:memory:").connect()
        self.sql = SqlBuilder(self.conn.dialect)
        self.opened = 0

    @contextmanager
    def begin(self, *, columns: Sequence[str] = ()) -> Iterator[sa.Connection]:
        self.opened += 1
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        self.conn.commit()

    @contextmanager
    def begin_days(self, spec: MonitorSpec, *, columns: Sequence[str] = ()) -> Iterator[sa.Connection]:
        with self.begin(columns=columns) as conn:
            yield conn

    @contextmanager
    def begin_tables(self) -> Iterator[sa.Connection]:
        with self.begin() as conn:
            schema.ensure_tables(conn)
            yield conn

    @contextmanager
    def writing(self, spec: MonitorSpec) -> Iterator[sa.Connection]:
        with self.begin_tables() as conn:
            yield conn

    def query_error(self, error: BaseException, columns: Sequence[str] = ()) -> WarehouseError:
        return WarehouseError(f"fake: {type(error).__name__}")


def test_warehouse_and_a_fake_implement_the_protocol_and_a_partial_fake_does_not() -> None:
    class NoTables:
        sql = SqlBuilder(sa.create_engine("duckdb:///:memory:").dialect)
        begin = FakeEngine.begin
        begin_days = FakeEngine.begin_days
        writing = FakeEngine.writing
        query_error = FakeEngine.query_error

    assert isinstance(Warehouse("duckdb:///:memory:"), WarehouseEngine)
    assert isinstance(FakeEngine(), WarehouseEngine)
    assert not isinstance(NoTables(), WarehouseEngine)


def test_event_log_over_a_fake_engine() -> None:
    fake = FakeEngine()
    log = EventLog(fake)
    spec, other = small_spec(), small_spec(name="other")
    log.append(spec, "retraining_triggered", {"event_id": "e1"}, partition_date=dt.date(2024, 1, 5))
    log.append(spec, "alert_sent", {"event_id": "e2"})
    log.append(other, "alert_sent", {"event_id": "e3"})

    assert [e["event_type"] for e in log.read(spec)] == ["retraining_triggered", "alert_sent"]
    assert log.read(spec, ["retraining_triggered"])[0]["partition_date"] == dt.date(2024, 1, 5)
    assert log.has(spec, "alert_sent", "e2") and not log.has(spec, "alert_sent", "e3")
    assert log.delete(spec, ["alert_sent"]) == 1
    assert [e["event_type"] for e in log.read(spec)] == ["retraining_triggered"]
    assert [e["details_json"] for e in log.read(other)] == ['{"event_id": "e3"}']
    assert fake.opened == 10  # every read and write went through the fake's transactions


def test_rows_over_a_fake_engine_tell_errors_through_it() -> None:
    fake = FakeEngine()
    with fake.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (ts TIMESTAMP, x DOUBLE)")
    rows = RawRows(fake, LabelQueries(fake))
    spec = small_spec()
    assert rows.table_columns("t") == {"ts": "TIMESTAMP", "x": "DOUBLE"}
    with pytest.raises(WarehouseError, match=r"^fake: "):
        list(rows.day_frames(spec, dt.date(2024, 1, 5), ["no_such_column"], chunk_rows=10))
