"""Fit a calibrator on labelled runs, save it as JSON, load it, and get probabilities.

Labelled runs: HaluEval QA questions (rows 0-4999 only) answered by a RAG chain over their own
knowledge passages, graded against the right answer.

    python examples/fit_calibrator.py [--questions 80]
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from _common import completions_llm
from langchain_core.runnables import RunnableLambda

from langchain_calibrate import (
    LogisticCalibrator,
    ScoredRetriever,
    load_calibrator,
    route_by_confidence,
    with_calibration,
)
from langchain_calibrate.datasets import load_halueval_qa
from langchain_calibrate.demo import build_rag_chain, halueval_index
from langchain_calibrate.grading import is_correct
from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings
from langchain_calibrate.metrics import auroc, brier_score, expected_calibration_error


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=80)
    args = parser.parse_args()
    rows = load_halueval_qa(limit=400)  # a small corpus keeps the example quick
    embeddings = LocalMiniLMEmbeddings()
    store = halueval_index(rows, embeddings, cache_key="example-halueval-400")
    with ExitStack() as stack:
        chain = build_rag_chain(ScoredRetriever(vectorstore=store, k=2), completions_llm(stack))
        calibrated = with_calibration(chain, embeddings=embeddings)
        sample = rows[: args.questions]
        results = calibrated.batch([r.question for r in sample], config={"max_concurrency": 4})
        labels = np.array(
            [
                is_correct(str(res["output"]), r.right_answer)
                for res, r in zip(results, sample, strict=True)
            ],
            dtype=float,
        )
        signals = [res["calibration"].signals for res in results]

        cut = int(0.75 * len(sample))
        calibrator = LogisticCalibrator().fit(signals[:cut], labels[:cut])
        path = Path(tempfile.mkdtemp()) / "calibrator.json"
        calibrator.save(path)
        loaded = load_calibrator(path)  # JSON only: a tampered file is refused, never executed
        held_out = loaded.predict(signals[cut:])
        print(f"fitted on {cut} labelled runs, saved to {path}")
        print(
            f"held-out {len(held_out)}: accuracy {labels[cut:].mean():.2f}  "
            f"ECE {expected_calibration_error(labels[cut:], held_out):.3f}  "
            f"Brier {brier_score(labels[cut:], held_out):.3f}"
            + (
                f"  AUROC {auroc(labels[cut:], held_out):.3f}"
                if 0 < labels[cut:].sum() < len(held_out)
                else ""
            )
        )

        router = route_by_confidence(
            with_calibration(chain, loaded, embeddings=embeddings),
            0.5,
            RunnableLambda(lambda _: "I don't know."),
        )
        out = router.invoke(sample[-1].question)
        print(
            f"{sample[-1].question}\n -> {str(out['output']).strip()!r}: "
            f"P(correct)={out['calibration'].confidence:.2f}, {out['routing'].reason}"
        )


if __name__ == "__main__":
    main()
