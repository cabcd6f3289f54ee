"""One level for every finding of the plugin: drift, guards, performance, fairness, data quality.

``OK < INFO < WARN < ERROR``; ``NOT_EVALUATED`` stands apart: the data was missing, invalid or
too thin to judge, which is neither a pass nor a failure (it is never shown as green without
saying why). WARN and ERROR fail a check. The other vocabularies are mapped here, at the edge:
a data-quality severity (``warning``, ``critical``) and the older ``no_data``; the Dagster layer
maps a level to a check severity once (``monitoring_assets._day_checks.check_severity``), and the
alerts adapter to an alert tier once (``resources.alerts.tier_of``).

A ``StrEnum``: its members are their text (``Level.WARN == "warn"``), so stored values,
metadata and JSON stay as they were.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Level(enum.StrEnum):
    NOT_EVALUATED = "not_evaluated"
    OK = "ok"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Order of severity: -1 for NOT_EVALUATED, then 0 (OK) to 3 (ERROR)."""
        return _RANK[self]

    @property
    def failed(self) -> bool:
        """WARN and ERROR fail a check; OK, INFO and NOT_EVALUATED do not."""
        return self in (Level.WARN, Level.ERROR)

    @property
    def evaluated(self) -> bool:
        return self is not Level.NOT_EVALUATED

    @classmethod
    def of(cls, text: str) -> Level:
        """A level from its text or an alias (``warning`` and ``critical`` of data quality,
        ``no_data`` of a metric without a value). Raises ValueError for anything else."""
        try:
            return cls(_ALIASES.get(text, text))
        except ValueError:
            raise ValueError(f"unknown level {text!r}; one of {', '.join(m.value for m in cls)}") from None


_RANK = {Level.NOT_EVALUATED: -1, Level.OK: 0, Level.INFO: 1, Level.WARN: 2, Level.ERROR: 3}
_ALIASES = {"warning": "warn", "critical": "error", "no_data": "not_evaluated"}


def worst(levels: Iterable[Level]) -> Level:
    """The most severe of ``levels``; NOT_EVALUATED when there are none or none was judged."""
    return max(levels, key=lambda level: level.rank, default=Level.NOT_EVALUATED)
