"""SQL that aggregates scored rows with their labels inside the warehouse.

Each scored row of the source is ``LEFT JOIN``-ed to its label (in the source itself, or in the
labels table on the id columns), so unlabeled rows still count in ``n_scored``. Queries group by
day and return small aggregates (see ``monitoring_assets.core.performance`` and ``.fairness``);
rows never leave the warehouse. Identifiers are quoted, values bound, as in ``_sql`` (multiclass
class values too: ``:c0``, ``:c1``, ... compared with labels and predicted classes cast to text).

Duplicates, with ``source.id_column`` (window functions, in the warehouse): source rows repeating
an id on one scoring day count once (the latest by timestamp, then the highest score); label rows
of one id count once, the one the ``labels.duplicates`` policy picks (``latest`` or ``earliest``
by arrival, then the highest label; label rows with a NULL label are ignored). How many rows were
dropped is counted per day (``n_duplicate_ids``, ``n_duplicate_labels``). Rows with a NULL id are
kept, each one a row of its own.

The window functions buffer a whole day, so the aggregates (``binary_aggregates``,
``regression_aggregates``, ``multiclass_aggregates``, ``slice_counts``) first count, per day, the
source rows and repeated ids (``_source_counts``: ``count(DISTINCT id)``; on DuckDB, integer ids as
the set bits of a bitmap). Days without a repeated id read the source as it is, the others through
the window. Labels are first joined as they are: a day whose joined rows outnumber its
de-duplicated source rows has an id with several label rows, and only those days are aggregated
again with the labels ranked. The result is the same as ranking everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa

from monitoring_assets.core.fairness import NULL_GROUP, GroupCounts
from monitoring_assets.core.performance import (
    CALIBRATION_BINS,
    EPS,
    PROBABILITY_SUM_TOLERANCE,
    BinaryAggregate,
    MulticlassAggregate,
    RegressionAggregate,
    calibration_bins,
)
from monitoring_assets.core.profile import OTHER
from monitoring_assets.spec import MonitorSpec
from resources._sql import DAY, Relation, SqlBuilder, as_date

# Columns the de-duplicating subqueries add (spec names may not start with "__").
RANK, DUP_IDS, N_LABELS = "__rank__", "__dup_ids__", "__n_labels__"
# Most bits of the bitmaps that count a window's distinct integer ids on DuckDB (32 MB over all the
# days; ``LabeledRows._bitmap_counts``).
BITMAP_BITS = 2**28

T = TypeVar("T")


@dataclass(frozen=True)
class LabeledRows:
    """Where a monitor's scored rows and their labels are, and how to read them."""

    relation: Relation
    task: str
    score_column: str | None  # None: multiclass (``class_scores``)
    predicted_column: str | None
    threshold: float
    label_column: str
    labels_table: str | None = None  # None: the label is a column of the relation itself
    source_id: str | None = None
    labels_id: str | None = None
    # Set by the warehouse (``LabelQueries.labeled_rows``), not from the spec alone:
    arrived_at: str | None = None  # labels' arrival time column, orders duplicate labels
    duplicates: str = "latest"  # labels.duplicates: "latest" or "earliest"
    label_kind: str = "numeric"  # the label column's SQL type: "numeric" or "boolean"
    # Set by ``_deduplicated`` from the counts of one pass over the source (None: unknown, so every
    # day goes through the window functions):
    dup_days: tuple[dt.date, ...] | None = None  # days of the window with a repeated source id
    plain_labels: bool = False  # join label rows unranked (the caller checks no id had two)
    only_days: tuple[dt.date, ...] | None = None  # restrict the window to these days
    # Only the rows of one model version: (version column, its value as text), bound.
    version_filter: tuple[str, str] | None = None
    # Multiclass: the class values (bound as parameters, compared as text) and the probability
    # column of each, in the same order (empty: only the predicted class).
    classes: tuple[str, ...] = ()
    class_scores: tuple[str, ...] = ()

    @classmethod
    def for_days(cls, spec: MonitorSpec, first: dt.date, last: dt.date) -> LabeledRows:
        assert spec.labels is not None
        return cls(
            Relation.of_days(spec.source.table, spec.source.timestamp_column, first, last),
            spec.prediction.task,
            spec.prediction.score_column,
            spec.prediction.label_column,
            spec.prediction.threshold,
            spec.labels.label_column,
            spec.labels.table,
            spec.source.id_column,
            spec.labels.id_column,
            classes=tuple(spec.prediction.classes or ()),
            class_scores=tuple(spec.prediction.class_score_columns),
        )

    def from_clause(self, q: SqlBuilder, params: dict[str, Any], extra: Sequence[str] = ()) -> str:
        """``FROM`` source ``s`` (``LEFT JOIN`` labels ``l``) ``WHERE`` the window and ``extra``;
        with an id column, ``s`` and ``l`` hold one row per id (see the module docstring)."""
        where = ""
        window = self._window(q, params)
        clauses = [*window, *extra]
        if clauses:
            where = f" WHERE {' AND '.join(clauses)}"
        source = f"{self._unique_source(q, window, params)} AS s"
        if self.labels_table is None:
            return f"{source}{where}"
        assert self.source_id and self.labels_id
        labels = self._unique_labels(q, window)
        join = f" LEFT JOIN {labels} AS l ON s.{q.col(self.source_id)} = l.{q.col(self.labels_id)}"
        return f"{source}{join}{where}"

    def _window(self, q: SqlBuilder, params: dict[str, Any]) -> list[str]:
        """The window's conditions on the source ``s`` (and ``only_days``)."""
        window = q.window_clauses(self.relation, params, alias="s")
        if self.version_filter is not None:
            column, params["version"] = self.version_filter
            window.append(f"CAST(s.{q.col(column)} AS VARCHAR) = :version")
        if self.only_days is not None:
            window.append(f"{self._day(q)} IN ({self._bind_days(params, 'od', self.only_days)})")
        return window

    def _bind_days(self, params: dict[str, Any], prefix: str, days: Sequence[dt.date]) -> str:
        params.update({f"{prefix}{i}": d for i, d in enumerate(days)})
        return ", ".join(f"CAST(:{prefix}{i} AS DATE)" for i in range(len(days)))

    def _unique_source(self, q: SqlBuilder, window: Sequence[str], params: dict[str, Any]) -> str:
        """The source, or (with an id column) its window with one row per (day, id): the rows as
        they are on days known to repeat no id, ranked on the others."""
        table = q.table(self.relation.table)
        if self.source_id is None:
            return table
        if self.dup_days is None:
            return self._ranked_source(q, window)
        plain = [*window]
        if self.dup_days:
            days = self._bind_days(params, "dd", self.dup_days)
            plain.append(f"{self._day(q)} NOT IN ({days})")
        where = f" WHERE {' AND '.join(plain)}" if plain else ""
        fast = f"SELECT s.*, 0 AS {q.col(DUP_IDS)}, 1 AS {q.col(RANK)} FROM {table} AS s{where}"
        if not self.dup_days:
            return f"({fast})"
        ranked = self._ranked_source(q, [*window, f"{self._day(q)} IN ({days})"])
        return f"({fast} UNION ALL SELECT * FROM {ranked} AS s)"

    def _ranked_source(self, q: SqlBuilder, window: Sequence[str]) -> str:
        table = q.table(self.relation.table)
        assert self.source_id is not None
        sid = f"s.{q.col(self.source_id)}"
        scores = [self.score_column] if self.score_column else list(self.class_scores)
        order = [f"s.{q.col(c)} DESC NULLS LAST" for c in scores]
        if self.relation.timestamp_column:
            order.insert(0, f"s.{q.col(self.relation.timestamp_column)} DESC")
        if self.predicted_column:
            order.append(f"s.{q.col(self.predicted_column)} DESC NULLS LAST")
        over = f"OVER (PARTITION BY {self._day(q)}, {sid}"
        where = f" WHERE {' AND '.join(window)}" if window else ""
        ranked = (
            f"SELECT s.*, CASE WHEN {sid} IS NULL THEN 0 ELSE count(*) {over}) - 1 END AS {q.col(DUP_IDS)}, "
            f"row_number() {over} ORDER BY {', '.join(order)}) AS {q.col(RANK)} FROM {table} AS s{where}"
        )
        return f"(SELECT * FROM ({ranked}) AS s WHERE s.{q.col(RANK)} = 1 OR {sid} IS NULL)"

    def _unique_labels(self, q: SqlBuilder, window: Sequence[str]) -> str:
        """The label rows of the window's ids, one per id (the policy's pick), with their count."""
        assert self.labels_table and self.labels_id and self.source_id
        lid, label = f"l.{q.col(self.labels_id)}", f"l.{q.col(self.label_column)}"
        order = [f"{label} DESC NULLS LAST"]
        if self.arrived_at:
            direction = "ASC" if self.duplicates == "earliest" else "DESC"
            order.insert(0, f"l.{q.col(self.arrived_at)} {direction} NULLS LAST")
        if self.plain_labels:
            return (
                f"(SELECT l.*, 1 AS {q.col(N_LABELS)} FROM {q.table(self.labels_table)} AS l WHERE {label} IS NOT NULL)"
            )
        where = f" WHERE {' AND '.join(window)}" if window else ""
        ids = f"SELECT s.{q.col(self.source_id)} FROM {q.table(self.relation.table)} AS s{where}"
        ranked = (
            f"SELECT l.*, count(*) OVER (PARTITION BY {lid}) AS {q.col(N_LABELS)}, "
            f"row_number() OVER (PARTITION BY {lid} ORDER BY {', '.join(order)}) AS {q.col(RANK)} "
            f"FROM {q.table(self.labels_table)} AS l WHERE {label} IS NOT NULL AND {lid} IN ({ids})"
        )
        return f"(SELECT * FROM ({ranked}) AS l WHERE l.{q.col(RANK)} = 1)"

    def _source_counts(self, conn: sa.Connection, q: SqlBuilder) -> dict[dt.date | None, tuple[int, int]]:
        """Per day of the window: (rows once de-duplicated, rows dropped as repeated ids)."""
        assert self.source_id is not None
        params: dict[str, Any] = {}
        window = self._window(q, params)
        where = f" WHERE {' AND '.join(window)}" if window else ""
        sid = f"s.{q.col(self.source_id)}"
        source = f"FROM {q.table(self.relation.table)} AS s{where}"
        if q.is_duckdb:
            bitmap = self._bitmap_counts(conn, q, sid, source, params)
            if bitmap is not None:
                return bitmap
        # Rows without an id are each kept; the repeats of an id are its rows but one. count(DISTINCT)
        # took DuckDB 1.1 CPU s at 10M rows, a GROUP BY (day, id) and a sum over it 1.5-1.9 s.
        stmt = f"SELECT {self._day(q)} AS {DAY}, count(*), count({sid}) - count(DISTINCT {sid}) {source} GROUP BY 1"
        return {as_date(d): (int(n) - int(dups), int(dups)) for d, n, dups in conn.execute(sa.text(stmt), params)}

    def _bitmap_counts(
        self, conn: sa.Connection, q: SqlBuilder, sid: str, source: str, params: dict[str, Any]
    ) -> dict[dt.date | None, tuple[int, int]] | None:
        """``_source_counts`` on DuckDB for integer ids: the distinct ids of a day are the set bits
        of one bitmap over the window's id range (``bitstring_agg``), exact, about a tenth of
        ``count(DISTINCT)``'s time (0.13 against 1.24 s at 10M rows). None (use
        ``count(DISTINCT)``) for ids that are not integers or span more than ``BITMAP_BITS`` bits
        over all the days."""
        day = self._day(q)
        first = f"SELECT {day} AS {DAY}, count(*), count({sid}), min({sid}), max({sid}) {source} GROUP BY 1"
        rows = conn.execute(sa.text(first), params).all()
        ends = [v for _, _, _, lo, hi in rows for v in (lo, hi) if v is not None]
        if not ends:  # no row, or no id: nothing repeats
            return {as_date(d): (int(n), 0) for d, n, _, _, _ in rows}
        if not all(type(v) is int for v in ends):  # bool is not an id; DECIMAL, strings: not integers
            return None
        lo, hi = min(ends), max(ends)
        if lo < -(2**63) or hi >= 2**63 or (hi - lo + 1) * len(rows) > BITMAP_BITS:
            return None
        distinct = {
            as_date(d): int(bits or 0)
            for d, bits in conn.execute(
                sa.text(
                    f"SELECT {day} AS {DAY}, bit_count(bitstring_agg(CAST({sid} AS BIGINT), :id_lo, :id_hi)) "
                    f"{source} GROUP BY 1"
                ),
                {**params, "id_lo": lo, "id_hi": hi},
            )
        }
        out: dict[dt.date | None, tuple[int, int]] = {}
        for d, n, with_id, _, _ in rows:
            dups = int(with_id) - distinct.get(as_date(d), 0)
            out[as_date(d)] = (int(n) - dups, dups)
        return out

    def _deduplicated(
        self,
        conn: sa.Connection,
        q: SqlBuilder,
        run: Callable[[LabeledRows], dict[dt.date | None, T]],
        n_rows: Callable[[T], int],
    ) -> dict[dt.date | None, T]:
        """``run`` (per-day results) with the window functions only where duplicates are.

        ``n_rows`` gives a day's result's joined rows. A ``LEFT JOIN`` to unranked labels returns
        as many rows as the de-duplicated source exactly when no id has two label rows, and then
        ranking them changes nothing; other days are run again with ranked labels."""
        if self.source_id is None or self.relation.timestamp_column is None or self.dup_days is not None:
            return run(self)
        counts = self._source_counts(conn, q)
        dup_days = tuple(sorted(d for d, (_, dups) in counts.items() if dups and d is not None))
        if len(dup_days) != sum(1 for _, dups in counts.values() if dups):  # a NULL day: rank them all
            return run(self)
        fast = replace(self, dup_days=dup_days, plain_labels=self.labels_table is not None)
        out = run(fast)
        again = tuple(sorted(d for d, v in out.items() if d is not None and n_rows(v) != counts.get(d, (0, 0))[0]))
        if fast.plain_labels and again:
            out |= run(replace(self, dup_days=dup_days, only_days=again))
        return out

    def _duplicates(self, q: SqlBuilder) -> str:
        """Per scored row: ``dup_ids`` (rows of its (day, id) dropped) and ``dup_labels`` (label rows
        of its id dropped), as columns of the inner SELECT."""
        # Zero as a literal where the fast path knows it (no day ranked; labels unranked): a
        # constant through the join is not folded by the engine and cost a column per row.
        dup_ids = f"s.{q.col(DUP_IDS)}" if self.source_id and self.dup_days != () else "0"
        dup_labels = f"coalesce(l.{q.col(N_LABELS)} - 1, 0)" if self.labels_table and not self.plain_labels else "0"
        return f"{dup_ids} AS dup_ids, {dup_labels} AS dup_labels"

    def label_expr(self, q: SqlBuilder) -> str:
        owner = "s" if self.labels_table is None else "l"
        return f"{owner}.{q.col(self.label_column)}"

    def _day(self, q: SqlBuilder) -> str:
        if self.relation.timestamp_column is None:
            return "CAST(NULL AS DATE)"
        return f"CAST(s.{q.col(self.relation.timestamp_column)} AS DATE)"

    def _raw_score(self, q: SqlBuilder) -> str:
        assert self.score_column is not None, "multiclass rows have class_scores"
        return f"CAST(s.{q.col(self.score_column)} AS DOUBLE PRECISION)"

    def _finite_score(self, q: SqlBuilder) -> str:
        raw = self._raw_score(q)
        return f"CASE WHEN {q.finite(raw)} THEN {raw} END"

    def _valid_score(self, q: SqlBuilder) -> str:
        """Binary: the score when it is a probability (finite, in [0, 1]), else NULL."""
        raw = self._raw_score(q)
        return f"CASE WHEN {q.finite(raw)} AND {raw} >= 0 AND {raw} <= 1 THEN {raw} END"

    def invalid_score(self, q: SqlBuilder) -> str:
        """1 for a score that is present but invalid (non-finite; binary: outside [0, 1]), else 0."""
        raw = self._raw_score(q)
        valid = self._valid_score(q) if self.task == "binary_classification" else self._finite_score(q)
        return f"CASE WHEN {raw} IS NOT NULL AND {valid} IS NULL THEN 1 ELSE 0 END"

    def binary_label(self, q: SqlBuilder) -> str:
        """0 or 1; -1 for a label that is there but neither (NaN, 2, 0.5, ...); NULL: no label yet.
        Compared, never cast, so that 0.7 is not rounded into a valid label."""
        raw = self.label_expr(q)
        value = f"CAST({raw} AS INTEGER)" if self.label_kind == "boolean" else raw
        return f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} = 0 THEN 0 WHEN {value} = 1 THEN 1 ELSE -1 END"

    def _predicted(self, q: SqlBuilder, score: str, params: dict[str, Any]) -> str:
        if self.predicted_column:
            return f"CAST(s.{q.col(self.predicted_column)} AS INTEGER)"
        params["threshold"] = self.threshold
        return f"CASE WHEN {score} IS NULL THEN NULL WHEN {score} >= :threshold THEN 1 ELSE 0 END"

    # -- binary classification ------------------------------------------------------------------

    def binary_statement(self, q: SqlBuilder, n_bins: int) -> tuple[sa.TextClause, dict[str, Any]]:
        """Per (day, label, predicted): rows, log-loss sum, squared-error sum, invalid scores and
        duplicates, and the non-empty score cells as three arrays ordered by cell (cell, rows,
        score sum): a day comes back as a few rows, not one per cell."""
        params: dict[str, Any] = {"nb": n_bins, "nb_last": n_bins - 1, "eps": EPS, "one_eps": 1 - EPS}
        score = self._valid_score(q)
        inner = (
            f"SELECT {self._day(q)} AS {DAY}, {self.binary_label(q)} AS y, "
            f"{self._predicted(q, score, params)} AS yhat, {score} AS p, {self.invalid_score(q)} AS bad_p, "
            f"{self._duplicates(q)} FROM {self.from_clause(q, params)}"
        )
        # greatest/least skip NULLs (a missing score would clip to eps): the CASE below tests r.p first.
        clipped = "least(greatest(r.p, CAST(:eps AS DOUBLE PRECISION)), CAST(:one_eps AS DOUBLE PRECISION))"
        cell = (
            "CASE WHEN r.p IS NOT NULL THEN CAST(least(greatest(floor(r.p * CAST(:nb AS DOUBLE PRECISION)), 0), "
            ":nb_last) AS INTEGER) END"
        )
        cells = (
            f"SELECT r.{DAY}, r.y, r.yhat, {cell} AS cell, count(*) AS n, sum(r.p) AS score_sum, "
            f"sum(CASE WHEN r.p IS NULL THEN NULL WHEN r.y = 1 THEN -ln({clipped}) "
            f"WHEN r.y = 0 THEN -ln(1 - {clipped}) END) AS log_loss, "
            "sum((r.p - r.y) * (r.p - r.y)) AS sq_err, sum(r.bad_p) AS bad_p, sum(r.dup_ids) AS dup_ids, "
            f"sum(r.dup_labels) AS dup_labels FROM ({inner}) AS r GROUP BY r.{DAY}, r.y, r.yhat, 4"
        )
        scored = "FILTER (WHERE c.cell IS NOT NULL)"
        stmt = (
            f"SELECT c.{DAY}, c.y, c.yhat, sum(c.n), sum(c.log_loss), sum(c.sq_err), sum(c.bad_p), "
            f"sum(c.dup_ids), sum(c.dup_labels), array_agg(c.cell ORDER BY c.cell) {scored}, "
            f"array_agg(c.n ORDER BY c.cell) {scored}, array_agg(c.score_sum ORDER BY c.cell) {scored} "
            f"FROM ({cells}) AS c GROUP BY c.{DAY}, c.y, c.yhat"
        )
        return sa.text(stmt), params

    def binary_aggregates(
        self, conn: sa.Connection, q: SqlBuilder, n_bins: int
    ) -> dict[dt.date | None, BinaryAggregate]:
        return self._deduplicated(conn, q, lambda rows: rows._binary_aggregates(conn, q, n_bins), _n_scored)

    def _binary_aggregates(
        self, conn: sa.Connection, q: SqlBuilder, n_bins: int
    ) -> dict[dt.date | None, BinaryAggregate]:
        stmt, params = self.binary_statement(q, n_bins)
        parts: dict[dt.date | None, dict[str, Any]] = {}
        for row in conn.execute(stmt, params):
            day, y, yhat, rows, log_loss, sq_err, bad_scores, dup_ids, dup_labels, cells, counts, sums = row
            key = as_date(day)
            d = parts.get(key)
            if d is None:  # not setdefault: its default (fresh arrays) would be built per row
                d = parts[key] = _binary_parts(n_bins)
            n = int(rows)
            d["n_scored"] += n
            d["n_invalid_scores"] += int(bad_scores)
            d["n_duplicate_ids"] += int(dup_ids)
            d["n_duplicate_labels"] += int(dup_labels)
            if yhat in (0, 1):
                d["n_predicted"] += n
                d["n_predicted_positive"] += n if yhat == 1 else 0
            if y is None:
                continue
            d["n_labeled"] += n
            if y == -1:
                d["n_invalid_labels"] += n
            if y not in (0, 1) or yhat not in (0, 1) or not cells:
                d["n_invalid"] += n
                continue
            cell = np.asarray(cells, np.int64)
            count = np.asarray(counts, np.int64)
            valid = int(count.sum())  # rows without a score have no cell: invalid
            d["n_invalid"] += n - valid
            d["confusion"][y, yhat] += valid
            d["hist"][y, cell] += count  # cells are distinct within one (day, label, predicted)
            np.add.at(d["score_sum"][y], calibration_bins(cell, n_bins), np.asarray(sums, np.float64))
            d["log_loss_sum"] += float(log_loss or 0.0)
            d["squared_error_sum"] += float(sq_err or 0.0)
        return {day: BinaryAggregate(n_bins=n_bins, **p) for day, p in parts.items()}

    def valid_label(self, q: SqlBuilder) -> str:
        """The label when it is a valid target (binary: 0 or 1; regression: finite; multiclass: one
        of the classes, as text), else NULL. Multiclass binds ``:c0``.. itself: callers' statements
        carry ``class_params``."""
        if self.task == "multiclass_classification":
            raw = self.label_expr(q)
            return f"CASE WHEN {self.class_index(q, raw)} >= 0 THEN CAST({raw} AS VARCHAR) END"
        if self.task == "binary_classification":
            y = self.binary_label(q)
            return f"CASE WHEN {y} IN (0, 1) THEN {y} END"
        target = f"CAST({self.label_expr(q)} AS DOUBLE PRECISION)"
        return f"CASE WHEN {q.finite(target)} THEN {target} END"

    def label_counts(self, conn: sa.Connection, q: SqlBuilder) -> dict[dt.date | None, tuple[int, int]]:
        """Per scoring day: (labeled rows, labeled rows whose label is not a valid target)."""
        params: dict[str, Any] = self.class_params()
        label = self.label_expr(q)
        stmt = (
            f"SELECT {self._day(q)}, count({label}), "
            f"sum(CASE WHEN {label} IS NOT NULL AND {self.valid_label(q)} IS NULL THEN 1 ELSE 0 END) "
            f"FROM {self.from_clause(q, params)} GROUP BY 1"
        )
        return {as_date(d): (int(n), int(bad or 0)) for d, n, bad in conn.execute(sa.text(stmt), params)}

    # -- multiclass classification --------------------------------------------------------------

    def class_params(self) -> dict[str, Any]:
        """The class values as bound parameters ``c0``, ``c1``, ... (never interpolated)."""
        return {f"c{i}": value for i, value in enumerate(self.classes)}

    def class_index(self, q: SqlBuilder, expr: str) -> str:
        """The index in ``classes`` of ``expr`` compared as text; -1 for another value, NULL for NULL."""
        text = f"CAST({expr} AS VARCHAR)"
        whens = " ".join(f"WHEN {text} = :c{i} THEN {i}" for i in range(len(self.classes)))
        return f"CASE WHEN {expr} IS NULL THEN NULL {whens} ELSE -1 END"

    def _class_probabilities(self, q: SqlBuilder) -> list[str]:
        return [f"CAST(s.{q.col(c)} AS DOUBLE PRECISION)" for c in self.class_scores]

    def _probabilities_ok(self, q: SqlBuilder, params: dict[str, Any]) -> str:
        """TRUE when every probability is finite and in [0, 1] and they sum to 1 within the
        tolerance (FALSE or NULL otherwise)."""
        probs = self._class_probabilities(q)
        params["sum_tol"] = PROBABILITY_SUM_TOLERANCE
        ranges = " AND ".join(f"{q.finite(p)} AND {p} >= 0 AND {p} <= 1" for p in probs)
        return f"({ranges} AND abs({' + '.join(probs)} - 1) <= CAST(:sum_tol AS DOUBLE PRECISION))"

    def _argmax(self, q: SqlBuilder) -> str:
        """The index of the largest probability, the first in ``classes`` order on a tie (as
        ``core.performance.predicted_classes``): class i wins when no later class is larger and
        (the earlier WHENs having failed) every earlier class is smaller."""
        probs = self._class_probabilities(q)
        whens = [
            f"WHEN {' AND '.join(f'{probs[i]} >= {probs[j]}' for j in range(i + 1, len(probs)))} THEN {i}"
            for i in range(len(probs) - 1)
        ]
        return f"CASE {' '.join(whens)} ELSE {len(probs) - 1} END"

    def _predicted_class(self, q: SqlBuilder, params: dict[str, Any]) -> str:
        """The predicted class's index: the predicted-class column's (-1: not a class), else the
        argmax of the probabilities when they are valid (NULL otherwise)."""
        if self.predicted_column:
            return self.class_index(q, f"s.{q.col(self.predicted_column)}")
        return f"CASE WHEN {self._probabilities_ok(q, params)} THEN {self._argmax(q)} END"

    def multiclass_statement(self, q: SqlBuilder, n_bins: int) -> tuple[sa.TextClause, dict[str, Any]]:
        """Per day, one scan grouped by GROUPING SETS: ``(day, y, yhat)`` gives the rows, valid
        rows, log-loss sum, invalid scores and duplicates of each (label, predicted class); with
        probability columns, one set ``(day, label == k, cell of P(k))`` per class k gives its
        histogram, returned as two arrays ordered by cell. A day comes back as a few rows."""
        params: dict[str, Any] = self.class_params() | {"nb": n_bins, "nb_last": n_bins - 1}
        k = len(self.classes)
        y = self.class_index(q, self.label_expr(q))
        probs = self._class_probabilities(q)
        if probs:
            ok = self._probabilities_ok(q, params)
            present = " AND ".join(f"{p} IS NOT NULL" for p in probs)
            bad_p = f"CASE WHEN {present} AND NOT coalesce({ok}, FALSE) THEN 1 ELSE 0 END"
        else:
            ok, bad_p = "TRUE", "0"
        yhat = self._predicted_class(q, params)
        cols = [f"{p} AS p{i}" for i, p in enumerate(probs)]
        inner = (
            f"SELECT {self._day(q)} AS {DAY}, {y} AS y, {yhat} AS yhat, "
            f"CASE WHEN {ok} THEN 1 ELSE 0 END AS ok, {bad_p} AS bad_p, {', '.join([*cols, self._duplicates(q)])} "
            f"FROM {self.from_clause(q, params)}"
        )
        valid = "(r.y >= 0 AND r.yhat >= 0 AND r.ok = 1)"
        extra = []
        if probs:
            params |= {"eps": EPS, "one_eps": 1 - EPS}
            p_true = f"CASE r.y {' '.join(f'WHEN {i} THEN r.p{i}' for i in range(k))} END"
            clipped = f"least(greatest({p_true}, CAST(:eps AS DOUBLE PRECISION)), CAST(:one_eps AS DOUBLE PRECISION))"
            extra.append(f"CASE WHEN {valid} THEN -ln({clipped}) END AS ll")
            for i in range(k):
                cell = f"CAST(least(greatest(floor(r.p{i} * CAST(:nb AS DOUBLE PRECISION)), 0), :nb_last) AS INTEGER)"
                extra.append(f"CASE WHEN {valid} THEN {cell} END AS cell{i}")
                extra.append(f"CASE WHEN {valid} THEN CASE WHEN r.y = {i} THEN 1 ELSE 0 END END AS pos{i}")
        else:
            extra.append("CAST(NULL AS DOUBLE PRECISION) AS ll")
        rows = f"SELECT r.*, CASE WHEN {valid} THEN 1 ELSE 0 END AS v, {', '.join(extra)} FROM ({inner}) AS r"
        sets = [f"(t.{DAY}, t.y, t.yhat)", *(f"(t.{DAY}, t.pos{i}, t.cell{i})" for i in range(len(probs)))]

        # GROUPING(x) is 0 in the sets that group by x: it tells which class's set a row is of.
        def pick(name: str) -> str:
            return " ".join(f"WHEN GROUPING(t.cell{i}) = 0 THEN {name.format(i=i)}" for i in range(len(probs)))

        cls = f"CASE {pick('{i}')} ELSE -1 END" if probs else "-1"
        pos, cell = (f"CASE {pick('t.pos{i}')} END", f"CASE {pick('t.cell{i}')} END") if probs else ("NULL", "NULL")
        grouped = (
            f"SELECT t.{DAY}, t.y, t.yhat, {cls} AS k, {pos} AS pos, {cell} AS cell, count(*) AS n, sum(t.v) AS nv, "
            f"sum(t.ll) AS ll, sum(t.bad_p) AS bad_p, sum(t.dup_ids) AS dup_ids, sum(t.dup_labels) AS dup_labels "
            f"FROM ({rows}) AS t GROUP BY GROUPING SETS ({', '.join(sets)})"
        )
        scored = "FILTER (WHERE g.cell IS NOT NULL AND g.pos IS NOT NULL)"
        stmt = (
            f"SELECT g.{DAY}, g.k, g.y, g.yhat, g.pos, sum(g.n), sum(g.nv), sum(g.ll), sum(g.bad_p), sum(g.dup_ids), "
            f"sum(g.dup_labels), array_agg(g.cell ORDER BY g.cell) {scored}, array_agg(g.n ORDER BY g.cell) {scored} "
            f"FROM ({grouped}) AS g GROUP BY g.{DAY}, g.k, g.y, g.yhat, g.pos"
        )
        return sa.text(stmt), params

    def multiclass_aggregates(
        self, conn: sa.Connection, q: SqlBuilder, n_bins: int
    ) -> dict[dt.date | None, MulticlassAggregate]:
        """Per day, the multiclass aggregate; ``n_bins`` is ignored (0) without probability columns."""
        bins = n_bins if self.class_scores else 0
        return self._deduplicated(conn, q, lambda rows: rows._multiclass_aggregates(conn, q, bins), _n_scored)

    def _multiclass_aggregates(
        self, conn: sa.Connection, q: SqlBuilder, n_bins: int
    ) -> dict[dt.date | None, MulticlassAggregate]:
        stmt, params = self.multiclass_statement(q, max(n_bins, 1))
        k = len(self.classes)
        parts: dict[dt.date | None, dict[str, Any]] = {}
        for row in conn.execute(stmt, params):
            day, cls, y, yhat, pos, rows, valid, log_loss, bad_scores, dup_ids, dup_labels, cells, counts = row
            key = as_date(day)
            d = parts.get(key)
            if d is None:
                d = parts[key] = _multiclass_parts(k, n_bins)
            if cls >= 0:  # one class's histogram
                if cells and pos is not None:
                    d["hist"][cls, pos, np.asarray(cells, np.int64)] += np.asarray(counts, np.int64)
                continue
            n, nv = int(rows), int(valid or 0)
            d["n_scored"] += n
            d["n_invalid_scores"] += int(bad_scores or 0)
            d["n_duplicate_ids"] += int(dup_ids or 0)
            d["n_duplicate_labels"] += int(dup_labels or 0)
            if yhat is not None and yhat >= 0:
                d["n_predicted"] += n
                d["predicted"][yhat] += n
            if y is None:
                continue
            d["n_labeled"] += n
            if y == -1:
                d["n_invalid_labels"] += n
            d["n_invalid"] += n - nv
            if nv:
                d["confusion"][y, yhat] += nv
                d["log_loss_sum"] += float(log_loss or 0.0)
        return {day: MulticlassAggregate(n_bins=n_bins, **p) for day, p in parts.items()}

    # -- label arrivals and training rows -------------------------------------------------------

    def arrivals_statement(self, q: SqlBuilder, after: dt.datetime | None) -> tuple[sa.TextClause, dict[str, Any]]:
        """Per scoring day: label rows that arrived after ``after`` (any arrival when None), and
        the latest arrival time among them."""
        assert self.arrived_at is not None
        owner = "s" if self.labels_table is None else "l"
        arrived = f"{owner}.{q.col(self.arrived_at)}"
        params: dict[str, Any] = {}
        if after is not None:
            params["after"] = after
        cond = f"{arrived} > :after" if after is not None else f"{arrived} IS NOT NULL"
        source = self.from_clause(q, params, [cond])
        return sa.text(f"SELECT {self._day(q)}, count(*), max({arrived}) FROM {source} GROUP BY 1"), params

    def labeled_counts_statement(self, q: SqlBuilder) -> tuple[sa.TextClause, dict[str, Any]]:
        """Per scoring day: rows with a label."""
        params: dict[str, Any] = {}
        source = self.from_clause(q, params)
        return sa.text(f"SELECT {self._day(q)}, count({self.label_expr(q)}) FROM {source} GROUP BY 1"), params

    def last_labeled_statement(self, q: SqlBuilder) -> tuple[sa.TextClause, dict[str, Any]]:
        """The latest timestamp of a row with a label."""
        assert self.relation.timestamp_column is not None
        params: dict[str, Any] = {}
        source = self.from_clause(q, params, [f"{self.label_expr(q)} IS NOT NULL"])
        return sa.text(f"SELECT max(s.{q.col(self.relation.timestamp_column)}) FROM {source}"), params

    def training_statement(
        self, q: SqlBuilder, features: Sequence[str], *, label_as: str, day_as: str
    ) -> tuple[sa.TextClause, dict[str, Any]]:
        """Rows with a valid label: ``features``, the label as ``label_as`` and the scoring day as
        ``day_as``, ordered by timestamp (then id)."""
        assert self.relation.timestamp_column is not None
        params: dict[str, Any] = self.class_params()
        label = self.valid_label(q)
        source = self.from_clause(q, params, [f"{label} IS NOT NULL"])
        cols = ", ".join(f"s.{q.col(c)} AS {q.col(c)}" for c in features)
        # Ordered: a trainer that samples by position (HistGradientBoosting's early-stopping split)
        # then fits the same model to the same rows on every run.
        order = [self.relation.timestamp_column, *([self.source_id] if self.source_id else [])]
        stmt = sa.text(
            f"SELECT {cols}, {label} AS {q.col(label_as)}, {self._day(q)} AS {q.col(day_as)} "
            f"FROM {source} ORDER BY {', '.join(f's.{q.col(c)}' for c in order)}"
        )
        return stmt, params

    # -- regression -----------------------------------------------------------------------------

    def regression_aggregates(self, conn: sa.Connection, q: SqlBuilder) -> dict[dt.date | None, RegressionAggregate]:
        return self._deduplicated(conn, q, lambda rows: rows._regression_aggregates(conn, q), _n_scored)

    def _regression_aggregates(self, conn: sa.Connection, q: SqlBuilder) -> dict[dt.date | None, RegressionAggregate]:
        params: dict[str, Any] = {}
        target = f"CAST({self.label_expr(q)} AS DOUBLE PRECISION)"
        pred = self._finite_score(q)
        inner = (
            f"SELECT {self._day(q)} AS {DAY}, {target} AS y, "
            f"CASE WHEN {q.finite(target)} THEN {target} END AS yf, {pred} AS p, {self.invalid_score(q)} AS bad_p, "
            f"{self._duplicates(q)} FROM {self.from_clause(q, params)}"
        )
        valid = "r.yf IS NOT NULL AND r.p IS NOT NULL"
        err = f"CASE WHEN {valid} THEN r.p - r.yf END"
        stmt = (
            f"SELECT r.{DAY}, count(*), count(r.y), count({err}), sum({err}), sum(abs({err})), "
            f"sum(({err}) * ({err})), avg(CASE WHEN {valid} THEN r.yf END), "
            f"var_pop(CASE WHEN {valid} THEN r.yf END), "
            f"sum(CASE WHEN {valid} AND r.yf <> 0 THEN abs(r.p - r.yf) / abs(r.yf) END), "
            f"count(CASE WHEN {valid} AND r.yf = 0 THEN 1 END), count(r.yf), sum(r.bad_p), sum(r.dup_ids), "
            f"sum(r.dup_labels) FROM ({inner}) AS r GROUP BY r.{DAY}"
        )
        out: dict[dt.date | None, RegressionAggregate] = {}
        for row in conn.execute(sa.text(stmt), params):
            day, n_scored, n_labeled, valid_rows, e, ae, se, mean, var, ape, zeros = row[:11]
            finite_targets, bad_scores, dup_ids, dup_labels = row[11:]
            count = int(valid_rows)
            out[as_date(day)] = RegressionAggregate(
                int(n_scored),
                int(n_labeled),
                int(n_labeled) - count,
                count,
                float(e or 0.0),
                float(ae or 0.0),
                float(se or 0.0),
                float(mean or 0.0),
                float(var or 0.0) * count,
                float(ape or 0.0),
                int(zeros),
                int(n_labeled) - int(finite_targets),
                int(bad_scores or 0),
                int(dup_ids or 0),
                int(dup_labels or 0),
            )
        return out

    # -- fairness -------------------------------------------------------------------------------

    def slice_counts(
        self, conn: sa.Connection, q: SqlBuilder, slices: Mapping[str, Sequence[str]]
    ) -> dict[dt.date | None, dict[str, dict[str, GroupCounts]]]:
        """Per day, slice column and group: rows, predictions and labeled confusion counts.

        ``slices`` maps each slice column to its known values (the reference's top K); other values
        become ``__other__`` and NULL ``__null__``. One scan: GROUPING SETS, one set per column.
        """
        first = next(iter(slices), None)
        if first is None:
            return self._slice_counts(conn, q, slices)

        def n_rows(per_column: dict[str, dict[str, GroupCounts]]) -> int:
            return sum(g.n for g in per_column[first].values())

        return self._deduplicated(conn, q, lambda rows: rows._slice_counts(conn, q, slices), n_rows)

    def _slice_counts(
        self, conn: sa.Connection, q: SqlBuilder, slices: Mapping[str, Sequence[str]]
    ) -> dict[dt.date | None, dict[str, dict[str, GroupCounts]]]:
        params: dict[str, Any] = {}
        columns = list(slices)
        # Grouped by the raw values, matched with the known ones here: a CASE ... IN (top K) per row
        # cost DuckDB 2-3 times the join itself at 10M rows (the profile's categorical columns
        # showed the same: resources._sql.ProfileQuery.keys_statement).
        values = [f"CAST(s.{q.col(name)} AS VARCHAR) AS g{i}" for i, name in enumerate(columns)]
        multiclass = self.task == "multiclass_classification"
        if multiclass:
            y, yhat = self.class_index(q, self.label_expr(q)), self._predicted_class(q, params)
            params |= self.class_params()
        else:
            y, yhat = self.binary_label(q), self._predicted(q, self._valid_score(q), params)
        inner = (
            f"SELECT {self._day(q)} AS {DAY}, {y} AS y, {yhat} AS yhat, {', '.join(values)} "
            f"FROM {self.from_clause(q, params)}"
        )
        keys = ", ".join(f"r.g{i}" for i in range(len(columns)))
        # GROUPING(g) is 0 in the set that groups by g: it names the row's column (a value may be NULL).
        sets_of = ", ".join(f"GROUPING(r.g{i})" for i in range(len(columns)))
        sets = ", ".join(f"(r.{DAY}, r.g{i}, r.y, r.yhat)" for i in range(len(columns)))
        stmt = sa.text(
            f"SELECT r.{DAY}, {keys}, {sets_of}, r.y, r.yhat, count(*) FROM ({inner}) AS r "
            f"GROUP BY GROUPING SETS ({sets})"
        )
        known = {name: set(slices[name]) for name in columns}
        out: dict[dt.date | None, dict[str, dict[str, GroupCounts]]] = {}
        width = len(columns)
        for row in conn.execute(stmt, params):
            day, found, grouping, (y, yhat, n) = (
                as_date(row[0]),
                row[1 : 1 + width],
                row[1 + width : 1 + 2 * width],
                row[1 + 2 * width :],
            )
            i = grouping.index(0)
            name, value = columns[i], found[i]
            group = NULL_GROUP if value is None else value if value in known[name] else OTHER
            per_col = out.setdefault(day, {c: {} for c in columns})[name]
            if multiclass:
                counts = _class_group_counts(len(self.classes), y, yhat, int(n))
            else:
                confusion = np.zeros((2, 2), np.int64)
                if y in (0, 1) and yhat in (0, 1):
                    confusion[y, yhat] = n
                counts = GroupCounts(int(n), int(n) if yhat in (0, 1) else 0, int(n) if yhat == 1 else 0, confusion)
            known_counts = per_col.get(group)
            per_col[group] = counts if known_counts is None else known_counts.merge(counts)
        return out


def _n_scored(aggregate: BinaryAggregate | RegressionAggregate | MulticlassAggregate) -> int:
    return aggregate.n_scored


def _binary_parts(n_bins: int) -> dict[str, Any]:
    return {
        "n_scored": 0,
        "n_predicted": 0,
        "n_predicted_positive": 0,
        "n_labeled": 0,
        "n_invalid": 0,
        "confusion": np.zeros((2, 2), np.int64),
        "hist": np.zeros((2, n_bins), np.int64),
        "score_sum": np.zeros((2, CALIBRATION_BINS), np.float64),
        "log_loss_sum": 0.0,
        "squared_error_sum": 0.0,
        "n_invalid_labels": 0,
        "n_invalid_scores": 0,
        "n_duplicate_ids": 0,
        "n_duplicate_labels": 0,
    }


def _multiclass_parts(n_classes: int, n_bins: int) -> dict[str, Any]:
    empty = MulticlassAggregate.empty(n_classes, n_bins)
    return {f: getattr(empty, f) for f in empty.__dataclass_fields__ if f != "n_bins"}


def _class_group_counts(n_classes: int, y: int | None, yhat: int | None, n: int) -> GroupCounts:
    """A multiclass group's counts from ``n`` rows of one (label, predicted class)."""
    confusion = np.zeros((n_classes, n_classes), np.int64)
    predicted = np.zeros(n_classes, np.int64)
    has_pred = yhat is not None and yhat >= 0
    if has_pred:
        predicted[yhat] = n
        if y is not None and y >= 0:
            confusion[y, yhat] = n
    return GroupCounts(n, n if has_pred else 0, 0, confusion, predicted)
