"""Routing while streaming: buffer vs passthrough, the "routing" event, and the LangGraph example.

The primary chain is the RAG chain of ``test_handler`` over ``LoggingChatModel``, a
``SleepyLogprobChatModel`` that streams one chunk per word of the question and writes every
chunk it yields (and the end of its stream) to a shared log; the consumer writes each chunk it
receives to the same log, so the order of the log shows what was released before the model
finished.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from langchain_calibrate.result import Calibration
from langchain_calibrate.review import ReviewQueue
from langchain_calibrate.routing import (
    ROUTING_EVENT,
    RoutingDecision,
    StreamMode,
    route_by_confidence,
)
from langchain_calibrate.runnable import CALIBRATION_EVENT, with_calibration
from langchain_calibrate.signals import NO_LOGPROBS, Signals
from langchain_calibrate.tiers import Tier, TierDecision, route_by_tiers
from tests.unit.fakes import SleepyLogprobChatModel
from tests.unit.test_handler import rag_chain

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "q1 alpha beta gamma delta"  # five words: the fake model streams five chunks
WORDS = QUESTION.split()
TOKENS = [WORDS[0], *(" " + w for w in WORDS[1:])]  # the chunks' texts, as the fake streams
STREAMED = [*TOKENS, ""]  # LangChain closes a chat model's stream with an empty "last" chunk


class Fixed:
    """A calibrator that gives every answer the same probability."""

    method = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_one(self, signals: Signals) -> float:
        return self.value


class LoggingChatModel(SleepyLogprobChatModel):
    """Logs ``("model", text)`` per streamed chunk, ``("model", "end")`` after the last one and
    ``("model", "generate")`` for a non-streamed call."""

    log: Any = None  # a list shared with the test (``Any`` so pydantic does not copy it)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.log.append(("model", "generate"))
        return super()._generate(messages, stop, run_manager, **kwargs)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.log.append(("model", "generate"))
        return await super()._agenerate(messages, stop, run_manager, **kwargs)

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in super()._stream(messages, stop, run_manager, **kwargs):
            self.log.append(("model", chunk.message.text))
            yield chunk
        self.log.append(("model", "end"))


def primary(log: list[Any], confidence: float) -> Any:
    return with_calibration(rag_chain(LoggingChatModel(log=log)), Fixed(confidence))


def words_fallback(text: str) -> Runnable[Any, str]:
    """A fallback that streams ``text`` word by word (as a model would)."""

    def gen(_: Iterator[Any]) -> Iterator[str]:
        parts = text.split(" ")
        yield from [parts[0], *(" " + p for p in parts[1:])]

    async def agen(inputs: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for _ in inputs:
            pass
        for part in gen(iter(())):
            yield part

    return RunnableGenerator(gen, agen, name="sorry_fallback")


SORRY = "Sorry, I am not sure."
SORRY_CHUNKS = ["Sorry,", " I", " am", " not", " sure."]


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else value.text


def consume(router: Runnable[Any, Any], log: list[Any]) -> list[dict[str, Any]]:
    chunks = []
    for chunk in router.stream(QUESTION):
        log.append(("router", dict(chunk)))
        chunks.append(chunk)
    return chunks


async def aconsume(router: Runnable[Any, Any], log: list[Any]) -> list[dict[str, Any]]:
    chunks = []
    async for chunk in router.astream(QUESTION):
        log.append(("router", dict(chunk)))
        chunks.append(chunk)
    return chunks


def added(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


# -- the fake model really streams -----------------------------------------------------------


def test_the_fake_model_streams_one_chunk_per_word() -> None:
    log: list[Any] = []
    chunks = list(rag_chain(LoggingChatModel(log=log)).stream(QUESTION))
    assert [c.text for c in chunks] == STREAMED
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert chunks[-1].chunk_position == "last"
    assert log == [("model", t) for t in TOKENS] + [("model", "end")]


# -- buffer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
async def test_buffer_kept_releases_the_answer_once_judged(use_async: bool) -> None:
    log: list[Any] = []
    router = route_by_confidence(primary(log, 0.8), 0.5, words_fallback(SORRY))
    chunks = await aconsume(router, log) if use_async else consume(router, log)
    # The model answered in one (non-streamed) call, before the router released anything.
    assert log[0] == ("model", "generate") and len(log) == 2
    assert len(chunks) == 1
    (chunk,) = chunks
    assert set(chunk) == {"output", "calibration", "routing"}
    assert chunk["output"].text == QUESTION
    assert chunk["routing"].routed is False and chunk["calibration"].confidence == 0.8


@pytest.mark.parametrize("use_async", [False, True])
async def test_buffer_routed_never_shows_the_primary_answer(use_async: bool) -> None:
    log: list[Any] = []
    router = route_by_confidence(primary(log, 0.2), 0.5, words_fallback(SORRY))
    chunks = await aconsume(router, log) if use_async else consume(router, log)
    assert set(chunks[0]) == {"calibration", "routing"}  # the decision first, no answer
    assert chunks[0]["routing"].routed and chunks[0]["routing"].original_output.text == QUESTION
    assert [c["output"] for c in chunks[1:]] == SORRY_CHUNKS
    # Adding the chunks gives what invoke returns.
    total = added(chunks)
    assert total["output"] == SORRY and total["routing"].routed
    assert router.invoke(QUESTION)["output"] == SORRY


# -- passthrough -----------------------------------------------------------------------------


def expected_passthrough_log(meta: Any) -> list[Any]:
    """Worked out by hand: ``with_calibration`` holds one chunk back (the last carries the
    calibration), so chunk i is released right after the model yields chunk i + 1; the last
    word is released by LangChain's empty closing chunk, after the model's stream ended, and
    that empty chunk once the stream is over; then the decision."""
    log: list[Any] = [("model", TOKENS[0])]
    for i in range(1, len(TOKENS)):
        log += [("model", TOKENS[i]), ("router", TOKENS[i - 1])]
    return [*log, ("model", "end"), ("router", TOKENS[-1]), ("router", ""), ("router", meta)]


def simplified(log: list[Any]) -> list[Any]:
    out: list[Any] = []
    for who, what in log:
        if who == "router" and set(what) == {"output"}:
            out.append((who, text_of(what["output"])))
        elif who == "router":
            out.append((who, tuple(sorted(what))))
        else:
            out.append((who, what))
    return out


@pytest.mark.parametrize("use_async", [False, True])
async def test_passthrough_streams_before_the_model_finishes(use_async: bool) -> None:
    log: list[Any] = []
    router = route_by_confidence(
        primary(log, 0.8), 0.5, words_fallback(SORRY), stream_mode="passthrough"
    )
    chunks = await aconsume(router, log) if use_async else consume(router, log)
    assert simplified(log) == expected_passthrough_log(("calibration", "routing"))
    # Four of the five output chunks arrived before the model had finished.
    assert simplified(log).index(("model", "end")) == 9
    assert [text_of(c["output"]) for c in chunks[:-1]] == STREAMED
    assert set(chunks[-1]) == {"calibration", "routing"}
    decision = chunks[-1]["routing"]
    assert isinstance(decision, RoutingDecision) and not decision.routed
    assert decision.reason == "confidence 0.800 >= threshold 0.500"
    total = added(chunks)
    assert set(total) == {"output", "calibration", "routing"}  # no "fallback" when kept
    assert total["output"].text == QUESTION


@pytest.mark.parametrize("use_async", [False, True])
async def test_passthrough_routed_streams_the_fallback_as_a_replacement(use_async: bool) -> None:
    log: list[Any] = []
    router = route_by_confidence(
        primary(log, 0.2), 0.5, words_fallback(SORRY), stream_mode="passthrough"
    )
    chunks = await aconsume(router, log) if use_async else consume(router, log)
    n = len(STREAMED)
    assert [text_of(c["output"]) for c in chunks[:n]] == STREAMED  # shown as it came
    assert set(chunks[n]) == {"calibration", "routing"} and chunks[n]["routing"].routed
    assert chunks[n]["routing"].reason == "confidence 0.200 < threshold 0.500"
    assert chunks[n]["routing"].original_output.text == QUESTION
    assert [c for c in chunks[n + 1 :]] == [{"fallback": t} for t in SORRY_CHUNKS]
    total = added(chunks)
    assert total["output"].text == QUESTION and total["fallback"] == SORRY
    assert total["routing"].routed


def test_passthrough_fallback_can_receive_the_result() -> None:
    seen: list[Any] = []
    review = RunnableLambda(lambda r: seen.append(r) or "queued")
    router = route_by_confidence(
        primary([], 0.1), 0.5, review, fallback_input="result", stream_mode="passthrough"
    )
    chunks = list(router.stream(QUESTION))
    assert chunks[-1] == {"fallback": "queued"}
    assert seen[0]["input"] == QUESTION and seen[0]["output"].text == QUESTION
    assert seen[0]["calibration"].confidence == 0.1


def test_passthrough_invoke_is_unchanged() -> None:
    router = route_by_confidence(
        primary([], 0.2), 0.5, words_fallback(SORRY), stream_mode="passthrough"
    )
    out = router.invoke(QUESTION)
    assert out["output"] == SORRY and out["routing"].routed


def test_stream_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="stream_mode must be 'buffer'"):
        route_by_confidence(
            primary([], 0.5), 0.5, words_fallback(SORRY), stream_mode=cast(Any, "tokens")
        )
    with pytest.raises(ValueError, match="stream_mode must be 'buffer'"):
        route_by_tiers(primary([], 0.5), [Tier("a", 0.5), Tier("b")], stream_mode=cast(Any, "live"))


# -- errors ------------------------------------------------------------------------------------


def broken_fallback() -> Runnable[Any, Any]:
    def fail(_: Any) -> str:
        raise RuntimeError("fallback down")

    return RunnableLambda(fail)


@pytest.mark.parametrize("mode", ["buffer", "passthrough"])
async def test_fallback_errors_propagate(mode: StreamMode) -> None:
    router = route_by_confidence(primary([], 0.2), 0.5, broken_fallback(), stream_mode=mode)
    got: list[Any] = []
    with pytest.raises(RuntimeError, match="fallback down"):
        for chunk in router.stream(QUESTION):
            got.append(chunk)
    # The decision was streamed before the fallback failed (and in passthrough, the answer).
    assert got[-1]["routing"].routed
    assert len(got) == (len(STREAMED) + 1 if mode == "passthrough" else 1)
    with pytest.raises(RuntimeError, match="fallback down"):
        async for _ in router.astream(QUESTION):
            pass
    with pytest.raises(RuntimeError, match="fallback down"):
        router.invoke(QUESTION)
    with pytest.raises(RuntimeError, match="fallback down"):
        await router.ainvoke(QUESTION)
    # A kept answer never runs the fallback.
    kept = route_by_confidence(primary([], 0.9), 0.5, broken_fallback(), stream_mode=mode)
    assert not added(list(kept.stream(QUESTION)))["routing"].routed


# -- events ------------------------------------------------------------------------------------


async def events_of(router: Runnable[Any, Any]) -> list[dict[str, Any]]:
    return [e async for e in router.astream_events(QUESTION, version="v2")]


@pytest.mark.parametrize("mode", ["buffer", "passthrough"])
@pytest.mark.parametrize("confidence", [0.8, 0.2])
async def test_calibration_and_routing_events_reach_astream_events(
    mode: StreamMode, confidence: float
) -> None:
    router = route_by_confidence(
        primary([], confidence),
        0.5,
        words_fallback(SORRY),
        stream_mode=mode,
    )
    events = await events_of(router)
    (root,) = [e for e in events if e["event"] == "on_chain_start" and not e["parent_ids"]]
    assert root["name"] == "ConfidenceRouter"
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom] == [CALIBRATION_EVENT, ROUTING_EVENT]
    cal_event, routing_event = custom
    calibration = cal_event["data"]
    assert isinstance(calibration, Calibration) and calibration.confidence == confidence
    # The calibration event belongs to the inner with_calibration run, under the router...
    assert cal_event["run_id"] == calibration.run_id != root["run_id"]
    assert root["run_id"] in cal_event["parent_ids"]
    # ...the routing event to the router itself, with the decision and the same calibration.
    assert routing_event["run_id"] == root["run_id"]
    data = routing_event["data"]
    assert set(data) == {"routing", "calibration"} and data["calibration"] == calibration
    assert isinstance(data["routing"], RoutingDecision)
    assert data["routing"].routed is (confidence < 0.5)
    assert data["routing"].confidence == confidence
    # The router's own stream: the decision event comes before its decision chunk.
    own = [e for e in events if e["event"] == "on_chain_stream" and e["run_id"] == root["run_id"]]
    at = events.index(routing_event)
    meta_at = next(i for i, e in enumerate(events) if e in own and "routing" in e["data"]["chunk"])
    assert at < meta_at
    before = [e for e in own if events.index(e) < at]
    if mode == "passthrough":  # the answer streamed before it was judged
        assert [text_of(e["data"]["chunk"]["output"]) for e in before] == STREAMED
    else:  # nothing before the decision
        assert before == []
        # The inner model's own token events still show (LangChain streams a chat model
        # under astream_events): a UI that buffers reads the router's stream, not these.
        assert any(e["event"] == "on_chat_model_stream" for e in events)
    end = next(e for e in events if e["event"] == "on_chain_end" and e["run_id"] == root["run_id"])
    output = end["data"]["output"]
    if confidence < 0.5:
        shown = output["fallback"] if mode == "passthrough" else output["output"]
        assert shown == SORRY
        # The decision is announced before the fallback starts.
        starts = [e for e in events if e["event"] == "on_chain_start"]
        (fallback_start,) = [e for e in starts if e["name"] == "sorry_fallback"]
        assert at < events.index(fallback_start)
    else:
        assert output["output"].text == QUESTION


def test_routing_event_reaches_a_sync_callback_on_invoke() -> None:
    seen: list[tuple[str, Any]] = []

    class Listener(BaseCallbackHandler):
        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            seen.append((name, data))

    router = route_by_confidence(primary([], 0.3), 0.5, words_fallback(SORRY))
    out = router.invoke(QUESTION, {"callbacks": [Listener()]})
    assert [name for name, _ in seen] == [CALIBRATION_EVENT, ROUTING_EVENT]
    assert seen[1][1] == {"routing": out["routing"], "calibration": out["calibration"]}


def test_a_failing_event_handler_does_not_cost_the_answer(caplog: Any) -> None:
    class Raising(BaseCallbackHandler):
        raise_error = True

        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            raise RuntimeError(f"handler broke on {name}")

    router = route_by_confidence(primary([], 0.9), 0.5, words_fallback(SORRY))
    with caplog.at_level(logging.WARNING):
        out = router.invoke(QUESTION, {"callbacks": [Raising()]})
    assert out["output"].text == QUESTION and not out["routing"].routed
    assert "handler broke on routing" in caplog.text


# -- tiers -----------------------------------------------------------------------------------


def tiers_router(
    first: float, big: float, mode: StreamMode, review: Runnable[Any, Any] | None = None
) -> Any:
    return route_by_tiers(
        primary([], first),
        [
            Tier(name="answer", min_confidence=0.8),
            Tier(name="escalate", min_confidence=0.5, action=primary([], big)),
            Tier(name="review", action=review or words_fallback(SORRY)),
        ],
        stream_mode=mode,
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_tiers_passthrough_escalated_then_answered(use_async: bool) -> None:
    router = tiers_router(0.6, 0.9, "passthrough")
    chunks = await aconsume(router, []) if use_async else consume(router, [])
    n = len(STREAMED)
    assert [text_of(c["output"]) for c in chunks[:n]] == STREAMED
    assert [text_of(c["escalated"]) for c in chunks[n : 2 * n]] == STREAMED
    assert len(chunks) == 2 * n + 1 and set(chunks[-1]) == {"calibration", "routing"}
    decision = chunks[-1]["routing"]
    assert isinstance(decision, TierDecision)
    assert decision.tier == "answer" and decision.escalated_from == "escalate"
    assert decision.original_confidence == 0.6 and chunks[-1]["calibration"].confidence == 0.9


@pytest.mark.parametrize("use_async", [False, True])
async def test_tiers_passthrough_to_review(use_async: bool) -> None:
    router = tiers_router(0.3, 0.9, "passthrough")
    chunks = await aconsume(router, []) if use_async else consume(router, [])
    n = len(STREAMED)
    assert [text_of(c["output"]) for c in chunks[:n]] == STREAMED
    assert chunks[n]["routing"].tier == "review"
    assert chunks[n + 1 :] == [{"fallback": t} for t in SORRY_CHUNKS]
    total = added(chunks)
    assert "escalated" not in total and total["fallback"] == SORRY


async def test_tiers_buffer_is_unchanged_and_dispatches_routing() -> None:
    router = tiers_router(0.6, 0.6, "buffer")  # escalated, still short: review
    chunks = list(router.stream(QUESTION))
    assert set(chunks[0]) == {"calibration", "routing"} and chunks[0]["routing"].tier == "review"
    assert [c["output"] for c in chunks[1:]] == SORRY_CHUNKS
    events = await events_of(router)
    custom = [(e["name"], e["data"]) for e in events if e["event"] == "on_custom_event"]
    # One calibration event per scored answer (first, escalated), then the decision.
    assert [name for name, _ in custom] == [CALIBRATION_EVENT, CALIBRATION_EVENT, ROUTING_EVENT]
    decision = custom[2][1]["routing"]
    assert decision.tier == "review" and decision.escalated_from == "escalate"
    assert custom[2][1]["calibration"] == custom[1][1]  # the escalated answer's decided


# -- the LangGraph example -----------------------------------------------------------------


def load_example() -> Any:
    path = ROOT / "examples" / "langgraph_confidence.py"
    spec = importlib.util.spec_from_file_location("langgraph_confidence", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # LangGraph reads the state's type hints from the module
    spec.loader.exec_module(module)
    return module


lg = load_example()


def counted(confidence: float, calls: list[str], model: Any = None) -> Any:
    """A calibrated chain whose every call is recorded in ``calls``."""

    def note(question: str) -> str:
        calls.append(question)
        return question

    chain = RunnableLambda(note) | rag_chain(model)
    return with_calibration(chain, Fixed(confidence))


@pytest.mark.parametrize(
    ("first", "wide", "path", "outcome", "widened"),
    [
        (0.9, 0.9, ["answer"], "answered", 0),
        (0.7, 0.1, ["answer"], "answered", 0),  # at `high`: answered
        (0.6, 0.9, ["answer", "widen"], "answered", 1),
        (0.5, 0.7, ["answer", "widen"], "answered", 1),  # at `low`: widened
        (0.6, 0.6, ["answer", "widen", "review"], "queued for review", 1),  # only once
        (0.6, 0.2, ["answer", "widen", "review"], "queued for review", 1),
        (0.49, 0.9, ["answer", "review"], "queued for review", 0),
    ],
)
async def test_graph_takes_each_branch(
    tmp_path: Path, first: float, wide: float, path: list[str], outcome: str, widened: int
) -> None:
    first_calls: list[str] = []
    wide_calls: list[str] = []
    with ReviewQueue(tmp_path / "review.db") as queue:
        graph = lg.build_confidence_graph(
            counted(first, first_calls),
            widened=counted(wide, wide_calls),
            queue=queue,
            high=0.7,
            low=0.5,
        )
        state = graph.invoke({"question": QUESTION})
        astate = await graph.ainvoke({"question": QUESTION})
        for s in (state, astate):
            assert s["path"] == path and s["outcome"] == outcome and s["widens"] == widened
        assert first_calls == [QUESTION] * 2 and wide_calls == [QUESTION] * (2 * widened)
        final = wide if widened else first
        assert state["calibration"].confidence == final
        if outcome == "answered":
            assert state["answer"] == QUESTION and queue.count() == 0
        else:
            assert state["answer"].startswith("Sent for review")
            # Both runs were queued (each has its own run id), with the deciding score.
            items = queue.items()
            assert len(items) == 2 and {i.confidence for i in items} == {final}
            assert {i.question for i in items} == {QUESTION}
            assert all(i.answer == QUESTION for i in items)
            assert all(i.reason and i.reason == state["reason"] for i in items)
            assert state["calibration"].run_id in {i.run_id for i in items}


def test_graph_sends_flagged_answers_to_review(tmp_path: Path) -> None:
    calls: list[str] = []
    with ReviewQueue(tmp_path / "review.db") as queue:
        graph = lg.build_confidence_graph(
            counted(0.95, calls, SleepyLogprobChatModel(with_logprobs=False)),
            queue=queue,
            high=0.7,
            low=0.5,
        )
        state = graph.invoke({"question": QUESTION})
        assert NO_LOGPROBS in state["calibration"].flags
        assert state["path"] == ["answer", "review"] and state["reason"] == "flagged: no_logprobs"
        assert queue.count("pending") == 1


def test_graph_default_widen_is_the_same_chain_and_policy_is_checked(tmp_path: Path) -> None:
    calls: list[str] = []
    with ReviewQueue(tmp_path / "review.db") as queue:
        graph = lg.build_confidence_graph(counted(0.6, calls), queue=queue, high=0.7, low=0.5)
        state = graph.invoke({"question": QUESTION})
        assert state["path"] == ["answer", "widen", "review"] and calls == [QUESTION] * 2
        with pytest.raises(ValueError, match="low must not exceed high"):
            lg.build_confidence_graph(counted(0.6, calls), queue=queue, high=0.4, low=0.5)


async def test_graph_events_carry_the_calibration(tmp_path: Path) -> None:
    with ReviewQueue(tmp_path / "review.db") as queue:
        graph = lg.build_confidence_graph(
            counted(0.6, []), widened=counted(0.9, []), queue=queue, high=0.7, low=0.5
        )
        events = [
            e
            async for e in graph.astream_events({"question": QUESTION}, version="v2")
            if e["event"] == "on_custom_event"
        ]
    assert [(e["name"], e["data"].confidence) for e in events] == [
        (CALIBRATION_EVENT, 0.6),
        (CALIBRATION_EVENT, 0.9),
    ]
