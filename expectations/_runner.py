"""Run a suite over days of a monitor's source table with Great Expectations.

* PostgreSQL (and any SQLAlchemy warehouse Great Expectations supports): the SQL data source,
  so every count runs in the database. Each day is a query asset
  ``SELECT * FROM <source> WHERE <ts> >= <day> AND <ts> < <day + 1>`` (a range the database can
  use an index or partition for); type expectations run once per run on a table asset of the
  source, because a query's result columns carry no SQL types.
* DuckDB (which Great Expectations cannot validate): pandas batches of the day's rows, streamed
  from one query in chunks of ``CHUNK_ROWS`` rows, so memory holds one chunk. A day of more than
  ``MAX_ROWS`` rows is validated on a deterministic sample of about ``MAX_ROWS`` rows (a hash of
  ``SAMPLE_SEED`` and the row's id, see ``Warehouse.rows.day_frames``); where the day's profile
  decides a count exactly (nulls, values outside a range, values outside the reference's
  categories, the row count) the result reports that exact count, sampled or not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from expectations._gx import ephemeral_context, expectation_suite, quiet
from expectations._results import (
    SCHEMA_TYPES,
    SOURCE_ROWS,
    SOURCE_SAMPLE,
    SOURCE_SCHEMA,
    SOURCE_SQL,
    DayQuality,
    Tally,
    answered_by_profile,
    merge_day,
)
from expectations._store import read_levels, write_quality
from expectations._suite import INDEX_KEY, Suite, SuiteExpectation, check_with_great_expectations
from monitoring_assets.core.levels import Level
from monitoring_assets.core.profile import Profile
from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources._sql import Relation
from resources._store import Audit, model_version_label
from resources.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 100_000  # rows per pandas batch: ~200 MB at 26 columns with Great Expectations working on it
MAX_ROWS = 1_000_000  # above this many rows a day is validated on a sample of about this many
SCHEMA_ROWS = 2048  # rows read once per run for column presence and types (one DuckDB vector)
SAMPLE_SEED = 20240101
_TYPE_CHECKS = {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}
_TABLE_COLUMNS = ("expect_table_columns_", "expect_table_column_count_")

Progress = Callable[[str], None]


def _quiet_progress(_: str) -> None:
    pass


def _error(info: Mapping[str, Any] | None) -> str | None:
    """The exception message Great Expectations caught, if it caught one."""
    if not info:
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message") or "error") if info.get("raised_exception") else None
    for value in info.values():  # several metrics failed: one entry per metric
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")
    return None


def _collect(result: Any, tallies: Mapping[int, Tally]) -> None:
    for r in result.results:
        index = r.expectation_config.meta.get(INDEX_KEY)
        if index in tallies:
            tallies[index].add(bool(r.success), dict(r.result or {}), _error(r.exception_info))


def _normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain numpy dtypes for numbers (nullable integers become float64 with NaN) and Python
    objects for text, which is what the type lists of generated suites name."""
    import pandas as pd  # noqa: PLC0415 - pandas would slow every start of the code location

    out = {}
    for name, dtype in frame.dtypes.items():
        column = frame[name]
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(dtype):
            out[name] = column.astype("float64")
        elif pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
            out[name] = column.astype(object).where(column.notna(), None)
        else:
            out[name] = column
    return pd.DataFrame(out)


def _validation_text(
    spec: MonitorSpec, rows: int, *, validated: int, chunks: int, sampled: bool, answered: int, total: int
) -> str:
    from_profile = f"{answered} of {total} expectations answered from the daily profile"
    if not chunks:
        return f"DuckDB: {from_profile}, no row read"
    if not sampled:
        return f"DuckDB: {from_profile}; the rest on pandas batches of all {rows:,} rows in {chunks} chunk(s)"
    key = spec.source.id_column or "the row's values"
    return (
        f"DuckDB: {from_profile}; the rest on pandas batches of a deterministic sample of {validated:,} of "
        f"{rows:,} rows (hash of {key}, seed {SAMPLE_SEED}) in {chunks} chunk(s)"
    )


class _SubSuites:
    """Great Expectations suites of parts of a suite, built once per set of expectations."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._built: dict[tuple[int, ...], Any] = {}

    def of(self, expectations: Sequence[SuiteExpectation]) -> Any:
        key = tuple(e.index for e in expectations)
        if key not in self._built:
            self._built[key] = expectation_suite(self._name, [e.configuration() for e in expectations])
        return self._built[key]


class _PandasBatches:
    """Great Expectations over pandas frames, with one suite per set of expectations asked for."""

    def __init__(self, spec: MonitorSpec, suite: Suite) -> None:
        context = ephemeral_context()
        with quiet():
            self._batches = (
                context.data_sources.add_pandas("monitoring")
                .add_dataframe_asset(spec.name)
                .add_batch_definition_whole_dataframe("day")
            )
        self._suites = _SubSuites(suite.name)

    def validate(
        self, frame: pd.DataFrame, expectations: Sequence[SuiteExpectation], tallies: Mapping[int, Tally]
    ) -> int:
        """Validate ``expectations`` on ``frame`` into ``tallies``; the number of rows validated."""
        batch_frame = _normalize(frame)
        with quiet():
            result = self._batches.get_batch(batch_parameters={"dataframe": batch_frame}).validate(
                self._suites.of(expectations), result_format="BASIC"
            )
        _collect(result, tallies)
        return len(batch_frame)


def _schema_tallies(
    wh: Warehouse,
    spec: MonitorSpec,
    batches: _PandasBatches,
    schema: Sequence[SuiteExpectation],
    *,
    columns: Sequence[str],
    day: dt.date,
) -> dict[int, Tally]:
    """Column presence and types, once per run on the first ``SCHEMA_ROWS`` rows of ``day``: a
    DuckDB column has one type for the whole table, so every day's rows share it."""
    tallies = {e.index: Tally(e, source=SOURCE_SCHEMA) for e in schema}
    with contextlib.closing(wh.rows.day_frames(spec, day, columns, chunk_rows=SCHEMA_ROWS)) as frames:
        batches.validate(next(frames), schema, tallies)
    return tallies


def _read_columns(todo: Sequence[SuiteExpectation], wanted: Sequence[str]) -> list[str]:
    """The columns the rows are read for: those of the expectations left to Great Expectations
    (a healthy day of a generated suite leaves a few ranges), all of ``wanted`` when one of them
    has a ``row_condition`` (its columns are in an expression) or none names a column (a table-wide
    expectation sees the rows as they are)."""
    needed = {c for e in todo for c in e.columns}
    if not needed or any("row_condition" in e.kwargs for e in todo):
        return list(wanted)
    return [c for c in wanted if c in needed]


def _pandas_days(
    wh: Warehouse,
    spec: MonitorSpec,
    suite: Suite,
    days: Sequence[dt.date],
    profiles: Mapping[dt.date, Profile],
    *,
    max_rows: int,
    chunk_rows: int,
    progress: Progress,
) -> dict[dt.date, DayQuality]:
    present = wh.rows.source_columns(spec)
    wanted = [c for c in present if c in suite.columns]
    schema = [e for e in suite.expectations if e.type in SCHEMA_TYPES]
    per_day = [e for e in suite.expectations if e.type not in SCHEMA_TYPES]
    batches = _PandasBatches(spec, suite)
    schema_tallies: dict[int, Tally] = {}
    if schema and days:
        table_wide = any(e.type.startswith(_TABLE_COLUMNS) for e in schema)
        first = next((d for d in days if (p := profiles.get(d)) is None or p.n_rows), days[0])
        schema_tallies = _schema_tallies(
            wh, spec, batches, schema, columns=list(present) if table_wide else wanted, day=first
        )
    out: dict[dt.date, DayQuality] = {}
    for day in days:
        profile = profiles.get(day)
        rows = profile.n_rows if profile is not None else wh.rows.count_day_rows(spec, day)
        todo = [e for e in per_day if not answered_by_profile(e, profile, rows)]
        share = max_rows / rows if rows > max_rows else None
        tallies = {**{e.index: Tally(e) for e in per_day}, **schema_tallies}
        validated = chunks = 0
        if todo:
            frames = wh.rows.day_frames(
                spec, day, _read_columns(todo, wanted), chunk_rows=chunk_rows, sample_share=share, seed=SAMPLE_SEED
            )
            for frame in frames:
                validated += batches.validate(frame, todo, tallies)
                del frame
                chunks += 1
        sampled = share is not None and chunks > 0
        out[day] = merge_day(
            day,
            [tallies[e.index] for e in suite.expectations],
            profile=profile,
            row_count=rows,
            source=SOURCE_SAMPLE if sampled else SOURCE_ROWS,
            validation=_validation_text(
                spec,
                rows,
                validated=validated,
                chunks=chunks,
                sampled=sampled,
                answered=len(per_day) - len(todo),
                total=len(suite.expectations),
            ),
            rows_validated=validated,
        )
        progress(f"data quality {day}: {out[day].level} ({validated:,} rows in {chunks} chunk(s))")
    return out


def _day_timezone_url(wh: Warehouse, spec: MonitorSpec) -> str:
    """The warehouse URL for Great Expectations' own connections. On PostgreSQL it carries the
    monitor's time zone as a session setting (libpq ``options``), so each day query cuts
    time-zone-aware timestamps at the same midnight as ``Warehouse.begin_days``."""
    url = wh.engine.url
    if url.get_backend_name() == "postgresql":
        given = url.query.get("options")
        options = [given] if isinstance(given, str) else list(given or ())
        url = url.update_query_dict({"options": " ".join([*options, f"-c TimeZone={spec.partitions.timezone}"])})
    return url.render_as_string(hide_password=False)


def _day_query(wh: Warehouse, spec: MonitorSpec, day: dt.date) -> str:
    """The day's rows as query text: Great Expectations takes a query's text, not bound
    parameters; the bounds are our own midnights and the names are quoted."""
    q = wh.sql
    ts = q.col(spec.source.timestamp_column)
    window = Relation.of_days(spec.source.table, spec.source.timestamp_column, day, day)
    assert window.start is not None and window.end is not None
    return (
        f"SELECT * FROM {q.table(window.table)} WHERE {ts} >= CAST('{window.start.isoformat(sep=' ')}' AS "
        f"TIMESTAMP) AND {ts} < CAST('{window.end.isoformat(sep=' ')}' AS TIMESTAMP)"
    )


def _sql_days(
    wh: Warehouse,
    spec: MonitorSpec,
    suite: Suite,
    days: Sequence[dt.date],
    profiles: Mapping[dt.date, Profile],
    *,
    progress: Progress,
) -> dict[dt.date, DayQuality]:
    url = _day_timezone_url(wh, spec)
    *prefix, table = spec.source.table.split(".")
    schema = prefix[-1] if prefix else None
    types = [e for e in suite.expectations if e.type in _TYPE_CHECKS]
    rest = [e for e in suite.expectations if e.type not in _TYPE_CHECKS]
    day_suites = _SubSuites(suite.name)
    context = ephemeral_context()
    datasource: Any = None
    try:
        with quiet():
            if wh.engine.dialect.name == "postgresql":
                datasource = context.data_sources.add_postgres("monitoring", connection_string=url)
            else:
                datasource = context.data_sources.add_sql("monitoring", connection_string=url)
            schema_results: Any = None
            if types:
                # A query's result columns have no SQL types: types are checked on the table itself.
                asset = datasource.add_table_asset(f"{spec.name}_source", table_name=table, schema_name=schema)
                schema_results = (
                    asset.add_batch_definition_whole_table("table")
                    .get_batch()
                    .validate(day_suites.of(types), result_format="BASIC")
                )
        out: dict[dt.date, DayQuality] = {}
        for day in days:
            tallies = {e.index: Tally(e) for e in suite.expectations}
            profile = profiles.get(day)
            rows = profile.n_rows if profile is not None else None
            todo = [e for e in rest if not answered_by_profile(e, profile, rows)]
            if todo:
                with quiet():
                    asset = datasource.add_query_asset(f"{spec.name}_{day:%Y%m%d}", query=_day_query(wh, spec, day))
                    batch = asset.add_batch_definition_whole_table("day").get_batch()
                    _collect(batch.validate(day_suites.of(todo), result_format="BASIC"), tallies)
            if schema_results is not None:
                _collect(schema_results, tallies)
            answered = len(rest) - len(todo)
            out[day] = merge_day(
                day,
                list(tallies.values()),
                profile=profile,
                row_count=rows,
                source=SOURCE_SQL,
                validation=(
                    f"{wh.engine.dialect.name}: {answered} of {len(suite.expectations)} expectations answered from "
                    "the daily profile; the rest with Great Expectations' SQL data source, every count in the database"
                ),
                rows_validated=rows,
            )
            progress(f"data quality {day}: {out[day].level} (in the database)")
        return out
    except WarehouseError:
        raise
    except Exception as e:
        if (database := _database_error(e)) is not None:
            # The database's own text may quote cells and SQLAlchemy's the bound parameters.
            raise wh.query_error(database) from None
        message = " ".join(str(e).split()).replace(url, wh.safe_url)
        if wh.engine.url.password:
            message = message.replace(str(wh.engine.url.password), "***")
        raise WarehouseError(
            f"Great Expectations could not validate {spec.name!r} on {wh.safe_url}: {type(e).__name__}: {message}"
        ) from None
    finally:
        if datasource is not None:
            with quiet():
                datasource.get_execution_engine().engine.dispose()


def _database_error(error: BaseException) -> sa.exc.SQLAlchemyError | None:
    """The SQLAlchemy error in ``error``'s chain (Great Expectations wraps the ones it meets)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sa.exc.SQLAlchemyError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def validate_days(
    wh: Warehouse,
    spec: MonitorSpec,
    suite: Suite,
    days: Sequence[dt.date],
    profiles: Mapping[dt.date, Profile] | None = None,
    *,
    max_rows: int = MAX_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress = _quiet_progress,
) -> dict[dt.date, DayQuality]:
    """The suite's outcomes on each day (nothing written). ``profiles`` are the days' profiles
    (from ``daily_profile``), the source of exact counts on DuckDB; days without one are still
    validated (e.g. when profiling failed because a column is missing). An expectation Great
    Expectations rejects raises SpecError before any row is read."""
    check_with_great_expectations(suite)
    profiles = profiles or {}
    ordered = sorted(days)
    if wh.sql.is_duckdb:
        return _pandas_days(
            wh, spec, suite, ordered, profiles, max_rows=max_rows, chunk_rows=chunk_rows, progress=progress
        )
    return _sql_days(wh, spec, suite, ordered, profiles, progress=progress)


def check_days(
    wh: Warehouse,
    spec: MonitorSpec,
    suite: Suite,
    days: Sequence[dt.date],
    profiles: Mapping[dt.date, Profile],
    *,
    audit: Audit,
    progress: Progress = _quiet_progress,
) -> dict[dt.date, DayQuality]:
    """Validate, store the outcomes in ``monitoring.quality_results``, and remove the drift rows of
    days whose critical expectations failed (their drift is blocked; a re-run must not leave an
    earlier verdict behind)."""
    results = validate_days(wh, spec, suite, days, profiles, progress=progress)
    versions = {d: model_version_label(p.model_versions) for d, p in profiles.items()}
    write_quality(wh, spec, suite, results, audit=audit, versions=versions)
    critical = [d for d, r in results.items() if r.level == "critical"]
    if critical:
        wh.profiles.delete_drift(spec, critical)
    return results


def blocked_days(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date]) -> list[dt.date]:
    """Days whose stored quality results have a failed critical expectation."""
    levels = read_levels(wh, spec, days)
    return sorted(d for d in days if levels.get(d) is Level.ERROR)
