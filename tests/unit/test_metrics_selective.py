"""Risk-coverage curve, AURC, E-AURC and PRR: hand-worked cases and brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from langchain_calibrate.metrics import (
    aurc,
    excess_aurc,
    prediction_rejection_ratio,
    risk_coverage_curve,
)

# Six answers with two tie groups: 0.8 holds one right and one wrong, 0.6 the same.
TIED_Y = [1, 0, 1, 1, 0, 1]
TIED_S = [0.9, 0.8, 0.8, 0.6, 0.6, 0.2]


def _geifman(y_sorted: np.ndarray) -> float:
    """(1/n) sum_k errors(top k) / k for labels already in keep-first order (no ties)."""
    errors = 0
    total = 0.0
    for k, y in enumerate(y_sorted, start=1):
        errors += 1 - int(y)
        total += errors / k
    return total / len(y_sorted)


def _tie_averaged_aurc(y_true: list[int], y_score: list[float]) -> float:
    """Brute force: Geifman's AURC averaged over every order of the tied answers."""
    y, s = np.asarray(y_true), np.asarray(y_score)
    groups = [y[s == value] for value in sorted(set(s.tolist()), reverse=True)]
    orders = [set(itertools.permutations(g.tolist())) for g in groups]
    values = [
        _geifman(np.concatenate([np.array(p) for p in combo]))
        for combo in itertools.product(*orders)
    ]
    return float(np.mean(values))


# ----------------------------------------------------------------------------- risk-coverage


def test_risk_coverage_curve_hand_worked_with_ties() -> None:
    # Keep >= 0.9: 1 answer, 0 wrong. >= 0.8: 3 answers, 1 wrong. >= 0.6: 5, 2. >= 0.2: 6, 2.
    coverage, risk, thresholds = risk_coverage_curve(TIED_Y, TIED_S)
    np.testing.assert_allclose(coverage, [1 / 6, 3 / 6, 5 / 6, 1.0], atol=1e-12)
    np.testing.assert_allclose(risk, [0.0, 1 / 3, 2 / 5, 2 / 6], atol=1e-12)
    np.testing.assert_allclose(thresholds, [0.9, 0.8, 0.6, 0.2], atol=0)


def test_risk_coverage_curve_does_not_depend_on_input_order() -> None:
    order = [5, 3, 0, 4, 1, 2]
    shuffled = risk_coverage_curve(np.take(TIED_Y, order), np.take(TIED_S, order))
    for got, expected in zip(shuffled, risk_coverage_curve(TIED_Y, TIED_S), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_risk_coverage_curve_one_point_per_distinct_score() -> None:
    coverage, risk, thresholds = risk_coverage_curve([1, 0, 1, 0], [0.5] * 4)
    assert coverage.tolist() == [1.0]
    assert risk.tolist() == [0.5]
    assert thresholds.tolist() == [0.5]
    # Unbounded scores (e.g. log-probabilities) work too, highest kept first.
    coverage, risk, thresholds = risk_coverage_curve([0, 1], [-3.0, 7.5])
    assert thresholds.tolist() == [7.5, -3.0]
    assert risk.tolist() == [0.0, 0.5]


# ----------------------------------------------------------------------------- AURC


def test_aurc_hand_worked_without_ties() -> None:
    # Ranked labels 1, 0, 1, 0: risks 0/1, 1/2, 1/3, 2/4 -> mean = (0 + 1/2 + 1/3 + 1/2) / 4.
    assert aurc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(1 / 3, abs=1e-12)
    # Input order and score scale are irrelevant; only the ranking counts.
    assert aurc([0, 1, 0, 1], [-5.0, 0.0, 2.0, 9.0]) == pytest.approx(1 / 3, abs=1e-12)


def test_aurc_hand_worked_with_ties() -> None:
    # Spreading each tie group's errors evenly over its ranks: expected errors after each rank
    # 0, .5, 1, 1.5, 2, 2 -> risks 0, .25, 1/3, .375, .4, 1/3; their mean is 1.691667 / 6.
    expected = (0 + 0.25 + 1 / 3 + 0.375 + 0.4 + 1 / 3) / 6
    assert aurc(TIED_Y, TIED_S) == pytest.approx(expected, abs=1e-12)
    assert aurc(TIED_Y, TIED_S) == pytest.approx(_tie_averaged_aurc(TIED_Y, TIED_S), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_aurc_matches_brute_force_tie_average(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=9).tolist()
    s = rng.choice([0.1, 0.4, 0.7], size=9).tolist()  # three tie groups of about three
    assert aurc(y, s) == pytest.approx(_tie_averaged_aurc(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aurc_without_ties_is_geifmans_sum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = rng.random(500)
    y = (rng.random(500) < s).astype(int)
    assert aurc(y, s) == pytest.approx(_geifman(y[np.argsort(-s)]), abs=1e-12)


def test_constant_score_aurc_is_the_error_rate() -> None:
    # Every order of the answers is equally likely, so each rank's expected risk is the error rate.
    assert aurc([1, 0, 0, 1, 1], [0.3] * 5) == pytest.approx(2 / 5, abs=1e-12)


def test_excess_aurc_hand_worked() -> None:
    # 2 right, 2 wrong. Oracle ranks the errors last: risks 0, 0, 1/3, 2/4 -> 5/24.
    assert excess_aurc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(1 / 3 - 5 / 24)
    assert excess_aurc([1, 1, 0, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.0, abs=1e-12)
    # Reversed ranking: risks 1, 1, 2/3, 2/4 -> 19/24, minus the oracle's 5/24.
    assert excess_aurc([0, 0, 1, 1], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(14 / 24, abs=1e-12)


# ----------------------------------------------------------------------------- PRR


def test_prr_perfect_and_reversed_rankings() -> None:
    # Perfect: AURC = oracle -> 1. Reversed (errors first): (1/2 - 19/24) / (1/2 - 5/24) = -1.
    assert prediction_rejection_ratio([1, 1, 0, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(1.0)
    assert prediction_rejection_ratio([0, 0, 1, 1], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(-1.0)


def test_prr_hand_worked_four_points() -> None:
    # AURC 1/3, random 1/2, oracle 5/24 -> (1/2 - 1/3) / (1/2 - 5/24) = 4/7.
    got = prediction_rejection_ratio([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert got == pytest.approx(4 / 7, abs=1e-12)


def test_prr_hand_worked_five_points() -> None:
    # Ranked labels 1, 1, 0, 1, 0: risks 0, 0, 1/3, 1/4, 2/5 -> AURC = 59/300. Random = 2/5.
    # Oracle (3 right first): risks 0, 0, 0, 1/4, 2/5 -> 13/100. PRR = (120 - 59) / (120 - 39).
    got = prediction_rejection_ratio([1, 1, 0, 1, 0], [0.9, 0.7, 0.6, 0.5, 0.1])
    assert got == pytest.approx(61 / 81, abs=1e-12)


def test_prr_of_a_constant_score_is_zero() -> None:
    assert prediction_rejection_ratio([1, 0, 0, 1, 1], [0.3] * 5) == pytest.approx(0.0, abs=1e-12)


def test_prr_with_ties_hand_worked() -> None:
    # AURC from test_aurc_hand_worked_with_ties; 4 right, 2 wrong: random 1/3, oracle
    # risks 0, 0, 0, 0, 1/5, 2/6 -> (1/5 + 1/3) / 6.
    aurc_value = (0 + 0.25 + 1 / 3 + 0.375 + 0.4 + 1 / 3) / 6
    oracle = (1 / 5 + 1 / 3) / 6
    expected = (1 / 3 - aurc_value) / (1 / 3 - oracle)
    assert prediction_rejection_ratio(TIED_Y, TIED_S) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prr_matches_lm_polygraph_prediction_rejection_area(seed: int) -> None:
    # LM-Polygraph's PredictionRejectionArea: quality sorted by confidence (most confident
    # first), mean quality of the top k averaged over k; PRR normalises it between random
    # (the mean quality, which LM-Polygraph estimates with 1000 shuffles) and the oracle.
    rng = np.random.default_rng(seed)
    s = rng.random(300)
    y = (rng.random(300) < s).astype(float)

    def area(quality_in_order: np.ndarray) -> float:
        return float(np.mean(np.cumsum(quality_in_order) / np.arange(1, 301)))

    unc = area(y[np.argsort(-s)])
    oracle = area(np.sort(y)[::-1])
    random = float(y.mean())
    expected = (unc - random) / (oracle - random)
    assert prediction_rejection_ratio(y, s) == pytest.approx(expected, abs=1e-12)
