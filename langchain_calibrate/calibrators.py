"""Post-hoc calibrators mapping RAG evidence features to P(answer is correct).

Estimators follow scikit-learn's shape: ``__init__`` only stores keyword-only parameters,
``fit(X, y)`` sets attributes ending in ``_`` and returns ``self``, ``predict(X)`` returns
probabilities. ``X`` is a sequence of ``Signals`` (anything with ``to_features(names)``), a
sequence of mappings ``feature -> float | None``, or a 2-D array with columns in
``feature_names`` order. NaN / None means "missing evidence", which is never allowed to raise
confidence: it is imputed with the training value that contributes the least confidence.

Fitted state is plain numbers and is saved as JSON only (never pickle); see
:func:`load_calibrator`.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from langchain_calibrate._version import __version__
from langchain_calibrate.signals import FEATURE_NAMES

__all__ = [
    "CALIBRATORS",
    "DEFAULT_FEATURE_NAMES",
    "FILE_FORMAT",
    "FILE_FORMAT_VERSION",
    "BaseCalibrator",
    "CalibratorFileError",
    "CalibratorNotFittedError",
    "LogisticCalibrator",
    "PlattScaling",
    "TemperatureScaling",
    "load_calibrator",
    "make_calibrator",
]

DEFAULT_FEATURE_NAMES: tuple[str, ...] = FEATURE_NAMES
"""The signals a ``LogisticCalibrator`` uses unless told otherwise (all of them)."""
FILE_FORMAT = "langchain-calibrate.calibrator"
FILE_FORMAT_VERSION = 1
_PROB_CLIP = 1e-6

Array = NDArray[np.float64]


class CalibratorNotFittedError(ValueError):
    """Raised when a calibrator is used before ``fit`` (or loading)."""


class CalibratorFileError(ValueError):
    """Raised when a saved calibrator file is unreadable, invalid or tampered with."""


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


def _as_matrix(X: Any, names: tuple[str, ...]) -> Array:
    """Turn any supported input into a float matrix (n_samples, n_features) with NaN = missing."""
    is_rows = isinstance(X, Sequence) and not isinstance(X, str) and len(X) > 0
    if is_rows and all(hasattr(r, "to_features") or isinstance(r, Mapping) for r in X):
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


def _score_logits(x: Array, name: str) -> Array:
    present = x[~np.isnan(x)]
    if ((present < 0.0) | (present > 1.0)).any():
        msg = f"feature {name!r} must be a probability in [0, 1] for this calibrator."
        raise ValueError(msg)
    return logit(np.clip(x, _PROB_CLIP, 1.0 - _PROB_CLIP))


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
    res = minimize(loss_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-9, "ftol": 64 * np.finfo(float).eps})
    a, b = (float(v) for v in res.x)
    if not (math.isfinite(a) and math.isfinite(b)):
        msg = f"Platt scaling failed to optimize. Reason from scipy: {res.message}"
        raise RuntimeError(msg)
    return a, b


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
        top.require_keys({"format", "format_version", "library_version", "method",
                          "feature_names", "params", "n_samples", "fitted_at"})
        if data["format"] != FILE_FORMAT:
            raise top.error("format", f"must be {FILE_FORMAT!r}; this is not a calibrator file")
        version = top.integer("format_version", low=1)
        if version > FILE_FORMAT_VERSION:
            raise top.error("format_version", f"is {version}, newer than the supported "
                            f"{FILE_FORMAT_VERSION}; upgrade langchain-calibrate to load it")
        top.string("library_version")
        method = top.string("method")
        klass = CALIBRATORS.get(method)
        if klass is None:
            raise top.error("method", f"is {method!r}, expected one of {sorted(CALIBRATORS)}")
        if cls is not BaseCalibrator and klass is not cls:
            raise top.error("method", f"is {method!r}, not {cls.method!r}; use load_calibrator")
        names = data["feature_names"]
        if (not isinstance(names, list) or not names or len(set(names)) != len(names)
                or not all(isinstance(n, str) and n for n in names)):
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

    def __init__(self, *, feature: str = "sequence_prob") -> None:
        self.feature = feature

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (self.feature,)

    @abstractmethod
    def _map(self, logits: Array) -> Array: ...

    @abstractmethod
    def _fit_logits(self, logits: Array, y: Array) -> None: ...

    def _fit(self, x: Array, y: Array) -> None:
        present = ~np.isnan(x[:, 0])
        _require_both_classes(y[present], f"rows with {self.feature!r} present")
        self._fit_logits(_score_logits(x[present, 0], self.feature), y[present])
        scores = np.clip(x[present, 0], _PROB_CLIP, 1.0 - _PROB_CLIP)
        # A missing score is treated as the most pessimistic training score: of the two ends of
        # the training range, the one the (monotone) fitted map sends lowest.
        ends = np.array([scores.min(), scores.max()])
        self.missing_value_ = float(ends[np.argmin(self._map(logit(ends)))])

    def _predict(self, x: Array) -> Array:
        s = np.where(np.isnan(x[:, 0]), self.missing_value_, x[:, 0])
        return self._map(_score_logits(s, self.feature))



class TemperatureScaling(_SingleScoreCalibrator):
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


class PlattScaling(_SingleScoreCalibrator):
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
        if isinstance(self.C, bool) or not isinstance(self.C, int | float) or not (
            0.0 < self.C < math.inf
        ):
            msg = f"C must be a positive finite number, got {self.C!r}."
            raise ValueError(msg)
        missing = np.isnan(x)
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
        self.missing_values_ = tuple(float(v) for v in np.where(coef > 0, lo,
                                                                np.where(coef < 0, hi, mean)))
        self.mean_ = tuple(float(v) for v in mean)
        self.scale_ = tuple(float(v) for v in scale)
        self.coef_ = tuple(float(v) for v in coef)
        self.intercept_ = intercept

    def _predict(self, x: Array) -> Array:
        x = np.where(np.isnan(x), np.asarray(self.missing_values_), x)
        scale = np.asarray(self.scale_)
        safe = np.where(scale > 0, scale, 1.0)
        z = np.where(scale > 0, (x - np.asarray(self.mean_)) / safe, 0.0)
        return expit(self.intercept_ + z @ np.asarray(self.coef_))

    def _get_params(self) -> dict[str, Any]:
        return {"C": float(self.C), "coef": list(self.coef_), "intercept": self.intercept_,
                "mean": list(self.mean_), "scale": list(self.scale_),
                "missing_values": list(self.missing_values_)}

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
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(field, f"must be a number, got {type(value).__name__} "
                             f"{str(value)[:40]!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        in_range = (low < number if low_open else low <= number) and number <= high
        if not (math.isfinite(number) and in_range):
            raise self.error(field, f"must be a finite number in {'(' if low_open else '['}"
                             f"{low:g}, {high:g}], got {str(value)[:40]!r}")
        return number

    def number(self, field: str, *, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False) -> float:
        return self._check_number(field, self.data[field], low, high, low_open)

    def numbers(self, field: str, *, low: float = -math.inf) -> tuple[float, ...]:
        values = self.data[field]
        if not isinstance(values, list) or len(values) != self.n_features:
            raise self.error(field, f"must be a list of {self.n_features} numbers, one per "
                             "feature name")
        return tuple(self._check_number(f"{field}[{i}]", v, low, math.inf, False)
                     for i, v in enumerate(values))


def _reject_constant(name: str) -> Any:
    msg = f"non-finite number {name} is not allowed"
    raise ValueError(msg)


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
        data = json.loads(Path(path).read_bytes().decode("utf-8"),
                          parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        msg = (f"{source}: not a valid calibrator JSON file ({exc}). Point to a file written by "
               "calibrator.save(path).")
        raise CalibratorFileError(msg) from exc
    return BaseCalibrator.from_dict(data, source=source)


CALIBRATORS: dict[str, type[BaseCalibrator]] = {
    "temperature": TemperatureScaling,
    "platt": PlattScaling,
    "logistic": LogisticCalibrator,
}


def make_calibrator(method: str, **kwargs: Any) -> BaseCalibrator:
    """Create an unfitted calibrator by name.

    Args:
        method: One of ``"temperature"``, ``"platt"``, ``"logistic"``.
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
