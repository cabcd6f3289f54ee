"""Great Expectations, imported lazily and quietly.

Importing Great Expectations takes a few seconds and emits third-party DeprecationWarnings
(``sre_constants``, pandas and SQLAlchemy internals) we cannot fix, so it is imported only when a
suite runs (never when definitions load), under a warnings filter. Every context is ephemeral
(nothing written to disk), with progress bars and analytics off.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


@contextmanager
def quiet() -> Iterator[None]:
    """Silence third-party warnings raised inside Great Expectations calls."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        yield


def expectation_from_config(config: Mapping[str, Any]) -> Any:
    """A Great Expectations ``Expectation`` from its JSON configuration (raises when invalid)."""
    with quiet():
        from great_expectations.expectations.expectation_configuration import (  # noqa: PLC0415
            ExpectationConfiguration,
        )

        return ExpectationConfiguration(**config).to_domain_obj()


def ephemeral_context() -> Any:
    """An in-memory data context: nothing on disk, no progress bars, no analytics."""
    with quiet():
        import great_expectations as gx  # noqa: PLC0415
        from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.enable_analytics(False)
        return context


def expectation_suite(name: str, configs: list[dict[str, Any]]) -> Any:
    with quiet():
        import great_expectations as gx  # noqa: PLC0415

        suite = gx.ExpectationSuite(name=name)
        for config in configs:
            suite.add_expectation(expectation_from_config(config))
        return suite
