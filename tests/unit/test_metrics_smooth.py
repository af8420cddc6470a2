"""Smooth ECE against a direct kernel implementation and against population values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from langchain_calibrate.metrics import smooth_ece


def _direct_smooth_ece(y: np.ndarray, f: np.ndarray, sigma: float) -> float:
    """The definition, term by term: |(1/n) sum_i (y_i - f_i) K(t, f_i)| integrated over t.

    K is the Gaussian density folded into [0, 1] (reflected at 0 and 1), written as the sum of
    its mirror images; the integral is a trapezoid rule on 4001 points.
    """
    t = np.linspace(0.0, 1.0, 4001)
    kernel = np.zeros((t.size, f.size))
    for k in range(-3, 4):
        for image in (f[None, :] + 2 * k, -f[None, :] + 2 * k):
            kernel += np.exp(-0.5 * ((t[:, None] - image) / sigma) ** 2)
    kernel /= sigma * np.sqrt(2 * np.pi)
    return float(integrate.trapezoid(np.abs(kernel @ (y - f)) / f.size, t))


def _sample(seed: int, n: int, a: float = 2.0, b: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = rng.beta(2.0, 1.2, size=n)
    y = (rng.random(n) < special.expit(a * special.logit(f) + b)).astype(float)
    return y, f


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.2, 1.0])
def test_fixed_bandwidth_matches_the_direct_definition(sigma: float) -> None:
    y, f = _sample(0, 400)
    assert smooth_ece(y, f, bandwidth=sigma) == pytest.approx(
        _direct_smooth_ece(y, f, sigma), abs=1e-4
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_automatic_bandwidth_is_the_fixed_point(seed: int) -> None:
    # With s = smECE_s the value returned must reproduce itself as the bandwidth.
    y, f = _sample(seed, 400)
    value = smooth_ece(y, f)
    assert value == pytest.approx(_direct_smooth_ece(y, f, value), abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_perfectly_calibrated_large_sample_is_small(seed: int) -> None:
    rng = np.random.default_rng(seed)
    f = rng.beta(2.0, 1.2, size=20_000)
    y = (rng.random(20_000) < f).astype(int)
    assert 0.0 <= smooth_ece(y, f) < 0.02


def _true_l1_error(dist: stats.rv_continuous, a: float, b: float) -> float:
    """E|P(y = 1 | f) - f| for labels drawn from sigmoid(a logit(f) + b), by quadrature."""
    low, high = dist.support()

    def integrand(p: float) -> float:
        return float(abs(special.expit(a * special.logit(p) + b) - p) * dist.pdf(p))

    return float(integrate.quad(integrand, max(low, 1e-12), min(high, 1 - 1e-12), limit=200)[0])


@pytest.mark.parametrize(
    ("dist", "a", "b", "tolerance"),
    [
        # Overconfident; P(y | f) < f wherever the confidences are (almost no sign change).
        (stats.beta(5.0, 1.5), 0.5, 0.0, 0.01),
        # Underconfident, with a sign change at f = 0.43: kernel smoothing shaves a little off.
        (stats.uniform(0.02, 0.96), 2.0, 0.3, 0.015),
    ],
)
def test_known_miscalibration_is_close_to_the_true_l1_error(
    dist: stats.rv_continuous, a: float, b: float, tolerance: float
) -> None:
    truth = _true_l1_error(dist, a, b)
    rng = np.random.default_rng(7)
    f = dist.rvs(size=20_000, random_state=rng)
    y = (rng.random(20_000) < special.expit(a * special.logit(f) + b)).astype(int)
    assert smooth_ece(y, f) == pytest.approx(truth, abs=tolerance)


def test_range_and_extremes() -> None:
    # Every answer wrong at confidence 1.0: the residual is -1 everywhere.
    assert smooth_ece([0, 0, 0], [1.0, 1.0, 1.0]) == pytest.approx(1.0, abs=1e-9)
    assert smooth_ece([1, 0], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-12)
    # Same-sign residuals: the smoothed residual keeps its sign, so smECE = |mean(y - f)|.
    assert smooth_ece([1, 1, 1, 1], [0.2, 0.5, 0.7, 0.95]) == pytest.approx(0.4125, abs=1e-9)
    # In general |mean(y - f)| <= smECE <= mean|y - f|, for any bandwidth.
    y, f = _sample(3, 300)
    for bandwidth in (None, 0.001, 0.03, 0.3, 5.0):
        value = smooth_ece(y, f, bandwidth=bandwidth)
        assert abs(np.mean(y - f)) - 1e-9 <= value <= np.mean(np.abs(y - f)) + 1e-9


def test_does_not_depend_on_input_order() -> None:
    y, f = _sample(4, 300)
    order = np.random.default_rng(0).permutation(300)
    assert smooth_ece(y[order], f[order]) == pytest.approx(smooth_ece(y, f), abs=1e-12)
