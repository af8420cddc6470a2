"""Test doubles for what no real part here can produce on demand.

``SleepyLogprobChatModel`` stands in for a provider in *unit* tests of the capture plumbing
(scoping, concurrency, freeing state): it sleeps a random few milliseconds and returns logprobs in
OpenAI's chat shape whose tokens spell the question, so a test can tell by construction which
run a captured token came from. The real model is exercised in tests/integration.

For ``n > 1`` and structured output, which the local server does not serve reliably:
``MultiCandidateChatModel`` returns ``n`` candidates per prompt (candidate ``k`` spells
``candidate_words(question, k)`` with logprobs ``candidate_logprob(word, k)``),
``ToolCallLogprobChatModel`` answers every prompt with one tool call plus logprobs (it supports
``bind_tools``, so ``with_structured_output`` works on it), and ``FakeOpenAIServer`` is an
``httpx.MockTransport`` responder that answers the real ``ChatOpenAI`` / ``OpenAI`` clients in
OpenAI's wire format (chat and legacy completions, ``n``, ``logprobs``, ``tools``,
``response_format``), so their own response parsing is what a test exercises.

For memory: ``drive_runs`` sends a handler the callbacks of many runs the way LangChain's
callback managers do (no runnable involved), and ``deep_sizeof`` measures what an object holds.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool


def question_of(messages: list[BaseMessage]) -> str:
    text = messages[-1].text
    return text.rsplit("Q:", 1)[-1].strip()


def entry(token: str, logprob: float) -> dict[str, Any]:
    return {
        "token": token,
        "bytes": None,
        "logprob": logprob,
        "top_logprobs": [
            {"token": token, "bytes": None, "logprob": logprob},
            {"token": "~", "bytes": None, "logprob": logprob - 1.0},
        ],
    }


def logprob_of(token: str) -> float:
    # Distinct, checkable per token: -(len)/10.
    return -len(token) / 10.0


class SleepyLogprobChatModel(BaseChatModel):
    """Answers with the question's words; logprobs in OpenAI chat shape (or none)."""

    with_logprobs: bool = True
    max_sleep: float = 0.005

    @property
    def _llm_type(self) -> str:
        return "sleepy-logprob-fake"

    def _answer(self, messages: list[BaseMessage]) -> list[str]:
        return question_of(messages).split()

    def _meta(self, words: list[str]) -> dict[str, Any]:
        if not self.with_logprobs:
            return {}
        return {"logprobs": {"content": [entry(w, logprob_of(w)) for w in words], "refusal": None}}

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        time.sleep(random.uniform(0, self.max_sleep))
        words = self._answer(messages)
        msg = AIMessage(" ".join(words), response_metadata=self._meta(words))
        return ChatResult(generations=[ChatGeneration(message=msg)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        await asyncio.sleep(random.uniform(0, self.max_sleep))
        words = self._answer(messages)
        msg = AIMessage(" ".join(words), response_metadata=self._meta(words))
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        words = self._answer(messages)
        for i, w in enumerate(words):
            text = w if i == 0 else " " + w
            yield ChatGenerationChunk(
                message=AIMessageChunk(text, response_metadata=self._meta([w]))
            )

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop, **kwargs):
            await asyncio.sleep(0)
            yield chunk


class TaggedRetriever(BaseRetriever):
    """Returns documents that name the query they were retrieved for."""

    n: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        time.sleep(random.uniform(0, 0.003))
        return [
            Document(f"{query} passage {i}", metadata={"qid": query, "relevance": 0.9})
            for i in range(self.n)
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        await asyncio.sleep(random.uniform(0, 0.003))
        return [
            Document(f"{query} passage {i}", metadata={"qid": query, "relevance": 0.9})
            for i in range(self.n)
        ]


def candidate_words(question: str, k: int) -> list[str]:
    """The words candidate ``k`` answers ``question`` with: the question, then ``alt<k>``."""
    words = question.split()
    return words if k == 0 else [*words, f"alt{k}"]


def candidate_logprob(word: str, k: int) -> float:
    """Candidate ``k``'s logprob for ``word``: ``logprob_of(word)``, ``k / 4`` lower."""
    return logprob_of(word) - k / 4


def candidate_content(question: str, k: int) -> list[dict[str, Any]]:
    """Candidate ``k``'s OpenAI chat ``logprobs.content``."""
    return [entry(w, candidate_logprob(w, k)) for w in candidate_words(question, k)]


class MultiCandidateChatModel(BaseChatModel):
    """Returns ``n`` candidates per prompt, as ``ChatOpenAI(n=n, logprobs=True)`` does."""

    n: int = 3

    @property
    def _llm_type(self) -> str:
        return "multi-candidate-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        question = question_of(messages)
        generations = []
        for k in range(self.n):
            content = {"content": candidate_content(question, k), "refusal": None}
            msg = AIMessage(
                " ".join(candidate_words(question, k)),
                response_metadata={"logprobs": content, "finish_reason": "stop"},
            )
            generations.append(ChatGeneration(message=msg, generation_info={"logprobs": content}))
        return ChatResult(generations=generations)


def tool_args_of(question: str) -> dict[str, Any]:
    """The arguments ``ToolCallLogprobChatModel`` calls its tool with for ``question``."""
    return {"answer": question, "n_words": len(question.split())}


class ToolCallLogprobChatModel(BaseChatModel):
    """Answers with one call of the first bound tool, and logprobs over the arguments' JSON.

    Like a server that reports logprobs for tool-call tokens (OpenAI itself reports none there:
    see ``FakeOpenAIServer``). The tokens are the JSON's whitespace-separated pieces, with
    ``logprob_of`` logprobs, so a test can rebuild them from ``json.dumps(tool_args_of(q))``.
    """

    tool_name: str = "no_tool_bound"

    @property
    def _llm_type(self) -> str:
        return "tool-call-logprob-fake"

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        name = convert_to_openai_tool(tools[0])["function"]["name"]
        return self.model_copy(update={"tool_name": name}).bind(**kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        args = tool_args_of(question_of(messages))
        pieces = json.dumps(args).split()
        msg = AIMessage(
            "",
            tool_calls=[{"name": self.tool_name, "args": args, "id": "call_0"}],
            response_metadata={
                "logprobs": {"content": [entry(p, logprob_of(p)) for p in pieces], "refusal": None}
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


class FakeOpenAIServer:
    """An ``httpx.MockTransport`` responder speaking OpenAI's chat and completions formats.

    Candidate ``k`` of ``n`` answers the question (the text after the last ``Q:`` of the prompt)
    with ``candidate_words(question, k)``, one token per word, each with logprob
    ``candidate_logprob(word, k)`` and one alternative ``"~"`` one nat lower. A
    ``response_format`` request gets ``json.dumps({"answer": question})`` as content, its tokens
    being that JSON's whitespace-separated pieces with ``logprob_of`` logprobs. A ``tools``
    request gets a tool call and ``logprobs.content = None``, as OpenAI does. Requests are kept
    in ``requests`` (their JSON bodies).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def client(self) -> httpx.Client:
        """A sync client for ``ChatOpenAI(http_client=...)`` / ``OpenAI(http_client=...)``."""
        return httpx.Client(transport=httpx.MockTransport(self))

    def async_client(self) -> httpx.AsyncClient:
        """An async client for ``http_async_client=``."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        n = int(body.get("n") or 1)
        if request.url.path.endswith("/chat/completions"):
            question = str(body["messages"][-1]["content"]).rsplit("Q:", 1)[-1].strip()
            choices = [self._chat_choice(body, question, k) for k in range(n)]
            kind = "chat.completion"
        else:
            question = str(body["prompt"][0]).rsplit("Q:", 1)[-1].strip()
            choices = [self._completion_choice(question, k) for k in range(n)]
            kind = "text_completion"
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        return httpx.Response(
            200,
            json={
                "id": "fake-1",
                "object": kind,
                "created": 0,
                "model": body.get("model", "fake"),
                "choices": choices,
                "usage": usage,
            },
        )

    @staticmethod
    def _chat_choice(body: dict[str, Any], question: str, k: int) -> dict[str, Any]:
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {
                "id": f"call_{k}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps({"answer": question})},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            content: list[dict[str, Any]] | None = None
        elif body.get("response_format"):
            text = json.dumps({"answer": question})
            message = {"role": "assistant", "content": text}
            content = [entry(p, logprob_of(p)) for p in text.split()]
        else:
            message = {"role": "assistant", "content": " ".join(candidate_words(question, k))}
            content = candidate_content(question, k)
        logprobs = {"content": content, "refusal": None} if body.get("logprobs") else None
        return {"index": k, "message": message, "logprobs": logprobs, "finish_reason": "stop"}

    @staticmethod
    def _completion_choice(question: str, k: int) -> dict[str, Any]:
        words = candidate_words(question, k)
        tokens = [" " + w for w in words]
        return {
            "index": k,
            "text": "".join(tokens),
            "finish_reason": "stop",
            "logprobs": {
                "tokens": tokens,
                "token_logprobs": [candidate_logprob(w, k) for w in words],
                "top_logprobs": [
                    {t: candidate_logprob(w, k), " ~": candidate_logprob(w, k) - 1.0}
                    for t, w in zip(tokens, words, strict=True)
                ],
                "text_offset": [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))],
            },
        }


# -- driving a handler the way LangChain's callback managers do ------------------------------

RUN_KINDS = (
    "rag",
    "rag",
    "rag",
    "rag",
    "completion",
    "streamed",
    "wrapped",
    "chain_error",
    "llm_error",
    "retriever_error",
    "children_never_end",
    "wrapped_children_never_end",
    "handler_failure",
    "never_ends",
)
"""The runs ``drive_runs`` sends by default, in turn (run ``i`` is ``RUN_KINDS[i % 14]``).

* ``rag``: a RAG sequence (parallel retriever + passthrough, prompt, chat model, parser).
* ``completion``: the same with a completions model (``on_llm_start``).
* ``streamed``: the chat model streams tokens (``on_llm_new_token`` with chunks) before its end.
* ``wrapped``: like ``with_calibration``: the root's parent is a run the handler never sees,
  claimed first and popped after.
* ``chain_error`` / ``llm_error`` / ``retriever_error``: a run fails there and every enclosing
  run ends with ``on_chain_error``.
* ``children_never_end``: the retriever and model start but never end; the root ends.
* ``wrapped_children_never_end``: the same under a claimed, popped wrapper run.
* ``handler_failure``: ``on_llm_end`` gets a payload the handler cannot read (recorded error).
* ``never_ends``: a root and its children start and nothing ever ends (``max_open_scopes``).
"""


def _chat_result(question: str) -> Any:
    from langchain_core.outputs import LLMResult

    words = question.split()
    logprobs = {"content": [entry(w, logprob_of(w)) for w in words], "refusal": None}
    msg = AIMessage(" ".join(words), response_metadata={"logprobs": logprobs})
    return LLMResult(generations=[[ChatGeneration(message=msg)]])


def _completion_result(question: str) -> Any:
    from langchain_core.outputs import Generation, LLMResult

    words = question.split()
    info = {
        "logprobs": {
            "tokens": [" " + w for w in words],
            "token_logprobs": [logprob_of(w) for w in words],
            "top_logprobs": [{" " + w: logprob_of(w)} for w in words],
        }
    }
    return LLMResult(generations=[[Generation(text=" " + " ".join(words), generation_info=info)]])


def drive_runs(handler: Any, n: int, start: int = 0, kinds: Sequence[str] = RUN_KINDS) -> None:
    """Send ``handler`` the callbacks of ``n`` chain runs (numbered from ``start``).

    Run ids are fresh ``uuid4``s with parent ids as LangChain sets them; run ``i`` is of kind
    ``kinds[i % len(kinds)]`` (see ``RUN_KINDS``). Nothing is kept here, so whatever memory
    stays allocated afterwards is held by the handler.
    """
    from uuid import uuid4

    serialized: dict[str, Any] = {}
    for i in range(start, start + n):
        kind = kinds[i % len(kinds)]
        question = f"q{i} {_DRIVE_WORDS[i % len(_DRIVE_WORDS)]}"
        wrapper = uuid4() if kind.startswith("wrapped") else None
        if wrapper is not None:
            handler.claim(wrapper)
        root, par, ctx, retr, fmt, pas, prompt, model, parser = (uuid4() for _ in range(9))
        handler.on_chain_start(serialized, question, run_id=root, parent_run_id=wrapper)
        handler.on_chain_start(serialized, question, run_id=par, parent_run_id=root)
        handler.on_chain_start(serialized, question, run_id=ctx, parent_run_id=par)
        handler.on_retriever_start(serialized, question, run_id=retr, parent_run_id=ctx)
        if kind == "retriever_error":
            failure = RuntimeError("retriever down")
            handler.on_retriever_error(failure, run_id=retr, parent_run_id=ctx)
            for run_id in (ctx, par, root):
                handler.on_chain_error(failure, run_id=run_id)
            continue
        if kind in ("children_never_end", "wrapped_children_never_end", "never_ends"):
            handler.on_chat_model_start(serialized, [[]], run_id=model, parent_run_id=root)
            if kind == "never_ends":
                continue
            handler.on_chain_end({}, run_id=root)
            if wrapper is not None:
                handler.pop_evidence(wrapper)
            continue
        docs = [
            Document(f"{question} passage {k}", metadata={"qid": question, "relevance": 0.8})
            for k in range(3)
        ]
        handler.on_retriever_end(docs, run_id=retr, parent_run_id=ctx)
        handler.on_chain_start(serialized, docs, run_id=fmt, parent_run_id=ctx)
        handler.on_chain_end("joined", run_id=fmt, parent_run_id=ctx)
        handler.on_chain_end("joined", run_id=ctx, parent_run_id=par)
        handler.on_chain_start(serialized, question, run_id=pas, parent_run_id=par)
        handler.on_chain_end(question, run_id=pas, parent_run_id=par)
        handler.on_chain_end({}, run_id=par, parent_run_id=root)
        handler.on_chain_start(serialized, {}, run_id=prompt, parent_run_id=root)
        handler.on_chain_end("prompt", run_id=prompt, parent_run_id=root)
        params = {"invocation_params": {"model": "fake", "logprobs": True}}
        if kind == "completion":
            handler.on_llm_start(serialized, [question], run_id=model, parent_run_id=root, **params)
            response = _completion_result(question)
        else:
            handler.on_chat_model_start(
                serialized, [[]], run_id=model, parent_run_id=root, **params
            )
            response = None if kind == "handler_failure" else _chat_result(question)
        if kind == "streamed":
            for w in question.split():
                meta = {"logprobs": {"content": [entry(w, logprob_of(w))]}}
                chunk = ChatGenerationChunk(message=AIMessageChunk(w, response_metadata=meta))
                handler.on_llm_new_token(w, chunk=chunk, run_id=model, parent_run_id=root)
        if kind == "llm_error":
            failure = RuntimeError("model down")
            handler.on_llm_error(failure, run_id=model, parent_run_id=root)
            handler.on_chain_error(failure, run_id=root)
            continue
        handler.on_llm_end(response, run_id=model, parent_run_id=root)
        handler.on_chain_start(serialized, {}, run_id=parser, parent_run_id=root)
        if kind == "chain_error":
            failure = ValueError("parser failed")
            handler.on_chain_error(failure, run_id=parser, parent_run_id=root)
            handler.on_chain_error(failure, run_id=root)
            continue
        handler.on_chain_end("answer", run_id=parser, parent_run_id=root)
        handler.on_chain_end("answer", run_id=root, parent_run_id=wrapper)
        if wrapper is not None:
            handler.pop_evidence(wrapper)


_DRIVE_WORDS = ("alpha beta", "gamma", "delta epsilon zeta", "eta theta")


def deep_sizeof(root: Any) -> int:
    """Bytes of every object reachable from ``root`` (``sys.getsizeof`` summed, each once).

    Classes, modules, functions and other shared runtime objects are not followed: this is what
    ``root`` itself holds on to.
    """
    import gc
    import sys
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total
