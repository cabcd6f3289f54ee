"""The warehouse's environment variable and default URL, apart from ``resources.warehouse`` so
that building definitions can name them without importing SQLAlchemy (the code location's light
start, ``tests/test_definitions.py``)."""

WAREHOUSE_URL_ENV = "MONITORING_WAREHOUSE_URL"
DEFAULT_WAREHOUSE_URL = "duckdb:///data/demo_warehouse.duckdb"
