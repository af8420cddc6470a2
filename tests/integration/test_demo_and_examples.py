"""The main job and the examples, run as a user runs them, on the real local model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str] | None = None, timeout: int = 1500):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_demo_on_the_local_default_prints_json_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run(
        [
            "-m",
            "langchain_calibrate.cli",
            "demo",
            "--questions",
            "30",
            "--json",
            "--out-dir",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["n"] == 30
    for key in ("accuracy", "ece", "brier"):
        assert 0.0 <= summary[key] <= 1.0
    assert summary["auroc"] is None or 0.0 <= summary["auroc"] <= 1.0
    # The question's own passage is retrieved far more often than chance (1 in ~5,000).
    assert summary["retrieval_hit_rate"] > 0.5
    # The run log was written by with_calibration(log_to=...) during the real runs...
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert summary["fit_questions"] == 30  # by default as many calibration questions
    assert len(records) == 60
    assert all(r["schema"] == "langchain-calibrate.run" and r["label"] is None for r in records)
    assert all(r["model_name"] and r["signals"]["sequence_prob"] is not None for r in records)
    # ...and the labels, keyed by run id, cover exactly those runs, from rows 0-4999 only.
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text().splitlines()]
    assert {x["run_id"] for x in labels} == {r["run_id"] for r in records}
    assert all(x["row"] < 5000 for x in labels)
    reported = [x for x in labels if x["part"] == "reported"]
    calibration = [x for x in labels if x["part"] == "calibration"]
    assert len(reported) == len(calibration) == 30
    assert not {x["row"] for x in reported} & {x["row"] for x in calibration}
    assert sum(x["label"] for x in reported) == round(summary["accuracy"] * 30)
    assert sum(x["label"] for x in calibration) == round(summary["fit_accuracy"] * 30)
    assert all(0.0 <= x["out_of_fold_confidence"] <= 1.0 for x in reported)
    assert all(x["out_of_fold_confidence"] is None for x in calibration)
    assert (out / "calibrator.json").is_file()
    assert "data:image/png;base64," in (out / "report.html").read_text()
    # Every answer was shown with its confidence and flags.
    assert sum(1 for line in lines if line[:5].strip().replace(".", "").isdigit()) >= 30
    assert "Local model server ready" in proc.stderr

    # The toolkit commands run on the demo's own run log.
    runs, lab = str(out / "runs.jsonl"), str(out / "labels.jsonl")
    cli = ["-m", "langchain_calibrate.cli"]
    fit = run([*cli, "fit", runs, "--labels", lab, "-o", str(tmp_path / "c.json")], timeout=300)
    assert fit.returncode == 0, fit.stderr
    ev = run(
        [*cli, "evaluate", runs, "--labels", lab, "--calibrator", str(tmp_path / "c.json"),
         "--json", "--bootstrap", "200"],
        timeout=300,
    )  # fmt: skip
    assert ev.returncode == 0, ev.stderr
    payload = json.loads(ev.stdout.strip().splitlines()[-1])
    assert payload["n"] == 60 and 0.0 <= payload["metrics"]["ece"]["value"] <= 1.0
    rep = run(
        [*cli, "report", runs, "--labels", lab, "--cv", "3", "-o", str(tmp_path / "r.html")],
        timeout=300,
    )
    assert rep.returncode == 0, rep.stderr
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") == 2


def test_demo_rejects_bad_arguments() -> None:
    proc = run(["-m", "langchain_calibrate.cli", "demo", "--questions", "0"])
    assert proc.returncode == 2 and "positive integer" in proc.stderr
    proc = run(["-m", "langchain_calibrate.cli", "demo", "--questions", "4"])
    assert proc.returncode == 1 and "--questions must be at least 10" in proc.stderr
    # Checked before any model starts: these fail at once, not after answering.
    for args, expect in [
        (["--folds", "1", "--questions", "10"], "--folds must be >= 2"),
        (["--questions", "6000"], "reserved for independent evaluation"),
        (["--out-dir", "pyproject.toml"], "is a file"),
    ]:
        proc = run(["-m", "langchain_calibrate.cli", "demo", *args], timeout=60)
        assert proc.returncode == 1 and expect in proc.stderr, proc.stderr
        assert "Starting the local model server" not in proc.stderr


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("examples/quickstart.py", [], "I don't know"),
        ("examples/callback_handler.py", [], "handler state left behind: 0 runs"),
        ("examples/fit_calibrator.py", ["--questions", "40"], "P(correct)="),
    ],
)
def test_examples_run(
    script: str, args: list[str], expect: str, base_url: str, model_name: str
) -> None:
    env = {"LANGCHAIN_CALIBRATE_BASE_URL": base_url, "LANGCHAIN_CALIBRATE_MODEL": model_name}
    proc = run([script, *args], env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expect in proc.stdout


def test_demo_reports_a_dead_endpoint_in_one_line() -> None:
    proc = run(
        [
            "-m",
            "langchain_calibrate.cli",
            "demo",
            "--questions",
            "10",
            "--folds",
            "2",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "x",
            "--quiet",
        ],
        timeout=300,
    )
    assert proc.returncode == 1
    endpoint = "http://127.0.0.1:9/v1/completions"
    assert f"error: could not reach the model endpoint {endpoint}" in proc.stderr
    assert "Connection refused" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_against_a_given_endpoint(base_url: str, model_name: str) -> None:
    proc = run(
        [
            "-m",
            "langchain_calibrate.cli",
            "demo",
            "--questions",
            "16",
            "--folds",
            "2",
            "--quiet",
            "--json",
            "--base-url",
            base_url,
            "--model",
            model_name,
            "--seed",
            "7",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["n"] == 16 and summary["base_url"] == base_url
    assert summary["model"] == model_name and summary["folds"] == 2
    assert "Starting the local model server" not in proc.stderr
