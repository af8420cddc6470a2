"""Bootstrap intervals and the metric summary: coverage of a known ECE, and internal agreement."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import integrate, special, stats

from langchain_calibrate.metrics import (
    SUMMARY_KEYS,
    MetricInterval,
    auprc,
    aurc,
    auroc,
    bootstrap_interval,
    brier_score,
    calibration_summary,
    excess_aurc,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    prediction_rejection_ratio,
    smooth_ece,
)


def _population_ece(dist: stats.rv_continuous, a: float, b: float, n_bins: int = 15) -> float:
    """The estimand of 15-bin equal-width ECE for P(y = 1 | p) = sigmoid(a logit(p) + b).

    Per bin, |E[(y - p) 1{p in bin}]| = |integral over the bin of (P(y | p) - p) density(p)|,
    by quadrature; the sum over bins is what the binned estimator converges to.
    """
    low, high = dist.support()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for left, right in itertools.pairwise(edges):
        lo, hi = max(left, low, 1e-12), min(right, high, 1 - 1e-12)
        if hi <= lo:
            continue
        gap = integrate.quad(
            lambda p: (special.expit(a * special.logit(p) + b) - p) * dist.pdf(p), lo, hi
        )[0]
        total += abs(gap)
    return total


def _coverage(dist: stats.rv_continuous, a: float, b: float, *, n: int = 3000) -> dict[str, Any]:
    """How often the basic and the percentile 95% intervals hold the true ECE in 100 repeats.

    Both come from one bootstrap run: the basic interval is the percentile interval reflected
    about the estimate (checked in test_basic_is_the_percentile_interval_reflected...).
    """
    truth = _population_ece(dist, a, b)
    covered = {"basic": 0, "percentile": 0}
    for repeat in range(100):
        rng = np.random.default_rng(repeat)
        p = dist.rvs(size=n, random_state=rng)
        y = (rng.random(n) < special.expit(a * special.logit(p) + b)).astype(int)
        pct = bootstrap_interval(
            expected_calibration_error, y, p, n_resamples=400, seed=repeat, method="percentile"
        )
        assert pct.low is not None and pct.high is not None
        basic = (2 * pct.estimate - pct.high, 2 * pct.estimate - pct.low)
        covered["percentile"] += pct.low <= truth <= pct.high
        covered["basic"] += basic[0] <= truth <= basic[1]
    return {"truth": truth, **covered}


def test_ece_interval_covers_the_true_value(request: pytest.FixtureRequest) -> None:
    # The project's known miscalibration (as in test_calibrators): scores uniform on
    # [0.02, 0.98], P(correct) = sigmoid(0.5 logit(s) - 1). n = 3000, 400 resamples, 100 repeats.
    # Measured: 94/100 with the default basic interval (91/100 with the percentile one); over
    # 200 other repeats the basic interval covered 94%.
    result = _coverage(stats.uniform(0.02, 0.96), 0.5, -1.0)
    request.node.user_properties.extend(result.items())  # in the JUnit XML (legacy family)
    assert result["basic"] >= 90, f"the basic 95% interval covered the true ECE: {result}"


def test_basic_interval_corrects_the_bias_the_percentile_interval_doubles(
    request: pytest.FixtureRequest,
) -> None:
    # Nearly calibrated (true ECE 0.030): the plug-in ECE is biased up by ~0.006, about its
    # standard deviation, and bootstrap replicates add the bias again, so the percentile interval
    # misses the truth about half the time. Measured: basic 91/100, percentile 43/100 (over 300
    # other repeats 87% and 50%: the basic interval is far better but still a little short).
    result = _coverage(stats.beta(2.0, 2.0), 1.2, 0.1)
    request.node.user_properties.extend(result.items())  # in the JUnit XML (legacy family)
    assert result["basic"] >= 80, result
    assert result["percentile"] <= 65, result
    assert result["basic"] - result["percentile"] >= 25, result


@pytest.fixture(scope="module")
def tied_sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    p = np.round(rng.beta(3.0, 1.5, size=400), 2)
    y = (rng.random(400) < p**1.3).astype(int)
    return y, p


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (expected_calibration_error, {}),
        (expected_calibration_error, {"n_bins": 7, "strategy": "quantile"}),
        (maximum_calibration_error, {}),
        (maximum_calibration_error, {"strategy": "quantile"}),
        (smooth_ece, {}),
        (smooth_ece, {"bandwidth": 0.05}),
        (brier_score, {}),
        (negative_log_likelihood, {"eps": 1e-3}),
        (auroc, {}),
        (auprc, {}),
        (aurc, {}),
        (excess_aurc, {}),
        (prediction_rejection_ratio, {}),
    ],
)
@pytest.mark.parametrize("method", ["basic", "percentile"])
def test_vectorised_bootstrap_equals_calling_the_metric_per_resample(
    tied_sample: tuple[np.ndarray, np.ndarray],
    metric: Callable[..., float],
    kwargs: dict[str, Any],
    method: str,
) -> None:
    # A wrapper is not in the vectorised table, so it is called on each resample in turn; the
    # ranking metrics are computed there by rankdata/cumsum and vectorised from tie-group counts.
    y, p = tied_sample

    def wrapper(y_true: np.ndarray, y_prob: np.ndarray, **kw: Any) -> float:
        return metric(y_true, y_prob, **kw)

    fast = bootstrap_interval(metric, y, p, n_resamples=150, seed=5, method=method, **kwargs)
    slow = bootstrap_interval(wrapper, y, p, n_resamples=150, seed=5, method=method, **kwargs)
    assert fast.estimate == slow.estimate
    assert fast.low == pytest.approx(slow.low, abs=1e-12)
    assert fast.high == pytest.approx(slow.high, abs=1e-12)
    assert (fast.n_resamples, fast.n_skipped) == (slow.n_resamples, slow.n_skipped) == (150, 0)


@pytest.mark.parametrize("metric", [auroc, auprc, prediction_rejection_ratio])
def test_resamples_with_one_class_are_skipped_and_counted(metric: Callable[..., float]) -> None:
    # One wrong answer in six: a resample misses it with probability (5/6)^6 = 0.335.
    y, p = [0, 1, 1, 1, 1, 1], [0.1, 0.5, 0.6, 0.7, 0.8, 0.9]
    interval = bootstrap_interval(metric, y, p, n_resamples=2000, seed=1)
    assert interval.n_resamples + interval.n_skipped == 2000
    assert interval.n_skipped / 2000 == pytest.approx((5 / 6) ** 6, abs=0.04)
    slow = bootstrap_interval(lambda t, s: metric(t, s), y, p, n_resamples=2000, seed=1)
    assert (slow.n_resamples, slow.n_skipped) == (interval.n_resamples, interval.n_skipped)


def test_basic_is_the_percentile_interval_reflected_about_the_estimate(
    tied_sample: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = tied_sample
    basic = bootstrap_interval(auroc, y, p, n_resamples=300, seed=2)
    pct = bootstrap_interval(auroc, y, p, n_resamples=300, seed=2, method="percentile")
    assert basic.method == "basic" and pct.method == "percentile"
    assert pct.low is not None and pct.high is not None
    assert basic.low == pytest.approx(2 * pct.estimate - pct.high, abs=1e-12)
    assert basic.high == pytest.approx(2 * pct.estimate - pct.low, abs=1e-12)


def test_percentile_interval_of_the_brier_score_matches_the_normal_approximation() -> None:
    # Brier is a mean of per-answer losses, so its 95% interval is about mean +- 1.96 sd / sqrt(n).
    rng = np.random.default_rng(5)
    p = rng.beta(3.0, 1.5, size=5000)
    y = (rng.random(5000) < p).astype(int)
    losses = (p - y) ** 2
    half_width = 1.96 * losses.std() / np.sqrt(5000)
    for method in ("percentile", "basic"):
        interval = bootstrap_interval(brier_score, y, p, n_resamples=2000, method=method)
        assert interval.low == pytest.approx(losses.mean() - half_width, abs=0.1 * half_width)
        assert interval.high == pytest.approx(losses.mean() + half_width, abs=0.1 * half_width)


def test_interval_options(tied_sample: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = tied_sample
    none = bootstrap_interval(brier_score, y, p, n_resamples=0)
    assert none == MetricInterval(brier_score(y, p), None, None, 0.95, 0)
    wide = bootstrap_interval(brier_score, y, p, level=0.95, n_resamples=300)
    narrow = bootstrap_interval(brier_score, y, p, level=0.5, n_resamples=300)
    assert wide.low is not None and wide.high is not None
    assert narrow.low is not None and narrow.high is not None
    assert wide.low < narrow.low < narrow.high < wide.high
    # The same seed gives the same interval; another seed another one.
    again = bootstrap_interval(brier_score, y, p, level=0.95, n_resamples=300)
    other = bootstrap_interval(brier_score, y, p, level=0.95, n_resamples=300, seed=1)
    assert again == wide
    assert other != wide
    # bounds clip the interval (a perfect AUROC's basic interval would otherwise pass 1).
    clipped = bootstrap_interval(auroc, [0, 0, 1, 1, 1], [0.1, 0.2, 0.7, 0.8, 0.9], bounds=(0, 1))
    assert clipped.high == 1.0


# ----------------------------------------------------------------------------- summary


def test_summary_keys_and_intervals_equal_bootstrap_interval(
    tied_sample: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = tied_sample
    summary = calibration_summary(y, p, n_resamples=200, seed=3)
    assert list(summary) == list(SUMMARY_KEYS)
    assert SUMMARY_KEYS == (
        "ece",
        "ece_quantile",
        "mce",
        "smooth_ece",
        "brier",
        "nll",
        "auroc",
        "auprc",
        "aurc",
        "prr",
    )
    unit, no_upper, at_most_one = (0.0, 1.0), (0.0, np.inf), (-np.inf, 1.0)
    reference = {
        "ece": (expected_calibration_error, {}, unit),
        "ece_quantile": (expected_calibration_error, {"strategy": "quantile"}, unit),
        "mce": (maximum_calibration_error, {}, unit),
        "smooth_ece": (smooth_ece, {}, unit),
        "brier": (brier_score, {}, unit),
        "nll": (negative_log_likelihood, {}, no_upper),
        "auroc": (auroc, {}, unit),
        "auprc": (auprc, {}, unit),
        "aurc": (aurc, {}, unit),
        "prr": (prediction_rejection_ratio, {}, at_most_one),
    }
    for key, (metric, kwargs, bounds) in reference.items():
        expected = bootstrap_interval(
            metric, y, p, n_resamples=200, seed=3, bounds=bounds, **kwargs
        )
        assert summary[key] == expected, key


def test_summary_without_resamples_and_with_one_class() -> None:
    summary = calibration_summary([1, 1, 1, 1], [0.6, 0.7, 0.8, 0.9], n_resamples=100)
    for key in ("auroc", "auprc", "prr"):
        assert summary[key] == MetricInterval(None, None, None, 0.95, 0)
    assert summary["aurc"].estimate == 0.0
    assert summary["brier"].estimate == pytest.approx((0.16 + 0.09 + 0.04 + 0.01) / 4)
    assert summary["ece"].n_resamples == 100
    plain = calibration_summary([0, 1, 1, 0], [0.3, 0.6, 0.8, 0.4], n_resamples=0)
    assert all(v.low is None and v.high is None and v.n_resamples == 0 for v in plain.values())
    assert plain["auroc"].estimate == 1.0
