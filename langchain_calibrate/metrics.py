"""Calibration and discrimination metrics for binary correctness scores.

Every function takes plain array-likes (``y_true`` in {0, 1}, ``y_prob`` in [0, 1]) and returns
Python floats, using scikit-learn's vocabulary (``y_true``, ``y_prob``, ``n_bins``, ``strategy``).
Binning follows :func:`sklearn.calibration.calibration_curve`: bins are closed on the right, the
first bin also holds 0.0, the last holds 1.0, and empty bins are dropped.
"""

from __future__ import annotations

from numbers import Integral
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

__all__ = [
    "auroc",
    "brier_score",
    "calibration_curve",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
]

Strategy = Literal["uniform", "quantile"]


def _as_1d(values: ArrayLike, name: str) -> NDArray[np.float64]:
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
    return arr


def _validate_binary(
    y_true: ArrayLike, y_prob: ArrayLike, *, prob_name: str = "y_prob", probabilities: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate labels and scores; shared by every metric (and future AURC/PRR/bootstrap)."""
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
    if not probabilities and not np.isfinite(yp).all():
        msg = f"{prob_name} contains inf; pass finite scores."
        raise ValueError(msg)
    return yt, yp


def _validate_bins(n_bins: int, strategy: str) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 1:
        msg = f"n_bins must be a positive integer, got {n_bins!r}. 15 is the usual choice."
        raise ValueError(msg)
    if strategy not in ("uniform", "quantile"):
        msg = f"strategy must be 'uniform' or 'quantile', got {strategy!r}."
        raise ValueError(msg)


def _binned(
    yt: NDArray[np.float64], yp: NDArray[np.float64], n_bins: int, strategy: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    if strategy == "quantile":
        edges = np.percentile(yp, np.linspace(0.0, 100.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Searching only the interior edges puts 0.0 in the first bin and 1.0 in the last one.
    ids = np.searchsorted(edges[1:-1], yp)
    counts = np.bincount(ids, minlength=n_bins)
    sum_prob = np.bincount(ids, weights=yp, minlength=n_bins)
    sum_true = np.bincount(ids, weights=yt, minlength=n_bins)
    keep = counts > 0
    return sum_true[keep] / counts[keep], sum_prob[keep] / counts[keep], counts[keep]


def calibration_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15, strategy: Strategy = "uniform"
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Compute the reliability diagram data: accuracy and mean confidence per non-empty bin.

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


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared error between probabilities and 0/1 outcomes (a proper score).

    Example:
        >>> brier_score([0, 1], [0.0, 0.5])
        0.125
    """
    yt, yp = _validate_binary(y_true, y_prob)
    return float(np.mean((yp - yt) ** 2))


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
    if not 0.0 < eps < 0.5:
        msg = f"eps must be in (0, 0.5), got {eps!r}; the default 1e-15 is usually right."
        raise ValueError(msg)
    yt, yp = _validate_binary(y_true, y_prob)
    p = np.clip(yp, eps, 1.0 - eps)
    return float(-np.mean(yt * np.log(p) + (1.0 - yt) * np.log1p(-p)))


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
    yt, ys = _validate_binary(y_true, y_score, prob_name="y_score", probabilities=False)
    n_pos = int(yt.sum())
    n_neg = yt.size - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "correct (1)" if n_neg == 0 else "incorrect (0)"
        msg = (
            f"AUROC is undefined: y_true contains only {only} answers ({yt.size} samples). "
            "Evaluate on a set with both correct and incorrect answers."
        )
        raise ValueError(msg)
    ranks = rankdata(ys)  # average ranks, so each tie contributes 1/2 like roc_auc_score
    return float((ranks[yt == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
