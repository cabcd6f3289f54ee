"""Package attributes loaded on first use (PEP 562), for packages that must import light: the
top package and the pure core keep numpy and the factories out of whoever imports them, and
``expectations`` keeps SQLAlchemy out of the code location."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name -> the module (absolute) that defines it.
    A loaded name is kept in the package, so it is looked up once."""

    def getattr_(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return getattr_
