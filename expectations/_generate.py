"""A starting suite from the stored reference profile (pure: no warehouse, no Great Expectations).

Every margin below is documented in ``expectations/README.md`` and repeated in each generated
expectation's ``meta.basis``. Per profiled column (numeric features, the score, categorical
features, slice columns), in this order:

* ``expect_column_to_exist`` (critical);
* ``expect_column_values_to_be_in_type_list`` (critical): the numeric or string family, by the
  column's type in the source table (pandas dtype names for DuckDB, SQL type names for
  PostgreSQL);
* ``expect_column_values_to_not_be_null`` twice: ``mostly = 1 - (reference null rate + 0.05)``
  (warning) and ``mostly = 1 - (reference null rate + 0.50)`` (critical: the column is mostly
  missing); a tier whose ceiling reaches 100 % is left out;
* numeric: ``expect_column_values_to_be_between`` (warning), the reference's 0.1 % and 99.9 %
  quantiles (the profile's bin range ``lo``, ``hi``) widened by ``RANGE_MARGIN`` x (hi - lo) on each
  side, rounded outwards to 4 significant digits of the width, the lower bound kept >= 0 when the
  reference's minimum is >= 0, ``mostly = 0.99``. For a binary classifier whose reference scores
  lie in [0, 1], also ``score`` in [0, 1] for every row (critical);
* categorical: ``expect_column_values_to_be_in_set`` (warning) with the reference's top-K values;
  ``mostly = 1`` when they were all of the reference's values, else ``1 - (other share + 0.01)``.

And for the table, ``expect_table_row_count_to_be_between``: with daily reference sub-windows,
at least half the smallest reference day (critical) and within [0.8 x smallest, 1.25 x largest]
(warning); without them, at least 1 row (critical), to be edited to the real traffic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from monitoring_assets.core.profile import CategoricalProfile, NumericProfile
from monitoring_assets.spec import MonitorSpec
from resources._profiles import ReferenceProfile

NULL_WARNING_MARGIN = 0.05  # null-rate ceiling: reference rate + 5 points (warning)
NULL_CRITICAL_MARGIN = 0.50  # reference rate + 50 points: the column is mostly missing (critical)
RANGE_MARGIN = 0.5  # numeric range widened by half the reference's 0.1-99.9 % width on each side
RANGE_MOSTLY = 0.99  # at most 1 % of non-null values outside the widened range
CATEGORY_MARGIN = 0.01  # unseen-category share allowed on top of the reference's "other" share
ROW_COUNT_CRITICAL = 0.5  # a day below half the smallest reference day has collapsed
ROW_COUNT_WARNING = (0.8, 1.25)  # x smallest and x largest reference day
DEFAULT_MIN_ROWS = 1  # without daily reference sub-windows: only an empty day is flagged

# Type families accepted by expect_column_values_to_be_in_type_list on both validation paths:
# pandas dtype names (DuckDB, validated as pandas batches) and the names Great Expectations
# compares for PostgreSQL columns (the SQL type as text, case-insensitive).
NUMERIC_TYPES = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "REAL",
    "DOUBLE PRECISION",
    "NUMERIC",
)
STRING_TYPES = ("str", "VARCHAR", "TEXT", "CHAR")

# Prefixes of SQL type names (DuckDB and PostgreSQL spellings) by family.
_NUMERIC_SQL: tuple[str, ...] = ("INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UINT", "UBIGINT", "USMALLINT")
_NUMERIC_SQL += ("UTINYINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")
_STRING_SQL = ("VARCHAR", "TEXT", "CHAR", "STRING", "BPCHAR")


def type_family(sql_type: str) -> str | None:
    """``numeric`` or ``string`` for a SQL type name (DuckDB or PostgreSQL spelling), else None."""
    name = sql_type.upper()
    if name.startswith(_NUMERIC_SQL):
        return "numeric"
    if name.startswith(_STRING_SQL) or name.startswith("CHARACTER"):
        return "string"
    return None


def _floor4(x: float) -> float:
    """Down to 4 decimals; the epsilon keeps 1 - 0.15 (0.8499999999999999 in binary) at 0.85."""
    return math.floor(x * 10_000 + 1e-9) / 10_000


def _outward(x: float, exponent: int, *, up: bool) -> float:
    """``x`` rounded away from the range's inside to a multiple of ``10**exponent``."""
    scaled = x / 10.0**exponent
    k = math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9)
    return round(k * 10.0**exponent, max(0, -exponent))


def _nice(x: float) -> float:
    return float(f"{x:.12g}")


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _expectation(kind: str, kwargs: dict[str, Any], severity: str, basis: str) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": severity, "basis": basis}, "severity": severity}


def _type_list(family: str, sql_type: str, exact_types: bool) -> list[str]:
    types = list(NUMERIC_TYPES if family == "numeric" else STRING_TYPES)
    # A parametrized PostgreSQL type (VARCHAR(20), NUMERIC(10, 2)) compares as that exact text;
    # pandas cannot parse such names, so they are added only for suites run through SQL.
    if exact_types and sql_type.upper() not in {t.upper() for t in types}:
        types.append(sql_type)
    return types


def _null_expectations(column: str, null_rate: float) -> list[dict[str, Any]]:
    out = []
    for margin, severity, why in (
        (NULL_WARNING_MARGIN, "warning", ""),
        (NULL_CRITICAL_MARGIN, "critical", ": the column is mostly missing"),
    ):
        mostly = _floor4(1 - (null_rate + margin))
        if mostly > 0:
            basis = f"null rate above the reference's {_pct(null_rate)} + {round(100 * margin)} points{why}"
            out.append(
                _expectation(
                    "expect_column_values_to_not_be_null", {"column": column, "mostly": mostly}, severity, basis
                )
            )
    return out


def _range_expectation(column: str, col: NumericProfile) -> dict[str, Any]:
    lo, hi = col.bins.lo, col.bins.hi
    width = hi - lo
    exponent = math.floor(math.log10(width)) - 3  # 4 significant digits of the width
    low = _outward(lo - RANGE_MARGIN * width, exponent, up=False)
    high = _outward(hi + RANGE_MARGIN * width, exponent, up=True)
    clamp = ""
    if col.count and col.min >= 0 and low < 0:
        low, clamp = 0.0, "; kept >= 0 like every reference value"
    basis = (
        f"reference 0.1-99.9 % quantiles [{_nice(lo)}, {_nice(hi)}] widened by {RANGE_MARGIN:g} x their width "
        f"on each side{clamp}; at most {_pct(1 - RANGE_MOSTLY)} of values outside"
    )
    kwargs = {"column": column, "min_value": _nice(low), "max_value": _nice(high), "mostly": RANGE_MOSTLY}
    return _expectation("expect_column_values_to_be_between", kwargs, "warning", basis)


def _category_value(value: str, family: str) -> str | int | float:
    """Reference categories are stored as text; a numeric-typed column compares as numbers."""
    if family != "numeric":
        return value
    try:
        return int(value)
    except ValueError:
        return float(value)


def _set_expectation(column: str, col: CategoricalProfile, family: str) -> dict[str, Any]:
    values = [_category_value(v, family) for v in col.bins.categories]
    other = float(col.counts[-1]) / col.count if col.count else 0.0
    if other > 0:
        mostly = _floor4(1 - (other + CATEGORY_MARGIN))
        basis = (
            f"the reference's {len(values)} most frequent values; {_pct(other)} of reference values were other "
            f"values, so up to {_pct(1 - mostly)} may be outside the set"
        )
    else:
        mostly = 1.0
        basis = f"every value seen in the reference ({len(values)}): any other value is unseen"
    kwargs = {"column": column, "value_set": values, "mostly": mostly}
    return _expectation("expect_column_values_to_be_in_set", kwargs, "warning", basis)


def _row_count_expectations(reference: ReferenceProfile) -> list[dict[str, Any]]:
    days = [p.n_rows for p in reference.windows.values() if p.n_rows > 0]
    kind = "expect_table_row_count_to_be_between"
    if not days:
        basis = (
            "the reference has no daily sub-windows (reference.timestamp_column or a window reference gives "
            "them): only an empty day is flagged; edit min_value/max_value to your daily traffic"
        )
        return [_expectation(kind, {"min_value": DEFAULT_MIN_ROWS, "max_value": None}, "critical", basis)]
    smallest, largest = min(days), max(days)
    span = f"reference days held {smallest:,}..{largest:,} rows"
    low, high = ROW_COUNT_WARNING
    return [
        _expectation(
            kind,
            {"min_value": max(1, math.floor(ROW_COUNT_CRITICAL * smallest)), "max_value": None},
            "critical",
            f"{span}: fewer than {ROW_COUNT_CRITICAL:g} x the smallest is a collapse",
        ),
        _expectation(
            kind,
            {"min_value": max(1, math.floor(low * smallest)), "max_value": math.ceil(high * largest)},
            "warning",
            f"{span}: within {low:g} x the smallest and {high:g} x the largest",
        ),
    ]


def generate_suite(
    spec: MonitorSpec,
    reference: ReferenceProfile,
    source_types: Mapping[str, str],
    *,
    exact_types: bool = False,
    reference_label: str = "",
) -> dict[str, Any]:
    """The starting suite of ``spec`` as Great Expectations 1.x ExpectationSuite JSON.

    ``source_types`` maps each source column to its SQL type name (``Warehouse.rows.source_columns``);
    ``exact_types`` adds a column's exact type text to its type list (for suites validated
    through SQL, where a parametrized type such as VARCHAR(20) compares as that text).
    """
    profile = reference.profile
    expectations = _row_count_expectations(reference)
    score = spec.prediction.score_column
    for column in spec.profiled_columns:
        col = profile.columns[column]
        sql_type = source_types.get(column, "")
        family = type_family(sql_type) or ("numeric" if isinstance(col, NumericProfile) else "string")
        expectations.append(_expectation("expect_column_to_exist", {"column": column}, "critical", "named by the spec"))
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_type_list",
                {"column": column, "type_list": _type_list(family, sql_type, exact_types)},
                "critical",
                f"{family} in the source table ({sql_type or 'type unknown'})",
            )
        )
        expectations += _null_expectations(column, col.null_count / col.n_rows if col.n_rows else 0.0)
        if isinstance(col, NumericProfile):
            expectations.append(_range_expectation(column, col))
            if column == score and spec.prediction.task == "binary_classification" and 0 <= col.min <= col.max <= 1:
                expectations.append(
                    _expectation(
                        "expect_column_values_to_be_between",
                        {"column": column, "min_value": 0.0, "max_value": 1.0},
                        "critical",
                        "a binary classifier's score is a probability (the reference's scores are all in [0, 1])",
                    )
                )
        else:
            expectations.append(_set_expectation(column, col, family))
    windows = len(reference.windows)
    return {
        "name": spec.name,
        "expectations": expectations,
        "meta": {
            "monitoring": {
                "generated_by": "python -m expectations.generate",
                "reference": reference_label or spec.reference.table or "source window",
                "reference_rows": profile.n_rows,
                "reference_days": windows,
                "margins": {
                    "null_warning": NULL_WARNING_MARGIN,
                    "null_critical": NULL_CRITICAL_MARGIN,
                    "range": RANGE_MARGIN,
                    "range_mostly": RANGE_MOSTLY,
                    "category": CATEGORY_MARGIN,
                    "row_count_critical": ROW_COUNT_CRITICAL,
                    "row_count_warning": list(ROW_COUNT_WARNING),
                },
            }
        },
        "notes": "Generated from the stored reference profile as a starting point: edit freely "
        "(expectations/README.md says what each part means).",
    }
