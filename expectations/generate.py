"""``python -m expectations.generate`` (``make suites``): a starting suite per monitor from its
stored reference profile.

    python -m expectations.generate                     # every monitor in $MONITORING_SPECS_DIR
    python -m expectations.generate credit_default      # one monitor
    python -m expectations.generate --force credit_default   # overwrite an existing suite

Reads the reference profile stored by ``<monitor>/reference_profile`` (materialize it first)
from ``$MONITORING_WAREHOUSE_URL`` (default: the demo DuckDB file), and the source table's column
types. Writes ``<dir>/<monitor>.json`` (``--dir``, default ``$MONITORING_EXPECTATIONS_DIR`` or
``expectations/``). An existing suite is kept unless ``--force``: suites are meant to be edited.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from expectations._generate import generate_suite
from expectations._suite import check_with_great_expectations, load_suite, suite_path, suites_dir
from monitoring_assets.errors import MonitorError
from monitoring_assets.spec import MonitorSpec, load_specs
from resources._env import DEFAULT_WAREHOUSE_URL, WAREHOUSE_URL_ENV
from resources.warehouse import Warehouse


def _render(value: Any, depth: int) -> str:
    pad = "  " * depth
    if isinstance(value, dict) and value:
        items = [f"{pad}  {json.dumps(k)}: {_render(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        flat = json.dumps(value, ensure_ascii=False)
        if not any(isinstance(v, dict | list) for v in value) and len(pad) + len(flat) <= 100:
            return flat
        return "[\n" + ",\n".join(f"{pad}  {_render(v, depth + 1)}" for v in value) + f"\n{pad}]"
    return json.dumps(value, ensure_ascii=False)


def suite_json(data: dict[str, Any]) -> str:
    """Indented JSON with short lists (type lists, value sets) on one line: easy to read and edit."""
    return _render(data, 0) + "\n"


def generate_for(spec: MonitorSpec, wh: Warehouse) -> dict[str, Any]:
    columns = spec.profiled_columns
    reference = wh.profiles.read_reference(spec, columns, with_windows=True)
    source_types = wh.rows.source_columns(spec)
    missing = [c for c in columns if c not in source_types]
    if missing:
        raise MonitorError(f"{spec.source.table} lacks the spec's columns {missing}: fix the spec or the table first")
    return generate_suite(spec, reference, source_types, exact_types=not wh.sql.is_duckdb)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m expectations.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("monitors", nargs="*", help="monitor names (default: every spec)")
    parser.add_argument("--dir", type=Path, default=None, help="where suites go (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite existing suites (hand edits are lost)")
    args = parser.parse_args(argv)
    directory: Path = args.dir or suites_dir()
    url = os.environ.get(WAREHOUSE_URL_ENV, DEFAULT_WAREHOUSE_URL)
    try:
        specs = load_specs()
        unknown = sorted(set(args.monitors) - {s.name for s in specs})
        if unknown:
            raise MonitorError(f"no monitor spec named {', '.join(unknown)}")
        wh = Warehouse(url)
        try:
            for spec in specs:
                if args.monitors and spec.name not in args.monitors:
                    continue
                path = suite_path(spec.name, directory)
                if path.exists() and not args.force:
                    print(f"{path}: exists, kept (pass --force to regenerate; hand edits would be lost)")
                    continue
                data = generate_for(spec, wh)
                directory.mkdir(parents=True, exist_ok=True)
                path.write_text(suite_json(data))
                suite = load_suite(path, spec)  # what definitions will load, checked now
                check_with_great_expectations(suite)  # and what a run checks first
                counts = ", ".join(f"{n} {s}" for s, n in suite.counts().items() if n)
                days = data["meta"]["monitoring"]["reference_days"]
                print(
                    f"{path}: {len(suite.expectations)} expectations ({counts}) from the reference of {spec.name} "
                    f"({data['meta']['monitoring']['reference_rows']:,} rows"
                    + (f", {days} daily sub-windows)" if days else "; no daily sub-windows: row count >= 1 only)")
                )
        finally:
            wh.dispose()
    except MonitorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
