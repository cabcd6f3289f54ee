"""The tables of schema ``monitoring``: the contract users query from BI tools.

Every table is long-format, without a primary key. A write replaces, in one transaction, all rows
of one monitor and partition_date (and profile kind, drift scope or performance window), so a
re-run never duplicates; ``events`` alone is appended to. The columns users filter on mean the
same in every table:

- ``monitor``: the monitor spec's ``name``.
- ``partition_date``: the scoring day (a DATE) the row describes; NULL for the reference (and
  for an event tied to no day).
- ``metric`` / ``value``: the metric's name and its number (DOUBLE). A NULL ``value`` is
  undefined or not evaluated: a NaN or infinite result is stored as NULL, never as 0.
- ``run_id``: the Dagster run that wrote the row. ``spec_hash``: the hash of the monitor spec that
  produced it. ``model_version``: the model version(s) seen in the day's rows, most rows first,
  comma-separated (NULL when unknown). ``computed_at``: when it was
  written (UTC, stored without a zone). Every table but ``events`` ends with these four columns.

``profile_metrics``  one scalar of one column's profile. Key: monitor, profile, partition_date,
                     column_name, metric. ``profile`` is ``daily`` (one partition), ``reference``
                     (``partition_date`` NULL) or ``reference_window`` (one day of the reference,
                     used to calibrate thresholds). ``column_name = '__table__'`` holds
                     ``row_count``. Numeric columns: count (finite values), null_count,
                     nonfinite_count, min, max, mean, variance (population), std,
                     tail_low_sum / tail_high_sum (sums of the values in the underflow / overflow
                     cell; absent in profiles stored before they existed, NULL when unknown); the
                     reference also stores its bins as bins_lo, bins_hi, n_bins. Categorical
                     columns: count (non-null), null_count.
``profile_bins``     the histograms of a profile. Key: monitor, profile, partition_date,
                     column_name, cell. A numeric column has ONE row per profile: ``cell`` NULL,
                     ``cells`` its whole histogram as zlib-compressed little-endian int64 numpy
                     bytes (n_bins + 2 counts: index 0 the underflow ``x < lower``, 1..n_bins the
                     cells ``[lower + (k-1)*w, lower + k*w)`` with ``w = (upper - lower) / n_bins``,
                     n_bins + 1 the overflow ``x >= upper``), ``lower`` / ``upper`` the bins'
                     range (bins_lo, bins_hi) and ``count`` the values it holds; a value's cell
                     is the binning contract's formula (``monitoring_assets.core.profile``). In
                     Python: ``numpy.frombuffer(zlib.decompress(cells), dtype='<i8')``. (A day of
                     21 numeric columns was ~20,500 rows, one per non-empty cell; it is now 21
                     rows and ~30 KB, plus the categories.) Categorical: one
                     row per cell (``cells`` NULL), ``category`` is the value, ``cell`` its rank in
                     the reference's top K, and the last cell is ``__other__``; a day stores its
                     non-empty cells, the reference every category.
                     ``column_name = '__model_version__'`` counts the rows per model version
                     (``category`` the version, ``cell`` its rank, most rows first) when the spec
                     names ``source.model_version_column``. Tables of an earlier release stored a
                     numeric column as one row per non-empty cell (``cell`` 0 the underflow with
                     ``lower`` NULL and ``upper`` = bins_lo, 1..n_bins ``[lower, upper)``, n_bins+1
                     the overflow with ``upper`` NULL): ``ensure_tables`` adds ``cells`` and lets
                     ``cell`` be NULL, keeping those rows, which are still read.
``profile_moments``  the second moments behind multivariate drift (``drift.multivariate`` in the
                     spec): one row per monitor, profile (``reference``, ``reference_window``,
                     ``daily``) and partition_date. ``columns`` names the standardized features,
                     comma-separated, in order (d of them); ``n`` counts the rows; ``cells`` is
                     zlib-compressed little-endian float64 numpy bytes: the d sums of the
                     standardized values, then the d x d sums of their products, row-major
                     (``monitoring_assets.core.multivariate`` defines the standardization).
``drift_metrics``    one feature (``scope = 'feature'``) or prediction column
                     (``scope = 'prediction'``) on one day. Key: monitor, partition_date, scope,
                     feature. Columns: method, value, threshold, drifted, ``status``
                     (``evaluated`` or ``not_evaluated``) and ``reason``. A row not evaluated
                     (too few rows or values that day, a failed null-rate check) has ``value``
                     and ``drifted`` NULL and says why in ``reason``; an evaluated row's reason is
                     NULL or a note on the rule used (a constant reference column). The dataset
                     verdict is ``feature = '__dataset__'``, ``method = 'drift_share'``; its
                     reason names the columns left out. A table made by an earlier release gets
                     ``status`` and ``reason`` added by ``ensure_tables``.
``performance_metrics``  one performance metric of one window. Key: monitor, kind,
                     partition_date, window, metric. ``window`` is ``daily`` (that day's rows),
                     ``rolling_<N>d`` (the N days ending that day, merged from the daily
                     aggregates) or ``reference`` (``partition_date`` NULL). Every row repeats
                     ``n_labeled`` and ``label_coverage`` of its window. ``kind`` is
                     ``realized`` (from labels) or ``estimated`` (without labels, from the day's
                     score histogram and the reference's calibration: window ``daily``, metrics
                     accuracy, precision, recall, f1, roc_auc, each with ``<metric>_lower`` /
                     ``<metric>_upper`` (its band), the expected counts ``expected_tp`` /
                     ``_fp`` / ``_fn`` / ``_tn`` and ``n_scored``; ``n_labeled`` 0). Filter on it:
                     the two kinds share metric names. A table of an earlier release gets ``kind``
                     added by ``ensure_tables``, its rows ``realized``.
``score_calibration``  the calibration the estimate uses, fitted on the reference's labels (one
                     row per monitor and probability column, replaced with the reference profile).
                     Key: monitor, column_name (the score column). Columns: ``method``
                     (``isotonic``), ``n_bins`` (score cells), ``n_labeled``, ``n_positive``,
                     ``cells`` (P(y = 1) per score cell as zlib-compressed little-endian float64
                     numpy bytes; NULL when not fitted) and ``reason`` (why not fitted: no labels,
                     one class, too few rows).
``performance_aggregates``  one field of the mergeable aggregate behind ``performance_metrics``
                     (one day each): about 17 rows and a few KB a day. Key: monitor,
                     partition_date, stat, label. ``stat`` names a field of the aggregate. A
                     scalar has ``label`` and ``cells`` NULL and its number in ``value``. An array
                     has one row per label (0, 1): ``cells`` is that label's row as zlib-compressed
                     little-endian numpy bytes (int64 ``confusion`` by predicted label and ``hist``
                     by score cell; float64 ``score_sum`` by calibration bin), ``value`` its sum.
                     Tables of an earlier release (one row per cell, in a ``cell`` column) are
                     rebuilt by ``ensure_tables``: scalars kept, each array summed into one row
                     per label with ``cells`` NULL, which marks the day for re-aggregation.
``operations_metrics``  one operational metric of one day (the spec's ``operations`` block). Key:
                     monitor, partition_date, metric: ``request_count`` (rows), ``error_rate``
                     (rows whose status is an error value / rows with a status), ``latency_p50``,
                     ``latency_p95``, ``latency_p99`` (from a log-scale histogram, relative error
                     within ``operations.relative_accuracy``) and ``latency_null_count``.
``business_metrics``  one business KPI of one day (the spec's ``business_metrics``). Key: monitor,
                     partition_date, metric (its ``name``). ``value`` is the day's mean, sum or rate,
                     ``n`` the rows it counts (finite values; for a rate, non-NULL ones), ``lower``
                     / ``upper`` the limits it was judged against, ``status`` ``evaluated`` or
                     ``not_evaluated`` (fewer than ``guards.min_rows`` rows).
``version_metrics``  model versions side by side (the spec's ``versions`` block). Key: monitor,
                     partition_date, model_version, compared_with, metric. Here ``model_version`` is
                     the version the row describes (a model version, ``live``, or
                     ``shadow:<column>`` for a shadow score). With ``compared_with`` NULL the row is
                     one of the version's own numbers: ``rows``, ``positive_rate``, ``n_labeled``
                     and its labeled metrics (``roc_auc``, ...). With ``compared_with`` set, it
                     compares the version with that older one: ``score_drift`` (the spec's numeric
                     drift method on the two score profiles), ``positive_rate_change`` and
                     ``<primary metric>_change`` (newer minus older); ``status`` says whether the
                     comparison was evaluated.
``fairness_metrics`` one group metric, or one disparity, of one slice column on one day. Key:
                     monitor, partition_date, slice_column, slice_value, metric. Columns: value,
                     n (the group's rows), suppressed. The disparities of a column have
                     ``slice_value = '__all__'``. Suppressed groups have one row,
                     ``metric = 'suppressed'``, with ``value`` and ``n`` NULL.
``events``           the audit trail, appended, never replaced: one row per ``event_type`` in
                     ``trigger``, ``retraining``, ``retraining_refused``, ``retraining_failed``,
                     ``promotion``, ``rollback``, ``alert``. Key: monitor, event_type,
                     created_at (UTC). ``partition_date``, ``model_name``, ``model_version`` and
                     ``run_id`` say what it concerns; ``details_json`` holds the aggregates that
                     explain it (drift values, check results, metrics; an alert's tier, check,
                     text and delivery).
``quality_results``  one expectation of one day's data-quality suite. Key: monitor,
                     partition_date, expectation_index (position in the suite file). Columns:
                     ``suite`` (its name) and ``suite_digest`` (SHA-256 prefix of the file that
                     ran), ``expectation_type``, ``column_name``, ``severity`` (critical, warning,
                     info), ``success``, ``observed`` and ``expected`` (as the check metadata shows
                     them), ``unexpected_count`` and ``considered_count`` (rows failing and rows
                     considered: non-null rows for value checks), ``count_source`` (``profile``:
                     exact from the daily profile; ``all rows``: Great Expectations on every row;
                     ``sample``: on a deterministic sample; ``sql``: in the database),
                     ``unexpected_values`` (JSON list of up to 20 failing values, for diagnosis;
                     never copied into Dagster metadata), ``error``, ``validation`` (how the day's
                     rows were validated) and ``rows_validated``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

SCHEMA = "monitoring"
TABLE_ROW = "__table__"
MODEL_VERSION_ROW = "__model_version__"
DATASET_ROW = "__dataset__"
ALL_GROUPS = "__all__"

metadata = sa.MetaData(schema=SCHEMA)


def audit_columns() -> list[sa.Column[Any]]:
    """The columns every metric table ends with (``Audit.row()`` fills them)."""
    return [
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(256)),
        sa.Column("computed_at", sa.DateTime, nullable=False),
    ]


profile_metrics = sa.Table(
    "profile_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("profile", sa.String(32), nullable=False),
    sa.Column("partition_date", sa.Date),
    sa.Column("column_name", sa.String(63), nullable=False),
    sa.Column("metric", sa.String(63), nullable=False),
    sa.Column("value", sa.Float(53)),
    *audit_columns(),
)

profile_bins = sa.Table(
    "profile_bins",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("profile", sa.String(32), nullable=False),
    sa.Column("partition_date", sa.Date),
    sa.Column("column_name", sa.String(63), nullable=False),
    sa.Column("cell", sa.Integer),  # NULL: the row holds a numeric column's whole histogram in cells
    sa.Column("lower", sa.Float(53)),
    sa.Column("upper", sa.Float(53)),
    sa.Column("category", sa.String),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("cells", sa.LargeBinary),
    *audit_columns(),
)

profile_moments = sa.Table(
    "profile_moments",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("profile", sa.String(32), nullable=False),
    sa.Column("partition_date", sa.Date),
    sa.Column("columns", sa.Text, nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("cells", sa.LargeBinary, nullable=False),
    *audit_columns(),
)

drift_metrics = sa.Table(
    "drift_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("feature", sa.String(63), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("threshold", sa.Float(53)),
    sa.Column("drifted", sa.Boolean),  # NULL when not evaluated
    sa.Column("status", sa.String(16), nullable=False, server_default="evaluated"),
    sa.Column("reason", sa.Text),
    *audit_columns(),
)

# Columns added to drift_metrics after its first release: (name, SQL type), added to existing tables.
_DRIFT_ADDED = (("status", "VARCHAR(16) DEFAULT 'evaluated'"), ("reason", "TEXT"))

performance_metrics = sa.Table(
    "performance_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date),
    sa.Column("window", sa.String(32), nullable=False),
    sa.Column("metric", sa.String(63), nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("n_labeled", sa.BigInteger, nullable=False),
    sa.Column("label_coverage", sa.Float(53)),
    # Added to tables of an earlier release by ``_upgrade_performance_metrics`` (after their audit columns).
    sa.Column("kind", sa.String(16), nullable=False, server_default="realized"),
    *audit_columns(),
)

score_calibration = sa.Table(
    "score_calibration",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("column_name", sa.String(63), nullable=False),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("n_bins", sa.Integer, nullable=False),
    sa.Column("n_labeled", sa.BigInteger, nullable=False),
    sa.Column("n_positive", sa.BigInteger, nullable=False),
    sa.Column("cells", sa.LargeBinary),
    sa.Column("reason", sa.Text),
    *audit_columns(),
)

performance_aggregates = sa.Table(
    "performance_aggregates",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("stat", sa.String(32), nullable=False),
    sa.Column("label", sa.Integer),
    sa.Column("value", sa.Float(53), nullable=False),
    sa.Column("cells", sa.LargeBinary),
    *audit_columns(),
)

operations_metrics = sa.Table(
    "operations_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("metric", sa.String(63), nullable=False),
    sa.Column("value", sa.Float(53)),
    *audit_columns(),
)

business_metrics = sa.Table(
    "business_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("metric", sa.String(63), nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("lower", sa.Float(53)),
    sa.Column("upper", sa.Float(53)),
    sa.Column("status", sa.String(16), nullable=False),
    *audit_columns(),
)

version_metrics = sa.Table(
    "version_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("compared_with", sa.String(256)),
    sa.Column("metric", sa.String(63), nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("status", sa.String(16), nullable=False),
    *audit_columns(),
)

fairness_metrics = sa.Table(
    "fairness_metrics",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("slice_column", sa.String(63), nullable=False),
    sa.Column("slice_value", sa.String),
    sa.Column("metric", sa.String(63), nullable=False),
    sa.Column("value", sa.Float(53)),
    sa.Column("n", sa.BigInteger),
    sa.Column("suppressed", sa.Boolean, nullable=False),
    *audit_columns(),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("partition_date", sa.Date),
    sa.Column("model_name", sa.String(256)),
    sa.Column("model_version", sa.String(64)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("details_json", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

quality_results = sa.Table(
    "quality_results",
    metadata,
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("suite", sa.String(63), nullable=False),
    sa.Column("suite_digest", sa.String(64), nullable=False),
    sa.Column("expectation_index", sa.Integer, nullable=False),
    sa.Column("expectation_type", sa.String(128), nullable=False),
    sa.Column("column_name", sa.String(63)),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("observed", sa.Text),
    sa.Column("expected", sa.Text),
    sa.Column("unexpected_count", sa.BigInteger),
    sa.Column("considered_count", sa.BigInteger),
    sa.Column("count_source", sa.String(16), nullable=False),
    sa.Column("unexpected_values", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("validation", sa.Text, nullable=False),
    sa.Column("rows_validated", sa.BigInteger),
    *audit_columns(),
)


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks (``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def advisory_lock(conn: sa.Connection, name: str) -> None:
    """PostgreSQL: wait for, then hold until this transaction ends, the advisory lock ``name``.

    Other engines: nothing. DuckDB lets one process at a time write a file, and the pool
    ``monitoring_warehouse`` (limit 1) serializes the steps of one Dagster instance."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(f"{SCHEMA}.{name}")})


def _missing_tables(conn: sa.Connection) -> bool:
    existing = set(sa.inspect(conn).get_table_names(schema=SCHEMA))
    return any(t.name not in existing for t in metadata.sorted_tables)


def ensure_tables(conn: sa.Connection) -> None:
    """Create schema ``monitoring`` and its tables where missing, and upgrade older tables.

    On PostgreSQL two first runs racing through ``CREATE SCHEMA IF NOT EXISTS`` would both find it
    missing, and one would fail on the catalog's unique index (``pg_namespace_nspname_index``; the
    same for tables). So when anything is missing, the creator takes a schema-wide advisory lock
    first: the second waits, then finds everything there. Once created, no lock is taken."""
    postgres = conn.dialect.name == "postgresql"
    if not postgres or _missing_tables(conn):
        if postgres:
            advisory_lock(conn, "ddl")
        quoted = conn.dialect.identifier_preparer.quote_identifier(SCHEMA)
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
        metadata.create_all(conn, checkfirst=True)
    # Also when every table exists: one made by an earlier release may lack new columns.
    _upgrade_drift_metrics(conn)
    _upgrade_performance_metrics(conn)
    _upgrade_performance_aggregates(conn)
    _upgrade_profile_bins(conn)


def _upgrade_drift_metrics(conn: sa.Connection) -> None:
    """Bring a drift_metrics table made by an earlier release to the current columns: add
    ``status`` and ``reason``, and let ``drifted`` be NULL (not evaluated). Reads the catalog
    first, so an up-to-date table is never altered (no lock taken)."""
    found = {
        name: nullable
        for name, nullable in conn.execute(
            sa.text(
                "SELECT column_name, is_nullable FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = :table"
            ),
            {"schema": SCHEMA, "table": drift_metrics.name},
        )
    }
    quote = conn.dialect.identifier_preparer.quote_identifier
    table = f"{quote(SCHEMA)}.{quote(drift_metrics.name)}"
    for name, sql_type in _DRIFT_ADDED:
        if name not in found:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} {sql_type}"))
    if found.get("drifted") == "NO":
        conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {quote('drifted')} DROP NOT NULL"))


def _columns(conn: sa.Connection, table: str) -> dict[str, str]:
    """The columns of ``monitoring.<table>`` and whether each is nullable (YES / NO)."""
    rows = conn.execute(
        sa.text(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = :schema AND table_name = :table"
        ),
        {"schema": SCHEMA, "table": table},
    )
    return {name: nullable for name, nullable in rows}


def _upgrade_performance_metrics(conn: sa.Connection) -> None:
    """Add ``kind`` (default ``realized``, which the existing rows get) to a performance_metrics
    table of an earlier release. Reads the catalog first, so an up-to-date table is never altered."""
    if "kind" in _columns(conn, performance_metrics.name):
        return
    quote = conn.dialect.identifier_preparer.quote_identifier
    table = f"{quote(SCHEMA)}.{quote(performance_metrics.name)}"
    conn.execute(
        sa.text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote('kind')} VARCHAR(16) DEFAULT 'realized'")
    )


def _upgrade_performance_aggregates(conn: sa.Connection) -> None:
    """Rebuild a performance_aggregates table of an earlier release (one row per array cell, in a
    ``cell`` column; ~32,000 rows a day) in the current layout. Its cells cannot be repacked here
    (the score bins are the spec's), so each array is kept as one row per label holding its sum,
    with ``cells`` NULL: readers then ask for that day to be aggregated again. Reads the catalog
    first, so an up-to-date table is never touched (no lock taken)."""
    name = performance_aggregates.name
    if "cell" not in _columns(conn, name):
        return
    advisory_lock(conn, "ddl")
    if "cell" not in _columns(conn, name):  # another process upgraded it while we waited
        return
    quote = conn.dialect.identifier_preparer.quote_identifier
    keys = ["monitor", "partition_date", "stat", "label"]
    audit = ["run_id", "spec_hash", "model_version", "computed_at"]
    cols = ", ".join(quote(c) for c in [*keys, "value", *audit])
    key_list = ", ".join(quote(c) for c in keys)
    maxima = ", ".join(f"max({quote(c)})" for c in audit)
    summed = f"SELECT {key_list}, sum({quote('value')}), {maxima} FROM {{old}} GROUP BY {key_list}"
    _rebuild(conn, performance_aggregates, f"INSERT INTO {{new}} ({cols}) {summed}")


def _rebuild(conn: sa.Connection, table: sa.Table, select: str) -> None:
    """Replace ``monitoring.<table>`` by a new table of the current columns holding ``select``'s
    rows, where ``{old}`` in it names the old table (renamed aside, then dropped)."""
    quote = conn.dialect.identifier_preparer.quote_identifier
    old_name = f"{table.name}_before_cells"
    conn.execute(sa.text(f"ALTER TABLE {quote(SCHEMA)}.{quote(table.name)} RENAME TO {quote(old_name)}"))
    table.create(conn)
    old = f"{quote(SCHEMA)}.{quote(old_name)}"
    conn.execute(sa.text(select.format(new=f"{quote(SCHEMA)}.{quote(table.name)}", old=old)))
    conn.execute(sa.text(f"DROP TABLE {old}"))


def _upgrade_profile_bins(conn: sa.Connection) -> None:
    """Bring a profile_bins table of an earlier release (one row per numeric cell, no ``cells``,
    ``cell`` NOT NULL) to the current columns. Its rows are kept as they are: readers still read a
    numeric column stored one row per cell. Rebuilt rather than altered, so that the audit
    columns stay last. Reads the catalog first, so an up-to-date table is never touched."""
    name = profile_bins.name
    if "cells" in _columns(conn, name):
        return
    advisory_lock(conn, "ddl")
    if "cells" in _columns(conn, name):  # another process upgraded it while we waited
        return
    quote = conn.dialect.identifier_preparer.quote_identifier
    kept = ", ".join(quote(c.name) for c in profile_bins.columns if c.name != "cells")
    _rebuild(conn, profile_bins, f"INSERT INTO {{new}} ({kept}) SELECT {kept} FROM {{old}}")
