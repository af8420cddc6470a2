"""The routing examples (streaming, tiers, LangGraph, review queue), run as a user runs them.

Each runs as a subprocess against the session's real llama-server (``examples/_common.py``
reads ``LANGCHAIN_CALIBRATE_BASE_URL`` / ``LANGCHAIN_CALIBRATE_MODEL``), must exit 0 and print
its recognizable lines. The model's answers and scores are not asserted (they are the model's);
the shape of what each example reports is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(script: str, args: list[str], base_url: str, model_name: str) -> str:
    env = {
        **os.environ,
        "LANGCHAIN_CALIBRATE_BASE_URL": base_url,
        "LANGCHAIN_CALIBRATE_MODEL": model_name,
    }
    proc = subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Starting the local model server" not in proc.stderr  # it used the session's server
    return proc.stdout


def test_streaming_routing_example(base_url: str, model_name: str) -> None:
    out = run_example("examples/streaming_routing.py", ["--questions", "2"], base_url, model_name)
    final = out.strip().splitlines()[-1]
    match = re.fullmatch(
        r"streaming done: buffer kept (\d)/2, passthrough kept (\d)/2; "
        r"astream_events custom events: calibration, routing",
        final,
    )
    assert match, final
    assert out.count("[buffer] ") == 2 and out.count("[passthrough] ") == 2
    # Passthrough chunks: the answer's tokens, then the decision, then maybe the fallback.
    passthrough = out.split("[passthrough] ", 1)[1].split("[astream_events", 1)[0]
    assert "chunk 0: output=" in passthrough and "routing(" in passthrough
    assert out.count("decision: ") == 4
    assert "on_custom_event 'calibration': score=" in out
    assert "on_custom_event 'routing': confidence " in out


def test_tiered_routing_example(base_url: str, model_name: str) -> None:
    out = run_example("examples/tiered_routing.py", ["--questions", "6"], base_url, model_name)
    final = out.strip().splitlines()[-1]
    match = re.fullmatch(r"tiers taken: (.+) \((\d+) escalated to the k=3 chain first\)", final)
    assert match, final
    counts = dict(re.findall(r"(\w+) x(\d+)", match.group(1)))
    assert set(counts) <= {"answer", "review"}  # an escalated answer never stays "escalate"
    assert sum(map(int, counts.values())) == 6
    queued = re.search(r"(\d+) answers queued for review in ", out)
    assert queued and int(queued.group(1)) == int(counts.get("review", 0))
    assert len(re.findall(r"^\[(answer|review)\]", out, flags=re.MULTILINE)) == 6


def test_langgraph_example(base_url: str, model_name: str) -> None:
    out = run_example(
        "examples/langgraph_confidence.py", ["--questions", "6"], base_url, model_name
    )
    final = out.strip().splitlines()[-1]
    assert final.startswith("paths taken: "), final
    paths = dict(re.findall(r"(answer(?: -> \w+)*) x(\d+)", final))
    assert sum(map(int, paths.values())) == 6
    allowed = {"answer", "answer -> review", "answer -> widen", "answer -> widen -> review"}
    assert set(paths) <= allowed, paths
    reviewed = sum(int(n) for p, n in paths.items() if p.endswith("review"))
    queued = re.search(r"(\d+) answers queued for review in ", out)
    assert queued and int(queued.group(1)) == reviewed
    assert out.count("queued for review: 'Sent for review") == reviewed


def test_review_queue_example(base_url: str, model_name: str) -> None:
    out = run_example("examples/review_queue.py", ["--questions", "8"], base_url, model_name)
    assert re.search(r"\d+ verdicts recorded; labels in .+labels\.jsonl", out), out[-2000:]
    assert "answers queued for review in" in out
