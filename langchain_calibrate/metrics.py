"""Calibration, ranking and selective-prediction metrics for binary correctness scores.

Every function takes plain array-likes, ``y_true`` in {0, 1} (1 = the answer was correct) and
``y_prob`` in [0, 1] (or, for the ranking metrics, any finite ``y_score``; higher = more
confident), and returns Python floats (curves return NumPy arrays). Names follow scikit-learn
(``y_true``, ``y_prob``, ``n_bins``, ``strategy``).

- Calibration: :func:`calibration_curve`, :func:`expected_calibration_error`,
  :func:`maximum_calibration_error`, :func:`smooth_ece`, :func:`brier_score`,
  :func:`negative_log_likelihood`.
- Ranking: :func:`auroc`, :func:`auprc` (correct answers are the positive class).
- Selective prediction: :func:`risk_coverage_curve`, :func:`aurc`, :func:`excess_aurc`,
  :func:`prediction_rejection_ratio`.
- Uncertainty: :func:`bootstrap_interval` and :func:`calibration_summary`.

Binning follows :func:`sklearn.calibration.calibration_curve`: bins are closed on the right, the
first bin also holds 0.0, the last holds 1.0, and empty bins are dropped. Tied scores are always
treated as one group: they share a bin, a threshold keeps all of them or none, and ranking
metrics count a tie as half a win.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import dct
from scipy.stats import rankdata

__all__ = [
    "SUMMARY_KEYS",
    "MetricInterval",
    "auprc",
    "aurc",
    "auroc",
    "bootstrap_interval",
    "brier_score",
    "calibration_curve",
    "calibration_summary",
    "excess_aurc",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "prediction_rejection_ratio",
    "risk_coverage_curve",
    "smooth_ece",
]

Strategy = Literal["uniform", "quantile"]
BootstrapMethod = Literal["basic", "percentile"]

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]

_GRID = 2049  # smooth_ece grid nodes on [0, 1] (spacing 1/2048)
_MIN_BANDWIDTH = 1e-3  # relplot's floor; the cosine series below is exact to ~1e-9 down to here
_TOLERANCE = 1e-10  # on the bandwidth fixed point s = smECE_s
_MAX_ITERATIONS = 60
_CHUNK = 1_000_000  # bootstrap indices drawn per block (rows * n), to bound memory


# ----------------------------------------------------------------------------- validation


def _as_1d(values: ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be numeric; could not convert it to floats ({exc}). Pass numbers only."
        raise ValueError(msg) from exc
    if arr.ndim != 1:
        msg = f"{name} must be 1-D, got shape {arr.shape}. Flatten it or pass one score per answer."
        raise ValueError(msg)
    if arr.size == 0:
        msg = f"{name} is empty; metrics need at least one labelled answer."
        raise ValueError(msg)
    if np.isnan(arr).any():
        msg = f"{name} contains NaN; drop or impute the missing entries before scoring."
        raise ValueError(msg)
    if np.isinf(arr).any():
        msg = f"{name} contains inf; pass finite values (drop or clip the infinite entries)."
        raise ValueError(msg)
    return arr


def _validate_binary(
    y_true: ArrayLike, y_prob: ArrayLike, *, prob_name: str = "y_prob", probabilities: bool = True
) -> tuple[FloatArray, FloatArray]:
    """Validate labels and scores; shared by every metric."""
    yt = _as_1d(y_true, "y_true")
    yp = _as_1d(y_prob, prob_name)
    if yt.shape != yp.shape:
        msg = (
            f"y_true and {prob_name} must have the same length, got {yt.size} and {yp.size}. "
            "Pass one label per score."
        )
        raise ValueError(msg)
    bad = np.setdiff1d(np.unique(yt), [0.0, 1.0])
    if bad.size:
        msg = (
            f"y_true must contain only 0/1 (or booleans), found {bad[:5].tolist()}. "
            "Encode correct answers as 1 and incorrect ones as 0."
        )
        raise ValueError(msg)
    if probabilities and ((yp < 0.0) | (yp > 1.0)).any():
        msg = (
            f"{prob_name} has values outside [0, 1] (min {yp.min():g}, max {yp.max():g}). "
            "Pass probabilities, e.g. the output of a calibrator."
        )
        raise ValueError(msg)
    return yt, yp


def _validate_scores(y_true: ArrayLike, y_score: ArrayLike) -> tuple[FloatArray, FloatArray]:
    return _validate_binary(y_true, y_score, prob_name="y_score", probabilities=False)


def _require_both_classes(yt: FloatArray, metric: str) -> None:
    n_pos = int(yt.sum())
    n_neg = yt.size - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "correct (1)" if n_neg == 0 else "incorrect (0)"
        msg = (
            f"{metric} is undefined: y_true contains only {only} answers ({yt.size} samples). "
            "Evaluate on a set with both correct and incorrect answers."
        )
        raise ValueError(msg)


def _validate_bins(n_bins: int, strategy: str) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 1:
        msg = f"n_bins must be a positive integer, got {n_bins!r}. 15 is the usual choice."
        raise ValueError(msg)
    if strategy not in ("uniform", "quantile"):
        msg = f"strategy must be 'uniform' or 'quantile', got {strategy!r}."
        raise ValueError(msg)


def _validate_bandwidth(bandwidth: float | None) -> None:
    if bandwidth is None:
        return
    ok = isinstance(bandwidth, Real) and not isinstance(bandwidth, bool)
    if not ok or not math.isfinite(float(bandwidth)) or float(bandwidth) < _MIN_BANDWIDTH:
        msg = (
            f"bandwidth must be a finite number >= {_MIN_BANDWIDTH:g}, got {bandwidth!r}. "
            "Pass None to choose it automatically (the smooth-ECE fixed point)."
        )
        raise ValueError(msg)


def _validate_bootstrap(n_resamples: int, level: float, method: str) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, Integral) or n_resamples < 0:
        msg = f"n_resamples must be an integer >= 0 (0 = no interval), got {n_resamples!r}."
        raise ValueError(msg)
    if isinstance(level, bool) or not isinstance(level, Real) or not 0.0 < float(level) < 1.0:
        msg = f"level must be a number strictly between 0 and 1, e.g. 0.95; got {level!r}."
        raise ValueError(msg)
    if method not in ("basic", "percentile"):
        msg = f"method must be 'basic' or 'percentile', got {method!r}."
        raise ValueError(msg)


# ----------------------------------------------------------------------------- binned calibration


def _bin_ids(yp: FloatArray, n_bins: int, strategy: str) -> IndexArray:
    """Bin index of each confidence; works row-wise on a 2-D array of resampled confidences."""
    if strategy == "quantile":
        edges = np.percentile(yp, np.linspace(0.0, 100.0, n_bins + 1), axis=-1)[1:-1]
        if yp.ndim == 1:
            return np.searchsorted(edges, yp)
        # Row-wise searchsorted (side="left"): the number of interior edges strictly below.
        ids = np.zeros(yp.shape, dtype=np.intp)
        for edge in edges:  # one (rows,) edge per bin boundary
            ids += yp > edge[:, None]
        return ids
    # Searching only the interior edges puts 0.0 in the first bin and 1.0 in the last one.
    return np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], yp)


def _bin_sums(
    ids: IndexArray, yt: FloatArray, yp: FloatArray, n_bins: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-bin (count, sum of labels, sum of confidences); rows of 2-D inputs stay separate."""
    rows = 1 if ids.ndim == 1 else ids.shape[0]
    flat = (ids + n_bins * np.arange(rows).reshape(-1, 1)).ravel() if ids.ndim == 2 else ids
    size = rows * n_bins
    counts = np.bincount(flat, minlength=size).astype(np.float64)
    sum_true = np.bincount(flat, weights=yt.ravel(), minlength=size)
    sum_prob = np.bincount(flat, weights=yp.ravel(), minlength=size)
    shape = (rows, n_bins) if ids.ndim == 2 else (n_bins,)
    return counts.reshape(shape), sum_true.reshape(shape), sum_prob.reshape(shape)


def _binned(
    yt: FloatArray, yp: FloatArray, n_bins: int, strategy: str
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    counts, sum_true, sum_prob = _bin_sums(_bin_ids(yp, n_bins, strategy), yt, yp, n_bins)
    keep = counts > 0
    return (
        sum_true[keep] / counts[keep],
        sum_prob[keep] / counts[keep],
        counts[keep].astype(np.int64),
    )


def calibration_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15, strategy: Strategy = "uniform"
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """Compute the reliability diagram data: accuracy and mean confidence per non-empty bin.

    Equal-mass (``"quantile"``) edges are the percentiles of ``y_prob``, as in scikit-learn.
    When many confidences tie (LLM scores often pile up at 0.99 or 1.0) several edges coincide:
    tied confidences then always share one bin (the one whose right edge is the tied value,
    together with the values down to the previous edge), the empty bins between equal edges are
    dropped, and fewer than ``n_bins`` bins come back.

    Args:
        y_true: 0/1 correctness labels, shape (n_samples,).
        y_prob: Predicted probabilities of correctness, shape (n_samples,).
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal-width bins on [0, 1]) or ``"quantile"`` (equal-mass bins).

    Returns:
        ``(prob_true, prob_pred, counts)`` for the non-empty bins, in increasing confidence.

    Raises:
        ValueError: On invalid inputs, ``n_bins`` or ``strategy``.

    Example:
        >>> calibration_curve([0, 1, 1], [0.2, 0.6, 0.9], n_bins=2)[2].tolist()
        [1, 2]
    """
    _validate_bins(n_bins, strategy)
    yt, yp = _validate_binary(y_true, y_prob)
    return _binned(yt, yp, n_bins, strategy)


def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """Binned ECE: sum over bins of (bin size / n) * |accuracy - mean confidence|.

    The plug-in estimate is biased upwards when bins are small (each |gap| adds noise), most of
    all for well-calibrated scores; see :func:`bootstrap_interval` for a bias-corrected interval
    and :func:`smooth_ece` for a binning-free alternative.

    Args:
        y_true: 0/1 correctness labels.
        y_prob: Predicted probabilities of correctness.
        n_bins: Number of bins (Guo et al. 2017 use 15 equal-width bins).
        strategy: ``"uniform"`` or ``"quantile"``; see :func:`calibration_curve`.

    Returns:
        The ECE in [0, 1].

    Raises:
        ValueError: On invalid inputs.

    Example:
        >>> round(expected_calibration_error([0, 1], [0.25, 0.75], n_bins=2), 6)
        0.25
    """
    prob_true, prob_pred, counts = calibration_curve(
        y_true, y_prob, n_bins=n_bins, strategy=strategy
    )
    return float(np.sum(counts * np.abs(prob_true - prob_pred)) / counts.sum())


def maximum_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """Binned MCE: the largest |accuracy - mean confidence| over non-empty bins.

    Args:
        y_true: 0/1 correctness labels.
        y_prob: Predicted probabilities of correctness.
        n_bins: Number of bins.
        strategy: ``"uniform"`` or ``"quantile"``.

    Returns:
        The MCE in [0, 1].

    Raises:
        ValueError: On invalid inputs.

    Example:
        >>> round(maximum_calibration_error([0, 0], [0.25, 0.75], n_bins=2), 6)
        0.75
    """
    prob_true, prob_pred, _ = calibration_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    return float(np.max(np.abs(prob_true - prob_pred)))


# ----------------------------------------------------------------------------- smooth ECE
#
# With the reflected Gaussian kernel on [0, 1] (the density of f + N(0, s^2) folded back into
# [0, 1] at both ends) the kernel has an exact cosine expansion,
#     K_s(t, f) = 1 + 2 * sum_k exp(-(pi k s)^2 / 2) cos(pi k t) cos(pi k f),
# so smECE_s = int_0^1 |(1/n) sum_i (y_i - f_i) K_s(t, f_i)| dt is two DCT-I transforms of the
# residual mass on a grid of _GRID nodes (each f_i split linearly between its two neighbours).
# The residual r(t) times the density d(t) of the Nadaraya-Watson estimate is exactly the sum
# inside the absolute value, so no division by the density is needed.


def _grid_weights(yt: FloatArray, yp: FloatArray) -> tuple[IndexArray, FloatArray, FloatArray]:
    pos = yp * (_GRID - 1)
    lower = np.clip(np.floor(pos).astype(np.intp), 0, _GRID - 2)
    frac = pos - lower
    residual = yt - yp
    return lower, (1.0 - frac) * residual, frac * residual


def _grid_residuals(
    lower: IndexArray, w_lower: FloatArray, w_upper: FloatArray, n: int
) -> FloatArray:
    """Residual mass per grid node, divided by n; rows of 2-D inputs stay separate."""
    rows = 1 if lower.ndim == 1 else lower.shape[0]
    flat = (lower + _GRID * np.arange(rows).reshape(-1, 1)).ravel()
    size = rows * _GRID
    mass = np.bincount(flat, weights=w_lower.ravel(), minlength=size)
    mass += np.bincount(flat + 1, weights=w_upper.ravel(), minlength=size)
    return (mass / n).reshape((*lower.shape[:-1], _GRID))


_ALTERNATING = (-1.0) ** np.arange(_GRID)


def _cosine_sum(values: FloatArray) -> FloatArray:
    """out[..., i] = sum_j values[..., j] cos(pi i j / (_GRID - 1)) (a rescaled DCT-I)."""
    out = dct(values, type=1, axis=-1)
    return 0.5 * (out + values[..., :1] + _ALTERNATING * values[..., -1:])


def _smooth_ece_at(coefficients: FloatArray, bandwidth: FloatArray) -> FloatArray:
    k = np.arange(_GRID)
    damping = 2.0 * np.exp(-0.5 * (np.pi * k * bandwidth[..., None]) ** 2)
    damping[..., 0] = 1.0
    smoothed = np.abs(_cosine_sum(coefficients * damping))  # |r(t) d(t)| at the grid nodes
    trapezoid = smoothed.sum(axis=-1) - 0.5 * (smoothed[..., 0] + smoothed[..., -1])
    return np.asarray(trapezoid / (_GRID - 1))


def _fixed_point(coefficients: FloatArray) -> FloatArray:
    """smECE at the bandwidth s with s = smECE_s, for each row of cosine coefficients.

    smECE_s decreases in s, so gap(s) = s - smECE_s has exactly one root. It lies in
    [1e-3, smECE_{1e-3}] (else it is below the 1e-3 floor and smECE_{1e-3} is returned, as
    relplot's smECE_fast does) and is found by the Illinois variant of regula falsi, for all
    rows at once; gap is nearly linear, so a handful of evaluations reach 1e-10.
    """
    rows = coefficients.shape[0]
    low = np.full(rows, _MIN_BANDWIDTH)
    gap_low = low - _smooth_ece_at(coefficients, low)
    high = np.clip(low - gap_low, _MIN_BANDWIDTH, 1.0)  # smECE at the floor, capped at 1
    gap_high = high - _smooth_ece_at(coefficients, high)
    value = np.where(gap_low >= 0.0, low - gap_low, high - gap_high)
    active = np.flatnonzero((gap_low < 0.0) & (gap_high > _TOLERANCE))
    last_side = np.zeros(rows)
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        a, b, fa, fb = low[active], high[active], gap_low[active], gap_high[active]
        mid = np.clip((a * fb - b * fa) / (fb - fa), a, b)
        f_mid = mid - _smooth_ece_at(coefficients[active], mid)
        value[active] = mid - f_mid
        up = f_mid < 0.0  # the root is above mid
        side = np.where(up, -1.0, 1.0)
        repeat = side == last_side[active]
        low[active] = np.where(up, mid, a)
        gap_low[active] = np.where(up, f_mid, np.where(repeat, 0.5 * fa, fa))
        high[active] = np.where(up, b, mid)
        gap_high[active] = np.where(up, np.where(repeat, 0.5 * fb, fb), f_mid)
        last_side[active] = side
        done = (np.abs(f_mid) <= _TOLERANCE) | (high[active] - low[active] <= _TOLERANCE)
        active = active[~done]
    return value


def _smooth_ece_from_mass(mass: FloatArray, bandwidth: float | None) -> FloatArray:
    coefficients = _cosine_sum(mass).reshape(-1, _GRID)
    if bandwidth is None:
        value = _fixed_point(coefficients)
    else:
        value = _smooth_ece_at(coefficients, np.full(coefficients.shape[0], float(bandwidth)))
    return value.reshape(mass.shape[:-1])


def smooth_ece(y_true: ArrayLike, y_prob: ArrayLike, *, bandwidth: float | None = None) -> float:
    """Smooth ECE (Błasiok & Nakkiran, ICLR 2024): a binning-free calibration error.

    The residual ``y - f`` is smoothed over the confidence ``f`` with a Gaussian kernel reflected
    at 0 and 1 (Nadaraya-Watson), and ``smECE_s = ∫ |r_s(t)| d_s(t) dt`` integrates its absolute
    value against the kernel density of the confidences. With ``bandwidth=None`` the bandwidth
    is the fixed point ``s = smECE_s`` (as in relplot's ``smECE_fast``, which bisects for it;
    here a bracketing root-finder gets it to 1e-10), so the metric has no tuning knob. The
    integral is evaluated exactly in the kernel's cosine basis on a grid of 2049 points
    (confidences are split linearly between neighbouring grid points).

    Args:
        y_true: 0/1 correctness labels.
        y_prob: Predicted probabilities of correctness.
        bandwidth: Kernel standard deviation ``s`` (>= 0.001), or ``None`` for the fixed point.

    Returns:
        The smooth ECE, between ``|mean(y - f)|`` and ``mean(|y - f|)`` (so in [0, 1]); it
        equals ``|mean(y - f)|`` when every residual ``y - f`` has the same sign.

    Raises:
        ValueError: On invalid inputs or bandwidth.

    Example:
        >>> round(smooth_ece([1, 1, 1, 1], [0.8, 0.8, 0.8, 0.8]), 6)
        0.2
    """
    yt, yp = _validate_binary(y_true, y_prob)
    _validate_bandwidth(bandwidth)
    mass = _grid_residuals(*_grid_weights(yt, yp), n=yt.size)
    return float(np.clip(_smooth_ece_from_mass(mass, bandwidth), 0.0, 1.0))


# ----------------------------------------------------------------------------- proper scores


def _brier_losses(yt: FloatArray, yp: FloatArray) -> FloatArray:
    return (yp - yt) ** 2


def _validate_eps(eps: float) -> None:
    if not 0.0 < eps < 0.5:
        msg = f"eps must be in (0, 0.5), got {eps!r}; the default 1e-15 is usually right."
        raise ValueError(msg)


def _nll_losses(yt: FloatArray, yp: FloatArray, eps: float) -> FloatArray:
    p = np.clip(yp, eps, 1.0 - eps)
    return -(yt * np.log(p) + (1.0 - yt) * np.log1p(-p))


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared error between probabilities and 0/1 outcomes (a proper score).

    Example:
        >>> brier_score([0, 1], [0.0, 0.5])
        0.125
    """
    yt, yp = _validate_binary(y_true, y_prob)
    return float(np.mean(_brier_losses(yt, yp)))


def negative_log_likelihood(y_true: ArrayLike, y_prob: ArrayLike, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy, with probabilities clipped to [eps, 1 - eps].

    Args:
        y_true: 0/1 correctness labels.
        y_prob: Predicted probabilities of correctness.
        eps: Clipping constant so that a confident mistake costs a large but finite loss.

    Returns:
        The mean NLL in nats.

    Raises:
        ValueError: On invalid inputs or ``eps`` outside (0, 0.5).

    Example:
        >>> round(negative_log_likelihood([1], [0.5]), 6)
        0.693147
    """
    _validate_eps(eps)
    yt, yp = _validate_binary(y_true, y_prob)
    return float(np.mean(_nll_losses(yt, yp, eps)))


# ----------------------------------------------------------------------------- ranking


def auroc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve via the rank-sum statistic; tied scores count one half.

    Args:
        y_true: 0/1 correctness labels; both classes must be present.
        y_score: Any finite scores, higher meaning "more likely correct".

    Returns:
        P(score of a random correct answer > score of a random incorrect one).

    Raises:
        ValueError: On invalid inputs or when only one class is present.

    Example:
        >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    yt, ys = _validate_scores(y_true, y_score)
    _require_both_classes(yt, "AUROC")
    n_pos = int(yt.sum())
    n_neg = yt.size - n_pos
    ranks = rankdata(ys)  # average ranks, so each tie contributes 1/2 like roc_auc_score
    return float((ranks[yt == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _tie_groups(ys: FloatArray) -> tuple[IndexArray, FloatArray]:
    """Tie group of each score (0 = highest score) and the distinct scores, high first."""
    values, inverse = np.unique(ys, return_inverse=True)
    return (values.size - 1 - inverse.ravel()).astype(np.intp), values[::-1].copy()


def _group_counts(
    groups: IndexArray, yt: FloatArray, n_groups: int
) -> tuple[FloatArray, FloatArray]:
    """Answers and correct answers per tie group (high scores first); rows of 2-D stay separate."""
    rows = 1 if groups.ndim == 1 else groups.shape[0]
    flat = (groups + n_groups * np.arange(rows).reshape(-1, 1)).ravel()
    size = rows * n_groups
    counts = np.bincount(flat, minlength=size).astype(np.float64)
    correct = np.bincount(flat, weights=yt.ravel(), minlength=size)
    shape = (*groups.shape[:-1], n_groups)
    return counts.reshape(shape), correct.reshape(shape)


def _auroc_from_groups(counts: FloatArray, correct: FloatArray) -> FloatArray:
    wrong = counts - correct
    n_pos, n_neg = correct.sum(axis=-1), wrong.sum(axis=-1)
    wrong_below = n_neg[..., None] - np.cumsum(wrong, axis=-1)  # strictly lower scores
    wins = np.sum(correct * (wrong_below + 0.5 * wrong), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan)


def _auprc_from_groups(counts: FloatArray, correct: FloatArray) -> FloatArray:
    true_pos = np.cumsum(correct, axis=-1)
    kept = np.cumsum(counts, axis=-1)
    precision = np.divide(true_pos, kept, out=np.zeros_like(true_pos), where=kept > 0)
    n_pos, n = true_pos[..., -1], kept[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = np.sum(correct * precision, axis=-1) / n_pos
    return np.where((n_pos > 0) & (n_pos < n), ap, np.nan)


def auprc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the precision-recall curve as step-wise average precision (no trapezoids).

    Correct answers are the positive class: ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct
    score thresholds, high to low, exactly like :func:`sklearn.metrics.average_precision_score`.
    Its chance level is the accuracy, so compare it with ``mean(y_true)``.

    Args:
        y_true: 0/1 correctness labels; both classes must be present.
        y_score: Any finite scores, higher meaning "more likely correct".

    Returns:
        The average precision in [0, 1].

    Raises:
        ValueError: On invalid inputs or when only one class is present (with no incorrect
            answers AP is trivially 1, with no correct ones it is undefined).

    Example:
        >>> round(auprc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), 6)  # (1 + 2/3) / 2
        0.833333
    """
    yt, ys = _validate_scores(y_true, y_score)
    _require_both_classes(yt, "AUPRC")
    groups, values = _tie_groups(ys)
    return float(_auprc_from_groups(*_group_counts(groups, yt, values.size)))


# ----------------------------------------------------------------------------- selective prediction


def risk_coverage_curve(
    y_true: ArrayLike, y_score: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Error rate among the answers kept when keeping those with ``y_score >= threshold``.

    Answers are sorted by score, highest first, and tied scores form one group: a threshold keeps
    all of them or none, so the curve has one point per distinct score.

    Args:
        y_true: 0/1 correctness labels.
        y_score: Any finite scores, higher meaning "keep first".

    Returns:
        ``(coverage, risk, thresholds)``: for each distinct score (``thresholds``, decreasing),
        the share of answers kept (increasing, ending at 1.0) and the error rate among them.

    Raises:
        ValueError: On invalid inputs.

    Example:
        >>> coverage, risk, thresholds = risk_coverage_curve([1, 0, 1, 1], [0.9, 0.8, 0.8, 0.3])
        >>> coverage.tolist(), risk.tolist(), thresholds.tolist()
        ([0.25, 0.75, 1.0], [0.0, 0.3333333333333333, 0.25], [0.9, 0.8, 0.3])
    """
    yt, ys = _validate_scores(y_true, y_score)
    groups, values = _tie_groups(ys)
    counts, correct = _group_counts(groups, yt, values.size)
    kept = np.cumsum(counts)
    return kept / yt.size, np.cumsum(counts - correct) / kept, values


def _aurc(yt: FloatArray, ys: FloatArray) -> float:
    groups, values = _tie_groups(ys)
    counts, correct = _group_counts(groups, yt, values.size)
    # Spread each tie group's errors evenly over its ranks: the mean over random tie orders.
    per_rank = np.repeat((counts - correct) / counts, counts.astype(np.intp))
    risk = np.cumsum(per_rank) / np.arange(1, yt.size + 1)
    return float(risk.mean())


def _oracle_aurc(yt: FloatArray) -> float:
    ranks = np.arange(1, yt.size + 1)
    return float(np.mean(np.maximum(ranks - yt.sum(), 0.0) / ranks))


def aurc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the risk-coverage curve (Geifman, Uziel & El-Yaniv, ICLR 2019); lower is better.

    Estimator: the mean selective risk over the n coverage levels ``k / n``,
    ``AURC = (1/n) sum_k errors(top k) / k``, answers sorted by score, highest first. Ties are
    averaged over every order of the tied answers, which is the same as giving each answer of a
    tie group the group's error rate; without ties this is exactly Geifman et al.'s sum, and it
    never depends on the input order. One class is fine: 0.0 when every answer is correct and
    1.0 when none is.

    Args:
        y_true: 0/1 correctness labels.
        y_score: Any finite scores, higher meaning "keep first".

    Returns:
        The AURC in [0, 1]; a random score gets the error rate on average.

    Raises:
        ValueError: On invalid inputs.

    Example:
        >>> round(aurc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), 6)  # (0 + 1/2 + 1/3 + 2/4) / 4
        0.333333
    """
    yt, ys = _validate_scores(y_true, y_score)
    return _aurc(yt, ys)


def excess_aurc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """E-AURC: :func:`aurc` minus the AURC of the oracle that ranks every error last.

    The oracle's AURC is ``(1/n) sum_k max(0, k - n_correct) / k``; subtracting it removes the
    part of AURC that only reflects the error rate (Geifman, Uziel & El-Yaniv, ICLR 2019).

    Args:
        y_true: 0/1 correctness labels.
        y_score: Any finite scores, higher meaning "keep first".

    Returns:
        E-AURC >= 0 (0 for a perfect ranking).

    Raises:
        ValueError: On invalid inputs.

    Example:
        >>> round(excess_aurc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), 6)  # 1/3 - (1/3 + 2/4) / 4
        0.125
    """
    yt, ys = _validate_scores(y_true, y_score)
    return _aurc(yt, ys) - _oracle_aurc(yt)


def prediction_rejection_ratio(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """PRR as in LM-Polygraph: how much of the oracle's gain over random rejection a score gets.

    ``PRR = (AURC_random - AURC) / (AURC_random - AURC_oracle)`` on the full rejection curve of
    the error rate (LM-Polygraph's prediction-rejection area of quality ``1 - error`` gives the
    same ratio). ``AURC_random`` is the error rate (the exact mean over random orders, where
    LM-Polygraph averages 1000 shuffles), ``AURC`` is :func:`aurc` (ties averaged) and the oracle
    ranks every error last. 1 = oracle, 0 = random, negative = worse than random.

    Args:
        y_true: 0/1 correctness labels; both classes must be present.
        y_score: Any finite scores, higher meaning "more likely correct".

    Returns:
        The PRR, at most 1.

    Raises:
        ValueError: On invalid inputs or when only one class is present.

    Example:
        >>> round(prediction_rejection_ratio([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), 6)  # 4 / 7
        0.571429
    """
    yt, ys = _validate_scores(y_true, y_score)
    _require_both_classes(yt, "PRR")
    random = 1.0 - float(yt.mean())
    return (random - _aurc(yt, ys)) / (random - _oracle_aurc(yt))


def _harmonic(n: int) -> FloatArray:
    """H[k] = 1 + 1/2 + ... + 1/k for k = 0..n."""
    return np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, n + 1))))


def _aurc_from_groups(counts: FloatArray, correct: FloatArray, harmonic: FloatArray) -> FloatArray:
    # Closed form of the tie-averaged sum over one group of m answers with e errors, starting
    # after k0 answers and e0 errors: sum_{k=k0+1}^{k0+m} (e0 + (k - k0) e / m) / k
    #                                = (e0 - k0 e / m) (H[k0 + m] - H[k0]) + e.
    wrong = counts - correct
    end = np.cumsum(counts, axis=-1)
    errors_before = np.cumsum(wrong, axis=-1) - wrong
    rate = np.divide(wrong, counts, out=np.zeros_like(wrong), where=counts > 0)
    gap = harmonic[end.astype(np.intp)] - harmonic[(end - counts).astype(np.intp)]
    total = np.sum((errors_before - (end - counts) * rate) * gap + wrong, axis=-1)
    return np.asarray(total / end[..., -1])


def _oracle_aurc_from_counts(n: int, n_wrong: FloatArray, harmonic: FloatArray) -> FloatArray:
    n_correct = (n - n_wrong).astype(np.intp)
    return np.asarray((n_wrong - n_correct * (harmonic[n] - harmonic[n_correct])) / n)


# ----------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class MetricInterval:
    """A metric on the full sample with its bootstrap interval.

    Attributes:
        estimate: The metric on the full sample, or ``None`` in :func:`calibration_summary`
            when it is undefined there (AUROC, AUPRC and PRR when every answer is correct).
        low: Lower end of the interval, or ``None`` when no interval was computed.
        high: Upper end of the interval, or ``None``.
        level: Nominal coverage, e.g. 0.95.
        n_resamples: Resamples the interval is based on (those where the metric was defined).
        n_skipped: Resamples drawn but skipped because the metric was undefined on them.
        method: ``"basic"`` or ``"percentile"``, or ``None`` when there is no interval.
    """

    estimate: float | None
    low: float | None
    high: float | None
    level: float
    n_resamples: int
    n_skipped: int = 0
    method: str | None = None


_Runner = Callable[[IndexArray], FloatArray]


def _or_nan(
    metric: Callable[..., float], yt: FloatArray, yp: FloatArray, kwargs: dict[str, Any]
) -> float:
    """The metric on one resample, or NaN where it is undefined (it raises ValueError)."""
    try:
        return float(metric(yt, yp, **kwargs))
    except ValueError:
        return math.nan


def _resample_blocks(n: int, n_resamples: int, seed: int | None) -> Iterator[IndexArray]:
    """Bootstrap index rows (pairs are resampled together), in blocks of about _CHUNK entries."""
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_resamples, _CHUNK // n))
    done = 0
    while done < n_resamples:
        block = min(rows, n_resamples - done)
        yield rng.integers(0, n, size=(block, n))
        done += block


def _interval(
    estimate: float,
    values: FloatArray,
    *,
    level: float,
    method: str,
    bounds: tuple[float, float] | None,
) -> MetricInterval:
    finite = values[np.isfinite(values)]
    skipped = int(values.size - finite.size)
    if finite.size == 0:
        return MetricInterval(estimate, None, None, level, 0, skipped, None)
    alpha = 1.0 - level
    q_low, q_high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    if method == "percentile":
        low, high = float(q_low), float(q_high)
    else:  # basic: reflect the bootstrap quantiles around the estimate
        low, high = 2.0 * estimate - float(q_high), 2.0 * estimate - float(q_low)
    if bounds is not None:
        low = min(max(low, bounds[0]), bounds[1])
        high = min(max(high, bounds[0]), bounds[1])
    return MetricInterval(estimate, low, high, level, int(finite.size), skipped, method)


def _binned_runner(
    yt: FloatArray,
    yp: FloatArray,
    *,
    n_bins: int = 15,
    strategy: Strategy = "uniform",
    maximum: bool = False,
) -> _Runner:
    ids = _bin_ids(yp, n_bins, strategy) if strategy == "uniform" else None

    def run(idx: IndexArray) -> FloatArray:
        sample = yp[idx]
        rows = _bin_ids(sample, n_bins, strategy) if ids is None else ids[idx]
        counts, sum_true, sum_prob = _bin_sums(rows, yt[idx], sample, n_bins)
        gap = np.abs(sum_true - sum_prob)
        if not maximum:
            return np.asarray(gap.sum(axis=1) / yt.size)
        per_bin = np.divide(gap, counts, out=np.full_like(gap, -np.inf), where=counts > 0)
        return np.asarray(per_bin.max(axis=1))

    return run


def _mce_runner(yt: FloatArray, yp: FloatArray, **kwargs: Any) -> _Runner:
    return _binned_runner(yt, yp, maximum=True, **kwargs)


def _smooth_runner(yt: FloatArray, yp: FloatArray, *, bandwidth: float | None = None) -> _Runner:
    lower, w_lower, w_upper = _grid_weights(yt, yp)

    def run(idx: IndexArray) -> FloatArray:
        mass = _grid_residuals(lower[idx], w_lower[idx], w_upper[idx], n=yt.size)
        return np.clip(_smooth_ece_from_mass(mass, bandwidth), 0.0, 1.0)

    return run


def _mean_runner(losses: FloatArray) -> _Runner:
    return lambda idx: np.asarray(losses[idx].mean(axis=1))


def _ranking_runner(yt: FloatArray, ys: FloatArray, which: str) -> _Runner:
    groups, values = _tie_groups(ys)
    harmonic = _harmonic(yt.size)

    def run(idx: IndexArray) -> FloatArray:
        counts, correct = _group_counts(groups[idx], yt[idx], values.size)
        return _ranking_from_groups(counts, correct, harmonic)[which]

    return run


def _ranking_from_groups(
    counts: FloatArray, correct: FloatArray, harmonic: FloatArray
) -> dict[str, FloatArray]:
    n = int(counts.sum(axis=-1).flat[0])  # every row is a resample of the same size
    n_wrong = n - correct.sum(axis=-1)
    curve = _aurc_from_groups(counts, correct, harmonic)
    oracle = _oracle_aurc_from_counts(n, n_wrong, harmonic)
    random = n_wrong / n
    with np.errstate(divide="ignore", invalid="ignore"):
        prr = np.where((n_wrong > 0) & (n_wrong < n), (random - curve) / (random - oracle), np.nan)
    return {
        "auroc": _auroc_from_groups(counts, correct),
        "auprc": _auprc_from_groups(counts, correct),
        "aurc": curve,
        "excess_aurc": curve - oracle,
        "prr": prr,
    }


_RUNNERS: dict[Callable[..., float], Callable[..., _Runner]] = {
    expected_calibration_error: _binned_runner,
    maximum_calibration_error: _mce_runner,
    smooth_ece: _smooth_runner,
    brier_score: lambda yt, yp: _mean_runner(_brier_losses(yt, yp)),
    negative_log_likelihood: lambda yt, yp, eps=1e-15: _mean_runner(_nll_losses(yt, yp, eps)),
    auroc: lambda yt, ys: _ranking_runner(yt, ys, "auroc"),
    auprc: lambda yt, ys: _ranking_runner(yt, ys, "auprc"),
    aurc: lambda yt, ys: _ranking_runner(yt, ys, "aurc"),
    excess_aurc: lambda yt, ys: _ranking_runner(yt, ys, "excess_aurc"),
    prediction_rejection_ratio: lambda yt, ys: _ranking_runner(yt, ys, "prr"),
}
"""Vectorised bootstrap for this module's metrics: (y_true, y_prob, **kwargs) -> runner."""


def bootstrap_interval(
    metric: Callable[..., float],
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
    method: BootstrapMethod = "basic",
    bounds: tuple[float, float] | None = None,
    **metric_kwargs: Any,
) -> MetricInterval:
    """Bootstrap confidence interval of ``metric(y_true, y_prob, **metric_kwargs)``.

    (label, score) pairs are resampled with replacement. Resamples where the metric is
    undefined (it raises ``ValueError``, e.g. AUROC on a resample with one class) are skipped and
    counted in ``n_skipped``. This module's metrics are bootstrapped in vectorised form (blocks
    of resamples at once); any other callable is called once per resample.

    The default ``method="basic"`` (reverse percentile) interval is
    ``[2 * estimate - q_high, 2 * estimate - q_low]`` for the bootstrap quantiles ``q``. It is
    used because binned and smooth ECE are biased upwards (the absolute value of a noisy bin gap
    is larger on average than the true gap), and a bootstrap replicate adds that bias a second
    time: the plain percentile interval ``[q_low, q_high]`` is then shifted up by about twice
    the bias and misses the true ECE too often, while the basic interval subtracts the bias
    estimated by the bootstrap. It can therefore sit below the plug-in estimate. For smooth,
    unbiased metrics (Brier, NLL, AUROC) both methods agree to first order.

    Args:
        metric: A metric with the signature ``metric(y_true, y_prob, **kwargs) -> float``.
        y_true: 0/1 correctness labels (or whatever ``metric`` expects).
        y_prob: Confidences or scores, one per label.
        n_resamples: Bootstrap resamples; 0 returns the estimate with no interval.
        level: Nominal coverage of the interval, in (0, 1).
        seed: Seed of the NumPy generator that draws the resamples (``None`` = fresh entropy).
        method: ``"basic"`` (bias-corrected, the default) or ``"percentile"``.
        bounds: Clip the interval to this range; by default the range of this package's
            metric (e.g. ``(0.0, 1.0)`` for AUROC), none for other callables.
        **metric_kwargs: Passed to ``metric``, e.g. ``n_bins=10``.

    Returns:
        The :class:`MetricInterval`.

    Raises:
        ValueError: On invalid inputs or arguments, or when the metric is undefined on the full
            sample.

    Example:
        >>> iv = bootstrap_interval(brier_score, [0, 1, 1, 0], [0.2, 0.7, 0.9, 0.4], n_resamples=50)
        >>> round(iv.estimate, 6), iv.n_resamples, iv.low <= iv.high
        (0.075, 50, True)
    """
    _validate_bootstrap(n_resamples, level, method)
    estimate = float(metric(y_true, y_prob, **metric_kwargs))
    yt, yp = _as_1d(y_true, "y_true"), _as_1d(y_prob, "y_prob")
    if yt.shape != yp.shape:
        msg = f"y_true and y_prob must have the same length, got {yt.size} and {yp.size}."
        raise ValueError(msg)
    if n_resamples == 0:
        return MetricInterval(estimate, None, None, float(level), 0)
    factory = _RUNNERS.get(metric)
    run = factory(yt, yp, **metric_kwargs) if factory is not None else None
    parts = []
    for idx in _resample_blocks(yt.size, n_resamples, seed):
        if run is not None:
            parts.append(run(idx))
        else:
            parts.append(np.array([_or_nan(metric, yt[i], yp[i], metric_kwargs) for i in idx]))
    values = np.concatenate(parts)
    if bounds is None:
        # The basic interval reflects around the estimate and can leave the metric's range.
        bounds = _METRIC_BOUNDS.get(getattr(metric, "__name__", ""))
    return _interval(estimate, values, level=float(level), method=method, bounds=bounds)


_METRIC_BOUNDS: dict[str, tuple[float, float]] = {
    **dict.fromkeys(
        (
            "expected_calibration_error",
            "maximum_calibration_error",
            "smooth_ece",
            "brier_score",
            "auroc",
            "auprc",
            "aurc",
            "excess_aurc",
        ),
        (0.0, 1.0),
    ),
    "negative_log_likelihood": (0.0, math.inf),
    "prediction_rejection_ratio": (-math.inf, 1.0),
}


SUMMARY_KEYS: tuple[str, ...] = (
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


def calibration_summary(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 15,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int | None = 0,
    method: BootstrapMethod = "basic",
) -> dict[str, MetricInterval]:
    """Every metric with a bootstrap interval, computed on one shared set of resamples.

    Keys (stable; in this order):

    - ``"ece"``: :func:`expected_calibration_error`, ``n_bins`` equal-width bins.
    - ``"ece_quantile"``: the same with ``n_bins`` equal-mass bins.
    - ``"mce"``: :func:`maximum_calibration_error`, equal-width bins.
    - ``"smooth_ece"``: :func:`smooth_ece` with the automatic bandwidth.
    - ``"brier"``: :func:`brier_score`.
    - ``"nll"``: :func:`negative_log_likelihood`.
    - ``"auroc"``: :func:`auroc`.
    - ``"auprc"``: :func:`auprc` (correct answers are the positive class).
    - ``"aurc"``: :func:`aurc` (lower is better).
    - ``"prr"``: :func:`prediction_rejection_ratio`.

    AUROC, AUPRC and PRR are undefined when every answer is correct (or every answer is wrong);
    they are then reported with ``estimate=None`` and no interval rather than raising, so the other
    rows can still be shown. Intervals are clipped to each metric's range.

    Args:
        y_true: 0/1 correctness labels.
        y_prob: Calibrated confidences in [0, 1].
        n_bins: Bins for the ECE and MCE rows.
        n_resamples: Bootstrap resamples (0 = estimates only, ``low``/``high`` are ``None``).
        level: Nominal coverage of the intervals.
        seed: Seed of the bootstrap generator.
        method: Bootstrap interval type; see :func:`bootstrap_interval`.

    Returns:
        A dict from the keys above to :class:`MetricInterval`.

    Raises:
        ValueError: On invalid inputs or arguments.

    Example:
        >>> summary = calibration_summary([0, 1, 1, 1], [0.3, 0.6, 0.8, 0.9], n_resamples=0)
        >>> list(summary)[:3], summary["auroc"].estimate, summary["auroc"].low
        (['ece', 'ece_quantile', 'mce'], 1.0, None)
    """
    _validate_bins(n_bins, "uniform")
    _validate_bootstrap(n_resamples, level, method)
    yt, yp = _validate_binary(y_true, y_prob)
    n = yt.size
    both_classes = 0 < yt.sum() < n
    estimates: dict[str, float | None] = {
        "ece": expected_calibration_error(yt, yp, n_bins=n_bins),
        "ece_quantile": expected_calibration_error(yt, yp, n_bins=n_bins, strategy="quantile"),
        "mce": maximum_calibration_error(yt, yp, n_bins=n_bins),
        "smooth_ece": smooth_ece(yt, yp),
        "brier": brier_score(yt, yp),
        "nll": negative_log_likelihood(yt, yp),
        "auroc": auroc(yt, yp) if both_classes else None,
        "auprc": auprc(yt, yp) if both_classes else None,
        "aurc": aurc(yt, yp),
        "prr": prediction_rejection_ratio(yt, yp) if both_classes else None,
    }
    bounds = {"nll": (0.0, math.inf), "prr": (-math.inf, 1.0)}
    if n_resamples == 0:
        return {
            key: MetricInterval(estimates[key], None, None, float(level), 0) for key in SUMMARY_KEYS
        }

    ece_uniform = _binned_runner(yt, yp, n_bins=n_bins)
    mce_uniform = _binned_runner(yt, yp, n_bins=n_bins, maximum=True)
    ece_quantile = _binned_runner(yt, yp, n_bins=n_bins, strategy="quantile")
    smooth = _smooth_runner(yt, yp)
    brier, nll = _mean_runner(_brier_losses(yt, yp)), _mean_runner(_nll_losses(yt, yp, 1e-15))
    groups, values = _tie_groups(yp)
    harmonic = _harmonic(n)
    parts: dict[str, list[FloatArray]] = {key: [] for key in SUMMARY_KEYS}
    for idx in _resample_blocks(n, n_resamples, seed):
        parts["ece"].append(ece_uniform(idx))
        parts["ece_quantile"].append(ece_quantile(idx))
        parts["mce"].append(mce_uniform(idx))
        parts["smooth_ece"].append(smooth(idx))
        parts["brier"].append(brier(idx))
        parts["nll"].append(nll(idx))
        ranking = _ranking_from_groups(*_group_counts(groups[idx], yt[idx], values.size), harmonic)
        for key in ("auroc", "auprc", "aurc", "prr"):
            parts[key].append(ranking[key])
    summary = {}
    for key in SUMMARY_KEYS:
        estimate = estimates[key]
        if estimate is None:
            summary[key] = MetricInterval(None, None, None, float(level), 0)
            continue
        summary[key] = _interval(
            estimate,
            np.concatenate(parts[key]),
            level=float(level),
            method=method,
            bounds=bounds.get(key, (0.0, 1.0)),
        )
    return summary
