"""Three tiers on the local model: answer, escalate, review.

* ``answer``: an answer scoring at least ``--answer-at`` is returned as it is.
* ``escalate``: one scoring at least ``--escalate-at`` is answered again by a "bigger" chain,
  whose answer is scored and placed on the same ladder once more (it cannot escalate twice).
  Honestly: the local default has no bigger model, so the "bigger" chain here is the same
  Gemma 3 270M with k=3 retrieved passages instead of 2. In production it would be a larger
  model's ``with_calibration`` chain (with its own calibrator).
* ``review``: everything else, and any answer without logprobs, goes to a review queue (SQLite
  in a temporary folder) and the user gets a holding message.

HaluEval QA questions (rows 0-4999 only) go through a RAG chain over their own passages. No
calibrator is fitted, so the thresholds are raw sequence scores, not probabilities.

    python examples/tiered_routing.py [--questions 8] [--answer-at 0.75] [--escalate-at 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from langchain_calibrate.review import ReviewQueue, review_writer
from langchain_calibrate.runnable import CalibratedRunnable
from langchain_calibrate.tiers import Tier, TieredRouter, route_by_tiers


def build_ladder(
    small: CalibratedRunnable,
    bigger: CalibratedRunnable,
    queue: ReviewQueue,
    answer_at: float,
    escalate_at: float,
) -> TieredRouter:
    """answer >= ``answer_at``; escalate to ``bigger`` >= ``escalate_at``; else review."""
    return route_by_tiers(
        small,
        [
            Tier(name="answer", min_confidence=answer_at),
            Tier(name="escalate", min_confidence=escalate_at, action=bigger),
            Tier(name="review", action=review_writer(queue)),
        ],
        route_on_flags=["no_logprobs", "capture_error"],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--answer-at", type=float, default=0.75, help="raw score to answer at")
    parser.add_argument(
        "--escalate-at", type=float, default=0.5, help="raw score to escalate at (else review)"
    )
    args = parser.parse_args()

    from _common import completions_llm

    from langchain_calibrate import ScoredRetriever, with_calibration
    from langchain_calibrate.datasets import load_halueval_qa
    from langchain_calibrate.demo import build_rag_chain, halueval_index
    from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

    rows = load_halueval_qa(limit=400)  # a small corpus keeps the example quick
    embeddings = LocalMiniLMEmbeddings()
    store = halueval_index(rows, embeddings, cache_key="example-halueval-400")
    db = Path(tempfile.mkdtemp()) / "review.db"
    with ExitStack() as stack:
        llm = completions_llm(stack)

        def rag(k: int) -> CalibratedRunnable:
            chain = build_rag_chain(ScoredRetriever(vectorstore=store, k=k), llm)
            return with_calibration(chain, embeddings=embeddings)

        queue = stack.enter_context(ReviewQueue(db))
        router = build_ladder(rag(2), rag(3), queue, args.answer_at, args.escalate_at)
        sample = rows[: args.questions]
        print("No calibrator is fitted: the confidences below are raw scores, not probabilities.")
        results = router.batch([r.question for r in sample], config={"max_concurrency": 4})
        for row, result in zip(sample, results, strict=True):
            decision = result["routing"]
            via = (
                f" (escalated from {decision.escalated_from!r})" if decision.escalated_from else ""
            )
            print(f"[{decision.tier}]{via} {row.question}")
            print(f"    {decision.reason}\n    -> {str(result['output']).strip()!r}")
        queued = queue.count("pending")
    tiers = Counter(r["routing"].tier for r in results)
    escalated = sum(1 for r in results if r["routing"].escalated_from)
    print(f"\n{queued} answers queued for review in {db}")
    print(
        "tiers taken: "
        + ", ".join(f"{tier} x{n}" for tier, n in tiers.most_common())
        + f" ({escalated} escalated to the k=3 chain first)"
    )


if __name__ == "__main__":
    main()
