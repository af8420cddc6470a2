"""Send low-confidence answers to a review queue, judge them, and turn the verdicts into labels.

HaluEval QA questions (rows 0-4999 only) go through a RAG chain over their own knowledge
passages; answers at or above the threshold are returned, the rest are replaced by a holding
message and queued in a SQLite file. The queue is listed with the review CLI, a verdict is
recorded for each queued answer (here by grading it against HaluEval's right answer, standing in
for a person), and the verdicts are exported as the labels ``langchain-calibrate fit`` reads.

    python examples/review_queue.py [--questions 20] [--threshold 0.7]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import completions_llm

from langchain_calibrate.review import ReviewQueue, review_writer
from langchain_calibrate.review.cli import main as review_cli
from langchain_calibrate.runnable import CalibratedRunnable
from langchain_calibrate.tiers import Tier, TieredRouter, route_by_tiers


def build_router(
    calibrated: CalibratedRunnable, queue: ReviewQueue, threshold: float
) -> TieredRouter:
    """Two tiers: answer at or above ``threshold``; everything else (and no logprobs) to review."""
    return route_by_tiers(
        calibrated,
        [
            Tier(name="answer", min_confidence=threshold),
            Tier(name="review", action=review_writer(queue)),
        ],
        route_on_flags=["no_logprobs", "capture_error"],
    )


def answer_all(router: TieredRouter, questions: Sequence[str]) -> list[dict[str, Any]]:
    """Route every question (four at a time) and print where each answer went."""
    results = router.batch(list(questions), config={"max_concurrency": 4})
    for question, result in zip(questions, results, strict=True):
        decision = result["routing"]
        print(f"[{decision.tier:>6}] {question}\n         -> {str(result['output']).strip()!r}")
    return results


def review_pending(
    queue: ReviewQueue, judge: Callable[[str, str], bool], right_answers: Mapping[str, str]
) -> int:
    """Record a verdict for every pending answer; ``judge(answer, right_answer)`` decides.

    Returns:
        The number of verdicts recorded.
    """
    done = 0
    for item in queue.pending():
        right = right_answers.get(item.question)
        if right is None:
            continue
        verdict = "correct" if judge(item.answer, right) else "incorrect"
        queue.record_verdict(item.run_id, verdict, reviewer="grader", note=f"right: {right}")
        done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.7, help="raw score to answer at")
    args = parser.parse_args()

    from langchain_calibrate import ScoredRetriever, with_calibration
    from langchain_calibrate.datasets import load_halueval_qa
    from langchain_calibrate.demo import build_rag_chain, halueval_index
    from langchain_calibrate.grading import is_correct
    from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

    rows = load_halueval_qa(limit=400)  # a small corpus keeps the example quick
    embeddings = LocalMiniLMEmbeddings()
    store = halueval_index(rows, embeddings, cache_key="example-halueval-400")
    folder = Path(tempfile.mkdtemp())
    db = folder / "review.db"
    with ExitStack() as stack:
        chain = build_rag_chain(ScoredRetriever(vectorstore=store, k=2), completions_llm(stack))
        queue = stack.enter_context(ReviewQueue(db))
        router = build_router(with_calibration(chain, embeddings=embeddings), queue, args.threshold)
        sample = rows[: args.questions]
        answer_all(router, [r.question for r in sample])

    print(f"\n{queue.count('pending')} answers queued for review in {db}:")
    review_cli(["list", "--db", str(db)])
    with ReviewQueue(db) as queue:
        done = review_pending(queue, is_correct, {r.question: r.right_answer for r in sample})
        if done:
            review_cli(["show", queue.items("reviewed")[0].run_id, "--db", str(db)])
        labels, runs = folder / "labels.jsonl", folder / "runs.jsonl"
        review_cli(["export", "--labels", str(labels), "--runs", str(runs), "--db", str(db)])
    print(f"{done} verdicts recorded; labels in {labels}, runs in {runs}")


if __name__ == "__main__":
    main()
