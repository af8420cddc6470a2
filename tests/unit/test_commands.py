"""fit / evaluate / report on a run log, checked against scikit-learn and by decoding the PNGs."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from langchain_calibrate.calibrators import load_calibrator
from langchain_calibrate.cli import main
from langchain_calibrate.runlog import RunLogWriter

A, B = 1.6, -0.4  # the true miscalibration: P(correct) = sigmoid(A * logit(p) + B)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def write_log(path: Path, n: int, seed: int, *, labels_inline: bool = True) -> list[dict]:
    rng = np.random.default_rng(seed)
    p = rng.beta(2.0, 2.0, n).clip(1e-4, 1 - 1e-4)
    y = (rng.uniform(size=n) < sigmoid(A * np.log(p / (1 - p)) + B)).astype(int)
    writer = RunLogWriter(path)
    records = []
    for i in range(n):
        record = {
            "schema": "langchain-calibrate.run",
            "version": 1,
            "run_id": f"run-{seed}-{i}",
            "signals": {"sequence_prob": float(p[i]), "mean_logprob": float(np.log(p[i]))},
            "confidence": float(p[i]),
            "label": int(y[i]) if labels_inline else None,
        }
        writer.write_record(record)
        records.append(record)
    return records


def test_fit_platt_matches_an_unpenalised_sklearn_logistic_fit(tmp_path: Path, capsys) -> None:
    log = tmp_path / "runs.jsonl"
    records = write_log(log, 3000, seed=1)
    out = tmp_path / "cal.json"
    assert main(["fit", str(log), "-o", str(out), "--method", "platt"]) == 0
    assert "wrote" in capsys.readouterr().out
    p = np.array([r["signals"]["sequence_prob"] for r in records])
    y = np.array([r["label"] for r in records])
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(logit, y)
    expected = reference.predict_proba(logit)[:, 1]
    got = load_calibrator(out).predict([r["signals"] for r in records])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_fit_auto_says_what_it_chose_and_why(tmp_path: Path, capsys) -> None:
    log = tmp_path / "runs.jsonl"
    write_log(log, 400, seed=2)
    out = tmp_path / "cal.json"
    assert main(["fit", str(log), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "chose" in err and "400 labelled runs" in err
    assert load_calibrator(out).method in {
        "temperature", "platt", "logistic", "isotonic", "histogram", "beta"
    }  # fmt: skip


def ece_reference(y: np.ndarray, prob: np.ndarray, n_bins: int = 15) -> float:
    # Independent ECE from scikit-learn's bins: weights are the bin counts.
    prob_true, prob_pred = sk_calibration_curve(y, prob, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0, 1, n_bins + 1)
    counts = np.histogram(prob, bins=edges)[0]
    counts = counts[counts > 0]
    return float(np.sum(counts / len(y) * np.abs(prob_true - prob_pred)))


def test_evaluate_with_a_calibrator_reports_sklearn_values(tmp_path: Path, capsys) -> None:
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    write_log(train, 2000, seed=3)
    records = write_log(test, 1500, seed=4)
    cal = tmp_path / "cal.json"
    main(["fit", str(train), "-o", str(cal), "--method", "platt"])
    capsys.readouterr()
    code = main(["evaluate", str(test), "--calibrator", str(cal), "--json", "--bootstrap", "200"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    y = np.array([r["label"] for r in records])
    prob = load_calibrator(cal).predict([r["signals"] for r in records])
    metrics = payload["metrics"]
    assert payload["n"] == 1500
    assert metrics["auroc"]["value"] == pytest.approx(roc_auc_score(y, prob), abs=1e-9)
    assert metrics["ece"]["value"] == pytest.approx(ece_reference(y, prob), abs=1e-9)
    for item in metrics.values():
        if item["low"] is not None:
            assert item["low"] <= item["value"] <= item["high"] or item["low"] <= item["high"]


def test_evaluate_table_and_labels_file_join(tmp_path: Path, capsys) -> None:
    log = tmp_path / "runs.jsonl"
    records = write_log(log, 300, seed=5, labels_inline=False)
    rng = np.random.default_rng(9)
    labels = tmp_path / "labels.csv"
    ys = rng.integers(0, 2, size=300)
    labels.write_text(
        "run_id,label\n" + "".join(f"{r['run_id']},{y}\n" for r, y in zip(records, ys, strict=True))
    )
    assert main(["evaluate", str(log), "--labels", str(labels), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "300 runs" in out and "out-of-fold logistic" in out
    assert re.search(r"AUROC\s+0\.\d{4}", out)


def test_report_writes_html_with_pngs_that_open(tmp_path: Path) -> None:
    import matplotlib.image

    log = tmp_path / "runs.jsonl"
    write_log(log, 500, seed=6)
    html = tmp_path / "out" / "report.html"
    assert main(["report", str(log), "-o", str(html), "--bootstrap", "100"]) == 0
    text = html.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 2
    for data in images:
        raw = base64.b64decode(data)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(io.BytesIO(raw), format="png")
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert "AUROC" in text and "Reliability diagram" in text


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("missing", "No run log"),
        ("unlabelled", "No labelled runs"),
        ("one_class", "both correct and incorrect"),
    ],
)
def test_bad_run_logs_fail_with_one_line(tmp_path: Path, capsys, setup: str, expect: str) -> None:
    log = tmp_path / "runs.jsonl"
    if setup == "unlabelled":
        write_log(log, 20, seed=7, labels_inline=False)
    elif setup == "one_class":
        writer = RunLogWriter(log)
        for i in range(20):
            writer.write_record({"run_id": str(i), "signals": {"sequence_prob": 0.5}, "label": 1})
    code = main(["fit", str(log), "-o", str(tmp_path / "c.json")])
    assert code == 1
    assert expect in capsys.readouterr().err


def test_threshold_refuses_a_target_outside_0_1_before_any_work(tmp_path: Path, capsys) -> None:
    log = tmp_path / "runs.jsonl"
    write_log(log, 40, seed=8)
    code = main(["threshold", str(log), "--target-risk", "2", "-o", str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert code == 1 and "--target-risk must be between 0 and 1" in err
    assert "cross-fitting" not in err and not (tmp_path / "t.json").exists()


def test_bootstrap_interval_stays_inside_the_metrics_range() -> None:
    from langchain_calibrate.metrics import auroc, bootstrap_interval

    # Perfectly separated: every resample's AUROC is 1, and the reflected (basic) interval
    # would otherwise reach above 1 for a nearly separated sample.
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
    p = np.where(y == 1, 0.6, 0.4) + np.linspace(0, 0.2, 16) * (1 - 2 * (np.arange(16) % 3 == 0))
    interval = bootstrap_interval(auroc, y, p, n_resamples=300, seed=1)
    assert 0.0 <= interval.low <= interval.high <= 1.0
