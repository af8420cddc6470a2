"""``n > 1``: every candidate of the answering model call gets its own signals.

Candidate ``k`` answers with ``candidate_words(question, k)`` (the question's words, then
``alt<k>`` for ``k > 0``), each token with logprob ``-len(word) / 10 - k / 4`` and one
alternative ``"~"`` one nat lower. The expected signals are worked out here from those numbers.
Besides a fake chat model, the real ``ChatOpenAI(n=3, logprobs=True)`` and the completions
``OpenAI(n=3, logprobs=2)`` are run against a fake HTTP endpoint speaking OpenAI's wire format,
so their own parsing of ``n`` choices is what reaches the handler.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI, OpenAI

from langchain_calibrate.handler import CalibrationHandler
from langchain_calibrate.result import Calibration
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import NO_LOGPROBS, Signals
from tests.unit.fakes import FakeOpenAIServer, MultiCandidateChatModel, SleepyLogprobChatModel
from tests.unit.test_handler import questions, rag_chain

QUESTION = "q7 which ocean"


def words_of(question: str, k: int) -> list[str]:
    words = question.split()
    return words if k == 0 else [*words, f"alt{k}"]


def logprobs_of(question: str, k: int) -> list[float]:
    return [-len(w) / 10 - k / 4 for w in words_of(question, k)]


def entropy(lp: float) -> float:
    """Entropy of one position: the chosen token, ``~`` one nat lower, and the unlisted rest."""
    probs = [math.exp(lp), math.exp(lp - 1.0)]
    probs.append(1.0 - sum(probs))
    return -sum(p * math.log(p) for p in probs if p > 0)


def expected(question: str, k: int, n_documents: int = 2) -> dict[str, float]:
    lps = logprobs_of(question, k)
    mean = sum(lps) / len(lps)
    return {
        "n_tokens": len(lps),
        "mean_logprob": mean,
        "min_logprob": min(lps),
        "sequence_prob": math.exp(mean),
        "mean_entropy": sum(entropy(lp) for lp in lps) / len(lps),
        "mean_margin": sum(math.exp(lp) - math.exp(lp - 1.0) for lp in lps) / len(lps),
        "answer_length": len(lps),
        "n_documents": n_documents,
    }


def check_signals(signals: Signals, question: str, k: int, n_documents: int = 2) -> None:
    for name, value in expected(question, k, n_documents).items():
        assert getattr(signals, name) == pytest.approx(value), name


def check_candidates(cal: Calibration, question: str, n: int = 3, n_documents: int = 2) -> None:
    assert [c.index for c in cal.candidates] == list(range(n))
    assert [c.text for c in cal.candidates] == [" ".join(words_of(question, k)) for k in range(n)]
    for k, candidate in enumerate(cal.candidates):
        check_signals(candidate.signals, question, k, n_documents)
        assert candidate.confidence == pytest.approx(expected(question, k)["sequence_prob"])
    # The first candidate is the answer.
    assert cal.candidates[0].signals == cal.signals
    assert cal.confidence == cal.candidates[0].confidence
    assert cal.generation_signals == [c.signals for c in cal.candidates]
    # Each candidate is its own: lower logprobs for later candidates, as built.
    probs = [c.signals.sequence_prob for c in cal.candidates]
    assert probs == sorted(probs, reverse=True) and len(set(probs)) == n


def test_each_candidate_gets_its_own_signals() -> None:
    result = with_calibration(rag_chain(MultiCandidateChatModel(n=3))).invoke(QUESTION)
    assert result["output"].text == QUESTION  # invoke returns the first candidate
    cal = result["calibration"]
    check_candidates(cal, QUESTION)
    assert cal.n_generations == 3
    assert {d.metadata["qid"] for d in cal.documents} == {QUESTION}


async def test_each_candidate_gets_its_own_signals_async() -> None:
    result = await with_calibration(rag_chain(MultiCandidateChatModel(n=4))).ainvoke(QUESTION)
    check_candidates(result["calibration"], QUESTION, n=4)


class HalfOfSequenceProb:
    """A stand-in calibrator whose output is easy to predict: half the sequence probability."""

    method = "half"

    def predict_one(self, signals: Signals) -> float:
        return 0.0 if signals.sequence_prob is None else signals.sequence_prob / 2


def test_candidates_are_scored_by_the_calibrator() -> None:
    chain = with_calibration(rag_chain(MultiCandidateChatModel(n=3)), HalfOfSequenceProb())
    cal = chain.invoke(QUESTION)["calibration"]
    assert cal.is_calibrated and cal.method == "half"
    assert [c.confidence for c in cal.candidates] == pytest.approx(
        [expected(QUESTION, k)["sequence_prob"] / 2 for k in range(3)]
    )
    assert cal.confidence == cal.candidates[0].confidence


def test_batch_candidates_stay_with_their_run() -> None:
    handler = CalibrationHandler()
    qs = questions(24)
    chain = with_calibration(rag_chain(MultiCandidateChatModel(n=3)), handler=handler)
    results = chain.batch(qs, config={"max_concurrency": 8})
    for question, result in zip(qs, results, strict=True):
        check_candidates(result["calibration"], question)
    assert all(size == 0 for size in handler.state_sizes().values())


def test_one_candidate_for_an_ordinary_call() -> None:
    cal = with_calibration(rag_chain()).invoke(QUESTION)["calibration"]
    assert len(cal.candidates) == 1
    check_signals(cal.candidates[0].signals, QUESTION, 0)
    assert cal.candidates[0].text == QUESTION
    assert cal.generation_signals == [cal.signals]


def test_stream_keeps_one_candidate() -> None:
    chunks = list(with_calibration(rag_chain()).stream(QUESTION))
    cal = chunks[-1]["calibration"]
    assert len(cal.candidates) == 1
    check_signals(cal.candidates[0].signals, QUESTION, 0)


def test_candidates_come_from_the_answering_call_only() -> None:
    """A first call with n=3 rewrites the question; the answering call has one candidate."""
    first = MultiCandidateChatModel(n=3)
    rewrite = RunnableLambda(lambda msg: f"Q: {msg.text}")
    chain = rag_chain(first) | rewrite | SleepyLogprobChatModel()
    cal = with_calibration(chain).invoke(QUESTION)["calibration"]
    assert cal.n_generations == 4
    assert len(cal.candidates) == 1
    check_signals(cal.signals, QUESTION, 0)


def test_no_model_call_no_candidates() -> None:
    cal = with_calibration(RunnableLambda(lambda q: f"echo {q}")).invoke("x")["calibration"]
    assert cal.candidates == [] and cal.generation_signals == []
    assert NO_LOGPROBS in cal.flags


# -- the real OpenAI clients, against a fake endpoint ---------------------------------------


def chat_openai(server: FakeOpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini",
        api_key="not-a-key",
        base_url="http://fake-openai.invalid/v1",
        http_client=server.client(),
        http_async_client=server.async_client(),
        max_retries=0,
        **kwargs,
    )


def test_chat_openai_n3_each_choice_scored() -> None:
    server = FakeOpenAIServer()
    llm = chat_openai(server, n=3, logprobs=True, top_logprobs=2)
    result = with_calibration(rag_chain(llm)).invoke(QUESTION)
    assert server.requests[0]["n"] == 3 and server.requests[0]["logprobs"] is True
    assert result["output"].text == QUESTION
    check_candidates(result["calibration"], QUESTION)
    assert result["calibration"].n_generations == 3


async def test_chat_openai_n3_async() -> None:
    server = FakeOpenAIServer()
    llm = chat_openai(server, n=3, logprobs=True, top_logprobs=2)
    result = await with_calibration(rag_chain(llm)).ainvoke(QUESTION)
    check_candidates(result["calibration"], QUESTION)


def test_completions_openai_n3_each_choice_scored() -> None:
    server = FakeOpenAIServer()
    llm = OpenAI(
        model="gpt-3.5-turbo-instruct",
        api_key="not-a-key",
        base_url="http://fake-openai.invalid/v1",
        http_client=server.client(),
        max_retries=0,
        n=3,
        logprobs=2,
    )
    prompt = ChatPromptTemplate.from_template("Q: {question}")
    result = with_calibration(prompt | llm).invoke({"question": QUESTION})
    assert server.requests[0]["n"] == 3 and server.requests[0]["logprobs"] == 2
    assert result["output"] == " " + QUESTION  # a completions model returns the text as is
    check_candidates(result["calibration"], QUESTION, n_documents=0)


def test_chat_openai_n3_without_logprobs_is_flagged_per_candidate() -> None:
    server = FakeOpenAIServer()
    cal = with_calibration(rag_chain(chat_openai(server, n=3))).invoke(QUESTION)["calibration"]
    assert NO_LOGPROBS in cal.flags and cal.confidence is None
    assert len(cal.candidates) == 3
    assert all(c.confidence is None and c.signals.sequence_prob is None for c in cal.candidates)
    assert any("not asked for logprobs" in note for note in cal.notes)
