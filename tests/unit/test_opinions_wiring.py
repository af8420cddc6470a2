"""Second opinions wired into with_calibration: signals, cross-check flags, no capture leak."""

from __future__ import annotations

import pytest
from langchain_core.language_models import FakeListLLM

from langchain_calibrate.calibrators import LogisticCalibrator
from langchain_calibrate.opinions import PTrueJudge, PTrueResult, StatedConfidence
from langchain_calibrate.opinions.checks import CONFIDENCE_UNPARSEABLE
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import (
    FEATURE_NAMES,
    VERBAL_LOGPROB_DISAGREEMENT,
    Signals,
    compute_flags,
)
from tests.unit.test_handler import questions, rag_chain


class RecordingJudge:
    """Stands in for the judge model's reply only; the wiring under test is real."""

    def __init__(self, p_true: float | None) -> None:
        self.p_true = p_true
        self.calls: list[dict] = []

    def judge(self, question: str, context: str, answer: str) -> PTrueResult:
        self.calls.append({"question": question, "context": context, "answer": answer})
        return PTrueResult(p_true=self.p_true, elapsed=0.25)

    async def ajudge(self, question: str, context: str, answer: str) -> PTrueResult:
        return self.judge(question, context, answer)


class FixedAsker:
    def __init__(self, reply: StatedConfidence) -> None:
        self.reply = reply

    def ask(self, question: str, context: str, answer: str) -> StatedConfidence:
        return self.reply

    async def aask(self, question: str, context: str, answer: str) -> StatedConfidence:
        return self.reply


def test_judges_see_the_question_context_and_answer_and_fill_signals() -> None:
    judge = RecordingJudge(0.8)
    asker = FixedAsker(StatedConfidence(value=0.95, form="percent", text="95%"))
    result = with_calibration(rag_chain(), p_true_judge=judge, verbal_asker=asker).invoke("q1 red")
    cal = result["calibration"]
    assert cal.signals.p_true == 0.8 and cal.signals.stated_confidence == 0.95
    (call,) = judge.calls
    assert call["question"] == "q1 red"  # the retriever's query
    assert call["answer"] == "q1 red"
    assert all(d.page_content in call["context"] for d in cal.documents)
    assert cal.opinions["p_true"]["elapsed"] == 0.25
    assert cal.opinions["stated"]["form"] == "percent"


async def test_async_path_runs_both_judges() -> None:
    judge = RecordingJudge(0.3)
    asker = FixedAsker(StatedConfidence(value=None, form="unparseable", text="banana"))
    chain = with_calibration(rag_chain(), p_true_judge=judge, verbal_asker=asker)
    results = await chain.abatch(questions(6), config={"max_concurrency": 3})
    assert len(judge.calls) == 6
    for result in results:
        assert result["calibration"].signals.p_true == 0.3
        assert result["calibration"].signals.stated_confidence is None
        assert CONFIDENCE_UNPARSEABLE in result["calibration"].flags  # a flag, not a zero


def test_sure_words_over_flat_logprobs_is_flagged() -> None:
    flat = Signals(sequence_prob=0.2, mean_entropy=1.5, lexical_support=1.0, max_relevance=0.9,
                   n_documents=1.0)  # fmt: skip
    sure = StatedConfidence(value=0.95, form="percent", text="95%")
    assert VERBAL_LOGPROB_DISAGREEMENT in compute_flags(flat, "Paris", stated=sure)
    peaked = flat.model_copy(update={"sequence_prob": 0.9, "mean_entropy": 0.2})
    assert VERBAL_LOGPROB_DISAGREEMENT not in compute_flags(peaked, "Paris", stated=sure)
    unsure = StatedConfidence(value=0.6, form="percent", text="60%")
    assert VERBAL_LOGPROB_DISAGREEMENT not in compute_flags(flat, "Paris", stated=unsure)


def test_the_judge_models_call_is_not_captured_as_the_answer() -> None:
    # A real PTrueJudge over a fake LLM: its one-token call carries the opinion tag, so the
    # handler ignores it and the answer's tokens stay the chain's own.
    judge = PTrueJudge(FakeListLLM(responses=["yes"]))
    result = with_calibration(rag_chain(), p_true_judge=judge).invoke("q1 red")
    cal = result["calibration"]
    assert cal.n_generations == 1
    assert [c.text for c in cal.candidates] == ["q1 red"]
    assert cal.signals.p_true is None  # FakeListLLM gives no logprobs: not a number
    assert "p_true_unavailable" in cal.flags


def test_logistic_on_opinion_features_fits_when_asked() -> None:
    rows = [Signals(sequence_prob=0.1 + 0.08 * i, p_true=0.9 - 0.08 * i) for i in range(10)]
    y = [0, 0, 1, 0, 1, 0, 1, 1, 0, 1]
    cal = LogisticCalibrator(features=["sequence_prob", "p_true"]).fit(rows, y)
    assert 0.0 < cal.predict_one(rows[0]) < 1.0
    assert "p_true" not in FEATURE_NAMES  # opt-in: not a default feature


def test_bad_judge_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="p_true_judge must have a judge"):
        with_calibration(rag_chain(), p_true_judge=object())
