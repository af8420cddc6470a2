"""Choose the confidence threshold below which answers are withheld, from labelled calibration data.

Two ways to choose, each returning a :class:`ConfidenceThreshold` that ``route_by_confidence``
and ``require_confidence`` accept directly:

- :func:`fit_risk_threshold`: the lowest threshold for which, with probability ``1 - delta`` over
  the draw of the calibration set, the error rate among the answers kept is at most
  ``target_risk`` (Learn then Test: Angelopoulos, Bates, Candès, Jordan & Lei, 2021, with a
  Clopper-Pearson p-value for each candidate and fixed-sequence testing).
- :func:`fit_coverage_threshold`: the threshold that answers a target share of questions; no
  guarantee on the error rate, which it reports when labels are given.

Labels follow the rest of the package: 1 means the answer was correct, 0 that it was wrong. An
answer is kept when ``confidence >= threshold``. A fitted threshold is plain numbers, saved as JSON
(:meth:`ConfidenceThreshold.save`, :func:`load_threshold`).
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from os import PathLike
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import beta, binom

from langchain_calibrate._version import __version__

__all__ = [
    "ConfidenceThreshold",
    "ThresholdWarning",
    "fit_coverage_threshold",
    "fit_risk_threshold",
    "load_threshold",
]

FILE_FORMAT = "langchain-calibrate.threshold"
FILE_FORMAT_VERSION = 1
Array = NDArray[np.float64]
Method = Literal["ltt", "coverage"]
_MAX_START = 100_000


class ThresholdWarning(UserWarning):
    """The calibration data cannot support the requested guarantee (the threshold answers less)."""


# ----------------------------------------------------------------------------- input checks


def _as_1d(values: ArrayLike, name: str) -> Array:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be numeric; could not convert it to floats ({exc}). Pass numbers only."
        raise ValueError(msg) from exc
    if arr.ndim != 1:
        msg = f"{name} must be 1-D, got shape {arr.shape}. Pass one value per calibration answer."
        raise ValueError(msg)
    if arr.size == 0:
        msg = f"{name} is empty; fitting a threshold needs labelled calibration answers."
        raise ValueError(msg)
    if not np.isfinite(arr).all():
        msg = f"{name} contains NaN or inf; drop those answers (or fix their scores) first."
        raise ValueError(msg)
    return arr


def _checked_confidences(confidences: ArrayLike) -> Array:
    conf = _as_1d(confidences, "confidences")
    if ((conf < 0.0) | (conf > 1.0)).any():
        msg = (
            f"confidences must be in [0, 1], got min {conf.min():g} and max {conf.max():g}. "
            "Pass calibrated probabilities (a calibrator's output), not raw scores or logits."
        )
        raise ValueError(msg)
    return conf


def _checked_labels(labels: ArrayLike, n: int) -> Array:
    lab = _as_1d(labels, "labels")
    if lab.size != n:
        msg = (
            f"confidences and labels must have the same length, got {n} and {lab.size}. "
            "Pass one 0/1 label per confidence."
        )
        raise ValueError(msg)
    bad = np.setdiff1d(np.unique(lab), [0.0, 1.0])
    if bad.size:
        msg = (
            f"labels must contain only 0/1 (or booleans), found {bad[:5].tolist()}. "
            "Encode correct answers as 1 and wrong ones as 0."
        )
        raise ValueError(msg)
    return lab


def _checked_fraction(value: Any, name: str, *, closed_right: bool = False) -> float:
    right = "]" if closed_right else ")"
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = 0.0 < value < 1.0 or (closed_right and value == 1.0)
    if not ok:
        msg = f"{name} must be a number in (0, 1{right}, got {value!r}; e.g. {name}=0.1."
        raise ValueError(msg)
    return float(value)


# ----------------------------------------------------------------------------- statistics


def _clopper_pearson_upper(errors: ArrayLike, n: ArrayLike, delta: float) -> Array:
    """One-sided (1 - delta) Clopper-Pearson upper bound on a binomial rate: errors of n."""
    k = np.asarray(errors, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = beta.ppf(1.0 - delta, k + 1.0, m - k)
    return np.where(k >= m, 1.0, upper)


def _binomial_p_values(errors: Array, n: Array, target_risk: float) -> Array:
    """P[Binomial(n, target_risk) <= errors]: a valid p-value for H0 "risk > target_risk".

    ``p <= delta`` exactly when the Clopper-Pearson upper bound at level ``1 - delta`` is at most
    ``target_risk``.
    """
    return np.asarray(binom.cdf(errors, n, target_risk), dtype=np.float64)


@functools.lru_cache(maxsize=64)
def _smallest_passable(target_risk: float, delta: float) -> int:
    """Fewest answers for which the test can pass at all: all correct, (1 - r)^m <= delta."""
    m = max(1, math.ceil(math.log(delta) / math.log1p(-target_risk)))
    # The same p-value function decides below, so settle float rounding with it.
    while m > 1 and _binomial_p_values(np.zeros(1), np.array([m - 1.0]), target_risk)[0] <= delta:
        m -= 1
    while _binomial_p_values(np.zeros(1), np.array([float(m)]), target_risk)[0] > delta:
        m += 1
    return m


@functools.lru_cache(maxsize=64)
def _half_target_count(target_risk: float, delta: float) -> int | None:
    """Fewest answers at which an observed error rate of half the target would pass the test.

    Starting the sequence there, rather than at the first count that could pass only with no
    errors at all, keeps one unlucky error among the few most confident answers from ending it.
    """
    m = np.arange(1, _MAX_START + 1, dtype=np.float64)
    allowed = np.floor(target_risk * m / 2.0 + 1e-9)
    ok = np.nonzero(_binomial_p_values(allowed, m, target_risk) <= delta)[0]
    return int(m[ok[0]]) if ok.size else None


def _cumulative_by_threshold(conf: Array, wrong: Array) -> tuple[Array, Array, Array]:
    """Distinct confidences from high to low, with answers kept and errors among them at each."""
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    last_of_tie = np.r_[sorted_conf[1:] != sorted_conf[:-1], True]
    answered = np.arange(1, conf.size + 1, dtype=np.float64)[last_of_tie]
    errors = np.cumsum(wrong[order])[last_of_tie]
    return sorted_conf[last_of_tie], answered, errors


# ----------------------------------------------------------------------------- the result


def _fmt_pct(value: float) -> str:
    return f"{100.0 * value:.1f}".rstrip("0").rstrip(".") + "%"


def _problem(source: str, field: str, problem: str) -> ValueError:
    return ValueError(
        f"{source}: field {field!r} {problem}. Re-fit the threshold (fit_risk_threshold or "
        "fit_coverage_threshold) rather than editing it, or restore an untampered copy."
    )


@dataclass(frozen=True, kw_only=True)
class ConfidenceThreshold:
    """A fitted confidence threshold and what it did on the calibration data.

    Pass it wherever a threshold is accepted: ``route_by_confidence(chain, fitted, fallback)``
    keeps answers with ``confidence >= fitted.threshold`` and routes the rest.

    Attributes:
        threshold: Keep answers at or above this confidence. ``math.inf`` when
            ``answers_nothing``: no confidence (not even 1.0) reaches it, so every answer is routed.
        method: ``"ltt"`` (chosen for a risk guarantee) or ``"coverage"`` (for a share answered).
        n_calibration: Number of calibration answers it was fitted on.
        n_answered: How many of them it keeps.
        expected_coverage: ``n_answered / n_calibration``, the share answered on calibration data.
        expected_risk: Share of wrong answers among those kept, on calibration data (``None`` if
            there were no labels or it keeps nothing).
        risk_upper_bound: For ``"ltt"``, the one-sided ``1 - delta`` Clopper-Pearson upper bound on
            the error rate among answered at this threshold; it is at most ``target_risk`` by
            construction (the guarantee is stated for ``target_risk``). ``None`` otherwise.
        target_risk: The requested bound on the error rate among answered (``"ltt"`` only).
        delta: The allowed probability that the bound fails (``"ltt"`` only).
        target_coverage: The requested share answered (``"coverage"`` only).
        answers_nothing: True when no threshold met the request; say so, never silently.
    """

    threshold: float
    method: Method
    n_calibration: int
    n_answered: int
    expected_coverage: float
    expected_risk: float | None = None
    risk_upper_bound: float | None = None
    target_risk: float | None = None
    delta: float | None = None
    target_coverage: float | None = None
    answers_nothing: bool = False

    def __post_init__(self) -> None:
        _validate(self, "ConfidenceThreshold")

    def describe(self) -> str:
        """One sentence on what the threshold does and what is guaranteed.

        Example:
            >>> fitted.describe()  # doctest: +SKIP
            'keep answers with confidence >= 0.731: on 300 calibration answers this answers 41%
            with 3.2% errors; with 90% probability the error rate among answered is <= 5% ...'
        """
        n = self.n_calibration
        target, sure = _fmt_pct(self.target_risk or 0.0), _fmt_pct(1.0 - (self.delta or 0.0))
        if self.answers_nothing:
            return (
                f"answer nothing: on {n} calibration answers no threshold keeps the error rate "
                f"among answered <= {target} with {sure} probability, so every answer goes to the "
                "fallback (collect more labelled answers, or raise target_risk or delta)"
            )
        head = (
            f"keep answers with confidence >= {self.threshold:.3f}: on {n} calibration answers "
            f"this answers {_fmt_pct(self.expected_coverage)}"
        )
        errors = (
            "" if self.expected_risk is None else f" with {_fmt_pct(self.expected_risk)} errors"
        )
        if self.method == "ltt":
            return (
                f"{head}{errors}; with {sure} probability the error rate among answered is <= "
                f"{target} (if future questions are like the calibration ones and higher "
                "confidence is never less often right)"
            )
        return (
            f"{head} (target {_fmt_pct(self.target_coverage or 0.0)}){errors}; chosen for "
            "coverage, so nothing is guaranteed about the error rate"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``threshold`` is ``None`` when it answers nothing).

        Example:
            >>> ConfidenceThreshold.from_dict(fitted.to_dict()) == fitted  # doctest: +SKIP
            True
        """
        data: dict[str, Any] = {
            "format": FILE_FORMAT,
            "format_version": FILE_FORMAT_VERSION,
            "library_version": __version__,
        }
        data.update(asdict(self))
        if self.answers_nothing:
            data["threshold"] = None
        return data

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> ConfidenceThreshold:
        """Rebuild a threshold from :meth:`to_dict` output, checking every field.

        Args:
            data: The dict (for example parsed JSON).
            source: Where it came from, for error messages.

        Returns:
            The threshold.

        Raises:
            ValueError: Naming ``source`` and the field on an unknown or missing key, a wrong
                type, an out-of-range value or inconsistent fields.

        Example:
            >>> ConfidenceThreshold.from_dict(json.loads(text), source="t.json")  # doctest: +SKIP
        """
        if not isinstance(data, dict):
            msg = f"{source}: expected a JSON object, got {type(data).__name__}."
            raise ValueError(msg)
        header = {"format", "format_version", "library_version"}
        names = {f.name for f in fields(cls)}
        for key in sorted(set(data) - names - header, key=str):
            raise _problem(source, str(key), "is not a recognised field")
        for key in sorted((names | header) - set(data)):
            raise _problem(source, key, "is missing")
        if data["format"] != FILE_FORMAT:
            raise _problem(source, "format", f"must be {FILE_FORMAT!r}; not a threshold file")
        version = data["format_version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _problem(source, "format_version", f"must be an integer >= 1, got {version!r}")
        if version > FILE_FORMAT_VERSION:
            raise _problem(
                source,
                "format_version",
                f"is {version}, newer than the supported "
                f"{FILE_FORMAT_VERSION}; upgrade langchain-calibrate to load it",
            )
        if not isinstance(data["library_version"], str):
            raise _problem(source, "library_version", "must be a string")
        values = {name: data[name] for name in names}
        if values["threshold"] is None and values["answers_nothing"] is True:
            values["threshold"] = math.inf
        elif values["threshold"] is None:
            raise _problem(source, "threshold", "is null but answers_nothing is not true")
        _validate(SimpleNamespace(**values), source)  # named errors before construction
        return cls(**values)

    def save(self, path: str | PathLike[str]) -> None:
        """Write the threshold to ``path`` as JSON (read it back with :func:`load_threshold`).

        Example:
            >>> fitted.save("threshold.json")  # doctest: +SKIP
        """
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        Path(path).write_text(text + "\n", encoding="utf-8")


def _check_number(source: str, name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        kind = "a number or null" if optional else "a number"
        raise _problem(source, name, f"must be {kind}, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise _problem(source, name, f"must be in [0, 1], got {value!r}")


def _validate(obj: Any, source: str) -> None:
    """Types, ranges and consistency of every field; each failure names the field."""

    def fail(name: str, problem: str) -> ValueError:
        return _problem(source, name, problem)

    if obj.method not in ("ltt", "coverage"):
        raise fail("method", f"must be 'ltt' or 'coverage', got {obj.method!r}")
    for name in ("n_calibration", "n_answered"):
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
            raise fail(name, f"must be an integer >= 0, got {value!r}")
    if obj.n_calibration < 1 or obj.n_answered > obj.n_calibration:
        raise fail(
            "n_answered",
            f"must be in [0, n_calibration] with n_calibration >= 1, got "
            f"{obj.n_answered} of {obj.n_calibration}",
        )
    if not isinstance(obj.answers_nothing, bool):
        raise fail("answers_nothing", f"must be true or false, got {obj.answers_nothing!r}")
    if obj.answers_nothing and (obj.threshold != math.inf or obj.n_answered != 0):
        raise fail(
            "threshold",
            "must be inf (null in JSON), with n_answered 0, when answers_nothing is true",
        )
    if not obj.answers_nothing:
        _check_number(source, "threshold", obj.threshold)
        if obj.n_answered < 1:
            raise fail("n_answered", "must be >= 1 unless answers_nothing is true")
    _check_number(source, "expected_coverage", obj.expected_coverage)
    if abs(obj.expected_coverage - obj.n_answered / obj.n_calibration) > 1e-9:
        raise fail(
            "expected_coverage",
            f"is {obj.expected_coverage!r}, but n_answered / "
            f"n_calibration is {obj.n_answered / obj.n_calibration!r}",
        )
    for name in ("expected_risk", "risk_upper_bound", "target_risk", "delta", "target_coverage"):
        _check_number(source, name, getattr(obj, name), optional=True)
    for name, top in (("target_risk", ")"), ("delta", ")"), ("target_coverage", "]")):
        value = getattr(obj, name)
        if value is not None and not (0.0 < value < 1.0 or (top == "]" and value == 1.0)):
            raise fail(name, f"must be in (0, 1{top}, got {value!r}")
    kept = ("expected_risk", "risk_upper_bound")
    if obj.method == "coverage":
        present, absent = ("target_coverage",), ("target_risk", "delta", "risk_upper_bound")
        if obj.answers_nothing:
            raise fail("answers_nothing", "cannot be true for method 'coverage'")
    elif obj.answers_nothing:
        present, absent = ("target_risk", "delta"), ("target_coverage", *kept)
    else:
        present, absent = ("target_risk", "delta", *kept), ("target_coverage",)
    where = f"for method {obj.method!r} with answers_nothing {obj.answers_nothing}"
    for name in present:
        if getattr(obj, name) is None:
            raise fail(name, f"is required {where}")
    for name in absent:
        if getattr(obj, name) is not None:
            raise fail(name, f"must be null {where}")


# ----------------------------------------------------------------------------- fitting


def fit_risk_threshold(
    confidences: ArrayLike,
    labels: ArrayLike,
    *,
    target_risk: float = 0.05,
    delta: float = 0.1,
    method: Literal["ltt"] = "ltt",
    min_answered: int | None = None,
) -> ConfidenceThreshold:
    """The lowest threshold keeping the error rate among answered at or under ``target_risk``.

    **What is guaranteed.** Let ``R(t) = P(wrong | confidence >= t)`` be the *selective* risk: the
    error rate among the answers a threshold ``t`` keeps, on future questions. (It is not the joint
    rate ``P(answered and wrong)``, which is smaller by the factor of the share answered.) If

    1. the calibration answers are an i.i.d. sample of the questions the threshold will face (or
       exchangeable with them; ``R`` is then their long-run error rate among answered), and
    2. a higher confidence is never less likely to be right, i.e. ``P(correct | confidence)`` is
       nondecreasing (true for calibrated scores, where it *is* the confidence, and for any
       monotone distortion of them),

    then ``P(R(t_hat) <= target_risk) >= 1 - delta`` over the draw of the calibration set. It is a
    bound on a rate: a small batch of future answers can still hold more errors by chance.

    **How.** For each candidate ``t`` (each distinct confidence, from high to low), given the
    number ``m(t)`` of calibration answers kept, those answers are an i.i.d. sample of the kept
    population, so their error count ``k(t)`` is Binomial(``m(t)``, ``R(t)``) and
    ``p(t) = P[Binomial(m(t), target_risk) <= k(t)]`` is a valid p-value for
    H0: ``R(t) > target_risk``. (``p(t) <= delta`` exactly when the one-sided Clopper-Pearson
    upper bound at level ``1 - delta`` is ``<= target_risk``.) Fixed-sequence testing (Learn then
    Test) rejects H0 from the most conservative candidate downward and stops at the first
    ``p(t) > delta``; the threshold is the last candidate rejected. Candidates keeping fewer than
    ``min_answered`` answers are skipped, a choice that uses the counts only, never the labels.
    Under assumption 2 the risk grows as the threshold falls, so the false H0s come first and
    the true ones after; a wrong threshold needs the first true H0 tested to be rejected, and it
    is tested at level ``delta`` (when it lies among the skipped candidates, the first tested one
    holds errors at least as often as ``target_risk``), so that happens with probability at most
    ``delta``. Only the order of the confidences matters: any increasing transformation of them
    keeps the same answers. Tied confidences are kept or routed together.

    **Data needed.** A high-probability bound costs coverage at small ``n``: with 1,000
    calibrated answers drawn from Beta(5, 1), a 5% target keeps about 20% of answers where the
    true curve would allow 43%, and answers nothing about one time in eight; a 10% target keeps
    about 66% of the 74% allowed. Fewer than ``log(delta) / log(1 - target_risk)`` answers (45 for
    the defaults) can never show the bound, and the result then answers nothing.

    Args:
        confidences: Calibrated confidences in [0, 1], one per calibration answer (held out from
            the calibrator's own training data).
        labels: 1 if that answer was correct, 0 if wrong.
        target_risk: The bound on the error rate among answered, in (0, 1).
        delta: The allowed probability that the bound fails, in (0, 1).
        method: ``"ltt"`` (Learn then Test), the only method.
        min_answered: Candidates keeping fewer calibration answers are not tested. Default: the
            fewest at which an observed error rate of ``target_risk / 2`` would pass (77 for the
            defaults), or, when that exceeds the data, the fewest that could pass at all. A
            larger value skips the few most confident answers, the noisiest test and the one that
            stops the sequence when an overconfident model's confident mistakes sit there.

    Returns:
        The fitted :class:`ConfidenceThreshold`. If no candidate passes, one with
        ``answers_nothing=True`` and ``threshold=math.inf`` (every answer is routed), with a
        :class:`ThresholdWarning`.

    Raises:
        ValueError: On invalid inputs or parameters, saying what to pass instead.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> conf = rng.beta(5, 1, 2000)  # calibrated: P(correct | conf) = conf
        >>> fitted = fit_risk_threshold(conf, rng.random(2000) < conf, target_risk=0.05)
        >>> round(fitted.threshold, 3), fitted.expected_coverage, fitted.risk_upper_bound <= 0.05
        (0.942, 0.263, True)
    """
    target_risk = _checked_fraction(target_risk, "target_risk")
    delta = _checked_fraction(delta, "delta")
    if method != "ltt":
        msg = f"method must be 'ltt' (Learn then Test), got {method!r}."
        raise ValueError(msg)
    if min_answered is not None and (
        isinstance(min_answered, bool) or not isinstance(min_answered, Integral) or min_answered < 1
    ):
        msg = f"min_answered must be a positive integer or None, got {min_answered!r}."
        raise ValueError(msg)
    conf = _checked_confidences(confidences)
    lab = _checked_labels(labels, conf.size)
    n = conf.size
    passable = _smallest_passable(target_risk, delta)
    if min_answered is None:
        half = _half_target_count(target_risk, delta)
        start = half if half is not None and half <= n else passable
    else:
        start = max(int(min_answered), passable)

    thresholds, answered, errors = _cumulative_by_threshold(conf, 1.0 - lab)
    first = int(np.searchsorted(answered, start))  # first candidate keeping >= start answers
    p_values = _binomial_p_values(errors[first:], answered[first:], target_risk)
    failed = np.nonzero(p_values > delta)[0]
    n_passed = int(failed[0]) if failed.size else p_values.size

    if n_passed == 0:
        goal = f"an error rate <= {_fmt_pct(target_risk)} with {_fmt_pct(1.0 - delta)} probability"
        if n < passable:
            reason = (
                f"only {n} calibration answers: showing {goal} needs at least {passable} "
                "answers, all correct"
            )
        elif start > n:
            reason = f"min_answered={start} is more than the {n} calibration answers"
        else:
            reason = (
                f"no threshold shows {goal} on {n} calibration answers (the "
                f"{int(answered[first])} most confident already hold {int(errors[first])} errors; "
                "a larger min_answered starts the test below them)"
            )
        warnings.warn(
            f"{reason}; the fitted threshold answers nothing and routes every answer. Collect "
            "more labelled answers, or raise target_risk or delta.",
            ThresholdWarning,
            stacklevel=2,
        )
        return ConfidenceThreshold(
            threshold=math.inf,
            method="ltt",
            n_calibration=n,
            n_answered=0,
            expected_coverage=0.0,
            target_risk=target_risk,
            delta=delta,
            answers_nothing=True,
        )
    i = first + n_passed - 1
    m, k = int(answered[i]), int(errors[i])
    return ConfidenceThreshold(
        threshold=float(thresholds[i]),
        method="ltt",
        n_calibration=n,
        n_answered=m,
        expected_coverage=m / n,
        expected_risk=k / m,
        risk_upper_bound=float(_clopper_pearson_upper(k, m, delta)),
        target_risk=target_risk,
        delta=delta,
    )


def fit_coverage_threshold(
    confidences: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    target_coverage: float = 0.8,
) -> ConfidenceThreshold:
    """The highest threshold that answers at least ``target_coverage`` of the calibration answers.

    Tied confidences are kept or routed together, so the share answered can exceed the target; it
    is the smallest share >= the target that a threshold can give. On new data the share varies
    around it (for continuous scores, a threshold at the j-th highest of n calibration confidences
    answers j / (n + 1) of new questions on average). Nothing is guaranteed about the error rate;
    with ``labels`` the error rate among answered on the calibration data is reported.

    Args:
        confidences: Confidences in [0, 1], one per calibration answer.
        labels: Optional 1/0 correctness labels, to report the error rate among answered.
        target_coverage: The share of questions to answer, in (0, 1].

    Returns:
        The fitted :class:`ConfidenceThreshold` (``method="coverage"``).

    Raises:
        ValueError: On invalid inputs.

    Example:
        >>> fit_coverage_threshold([0.9, 0.8, 0.8, 0.3], target_coverage=0.5).threshold
        0.8
    """
    target_coverage = _checked_fraction(target_coverage, "target_coverage", closed_right=True)
    conf = _checked_confidences(confidences)
    lab = None if labels is None else _checked_labels(labels, conf.size)
    n = conf.size
    needed = max(1, math.ceil(target_coverage * n - 1e-9))
    wrong = np.zeros(n) if lab is None else 1.0 - lab
    thresholds, answered, errors = _cumulative_by_threshold(conf, wrong)
    i = int(np.searchsorted(answered, needed))
    m = int(answered[i])
    return ConfidenceThreshold(
        threshold=float(thresholds[i]),
        method="coverage",
        n_calibration=n,
        n_answered=m,
        expected_coverage=m / n,
        expected_risk=None if lab is None else float(errors[i]) / m,
        target_coverage=target_coverage,
    )


# ----------------------------------------------------------------------------- files


def _reject_constant(name: str) -> Any:
    msg = f"non-finite number {name} is not allowed"
    raise ValueError(msg)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        msg = f"duplicate keys {sorted({k for k in keys if keys.count(k) > 1})}"
        raise ValueError(msg)
    return dict(pairs)


def load_threshold(path: str | PathLike[str]) -> ConfidenceThreshold:
    """Load a threshold saved with :meth:`ConfidenceThreshold.save` (JSON; nothing is executed).

    Args:
        path: Path of the JSON file.

    Returns:
        The threshold, every field checked.

    Raises:
        ValueError: If the file is not valid JSON or any field is unknown, missing, of the wrong
            type, out of range or inconsistent; the message names the file and the field.
        OSError: If the file cannot be read.

    Example:
        >>> fitted = load_threshold("threshold.json")  # doctest: +SKIP
        >>> router = route_by_confidence(chain, fitted, idk)  # doctest: +SKIP
    """
    source = str(path)
    try:
        data = json.loads(
            Path(path).read_bytes().decode("utf-8"),
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        msg = (
            f"{source}: not a valid threshold JSON file ({exc}). Point to a file written by "
            "ConfidenceThreshold.save(path)."
        )
        raise ValueError(msg) from exc
    return ConfidenceThreshold.from_dict(data, source=source)
