"""Post-hoc calibrators mapping RAG evidence features to P(answer is correct).

Estimators follow scikit-learn's shape: ``__init__`` only stores keyword-only parameters,
``fit(X, y)`` sets attributes ending in ``_`` and returns ``self``, ``predict(X)`` returns
probabilities. ``X`` is a sequence of ``Signals`` (anything with ``to_features(names)``), a
sequence of mappings ``feature -> float | None``, or a 2-D array with columns in
``feature_names`` order. NaN / None means "missing evidence", which is never allowed to raise
confidence: it is imputed with the training value that contributes the least confidence.

Single-score calibrators (one probability-valued feature, default ``sequence_prob``):
:class:`TemperatureScaling` (1 parameter), :class:`PlattScaling` (2), :class:`BetaCalibration` (3),
and the non-parametric :class:`HistogramBinningCalibrator` and :class:`IsotonicCalibrator`, which
need about 1,000 labels and warn (:class:`SmallCalibrationSetWarning`) below that. Over several
features: :class:`LogisticCalibrator`. :func:`select_calibrator` compares methods by
cross-validated log loss and refits the best.

Fitted state is plain numbers and is saved as JSON only (never pickle); see
:func:`load_calibrator`.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Integral
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from langchain_calibrate._version import __version__
from langchain_calibrate.metrics import negative_log_likelihood
from langchain_calibrate.signals import FEATURE_NAMES

__all__ = [
    "CALIBRATORS",
    "DEFAULT_FEATURE_NAMES",
    "FILE_FORMAT",
    "FILE_FORMAT_VERSION",
    "SELECTION_METHODS",
    "BaseCalibrator",
    "BetaCalibration",
    "CalibratorFileError",
    "CalibratorNotFittedError",
    "CalibratorSelection",
    "HistogramBinningCalibrator",
    "IsotonicCalibrator",
    "LogisticCalibrator",
    "PlattScaling",
    "SmallCalibrationSetWarning",
    "TemperatureScaling",
    "load_calibrator",
    "make_calibrator",
    "select_calibrator",
]

DEFAULT_FEATURE_NAMES: tuple[str, ...] = FEATURE_NAMES
"""The signals a ``LogisticCalibrator`` uses unless told otherwise (all of them)."""
FILE_FORMAT = "langchain-calibrate.calibrator"
FILE_FORMAT_VERSION = 1
_PROB_CLIP = 1e-6
_NONPARAMETRIC_MIN_LABELS = 1_000
"""Below this many labels isotonic regression and histogram binning warn (they overfit)."""
_MAX_POINTS = 100_000
"""Most breakpoints / bins a calibrator may hold, so a file cannot demand unbounded memory."""
SELECTION_METHODS: tuple[str, ...] = (
    "temperature",
    "platt",
    "beta",
    "isotonic",
    "histogram",
    "logistic",
)
"""The methods :func:`select_calibrator` compares unless told otherwise."""

Array = NDArray[np.float64]


class CalibratorNotFittedError(ValueError):
    """Raised when a calibrator is used before ``fit`` (or loading)."""


class CalibratorFileError(ValueError):
    """Raised when a saved calibrator file is unreadable, invalid or tampered with."""


class SmallCalibrationSetWarning(UserWarning):
    """A non-parametric calibrator was fitted on fewer than 1,000 labels.

    Isotonic regression "is more prone to overfitting, and thus performs worse than Platt
    Scaling, when data is scarce" (Niculescu-Mizil & Caruana, ICML 2005), and scikit-learn advises
    against it with far fewer than 1,000 calibration samples; histogram binning needs even more
    (on the order of B / eps^2 labels for B bins, Kumar et al. 2019). With fewer labels prefer
    ``platt``, ``beta`` or ``logistic``, or let :func:`select_calibrator` compare them.
    """


# ----------------------------------------------------------------------------- input handling


def _row_features(row: Any, names: tuple[str, ...], i: int) -> Array:
    if hasattr(row, "to_features"):
        try:
            values = np.asarray(row.to_features(names), dtype=np.float64)
        except (KeyError, ValueError) as exc:
            msg = f"row {i}: Signals could not provide {list(names)} ({exc!r}); check the names."
            raise ValueError(msg) from exc
        if values.shape != (len(names),):
            msg = f"row {i}: to_features returned shape {values.shape}, expected ({len(names)},)."
            raise ValueError(msg)
        return values
    if isinstance(row, Mapping):
        absent = [n for n in names if n not in row]
        if absent:
            msg = (
                f"row {i} lacks features {absent}; this calibrator expects {list(names)}. "
                "Use None for a feature that is unavailable rather than leaving the key out."
            )
            raise ValueError(msg)
        try:
            return np.array([np.nan if row[n] is None else float(row[n]) for n in names])
        except (TypeError, ValueError) as exc:
            msg = f"row {i}: feature values must be numbers or None ({exc})."
            raise ValueError(msg) from exc
    msg = f"row {i} is a {type(row).__name__}; pass Signals objects, mappings or a 2-D array."
    raise TypeError(msg)


def _is_rows(X: Any) -> bool:
    """Whether X is a non-empty sequence of Signals-like objects or mappings."""
    is_seq = isinstance(X, Sequence) and not isinstance(X, str) and len(X) > 0
    return is_seq and all(hasattr(r, "to_features") or isinstance(r, Mapping) for r in X)


def _as_matrix(X: Any, names: tuple[str, ...]) -> Array:
    """Turn any supported input into a float matrix (n_samples, n_features) with NaN = missing."""
    if _is_rows(X):
        rows = [_row_features(r, names, i) for i, r in enumerate(X)]
        arr = np.array(rows).reshape(-1, len(names))
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            msg = f"X must be numeric, Signals or mappings; could not convert it ({exc})."
            raise ValueError(msg) from exc
    if arr.ndim >= 1 and arr.shape[0] == 0:
        msg = "X is empty; pass at least one row."
        raise ValueError(msg)
    if arr.ndim == 1 and len(names) == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        msg = (
            f"X has shape {arr.shape} but this calibrator expects (n_samples, {len(names)}) with "
            f"columns {list(names)}."
        )
        raise ValueError(msg)
    if np.isinf(arr).any():
        cols = sorted({names[j] for j in np.nonzero(np.isinf(arr))[1]})
        msg = f"X contains inf in {cols}; use finite values, or NaN/None for missing evidence."
        raise ValueError(msg)
    return arr


def _as_labels(y: Any, n: int) -> Array:
    try:
        arr = np.asarray(y).astype(np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"y must be 0/1 labels or booleans ({exc})."
        raise ValueError(msg) from exc
    if arr.ndim != 1 or arr.shape[0] != n:
        msg = f"y has shape {arr.shape} but X has {n} rows; pass one 0/1 label per row."
        raise ValueError(msg)
    bad = np.setdiff1d(np.unique(arr), [0.0, 1.0])
    if bad.size:
        msg = f"y must contain only 0/1 (or booleans), found {bad[:5].tolist()}."
        raise ValueError(msg)
    return arr


def _require_both_classes(y: Array, what: str) -> None:
    n_pos = int(y.sum())
    if min(n_pos, y.size - n_pos) < 2:
        msg = (
            f"{what} has {n_pos} correct and {y.size - n_pos} incorrect answers; calibration "
            "needs at least 2 of each. Label more examples, including some wrong answers."
        )
        raise ValueError(msg)


def _check_scores(x: Array, name: str) -> Array:
    present = x[~np.isnan(x)]
    if ((present < 0.0) | (present > 1.0)).any():
        msg = f"feature {name!r} must be a probability in [0, 1] for this calibrator."
        raise ValueError(msg)
    return x


def _score_logits(x: Array, name: str) -> Array:
    return logit(np.clip(_check_scores(x, name), _PROB_CLIP, 1.0 - _PROB_CLIP))


def _warn_if_small(cal: _SingleScoreCalibrator, n: int) -> None:
    if n < _NONPARAMETRIC_MIN_LABELS:
        msg = (
            f"{type(cal).__name__} was fitted on {n} labels with {cal.feature!r} present; with "
            f"fewer than {_NONPARAMETRIC_MIN_LABELS:,} a non-parametric map tends to overfit. "
            "Prefer 'platt', 'beta' or 'logistic' at this size, or compare methods with "
            "select_calibrator(X, y)."
        )
        # stacklevel 5 points at the caller of fit(): _warn_if_small <- _fit_scores <- _fit <- fit.
        warnings.warn(msg, SmallCalibrationSetWarning, stacklevel=5)


# ----------------------------------------------------------------------------- fitting math


def _mean_nll(z: Array, y: Array) -> float:
    # log(1 + e^z) - y z is the Bernoulli NLL for logit z, stable for large |z|.
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _fit_temperature(logits: Array, y: Array) -> float:
    res = minimize_scalar(
        lambda log_t: _mean_nll(logits * math.exp(-log_t), y),
        bounds=(-10.0, 10.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    if not res.success:
        msg = f"Temperature scaling failed to optimize. Reason from scipy: {res.message}"
        raise RuntimeError(msg)
    return math.exp(float(res.x))


def _fit_platt(logits: Array, y: Array) -> tuple[float, float]:
    def loss_grad(ab: Array) -> tuple[float, Array]:
        z = ab[0] * logits + ab[1]
        g = expit(z) - y
        return _mean_nll(z, y), np.array([np.mean(g * logits), np.mean(g)])

    # Start from the identity map; unregularized maximum likelihood, as in Platt (1999).
    res = minimize(
        loss_grad,
        np.array([1.0, 0.0]),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-9, "ftol": 64 * np.finfo(float).eps},
    )
    a, b = (float(v) for v in res.x)
    if not (math.isfinite(a) and math.isfinite(b)):
        msg = f"Platt scaling failed to optimize. Reason from scipy: {res.message}"
        raise RuntimeError(msg)
    return a, b


def _fit_logistic(features: Array, y: Array, start: Array, what: str) -> tuple[Array, float]:
    """Unregularized logistic maximum likelihood: weights (last one the intercept), mean NLL."""

    def loss_grad(w: Array) -> tuple[float, Array]:
        z = features @ w[:-1] + w[-1]
        g = expit(z) - y
        return _mean_nll(z, y), np.append(features.T @ g, g.sum()) / y.size

    res = minimize(
        loss_grad,
        start,
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-9, "ftol": 64 * np.finfo(float).eps, "maxiter": 10_000},
    )
    if not np.isfinite(res.x).all():
        msg = f"{what} failed to optimize. Reason from scipy: {res.message}"
        raise RuntimeError(msg)
    return res.x, float(res.fun)


def _beta_features(s: Array) -> Array:
    clipped = np.clip(s, _PROB_CLIP, 1.0 - _PROB_CLIP)
    return np.column_stack([np.log(clipped), -np.log1p(-clipped)])


def _fit_beta(s: Array, y: Array) -> tuple[float, float, float]:
    """Beta calibration ``(a, b, c)``: maximum likelihood subject to ``a, b >= 0``.

    As in the betacal package: fit ``[ln s, -ln(1 - s)]`` unregularized and, if a coefficient
    comes out negative, refit without that feature. The loss is convex, so the constrained optimum
    is the unconstrained one when that is feasible and otherwise the best feasible fit with one or
    both coefficients held at 0 (betacal's refit, also covering the case it leaves open, where the
    refit coefficient is negative too).
    """
    feats = _beta_features(s)
    w, _ = _fit_logistic(feats, y, np.array([1.0, 1.0, 0.0]), "Beta calibration")
    if w[0] >= 0.0 and w[1] >= 0.0:
        return float(w[0]), float(w[1]), float(w[2])
    base = float(logit(np.clip(y.mean(), _PROB_CLIP, 1.0 - _PROB_CLIP)))
    best = (_mean_nll(np.full(y.size, base), y), 0.0, 0.0, base)
    for keep in (0, 1):
        wk, nll = _fit_logistic(feats[:, [keep]], y, np.array([1.0, 0.0]), "Beta calibration")
        if wk[0] >= 0.0 and nll < best[0]:
            coef = (float(wk[0]), 0.0) if keep == 0 else (0.0, float(wk[0]))
            best = (nll, *coef, float(wk[1]))
    return best[1], best[2], best[3]


def _fit_isotonic(s: Array, y: Array) -> tuple[Array, Array]:
    """Breakpoints of scikit-learn's isotonic fit; ``np.interp`` on them reproduces ``predict``."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(s, y)
    x_thr = np.asarray(iso.X_thresholds_, dtype=np.float64)
    # Pool-adjacent-violators output is non-decreasing; the running max (a no-op then) only
    # guarantees a file this writes is one load_calibrator accepts.
    y_thr = np.maximum.accumulate(np.asarray(iso.y_thresholds_, dtype=np.float64))
    if x_thr.size > _MAX_POINTS:
        msg = (
            f"isotonic regression produced {x_thr.size:,} breakpoints, more than the "
            f"{_MAX_POINTS:,} a calibrator file may hold. Round the scores (e.g. to 4 decimals) "
            "or use 'histogram'."
        )
        raise ValueError(msg)
    return x_thr, y_thr


def _fit_histogram(s: Array, y: Array, n_bins: int) -> tuple[Array, Array]:
    """Equal-mass bins closed on the right: interior edges and each bin's fraction correct.

    The edge between bins j and j+1 is the ceil(j * n / n_bins)-th smallest score, so with
    distinct scores bin j holds rows ceil((j-1) n / B) + 1 .. ceil(j n / B) of the sorted data.
    Repeated edges (tied scores) are merged; so is an empty top bin (ties at the maximum). Every
    remaining bin then holds at least one training score.
    """
    ordered = np.sort(s)
    ranks = -(-s.size * np.arange(1, n_bins, dtype=np.int64) // n_bins)  # ceil(j n / B), 1-based
    edges = np.unique(ordered[ranks - 1])
    if edges.size and edges[-1] >= ordered[-1]:
        edges = edges[:-1]
    ids = np.searchsorted(edges, s, side="left")
    counts = np.bincount(ids, minlength=edges.size + 1)
    values = np.bincount(ids, weights=y, minlength=edges.size + 1) / counts
    return edges.astype(np.float64), values


# ----------------------------------------------------------------------------- estimators


class BaseCalibrator(ABC):
    """Common machinery: input conversion, fitted checks and JSON (de)serialization."""

    method: ClassVar[str]

    @property
    @abstractmethod
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns this calibrator reads, in order."""

    @abstractmethod
    def _fit(self, x: Array, y: Array) -> None: ...

    @abstractmethod
    def _predict(self, x: Array) -> Array: ...

    @abstractmethod
    def _get_params(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self: ...

    def fit(self, X: Any, y: Any) -> Self:
        """Fit on labelled evidence.

        Args:
            X: Signals objects, mappings or a 2-D array (see module docstring).
            y: 0/1 (or boolean) correctness labels, one per row.

        Returns:
            self, fitted.

        Raises:
            ValueError: On malformed inputs or fewer than 2 examples of either class.
        """
        if isinstance(getattr(self, "features", None), str):
            msg = "features must be a sequence of feature names, not a single string."
            raise ValueError(msg)
        names = self.feature_names
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            msg = f"feature names must be unique, non-empty strings, got {names!r}."
            raise ValueError(msg)
        x = _as_matrix(X, names)
        labels = _as_labels(y, x.shape[0])
        _require_both_classes(labels, "the training data")
        self._fit(x, labels)
        self.n_samples_ = int(x.shape[0])
        self.fitted_at_ = datetime.now(UTC).isoformat(timespec="seconds")
        return self

    def predict(self, X: Any) -> Array:
        """Return calibrated probabilities of correctness, shape (n_samples,), in [0, 1].

        Raises:
            CalibratorNotFittedError: If called before ``fit``.
            ValueError: On malformed inputs or absent feature keys.
        """
        self._check_fitted()
        return np.clip(self._predict(_as_matrix(X, self.feature_names)), 0.0, 1.0)

    def predict_one(self, signals: Any) -> float:
        """Calibrated probability for one ``Signals`` object or mapping."""
        return float(self.predict([signals])[0])

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_samples_"):
            msg = (
                f"This {type(self).__name__} is not fitted yet. Call fit(X, y) with labelled "
                "examples or load one with load_calibrator(path)."
            )
            raise CalibratorNotFittedError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Serialize the fitted calibrator into a JSON-ready dict."""
        self._check_fitted()
        return {
            "format": FILE_FORMAT,
            "format_version": FILE_FORMAT_VERSION,
            "library_version": __version__,
            "method": self.method,
            "feature_names": list(self.feature_names),
            "params": self._get_params(),
            "n_samples": self.n_samples_,
            "fitted_at": self.fitted_at_,
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> BaseCalibrator:
        """Rebuild a calibrator from :meth:`to_dict` output, validating every field.

        Raises:
            CalibratorFileError: Naming ``source`` and the bad field.
        """
        top = _Reader(source, data, "")
        top.require_keys(
            {
                "format",
                "format_version",
                "library_version",
                "method",
                "feature_names",
                "params",
                "n_samples",
                "fitted_at",
            }
        )
        if data["format"] != FILE_FORMAT:
            raise top.error("format", f"must be {FILE_FORMAT!r}; this is not a calibrator file")
        version = top.integer("format_version", low=1)
        if version > FILE_FORMAT_VERSION:
            raise top.error(
                "format_version",
                f"is {version}, newer than the supported "
                f"{FILE_FORMAT_VERSION}; upgrade langchain-calibrate to load it",
            )
        top.string("library_version")
        method = top.string("method")
        klass = CALIBRATORS.get(method)
        if klass is None:
            raise top.error("method", f"is {method!r}, expected one of {sorted(CALIBRATORS)}")
        if cls is not BaseCalibrator and klass is not cls:
            raise top.error("method", f"is {method!r}, not {cls.method!r}; use load_calibrator")
        names = data["feature_names"]
        if (
            not isinstance(names, list)
            or not names
            or len(set(names)) != len(names)
            or not all(isinstance(n, str) and n for n in names)
        ):
            raise top.error("feature_names", "must be a non-empty list of unique strings")
        n_samples = top.integer("n_samples", low=0)
        fitted_at = top.string("fitted_at")
        try:
            datetime.fromisoformat(fitted_at)
        except ValueError:
            raise top.error("fitted_at", "must be an ISO 8601 timestamp") from None
        if issubclass(klass, _SingleScoreCalibrator) and len(names) != 1:
            raise top.error("feature_names", f"must hold exactly one name for {method!r}")
        params = _Reader(source, data["params"], "params.", len(names))
        obj = klass._from_params(tuple(names), params)
        obj.n_samples_, obj.fitted_at_ = n_samples, fitted_at
        return obj

    def save(self, path: str | PathLike[str]) -> None:
        """Write the fitted calibrator to ``path`` as JSON (load it with :func:`load_calibrator`).

        Example:
            >>> cal.save("calibrator.json")  # doctest: +SKIP
        """
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        Path(path).write_text(text + "\n", encoding="utf-8")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({args})"


class _SingleScoreCalibrator(BaseCalibrator):
    """Shared code for calibrators of one probability-valued feature (default ``sequence_prob``)."""

    _monotone: ClassVar[bool] = True
    """Whether every fitted map is monotone, so its lowest value is at an end of the range."""

    def __init__(self, *, feature: str = "sequence_prob") -> None:
        self.feature = feature

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (self.feature,)

    @abstractmethod
    def _fit_scores(self, s: Array, y: Array) -> None:
        """Fit on scores in [0, 1] (none missing) and their 0/1 labels."""

    @abstractmethod
    def _map_scores(self, s: Array) -> Array:
        """Calibrated probabilities for scores in [0, 1] (none missing)."""

    def _fit(self, x: Array, y: Array) -> None:
        present = ~np.isnan(x[:, 0])
        _require_both_classes(y[present], f"rows with {self.feature!r} present")
        scores = _check_scores(x[present, 0], self.feature)
        self._fit_scores(scores, y[present])
        # A missing score is treated as the most pessimistic training score, the one the fitted
        # map sends lowest: for a monotone map, one of the two ends of the training range.
        if self._monotone:
            candidates = np.array([scores.min(), scores.max()])
        else:
            candidates = np.unique(scores)
        self.missing_value_ = float(candidates[np.argmin(self._map_scores(candidates))])

    def _predict(self, x: Array) -> Array:
        s = np.where(np.isnan(x[:, 0]), self.missing_value_, x[:, 0])
        return self._map_scores(_check_scores(s, self.feature))


class _LogitScoreCalibrator(_SingleScoreCalibrator):
    """Single-score calibrators acting on ``logit(s)``, with s clipped to [1e-6, 1 - 1e-6]."""

    @abstractmethod
    def _map(self, logits: Array) -> Array: ...

    @abstractmethod
    def _fit_logits(self, logits: Array, y: Array) -> None: ...

    def _fit_scores(self, s: Array, y: Array) -> None:
        self._fit_logits(_score_logits(s, self.feature), y)

    def _map_scores(self, s: Array) -> Array:
        return self._map(_score_logits(s, self.feature))


class TemperatureScaling(_LogitScoreCalibrator):
    """Temperature scaling of one probability: ``p = sigmoid(logit(s) / T)``, T fit by NLL.

    Keeps the ranking of scores (so AUROC is unchanged); T > 1 softens overconfidence.

    Args:
        feature: Name of the probability-valued feature to rescale.

    Example:
        >>> cal = TemperatureScaling().fit([[0.9], [0.8], [0.3], [0.6]], [1, 0, 0, 1])
        >>> 0.0 < cal.predict_one({"sequence_prob": 0.7}) < 1.0
        True
    """

    method = "temperature"

    def _fit_logits(self, logits: Array, y: Array) -> None:
        self.temperature_ = _fit_temperature(logits, y)

    def _map(self, logits: Array) -> Array:
        return expit(logits / self.temperature_)

    def _get_params(self) -> dict[str, Any]:
        return {"temperature": self.temperature_, "missing_value": self.missing_value_}

    @classmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self:
        params.require_keys({"temperature", "missing_value"})
        obj = cls(feature=names[0])
        obj.temperature_ = params.number("temperature", low=0.0, low_open=True)
        obj.missing_value_ = params.number("missing_value", low=0.0, high=1.0)
        return obj


class PlattScaling(_LogitScoreCalibrator):
    """Platt scaling of one probability: ``p = sigmoid(a * logit(s) + b)``, fit by NLL.

    Args:
        feature: Name of the probability-valued feature to recalibrate.

    Example:
        >>> cal = PlattScaling().fit([[0.9], [0.8], [0.3], [0.6]], [1, 0, 0, 1])
        >>> sorted(cal.to_dict()["params"])
        ['a', 'b', 'missing_value']
    """

    method = "platt"

    def _fit_logits(self, logits: Array, y: Array) -> None:
        self.a_, self.b_ = _fit_platt(logits, y)

    def _map(self, logits: Array) -> Array:
        return expit(self.a_ * logits + self.b_)

    def _get_params(self) -> dict[str, Any]:
        return {"a": self.a_, "b": self.b_, "missing_value": self.missing_value_}

    @classmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self:
        params.require_keys({"a", "b", "missing_value"})
        obj = cls(feature=names[0])
        obj.a_, obj.b_ = params.number("a"), params.number("b")
        obj.missing_value_ = params.number("missing_value", low=0.0, high=1.0)
        return obj


class BetaCalibration(_SingleScoreCalibrator):
    """Beta calibration of one probability (Kull, Silva Filho & Flach, AISTATS 2017).

    ``p = sigmoid(a * ln(s) - b * ln(1 - s) + c)`` with ``a, b >= 0``, fit by unregularized
    maximum likelihood as in the ``betacal`` package: a logistic regression on
    ``[ln s, -ln(1 - s)]``, refit without a feature whose coefficient comes out negative (which
    gives the maximum-likelihood fit under ``a, b >= 0``). ``s`` is clipped to [1e-6, 1 - 1e-6]
    before the logs. The family contains the identity (``a = b = 1, c = 0``), so it will not
    un-calibrate a calibrated score, and Platt scaling is the special case ``a = b``; ``a != b``
    lets the map bend differently near 0 and near 1, which helps with skewed scores. With
    ``a, b >= 0`` the map never decreases with the score.

    Args:
        feature: Name of the probability-valued feature to recalibrate.

    Example:
        >>> cal = BetaCalibration().fit([[0.9], [0.8], [0.3], [0.6], [0.2]], [1, 0, 0, 1, 0])
        >>> sorted(cal.to_dict()["params"])
        ['a', 'b', 'c', 'missing_value']
    """

    method = "beta"

    def _fit_scores(self, s: Array, y: Array) -> None:
        self.a_, self.b_, self.c_ = _fit_beta(s, y)

    def _map_scores(self, s: Array) -> Array:
        feats = _beta_features(s)
        return expit(self.a_ * feats[:, 0] + self.b_ * feats[:, 1] + self.c_)

    def _get_params(self) -> dict[str, Any]:
        return {"a": self.a_, "b": self.b_, "c": self.c_, "missing_value": self.missing_value_}

    @classmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self:
        params.require_keys({"a", "b", "c", "missing_value"})
        obj = cls(feature=names[0])
        obj.a_, obj.b_ = params.number("a", low=0.0), params.number("b", low=0.0)
        obj.c_ = params.number("c")
        obj.missing_value_ = params.number("missing_value", low=0.0, high=1.0)
        return obj


class IsotonicCalibrator(_SingleScoreCalibrator):
    """Isotonic regression of correctness on one probability (Zadrozny & Elkan 2002).

    Fits scikit-learn's ``IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)`` on the raw
    score (no clipping or logit) and keeps only its breakpoints ``X_thresholds_`` (strictly
    increasing) and ``y_thresholds_`` (non-decreasing, in [0, 1]). Prediction is ``np.interp`` on
    them, flat beyond the training range, which is what scikit-learn's ``predict`` computes; a
    loaded calibrator therefore predicts exactly what the fitted one did, with no scikit-learn
    object involved. The map is non-decreasing in the score, flat within each step (so it ties
    scores it had ranked), and can reach exactly 0 or 1 at the ends.

    Non-parametric and data-hungry: fitting on fewer than 1,000 labels warns with
    :class:`SmallCalibrationSetWarning`.

    Args:
        feature: Name of the probability-valued feature to recalibrate.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(size=2000)
        >>> cal = IsotonicCalibrator().fit(s.reshape(-1, 1), rng.uniform(size=2000) < s**2)
        >>> bool(cal.predict_one({"sequence_prob": 0.9}) > cal.predict_one({"sequence_prob": 0.2}))
        True
    """

    method = "isotonic"

    def _fit_scores(self, s: Array, y: Array) -> None:
        _warn_if_small(self, s.size)
        self.X_thresholds_, self.y_thresholds_ = _fit_isotonic(s, y)

    def _map_scores(self, s: Array) -> Array:
        return np.interp(s, self.X_thresholds_, self.y_thresholds_)

    def _get_params(self) -> dict[str, Any]:
        return {
            "x_thresholds": self.X_thresholds_.tolist(),
            "y_thresholds": self.y_thresholds_.tolist(),
            "missing_value": self.missing_value_,
        }

    @classmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self:
        params.require_keys({"x_thresholds", "y_thresholds", "missing_value"})
        obj = cls(feature=names[0])
        x_thr = params.number_list("x_thresholds", low=0.0, high=1.0, min_length=1)
        params.check_increasing("x_thresholds", x_thr, strict=True)
        y_thr = params.number_list("y_thresholds", low=0.0, high=1.0, min_length=1)
        if y_thr.size != x_thr.size:
            raise params.error(
                "y_thresholds",
                f"has {y_thr.size} values but x_thresholds has {x_thr.size}; they must pair up",
            )
        params.check_increasing("y_thresholds", y_thr, strict=False)
        obj.X_thresholds_, obj.y_thresholds_ = x_thr, y_thr
        obj.missing_value_ = params.number("missing_value", low=0.0, high=1.0)
        return obj


class HistogramBinningCalibrator(_SingleScoreCalibrator):
    """Histogram binning of one probability (Zadrozny & Elkan 2001) with equal-mass bins.

    The score range is cut at training-score quantiles into ``n_bins`` bins holding equally many
    training rows (the edge after bin j is the ``ceil(j * n / n_bins)``-th smallest training
    score); bins are closed on the right, like
    :func:`langchain_calibrate.metrics.calibration_curve`. Tied scores never straddle an edge,
    so with ties there can be fewer bins than asked for. Each bin predicts the plain fraction of
    correct answers among its training rows, with no smoothing: a bin without a correct (or
    without an incorrect) answer predicts exactly 0 (or 1). The map is a step function and need
    not be monotone; a missing score gets the lowest bin's value.

    Non-parametric and data-hungry (B bins need on the order of B / eps^2 labels for error eps,
    Kumar et al. 2019): fitting on fewer than 1,000 labels warns with
    :class:`SmallCalibrationSetWarning`.

    Args:
        feature: Name of the probability-valued feature to recalibrate.
        n_bins: Number of equal-mass bins to ask for, from 1 to 100,000.

    Example:
        >>> s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
        >>> cal = HistogramBinningCalibrator(n_bins=3).fit(s, [0, 1, 1, 0, 1, 1])  # warns: 6 labels
        >>> cal.bin_edges_.tolist(), cal.bin_values_.tolist()
        ([0.2, 0.4], [0.5, 0.5, 1.0])
    """

    method = "histogram"
    _monotone = False

    def __init__(self, *, feature: str = "sequence_prob", n_bins: int = 15) -> None:
        super().__init__(feature=feature)
        self.n_bins = n_bins

    def _fit_scores(self, s: Array, y: Array) -> None:
        n_bins = self.n_bins
        if isinstance(n_bins, bool) or not isinstance(n_bins, Integral):
            msg = f"n_bins must be an integer, got {n_bins!r}; 15 is the usual choice."
            raise ValueError(msg)
        if not 1 <= n_bins <= _MAX_POINTS:
            msg = f"n_bins must be between 1 and {_MAX_POINTS:,}, got {n_bins}; 15 is usual."
            raise ValueError(msg)
        _warn_if_small(self, s.size)
        self.bin_edges_, self.bin_values_ = _fit_histogram(s, y, int(n_bins))

    def _map_scores(self, s: Array) -> Array:
        return self.bin_values_[np.searchsorted(self.bin_edges_, s, side="left")]

    def _get_params(self) -> dict[str, Any]:
        return {
            "n_bins": int(self.n_bins),
            "bin_edges": self.bin_edges_.tolist(),
            "bin_values": self.bin_values_.tolist(),
            "missing_value": self.missing_value_,
        }

    @classmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self:
        params.require_keys({"n_bins", "bin_edges", "bin_values", "missing_value"})
        n_bins = params.integer("n_bins", low=1)
        if n_bins > _MAX_POINTS:
            raise params.error("n_bins", f"is {n_bins}, more than the limit of {_MAX_POINTS:,}")
        obj = cls(feature=names[0], n_bins=n_bins)
        edges = params.number_list("bin_edges", low=0.0, high=1.0, max_length=n_bins - 1)
        params.check_increasing("bin_edges", edges, strict=True)
        values = params.number_list("bin_values", low=0.0, high=1.0, min_length=1)
        if values.size != edges.size + 1:
            raise params.error(
                "bin_values",
                f"has {values.size} values but bin_edges makes {edges.size + 1} bins; "
                "there must be one value per bin",
            )
        obj.bin_edges_, obj.bin_values_ = edges, values
        obj.missing_value_ = params.number("missing_value", low=0.0, high=1.0)
        return obj


_MAX_ABS_FEATURE = 1e12
"""Feature values beyond this are refused in fit and clipped in predict."""
_MAX_Z = 1e6
"""Standardized values are clipped here so that z @ coef stays finite."""


class LogisticCalibrator(BaseCalibrator):
    """L2-regularized logistic regression over standardized evidence features.

    Args:
        features: Feature names to use; ``None`` means :data:`DEFAULT_FEATURE_NAMES`.
        C: Inverse regularization strength, as in scikit-learn.

    Example:
        >>> X = [[0.9, 3.0], [0.2, 1.0], [0.8, 2.0], [0.4, 0.0]]
        >>> cal = LogisticCalibrator(features=["sequence_prob", "n_documents"]).fit(X, [1, 0, 1, 0])
        >>> len(cal.coef_)
        2
    """

    method = "logistic"

    def __init__(self, *, features: Sequence[str] | None = None, C: float = 1.0) -> None:
        self.features = features
        self.C = C

    @property
    def feature_names(self) -> tuple[str, ...]:
        return DEFAULT_FEATURE_NAMES if self.features is None else tuple(self.features)

    def _fit(self, x: Array, y: Array) -> None:
        if (
            isinstance(self.C, bool)
            or not isinstance(self.C, int | float)
            or not (0.0 < self.C < math.inf)
        ):
            msg = f"C must be a positive finite number, got {self.C!r}."
            raise ValueError(msg)
        missing = np.isnan(x)
        huge = np.abs(np.where(missing, 0.0, x)) > _MAX_ABS_FEATURE
        if huge.any():
            cols = sorted({self.feature_names[j] for j in np.nonzero(huge)[1]})
            msg = (
                f"X has values beyond +-{_MAX_ABS_FEATURE:g} in {cols}; signals are on their "
                "natural scale (probabilities, logprobs, word counts). Rescale or drop those "
                "features."
            )
            raise ValueError(msg)
        seen = (~missing).any(axis=0)
        filled_nan = np.where(missing, 0.0, x)
        counts = np.maximum((~missing).sum(axis=0), 1)
        mean = filled_nan.sum(axis=0) / counts
        lo = np.where(seen, np.nanmin(np.where(seen, x, 0.0), axis=0), mean)
        hi = np.where(seen, np.nanmax(np.where(seen, x, 0.0), axis=0), mean)
        filled = np.where(missing, mean, x)
        # Constant or never-observed columns carry no information; scale 0 drops them.
        active = hi > lo
        scale = np.where(active, np.sqrt(((filled - mean) ** 2).sum(axis=0) / counts), 0.0)
        coef = np.zeros(x.shape[1])
        intercept = float(logit(np.clip(y.mean(), _PROB_CLIP, 1 - _PROB_CLIP)))
        if active.any():
            z = (filled[:, active] - mean[active]) / scale[active]
            lr = LogisticRegression(C=float(self.C), solver="lbfgs", max_iter=1000).fit(z, y)
            coef[active] = lr.coef_[0]
            intercept = float(lr.intercept_[0])
        # Missing evidence must never add confidence. Fitting uses mean imputation, which puts
        # missing rows at z = 0 so they add no slope information and cannot flip a coefficient's
        # sign. Prediction instead imputes the training value with the *least* contribution
        # (min if coef > 0, max if coef < 0), so a missing feature scores no higher than any
        # observed training value. The cost is deliberate underconfidence on incomplete rows.
        self.missing_values_ = tuple(
            float(v) for v in np.where(coef > 0, lo, np.where(coef < 0, hi, mean))
        )
        self.mean_ = tuple(float(v) for v in mean)
        self.scale_ = tuple(float(v) for v in scale)
        self.coef_ = tuple(float(v) for v in coef)
        self.intercept_ = intercept

    def _predict(self, x: Array) -> Array:
        x = np.where(np.isnan(x), np.asarray(self.missing_values_), x)
        # Far outside any training range the exact value carries no more information, and
        # unbounded inputs would overflow into inf - inf = NaN.
        x = np.clip(x, -_MAX_ABS_FEATURE, _MAX_ABS_FEATURE)
        scale = np.asarray(self.scale_)
        safe = np.where(scale > 0, scale, 1.0)
        with np.errstate(over="ignore"):
            z = np.where(scale > 0, (x - np.asarray(self.mean_)) / safe, 0.0)
        z = np.clip(z, -_MAX_Z, _MAX_Z)
        return expit(self.intercept_ + z @ np.asarray(self.coef_))

    def _get_params(self) -> dict[str, Any]:
        return {
            "C": float(self.C),
            "coef": list(self.coef_),
            "intercept": self.intercept_,
            "mean": list(self.mean_),
            "scale": list(self.scale_),
            "missing_values": list(self.missing_values_),
        }

    @classmethod
    def _from_params(cls, names: tuple[str, ...], params: _Reader) -> Self:
        params.require_keys({"C", "coef", "intercept", "mean", "scale", "missing_values"})
        obj = cls(features=names, C=params.number("C", low=0.0, low_open=True))
        obj.coef_, obj.intercept_ = params.numbers("coef"), params.number("intercept")
        obj.mean_, obj.scale_ = params.numbers("mean"), params.numbers("scale", low=0.0)
        obj.missing_values_ = params.numbers("missing_values")
        return obj


# ----------------------------------------------------------------------------- file loading


class _Reader:
    """Explicit type/range checks for a calibrator document; every failure names the field."""

    def __init__(self, source: str, data: Any, prefix: str, n_features: int = 0) -> None:
        self.source, self.prefix, self.n_features = source, prefix, n_features
        if not isinstance(data, dict):
            raise self.error("", "must be a JSON object")
        self.data: dict[str, Any] = data

    def error(self, field: str, problem: str) -> CalibratorFileError:
        name = (self.prefix + field).rstrip(".")
        where = f"field {name!r}" if name else "document"
        return CalibratorFileError(
            f"{self.source}: {where} {problem}. The calibrator was not loaded; re-fit and save it "
            "again with calibrator.save(path), or restore an untampered copy."
        )

    def require_keys(self, expected: set[str]) -> None:
        for key in sorted(set(self.data) - expected, key=str):
            raise self.error(str(key), "is not a recognised field")
        for key in sorted(expected - set(self.data)):
            raise self.error(key, "is missing")

    def string(self, field: str) -> str:
        value = self.data[field]
        if not isinstance(value, str):
            raise self.error(field, f"must be a string, got {type(value).__name__}")
        return value

    def integer(self, field: str, *, low: int) -> int:
        value = self.data[field]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.error(field, f"must be an integer >= {low}, got {str(value)[:40]!r}")
        return value

    def _check_number(
        self, field: str, value: Any, low: float, high: float, low_open: bool
    ) -> float:
        if isinstance(value, _NonFinite):
            raise self.error(field, f"must be a finite number, got {value.literal}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(
                field, f"must be a number, got {type(value).__name__} {str(value)[:40]!r}"
            )
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        in_range = (low < number if low_open else low <= number) and number <= high
        if not (math.isfinite(number) and in_range):
            raise self.error(
                field,
                f"must be a finite number in {'(' if low_open else '['}"
                f"{low:g}, {high:g}], got {str(value)[:40]!r}",
            )
        return number

    def number(
        self, field: str, *, low: float = -math.inf, high: float = math.inf, low_open: bool = False
    ) -> float:
        return self._check_number(field, self.data[field], low, high, low_open)

    def numbers(self, field: str, *, low: float = -math.inf) -> tuple[float, ...]:
        values = self.data[field]
        if not isinstance(values, list) or len(values) != self.n_features:
            raise self.error(
                field, f"must be a list of {self.n_features} numbers, one per feature name"
            )
        return tuple(
            self._check_number(f"{field}[{i}]", v, low, math.inf, False)
            for i, v in enumerate(values)
        )

    def number_list(
        self,
        field: str,
        *,
        low: float = -math.inf,
        high: float = math.inf,
        min_length: int = 0,
        max_length: int = _MAX_POINTS,
    ) -> Array:
        values = self.data[field]
        if not isinstance(values, list):
            raise self.error(field, f"must be a list of numbers, got {type(values).__name__}")
        if not min_length <= len(values) <= max_length:
            raise self.error(
                field,
                f"must hold {min_length} to {max_length:,} numbers, got {len(values):,}",
            )
        return np.array(
            [
                self._check_number(f"{field}[{i}]", v, low, high, False)
                for i, v in enumerate(values)
            ],
            dtype=np.float64,
        )

    def check_increasing(self, field: str, values: Array, *, strict: bool) -> None:
        steps = np.diff(values)
        bad = np.flatnonzero(steps <= 0.0 if strict else steps < 0.0)
        if bad.size:
            i = int(bad[0]) + 1
            order = "strictly increasing" if strict else "non-decreasing"
            raise self.error(
                f"{field}[{i}]",
                f"is {float(values[i])!r}, after {float(values[i - 1])!r}; the list must be "
                f"{order}",
            )


class _NonFinite:
    """Stands in for a ``NaN`` / ``Infinity`` literal, so the field check can name the field."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return self.literal


def _mark_constant(name: str) -> _NonFinite:
    # Every field of a calibrator document is type-checked, so the marker can never be used.
    return _NonFinite(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        msg = f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}"
        raise ValueError(msg)
    return dict(pairs)


def load_calibrator(path: str | PathLike[str]) -> BaseCalibrator:
    """Load a calibrator saved with :meth:`BaseCalibrator.save` (JSON only; nothing is executed).

    Args:
        path: Path of the JSON file.

    Returns:
        The fitted calibrator of the stored ``method``.

    Raises:
        CalibratorFileError: If the file is not valid JSON or any field is wrong.
        OSError: If the file cannot be read.

    Example:
        >>> cal = load_calibrator("calibrator.json")  # doctest: +SKIP
    """
    source = str(path)
    try:
        data = json.loads(
            Path(path).read_bytes().decode("utf-8"),
            parse_constant=_mark_constant,
            object_pairs_hook=_no_duplicates,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        msg = (
            f"{source}: not a valid calibrator JSON file ({exc}). Point to a file written by "
            "calibrator.save(path)."
        )
        raise CalibratorFileError(msg) from exc
    return BaseCalibrator.from_dict(data, source=source)


CALIBRATORS: dict[str, type[BaseCalibrator]] = {
    "temperature": TemperatureScaling,
    "platt": PlattScaling,
    "beta": BetaCalibration,
    "isotonic": IsotonicCalibrator,
    "histogram": HistogramBinningCalibrator,
    "logistic": LogisticCalibrator,
}


def make_calibrator(method: str, **kwargs: Any) -> BaseCalibrator:
    """Create an unfitted calibrator by name.

    Args:
        method: One of ``"temperature"``, ``"platt"``, ``"beta"``, ``"isotonic"``,
            ``"histogram"``, ``"logistic"`` (the keys of :data:`CALIBRATORS`).
        **kwargs: Keyword parameters of that calibrator.

    Raises:
        ValueError: If ``method`` is unknown.

    Example:
        >>> make_calibrator("platt", feature="sequence_prob")
        PlattScaling(feature='sequence_prob')
    """
    try:
        klass = CALIBRATORS[method]
    except (KeyError, TypeError):
        msg = f"Unknown calibration method {method!r}; choose one of {sorted(CALIBRATORS)}."
        raise ValueError(msg) from None
    return klass(**kwargs)


# ----------------------------------------------------------------------------- model selection

_SIMPLEST_FIRST = ("temperature", "platt", "beta", "logistic", "histogram", "isotonic")
_NONPARAMETRIC = frozenset({"isotonic", "histogram"})


@dataclass(frozen=True)
class CalibratorSelection:
    """What :func:`select_calibrator` chose, the evidence, and a sentence explaining it.

    Attributes:
        calibrator: The chosen method refit on all the data, ready to ``predict`` or ``save``.
        method: Its name in :data:`CALIBRATORS`.
        scores: Mean cross-validated NLL in nats (lower is better) of every method that could be
            fit on all folds, in the order tried.
        score_std: Standard deviation (ddof=1) of the per-fold NLL, same keys as ``scores``.
        not_eligible: Methods that were scored but could not be chosen, with the reason.
        failed: Methods that could not be fit on some fold, with the error message.
        n_samples: Labelled rows used.
        cv: Number of folds.
        reason: E.g. "chose platt: mean CV NLL 0.612 vs 0.618 for the next best, beta (5
            stratified folds, 300 labels). ...".
    """

    calibrator: BaseCalibrator
    method: str
    scores: dict[str, float]
    score_std: dict[str, float]
    not_eligible: dict[str, str]
    failed: dict[str, str]
    n_samples: int
    cv: int
    reason: str

    def __str__(self) -> str:
        return self.reason


def _check_selection_args(
    methods: Any, cv: Any, seed: Any, feature: Any, min_labels: Any, tie_tolerance: Any
) -> tuple[str, ...]:
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
        msg = f"methods must be a non-empty sequence of names, e.g. ('platt',), got {methods!r}."
        raise ValueError(msg)
    names = tuple(methods)
    unknown = [m for m in names if m not in CALIBRATORS]
    if unknown:
        msg = f"Unknown calibration methods {unknown}; choose from {sorted(CALIBRATORS)}."
        raise ValueError(msg)
    if len(set(names)) != len(names):
        msg = f"methods lists a method twice: {list(names)}; name each method once."
        raise ValueError(msg)
    if isinstance(cv, bool) or not isinstance(cv, Integral) or cv < 2:
        msg = f"cv must be an integer number of folds >= 2, got {cv!r}; 5 is the usual choice."
        raise ValueError(msg)
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        msg = f"seed must be an integer, got {seed!r}."
        raise ValueError(msg)
    if not isinstance(feature, str) or not feature:
        msg = f"feature must be a feature name such as 'sequence_prob', got {feature!r}."
        raise ValueError(msg)
    if isinstance(min_labels, bool) or not isinstance(min_labels, Integral) or min_labels < 0:
        msg = f"nonparametric_min_labels must be an integer >= 0, got {min_labels!r}."
        raise ValueError(msg)
    if (
        isinstance(tie_tolerance, bool)
        or not isinstance(tie_tolerance, int | float)
        or not (0.0 <= tie_tolerance < math.inf)
    ):
        msg = f"tie_tolerance must be a finite number >= 0 (nats), got {tie_tolerance!r}."
        raise ValueError(msg)
    return names


def _selection_columns(
    X: Any, names: tuple[str, ...], feature: str, features: Sequence[str] | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """An array's column names (empty for Signals / mappings), and the features of ``logistic``."""
    if isinstance(features, str) or (features is not None and len(features) == 0):
        msg = f"features must be a non-empty sequence of feature names, got {features!r}."
        raise ValueError(msg)
    single = any(issubclass(CALIBRATORS[m], _SingleScoreCalibrator) for m in names)
    if _is_rows(X):
        return (), DEFAULT_FEATURE_NAMES if features is None else tuple(features)
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 1))  # _as_matrix explains the conversion error
    n_cols = arr.shape[1] if arr.ndim == 2 else 1
    if features is not None:
        columns = tuple(features)
    elif n_cols == 1:
        columns = (feature,)
    elif n_cols == len(DEFAULT_FEATURE_NAMES):
        columns = DEFAULT_FEATURE_NAMES
    else:
        msg = (
            f"X is an array with {n_cols} columns; name them with features=[...] (a one-column "
            f"array is read as {feature!r}, an {len(DEFAULT_FEATURE_NAMES)}-column one as "
            "DEFAULT_FEATURE_NAMES)."
        )
        raise ValueError(msg)
    if single and feature not in columns:
        msg = (
            f"feature {feature!r} is not among X's columns {list(columns)}; pass feature= one of "
            "them for the single-score methods."
        )
        raise ValueError(msg)
    return columns, columns


def _decimals(a: float, b: float) -> int:
    """Enough decimals (3 to 6) that two different scores do not print the same."""
    return next((d for d in range(3, 7) if f"{a:.{d}f}" != f"{b:.{d}f}"), 6)


def _selection_reason(
    *,
    chosen: str,
    best: str,
    scores: dict[str, float],
    eligible: list[str],
    not_eligible: dict[str, str],
    failed: dict[str, str],
    silenced: dict[str, int],
    cv: int,
    n: int,
    n_present: int,
    feature: str,
) -> str:
    others = sorted((m for m in eligible if m != chosen), key=scores.__getitem__)
    if chosen != best:
        d = _decimals(scores[chosen], scores[best])
        text = (
            f"chose {chosen}: mean CV NLL {scores[chosen]:.{d}f}, tied with the lowest, {best} "
            f"({scores[best]:.{d}f}), within the tolerance, so the method with fewer parameters "
            "won"
        )
    elif others:
        d = _decimals(scores[chosen], scores[others[0]])
        text = (
            f"chose {chosen}: mean CV NLL {scores[chosen]:.{d}f} vs {scores[others[0]]:.{d}f} "
            f"for the next best, {others[0]}"
        )
    else:
        text = f"chose {chosen}: the only eligible method, mean CV NLL {scores[chosen]:.3f}"
    text += f" ({cv} stratified folds, {n} labels)."
    if not_eligible:
        listed = " and ".join(f"{m} ({scores[m]:.3f})" for m in not_eligible)
        verb = "was" if len(not_eligible) == 1 else "were"
        text += f" {listed} {verb} scored but not eligible: {next(iter(not_eligible.values()))}"
        quiet = [m for m in not_eligible if m in silenced]
        text += " (SmallCalibrationSetWarning silenced in cross-validation)." if quiet else "."
    if chosen in _NONPARAMETRIC and n_present < _NONPARAMETRIC_MIN_LABELS:
        text += (
            f" {chosen} is non-parametric and only {n_present} labels have {feature!r} (fewer "
            f"than {_NONPARAMETRIC_MIN_LABELS:,}), so it may overfit; consider more labels."
        )
    loud = [m for m in silenced if m not in not_eligible]
    if loud:
        text += (
            f" SmallCalibrationSetWarning was silenced in cross-validation for "
            f"{' and '.join(loud)}: training folds held as few as {silenced[loud[0]]} labels."
        )
    if failed:
        short = {m: msg if len(msg) <= 160 else msg[:157] + "..." for m, msg in failed.items()}
        reasons = "; ".join(f"{m} ({msg})" for m, msg in short.items())
        text += f" Could not fit {reasons}."
    return text


def select_calibrator(
    X: Any,
    y: Any,
    *,
    methods: Sequence[str] = SELECTION_METHODS,
    cv: int = 5,
    seed: int = 0,
    feature: str = "sequence_prob",
    features: Sequence[str] | None = None,
    nonparametric_min_labels: int = _NONPARAMETRIC_MIN_LABELS,
    tie_tolerance: float = 1e-3,
) -> CalibratorSelection:
    """Choose a calibration method by cross-validated log loss and refit it on all the data.

    Every method is fit on the same stratified folds (``StratifiedKFold(cv, shuffle=True,
    random_state=seed)``) and scored by the mean NLL of its held-out predictions
    (:func:`langchain_calibrate.metrics.negative_log_likelihood`, probabilities clipped to
    [1e-15, 1 - 1e-15], so a confident 0 or 1 that is wrong costs about 34.5 nats). The lowest
    mean wins, except that methods within ``tie_tolerance`` nats of it count as tied and the one
    with the fewest parameters is chosen (temperature 1 < platt 2 < beta 3 < logistic k + 1 <
    histogram < isotonic). Isotonic and histogram are scored but not eligible when fewer than
    ``nonparametric_min_labels`` rows have ``feature``, unless only non-parametric methods were
    asked for. Their :class:`SmallCalibrationSetWarning` is silenced during cross-validation;
    ``reason`` says so instead.

    Args:
        X: Signals objects, mappings or a numeric array. Single-score methods read ``feature``,
            ``logistic`` reads ``features``. An array's columns are ``features``; when that is
            ``None``, a one-column array is ``feature`` (and ``logistic`` then uses only it) and
            an 11-column array is :data:`DEFAULT_FEATURE_NAMES`.
        y: 0/1 (or boolean) correctness labels, one per row.
        methods: Names from :data:`CALIBRATORS` to compare, each with default parameters.
        cv: Number of folds, at least 2.
        seed: Seed for shuffling the rows into folds.
        feature: The probability the single-score methods calibrate.
        features: The features ``logistic`` uses (default: all of :data:`DEFAULT_FEATURE_NAMES`).
        nonparametric_min_labels: Labels below which isotonic and histogram cannot be chosen;
            0 lets cross-validation alone decide.
        tie_tolerance: Mean-NLL gap (nats) within which methods count as tied.

    Returns:
        A :class:`CalibratorSelection` with the refit calibrator, the scores and the reason.

    Raises:
        ValueError: On unknown or repeated methods, bad ``cv``, malformed ``X`` or ``y``, only
            one class, too few labels of a class for ``cv`` folds, or when no method could be fit.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = rng.uniform(0.05, 0.95, 400)
        >>> y = rng.uniform(size=400) < expit(0.5 * logit(s) - 0.5)
        >>> sel = select_calibrator(s.reshape(-1, 1), y, methods=("temperature", "platt"))
        >>> sel.method, sorted(sel.scores)
        ('platt', ['platt', 'temperature'])
    """
    names = _check_selection_args(
        methods, cv, seed, feature, nonparametric_min_labels, tie_tolerance
    )
    columns, logistic_features = _selection_columns(X, names, feature, features)
    # An array is converted once. Rows are converted once per feature set, so that rows lacking a
    # feature only one method reads (say logistic's) fail that method, not the selection.
    matrix = _as_matrix(X, columns) if columns else None
    converted: dict[tuple[str, ...], Array | str] = {}

    def inputs(wanted: tuple[str, ...]) -> Array:
        if matrix is not None:
            return matrix[:, [columns.index(f) for f in wanted]]
        if wanted not in converted:
            try:
                converted[wanted] = _as_matrix(X, wanted)
            except ValueError as exc:
                converted[wanted] = str(exc)
        got = converted[wanted]
        if isinstance(got, str):
            raise ValueError(got)
        return got

    labels = _as_labels(y, len(X) if matrix is None else matrix.shape[0])
    n = labels.size
    n_pos = int(labels.sum())
    n_neg = n - n_pos
    if min(n_pos, n_neg) == 0:
        only = "correct (1)" if n_neg == 0 else "incorrect (0)"
        msg = (
            f"y contains only {only} answers ({n} labels); calibration needs both correct and "
            "incorrect answers. Label some examples the model got wrong (or right)."
        )
        raise ValueError(msg)
    # Each held-out fold needs one of each class and each training fold two of each.
    need = cv if cv >= 3 else 4
    if min(n_pos, n_neg) < need:
        msg = (
            f"cv={cv} folds need at least {need} correct and {need} incorrect answers; got "
            f"{n_pos} correct and {n_neg} incorrect. Label more examples or lower cv."
        )
        raise ValueError(msg)
    folds = list(
        StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=int(seed)).split(
            np.zeros((n, 1)), labels
        )
    )
    present = np.zeros(n, dtype=bool)
    if any(issubclass(CALIBRATORS[m], _SingleScoreCalibrator) for m in names):
        with contextlib.suppress(ValueError):  # then the single-score methods fail below
            present = ~np.isnan(inputs((feature,))[:, 0])
    n_present = int(present.sum())
    min_train_present = min(int(present[train].sum()) for train, _ in folds)

    def build(method: str) -> BaseCalibrator:
        if method == "logistic":
            return LogisticCalibrator(features=logistic_features)
        return make_calibrator(method, feature=feature)

    scores: dict[str, float] = {}
    score_std: dict[str, float] = {}
    failed: dict[str, str] = {}
    silenced: dict[str, int] = {}
    for method in names:
        fold_nll = []
        try:
            x_m = inputs(build(method).feature_names)
            for train, test in folds:
                cal = build(method)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SmallCalibrationSetWarning)
                    cal.fit(x_m[train], labels[train])
                fold_nll.append(negative_log_likelihood(labels[test], cal.predict(x_m[test])))
        except (ValueError, RuntimeError) as exc:
            failed[method] = str(exc)
            continue
        scores[method] = float(np.mean(fold_nll))
        score_std[method] = float(np.std(fold_nll, ddof=1))
        if method in _NONPARAMETRIC and min_train_present < _NONPARAMETRIC_MIN_LABELS:
            silenced[method] = min_train_present
    if not scores:
        detail = "; ".join(f"{m}: {msg}" for m, msg in failed.items())
        msg = f"No calibration method could be fit on every fold. {detail}"
        raise ValueError(msg)

    not_eligible: dict[str, str] = {}
    if n_present < nonparametric_min_labels and any(m not in _NONPARAMETRIC for m in scores):
        for m in scores:
            if m in _NONPARAMETRIC:
                not_eligible[m] = (
                    f"only {n_present} labels have {feature!r}, fewer than the "
                    f"{nonparametric_min_labels:,} a non-parametric map needs to avoid overfitting"
                )
    eligible = [m for m in scores if m not in not_eligible]
    n_params = {
        "temperature": 1.0,
        "platt": 2.0,
        "beta": 3.0,
        "logistic": len(logistic_features) + 1.0,
        "histogram": 15.0,
        "isotonic": math.inf,
    }
    best = min(eligible, key=scores.__getitem__)
    tied = [m for m in eligible if scores[m] <= scores[best] + tie_tolerance]
    chosen = min(tied, key=lambda m: (n_params[m], _SIMPLEST_FIRST.index(m)))
    calibrator = build(chosen).fit(inputs(build(chosen).feature_names), labels)
    reason = _selection_reason(
        chosen=chosen,
        best=best,
        scores=scores,
        eligible=eligible,
        not_eligible=not_eligible,
        failed=failed,
        silenced=silenced,
        cv=int(cv),
        n=n,
        n_present=n_present,
        feature=feature,
    )
    return CalibratorSelection(
        calibrator=calibrator,
        method=chosen,
        scores=scores,
        score_std=score_std,
        not_eligible=not_eligible,
        failed=failed,
        n_samples=n,
        cv=int(cv),
        reason=reason,
    )
