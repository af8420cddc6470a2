"""CalibrationHandler: scoping across branches, threads and tasks; freeing; never raising."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from langchain_calibrate import handler as handler_module
from langchain_calibrate.handler import CalibrationHandler
from tests.unit.fakes import SleepyLogprobChatModel, TaggedRetriever, logprob_of

PROMPT = ChatPromptTemplate.from_template("{context}\nQ: {question}")


def rag_chain(model: SleepyLogprobChatModel | None = None):
    retriever = TaggedRetriever()
    return (
        {
            "context": retriever | (lambda docs: "\n".join(d.page_content for d in docs)),
            "question": RunnablePassthrough(),
        }
        | PROMPT
        | (model or SleepyLogprobChatModel())
    )


def questions(n: int) -> list[str]:
    return [f"q{i} alpha{'x' * (i % 5)}" for i in range(n)]


def check_own(evidence, question: str) -> None:
    assert {d.metadata["qid"] for d in evidence.documents} == {question}
    assert len(evidence.documents) == 2
    tokens = evidence.answer.tokens
    assert [t.token for t in tokens] == question.split()
    assert [t.logprob for t in tokens] == [logprob_of(w) for w in question.split()]


def test_sibling_branches_land_in_one_scope() -> None:
    handler = CalibrationHandler()
    rid = uuid.uuid4()
    rag_chain().invoke("q7 beta", config={"callbacks": [handler], "run_id": rid})
    evidence = handler.pop_evidence(rid)
    assert evidence is not None
    check_own(evidence, "q7 beta")
    assert evidence.retrievals[0].query == "q7 beta"
    assert handler.active_runs == 0


def test_batch_threads_share_one_handler() -> None:
    handler = CalibrationHandler()
    qs = questions(64)
    ids = [uuid.uuid4() for _ in qs]
    configs = [{"callbacks": [handler], "run_id": rid, "max_concurrency": 16} for rid in ids]
    rag_chain().batch(qs, config=configs)
    for q, rid in zip(qs, ids, strict=True):
        check_own(handler.pop_evidence(rid), q)
    assert handler.active_runs == 0
    assert not handler.finished


async def test_abatch_tasks_share_one_handler() -> None:
    handler = CalibrationHandler()
    qs = questions(64)
    ids = [uuid.uuid4() for _ in qs]
    configs = [{"callbacks": [handler], "run_id": rid, "max_concurrency": 16} for rid in ids]
    await rag_chain().abatch(qs, config=configs)
    for q, rid in zip(qs, ids, strict=True):
        check_own(handler.pop_evidence(rid), q)
    assert handler.active_runs == 0


def test_stream_tokens_merge_in_order() -> None:
    handler = CalibrationHandler()
    rid = uuid.uuid4()
    chunks = list(
        rag_chain().stream("q3 one two three", config={"callbacks": [handler], "run_id": rid})
    )
    assert "".join(c.text for c in chunks) == "q3 one two three"
    check_own(handler.pop_evidence(rid), "q3 one two three")


def test_state_freed_after_error_and_finished_is_bounded() -> None:
    handler = CalibrationHandler(max_finished=3)

    def boom(_: object) -> None:
        raise RuntimeError("chain failed")

    chain = rag_chain() | RunnableLambda(boom)
    for i in range(10):
        with pytest.raises(RuntimeError):
            chain.invoke(f"q{i}", config={"callbacks": [handler]})
    assert handler.active_runs == 0
    assert len(handler.finished) == 3


def test_failure_inside_handler_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: object) -> None:
        raise ValueError("malformed payload")

    monkeypatch.setattr(handler_module, "logprobs_from_generation", broken)
    handler = CalibrationHandler()
    rid = uuid.uuid4()
    out = rag_chain().invoke("q1 x", config={"callbacks": [handler], "run_id": rid})
    assert out.text == "q1 x"  # the user's chain still returned
    evidence = handler.pop_evidence(rid)
    assert any("malformed payload" in e for e in evidence.errors)
    assert handler.active_runs == 0


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: object) -> None:
        raise ValueError("malformed payload")

    monkeypatch.setattr(handler_module, "logprobs_from_generation", broken)
    with pytest.raises(ValueError, match="malformed payload"):
        rag_chain().invoke("q1 x", config={"callbacks": [CalibrationHandler(strict=True)]})


def test_on_evidence_called_once_per_scope() -> None:
    seen = []
    handler = CalibrationHandler(on_evidence=seen.append, max_finished=0)
    rag_chain().batch(questions(5), config={"callbacks": [handler]})
    assert len(seen) == 5
    assert not handler.finished
    assert sorted(e.documents[0].metadata["qid"] for e in seen) == sorted(questions(5))


def test_model_without_logprobs_recorded_as_none() -> None:
    handler = CalibrationHandler()
    rid = uuid.uuid4()
    rag_chain(SleepyLogprobChatModel(with_logprobs=False)).invoke(
        "q2 y", config={"callbacks": [handler], "run_id": rid}
    )
    assert handler.pop_evidence(rid).answer.tokens is None


def test_negative_max_finished_rejected() -> None:
    with pytest.raises(ValueError, match="max_finished"):
        CalibrationHandler(max_finished=-1)


def test_run_inline_in_async_keeps_order() -> None:
    handler = CalibrationHandler()
    rid = uuid.uuid4()
    asyncio.run(rag_chain().ainvoke("q5 z", config={"callbacks": [handler], "run_id": rid}))
    check_own(handler.pop_evidence(rid), "q5 z")
