"""Test doubles for what no real part here can produce on demand.

``SleepyLogprobChatModel`` stands in for a provider in *unit* tests of the capture plumbing
(scoping, concurrency, freeing state): it sleeps a random few milliseconds and returns logprobs in
OpenAI's chat shape whose tokens spell the question, so a test can tell by construction which
run a captured token came from. The real model is exercised in tests/integration.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever


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
