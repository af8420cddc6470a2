"""Stream a confidence-routed answer two ways, and watch the calibration and routing events.

* ``stream_mode="buffer"`` (the default): the answer is held until it is scored and released
  only if it passes; otherwise the fallback streams instead. The user never sees a routed answer.
* ``stream_mode="passthrough"``: the answer's tokens stream as the model writes them, then one
  chunk carries the score and the decision; when routed, the fallback follows as
  ``{"fallback": chunk}`` chunks so a UI can replace what it showed.

In both, ``astream_events(version="v2")`` reports an ``on_custom_event`` named ``calibration``
(the ``Calibration``) and one named ``routing`` (``{"routing", "calibration"}``).

HaluEval QA questions (rows 0-4999 only) go through a RAG chain over their own passages on the
local model. No calibrator is fitted here, so the confidence is the model's raw sequence score,
not a probability; the threshold is a score picked so that some answers pass and some do not.

    python examples/streaming_routing.py [--questions 3] [--threshold 0.6]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

from langchain_core.runnables import Runnable, RunnableGenerator

from langchain_calibrate.routing import ROUTING_EVENT, ConfidenceRouter, route_by_confidence
from langchain_calibrate.runnable import CALIBRATION_EVENT, CalibratedRunnable

FALLBACK_TEXT = "I'm not sure enough to answer that."


def streaming_fallback(text: str = FALLBACK_TEXT) -> Runnable[Any, str]:
    """A fallback that streams a fixed reply word by word, as a model would."""

    def words() -> Iterator[str]:
        parts = text.split(" ")
        yield from [parts[0], *(" " + p for p in parts[1:])]

    def gen(_: Iterator[Any]) -> Iterator[str]:
        yield from words()

    async def agen(inputs: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for _ in inputs:
            pass
        for word in words():
            yield word

    return RunnableGenerator(gen, agen, name="streaming_fallback")


def describe(chunk: Mapping[str, Any]) -> str:
    """One line for a router chunk: its keys with short values."""
    parts = []
    for key, value in chunk.items():
        if key == "calibration":
            score = "none" if value.confidence is None else f"{value.confidence:.3f}"
            parts.append(f"calibration(score={score}, flags={value.flags})")
        elif key == "routing":
            parts.append(f"routing({'routed' if value.routed else 'kept'})")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def show_stream(router: ConfidenceRouter, question: str) -> bool:
    """Print every chunk and the decision; return whether the answer was kept."""
    print(f"\n[{router.stream_mode}] {question}")
    total: Any = None
    for number, chunk in enumerate(router.stream(question)):
        print(f"  chunk {number}: {describe(chunk)}")
        total = chunk if total is None else total + chunk
    decision = total["routing"]
    shown = total.get("fallback", total.get("output"))
    verdict = "routed" if decision.routed else "kept"
    print(f"  decision: {verdict} ({decision.reason}); the user sees {str(shown).strip()!r}")
    return not decision.routed


async def show_events(router: ConfidenceRouter, question: str) -> list[str]:
    """Print the custom events ``astream_events`` reports; return their names."""
    print(f"\n[astream_events, {router.stream_mode}] {question}")
    names = []
    async for event in router.astream_events(question, version="v2"):
        if event["event"] != "on_custom_event":
            continue
        names.append(event["name"])
        data = event["data"]
        if event["name"] == CALIBRATION_EVENT:
            score = "none" if data.confidence is None else f"{data.confidence:.3f}"
            print(f"  on_custom_event {event['name']!r}: score={score} run_id={data.run_id}")
        elif event["name"] == ROUTING_EVENT:
            print(f"  on_custom_event {event['name']!r}: {data['routing'].reason}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.6, help="raw score to keep at")
    args = parser.parse_args()

    from _common import completions_llm

    from langchain_calibrate import ScoredRetriever, with_calibration
    from langchain_calibrate.datasets import load_halueval_qa
    from langchain_calibrate.demo import build_rag_chain, halueval_index
    from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

    rows = load_halueval_qa(limit=400)  # a small corpus keeps the example quick
    embeddings = LocalMiniLMEmbeddings()
    store = halueval_index(rows, embeddings, cache_key="example-halueval-400")
    questions = [r.question for r in rows[: args.questions]]
    kept: dict[str, int] = {}
    print("No calibrator is fitted: the confidences below are raw scores, not probabilities.")
    with ExitStack() as stack:
        chain = build_rag_chain(ScoredRetriever(vectorstore=store, k=2), completions_llm(stack))
        calibrated: CalibratedRunnable = with_calibration(chain, embeddings=embeddings)
        for mode in ("buffer", "passthrough"):
            router = route_by_confidence(
                calibrated, args.threshold, streaming_fallback(), stream_mode=mode
            )
            kept[mode] = sum(show_stream(router, q) for q in questions)
        live = route_by_confidence(
            calibrated, args.threshold, streaming_fallback(), stream_mode="passthrough"
        )
        names = asyncio.run(show_events(live, questions[0]))
    print(
        f"\nstreaming done: buffer kept {kept['buffer']}/{len(questions)}, passthrough kept "
        f"{kept['passthrough']}/{len(questions)}; astream_events custom events: " + ", ".join(names)
    )


if __name__ == "__main__":
    main()
