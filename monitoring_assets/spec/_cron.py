"""A small validator of standard 5-field cron expressions (no Dagster import, no dependency).

It accepts what a standard cron does: per field ``*``, a value, a range ``a-b``, any of them with
a step ``/n``, and comma-separated lists of these; month and weekday names (``jan``, ``mon``) in
their fields; weekday 0 and 7 both mean Sunday. Dagster's own check is looser about the error it
reports ("consisting of 5 fields" for an out-of-range value), hence this one at spec load.
"""

from __future__ import annotations

from dataclasses import dataclass

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class _Field:
    name: str
    lo: int
    hi: int
    names: tuple[str, ...] = ()  # names[i] means lo + i

    def value(self, text: str) -> int:
        if text.isdigit():
            number = int(text)
            if not self.lo <= number <= self.hi:
                raise ValueError(f"{self.name} {number} is outside {self.lo}-{self.hi}")
            return number
        if text.lower() in self.names:
            return self.lo + self.names.index(text.lower())
        raise ValueError(f"{self.name} {text!r} is not a number{' or a name' if self.names else ''}")


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 7, _WEEKDAYS),
)


def _check_item(item: str, field: _Field) -> None:
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        raise ValueError(f"{field.name} step {step!r} is not a whole number >= 1")
    if base == "*":
        return
    first, dash, last = base.partition("-")
    if not first:
        raise ValueError(f"{field.name} {item!r} is empty or malformed")
    lo = field.value(first)
    if dash:
        hi = field.value(last)
        if hi < lo:
            raise ValueError(f"{field.name} range {base!r} runs backwards")


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a standard 5-field cron expression, or None when it is one."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"{expression!r} has {len(fields)} field(s); a cron expression has 5 "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'"
        )
    for text, field in zip(fields, _FIELDS, strict=True):
        for item in text.split(","):
            try:
                _check_item(item, field)
            except ValueError as e:
                return f"{expression!r} is not a valid cron expression: {e}"
    return None
