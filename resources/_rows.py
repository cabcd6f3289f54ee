"""Raw rows: the only code that streams rows out of the warehouse (``Warehouse.rows``), to
train a challenger and to validate a day's batches with pandas; plus the source's columns."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources._engine import WarehouseEngine, days_relation, table_columns
from resources._labels import LabelQueries
from resources._sql import duckdb_rows_statement

if TYPE_CHECKING:
    import pandas as pd

LABEL = "__label__"  # columns of training frames; spec names may not start with "__" (spec._model)
DAY_COLUMN = "__day__"


class RawRows:
    """Training frames and day batches of one warehouse; ``labels`` picks the labeled rows."""

    def __init__(self, db: WarehouseEngine, labels: LabelQueries) -> None:
        self._db = db
        self._labels = labels

    def training_frame(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> pd.DataFrame:
        """Rows of ``first..last`` with a valid label (binary: 0 or 1; regression: finite), one label
        per id by the duplicates policy: features, label and scoring day. The one place raw rows
        leave the warehouse, to train a challenger."""
        import pandas as pd  # noqa: PLC0415 - pandas would slow every start of the code location

        assert spec.labels is not None
        features = spec.feature_columns
        rows = self._labels.labeled_rows(spec, first, last)
        stmt, params = rows.training_statement(self._db.sql, features, label_as=LABEL, day_as=DAY_COLUMN)
        with self._db.begin_days(spec, columns=spec.features.numeric) as conn:
            frame = pd.DataFrame(conn.execute(stmt, params).fetchall(), columns=[*features, LABEL, DAY_COLUMN])
        frame[DAY_COLUMN] = pd.to_datetime(frame[DAY_COLUMN]).dt.date
        return frame

    def live_frame(self, spec: MonitorSpec, after: dt.date, limit: int) -> pd.DataFrame:
        """The most recent ``limit`` rows scored after the day ``after`` (labeled or not): the
        features and the scoring day, newest first. Read to score a challenger on live traffic."""
        import pandas as pd  # noqa: PLC0415 - pandas would slow every start of the code location

        q = self._db.sql
        ts = q.col(spec.source.timestamp_column)
        features = spec.feature_columns
        cols = ", ".join(q.col(c) for c in features)
        stmt = sa.text(
            f"SELECT {cols}, CAST({ts} AS DATE) FROM {q.table(spec.source.table)} "
            f"WHERE {ts} >= :start ORDER BY {ts} DESC LIMIT :limit"
        )
        params = {"start": dt.datetime.combine(after + dt.timedelta(days=1), dt.time()), "limit": limit}
        with self._db.begin_days(spec, columns=spec.features.numeric) as conn:
            frame = pd.DataFrame(conn.execute(stmt, params).fetchall(), columns=[*features, DAY_COLUMN])
        frame[DAY_COLUMN] = pd.to_datetime(frame[DAY_COLUMN]).dt.date
        return frame

    def source_columns(self, spec: MonitorSpec) -> dict[str, str]:
        """Columns of the source table and their SQL types as text (see ``table_columns``)."""
        return self.table_columns(spec.source.table)

    def table_columns(self, dotted: str) -> dict[str, str]:
        """Columns of a table and their SQL types as text (``resources._engine.table_columns``)."""
        return table_columns(self._db, dotted)

    def count_day_rows(self, spec: MonitorSpec, day: dt.date) -> int:
        stmt, params = self._db.sql.count_statement(days_relation(spec, day, day))
        with self._db.begin_days(spec) as conn:
            return int(conn.execute(stmt, params).scalar() or 0)

    def day_frames(
        self,
        spec: MonitorSpec,
        day: dt.date,
        columns: Sequence[str],
        *,
        chunk_rows: int,
        sample_share: float | None = None,
        seed: int = 0,
    ) -> Generator[pd.DataFrame]:
        """DuckDB only: the day's rows of ``columns`` as pandas frames of about ``chunk_rows`` rows,
        streamed from one query, so memory holds one chunk at a time. With ``sample_share`` only rows
        whose ``hash(seed, key) % 10^6 < sample_share * 10^6`` are read (key: ``source.id_column``,
        else the timestamp and the columns): a deterministic sample, the same rows on every run.
        At least one frame is yielded (empty, with the columns' types, for a day without rows)."""
        if not self._db.sql.is_duckdb:
            raise WarehouseError("pandas batches of a day are read from DuckDB only; other engines validate in SQL")
        import pandas as pd  # noqa: PLC0415 - pandas would slow every start of the code location

        statement = functools.partial(
            duckdb_rows_statement,
            self._db.sql,
            days_relation(spec, day, day),
            columns,
            sample_share=sample_share,
            seed=seed,
            sample_key=spec.source.id_column,
        )
        sql, params = statement()
        import duckdb  # noqa: PLC0415  (only this DuckDB-only path needs the driver's own errors)

        vectors = max(1, -(-chunk_rows // 2048))  # DuckDB hands out results in vectors of 2048 rows
        with self._db.begin_days(spec) as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            try:
                cursor = raw.execute(sql, params)
                pending: list[pd.DataFrame] = []
                held, yielded = 0, False
                while (frame := cursor.fetch_df_chunk(vectors)) is not None and len(frame):
                    pending.append(frame)
                    held += len(frame)
                    if held >= chunk_rows:  # a filter leaves vectors part-full: gather up to a chunk
                        chunk = pd.concat(pending, ignore_index=True)
                        pending, held, yielded = [], 0, True  # freed before the caller works on the chunk
                        yield chunk
                        del chunk
                if pending:
                    chunk = pd.concat(pending, ignore_index=True)
                    pending = []
                    yield chunk
                elif not yielded:
                    yield raw.execute(*statement(limit=0)).fetch_df_chunk(1)
            except duckdb.Error as e:
                raise self._db.query_error(e, columns) from None
