"""A LangGraph graph with a conditional edge on confidence: answer, widen the retrieval once, or
send the answer for review.

    START -> answer --(score >= high)------------------------------> END  (answered)
                    --(low <= score < high, not widened yet)--> widen --> (the same edge again)
                    --(score < low, flagged, or no score)-------> review -> END  (queued)

``answer`` runs the calibrated RAG chain (HaluEval QA passages, rows 0-4999 only, on the local
model); ``widen`` answers once more with a wider retrieval (k=3 passages instead of 2; the
counter ``widens`` in the state stops a second widening); ``review`` puts the answer in a
``ReviewQueue`` (SQLite in a temporary folder) and returns a holding message. Answers flagged
``low_evidence`` (the passages barely support them) or without logprobs go to review too.

``build_confidence_graph`` takes any ``with_calibration`` chain, so the same graph runs on any
model (the unit tests run it on a fake one).

Without a fitted calibrator the confidence is the model's raw sequence score, not a probability,
so ``--high``/``--low`` are score thresholds picked to make every branch plausible with the 270M
model.

    python examples/langgraph_confidence.py [--questions 8] [--high 0.7] [--low 0.5]
"""

from __future__ import annotations

import argparse
import operator
import tempfile
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from langchain_calibrate.result import Calibration
from langchain_calibrate.review import ReviewQueue, review_writer
from langchain_calibrate.runnable import CalibratedRunnable

HOLDING_MESSAGE = "Sent for review; a person will check the answer (ref {run_id})."

Step = Literal["widen", "review", "__end__"]


class ConfidenceState(TypedDict, total=False):
    """What the graph carries from node to node."""

    question: str
    """The input."""
    answer: str
    """The latest answer, or the holding message once queued for review."""
    calibration: Calibration
    """The latest answer's calibration (the one that decided the last step)."""
    widens: int
    """How many times the retrieval was widened (at most ``max_widens``)."""
    path: Annotated[list[str], operator.add]
    """The nodes visited, in order (each node appends its name)."""
    reason: str
    """Why the last conditional edge went where it did."""
    outcome: str
    """``"answered"`` or ``"queued for review"``."""


@dataclass(frozen=True)
class ConfidencePolicy:
    """The conditional edge: where an answer with this calibration goes next.

    Attributes:
        high: Scores at or above this are answered.
        low: Scores in ``[low, high)`` are widened (while widenings remain); below, reviewed.
        route_on_flags: Flags that send an answer to review whatever its score.
        max_widens: How many times an answer may be re-retrieved.
    """

    high: float
    low: float
    route_on_flags: tuple[str, ...] = ("no_logprobs", "capture_error")
    max_widens: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.low <= self.high <= 1.0:
            msg = (
                "need 0 <= low <= high <= 1 (low must not exceed high); "
                f"got low={self.low}, high={self.high}"
            )
            raise ValueError(msg)

    def decide(self, calibration: Calibration, widens: int) -> tuple[Step, str]:
        """The next step and a one-line reason."""
        kind = "probability" if calibration.is_calibrated else "score"
        if calibration.confidence is None:
            return "review", "no confidence (no logprobs and no calibrator)"
        flagged = [f for f in calibration.flags if f in self.route_on_flags]
        if flagged:
            return "review", f"flagged: {', '.join(flagged)}"
        value = calibration.confidence
        if value >= self.high:
            return END, f"{kind} {value:.3f} >= high {self.high:.3f}"
        if value >= self.low and widens < self.max_widens:
            return "widen", f"{kind} {value:.3f} in [low {self.low:.3f}, high {self.high:.3f})"
        if value >= self.low:
            return "review", f"{kind} {value:.3f} < high {self.high:.3f} after widening"
        return "review", f"{kind} {value:.3f} < low {self.low:.3f}"


def _text(output: Any) -> str:
    """The answer text of a chain's output (a string, or a chat model's message)."""
    return (output.text if isinstance(output, BaseMessage) else str(output)).strip()


def build_confidence_graph(
    calibrated: CalibratedRunnable,
    *,
    queue: ReviewQueue,
    widened: CalibratedRunnable | None = None,
    high: float = 0.7,
    low: float = 0.5,
    route_on_flags: Sequence[str] = ("no_logprobs", "capture_error"),
    max_widens: int = 1,
    message: str = HOLDING_MESSAGE,
) -> CompiledStateGraph:
    """Compile the answer / widen / review graph around any calibrated chain.

    Args:
        calibrated: A ``with_calibration`` chain taking the question.
        queue: Where answers sent for review go.
        widened: The chain the ``widen`` node runs (e.g. the same RAG chain with more
            passages); default ``calibrated`` itself.
        high: Answer at or above this confidence.
        low: Widen between ``low`` and ``high``; review below ``low``.
        route_on_flags: Flags that send an answer to review whatever its confidence.
        max_widens: How many times the ``widen`` node may run for one question.
        message: The holding message; ``{run_id}`` is replaced by the queued run's id.

    Returns:
        A compiled graph: input ``{"question": ...}``, output the final ``ConfidenceState``.
    """
    policy = ConfidencePolicy(high, low, tuple(route_on_flags), max_widens)
    wide = widened if widened is not None else calibrated
    writer = review_writer(queue, message=message)

    def judged(node: str, result: dict[str, Any], widens: int) -> dict[str, Any]:
        step, reason = policy.decide(result["calibration"], widens)
        return {
            "answer": _text(result["output"]),
            "calibration": result["calibration"],
            "widens": widens,
            "path": [node],
            "reason": reason,
            "outcome": "answered" if step == END else "pending",
        }

    def answer(state: ConfidenceState, config: RunnableConfig) -> dict[str, Any]:
        return judged("answer", calibrated.invoke(state["question"], config), 0)

    def widen(state: ConfidenceState, config: RunnableConfig) -> dict[str, Any]:
        return judged("widen", wide.invoke(state["question"], config), state["widens"] + 1)

    def review(state: ConfidenceState, config: RunnableConfig) -> dict[str, Any]:
        routed = {
            "input": state["question"],
            "output": state["answer"],
            "calibration": state["calibration"],
            "routing": {"tier": "review", "reason": state["reason"]},
        }
        return {
            "answer": writer.invoke(routed, config),
            "outcome": "queued for review",
            "path": ["review"],
        }

    def on_confidence(state: ConfidenceState) -> Step:
        """The conditional edge: read the latest answer's calibration."""
        return policy.decide(state["calibration"], state["widens"])[0]

    graph = StateGraph(ConfidenceState)
    graph.add_node("answer", answer)
    graph.add_node("widen", widen)
    graph.add_node("review", review)
    graph.add_edge(START, "answer")
    for node in ("answer", "widen"):
        graph.add_conditional_edges(
            node, on_confidence, {"widen": "widen", "review": "review", END: END}
        )
    graph.add_edge("review", END)
    return graph.compile()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--high", type=float, default=0.7, help="raw score to answer at")
    parser.add_argument("--low", type=float, default=0.5, help="raw score below which: review")
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
        graph = build_confidence_graph(
            rag(2),
            widened=rag(3),
            queue=queue,
            high=args.high,
            low=args.low,
            route_on_flags=("no_logprobs", "capture_error", "low_evidence"),
        )
        sample = rows[: args.questions]
        print("No calibrator is fitted: the confidences below are raw scores, not probabilities.")
        states = graph.batch([{"question": r.question} for r in sample], {"max_concurrency": 4})
        for state in states:
            route = " -> ".join(state["path"])
            print(f"[{route}] {state['question']}")
            print(f"    {state['reason']}; {state['outcome']}: {state['answer']!r}")
        queued = queue.count("pending")
    paths = Counter(" -> ".join(s["path"]) for s in states)
    print(f"\n{queued} answers queued for review in {db}")
    print("paths taken: " + ", ".join(f"{path} x{n}" for path, n in paths.most_common()))


if __name__ == "__main__":
    main()
