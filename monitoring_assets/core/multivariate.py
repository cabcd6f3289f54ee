"""Multivariate drift from second moments: PCA reconstruction error without a per-row pass.

Feature-by-feature drift cannot see a change in how features move together (a correlation that
breaks while every marginal stays put). Like NannyML's data reconstruction drift, this fits PCA on
the reference and watches how well it reconstructs each day's rows. Unlike NannyML it needs no
rows: the error is a function of the day's first and second moments, which a warehouse returns as
sums and merge by addition.

Standardized features, as NannyML's pipeline (scikit-learn's ``SimpleImputer(strategy="mean")``,
then ``StandardScaler``, fitted on the reference). A null or non-finite value is imputed by the
reference mean of the column's finite values, on the reference and on every day alike, so missing
values pull a day towards the reference centre instead of dropping its row. Column ``j``'s value
then becomes ``z = (x - mean_j) / std_j``, with ``std_j`` the population standard deviation
(``ddof = 0``) of the *imputed* reference column: ``sqrt(m2 / n_rows)``, where ``m2`` is the sum of
squared deviations of the finite values and ``n_rows`` counts every row. A column that is constant
(or empty) in the reference has no scale and is left out (:attr:`Standardizer.excluded`).

Moments. Over the ``n`` rows of a window, :class:`Moments` keeps ``n``, ``s = sum z`` and
``S = sum z zᵀ`` (d x d). Merging adds them.

Reconstruction error. :class:`ReconstructionPCA` fits, on the reference moments, the mean
``mu = s / n`` and the eigenvectors of the population covariance ``S / n - mu muᵀ`` (the
principal axes scikit-learn's ``PCA`` finds from the centred rows). It keeps the fewest leading
components whose cumulative explained-variance share exceeds ``variance_share`` (scikit-learn's
rule for a float ``n_components``: ``searchsorted(cumsum, share, side="right") + 1``). With ``P``
the projection on those components, the mean squared reconstruction error of a window is

    E ||(I - P)(z - mu)||^2 = tr((I - P) M),   M = S / n - m muᵀ - mu mᵀ + mu muᵀ,  m = s / n,

i.e. ``tr((I - P)(cov_day + (m - mu)(m - mu)ᵀ))``: the mean over the window's rows of the squared
Euclidean norm of each row's residual ``z - z_hat`` in standardized units, which is what
``PCA.inverse_transform(PCA.transform(z))`` gives row by row. Range ``[0, inf)``; on data like the
reference it is about the variance share the kept components leave out (``(1 - share) * d``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitoring_assets.core.profile import FloatArray, NumericProfile
from monitoring_assets.errors import ProfileError

DEFAULT_VARIANCE_SHARE = 0.65  # NannyML's default for data reconstruction drift
MULTIVARIATE_FEATURE = "__multivariate__"  # the feature name of its rows in drift_metrics


@dataclass(frozen=True)
class Standardizer:
    """The reference's centre and scale of each column that has one (see the module docstring)."""

    columns: tuple[str, ...]
    mean: FloatArray
    std: FloatArray
    excluded: tuple[str, ...] = ()

    @classmethod
    def from_profiles(cls, profiles: Mapping[str, NumericProfile]) -> Standardizer:
        """From the reference's numeric column profiles, in their order."""
        scales = {c: math.sqrt(p.m2 / p.n_rows) for c, p in profiles.items() if p.count > 0}
        kept = [c for c, s in scales.items() if s > 0 and math.isfinite(s)]
        return cls(
            columns=tuple(kept),
            mean=np.array([profiles[c].mean for c in kept], dtype=np.float64),
            std=np.array([scales[c] for c in kept], dtype=np.float64),
            excluded=tuple(c for c in profiles if c not in kept),
        )

    def transform(self, values: Mapping[str, np.ndarray]) -> FloatArray:
        """Rows (n x d) of standardized, mean-imputed values: the reference implementation the SQL follows."""
        columns = [np.asarray(values[c], dtype=np.float64) for c in self.columns]
        x = np.column_stack(columns) if columns else np.empty((0, 0))
        z = (x - self.mean) / self.std
        return np.where(np.isfinite(x), z, 0.0)


@dataclass(frozen=True, eq=False)
class Moments:
    """``n``, ``sum z`` and ``sum z zᵀ`` of standardized rows over a window; merges by addition."""

    columns: tuple[str, ...]
    n: int
    sum: FloatArray = field(repr=False)
    sum_products: FloatArray = field(repr=False)

    def __post_init__(self) -> None:
        d = len(self.columns)
        if np.shape(self.sum) != (d,) or np.shape(self.sum_products) != (d, d):
            raise ProfileError(f"moments of {d} columns need a sum of shape ({d},) and products of shape ({d}, {d})")

    @classmethod
    def empty(cls, columns: Sequence[str]) -> Moments:
        d = len(columns)
        return cls(tuple(columns), 0, np.zeros(d), np.zeros((d, d)))

    @classmethod
    def from_rows(cls, columns: Sequence[str], z: np.ndarray) -> Moments:
        z = np.asarray(z, dtype=np.float64).reshape(-1, len(columns))
        return cls(tuple(columns), int(z.shape[0]), z.sum(axis=0), z.T @ z)

    def merge(self, other: Moments) -> Moments:
        if self.columns != other.columns:
            raise ProfileError("moments over different columns cannot be merged; rebuild the reference")
        return Moments(self.columns, self.n + other.n, self.sum + other.sum, self.sum_products + other.sum_products)

    @property
    def mean(self) -> FloatArray:
        return self.sum / self.n if self.n else np.full(len(self.columns), math.nan)

    def second_moment_about(self, centre: FloatArray) -> FloatArray:
        """``E[(z - centre)(z - centre)ᵀ]`` over the window's rows."""
        m = self.mean
        return self.sum_products / self.n - np.outer(m, centre) - np.outer(centre, m) + np.outer(centre, centre)


@dataclass
class ReconstructionPCA:
    """PCA fitted on reference moments; :meth:`error` is a window's mean squared reconstruction error."""

    variance_share: float = DEFAULT_VARIANCE_SHARE
    mean_: FloatArray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    components_: FloatArray = field(default_factory=lambda: np.empty((0, 0)), init=False, repr=False)
    explained_variance_ratio_: FloatArray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    n_components_: int = field(default=0, init=False)
    columns_: tuple[str, ...] = field(default=(), init=False)

    def fit(self, reference: Moments) -> ReconstructionPCA:
        if not 0.0 < self.variance_share < 1.0:
            raise ProfileError(f"variance_share must be in (0, 1), got {self.variance_share}")
        if len(reference.columns) < 2:
            raise ProfileError(
                f"multivariate drift needs at least two numeric features with spread in the reference, "
                f"got {len(reference.columns)}"
            )
        if reference.n < 2:
            raise ProfileError(f"multivariate drift needs at least two reference rows, got {reference.n}")
        self.mean_ = reference.mean
        covariance = reference.second_moment_about(self.mean_)
        eigenvalues, eigenvectors = np.linalg.eigh((covariance + covariance.T) / 2)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues = np.clip(eigenvalues[order], 0.0, None)
        total = float(eigenvalues.sum())
        if total <= 0:
            raise ProfileError("the reference's standardized features have no variance")
        self.explained_variance_ratio_ = eigenvalues / total
        cumulative = np.cumsum(self.explained_variance_ratio_)
        k = int(np.searchsorted(cumulative, self.variance_share, side="right")) + 1
        self.n_components_ = min(k, len(reference.columns))
        self.components_ = eigenvectors[:, order[: self.n_components_]].T
        self.columns_ = reference.columns
        return self

    def error(self, window: Moments) -> float:
        """Mean squared reconstruction error of the window's rows; NaN for an empty window."""
        if window.columns != self.columns_:
            raise ProfileError("the window's moments are over other columns than the fitted reference")
        if window.n == 0:
            return math.nan
        m = window.second_moment_about(self.mean_)
        kept = float(np.trace(self.components_ @ m @ self.components_.T))
        return max(float(np.trace(m)) - kept, 0.0)


@dataclass(frozen=True)
class MultivariateVerdict:
    """One window's reconstruction error against its threshold; ``evaluated`` False says why in
    ``reason`` (too few rows), with ``value`` and ``drifted`` then undefined (NaN, None)."""

    value: float
    threshold: float
    n_rows: int
    evaluated: bool
    drifted: bool | None
    reason: str | None = None


def evaluate_multivariate(
    fitted: ReconstructionPCA, threshold: float, window: Moments, min_rows: int
) -> MultivariateVerdict:
    """Drift when the window's error is above ``threshold``; not evaluated under ``min_rows`` rows."""
    if window.n < min_rows:
        reason = f"too few rows: {window.n} < {min_rows} (guards.min_rows)"
        return MultivariateVerdict(math.nan, threshold, window.n, evaluated=False, drifted=None, reason=reason)
    value = fitted.error(window)
    return MultivariateVerdict(value, threshold, window.n, evaluated=True, drifted=value > threshold)
