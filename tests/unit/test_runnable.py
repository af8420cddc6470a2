"""with_calibration: output + Calibration on every execution path, isolation, no breakage."""

from __future__ import annotations

import math

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_calibrate import handler as handler_module
from langchain_calibrate.handler import CalibrationHandler
from langchain_calibrate.result import CAPTURE_ERROR, Calibration
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import NO_LOGPROBS, Signals
from tests.unit.fakes import SleepyLogprobChatModel, logprob_of
from tests.unit.test_handler import questions, rag_chain


def expected_prob(question: str) -> float:
    words = question.split()
    return math.exp(sum(logprob_of(w) for w in words) / len(words))


def check(result: dict, question: str) -> Calibration:
    assert result["output"].text == question
    cal = result["calibration"]
    assert isinstance(cal, Calibration)
    assert {d.metadata["qid"] for d in cal.documents} == {question}
    assert cal.confidence == pytest.approx(expected_prob(question))
    assert cal.is_calibrated is False and cal.kind == "score"
    return cal


def test_invoke() -> None:
    check(with_calibration(rag_chain()).invoke("q1 red"), "q1 red")


async def test_ainvoke() -> None:
    check(await with_calibration(rag_chain()).ainvoke("q1 red"), "q1 red")


def test_batch_isolated() -> None:
    qs = questions(40)
    results = with_calibration(rag_chain()).batch(qs, config={"max_concurrency": 8})
    for q, r in zip(qs, results, strict=True):
        check(r, q)


async def test_abatch_isolated_with_shared_handler() -> None:
    handler = CalibrationHandler()
    qs = questions(40)
    results = await with_calibration(rag_chain(), handler=handler).abatch(
        qs, config={"max_concurrency": 8}
    )
    for q, r in zip(qs, results, strict=True):
        check(r, q)
    assert handler.active_runs == 0 and not handler.finished


def test_stream_confidence_arrives_with_last_chunk() -> None:
    chunks = list(with_calibration(rag_chain()).stream("q9 a b c"))
    assert all("calibration" not in c for c in chunks[:-1])
    assert "calibration" in chunks[-1] and "output" in chunks[-1]
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    check(total, "q9 a b c")


async def test_astream_confidence_arrives_with_last_chunk() -> None:
    chunks = [c async for c in with_calibration(rag_chain()).astream("q9 a b c")]
    assert all("calibration" not in c for c in chunks[:-1])
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    check(total, "q9 a b c")


def test_no_logprobs_is_flagged_not_trusted() -> None:
    result = with_calibration(rag_chain(SleepyLogprobChatModel(with_logprobs=False))).invoke("q x")
    cal = result["calibration"]
    assert cal.confidence is None and cal.kind == "none"
    assert NO_LOGPROBS in cal.flags
    assert cal.notes and "logprobs" in cal.notes[0]


class HalfCalibrator:
    method = "fixed"

    def predict_one(self, signals: Signals) -> float:
        return 0.5 if signals.sequence_prob is not None else 0.1


def test_calibrator_makes_it_a_probability() -> None:
    cal = with_calibration(rag_chain(), HalfCalibrator()).invoke("q1 x")["calibration"]
    assert cal.confidence == 0.5 and cal.is_calibrated and cal.kind == "probability"
    assert cal.method == "fixed"


def test_handler_failure_recorded_chain_output_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: object) -> None:
        raise ValueError("bad payload")

    monkeypatch.setattr(handler_module, "logprobs_from_generation", broken)
    result = with_calibration(rag_chain()).invoke("q1 x")
    assert result["output"].text == "q1 x"
    assert CAPTURE_ERROR in result["calibration"].flags
    assert any("bad payload" in e for e in result["calibration"].errors)
    with pytest.raises(ValueError, match="bad payload"):
        with_calibration(rag_chain(), strict=True).invoke("q1 x")


def test_scoring_failure_recorded() -> None:
    class Broken:
        def predict_one(self, signals: Signals) -> float:
            raise RuntimeError("calibrator exploded")

    result = with_calibration(rag_chain(), Broken()).invoke("q1 x")
    assert result["output"].text == "q1 x"
    assert result["calibration"].confidence is None
    assert CAPTURE_ERROR in result["calibration"].flags
    with pytest.raises(RuntimeError, match="exploded"):
        with_calibration(rag_chain(), Broken(), strict=True).invoke("q1 x")


def test_nested_in_a_bigger_chain_scopes_to_the_wrapper() -> None:
    outer = (
        RunnableLambda(lambda q: q)
        | with_calibration(rag_chain())
        | RunnableLambda(lambda r: r["calibration"].confidence)
    )
    assert outer.invoke("q4 k") == pytest.approx(expected_prob("q4 k"))


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="Runnable"):
        with_calibration(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="predict_one"):
        with_calibration(rag_chain(), object())  # type: ignore[arg-type]


def test_shared_handler_that_keeps_nothing_still_feeds_the_wrapper() -> None:
    seen = []
    handler = CalibrationHandler(on_evidence=seen.append, max_finished=0)
    chain = with_calibration(rag_chain(), handler=handler)
    for q, r in zip(questions(6), chain.batch(questions(6)), strict=True):
        check(r, q)
    chunks = list(chain.stream("q8 s t"))
    assert chunks[-1]["calibration"].confidence == pytest.approx(expected_prob("q8 s t"))
    assert len(seen) == 7 and not handler.finished and handler.active_runs == 0


def test_abandoned_stream_releases_its_claim() -> None:
    handler = CalibrationHandler(max_finished=0)
    stream = with_calibration(rag_chain(), handler=handler).stream("q8 s t u")
    next(stream)
    stream.close()
    assert not handler.finished and not handler._claimed


class ResponsesApiShapedModel(SleepyLogprobChatModel):
    """Returns what ChatOpenAI builds from a Responses API result: text blocks, no logprobs.

    No server here speaks the Responses API, so its documented result shape is built by hand.
    """

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[no-untyped-def]
        from langchain_core.messages import AIMessage
        from langchain_core.outputs import ChatGeneration, ChatResult

        msg = AIMessage(
            content=[{"type": "text", "text": "Paris", "annotations": [], "id": "msg_1"}],
            response_metadata={
                "id": "resp_0123",
                "object": "response",
                "model": "gpt-4o",
                "status": "completed",
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def test_responses_api_is_flagged_with_a_fix() -> None:
    cal = with_calibration(rag_chain(ResponsesApiShapedModel())).invoke("q1 x")["calibration"]
    assert NO_LOGPROBS in cal.flags and cal.confidence is None
    assert any("use_responses_api=False" in n for n in cal.notes)


def test_calibrator_output_outside_0_1_is_a_named_error() -> None:
    class Bad:
        def predict_one(self, signals: Signals) -> float:
            return 1.7

    cal = with_calibration(rag_chain(), Bad()).invoke("q1 x")["calibration"]
    assert cal.confidence is None and CAPTURE_ERROR in cal.flags
    assert any("Bad returned 1.7" in e for e in cal.errors)


async def test_calibration_custom_event_reaches_astream_events() -> None:
    chain = with_calibration(rag_chain())
    events = [
        e
        async for e in chain.astream_events("q1 red", version="v2")
        if e["event"] == "on_custom_event" and e["name"] == "calibration"
    ]
    assert len(events) == 1
    cal = events[0]["data"]
    assert isinstance(cal, Calibration)
    assert cal.confidence == pytest.approx(expected_prob("q1 red"))
    assert cal.run_id == events[0]["run_id"]  # attributed to the with_calibration run


def test_calibration_custom_event_reaches_a_sync_callback() -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    seen: list = []

    class Listener(BaseCallbackHandler):
        def on_custom_event(self, name, data, *, run_id, **kwargs) -> None:  # type: ignore[override]
            seen.append((name, data, str(run_id)))

    result = with_calibration(rag_chain()).invoke("q1 red", {"callbacks": [Listener()]})
    assert [(n, d.run_id, r) for n, d, r in seen] == [
        ("calibration", result["calibration"].run_id, result["calibration"].run_id)
    ]


async def test_astream_events_keeps_the_models_own_events_for_completions_models() -> None:
    # langchain-ai/langchain#39633: an inline handler made langchain-core skip the event
    # streamer's on_llm_start, so on_llm_* events vanished and errors were logged.
    from langchain_core.language_models import FakeStreamingListLLM

    chain = with_calibration(FakeStreamingListLLM(responses=["Paris is big"]))
    kinds = [e["event"] async for e in chain.astream_events("q", version="v2")]
    assert {"on_llm_start", "on_llm_end"} <= set(kinds)
    assert kinds.count("on_custom_event") == 1
