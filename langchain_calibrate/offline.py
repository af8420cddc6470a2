"""Offline work on run logs: load the labelled runs, fit a calibrator, evaluate it honestly.

This is what the ``fit``, ``evaluate`` and ``report`` commands run. A run log comes from
``with_calibration(..., log_to=PATH)``; labels are in the records or in a separate file keyed
by ``run_id`` (see ``langchain_calibrate.runlog``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import NDArray

from langchain_calibrate.calibrators import BaseCalibrator, make_calibrator, select_calibrator
from langchain_calibrate.runlog import RunLogError, join_labels, read_runs
from langchain_calibrate.signals import FEATURE_NAMES

__all__ = [
    "FitResult",
    "LabelledRuns",
    "cross_fit_confidences",
    "fit_on_runs",
    "fold_ids",
    "load_labelled_runs",
]


@dataclass(frozen=True)
class LabelledRuns:
    """The labelled part of a run log, ready for a calibrator."""

    source: str
    run_ids: tuple[str, ...]
    signals: list[dict[str, Any]]
    labels: NDArray[np.int64]
    logged_confidences: tuple[float | None, ...]
    n_unlabelled: int

    def __len__(self) -> int:
        return len(self.run_ids)


def load_labelled_runs(
    path: str | os.PathLike[str],
    labels: Mapping[str, int | None] | str | os.PathLike[str] | None = None,
) -> LabelledRuns:
    """Read a run log and keep the runs that have a label.

    Args:
        path: The run log (JSONL from ``log_to``).
        labels: A labels file or mapping keyed by ``run_id``; overrides labels in the log.

    Returns:
        The labelled runs.

    Raises:
        RunLogError: When the log cannot be read, or no run is labelled, or only one class is
            present (a calibrator needs both correct and incorrect answers).
    """
    runs = read_runs(path)
    if labels is not None:
        runs, report = join_labels(runs, labels)
        if report.unknown_run_ids:
            shown = ", ".join(report.unknown_run_ids[:3])
            warnings.warn(
                f"{len(report.unknown_run_ids)} label(s) match no run in {path} "
                f"(e.g. {shown}); were they written for another log?",
                stacklevel=2,
            )
    kept = [r for r in runs if r.get("label") is not None]
    if not kept:
        msg = (
            f"No labelled runs in {path} ({len(runs)} runs, none with a 0/1 label). Add a "
            "'label' to the records or pass a labels file keyed by run_id (--labels)."
        )
        raise RunLogError(msg)
    y = np.array([int(r["label"]) for r in kept], dtype=np.int64)
    if y.min() == y.max():
        which = "correct" if y[0] == 1 else "incorrect"
        msg = (
            f"All {len(kept)} labelled runs in {path} are {which}; fitting and evaluating need "
            "both correct and incorrect answers. Label more runs."
        )
        raise RunLogError(msg)
    return LabelledRuns(
        source=str(path),
        run_ids=tuple(str(r["run_id"]) for r in kept),
        # A log written before a signal existed lacks its key: that signal is missing (None).
        signals=[{**dict.fromkeys(FEATURE_NAMES), **r["signals"]} for r in kept],
        labels=y,
        logged_confidences=tuple(r.get("confidence") for r in kept),
        n_unlabelled=len(runs) - len(kept),
    )


@dataclass(frozen=True)
class FitResult:
    """A fitted calibrator and why it was chosen."""

    calibrator: BaseCalibrator
    method: str
    reason: str
    n_runs: int


def fit_on_runs(
    runs: LabelledRuns, *, method: str = "auto", cv: int = 5, seed: int = 0
) -> FitResult:
    """Fit a calibrator on labelled runs.

    Args:
        runs: From ``load_labelled_runs``.
        method: ``"auto"`` (cross-validated choice by NLL, see ``select_calibrator``) or one of
            temperature, platt, logistic, isotonic, histogram, beta.
        cv: Folds for ``"auto"``.
        seed: Fold seed for ``"auto"``.

    Returns:
        The fitted calibrator, its method and the reason.
    """
    if method == "auto":
        choice = select_calibrator(runs.signals, runs.labels, cv=cv, seed=seed)
        return FitResult(choice.calibrator, choice.method, choice.reason, len(runs))
    calibrator = make_calibrator(method).fit(runs.signals, runs.labels)
    reason = f"fitted {method} (as asked) on {len(runs)} labelled runs"
    return FitResult(calibrator, method, reason, len(runs))


def fold_ids(n: int, folds: int, seed: int) -> NDArray[np.int64]:
    """Balanced fold assignment (0..folds-1), shuffled reproducibly by ``seed``."""
    rng = np.random.default_rng(seed + 1)
    ids = np.arange(n) % folds
    rng.shuffle(ids)
    return ids


def cross_fit_confidences(
    signals: Sequence[Any],
    labels: NDArray[Any],
    *,
    folds: int = 5,
    seed: int = 0,
    method: str = "logistic",
    features: Sequence[str] | None = None,
    repeats: int = 1,
    calibration_signals: Sequence[Any] = (),
    calibration_labels: NDArray[Any] | Sequence[int] = (),
) -> NDArray[np.float64]:
    """Out-of-fold probabilities: each comes from calibrators fitted on the other folds.

    With ``repeats > 1`` the cross-fitting is repeated over that many fold assignments and each
    run's out-of-fold probabilities are averaged ("repeated cross-fitting"): still no probability
    comes from a calibrator that saw the run's label, and the result no longer hangs on one
    random split (on 300 HaluEval answers one split moved AUROC by up to 0.04).

    Args:
        signals: One ``Signals`` (or signals mapping) per run.
        labels: 0/1 per run.
        folds: At least 2.
        seed: Fold seed; repeat ``r`` uses its own split derived from ``(seed, r)``, and repeat
            0 is the split ``repeats=1`` uses.
        method: The calibrator to fit in each fold.
        features: For ``method="logistic"``: the signals to use (default: ``FEATURE_NAMES``).
        repeats: Fold assignments to average over, at least 1.
        calibration_signals: Runs of a separate labelled calibration set: added to the training
            part of every fold and never given a confidence themselves. The calibrators then
            learn from more labels than the other folds alone hold (on 300 HaluEval answers,
            300 calibration runs lifted out-of-fold AUROC by about 0.02).
        calibration_labels: 0/1 per calibration run.

    Returns:
        One probability per run, none of them from a calibrator that saw that run's label.

    Raises:
        ValueError: ``folds < 2``, ``repeats < 1``, fewer than ``2 * folds`` runs, calibration
            signals and labels of different lengths, or a training part with one class only.
    """
    if folds < 2:
        msg = (
            f"folds must be >= 2, so that no confidence comes from a calibrator fitted on it; "
            f"got {folds}."
        )
        raise ValueError(msg)
    if isinstance(repeats, bool) or not isinstance(repeats, Integral) or repeats < 1:
        msg = f"repeats must be an integer >= 1 (fold assignments to average), got {repeats!r}."
        raise ValueError(msg)
    if len(signals) < 2 * folds:
        msg = f"{folds}-fold cross-fitting needs at least {2 * folds} runs, got {len(signals)}."
        raise ValueError(msg)
    if len(labels) != len(signals):
        msg = (
            f"signals has {len(signals)} runs but labels has {len(labels)}; give one 0/1 label "
            "per run, in the same order."
        )
        raise ValueError(msg)
    repeats = int(repeats)
    extra = list(calibration_signals)
    extra_y = np.asarray(calibration_labels, dtype=float).reshape(-1)
    if len(extra) != len(extra_y):
        msg = (
            f"calibration_signals has {len(extra)} runs but calibration_labels has "
            f"{len(extra_y)} labels; give one 0/1 label per calibration run."
        )
        raise ValueError(msg)
    y = np.asarray(labels)
    total = np.zeros(len(signals))
    for r in range(repeats):
        fold_seed = seed if r == 0 else int(np.random.SeedSequence([seed, r]).generate_state(1)[0])
        fold = fold_ids(len(signals), folds, fold_seed)
        total += _cross_fit_once(signals, y, fold, method, features, (extra, extra_y))
    return total / repeats


def _cross_fit_once(
    signals: Sequence[Any],
    y: NDArray[Any],
    fold: NDArray[np.int64],
    method: str,
    features: Sequence[str] | None,
    calibration: tuple[list[Any], NDArray[np.float64]],
) -> NDArray[np.float64]:
    extra, extra_y = calibration
    out = np.full(len(signals), np.nan)
    for f in range(int(fold.max()) + 1):
        train = np.flatnonzero(fold != f)
        test = np.flatnonzero(fold == f)
        train_y = np.concatenate([y[train], extra_y])
        if train_y.min() == train_y.max():
            msg = f"fold {f}: the training part has one class only; use fewer folds."
            raise ValueError(msg)
        with warnings.catch_warnings():
            # Small-sample warnings would repeat once per fold; the caller warns once.
            warnings.simplefilter("ignore", UserWarning)
            kwargs = {"features": features} if features is not None else {}
            calibrator = make_calibrator(method, **kwargs).fit(
                [signals[i] for i in train] + extra, train_y
            )
        out[test] = calibrator.predict([signals[i] for i in test])
    return out
