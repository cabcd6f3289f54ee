"""Multivariate drift from moments, against scikit-learn's PCA on the raw rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from monitoring_assets.core.drift import DRIFT_METHODS
from monitoring_assets.core.multivariate import Moments, ReconstructionPCA, Standardizer
from monitoring_assets.core.profile import NumericBins, NumericProfile, ProfileLayout, profile_from_values
from monitoring_assets.errors import ProfileError

COLUMNS = ("a", "b", "c", "d")


def _rows(rng: np.random.Generator, n: int, rho: float, shift: float = 0.0) -> dict[str, np.ndarray]:
    """a, b correlated by rho; c, d independent; each marginal N(shift, 1)."""
    a = rng.normal(size=n)
    b = rho * a + math.sqrt(1 - rho**2) * rng.normal(size=n)
    return {"a": a + shift, "b": b + shift, "c": rng.normal(size=n), "d": 3.0 * rng.normal(size=n) + 10.0}


def _numeric_profiles(values: dict[str, np.ndarray], bins: NumericBins) -> dict[str, NumericProfile]:
    layout = ProfileLayout(numeric=dict.fromkeys(values, bins), categorical={})
    columns = profile_from_values(layout, values).columns
    return {c: p for c, p in columns.items() if isinstance(p, NumericProfile)}


def _standardizer(reference: dict[str, np.ndarray]) -> Standardizer:
    return Standardizer.from_profiles(_numeric_profiles(reference, NumericBins(-5.0, 20.0, 50)))


def _moments(standardizer: Standardizer, values: dict[str, np.ndarray]) -> Moments:
    return Moments.from_rows(standardizer.columns, standardizer.transform(values))


def _sklearn_error(reference: dict[str, np.ndarray], day: dict[str, np.ndarray], share: float) -> float:
    """Impute by the reference mean, scale by the reference, PCA(share) on the reference rows."""
    ref = np.column_stack([reference[c] for c in COLUMNS])
    cur = np.column_stack([day[c] for c in COLUMNS])
    means = np.nanmean(np.where(np.isfinite(ref), ref, np.nan), axis=0)
    ref, cur = (np.where(np.isfinite(x), x, means) for x in (ref, cur))
    scaler = StandardScaler().fit(ref)
    pca = PCA(n_components=share, svd_solver="full").fit(scaler.transform(ref))
    z = scaler.transform(cur)
    return float(np.mean(np.sum((z - pca.inverse_transform(pca.transform(z))) ** 2, axis=1)))


def _our_error(reference: dict[str, np.ndarray], day: dict[str, np.ndarray], share: float) -> float:
    standardizer = _standardizer(reference)
    fitted = ReconstructionPCA(share).fit(_moments(standardizer, reference))
    return fitted.error(_moments(standardizer, day))


@pytest.mark.parametrize("share", [0.3, 0.65, 0.9])
@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_error_equals_sklearn_pca_reconstruction_on_the_rows(share: float, rho: float) -> None:
    rng = np.random.default_rng(7)
    reference, day = _rows(rng, 5_000, rho), _rows(rng, 800, -rho, shift=0.3)
    assert _our_error(reference, day, share) == pytest.approx(_sklearn_error(reference, day, share), rel=1e-9)


def test_component_count_follows_sklearns_float_rule() -> None:
    rng = np.random.default_rng(3)
    reference = _rows(rng, 4_000, 0.9)
    standardizer = _standardizer(reference)
    z = standardizer.transform(reference)
    for share in (0.2, 0.5, 0.65, 0.8, 0.99):
        ours = ReconstructionPCA(share).fit(Moments.from_rows(standardizer.columns, z))
        theirs = PCA(n_components=share, svd_solver="full").fit(z)
        assert ours.n_components_ == theirs.n_components_
        np.testing.assert_allclose(
            ours.explained_variance_ratio_[: ours.n_components_], theirs.explained_variance_ratio_
        )


def test_nulls_and_non_finite_values_are_imputed_by_the_reference_mean_on_both_sides() -> None:
    rng = np.random.default_rng(11)
    reference, day = _rows(rng, 3_000, 0.7), _rows(rng, 500, 0.7)
    for values in (reference, day):
        values["a"][rng.random(values["a"].size) < 0.1] = np.nan
        values["c"][:5] = np.inf
    assert _our_error(reference, day, 0.65) == pytest.approx(_sklearn_error(reference, day, 0.65), rel=1e-9)


def test_moments_merge_by_addition() -> None:
    rng = np.random.default_rng(5)
    values = _rows(rng, 1_000, 0.5)
    standardizer = _standardizer(values)
    z = standardizer.transform(values)
    whole = Moments.from_rows(standardizer.columns, z)
    merged = Moments.from_rows(standardizer.columns, z[:300]).merge(Moments.from_rows(standardizer.columns, z[300:]))
    assert merged.n == whole.n
    np.testing.assert_allclose(merged.sum, whole.sum, atol=1e-9)
    np.testing.assert_allclose(merged.sum_products, whole.sum_products, rtol=1e-12)


def test_a_correlation_break_is_seen_while_every_marginal_stays_put() -> None:
    rng = np.random.default_rng(17)
    reference = _rows(rng, 20_000, 0.9)
    standardizer = _standardizer(reference)
    fitted = ReconstructionPCA().fit(_moments(standardizer, reference))
    same = [fitted.error(_moments(standardizer, _rows(rng, 2_000, 0.9))) for _ in range(20)]
    broken_day = _rows(rng, 2_000, -0.9)
    broken = fitted.error(_moments(standardizer, broken_day))
    # Same-distribution days stay within a few standard deviations of their mean; the break is far above.
    assert broken > np.mean(same) + 10 * np.std(same, ddof=1)
    # Each marginal is unchanged: the univariate KS test of scipy does not reject at 1 %.
    bins = NumericBins(-5.0, 20.0, 1_000)
    ks = DRIFT_METHODS["ks"].compute
    before, after = _numeric_profiles(reference, bins), _numeric_profiles(broken_day, bins)
    for column in COLUMNS:
        assert ks(before[column], after[column]) > 0.01, column


def test_constant_reference_columns_are_left_out_and_too_few_columns_refused() -> None:
    rng = np.random.default_rng(1)
    values = {"a": rng.normal(size=100), "b": np.full(100, 2.0), "c": np.full(100, np.nan)}
    bins = NumericBins(-5.0, 5.0, 10)
    standardizer = Standardizer.from_profiles(_numeric_profiles(values, bins))
    assert standardizer.columns == ("a",)
    assert standardizer.excluded == ("b", "c")
    with pytest.raises(ProfileError, match="at least two numeric features"):
        ReconstructionPCA().fit(_moments(standardizer, values))


def test_an_empty_window_has_no_error() -> None:
    rng = np.random.default_rng(2)
    values = _rows(rng, 500, 0.5)
    standardizer = _standardizer(values)
    fitted = ReconstructionPCA().fit(_moments(standardizer, values))
    assert math.isnan(fitted.error(Moments.empty(standardizer.columns)))
