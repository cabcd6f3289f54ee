"""The warehouse adapter: profiles computed in SQL, metric tables written back.

``Warehouse`` holds the one SQLAlchemy engine and its transactions; each concern is a small class
over it, written against ``resources._engine.WarehouseEngine``: ``wh.profiles`` (reference and
daily profiles, drift rows), ``wh.metrics`` (performance and fairness tables), ``wh.labels``
(label counts and arrivals), ``wh.events`` (the event log) and ``wh.rows`` (the only code that
streams raw rows). ``WarehouseResource`` is the Dagster resource that configures it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources import _errors, _preflight, _store, schema
from resources._business import BusinessStore
from resources._env import WAREHOUSE_URL_ENV
from resources._events import EventLog
from resources._labels import LabelQueries
from resources._metrics import MetricTables
from resources._moments import MomentsStore
from resources._operations import OperationsStore
from resources._profiles import ProfileStore
from resources._rows import RawRows
from resources._sql import SqlBuilder, quiet_duckdb
from resources._versions import VersionStore

DUCKDB_MEMORY_ENV = "MONITORING_DUCKDB_MEMORY_LIMIT"  # e.g. "2GB"; "" (set but empty): DuckDB's own default
# DuckDB's own limit is 80 % of RAM, and its block cache grows to it: a 10M-row day peaked near
# 1.8 GB RSS here, 870 MB under 512MB and no slower. Every query of the product streams or spills
# under it (the reference's bin edges come from bounded heaps, not a holistic quantile).
DEFAULT_DUCKDB_MEMORY_LIMIT = "512MB"


# Dialect (or dialect+driver) of a URL -> the package that provides it, for "install ..." errors.
DRIVER_PACKAGES = {
    "postgresql": "psycopg[binary]",  # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3
    "postgresql+psycopg": "psycopg[binary]",
    "postgresql+psycopg2": "psycopg2-binary",
    "postgresql+pg8000": "pg8000",
    "mysql": "mysqlclient",
    "mysql+mysqldb": "mysqlclient",
    "mysql+pymysql": "PyMySQL",
    "snowflake": "snowflake-sqlalchemy",
    "bigquery": "sqlalchemy-bigquery",
    "databricks": "databricks-sqlalchemy",
    "trino": "trino",
    "redshift": "sqlalchemy-redshift",
    "redshift+psycopg2": "sqlalchemy-redshift",
    "duckdb": "duckdb-engine",
    "mssql+pyodbc": "pyodbc",
    "mssql+pymssql": "pymssql",
    "oracle+oracledb": "oracledb",
    "clickhouse": "clickhouse-sqlalchemy",
}
PSYCOPG2_URL = "postgresql+psycopg2://user:password@host:5432/database"


def _postgres_scheme_message(url: sa.URL) -> str:
    driver = url.drivername.partition("+")[2] or "psycopg2"  # psycopg2 ships with this plugin
    fixed = url.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=True)
    return (
        f"{WAREHOUSE_URL_ENV}: {url.render_as_string(hide_password=True)}: SQLAlchemy has no dialect 'postgres'; "
        f"write {fixed} (the form is {PSYCOPG2_URL})"
    )


def _missing_driver_message(url: sa.URL, error: Exception) -> str:
    name = url.drivername
    package = DRIVER_PACKAGES.get(name) or DRIVER_PACKAGES.get(url.get_backend_name())
    what = f"the SQLAlchemy dialect {name!r}" if isinstance(error, NoSuchModuleError) else f"the driver of {name!r}"
    missing = f" (module {error.name!r} not found)" if isinstance(error, ImportError) and error.name else ""
    todo = f"pip install '{package}'" if package else f"install the SQLAlchemy dialect package for {name!r}"
    hint = ""
    if url.get_backend_name() == "postgresql" and name != "postgresql+psycopg2":
        hint = f", or use psycopg2 (installed with this plugin): {PSYCOPG2_URL}"
    return (
        f"{WAREHOUSE_URL_ENV}: {url.render_as_string(hide_password=True)} needs {what}, which is not "
        f"installed{missing}: {todo}{hint}"
    )


def duckdb_memory_limit() -> str | None:
    """The ``memory_limit`` a DuckDB warehouse opens with: ``$MONITORING_DUCKDB_MEMORY_LIMIT`` when
    set (any size DuckDB reads, e.g. ``2GB``; empty: ``None``, DuckDB's own default of 80 % of RAM),
    else ``DEFAULT_DUCKDB_MEMORY_LIMIT``. Read when a ``Warehouse`` is built, not at import."""
    value = os.environ.get(DUCKDB_MEMORY_ENV)
    if value is None:
        return DEFAULT_DUCKDB_MEMORY_LIMIT
    return value.strip() or None


class Warehouse:
    """One SQLAlchemy URL (DuckDB, PostgreSQL, ...) and its concerns: ``profiles``, ``metrics``,
    ``labels``, ``events`` and ``rows``."""

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise WarehouseError(
                f"{WAREHOUSE_URL_ENV} is not a SQLAlchemy URL (expected e.g. "
                "duckdb:///path.duckdb or postgresql+psycopg2://user@host/db)"
            ) from None
        if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, object] = {}
        if parsed.get_backend_name() == "duckdb":
            limit = duckdb_memory_limit()
            if limit:
                connect_args["config"] = {"memory_limit": limit}
        if parsed.get_backend_name() == "postgres":
            raise WarehouseError(_postgres_scheme_message(parsed)) from None
        try:
            # NullPool: no connection outlives its use, so a DuckDB file lock is never held idle.
            self.engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
        except (NoSuchModuleError, ImportError) as e:
            # A dialect without its package (snowflake-sqlalchemy) or a driver not installed (psycopg 3).
            raise WarehouseError(_missing_driver_message(parsed, e)) from None
        if self.engine.dialect.name == "duckdb":
            sa.event.listen(self.engine, "connect", quiet_duckdb)
        self.sql = SqlBuilder(self.engine.dialect)
        self._tables_ready = False
        self._session: sa.Connection | None = None
        self._session_timezone: object = None
        self._session_timezone_changed = False
        self.profiles = ProfileStore(self)
        self.labels = LabelQueries(self)
        self.metrics = MetricTables(self, self.labels)
        self.events = EventLog(self)
        self.rows = RawRows(self, self.labels)
        self.moments = MomentsStore(self)
        self.operations = OperationsStore(self)
        self.business = BusinessStore(self)
        self.versions = VersionStore(self, self.metrics)

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and metadata."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self, *, columns: Sequence[str] = ()) -> Iterator[sa.Connection]:
        """One transaction; database errors become WarehouseError naming the (masked) URL, the
        kind of problem and the table/column when known (``columns``: what the query reads).

        The one place warehouse errors are told: never the driver's text (it may quote a cell) nor
        SQLAlchemy's (it quotes the statement and every bound parameter), and ``from None``, so
        that neither rides along as the cause Dagster stores (``resources._errors``).
        """
        shared = self._session
        try:
            if shared is None or shared.in_transaction():  # no session, or nested: a connection of its own
                with self.engine.begin() as conn:
                    yield conn
            else:
                with shared.begin():
                    if self._session_timezone_changed:
                        # A plain transaction sees the connection's own time zone, as on a fresh connection.
                        shared.execute(sa.text("SET SESSION TimeZone = :tz"), {"tz": self._session_timezone})
                        self._session_timezone_changed = False
                    yield shared
        except SQLAlchemyError as e:
            raise self.query_error(e, columns) from None

    @contextmanager
    def session(self) -> Iterator[None]:
        """Within the block, transactions (``begin``, ``begin_days``, ``begin_tables``, ...) share
        one connection, in turn; a nested one still gets its own. A sensor's tick makes several
        small queries: on DuckDB each fresh connection opens the file and reads its catalog
        (~25 ms with a few hundred tables), more than the queries themselves take."""
        if self._session is not None:
            yield
            return
        try:
            conn = self.engine.connect()
            if self.sql.is_duckdb:
                self._session_timezone = conn.execute(sa.text("SELECT current_setting('TimeZone')")).scalar()
                conn.commit()
        except SQLAlchemyError as e:
            raise self.query_error(e) from None
        self._session, self._session_timezone_changed = conn, False
        try:
            yield
        finally:
            self._session = None
            conn.close()

    def query_error(self, error: BaseException, columns: Sequence[str] = ()) -> WarehouseError:
        """The WarehouseError for a SQLAlchemy or driver exception, quoting no data."""
        failure = _errors.describe(error, password=self.engine.url.password, columns=columns)
        return WarehouseError(failure.text(self.safe_url))

    @contextmanager
    def begin_days(self, spec: MonitorSpec, *, columns: Sequence[str] = ()) -> Iterator[sa.Connection]:
        """One transaction whose days are cut at midnight in ``spec.partitions.timezone``: used
        by everything that groups rows by day or reads a day's window (``SqlBuilder.set_day_timezone``).
        ``columns`` as for ``begin``."""
        with self.begin(columns=columns) as conn:
            try:
                self.sql.set_day_timezone(conn, spec.partitions.timezone)
                # DuckDB's setting outlives the transaction: the session's next plain one resets it.
                self._session_timezone_changed = conn is self._session and self.sql.is_duckdb
            except DBAPIError:
                raise WarehouseError(
                    f"{spec.origin}: partitions.timezone: {spec.partitions.timezone!r} is not a time zone "
                    f"{self.engine.dialect.name} knows"
                ) from None
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    def check_columns(self, spec: MonitorSpec, step: _preflight.Step) -> None:
        """Before any work: the tables and columns ``step`` reads exist (one cheap query per
        table); else one WarehouseError line naming the spec file, field, table and column."""
        try:
            _preflight.check_columns(self.engine, self.sql, self.safe_url, spec, step)
        except SQLAlchemyError as e:  # the warehouse itself is unreachable: say so, not "table not found"
            raise self.query_error(e) from None

    # -- the monitoring tables -----------------------------------------------------------------

    def ensure_tables(self) -> None:
        with self.begin() as conn:
            self._ensure_tables(conn)

    def _ensure_tables(self, conn: sa.Connection) -> None:
        if not self._tables_ready:
            schema.ensure_tables(conn)
            self._tables_ready = True

    @contextmanager
    def writing(self, spec: MonitorSpec) -> Iterator[sa.Connection]:
        """One transaction that replaces rows of ``spec``: tables ensured, then the monitor's write
        lock held to the end (PostgreSQL), so concurrent runs of one monitor write in turn and a
        replace never leaves two runs' rows side by side."""
        with self.begin() as conn:
            self._ensure_tables(conn)
            _store.lock_monitor(conn, spec.name)
            yield conn

    @contextmanager
    def begin_tables(self) -> Iterator[sa.Connection]:
        """One transaction with the monitoring tables ensured (created once per Warehouse)."""
        with self.begin() as conn:
            self._ensure_tables(conn)
            yield conn
