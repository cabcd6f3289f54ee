"""``Warehouse.session``: a sensor tick's transactions share one connection, and each still sees
what a fresh connection would (the time zone ``begin_days`` sets does not leak into the next)."""

from __future__ import annotations

import sqlalchemy as sa

from resources.warehouse import Warehouse
from tests.conftest import SMALL_SPEC, small_spec

TIMEZONE = "America/New_York"  # not the connection's own (UTC on the test machines)


def _connections(wh: Warehouse) -> list[object]:
    opened: list[object] = []
    sa.event.listen(wh.engine, "connect", lambda dbapi, _record: opened.append(dbapi))
    return opened


def _timezone(conn: sa.Connection) -> str:
    return str(conn.execute(sa.text("SELECT current_setting('TimeZone')")).scalar())


def test_transactions_of_a_session_share_one_connection(duckdb_url: str) -> None:
    spec = small_spec(partitions={**SMALL_SPEC["partitions"], "timezone": TIMEZONE})
    wh = Warehouse(duckdb_url)
    opened = _connections(wh)
    with wh.begin() as conn:
        own = _timezone(conn)
    assert own != TIMEZONE
    assert len(opened) == 1
    with wh.session():
        with wh.begin_days(spec) as conn:
            assert _timezone(conn) == TIMEZONE
        with wh.begin() as conn:
            assert _timezone(conn) == own  # as on a fresh connection
        with wh.begin_tables() as conn, wh.begin() as nested:  # nested: a connection of its own
            assert conn is not nested
        with wh.begin_days(spec) as conn:
            assert _timezone(conn) == TIMEZONE
    assert len(opened) == 1 + 2
    # Outside a session, one connection per transaction, as before.
    for _ in range(3):
        with wh.begin():
            pass
    assert len(opened) == 3 + 3
    wh.dispose()
