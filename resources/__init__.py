"""Adapters: the warehouse (SQL), MLflow, the trainer and the alert sinks. Import their modules."""

__all__: list[str] = []
