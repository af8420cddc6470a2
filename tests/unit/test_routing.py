"""route_by_confidence and LowConfidenceError on constructed confidences."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_calibrate.routing import (
    LowConfidenceError,
    require_confidence,
    route_by_confidence,
)
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import LOW_EVIDENCE, Signals
from tests.unit.fakes import SleepyLogprobChatModel
from tests.unit.test_handler import rag_chain

IDK = RunnableLambda(lambda _: "I don't know.")


class Fixed:
    method = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_one(self, signals: Signals) -> float:
        return self.value


def test_below_threshold_routes_to_fallback() -> None:
    router = route_by_confidence(with_calibration(rag_chain(), Fixed(0.3)), 0.5, IDK)
    out = router.invoke("q1 x")
    assert out["output"] == "I don't know."
    assert out["routing"].routed and "0.300 < threshold 0.500" in out["routing"].reason
    assert out["routing"].original_output.text == "q1 x"


def test_at_threshold_keeps_answer() -> None:
    out = route_by_confidence(with_calibration(rag_chain(), Fixed(0.5)), 0.5, IDK).invoke("q1 x")
    assert out["output"].text == "q1 x"
    assert not out["routing"].routed and out["routing"].original_output is None


def test_flags_route_when_asked() -> None:
    router = route_by_confidence(
        with_calibration(rag_chain(), Fixed(0.99)), 0.5, IDK, route_on_flags=[LOW_EVIDENCE]
    )
    # TaggedRetriever's documents share no words with "zzz", so support is low.
    out = router.invoke("zzz")
    assert "zzz" in out["calibration"].documents[0].page_content
    assert out["routing"].routed == (LOW_EVIDENCE in out["calibration"].flags)


def test_no_logprobs_always_routes() -> None:
    chain = rag_chain(SleepyLogprobChatModel(with_logprobs=False))
    out = route_by_confidence(chain, 0.0, IDK).invoke("q1 x")
    assert out["routing"].routed and "no confidence" in out["routing"].reason


def test_fallback_can_receive_the_result() -> None:
    seen = []
    review = RunnableLambda(lambda r: seen.append(r) or "queued for review")
    router = route_by_confidence(
        with_calibration(rag_chain(), Fixed(0.1)), 0.5, review, fallback_input="result"
    )
    assert router.invoke("q1 x")["output"] == "queued for review"
    assert seen[0]["input"] == "q1 x" and seen[0]["calibration"].confidence == 0.1


async def test_async_and_batch_and_stream() -> None:
    router = route_by_confidence(with_calibration(rag_chain(), Fixed(0.2)), 0.5, IDK)
    assert (await router.ainvoke("q1 x"))["output"] == "I don't know."
    assert [r["output"] for r in router.batch(["a", "b"])] == ["I don't know."] * 2
    chunks = list(router.stream("q1 x"))
    assert chunks[0]["routing"].routed and chunks[-1]["output"] == "I don't know."
    achunks = [c async for c in router.astream("q1 x")]
    assert achunks[-1]["output"] == "I don't know."


def test_threshold_object_and_validation() -> None:
    class Fitted:
        threshold = 0.9

    router = route_by_confidence(with_calibration(rag_chain(), Fixed(0.8)), Fitted(), IDK)
    assert router.invoke("q")["routing"].threshold == 0.9
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        route_by_confidence(rag_chain(), 1.5, IDK)
    with pytest.raises(TypeError, match="RunnableLambda"):
        route_by_confidence(rag_chain(), 0.5, "I don't know")  # type: ignore[arg-type]


def test_low_confidence_error_with_fallbacks() -> None:
    guarded = require_confidence(with_calibration(rag_chain(), Fixed(0.2)), 0.5)
    with pytest.raises(LowConfidenceError, match=r"0\.200 \(probability\) is below the threshold"):
        guarded.invoke("q1 x")
    safe = guarded.with_fallbacks(
        [RunnableLambda(lambda _: {"output": "I don't know."})],
        exceptions_to_handle=(LowConfidenceError,),
    )
    assert safe.invoke("q1 x") == {"output": "I don't know."}
    ok = require_confidence(with_calibration(rag_chain(), Fixed(0.7)), 0.5).invoke("q1 x")
    assert ok["output"].text == "q1 x"


def test_route_on_flags_is_checked() -> None:
    with pytest.raises(TypeError, match=r"route_on_flags=\['low_evidence'\]"):
        route_by_confidence(rag_chain(), 0.5, IDK, route_on_flags="low_evidence")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown flag"):
        route_by_confidence(rag_chain(), 0.5, IDK, route_on_flags=["low-evidence"])
    with pytest.raises(ValueError, match="Unknown flag"):
        require_confidence(rag_chain(), 0.5, route_on_flags=["nope"])


def test_unreliable_flags_route_by_default_and_can_be_opted_out() -> None:
    from langchain_core.documents import Document
    from langchain_core.runnables import RunnableLambda as Lambda

    from langchain_calibrate.runnable import with_calibration as wrap
    from langchain_calibrate.signals import ASSERTIVE_WITHOUT_EVIDENCE

    # The answer's words are nowhere in the (low-relevance) context and it is stated flatly.
    weak = [Document("Rivers and lakes.", metadata={"relevance": 0.2})]
    chain = Lambda(lambda q: {"answer": "Paris", "source_documents": weak})
    idk = Lambda(lambda _: "I don't know.")

    class Sure:
        method = "fixed"

        def predict_one(self, signals: object) -> float:
            return 0.99

    calibrated = wrap(chain, Sure())
    routed = route_by_confidence(calibrated, 0.5, idk).invoke("capital?")
    assert ASSERTIVE_WITHOUT_EVIDENCE in routed["calibration"].flags
    assert routed["routing"].routed and routed["output"] == "I don't know."
    assert ASSERTIVE_WITHOUT_EVIDENCE in routed["routing"].reason
    kept = route_by_confidence(calibrated, 0.5, idk, route_on_flags=()).invoke("capital?")
    assert not kept["routing"].routed and kept["output"]["answer"] == "Paris"
