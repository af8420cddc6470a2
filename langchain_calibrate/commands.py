"""The ``fit``, ``evaluate`` and ``report`` commands (argument parsing lives in ``cli``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from langchain_calibrate.offline import (
    LabelledRuns,
    cross_fit_confidences,
    fit_on_runs,
    load_labelled_runs,
)

__all__ = ["confidences_for", "run_evaluate", "run_fit", "run_report", "run_threshold"]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load(args: argparse.Namespace) -> LabelledRuns:
    runs = load_labelled_runs(args.runs, args.labels)
    extra = f" ({runs.n_unlabelled} unlabelled skipped)" if runs.n_unlabelled else ""
    _say(f"{args.runs}: {len(runs)} labelled runs{extra}, accuracy {runs.labels.mean():.3f}")
    return runs


def run_fit(args: argparse.Namespace) -> int:
    """``langchain-calibrate fit RUNS -o calibrator.json [--method ...]``."""
    runs = _load(args)
    _say(f"fitting ({args.method}) ...")
    result = fit_on_runs(runs, method=args.method, cv=args.cv, seed=args.seed)
    result.calibrator.save(args.output)
    _say(result.reason)
    print(f"wrote {args.output} ({result.method}, {result.n_runs} runs)")
    return 0


def confidences_for(args: argparse.Namespace, runs: LabelledRuns) -> tuple[NDArray[Any], str]:
    """The confidences to evaluate, and a sentence saying where they come from."""
    if args.calibrator:
        from langchain_calibrate.calibrators import load_calibrator

        if not os.path.isfile(args.calibrator):
            msg = (
                f"No calibrator file at {args.calibrator!r}; write one with "
                "`langchain-calibrate fit`."
            )
            raise ValueError(msg)
        calibrator = load_calibrator(args.calibrator)
        source = (
            f"calibrator {args.calibrator} ({calibrator.method}) applied to every run; the "
            "figures are honest only if it was fitted on other runs"
        )
        return np.asarray(calibrator.predict(runs.signals), dtype=float), source
    _say(f"no --calibrator: cross-fitting {args.method} over {args.cv} folds ...")
    conf = cross_fit_confidences(
        runs.signals, runs.labels, folds=args.cv, seed=args.seed, method=args.method
    )
    source = (
        f"out-of-fold {args.method} probabilities ({args.cv}-fold cross-fitting: no "
        "confidence comes from a calibrator that saw its run's label)"
    )
    return conf, source


def _summary(args: argparse.Namespace, runs: LabelledRuns, conf: NDArray[Any]) -> dict[str, Any]:
    from langchain_calibrate.metrics import calibration_summary

    if args.bootstrap:
        _say(f"bootstrapping {args.bootstrap} resamples ...")
    return calibration_summary(
        runs.labels, conf, n_bins=args.bins, n_resamples=args.bootstrap, seed=args.seed
    )


def run_evaluate(args: argparse.Namespace) -> int:
    """``langchain-calibrate evaluate RUNS [--calibrator C]``: every metric with an interval."""
    from langchain_calibrate.report import METRIC_LABELS

    runs = _load(args)
    conf, source = confidences_for(args, runs)
    summary = _summary(args, runs, conf)
    if args.json:
        payload = {
            "n": len(runs),
            "accuracy": float(runs.labels.mean()),
            "source": source,
            "metrics": {
                k: {"value": v.estimate, "low": v.low, "high": v.high} for k, v in summary.items()
            },
        }
        print(json.dumps(payload))
        return 0
    level = next(iter(summary.values())).level
    print(f"{len(runs)} runs, accuracy {runs.labels.mean():.3f}; {source}.")
    width = max(len(label) for label in METRIC_LABELS.values())
    print(f"{'metric':<{width}}  {'value':>8}  {f'{level:.0%} interval':>19}")
    for key, item in summary.items():
        interval = (
            f"[{item.low:.4f}, {item.high:.4f}]" if item.low is not None and item.high is not None
            else "-"
        )  # fmt: skip
        value = "n/a" if item.estimate is None else f"{item.estimate:.4f}"
        print(f"{METRIC_LABELS.get(key, key):<{width}}  {value:>8}  {interval:>19}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``langchain-calibrate report RUNS -o report.html``: HTML with the plots and the table."""
    from langchain_calibrate.report import write_html_report

    runs = _load(args)
    conf, source = confidences_for(args, runs)
    summary = _summary(args, runs, conf)
    threshold = None
    notes = [f"Confidences: {source}."]
    if args.threshold:
        from langchain_calibrate.thresholds import load_threshold

        fitted = load_threshold(args.threshold)
        threshold = None if fitted.answers_nothing else fitted.threshold
        notes.append(f"Threshold {args.threshold} (fitted on its own calibration data): "
                     f"{fitted.describe()}.")  # fmt: skip
    _say("drawing ...")
    path = write_html_report(
        args.output,
        runs.labels,
        conf,
        n_bins=args.bins,
        summary=summary,
        details={"run log": args.runs, "labels": args.labels or "in the run log"},
        notes=notes,
        threshold=threshold,
    )
    print(f"wrote {path}")
    return 0


def run_threshold(args: argparse.Namespace) -> int:
    """``langchain-calibrate threshold RUNS --target-risk 0.05 -o threshold.json``."""
    from langchain_calibrate.thresholds import (
        ThresholdWarning,
        fit_coverage_threshold,
        fit_risk_threshold,
    )

    for name, value in (("--target-risk", args.target_risk), ("--delta", args.delta)):
        if value is not None and not 0.0 < value < 1.0:
            msg = f"{name} must be between 0 and 1 (exclusive), got {value:g}; e.g. {name} 0.1."
            raise ValueError(msg)
    if args.target_coverage is not None and not 0.0 < args.target_coverage <= 1.0:
        msg = f"--target-coverage must be in (0, 1], got {args.target_coverage:g}; e.g. 0.8."
        raise ValueError(msg)
    runs = _load(args)
    conf, source = confidences_for(args, runs)
    # describe() below says the same thing as a ThresholdWarning would, in words.
    warnings.simplefilter("ignore", ThresholdWarning)
    if args.target_risk is not None:
        fitted = fit_risk_threshold(
            conf,
            runs.labels,
            target_risk=args.target_risk,
            delta=args.delta,
            min_answered=args.min_answered,
        )
    else:
        fitted = fit_coverage_threshold(conf, runs.labels, target_coverage=args.target_coverage)
    fitted.save(args.output)
    _say(f"Confidences: {source}.")
    print(fitted.describe())
    print(f"wrote {args.output}")
    return 0
