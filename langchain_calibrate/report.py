"""Reports people can look at: a reliability diagram with bin counts, a risk-coverage plot, and
an HTML page that holds them (as inline PNG) next to a table of every metric with its interval.

matplotlib is needed only here (``pip install 'langchain-calibrate[report]'``). Figures are
drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot, so making a
report touches no global plotting state and works in threads and without a display.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from langchain_calibrate._version import __version__
from langchain_calibrate.metrics import (
    MetricInterval,
    calibration_curve,
    calibration_summary,
    risk_coverage_curve,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "METRIC_LABELS",
    "reliability_diagram_png",
    "risk_coverage_png",
    "write_html_report",
]

METRIC_LABELS: dict[str, str] = {
    "ece": "ECE (15 equal-width bins)",
    "ece_quantile": "ECE (15 equal-mass bins)",
    "mce": "MCE (max bin gap)",
    "smooth_ece": "smooth ECE (kernel, no bins)",
    "brier": "Brier score",
    "nll": "NLL (log loss)",
    "auroc": "AUROC",
    "auprc": "AUPRC (correct = positive)",
    "aurc": "AURC (lower is better)",
    "prr": "PRR (1 oracle, 0 random)",
}
"""Human names for the keys of ``metrics.calibration_summary``."""


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        msg = (
            "Reports need matplotlib: pip install 'langchain-calibrate[report]' "
            "(or pip install matplotlib)."
        )
        raise ImportError(msg) from exc
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def reliability_diagram_png(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 15,
    title: str = "Reliability diagram",
) -> bytes:
    """Draw accuracy against confidence per bin, with how many answers fall in each bin.

    The top panel shows each bin's accuracy as a bar at its position on [0, 1] (the gap to the
    diagonal is the miscalibration) and writes the bin's count above it; the bottom panel is the
    histogram of confidences, so a bin holding three answers cannot pass for solid evidence.

    Args:
        y_true: 0/1 correctness labels.
        y_prob: Confidences in [0, 1].
        n_bins: Equal-width bins.
        title: Figure title.

    Returns:
        PNG bytes.
    """
    prob_true, prob_pred, counts = calibration_curve(y_true, y_prob, n_bins=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    width = 1.0 / n_bins
    centers = np.clip(np.searchsorted(edges[1:-1], prob_pred, side="left"), 0, n_bins - 1)
    left = edges[centers]
    fig = _figure(6.4, 6.4)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    top.bar(left, prob_true, width=width, align="edge", edgecolor="black", alpha=0.75,
            label="accuracy in bin")  # fmt: skip
    top.scatter(prob_pred, prob_true, color="black", s=12, zorder=3, label="mean confidence")
    for x, y, n in zip(left, prob_true, counts, strict=True):
        top.annotate(f"{n}", (x + width / 2, y), ha="center", va="bottom", fontsize=7,
                     xytext=(0, 2), textcoords="offset points")  # fmt: skip
    top.set_ylim(0, 1.08)
    top.set_ylabel("accuracy")
    top.set_title(f"{title} (n = {int(np.sum(counts))}, numbers = answers per bin)")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(left, counts, width=width, align="edge", edgecolor="black", color="tab:grey")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("answers")
    return _png(fig)


def risk_coverage_png(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    title: str = "Risk-coverage",
    threshold: float | None = None,
) -> bytes:
    """Draw the error rate among kept answers against the share of answers kept.

    Args:
        y_true: 0/1 correctness labels.
        y_score: Confidences (higher = keep first).
        title: Figure title.
        threshold: A fitted confidence threshold to mark on the curve, if any.

    Returns:
        PNG bytes.
    """
    coverage, risk, thresholds = risk_coverage_curve(y_true, y_score)
    labels = np.asarray(y_true, dtype=float)
    fig = _figure()
    ax = fig.subplots()
    ax.step(coverage, risk, where="post", label="this confidence")
    ax.axhline(1.0 - labels.mean(), color="grey", linestyle="--", linewidth=1,
               label="answer everything")  # fmt: skip
    n, errors = labels.size, int(np.sum(1 - labels))
    kept = np.arange(1, n + 1)
    # The oracle keeps every correct answer before any wrong one.
    oracle_risk = np.maximum(0, kept - (n - errors)) / kept
    ax.plot(kept / n, oracle_risk, color="green", linewidth=1, label="oracle")
    if threshold is not None:
        passing = thresholds >= threshold
        if passing.any():
            i = int(np.nonzero(passing)[0][-1])
            ax.scatter([coverage[i]], [risk[i]], color="red", zorder=3,
                       label=f"threshold {threshold:.3f}")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(0.05, float(np.max(risk)) * 1.1))
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("risk (error rate among answered)")
    ax.set_title(f"{title} (n = {n}, {errors} wrong)")
    ax.legend(fontsize=8)
    return _png(fig)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def metrics_table_html(summary: Mapping[str, MetricInterval]) -> str:
    """The metric table as HTML (value and bootstrap interval per metric)."""
    rows = []
    for key, item in summary.items():
        label = METRIC_LABELS.get(key, key)
        interval = (
            f"[{_cell(item.low)}, {_cell(item.high)}]" if item.low is not None else "(no bootstrap)"
        )
        rows.append(
            f"<tr><td>{html.escape(label)}</td><td>{_cell(item.estimate)}</td>"
            f"<td>{interval}</td></tr>"
        )
    level = next(iter(summary.values())).level if summary else 0.95
    return (
        f"<table><thead><tr><th>metric</th><th>value</th><th>{level:.0%} interval</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def write_html_report(
    path: str | os.PathLike[str],
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    title: str = "langchain-calibrate report",
    n_bins: int = 15,
    n_resamples: int = 1000,
    seed: int = 0,
    details: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    threshold: float | None = None,
    summary: Mapping[str, MetricInterval] | None = None,
) -> Path:
    """Write a self-contained HTML report: metric table, reliability diagram, risk-coverage.

    Args:
        path: The HTML file to write.
        y_true: 0/1 correctness labels.
        y_prob: Calibrated confidences in [0, 1].
        title: Page title.
        n_bins: Bins for ECE and the reliability diagram.
        n_resamples: Bootstrap resamples for the intervals (0 for none).
        seed: Bootstrap seed.
        details: Key/value facts shown at the top (run log, calibrator, model...).
        notes: Sentences shown under the details (how the confidences were obtained).
        threshold: A fitted threshold to mark on the risk-coverage plot.
        summary: Precomputed ``calibration_summary`` (computed here when ``None``).

    Returns:
        The path written.
    """
    if summary is None:
        summary = calibration_summary(
            y_true, y_prob, n_bins=n_bins, n_resamples=n_resamples, seed=seed
        )
    labels = np.asarray(y_true, dtype=float)
    facts = {
        "answers": str(labels.size),
        "accuracy": f"{labels.mean():.3f}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "langchain-calibrate": __version__,
        **{str(k): str(v) for k, v in (details or {}).items()},
    }
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts.items()
    )
    note_html = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{fact_rows}</table>
{note_html}
<h2>Metrics</h2>
{metrics_table_html(summary)}
<h2>Reliability diagram</h2>
{_img(reliability_diagram_png(y_true, y_prob, n_bins=n_bins), "reliability diagram")}
<h2>Risk-coverage</h2>
{_img(risk_coverage_png(y_true, y_prob, threshold=threshold), "risk-coverage curve")}
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
