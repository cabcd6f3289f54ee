"""Operational metrics: latency quantiles from the log histogram against numpy.percentile on the raw
values, with the stated relative error bound; merge; error rate; SLO verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring_assets.core.levels import Level
from monitoring_assets.core.operations import OperationsDay, evaluate_slos, latency_histogram

SAMPLES = {
    "lognormal": lambda rng: rng.lognormal(4.0, 1.2, 20_000),
    "bimodal": lambda rng: np.concatenate([rng.normal(20, 2, 15_000), rng.normal(900, 150, 500)]),
    "exponential": lambda rng: rng.exponential(50.0, 20_000),
    "few": lambda rng: rng.lognormal(3.0, 0.5, 7),
    "integers": lambda rng: rng.integers(1, 40, 5_000).astype(float),  # many ties, values on bucket edges
}


@pytest.mark.parametrize("alpha", [0.01, 0.05])
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_quantiles_are_within_alpha_of_numpys_inverted_cdf_quantile(sample: str, alpha: float) -> None:
    values = SAMPLES[sample](np.random.default_rng(3))
    hist = latency_histogram(values, alpha)
    for q in (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        # np.quantile, not np.percentile: 100 * q / 100 can move q by an ulp and the rank by one.
        want = float(np.quantile(values, q, method="inverted_cdf"))
        assert abs(hist.quantile(q) - want) <= alpha * want * (1 + 1e-12), (q, want)


def test_against_numpys_default_method_the_estimate_is_near_an_interpolated_order_statistic() -> None:
    values = np.random.default_rng(5).lognormal(4.0, 1.0, 10_001)
    hist = latency_histogram(values, 0.01)
    ordered = np.sort(values)
    for q in (0.5, 0.95, 0.99):
        h = (len(values) - 1) * q
        lo, hi = ordered[math.floor(h)], ordered[math.ceil(h)]
        assert lo * 0.99 <= hist.quantile(q) <= hi * 1.01
        assert hist.quantile(q) == pytest.approx(np.percentile(values, 100 * q), rel=0.01 + 1e-3)


def test_zero_negative_null_and_non_finite_latencies() -> None:
    values = np.array([0.0, -1.0, np.nan, np.inf, 10.0, 10.0, 10.0, 1000.0])
    hist = latency_histogram(values, 0.01)
    assert (hist.count, hist.zero_count, hist.null_count) == (6, 2, 2)
    assert hist.quantile(0.2) == 0.0  # rank 1 of 6: the second of the two zeros
    assert hist.quantile(0.5) == pytest.approx(10.0, rel=0.01)
    assert hist.quantile(1.0) == pytest.approx(1000.0, rel=0.01)
    assert math.isnan(latency_histogram(np.array([np.nan]), 0.01).quantile(0.5))


def test_days_merge_by_addition_into_the_histogram_of_all_their_values() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.lognormal(3, 1, 3_000), rng.lognormal(5, 0.5, 2_000)
    merged = latency_histogram(a).merge(latency_histogram(b))
    whole = latency_histogram(np.concatenate([a, b]))
    assert dict(merged.buckets) == dict(whole.buckets)
    assert merged.quantile(0.99) == whole.quantile(0.99)


def test_error_rate_and_slo_verdicts() -> None:
    day = OperationsDay(requests=1_000, errors=30, with_status=990, latency=latency_histogram(np.full(1_000, 250.0)))
    metrics = day.metrics()
    assert metrics["error_rate"] == pytest.approx(30 / 990)
    assert metrics["request_count"] == 1_000
    limits = {"error_rate": (0.01, 0.05), "latency_p99": (200.0, 300.0), "latency_p50": (None, 1_000.0)}
    verdicts = {v.metric: v.level for v in evaluate_slos(metrics, limits, min_requests=100)}
    assert verdicts == {"error_rate": Level.WARN, "latency_p99": Level.WARN, "latency_p50": Level.OK}
    strict = {v.metric: v.level for v in evaluate_slos(metrics, {"latency_p99": (100.0, 200.0)}, min_requests=100)}
    assert strict == {"latency_p99": Level.ERROR}
    thin = evaluate_slos(metrics, limits, min_requests=5_000)
    assert {v.level for v in thin} == {Level.NOT_EVALUATED}
    assert thin[0].reason == "too few requests: 1000 < 5000"
    no_status = OperationsDay(requests=500, errors=0, with_status=0, latency=None).metrics()
    (verdict,) = evaluate_slos(no_status, {"error_rate": (0.01, None)}, min_requests=100)
    assert verdict.level is Level.NOT_EVALUATED
