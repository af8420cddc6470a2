"""Metrics checked against scikit-learn and against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from langchain_calibrate.metrics import (
    auroc,
    brier_score,
    calibration_curve,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    y_prob = rng.beta(2.0, 1.2, size=3000)
    y_true = (rng.random(3000) < y_prob**1.5).astype(int)
    return y_true, y_prob


# ----------------------------------------------------------------------------- vs scikit-learn


def test_auroc_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_prob = data
    assert auroc(y_true, y_prob) == pytest.approx(roc_auc_score(y_true, y_prob), abs=1e-9)


def test_auroc_with_ties_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_prob = data
    tied = np.round(y_prob, 1)  # only 11 distinct values, so most pairs are ties
    assert auroc(y_true, tied) == pytest.approx(roc_auc_score(y_true, tied), abs=1e-9)
    # Unbounded scores (e.g. log-probabilities) are accepted too.
    logp = np.log(np.clip(tied, 0.05, 1.0))
    assert auroc(y_true, logp) == pytest.approx(roc_auc_score(y_true, logp), abs=1e-9)


def test_auroc_hand_worked() -> None:
    # Positives score 0.5, 0.5; negatives 0.5, 0.2: pairs (win, tie, win, tie) -> (1+.5+1+.5)/4.
    assert auroc([1, 1, 0, 0], [0.5, 0.5, 0.5, 0.2]) == pytest.approx(0.75, abs=1e-12)
    assert auroc([True, False], [0.1, 0.9]) == 0.0


def test_brier_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_prob = data
    assert brier_score(y_true, y_prob) == pytest.approx(brier_score_loss(y_true, y_prob), abs=1e-9)


def test_nll_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_prob = data
    p = np.clip(y_prob, 1e-6, 1 - 1e-6)  # keep away from sklearn's own clipping
    assert negative_log_likelihood(y_true, p) == pytest.approx(log_loss(y_true, p), abs=1e-9)


def test_nll_clips_confident_mistakes() -> None:
    assert negative_log_likelihood([1], [0.0], eps=1e-3) == pytest.approx(-np.log(1e-3))
    assert np.isfinite(negative_log_likelihood([0, 1], [1.0, 0.0]))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_calibration_curve_matches_sklearn(
    data: tuple[np.ndarray, np.ndarray], strategy: str, n_bins: int
) -> None:
    y_true, y_prob = data
    prob_true, prob_pred, counts = calibration_curve(
        y_true, y_prob, n_bins=n_bins, strategy=strategy
    )
    ref_true, ref_pred = sk_calibration_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(prob_true, ref_true, atol=1e-9, rtol=0)
    np.testing.assert_allclose(prob_pred, ref_pred, atol=1e-9, rtol=0)
    assert counts.sum() == len(y_true)
    assert (counts > 0).all()


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_and_mce_from_sklearn_curve(data: tuple[np.ndarray, np.ndarray], strategy: str) -> None:
    y_true, y_prob = data
    ref_true, ref_pred = sk_calibration_curve(y_true, y_prob, n_bins=15, strategy=strategy)
    # Recover bin sizes independently: mean confidence per bin = sum(p in bin) / count.
    if strategy == "uniform":
        edges = np.linspace(0, 1, 16)
    else:
        edges = np.percentile(y_prob, np.linspace(0, 100, 16))
    ids = np.digitize(y_prob, edges[1:-1], right=True)
    sizes = np.array([np.sum(ids == b) for b in np.unique(ids)])
    expected = np.sum(sizes * np.abs(ref_true - ref_pred)) / len(y_prob)
    got = expected_calibration_error(y_true, y_prob, n_bins=15, strategy=strategy)
    assert got == pytest.approx(expected, abs=1e-9)
    mce = maximum_calibration_error(y_true, y_prob, n_bins=15, strategy=strategy)
    assert mce == pytest.approx(np.max(np.abs(ref_true - ref_pred)), abs=1e-9)


# ----------------------------------------------------------------------------- hand-worked


def test_ece_hand_worked_uniform() -> None:
    # 2 bins. [0, .5]: p = .1, .2 (mean .15), labels 0, 1 (acc .5)  -> gap .35, weight 2/5.
    # (.5, 1]: p = .8, .9, .95 (mean .88333), labels 1, 1, 0 (acc .66667) -> gap .21667, weight 3/5.
    y_true = [0, 1, 1, 1, 0]
    y_prob = [0.1, 0.2, 0.8, 0.9, 0.95]
    assert expected_calibration_error(y_true, y_prob, n_bins=2) == pytest.approx(0.27, abs=1e-12)
    assert maximum_calibration_error(y_true, y_prob, n_bins=2) == pytest.approx(0.35, abs=1e-12)
    prob_true, prob_pred, counts = calibration_curve(y_true, y_prob, n_bins=2)
    assert counts.tolist() == [2, 3]
    np.testing.assert_allclose(prob_pred, [0.15, 2.65 / 3])
    np.testing.assert_allclose(prob_true, [0.5, 2 / 3])


def test_ece_hand_worked_quantile() -> None:
    # Quantile edges of (.1, .2, .3, .4) at 2 bins: .1, .25, .4 -> bins {.1, .2} and {.3, .4}.
    # Gaps: |0 - .15| and |1 - .35|, each weight 1/2 -> (.15 + .65) / 2 = .4.
    ece = expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], n_bins=2,
                                     strategy="quantile")
    assert ece == pytest.approx(0.4, abs=1e-12)


def test_ece_edges_and_empty_bins() -> None:
    # 1.0 lands in the last bin and 0.0 in the first; the 8 empty bins in between are dropped.
    prob_true, prob_pred, counts = calibration_curve([0, 1], [0.0, 1.0], n_bins=10)
    assert counts.tolist() == [1, 1]
    assert prob_pred.tolist() == [0.0, 1.0]
    assert prob_true.tolist() == [0.0, 1.0]
    assert expected_calibration_error([0, 1], [0.0, 1.0], n_bins=10) == 0.0
    # A constant forecast equal to the base rate is "perfectly calibrated" (ECE is not proper).
    assert expected_calibration_error([0, 1, 1, 0], [0.5] * 4) == 0.0
    # Everything 0.9 but only half correct: one bin, gap 0.4.
    assert expected_calibration_error([0, 1], [0.9, 0.9]) == pytest.approx(0.4)


def test_brier_hand_worked() -> None:
    assert brier_score([1, 0, 1], [0.8, 0.4, 1.0]) == pytest.approx((0.04 + 0.16 + 0.0) / 3)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("y_true", "y_prob", "match"),
    [
        ([0, 1], [0.5], "same length"),
        ([[0, 1]], [[0.5, 0.5]], "1-D"),
        ([], [], "empty"),
        ([0, 2], [0.5, 0.5], "only 0/1"),
        ([0, 0.5], [0.5, 0.5], "only 0/1"),
        ([0, 1], [0.5, 1.2], r"outside \[0, 1\]"),
        ([0, 1], [-0.1, 0.5], r"outside \[0, 1\]"),
        ([0, 1], [0.5, np.nan], "NaN"),
        ([0, np.nan], [0.5, 0.5], "NaN"),
        ([0, 1], ["a", "b"], "numeric"),
    ],
)
@pytest.mark.parametrize(
    "metric",
    [expected_calibration_error, maximum_calibration_error, brier_score, negative_log_likelihood,
     calibration_curve],
)
def test_validation_errors(metric, y_true, y_prob, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_prob)


@pytest.mark.parametrize(
    ("y_true", "y_score", "match"),
    [
        ([0, 1], [0.5], "same length"),
        ([0, 1], [0.5, np.inf], "inf"),
        ([0, 1], [np.nan, 0.5], "NaN"),
        ([0, 3], [0.5, 0.5], "only 0/1"),
    ],
)
def test_auroc_validation_errors(y_true, y_score, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        auroc(y_true, y_score)


@pytest.mark.parametrize(("labels", "which"), [([1, 1, 1], "correct"), ([0, 0], "incorrect")])
def test_auroc_single_class_is_a_clear_error(labels: list[int], which: str) -> None:
    with pytest.raises(ValueError, match=rf"only {which}.*both correct and incorrect"):
        auroc(labels, np.linspace(0.1, 0.9, len(labels)))


def test_auroc_accepts_unbounded_scores() -> None:
    assert auroc([0, 1], [-5.0, 3.0]) == 1.0


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, "15"])
def test_bad_n_bins(n_bins: object) -> None:
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0, 1], [0.2, 0.8], n_bins=n_bins)  # type: ignore[arg-type]


def test_bad_strategy() -> None:
    with pytest.raises(ValueError, match="strategy"):
        calibration_curve([0, 1], [0.2, 0.8], strategy="equal")  # type: ignore[arg-type]


@pytest.mark.parametrize("eps", [0.0, 0.5, -1e-3])
def test_bad_eps(eps: float) -> None:
    with pytest.raises(ValueError, match="eps"):
        negative_log_likelihood([0, 1], [0.2, 0.8], eps=eps)
