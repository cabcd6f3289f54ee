"""Thresholds are objects: a constant, or one calibrated on the reference.

Calibration follows scikit-learn's contract: ``__init__`` stores settings, ``fit`` learns
``value_`` from the method's values on reference sub-windows (each daily sub-window of the
reference compared with the whole reference), i.e. from the sampling noise a daily partition
of unchanged data would show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from monitoring_assets.errors import ProfileError


@dataclass(frozen=True)
class ConstantThreshold:
    """A fixed threshold."""

    value: float

    @property
    def value_(self) -> float:
        return self.value


@dataclass
class CalibratedThreshold:
    """``mean + k * std`` of the method over reference sub-windows (std with ddof=1).

    Needs at least two finite sub-window values. Only for methods where drift is *above* the
    threshold (distances); a p-value threshold is a significance level and is not calibrated.
    """

    k: float = 3.0
    value_: float = field(default=math.nan, init=False)
    n_windows_: int = field(default=0, init=False)

    def fit(self, window_values: Sequence[float]) -> CalibratedThreshold:
        values = np.asarray([v for v in window_values if math.isfinite(v)], dtype=np.float64)
        if values.size < 2:
            raise ProfileError(
                f"a calibrated threshold needs >= 2 reference sub-windows with values, got {values.size}; "
                "use a longer reference or a constant threshold"
            )
        self.value_ = float(values.mean() + self.k * values.std(ddof=1))
        self.n_windows_ = int(values.size)
        return self


Threshold = ConstantThreshold | CalibratedThreshold
