"""Recovery of known miscalibration by temperature, Platt and beta calibration.

The issue's criterion: with labels drawn from ``sigmoid(a * logit(p) + b)``, temperature and Platt
scaling recover the parameters within 5% at n = 20,000 and the calibrated ECE (15 equal-width
bins) on a fresh sample falls below 0.02. Scores are logit-normal, ``logit(p) ~ N(0, 2^2)``, so
no score comes near the 1e-6 clipping and scikit-learn can be fed ``logit(p)`` directly.

How much room 5% leaves (Fisher-information standard errors at n = 20,000, from the generating
parameters): Platt (0.5, -1.0) 2.0% / 1.8%, (0.7, 1.5) 1.7% / 1.5%, (1.5, -1.5) 1.5% / 1.8%;
temperature T = 2 1.9%, T = 0.5 1.5%. So 5% is 2.5 to 3.4 standard errors: enough for fixed
seeds, not a loose bound. Beta calibration's three parameters are much less precise (the best
triples have 4.5-6% relative standard errors at n = 20,000, and c far more when it is small), so
5% is tested at n = 300,000 and n = 20,000 is held to 4 standard errors instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from langchain_calibrate.calibrators import (
    BetaCalibration,
    PlattScaling,
    TemperatureScaling,
    make_calibrator,
)
from langchain_calibrate.metrics import expected_calibration_error
from langchain_calibrate.signals import Signals

N = 20_000
PLATT_CASES = [(0.5, -1.0), (0.7, 1.5), (1.5, -1.5)]
SEEDS = [0, 1]


def _scores(rng: np.random.Generator, n: int) -> np.ndarray:
    return expit(rng.normal(0.0, 2.0, n))


def _platt_data(seed: int, a: float, b: float, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = _scores(rng, n)
    y = (rng.random(n) < expit(a * logit(p) + b)).astype(int)
    return p, y


def _beta_logit(p: np.ndarray, abc: tuple[float, float, float]) -> np.ndarray:
    a, b, c = abc
    return a * np.log(p) - b * np.log1p(-p) + c


def _beta_data(
    seed: int, abc: tuple[float, float, float], n: int = N
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = _scores(rng, n)
    y = (rng.random(n) < expit(_beta_logit(p, abc))).astype(int)
    return p, y


def _beta_standard_errors(p: np.ndarray, abc: tuple[float, float, float]) -> np.ndarray:
    """Asymptotic standard errors of (a, b, c): inverse Fisher information at the truth."""
    design = np.column_stack([np.log(p), -np.log1p(-p), np.ones_like(p)])
    q = expit(design @ np.asarray(abc))
    info = (design * (q * (1.0 - q))[:, None]).T @ design
    return np.sqrt(np.diag(np.linalg.inv(info)))


def _unpenalized_lr(features: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(features, y)


# ----------------------------------------------------------------------------- Platt


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("a", "b"), PLATT_CASES)
def test_platt_recovers_parameters_and_calibrates(seed: int, a: float, b: float) -> None:
    p, y = _platt_data(seed, a, b)
    cal = PlattScaling().fit(p.reshape(-1, 1), y)
    assert cal.a_ == pytest.approx(a, rel=0.05)
    assert cal.b_ == pytest.approx(b, rel=0.05)

    p_new, y_new = _platt_data(seed + 1000, a, b)
    assert expected_calibration_error(y_new, p_new) > 0.05  # the raw score is miscalibrated
    assert expected_calibration_error(y_new, cal.predict(p_new.reshape(-1, 1))) < 0.02


@pytest.mark.parametrize(("a", "b"), PLATT_CASES)
def test_platt_equals_unpenalized_sklearn_logistic_regression(a: float, b: float) -> None:
    p, y = _platt_data(7, a, b)
    cal = PlattScaling().fit(p.reshape(-1, 1), y)
    ref = _unpenalized_lr(logit(p)[:, None], y)
    assert cal.a_ == pytest.approx(ref.coef_[0, 0], abs=1e-6)
    assert cal.b_ == pytest.approx(ref.intercept_[0], abs=1e-6)
    np.testing.assert_allclose(
        cal.predict(p.reshape(-1, 1)), ref.predict_proba(logit(p)[:, None])[:, 1], atol=1e-6
    )


# ----------------------------------------------------------------------------- temperature


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("a", [0.5, 2.0])
def test_temperature_recovers_inverse_slope_and_calibrates(seed: int, a: float) -> None:
    # Temperature scaling is sigmoid(logit(p) / T): it can express a = 1 / T but only b = 0.
    p, y = _platt_data(seed, a, 0.0)
    cal = TemperatureScaling().fit(p.reshape(-1, 1), y)
    assert cal.temperature_ == pytest.approx(1.0 / a, rel=0.05)

    p_new, y_new = _platt_data(seed + 1000, a, 0.0)
    assert expected_calibration_error(y_new, p_new) > 0.05
    assert expected_calibration_error(y_new, cal.predict(p_new.reshape(-1, 1))) < 0.02


def test_temperature_cannot_remove_a_bias_that_platt_removes() -> None:
    p, y = _platt_data(3, 0.5, -1.0)
    p_new, y_new = _platt_data(1003, 0.5, -1.0)
    ece = {
        method: expected_calibration_error(
            y_new, make_calibrator(method).fit(p.reshape(-1, 1), y).predict(p_new.reshape(-1, 1))
        )
        for method in ("temperature", "platt")
    }
    assert ece["platt"] < 0.02 < ece["temperature"]


def test_signals_mappings_and_arrays_fit_the_same() -> None:
    p, y = _platt_data(4, 0.5, -1.0, n=2000)
    from_array = PlattScaling().fit(p.reshape(-1, 1), y)
    from_signals = PlattScaling().fit([Signals(sequence_prob=float(v)) for v in p], y)
    from_dicts = PlattScaling().fit([{"sequence_prob": float(v)} for v in p], y)
    from_1d = PlattScaling().fit(p, y)
    for other in (from_signals, from_dicts, from_1d):
        assert (other.a_, other.b_) == (from_array.a_, from_array.b_)
    assert from_array.predict_one(Signals(sequence_prob=0.8)) == pytest.approx(
        expit(from_array.a_ * logit(0.8) + from_array.b_), abs=1e-15
    )


# ----------------------------------------------------------------------------- beta


BETA_CASES = [(2.0, 0.7, 0.5), (0.6, 1.5, -0.8), (1.0, 0.5, -1.0)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("abc", BETA_CASES)
def test_beta_recovers_parameters_within_four_standard_errors(
    seed: int, abc: tuple[float, float, float]
) -> None:
    p, y = _beta_data(seed, abc)
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    estimate = np.array([cal.a_, cal.b_, cal.c_])
    assert np.all(np.abs(estimate - abc) <= 4.0 * _beta_standard_errors(p, abc))
    # The fitted map itself is pinned down much better than its parameters.
    grid = np.quantile(p, np.linspace(0.01, 0.99, 99))
    true_map = expit(_beta_logit(grid, abc))
    assert np.max(np.abs(cal.predict(grid.reshape(-1, 1)) - true_map)) < 0.03


def test_beta_recovers_parameters_within_five_percent_at_300k() -> None:
    abc = (1.0, 0.5, -1.0)
    p, y = _beta_data(11, abc, n=300_000)
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    np.testing.assert_allclose([cal.a_, cal.b_, cal.c_], abc, rtol=0.05)


@pytest.mark.parametrize("abc", BETA_CASES)
def test_beta_equals_unpenalized_sklearn_on_log_features(abc: tuple[float, float, float]) -> None:
    p, y = _beta_data(5, abc)
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    ref = _unpenalized_lr(np.column_stack([np.log(p), -np.log1p(-p)]), y)
    assert (ref.coef_ > 0).all()  # no constraint is active, so this is the plain MLE
    np.testing.assert_allclose([cal.a_, cal.b_], ref.coef_[0], atol=1e-5)
    assert cal.c_ == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_beta_on_calibrated_scores_is_close_to_identity() -> None:
    rng = np.random.default_rng(6)
    p = _scores(rng, N)
    y = (rng.random(N) < p).astype(int)
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    identity = (1.0, 1.0, 0.0)
    estimate = np.array([cal.a_, cal.b_, cal.c_])
    assert np.all(np.abs(estimate - identity) <= 4.0 * _beta_standard_errors(p, identity))
    grid = np.linspace(0.02, 0.98, 49)
    assert np.max(np.abs(cal.predict(grid.reshape(-1, 1)) - grid)) < 0.03
    p_new = _scores(rng, N)
    y_new = (rng.random(N) < p_new).astype(int)
    assert expected_calibration_error(y_new, cal.predict(p_new.reshape(-1, 1))) < 0.02


def test_beta_negative_coefficient_is_dropped_and_refit_as_betacal_does() -> None:
    # True a = -0.5 < 0 is outside the family: the unconstrained fit has a < 0, so ln(p) is
    # dropped and the model refit on -ln(1 - p) alone (betacal's rule).
    abc = (-0.5, 2.0, 0.0)
    p, y = _beta_data(8, abc)
    features = np.column_stack([np.log(p), -np.log1p(-p)])
    assert _unpenalized_lr(features, y).coef_[0, 0] < 0
    ref = _unpenalized_lr(features[:, [1]], y)
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    assert cal.a_ == 0.0
    assert cal.b_ == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    assert cal.c_ == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert cal.b_ > 0


def test_beta_both_refits_negative_leaves_the_base_rate() -> None:
    # Correctness falls with the score through ln(p) only: refitting on -ln(1 - p) alone gives a
    # negative b too, and on ln(p) alone a negative a, so only the intercept can stay.
    abc = (-0.8, 0.0, 0.3)
    p, y = _beta_data(9, abc)
    features = np.column_stack([np.log(p), -np.log1p(-p)])
    assert _unpenalized_lr(features[:, [0]], y).coef_[0, 0] < 0
    assert _unpenalized_lr(features[:, [1]], y).coef_[0, 0] < 0
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    assert (cal.a_, cal.b_) == (0.0, 0.0)
    np.testing.assert_allclose(cal.predict(p.reshape(-1, 1)), y.mean(), atol=1e-9)


def test_beta_map_never_decreases_and_missing_score_is_pessimistic() -> None:
    p, y = _beta_data(10, (0.6, 1.5, -0.8), n=3000)
    p[:50] = np.nan
    cal = BetaCalibration().fit(p.reshape(-1, 1), y)
    grid = np.linspace(0.0, 1.0, 501).reshape(-1, 1)
    assert (np.diff(cal.predict(grid)) >= 0).all()
    assert cal.missing_value_ == pytest.approx(np.nanmin(p))
    observed = np.sort(p[~np.isnan(p)]).reshape(-1, 1)
    assert cal.predict_one({"sequence_prob": None}) == pytest.approx(cal.predict(observed).min())
