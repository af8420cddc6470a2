"""Property-based tests of the calibrators and metrics (the modules themselves are not edited here).

Calibrators: ``predict`` on any finite-or-missing signal values returns probabilities in
``[0, 1]``; ``fit`` on random valid data works, keeps monotone maps monotone, and on NaN/inf,
single-class, mismatched or empty input raises ``ValueError`` with a message naming the problem,
never a bare numpy warning or a silent number.

Metrics: on random valid input every metric is in its range and equals scikit-learn where
scikit-learn has the metric (or a brute-force reference written here where it does not);
invalid input raises ``ValueError``.

Run with ``--hypothesis-show-statistics`` to see how many examples each property tried.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from langchain_calibrate import metrics as M
from langchain_calibrate.calibrators import (
    BetaCalibration,
    IsotonicCalibrator,
    LogisticCalibrator,
    PlattScaling,
    SmallCalibrationSetWarning,
    TemperatureScaling,
    make_calibrator,
)
from langchain_calibrate.signals import FEATURE_NAMES, Signals

BASE = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SINGLE = (TemperatureScaling, PlattScaling, BetaCalibration, IsotonicCalibrator)
NON_DECREASING = ("temperature", "beta", "isotonic")
METHODS = ("temperature", "platt", "beta", "isotonic", "histogram", "logistic")


def quiet_fit(cal: Any, X: Any, y: Any) -> Any:
    """Fit, allowing only the documented small-sample warning; numpy warnings fail the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SmallCalibrationSetWarning)
        return cal.fit(X, y)


def _training_set(n: int = 400) -> tuple[list[Signals], np.ndarray]:
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.98, size=n)
    y = (rng.uniform(size=n) < p).astype(int)
    rows = [
        Signals(
            mean_logprob=math.log(v),
            min_logprob=math.log(v) - rng.uniform(0, 3),
            sequence_prob=float(v),
            mean_entropy=float(rng.uniform(0, 2)),
            mean_margin=float(rng.uniform(0, 1)),
            answer_length=float(rng.integers(1, 40)),
            max_relevance=float(rng.uniform(0.5, 1)),
            mean_relevance=float(rng.uniform(0.3, 0.9)),
            lexical_support=float(rng.uniform(0, 1)),
            semantic_support=None if i % 5 == 0 else float(rng.uniform(0, 1)),
            n_documents=float(i % 4),
        )
        for i, v in enumerate(p)
    ]
    return rows, y


ROWS, LABELS = _training_set()
FITTED = {
    method: quiet_fit(make_calibrator(method), ROWS, LABELS)
    for method in ("temperature", "platt", "beta", "isotonic", "histogram", "logistic")
}

# ----------------------------------------------------------------------------- calibrators

# Up to 1e12 in magnitude: far beyond any real signal. Values near the float limit break
# LogisticCalibrator (see the extreme-value tests below), so they are tested there, not here.
MOSTLY_MODEST = st.one_of(st.floats(-1e3, 1e3), st.floats(-1e12, 1e12))
PROB = st.floats(0.0, 1.0)
SIGNAL_ROW = st.fixed_dictionaries(
    {
        name: st.none() | (PROB if name == "sequence_prob" else MOSTLY_MODEST)
        for name in FEATURE_NAMES
    }
)


def check_probabilities(p: np.ndarray, n: int) -> None:
    assert p.shape == (n,)
    assert not np.isnan(p).any()
    assert ((p >= 0.0) & (p <= 1.0)).all()


@settings(BASE, max_examples=400)
@given(rows=st.lists(SIGNAL_ROW, min_size=1, max_size=8), method=st.sampled_from(METHODS))
def test_predict_on_any_finite_or_missing_values_is_a_probability(
    rows: list[dict[str, float | None]], method: str
) -> None:
    cal = FITTED[method]
    check_probabilities(cal.predict(rows), len(rows))
    signals = [Signals(**{k: v for k, v in r.items() if k in FEATURE_NAMES}) for r in rows]
    check_probabilities(cal.predict(signals), len(rows))
    assert 0.0 <= cal.predict_one(signals[0]) <= 1.0


@settings(
    BASE, max_examples=50, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False
)
@example(first="mean_margin", second="lexical_support", big=1e308)
@given(
    first=st.sampled_from(FEATURE_NAMES),
    second=st.sampled_from(FEATURE_NAMES),
    big=st.floats(1e300, 1e308),
)
def test_logistic_predict_on_extreme_finite_values_is_a_quiet_probability(
    first: str, second: str, big: float
) -> None:
    # Minimal reproducer: fit FITTED["logistic"] as above, then
    # predict([{..., "mean_margin": 1e308, "lexical_support": -1e308}]) -> array([nan]).
    row: dict[str, float | None] = {name: None for name in FEATURE_NAMES}
    row[first], row[second] = big, -big
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        check_probabilities(FITTED["logistic"].predict([row]), 1)  # fails first: NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        FITTED["logistic"].predict([row])


@settings(BASE, max_examples=100)
@given(score=st.floats(allow_nan=False).filter(lambda v: not 0.0 <= v <= 1.0))
def test_single_score_calibrators_reject_a_non_probability_clearly(score: float) -> None:
    for method in ("temperature", "platt", "beta", "isotonic", "histogram"):
        with pytest.raises(ValueError, match=r"probability in \[0, 1\]|contains inf"):
            FITTED[method].predict([[score]])


def labelled(min_each: int = 2, max_size: int = 60) -> st.SearchStrategy[tuple[list, list]]:
    """(scores, labels) with at least ``min_each`` of each class among present scores."""

    @st.composite
    def draw(draw: st.DrawFn) -> tuple[list[float | None], list[int]]:
        n = draw(st.integers(2 * min_each, max_size))
        scores = draw(st.lists(st.none() | PROB, min_size=n, max_size=n))
        labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
        present = [y for s, y in zip(scores, labels, strict=True) if s is not None]
        assume(min(sum(present), len(present) - sum(present)) >= min_each)
        return scores, labels

    return draw()


@settings(BASE, max_examples=150)
@given(data=labelled(), method=st.sampled_from(METHODS))
def test_fit_on_random_valid_data(data: tuple[list, list], method: str) -> None:
    scores, labels = data
    rows = [{name: None for name in FEATURE_NAMES} | {"sequence_prob": s} for s in scores]
    cal = quiet_fit(make_calibrator(method), rows, labels)
    grid = np.linspace(0.0, 1.0, 21)
    probe = [{name: None for name in FEATURE_NAMES} | {"sequence_prob": g} for g in grid]
    p = cal.predict(probe)
    check_probabilities(p, grid.size)
    steps = np.diff(p)
    if method in NON_DECREASING:
        assert (steps >= -1e-12).all(), f"{method} must never decrease in the score"
    elif method == "platt":  # sigmoid(a logit(s) + b): monotone, either direction (sign of a)
        assert (steps >= -1e-12).all() or (steps <= 1e-12).all()
    # Missing evidence never scores higher than the worst observed score.
    missing = cal.predict([{name: None for name in FEATURE_NAMES}])[0]
    observed = cal.predict([r for r in rows if r["sequence_prob"] is not None])
    assert missing <= observed.max() + 1e-12


def corrupt_fit_inputs() -> st.SearchStrategy[tuple[str, Any, Any, str]]:
    """(what, X, y, expected message pattern) for one kind of bad training input."""

    @st.composite
    def draw(draw: st.DrawFn) -> tuple[str, Any, Any, str]:
        n = draw(st.integers(4, 30))
        x = np.array(draw(st.lists(PROB, min_size=n, max_size=n)))
        y = np.array([0, 1] * (n // 2) + [0] * (n % 2))
        kind = draw(
            st.sampled_from(["inf", "nan_label", "bad_label", "one_class", "length", "empty"])
        )
        i = draw(st.integers(0, n - 1))
        if kind == "inf":
            x[i] = draw(st.sampled_from([np.inf, -np.inf]))
            return kind, x.reshape(-1, 1), y, "inf"
        if kind == "nan_label":
            return kind, x.reshape(-1, 1), np.where(np.arange(n) == i, np.nan, y), "0/1"
        if kind == "bad_label":
            bad = draw(st.sampled_from([2, -1, 0.5, 7]))
            return kind, x.reshape(-1, 1), np.where(np.arange(n) == i, bad, y), "0/1"
        if kind == "one_class":
            keep = draw(st.integers(0, 1))  # at most one example of the other class
            y1 = np.full(n, 1 - keep)
            y1[i] = keep
            return kind, x.reshape(-1, 1), y1, "at least 2 of each"
        if kind == "length":
            extra = draw(st.integers(1, 3))
            y2 = np.r_[y, [0, 1, 0][:extra]] if draw(st.booleans()) else y[:-extra]
            return kind, x.reshape(-1, 1), y2, "label per row"
        return kind, np.empty((0, 1)), np.array([]), "empty"

    return draw()


@settings(BASE, max_examples=300)
@given(case=corrupt_fit_inputs(), method=st.sampled_from(METHODS))
def test_fit_on_bad_input_is_a_clear_value_error(
    case: tuple[str, Any, Any, str], method: str
) -> None:
    _, X, y, pattern = case
    cal = make_calibrator(
        method, **({"features": ["sequence_prob"]} if method == "logistic" else {})
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=pattern):
            cal.fit(X, y)


@settings(
    BASE, max_examples=50, phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False
)
@example(big=1e200)
@example(big=1e308)
@given(big=st.floats(1e155, 1e308))
def test_logistic_fit_on_huge_finite_values_is_clear(big: float) -> None:
    # Minimal reproducer: LogisticCalibrator(features=["sequence_prob", "answer_length"]).fit(
    #     [[0.2, 0], [0.8, 1e200], [0.3, 0], [0.9, 1e200], [0.25, 0], [0.7, 1e200]],
    #     [0, 1, 0, 1, 0, 1]) -> scale_ == (0.28..., inf), coef_ == (1.27..., 0.0).
    X = [[0.2, 0.0], [0.8, big], [0.3, 0.0], [0.9, big], [0.25, 0.0], [0.7, big]]
    y = [0, 1, 0, 1, 0, 1]
    cal = LogisticCalibrator(features=["sequence_prob", "answer_length"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            cal.fit(X, y)
        except ValueError as exc:
            assert "NaN" not in str(exc), "no NaN was passed; the message misleads"
            return
    # If it fits, the feature (which separates the classes) must not be silently zeroed out.
    assert 0 < cal.scale_[1] < math.inf
    assert cal.coef_[1] > 0


# ----------------------------------------------------------------------------- metrics


@st.composite
def binary_scores(
    draw: st.DrawFn, *, both: bool = True, unique: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 80))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=float)
    if both:
        assume(0 < y.sum() < n)
    values = st.one_of(PROB, st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
    if unique:
        values = PROB
    p = np.array(draw(st.lists(values, min_size=n, max_size=n, unique=unique)))
    return y, p


def reference_bins(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: the number of interior edges strictly below it (right-closed bins)."""
    return np.array([sum(v > e for e in edges[1:-1]) for v in p])


@settings(BASE, max_examples=250)
@given(data=binary_scores(), n_bins=st.integers(1, 20))
def test_scores_equal_scikit_learn(data: tuple[np.ndarray, np.ndarray], n_bins: int) -> None:
    y, p = data
    assert M.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert M.auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert M.auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    clipped = np.clip(p, 1e-6, 1 - 1e-6)  # away from both libraries' clipping constants
    assert M.negative_log_likelihood(y, clipped) == pytest.approx(log_loss(y, clipped), rel=1e-9)
    ours_true, ours_pred, counts = M.calibration_curve(y, p, n_bins=n_bins)
    sk_true, sk_pred = sk_calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    np.testing.assert_allclose(ours_true, sk_true, atol=1e-12)
    np.testing.assert_allclose(ours_pred, sk_pred, atol=1e-12)
    assert counts.sum() == y.size


@settings(BASE, max_examples=200)
@given(data=binary_scores(), n_bins=st.integers(1, 20))
def test_quantile_calibration_curve_equals_scikit_learn(
    data: tuple[np.ndarray, np.ndarray], n_bins: int
) -> None:
    y, p = data
    # scikit-learn takes the percentiles at linspace(0, 1) * 100, this module at
    # linspace(0, 100); the two q differ by an ulp now and then, which moves an edge sitting on a
    # tied value by an ulp and that value into the next bin (see the hand-worked case below).
    # Compare where both compute the same edges.
    ours_q = np.linspace(0.0, 100.0, n_bins + 1)
    sk_q = np.linspace(0, 1, n_bins + 1) * 100
    assume(np.array_equal(np.percentile(p, ours_q), np.percentile(p, sk_q)))
    ours_true, ours_pred, _ = M.calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    sk_true, sk_pred = sk_calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    np.testing.assert_allclose(ours_true, sk_true, atol=1e-12)
    np.testing.assert_allclose(ours_pred, sk_pred, atol=1e-12)


def test_quantile_edge_on_a_tied_value_by_hand() -> None:
    # Sorted scores: six 0.0, one 0.5, three 1.0. With linear interpolation the 2/3 quantile is at
    # position 9 * 2/3 = 6, i.e. exactly 0.5; the 1/3 quantile is at 3, i.e. 0.0. Right-closed
    # bins (-, 0], (0, 0.5], (0.5, 1] hold 6, 1 and 3 scores. (scikit-learn 1.9 computes the edge
    # one ulp below 0.5 and puts the 0.5 with the 1.0s, giving two bins.)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0])
    p = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0.5])
    prob_true, prob_pred, counts = M.calibration_curve(y, p, n_bins=3, strategy="quantile")
    assert counts.tolist() == [6, 1, 3]
    assert prob_true.tolist() == [0.0, 1.0, 0.0]
    assert prob_pred.tolist() == [0.0, 0.5, 1.0]


@settings(BASE, max_examples=250)
@given(data=binary_scores(both=False), n_bins=st.integers(1, 20))
def test_binned_errors_equal_a_brute_force_reference(
    data: tuple[np.ndarray, np.ndarray], n_bins: int
) -> None:
    y, p = data
    bins = reference_bins(p, np.linspace(0.0, 1.0, n_bins + 1))
    gaps = [
        (np.sum(bins == b), abs(np.mean(y[bins == b]) - np.mean(p[bins == b])))
        for b in range(n_bins)
        if np.any(bins == b)
    ]
    ece = sum(c * g for c, g in gaps) / y.size
    assert M.expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(ece, abs=1e-12)
    assert M.maximum_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
        max(g for _, g in gaps), abs=1e-12
    )


@settings(BASE, max_examples=200)
@given(data=binary_scores(both=False))
def test_all_metrics_in_their_ranges(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = data
    residual = y - p
    for value in (
        M.expected_calibration_error(y, p),
        M.expected_calibration_error(y, p, strategy="quantile"),
        M.maximum_calibration_error(y, p),
        M.brier_score(y, p),
        M.aurc(y, p),
    ):
        assert 0.0 <= value <= 1.0
    smooth = M.smooth_ece(y, p)
    assert abs(residual.mean()) - 1e-6 <= smooth <= np.abs(residual).mean() + 1e-6
    assert 0.0 <= M.negative_log_likelihood(y, p) <= -math.log(1e-15) + 1e-9
    assert M.excess_aurc(y, p) >= -1e-12
    if 0 < y.sum() < y.size:
        assert 0.0 <= M.auroc(y, p) <= 1.0
        assert 0.0 <= M.auprc(y, p) <= 1.0
        assert M.prediction_rejection_ratio(y, p) <= 1.0 + 1e-12
    coverage, risk, thresholds = M.risk_coverage_curve(y, p)
    assert coverage[-1] == 1.0 and (np.diff(coverage) > 0).all()
    assert ((risk >= 0) & (risk <= 1)).all() and (np.diff(thresholds) < 0).all()


@settings(BASE, max_examples=300)
@given(data=binary_scores(both=False, unique=True))
def test_aurc_equals_geifman_sum_without_ties(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = data
    order = np.argsort(-p)
    errors = np.cumsum(1 - y[order])
    reference = float(np.mean(errors / np.arange(1, y.size + 1)))
    assert M.aurc(y, p) == pytest.approx(reference, abs=1e-12)
    n_wrong = int((1 - y).sum())
    oracle = np.mean([max(0, k - (y.size - n_wrong)) / k for k in range(1, y.size + 1)])
    assert M.excess_aurc(y, p) == pytest.approx(reference - oracle, abs=1e-12)


@settings(BASE, max_examples=200)
@given(data=binary_scores(), seed=st.integers(0, 2**32 - 1))
def test_ranking_metrics_ignore_input_order(data: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    y, p = data
    perm = np.random.default_rng(seed).permutation(y.size)
    for metric in (M.auroc, M.auprc, M.aurc, M.excess_aurc, M.prediction_rejection_ratio):
        assert metric(y[perm], p[perm]) == pytest.approx(metric(y, p), abs=1e-12)


@settings(BASE, max_examples=40)
@given(data=binary_scores())
def test_calibration_summary_estimates_match_the_metrics(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    y, p = data
    summary = M.calibration_summary(y, p, n_resamples=30, seed=1)
    assert summary["brier"].estimate == pytest.approx(M.brier_score(y, p))
    assert summary["auroc"].estimate == pytest.approx(M.auroc(y, p))
    for interval in summary.values():
        if interval.low is not None and interval.high is not None:
            assert interval.low <= interval.high


BINARY_METRICS: list[Callable[..., Any]] = [
    M.calibration_curve,
    M.expected_calibration_error,
    M.maximum_calibration_error,
    M.smooth_ece,
    M.brier_score,
    M.negative_log_likelihood,
]
RANKING_METRICS: list[Callable[..., Any]] = [
    M.auroc,
    M.auprc,
    M.risk_coverage_curve,
    M.aurc,
    M.excess_aurc,
    M.prediction_rejection_ratio,
]


@st.composite
def corrupt_metric_inputs(draw: st.DrawFn) -> tuple[str, Any, Any]:
    y, p = draw(binary_scores())
    kind = draw(
        st.sampled_from(
            ["nan_y", "nan_p", "inf_p", "length", "empty", "label", "range", "2d", "strings"]
        )
    )
    i = draw(st.integers(0, y.size - 1))
    if kind == "nan_y":
        y[i] = np.nan
    elif kind == "nan_p":
        p[i] = np.nan
    elif kind == "inf_p":
        p[i] = draw(st.sampled_from([np.inf, -np.inf]))
    elif kind == "length":
        p = p[:-1]
    elif kind == "empty":
        y, p = np.array([]), np.array([])
    elif kind == "label":
        y[i] = draw(st.sampled_from([2.0, -1.0, 0.5]))
    elif kind == "range":
        p[i] = draw(st.sampled_from([1.5, -0.1, 1e9]))
    elif kind == "2d":
        y, p = y.reshape(-1, 1), p.reshape(-1, 1)
    else:
        return kind, y.tolist(), ["x"] * y.size
    return kind, y, p


@settings(BASE, max_examples=400)
@given(case=corrupt_metric_inputs(), metric=st.sampled_from(BINARY_METRICS + RANKING_METRICS))
def test_metrics_reject_invalid_input(case: tuple[str, Any, Any], metric: Callable) -> None:
    kind, y, p = case
    if kind == "range" and metric in RANKING_METRICS:
        return  # ranking metrics take any finite score; out of [0, 1] is valid for them
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError):
            metric(y, p)


@settings(BASE, max_examples=100)
@given(
    n_bins=st.sampled_from([0, -3, 1.5, True, "10", None]),
    strategy=st.sampled_from(["uniform", "quantile", "median", ""]),
)
def test_bad_binning_arguments_are_value_errors(n_bins: Any, strategy: str) -> None:
    assume(not (isinstance(n_bins, int) and not isinstance(n_bins, bool) and n_bins >= 1))
    with pytest.raises(ValueError, match=r"n_bins|strategy"):
        M.expected_calibration_error([0, 1], [0.2, 0.8], n_bins=n_bins, strategy=strategy)
