"""Metrics checked against scikit-learn and against hand-worked examples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from langchain_calibrate.metrics import (
    auprc,
    aurc,
    auroc,
    bootstrap_interval,
    brier_score,
    calibration_curve,
    calibration_summary,
    excess_aurc,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    prediction_rejection_ratio,
    risk_coverage_curve,
    smooth_ece,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1234)
    y_prob = rng.beta(2.0, 1.2, size=3000)
    y_true = (rng.random(3000) < y_prob**1.5).astype(int)
    return y_true, y_prob


@pytest.fixture(params=[(seed, decimals) for seed in (0, 1, 2) for decimals in (None, 2, 1)])
def generated(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    """Several seeds; confidences either continuous or rounded (so many of them tie)."""
    seed, decimals = request.param
    rng = np.random.default_rng(seed)
    y_prob = rng.beta(3.0, 1.3, size=1500)
    y_true = (rng.random(1500) < y_prob**1.4).astype(int)
    if decimals is not None:
        y_prob = np.round(y_prob, decimals)
    return y_true, y_prob


# ----------------------------------------------------------------------------- vs scikit-learn


def test_ranking_and_scores_match_sklearn_over_seeds_and_ties(
    generated: tuple[np.ndarray, np.ndarray],
) -> None:
    y_true, y_prob = generated
    assert auroc(y_true, y_prob) == pytest.approx(roc_auc_score(y_true, y_prob), abs=1e-9)
    assert auprc(y_true, y_prob) == pytest.approx(average_precision_score(y_true, y_prob), abs=1e-9)
    assert brier_score(y_true, y_prob) == pytest.approx(brier_score_loss(y_true, y_prob), abs=1e-9)
    p = np.clip(y_prob, 1e-6, 1 - 1e-6)  # rounding produced exact 0s and 1s; clip like sklearn
    assert negative_log_likelihood(y_true, p) == pytest.approx(log_loss(y_true, p), abs=1e-9)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [5, 15])
def test_calibration_curve_matches_sklearn_over_seeds_and_ties(
    generated: tuple[np.ndarray, np.ndarray], strategy: str, n_bins: int
) -> None:
    y_true, y_prob = generated
    prob_true, prob_pred, counts = calibration_curve(
        y_true, y_prob, n_bins=n_bins, strategy=strategy
    )
    ref_true, ref_pred = sk_calibration_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(prob_true, ref_true, atol=1e-9, rtol=0)
    np.testing.assert_allclose(prob_pred, ref_pred, atol=1e-9, rtol=0)
    assert counts.sum() == len(y_true)


def test_auprc_is_stepwise_not_trapezoid() -> None:
    # Ranked: 1, 0, 1, 0 -> precision at each recall step: 1/1, then 2/3 -> AP = (1 + 2/3) / 2.
    assert auprc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6, abs=1e-12)
    # Ties form one threshold: {0.8: 1 correct, 1 wrong} -> AP = 1/2 * 1 + 1/2 * 2/3.
    assert auprc([1, 1, 0], [0.9, 0.8, 0.8]) == pytest.approx(5 / 6, abs=1e-12)
    assert auprc([1, 1, 0], [0.9, 0.8, 0.8]) == pytest.approx(
        average_precision_score([1, 1, 0], [0.9, 0.8, 0.8]), abs=1e-12
    )


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
    ece = expected_calibration_error(
        [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], n_bins=2, strategy="quantile"
    )
    assert ece == pytest.approx(0.4, abs=1e-12)


def test_quantile_bins_with_many_ties_hand_worked() -> None:
    # Six answers tie at 0.9. Percentile edges (linear, positions q * 7 of the sorted values):
    # 25% -> 0.4 + 0.75 * (0.9 - 0.4) = 0.775, 50% and 75% -> 0.9, so edges are
    # [0.2, 0.775, 0.9, 0.9, 0.9]: bins {0.2, 0.4} and {0.9 x 6}, the duplicate edges give empty
    # bins that are dropped. Gaps: |0.5 - 0.3| (weight 2/8) and |4/6 - 0.9| (weight 6/8).
    y_true = [0, 1, 1, 1, 1, 1, 0, 0]
    y_prob = [0.2, 0.4] + [0.9] * 6
    prob_true, prob_pred, counts = calibration_curve(y_true, y_prob, n_bins=4, strategy="quantile")
    assert counts.tolist() == [2, 6]
    np.testing.assert_allclose(prob_true, [0.5, 4 / 6], atol=1e-12)
    np.testing.assert_allclose(prob_pred, [0.3, 0.9], atol=1e-12)
    ece = expected_calibration_error(y_true, y_prob, n_bins=4, strategy="quantile")
    assert ece == pytest.approx((2 * 0.2 + 6 * (0.9 - 4 / 6)) / 8, abs=1e-12)
    # The tie at the bottom: edges [0.1, 0.1, 0.1, 0.2, 0.9] -> bins {0.1 x 6} and {0.5, 0.9}.
    _, prob_pred, counts = calibration_curve(
        [0] * 8, [0.1] * 6 + [0.5, 0.9], n_bins=4, strategy="quantile"
    )
    assert counts.tolist() == [6, 2]
    np.testing.assert_allclose(prob_pred, [0.1, 0.7], atol=1e-12)
    # Everything tied: one bin whatever n_bins is.
    assert calibration_curve([0, 1, 1], [0.7] * 3, n_bins=15, strategy="quantile")[2].tolist() == [
        3
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantile_bins_with_a_tie_mass_at_one_match_sklearn(seed: int) -> None:
    # LLM confidences pile up at exactly 1.0: 60% of them here, so most quantile edges are 1.0
    # and the empty bins between equal edges are dropped.
    rng = np.random.default_rng(seed)
    y_prob = np.where(rng.random(2000) < 0.6, 1.0, np.round(rng.random(2000), 2))
    y_true = (rng.random(2000) < 0.8 * y_prob).astype(int)
    for n_bins in (4, 10, 15, 40):
        prob_true, prob_pred, counts = calibration_curve(
            y_true, y_prob, n_bins=n_bins, strategy="quantile"
        )
        ref_true, ref_pred = sk_calibration_curve(
            y_true, y_prob, n_bins=n_bins, strategy="quantile"
        )
        np.testing.assert_allclose(prob_true, ref_true, atol=1e-9, rtol=0)
        np.testing.assert_allclose(prob_pred, ref_pred, atol=1e-9, rtol=0)
        assert counts.sum() == 2000
        assert (counts > 0).all()
        assert len(counts) < n_bins  # duplicate edges collapse bins instead of splitting ties
        # As in sklearn, the bin closing at 1.0 holds every 1.0 and the values above the last
        # edge below 1.0 (edges are the percentiles at k / n_bins).
        edges = np.percentile(y_prob, np.linspace(0, 100, n_bins + 1))
        below_one = edges[edges < 1.0].max()
        assert counts[-1] == np.sum(y_prob > below_one)
        assert np.sum(y_prob == 1.0) <= counts[-1]


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
        ([0, 1], [0.5, np.inf], "inf"),
        ([0, 1], [-np.inf, 0.5], "inf"),
        ([0, np.inf], [0.5, 0.5], "y_true contains inf"),
        ([0, 1], ["a", "b"], "numeric"),
    ],
)
@pytest.mark.parametrize(
    "metric",
    [
        expected_calibration_error,
        maximum_calibration_error,
        brier_score,
        negative_log_likelihood,
        calibration_curve,
        smooth_ece,
        calibration_summary,
    ],
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
        ([[0, 1]], [[0.5, 0.5]], "1-D"),
        ([], [], "empty"),
        ([0, 1], [None, 0.5], "numeric|NaN"),
    ],
)
@pytest.mark.parametrize(
    "metric",
    [auroc, auprc, aurc, excess_aurc, prediction_rejection_ratio, risk_coverage_curve],
)
def test_score_metric_validation_errors(
    metric: Callable[..., object], y_true: object, y_score: object, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_score)


@pytest.mark.parametrize(("labels", "which"), [([1, 1, 1], "correct"), ([0, 0], "incorrect")])
@pytest.mark.parametrize(
    ("metric", "name"), [(auroc, "AUROC"), (auprc, "AUPRC"), (prediction_rejection_ratio, "PRR")]
)
def test_single_class_is_a_clear_error(
    metric: Callable[..., float], name: str, labels: list[int], which: str
) -> None:
    with pytest.raises(ValueError, match=rf"{name} is undefined: .*only {which}.*both correct"):
        metric(labels, np.linspace(0.1, 0.9, len(labels)))


def test_selective_metrics_are_defined_with_one_class() -> None:
    # All correct: no risk at any coverage. All wrong: risk 1 everywhere, and so is the oracle's.
    assert aurc([1, 1, 1], [0.2, 0.5, 0.9]) == 0.0
    assert aurc([0, 0, 0], [0.2, 0.5, 0.9]) == 1.0
    assert excess_aurc([1, 1, 1], [0.2, 0.5, 0.9]) == 0.0
    assert excess_aurc([0, 0, 0], [0.2, 0.5, 0.9]) == pytest.approx(0.0, abs=1e-12)
    assert risk_coverage_curve([1, 1], [0.3, 0.6])[1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("bandwidth", [0.0, 1e-4, -0.1, np.nan, np.inf, True, "0.1"])
def test_bad_bandwidth(bandwidth: object) -> None:
    with pytest.raises(ValueError, match="bandwidth"):
        smooth_ece([0, 1], [0.2, 0.8], bandwidth=bandwidth)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_resamples": -1}, "n_resamples"),
        ({"n_resamples": 10.5}, "n_resamples"),
        ({"n_resamples": True}, "n_resamples"),
        ({"level": 1.0}, "level"),
        ({"level": 0}, "level"),
        ({"level": 95}, "level"),
        ({"method": "bca"}, "method"),
    ],
)
def test_bad_bootstrap_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_interval(brier_score, [0, 1], [0.2, 0.8], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        calibration_summary([0, 1], [0.2, 0.8], **kwargs)  # type: ignore[arg-type]


def test_bootstrap_reports_the_metrics_own_validation_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        bootstrap_interval(expected_calibration_error, [0, 1], [0.2, 1.8])
    with pytest.raises(ValueError, match="AUROC is undefined"):
        bootstrap_interval(auroc, [1, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="n_bins"):
        calibration_summary([0, 1], [0.2, 0.8], n_bins=0)


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
