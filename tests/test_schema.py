"""Schema ``monitoring`` is defined once (``resources/schema.py``), and the tables users query
keep the columns README promises. The expected columns are written out here, not read back from
the MetaData under test."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.pool import NullPool

import expectations._store
import monitoring_assets._readback
import resources._store
import resources.warehouse
from resources import schema
from resources.warehouse import Warehouse
from tests.conftest import REPO, scratch_database

AUDIT = [
    ("run_id", "VARCHAR(64)", False),
    ("spec_hash", "VARCHAR(64)", False),
    ("model_version", "VARCHAR(256)", True),
    ("computed_at", "TIMESTAMP WITHOUT TIME ZONE", False),
]
DOUBLE = "FLOAT(53)"

# (column, PostgreSQL type, nullable), in table order: the contract of release 1 plus the two
# drift_metrics columns added since (status, reason), performance_aggregates with one row per
# (day, stat, label) whose arrays are in ``cells`` (release 1 had one row per ``cell``), and
# profile_bins with a numeric column's histogram packed in ``cells`` (``cell`` NULL there), and
# profile_moments (multivariate drift), operations_metrics, business_metrics and version_metrics.
TABLES: dict[str, list[tuple[str, str, bool]]] = {
    "profile_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("profile", "VARCHAR(32)", False),
        ("partition_date", "DATE", True),
        ("column_name", "VARCHAR(63)", False),
        ("metric", "VARCHAR(63)", False),
        ("value", DOUBLE, True),
        *AUDIT,
    ],
    "profile_bins": [
        ("monitor", "VARCHAR(63)", False),
        ("profile", "VARCHAR(32)", False),
        ("partition_date", "DATE", True),
        ("column_name", "VARCHAR(63)", False),
        ("cell", "INTEGER", True),
        ("lower", DOUBLE, True),
        ("upper", DOUBLE, True),
        ("category", "VARCHAR", True),
        ("count", "BIGINT", False),
        ("cells", "BYTEA", True),
        *AUDIT,
    ],
    "profile_moments": [
        ("monitor", "VARCHAR(63)", False),
        ("profile", "VARCHAR(32)", False),
        ("partition_date", "DATE", True),
        ("columns", "TEXT", False),
        ("n", "BIGINT", False),
        ("cells", "BYTEA", False),
        *AUDIT,
    ],
    "drift_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("scope", "VARCHAR(16)", False),
        ("feature", "VARCHAR(63)", False),
        ("method", "VARCHAR(32)", False),
        ("value", DOUBLE, True),
        ("threshold", DOUBLE, True),
        ("drifted", "BOOLEAN", True),
        ("status", "VARCHAR(16)", False),
        ("reason", "TEXT", True),
        *AUDIT,
    ],
    "performance_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", True),
        ("window", "VARCHAR(32)", False),
        ("metric", "VARCHAR(63)", False),
        ("value", DOUBLE, True),
        ("n_labeled", "BIGINT", False),
        ("label_coverage", DOUBLE, True),
        ("kind", "VARCHAR(16)", False),
        *AUDIT,
    ],
    "score_calibration": [
        ("monitor", "VARCHAR(63)", False),
        ("column_name", "VARCHAR(63)", False),
        ("method", "VARCHAR(32)", False),
        ("n_bins", "INTEGER", False),
        ("n_labeled", "BIGINT", False),
        ("n_positive", "BIGINT", False),
        ("cells", "BYTEA", True),
        ("reason", "TEXT", True),
        *AUDIT,
    ],
    "performance_aggregates": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("stat", "VARCHAR(32)", False),
        ("label", "INTEGER", True),
        ("value", DOUBLE, False),
        ("cells", "BYTEA", True),
        *AUDIT,
    ],
    "operations_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("metric", "VARCHAR(63)", False),
        ("value", DOUBLE, True),
        *AUDIT,
    ],
    "business_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("metric", "VARCHAR(63)", False),
        ("value", DOUBLE, True),
        ("n", "BIGINT", False),
        ("lower", DOUBLE, True),
        ("upper", DOUBLE, True),
        ("status", "VARCHAR(16)", False),
        *AUDIT,
    ],
    "version_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("compared_with", "VARCHAR(256)", True),
        ("metric", "VARCHAR(63)", False),
        ("value", DOUBLE, True),
        ("status", "VARCHAR(16)", False),
        *AUDIT,
    ],
    "fairness_metrics": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("slice_column", "VARCHAR(63)", False),
        ("slice_value", "VARCHAR", True),
        ("metric", "VARCHAR(63)", False),
        ("value", DOUBLE, True),
        ("n", "BIGINT", True),
        ("suppressed", "BOOLEAN", False),
        *AUDIT,
    ],
    "events": [
        ("monitor", "VARCHAR(63)", False),
        ("event_type", "VARCHAR(32)", False),
        ("partition_date", "DATE", True),
        ("model_name", "VARCHAR(256)", True),
        ("model_version", "VARCHAR(64)", True),
        ("run_id", "VARCHAR(64)", True),
        ("details_json", "TEXT", False),
        ("created_at", "TIMESTAMP WITHOUT TIME ZONE", False),
    ],
    "quality_results": [
        ("monitor", "VARCHAR(63)", False),
        ("partition_date", "DATE", False),
        ("suite", "VARCHAR(63)", False),
        ("suite_digest", "VARCHAR(64)", False),
        ("expectation_index", "INTEGER", False),
        ("expectation_type", "VARCHAR(128)", False),
        ("column_name", "VARCHAR(63)", True),
        ("severity", "VARCHAR(16)", False),
        ("success", "BOOLEAN", False),
        ("observed", "TEXT", True),
        ("expected", "TEXT", True),
        ("unexpected_count", "BIGINT", True),
        ("considered_count", "BIGINT", True),
        ("count_source", "VARCHAR(16)", False),
        ("unexpected_values", "TEXT", True),
        ("error", "TEXT", True),
        ("validation", "TEXT", False),
        ("rows_validated", "BIGINT", True),
        *AUDIT,
    ],
}

PRODUCT = ("monitoring_assets", "resources", "expectations", "sensors", "benchmarks")


def test_one_metadata_is_defined_in_the_whole_product() -> None:
    found = [
        (str(path.relative_to(REPO)), line)
        for package in PRODUCT
        for path in sorted((REPO / package).rglob("*.py"))
        for line in path.read_text().splitlines()
        if "MetaData(" in line
    ]
    assert found == [("resources/schema.py", "metadata = sa.MetaData(schema=SCHEMA)")]


@pytest.mark.parametrize(
    "module", [resources._store, expectations._store, resources.warehouse, monitoring_assets._readback]
)
def test_the_readers_and_writers_use_the_schema_modules_tables(module: object) -> None:
    held = {name: v for name, v in vars(module).items() if isinstance(v, sa.Table | sa.MetaData)}
    for name, value in held.items():
        owner = value if isinstance(value, sa.MetaData) else value.metadata
        assert owner is schema.metadata, f"{module}.{name} belongs to another MetaData"


def test_the_schema_holds_its_tables_with_their_columns() -> None:
    assert schema.metadata.schema == "monitoring"
    assert {t.name for t in schema.metadata.sorted_tables} == set(TABLES)
    dialect = postgresql.dialect()
    for name, expected in TABLES.items():
        table = schema.metadata.tables[f"monitoring.{name}"]
        got = [(c.name, c.type.compile(dialect=dialect), bool(c.nullable)) for c in table.columns]
        assert got == expected, name
    # A row written without a status (an earlier release's writer) reads as evaluated.
    status = schema.metadata.tables["monitoring.drift_metrics"].c.status.server_default
    assert isinstance(status, sa.DefaultClause) and status.arg == "evaluated"


def _readme_tables() -> dict[str, list[str]]:
    """README's "Metric tables" section: table name -> its key columns."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Metric tables (schema `monitoring`)\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {table: [c.strip() for c in keys.split(",")] for table, keys in rows}


def test_readme_lists_the_tables_and_key_columns_of_the_schema() -> None:
    readme = _readme_tables()
    assert set(readme) == set(TABLES)
    for table, keys in readme.items():
        columns = [c for c, _, _ in TABLES[table]]
        assert set(keys) <= set(columns), table
    assert "resources/schema.py" in (REPO / "README.md").read_text()


def _docstring_paragraphs() -> tuple[str, dict[str, str]]:
    """The schema docstring's shared part and each table's paragraph."""
    doc = schema.__doc__ or ""
    parts = re.split(r"^``(\w+)``", doc, flags=re.MULTILINE)
    return parts[0], dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_docstring_describes_every_table_and_column() -> None:
    shared, paragraphs = _docstring_paragraphs()
    assert list(paragraphs) == list(TABLES)
    for table, columns in TABLES.items():
        for column, _, _ in columns:
            said = re.compile(rf"\b{column}\b")
            assert said.search(paragraphs[table]) or said.search(shared), f"{table}.{column} undocumented"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)], ids=["duckdb", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'empty.duckdb'}"
        return
    with scratch_database(request.getfixturevalue("pg_url"), "schema") as url:
        yield url


def test_ensure_tables_creates_every_table_of_the_contract(empty_url: str) -> None:
    wh = Warehouse(empty_url)
    try:
        wh.ensure_tables()
    finally:
        wh.dispose()
    engine = sa.create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names(schema="monitoring")) == set(TABLES)
            for table, expected in TABLES.items():
                # information_schema: duckdb-engine's inspector cannot reflect columns.
                got = conn.execute(
                    sa.text(
                        "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns "
                        "WHERE table_schema = 'monitoring' AND table_name = :t ORDER BY ordinal_position"
                    ),
                    {"t": table},
                ).fetchall()
                assert [tuple(r) for r in got] == [(c, nullable) for c, _, nullable in expected], table
    finally:
        engine.dispose()


def test_each_sentinel_value_is_spelled_in_one_place() -> None:
    # Reserved names such as '__other__' or '__table__' mark rows that are not a user's column or
    # group; two spellings of one (there were two '__other__' constants) drift apart unnoticed.
    sentinel = re.compile(r"^__[a-z_]+__$")
    seen: dict[str, list[str]] = {}
    for package in ("monitoring_assets", "resources", "sensors", "expectations"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                value = node.value if isinstance(node, ast.Constant) else None
                if isinstance(value, str) and sentinel.match(value) and value != "__main__":
                    seen.setdefault(value, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert {"__table__", "__dataset__", "__all__", "__other__", "__null__", "__model_version__"} <= seen.keys()
    assert {value: places for value, places in seen.items() if len(places) > 1} == {}
    # The stored ones are the schema's contract: its docstring names each.
    for value in ("__table__", "__dataset__", "__all__", "__other__", "__model_version__"):
        assert f"'{value}'" in (schema.__doc__ or "") or f"``{value}``" in (schema.__doc__ or ""), value
