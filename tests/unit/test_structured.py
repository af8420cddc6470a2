"""``with_structured_output``: the logprobs survive, and the answer text is sensible.

With ``include_raw=True`` the chain returns ``{"raw": AIMessage, "parsed": ..., "parsing_error":
...}``; with ``include_raw=False`` only the parsed object. Either way the handler reads the
logprobs in ``on_llm_end``. The answer text is the message content (``method="json_schema"``,
ChatOpenAI's default), or the JSON of the tool-call arguments when the content is empty
(``method="function_calling"``, and ``BaseChatModel``'s generic implementation).

Two models: ``ToolCallLogprobChatModel`` (a tool call plus logprobs over its arguments' JSON,
as some servers report) and the real ``ChatOpenAI`` against ``FakeOpenAIServer`` (content
logprobs for ``json_schema``, none for tool calls, as OpenAI does).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from typing_extensions import TypedDict

from langchain_calibrate.result import CAPTURE_ERROR, Calibration
from langchain_calibrate.runnable import _answer_from_output, with_calibration
from langchain_calibrate.signals import NO_LOGPROBS
from tests.unit.fakes import FakeOpenAIServer, ToolCallLogprobChatModel
from tests.unit.test_handler import rag_chain

QUESTION = "q3 who wrote dune"


class Answer(BaseModel):
    """The answer and how many words the question had."""

    answer: str
    n_words: int


class AnswerDict(TypedDict):
    """The same, as a TypedDict."""

    answer: str
    n_words: int


class OnlyAnswer(BaseModel):
    """Just the answer (what ``FakeOpenAIServer`` fills in)."""

    answer: str


class WrongType(BaseModel):
    """A schema the tool call's arguments do not satisfy."""

    answer: int


def args_json(question: str) -> str:
    """What ``ToolCallLogprobChatModel`` calls its tool with, as ``json.dumps`` writes it."""
    return json.dumps({"answer": question, "n_words": len(question.split())})


def check_json_answer(cal: Calibration, text: str, n_documents: int = 2) -> None:
    """Tokens are ``text``'s whitespace-separated pieces with logprob ``-len(piece) / 10``."""
    pieces = text.split()
    lps = [-len(p) / 10 for p in pieces]
    assert NO_LOGPROBS not in cal.flags and CAPTURE_ERROR not in cal.flags, cal.flags
    assert cal.signals.n_tokens == len(pieces)
    assert cal.signals.mean_logprob == pytest.approx(sum(lps) / len(lps))
    assert cal.signals.min_logprob == pytest.approx(min(lps))
    assert cal.confidence == pytest.approx(math.exp(sum(lps) / len(lps)))
    assert [c.text for c in cal.candidates] == [text]  # the answer text that was scored
    assert cal.signals.answer_length == len(pieces)
    assert cal.signals.n_documents == n_documents


def test_tool_call_include_raw_keeps_logprobs() -> None:
    structured = ToolCallLogprobChatModel().with_structured_output(Answer, include_raw=True)
    result = with_calibration(rag_chain(structured)).invoke(QUESTION)
    out = result["output"]
    assert set(out) == {"raw", "parsed", "parsing_error"}
    assert out["parsed"] == Answer(answer=QUESTION, n_words=4)
    assert out["raw"].content == ""  # the answer is in the tool call, not the content
    check_json_answer(result["calibration"], args_json(QUESTION))
    assert {d.metadata["qid"] for d in result["calibration"].documents} == {QUESTION}


def test_tool_call_parsed_only_still_has_logprobs() -> None:
    structured = ToolCallLogprobChatModel().with_structured_output(Answer)
    result = with_calibration(rag_chain(structured)).invoke(QUESTION)
    assert result["output"] == Answer(answer=QUESTION, n_words=4)
    check_json_answer(result["calibration"], args_json(QUESTION))


def test_typed_dict_schema() -> None:
    structured = ToolCallLogprobChatModel().with_structured_output(AnswerDict)
    result = with_calibration(rag_chain(structured)).invoke(QUESTION)
    assert result["output"] == {"answer": QUESTION, "n_words": 4}
    check_json_answer(result["calibration"], args_json(QUESTION))


async def test_tool_call_include_raw_async() -> None:
    structured = ToolCallLogprobChatModel().with_structured_output(Answer, include_raw=True)
    result = await with_calibration(rag_chain(structured)).ainvoke(QUESTION)
    check_json_answer(result["calibration"], args_json(QUESTION))


def test_stream_include_raw() -> None:
    structured = ToolCallLogprobChatModel().with_structured_output(Answer, include_raw=True)
    chunks = list(with_calibration(rag_chain(structured)).stream(QUESTION))
    check_json_answer(chunks[-1]["calibration"], args_json(QUESTION))


def test_parsing_error_does_not_break_the_chain() -> None:
    structured = ToolCallLogprobChatModel().with_structured_output(WrongType, include_raw=True)
    result = with_calibration(rag_chain(structured)).invoke(QUESTION)
    assert result["output"]["parsed"] is None
    assert result["output"]["parsing_error"] is not None
    # The model still answered, with logprobs: the calibration scores what it said.
    check_json_answer(result["calibration"], args_json(QUESTION))


# -- the real ChatOpenAI, against a fake endpoint -----------------------------------------


def chat_openai(server: FakeOpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini",
        api_key="not-a-key",
        base_url="http://fake-openai.invalid/v1",
        http_client=server.client(),
        http_async_client=server.async_client(),
        max_retries=0,
        logprobs=True,
    )


@pytest.mark.parametrize("include_raw", [True, False])
def test_chat_openai_json_schema_keeps_logprobs(include_raw: bool) -> None:
    server = FakeOpenAIServer()
    structured = chat_openai(server).with_structured_output(OnlyAnswer, include_raw=include_raw)
    result = with_calibration(rag_chain(structured)).invoke(QUESTION)
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    assert server.requests[0]["logprobs"] is True
    parsed = result["output"]["parsed"] if include_raw else result["output"]
    assert parsed == OnlyAnswer(answer=QUESTION)
    check_json_answer(result["calibration"], json.dumps({"answer": QUESTION}))


async def test_chat_openai_json_schema_async() -> None:
    server = FakeOpenAIServer()
    structured = chat_openai(server).with_structured_output(OnlyAnswer, include_raw=True)
    result = await with_calibration(rag_chain(structured)).ainvoke(QUESTION)
    check_json_answer(result["calibration"], json.dumps({"answer": QUESTION}))


def test_chat_openai_function_calling_has_no_logprobs_and_says_why() -> None:
    """OpenAI reports no logprobs for tool-call arguments: flagged, with the way out."""
    server = FakeOpenAIServer()
    structured = chat_openai(server).with_structured_output(
        OnlyAnswer, method="function_calling", include_raw=True
    )
    result = with_calibration(rag_chain(structured)).invoke(QUESTION)
    assert result["output"]["parsed"] == OnlyAnswer(answer=QUESTION)
    cal = result["calibration"]
    assert NO_LOGPROBS in cal.flags and cal.confidence is None
    assert any("method='json_schema'" in note for note in cal.notes), cal.notes
    assert [c.text for c in cal.candidates] == [json.dumps({"answer": QUESTION})]


# -- the answer text when no model call was seen ------------------------------------------


def tool_message(args: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "Answer", "args": args, "id": "call_1"}])


def test_answer_from_output_shapes() -> None:
    args = {"answer": "Frank Herbert", "n_words": 2}
    raw = tool_message(args)
    include_raw = {"raw": raw, "parsed": Answer(**args), "parsing_error": None}
    assert _answer_from_output(include_raw, None) == json.dumps(args)
    assert _answer_from_output(raw, None) == json.dumps(args)
    assert _answer_from_output(Answer(**args), None) == '{"answer":"Frank Herbert","n_words":2}'
    with_content = {"raw": AIMessage("Frank Herbert"), "parsed": None, "parsing_error": None}
    assert _answer_from_output(with_content, None) == "Frank Herbert"
    assert _answer_from_output({"answer": "Herbert", "raw": raw}, "answer") == "Herbert"
    two_calls = AIMessage(
        "",
        tool_calls=[
            {"name": "A", "args": {"x": 1}, "id": "1"},
            {"name": "B", "args": {"y": 2}, "id": "2"},
        ],
    )
    assert json.loads(_answer_from_output(two_calls, None)) == [
        {"name": "A", "args": {"x": 1}},
        {"name": "B", "args": {"y": 2}},
    ]
    assert _answer_from_output(AIMessage(""), None) == ""


def test_structured_output_made_outside_the_handler_view() -> None:
    """No model call seen: no logprobs, but the answer is still the raw message's arguments."""
    args = {"answer": "Frank Herbert", "n_words": 2}
    chain = RunnableLambda(
        lambda _: {"raw": tool_message(args), "parsed": Answer(**args), "parsing_error": None}
    )
    cal = with_calibration(chain).invoke(QUESTION)["calibration"]
    assert NO_LOGPROBS in cal.flags
    assert cal.signals.answer_length == len(json.dumps(args).split())
