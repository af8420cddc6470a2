"""route_by_tiers: ordered tiers, one escalation with re-scoring, flags, validation, every API."""

from __future__ import annotations

import math
from typing import Any

import pytest
from langchain_core.runnables import Runnable, RunnableLambda

from langchain_calibrate.result import Calibration
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import LOW_EVIDENCE, NO_LOGPROBS, Signals
from langchain_calibrate.thresholds import fit_coverage_threshold
from langchain_calibrate.tiers import Tier, TierDecision, TieredRouter, route_by_tiers
from tests.unit.fakes import SleepyLogprobChatModel
from tests.unit.test_handler import PROMPT, rag_chain


class Fixed:
    """A calibrator that gives every answer the same probability."""

    method = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_one(self, signals: Signals) -> float:
        return self.value


class Counting:
    """A Runnable action that records what it was given and returns a fixed reply."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.seen: list[Any] = []
        self.runnable = RunnableLambda(self._call)

    def _call(self, value: Any) -> str:
        self.seen.append(value)
        return self.reply


def calibrated(confidence: float, model: SleepyLogprobChatModel | None = None) -> Any:
    return with_calibration(rag_chain(model), Fixed(confidence))


def counting_big(confidence: float) -> tuple[Any, list[Any]]:
    """A calibrated 'bigger model' whose every call is counted."""
    calls: list[Any] = []

    def note(question: str) -> str:
        calls.append(question)
        return question

    return with_calibration(RunnableLambda(note) | rag_chain(), Fixed(confidence)), calls


def ladder(big: Any = None, review: Runnable[Any, Any] | None = None) -> list[Tier]:
    return [
        Tier(name="answer", min_confidence=0.8),
        Tier(name="escalate", min_confidence=0.5, action=big or calibrated(0.95)),
        Tier(name="review", action=review or RunnableLambda(lambda _: "sent for review")),
    ]


@pytest.mark.parametrize(
    ("confidence", "tier", "threshold"),
    [
        (0.95, "answer", 0.8),
        (0.8, "answer", 0.8),
        (0.7999, "escalate", 0.5),
        (0.5, "escalate", 0.5),
    ],
)
def test_first_tier_met_wins_and_thresholds_are_inclusive(
    confidence: float, tier: str, threshold: float
) -> None:
    big, calls = counting_big(0.9)
    out = route_by_tiers(calibrated(confidence), ladder(big)).invoke("q1 x")
    decision = out["routing"]
    assert isinstance(decision, TierDecision)
    if tier == "answer":
        assert decision.tier == "answer" and decision.index == 0 and calls == []
        assert decision.confidence == confidence and decision.threshold == threshold
        assert decision.escalated_from is None and decision.original_output is None
        assert out["output"].text == "q1 x"
    else:  # escalated once, and the bigger model's 0.9 is then answered
        assert calls == ["q1 x"]
        assert decision.tier == "answer" and decision.escalated_from == "escalate"
        assert decision.original_confidence == confidence and decision.confidence == 0.9


def test_below_every_threshold_goes_to_the_last_tier() -> None:
    review = Counting("sent for review")
    big, calls = counting_big(0.9)
    out = route_by_tiers(calibrated(0.3), ladder(big, review.runnable)).invoke("q1 x")
    decision = out["routing"]
    assert out["output"] == "sent for review" and calls == []
    assert decision.tier == "review" and decision.index == 2
    assert decision.reason == "confidence 0.300 < 0.500 (the lowest threshold)"
    assert decision.threshold == 0.5 and decision.confidence == 0.3 and decision.is_calibrated
    assert decision.original_output.text == "q1 x"  # kept for review
    assert review.seen == ["q1 x"]  # a plain action gets the original input by default


def test_escalated_answer_is_rescored_and_answered() -> None:
    out = route_by_tiers(calibrated(0.6), ladder(calibrated(0.9))).invoke("q1 x")
    decision = out["routing"]
    assert decision.tier == "answer" and decision.escalated_from == "escalate"
    assert decision.confidence == 0.9 and decision.original_confidence == 0.6
    assert decision.threshold == 0.8
    assert decision.reason == (
        "escalated from 'escalate' (first answer 0.600); confidence 0.900 >= 0.800 (tier 'answer')"
    )
    # The result carries the calibration that decided: the bigger chain's.
    assert out["calibration"].confidence == 0.9 and out["calibration"].method == "fixed"
    assert out["output"].text == "q1 x" and decision.original_output.text == "q1 x"


def test_escalation_happens_once_then_falls_to_review() -> None:
    big, calls = counting_big(0.6)  # still in the escalate band
    review = Counting("sent for review")
    tiers = ladder(big, review.runnable)
    tiers[2] = Tier(name="review", action=review.runnable, action_input="result")
    out = route_by_tiers(calibrated(0.55), tiers).invoke("q1 x")
    decision = out["routing"]
    assert calls == ["q1 x"]  # no second escalation, no loop
    assert decision.tier == "review" and decision.escalated_from == "escalate"
    assert decision.threshold == 0.8  # the lowest threshold it could still have used
    assert decision.reason == (
        "escalated from 'escalate' (first answer 0.550); confidence 0.600 < 0.800 "
        "(the lowest threshold); tier 'escalate' does not escalate twice"
    )
    (given,) = review.seen
    assert given["input"] == "q1 x" and given["calibration"].confidence == 0.6
    assert given["routing"] == decision


def test_escalated_answer_skips_its_tier_to_a_lower_one() -> None:
    big, calls = counting_big(0.7)
    tiers = [
        Tier("answer", 0.8),
        Tier("escalate", 0.6, action=big),
        Tier("hedge", 0.4, action=RunnableLambda(lambda q: f"Probably: {q}")),
        Tier("review", action=RunnableLambda(lambda _: "sent")),
    ]
    out = route_by_tiers(calibrated(0.65), tiers).invoke("q1 x")
    assert out["output"] == "Probably: q1 x" and calls == ["q1 x"]
    assert out["routing"].tier == "hedge" and out["routing"].threshold == 0.4
    assert out["routing"].reason.endswith(
        "confidence 0.700 >= 0.400 (tier 'hedge'); tier 'escalate' does not escalate twice"
    )


def test_missing_confidence_goes_to_the_last_tier_without_escalating() -> None:
    big, calls = counting_big(0.99)
    chain = with_calibration(rag_chain(SleepyLogprobChatModel(with_logprobs=False)))
    out = route_by_tiers(chain, ladder(big)).invoke("q1 x")
    assert out["calibration"].confidence is None and NO_LOGPROBS in out["calibration"].flags
    assert out["routing"].tier == "review" and calls == []
    assert out["routing"].reason == "no confidence (no logprob evidence and no calibrator)"
    assert out["routing"].threshold is None and out["routing"].confidence is None


def test_route_on_flags_sends_to_the_last_tier() -> None:
    # No retriever in the chain: no documents, so low_evidence is always flagged.
    chain = with_calibration(PROMPT | SleepyLogprobChatModel(), Fixed(0.99))
    tiers = ladder()
    plain = route_by_tiers(chain, tiers).invoke({"context": "", "question": "q1 x"})
    assert LOW_EVIDENCE in plain["calibration"].flags and plain["routing"].tier == "answer"
    routed = route_by_tiers(chain, tiers, route_on_flags=[LOW_EVIDENCE]).invoke(
        {"context": "", "question": "q1 x"}
    )
    assert routed["routing"].tier == "review"
    assert routed["routing"].reason == "flagged: low_evidence"
    assert routed["output"] == "sent for review"


def test_flags_are_checked_again_after_escalation() -> None:
    big = with_calibration(RunnableLambda(lambda q: {"context": "", "question": q}) | PROMPT
                           | SleepyLogprobChatModel(), Fixed(0.99))  # fmt: skip
    router = route_by_tiers(calibrated(0.6), ladder(big), route_on_flags=[LOW_EVIDENCE])
    out = router.invoke("q1 x")
    assert out["routing"].escalated_from == "escalate" and out["routing"].tier == "review"
    assert out["routing"].reason.endswith("flagged: low_evidence")


def test_fitted_threshold_objects_are_accepted() -> None:
    fitted = fit_coverage_threshold([0.2, 0.4, 0.6, 0.8], [0, 0, 1, 1], target_coverage=0.5)
    assert fitted.threshold == 0.6  # the top half of four answers: 0.8 and 0.6

    class Hand:
        threshold = 0.3

    tiers = [Tier("answer", fitted), Tier("hedge", Hand(), action=IDK), Tier("review", action=IDK)]
    router = route_by_tiers(calibrated(0.59), tiers)
    assert [t.min_confidence for t in router.tiers] == [0.6, 0.3, None]
    assert router.invoke("q1 x")["routing"].tier == "hedge"
    assert route_by_tiers(calibrated(0.6), tiers).invoke("q1 x")["routing"].tier == "answer"


def test_an_inf_threshold_answers_nothing() -> None:
    tiers = [Tier("answer", math.inf), Tier("review", action=IDK)]
    out = route_by_tiers(calibrated(1.0), tiers).invoke("q1 x")
    assert out["routing"].tier == "review" and out["routing"].threshold == math.inf
    assert out["routing"].reason == "confidence 1.000 < inf (the lowest threshold)"


IDK = RunnableLambda(lambda _: "I don't know.")


def test_accepts_routed_result_selects_the_result_input() -> None:
    seen: list[Any] = []

    class Writer(RunnableLambda):  # type: ignore[misc]
        accepts_routed_result = True

    tiers = [Tier("answer", 0.8), Tier("review", action=Writer(lambda r: seen.append(r) or "ok"))]
    out = route_by_tiers(calibrated(0.2), tiers).invoke("q1 x")
    assert out["output"] == "ok"
    assert set(seen[0]) == {"input", "output", "calibration", "routing"}
    assert seen[0]["output"].text == "q1 x" and seen[0]["routing"].tier == "review"
    assert tiers[1].wants_result() and not Tier("x", action=IDK).wants_result()
    assert not Tier("x", action=Writer(lambda r: r), action_input="input").wants_result()


async def test_async_batch_and_stream_agree_with_invoke() -> None:
    router = route_by_tiers(calibrated(0.6), ladder(calibrated(0.3)))
    expected = router.invoke("q1 x")
    assert expected["output"] == "sent for review" and expected["routing"].tier == "review"
    got = await router.ainvoke("q1 x")
    assert got["output"] == "sent for review"
    assert got["routing"].model_dump(exclude={"original_output"}) == expected["routing"].model_dump(
        exclude={"original_output"}
    )
    batch = router.batch(["q1 x", "q2 y"])
    assert [b["routing"].tier for b in batch] == ["review", "review"]
    abatch = await router.abatch(["q1 x", "q2 y"])
    assert [b["output"] for b in abatch] == ["sent for review"] * 2
    chunks = list(router.stream("q1 x"))
    assert set(chunks[0]) == {"calibration", "routing"} and chunks[-1] == {
        "output": "sent for review"
    }
    achunks = [c async for c in router.astream("q1 x")]
    assert achunks[0]["routing"].tier == "review" and achunks[-1]["output"] == "sent for review"


async def test_stream_of_a_kept_answer_is_one_chunk() -> None:
    router = route_by_tiers(calibrated(0.9), ladder())
    (chunk,) = list(router.stream("q1 x"))
    assert chunk["output"].text == "q1 x" and chunk["routing"].tier == "answer"
    (achunk,) = [c async for c in router.astream("q1 x")]
    assert achunk["output"].text == "q1 x" and isinstance(achunk["calibration"], Calibration)


def test_streamed_action_chunks_add_up_to_the_action_output() -> None:
    def words(_: Any) -> Any:
        yield from ("sent ", "for ", "review")

    tiers = [Tier("answer", 0.8), Tier("review", action=RunnableLambda(words))]
    chunks = list(route_by_tiers(calibrated(0.1), tiers).stream("q1 x"))
    assert [c.get("output") for c in chunks[1:]] == ["sent ", "for ", "review"]
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total["output"] == "sent for review" and total["routing"].tier == "review"


def test_a_plain_chain_is_wrapped_with_raw_scores() -> None:
    router = route_by_tiers(rag_chain(), [Tier("answer", 0.5), Tier("review", action=IDK)])
    out = router.invoke("q1 x")
    # Raw score: exp(mean token logprob); the fake gives -len(token)/10 for "q1" and "x".
    assert out["calibration"].confidence == pytest.approx(math.exp(-(0.2 + 0.1) / 2))
    assert out["routing"].tier == "answer" and not out["routing"].is_calibrated
    assert isinstance(router, TieredRouter) and len(list(router.runnables)) == 2


@pytest.mark.parametrize(
    ("tiers", "error", "match"),
    [
        ([Tier("a", 0.5), Tier("b", 0.7), Tier("c")], ValueError, r"strictly decrease.*'a' has "
         r"0\.500 and 'b' after it has 0\.700"),
        ([Tier("a", 0.5), Tier("b", 0.5), Tier("c")], ValueError, "strictly decrease"),
        ([Tier("a", 0.8), Tier("a", 0.5), Tier("c")], ValueError, r"unique; \['a'\]"),
        ([Tier("a", 0.8), Tier("b", 0.2)], ValueError, r"last tier \('b'\) must catch everything"),
        ([Tier("a"), Tier("b", 0.5), Tier("c")], ValueError, "could never be reached"),
        ([Tier("a", 0.8), Tier("b", action=with_calibration(rag_chain()))], ValueError,
         r"last tier \('b'\) cannot escalate"),
        ([Tier("a")], ValueError, "at least two tiers"),
        ([Tier("a", 0.5), "review"], TypeError, r"tiers\[1\] is a str"),
        (Tier("a"), TypeError, "list of Tier"),
    ],
)  # fmt: skip
def test_ladder_validation(tiers: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        route_by_tiers(rag_chain(), tiers)


def test_tier_and_flag_validation() -> None:
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        Tier("a", 1.5)
    with pytest.raises(ValueError, match="non-empty string"):
        Tier("", 0.5)
    with pytest.raises(TypeError, match="RunnableLambda"):
        Tier("a", action=lambda _: "x")  # type: ignore[arg-type]
    tiers = [Tier("a", 0.5), Tier("b", action=IDK)]
    with pytest.raises(TypeError, match=r"route_on_flags=\['low_evidence'\]"):
        route_by_tiers(rag_chain(), tiers, route_on_flags="low_evidence")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown flag"):
        route_by_tiers(rag_chain(), tiers, route_on_flags=["low-evidence"])
    assert Tier("a", 0.5) == Tier(name="a", min_confidence=0.5)
