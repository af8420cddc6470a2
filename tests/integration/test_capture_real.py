"""Capture against the real llama-server through the real langchain-openai clients.

The reference is the server's own HTTP response: a recording httpx transport keeps the bytes the
server sent, and the logprobs parsed from them must equal what the handler captured, token for
token and float for float.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_openai import ChatOpenAI, OpenAI

from langchain_calibrate import CalibrationHandler, ScoredRetriever, with_calibration
from langchain_calibrate.signals import NO_LOGPROBS

PASSAGES = [
    ("paris", "Paris is the capital and largest city of France, on the river Seine."),
    ("tokyo", "Tokyo is the capital of Japan and the seat of the Japanese government."),
    ("nile", "The Nile is a major north-flowing river in northeastern Africa."),
    ("everest", "Mount Everest is Earth's highest mountain above sea level, in the Himalayas."),
    ("piano", "The piano was invented by Bartolomeo Cristofori in Italy around 1700."),
    ("insulin", "Insulin was discovered by Frederick Banting and Charles Best in 1921."),
    ("mars", "Mars is the fourth planet from the Sun and is often called the Red Planet."),
    ("python", "Python is a programming language created by Guido van Rossum, released in 1991."),
]
QUESTIONS = [
    "What is the capital of France?",
    "What is the capital of Japan?",
    "Which river flows north through northeastern Africa?",
    "What is the highest mountain on Earth?",
    "Who invented the piano?",
    "Who discovered insulin?",
    "Which planet is called the Red Planet?",
    "Who created the Python programming language?",
]
COMPLETION_PROMPT = PromptTemplate.from_template(
    "Answer with a short answer.\n\nPassages:\n{context}\nQuestion: {question}\nAnswer:"
)
CHAT_PROMPT = ChatPromptTemplate.from_messages(
    [("human", "Passages:\n{context}\n\nAnswer in a few words: {question}")]
)


class _Recorder:
    """Keeps each (request JSON, response bytes) pair the client exchanged with the server."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[tuple[dict[str, Any], bytes]] = []

    def add(self, request: httpx.Request, body: bytes) -> None:
        with self.lock:
            self.exchanges.append((json.loads(request.content), body))


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, recorder: _Recorder) -> None:
        self.inner = httpx.HTTPTransport()
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        self.recorder.add(request, body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, recorder: _Recorder) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.recorder = recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.recorder.add(request, body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def server_tokens(body: bytes) -> list[tuple[str, float]]:
    """The (token, logprob) pairs in a server response, streamed (SSE) or not."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        payloads = [json.loads(text)]
    else:
        payloads = [
            json.loads(line[len("data: ") :])
            for line in text.splitlines()
            if line.startswith("data: ") and line.strip() != "data: [DONE]"
        ]
    pairs = []
    for payload in payloads:
        for choice in payload.get("choices") or []:
            for entry in (choice.get("logprobs") or {}).get("content") or []:
                # llama-server streams its stop token as an empty-text entry; it is no part
                # of the answer (invoke does not return it), so the reference skips it too.
                if entry["token"]:
                    pairs.append((entry["token"], entry["logprob"]))
    return pairs


def captured_tokens(calibration_or_evidence: Any) -> list[tuple[str, float]]:
    tokens = calibration_or_evidence.answer.tokens
    return [(t.token, t.logprob) for t in tokens or []]


def request_text(request: dict[str, Any]) -> str:
    if "prompt" in request:
        return str(request["prompt"])
    return json.dumps(request["messages"])


@pytest.fixture(scope="module")
def minilm() -> Any:
    from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

    return LocalMiniLMEmbeddings()


@pytest.fixture(scope="module")
def retriever(minilm: Any) -> ScoredRetriever:
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy

    store = FAISS.from_texts(
        [text for _, text in PASSAGES],
        minilm,
        metadatas=[{"id": pid} for pid, _ in PASSAGES],
        distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
    )
    return ScoredRetriever(vectorstore=store, k=2)


def _clients(recorder: _Recorder) -> dict[str, Any]:
    return {
        "http_client": httpx.Client(transport=RecordingTransport(recorder)),
        "http_async_client": httpx.AsyncClient(transport=AsyncRecordingTransport(recorder)),
    }


def make_llm(kind: str, base_url: str, model: str, recorder: _Recorder, logprobs: bool = True):
    common = {
        "base_url": base_url,
        "api_key": "none",
        "model": model,
        "temperature": 0.0,
        "max_tokens": 12,
        **_clients(recorder),
    }
    if kind == "completions":
        return OpenAI(logprobs=3 if logprobs else None, **common).bind(stop=["\n"])
    if logprobs:
        return ChatOpenAI(logprobs=True, top_logprobs=3, **common)
    return ChatOpenAI(**common)


def rag(kind: str, retriever: ScoredRetriever, llm: Any):
    prompt = COMPLETION_PROMPT if kind == "completions" else CHAT_PROMPT
    return (
        {
            "context": retriever | (lambda docs: "\n".join(d.page_content for d in docs)),
            "question": RunnablePassthrough(),
        }
        | prompt
        | llm
        | StrOutputParser()
    )


def response_for(recorder: _Recorder, question: str) -> bytes:
    bodies = [body for req, body in recorder.exchanges if question in request_text(req)]
    assert len(bodies) == 1, f"expected one request for {question!r}, saw {len(bodies)}"
    return bodies[0]


def calibrated(kind: str, retriever: ScoredRetriever, base_url: str, model: str):
    """A with_calibration chain whose handler also hands every run's evidence to the test."""
    recorder = _Recorder()
    seen: list[Any] = []
    handler = CalibrationHandler(on_evidence=seen.append)
    llm = make_llm(kind, base_url, model, recorder)
    return with_calibration(rag(kind, retriever, llm), handler=handler), recorder, seen


def check_against_server(cal: Any, evidence: Any, body: bytes) -> None:
    expected = server_tokens(body)
    assert expected, "the server returned no logprobs"
    assert captured_tokens(evidence) == expected
    assert NO_LOGPROBS not in cal.flags
    assert cal.signals.n_tokens == len(expected)
    mean = sum(lp for _, lp in expected) / len(expected)
    assert cal.signals.mean_logprob == pytest.approx(mean, rel=1e-12)
    assert cal.signals.min_logprob == min(lp for _, lp in expected)


KINDS = ["completions", "chat"]


@pytest.mark.parametrize("kind", KINDS)
def test_invoke_logprobs_equal_server_response(kind, base_url, model_name, retriever) -> None:
    chain, recorder, seen = calibrated(kind, retriever, base_url, model_name)
    result = chain.invoke(QUESTIONS[0])
    (evidence,) = seen
    check_against_server(result["calibration"], evidence, response_for(recorder, QUESTIONS[0]))


@pytest.mark.parametrize("kind", KINDS)
def test_stream_logprobs_equal_server_response(kind, base_url, model_name, retriever) -> None:
    chain, recorder, seen = calibrated(kind, retriever, base_url, model_name)
    chunks = list(chain.stream(QUESTIONS[1]))
    assert "calibration" in chunks[-1]
    assert all("calibration" not in c for c in chunks[:-1])
    body = response_for(recorder, QUESTIONS[1])
    assert body.lstrip().startswith(b"data:"), "the client did not stream"
    (evidence,) = seen
    check_against_server(chunks[-1]["calibration"], evidence, body)
    assert "".join(c.get("output") or "" for c in chunks).strip()


@pytest.mark.parametrize("kind", KINDS)
async def test_ainvoke_logprobs_equal_server_response(kind, base_url, model_name, retriever):
    chain, recorder, seen = calibrated(kind, retriever, base_url, model_name)
    result = await chain.ainvoke(QUESTIONS[2])
    (evidence,) = seen
    check_against_server(result["calibration"], evidence, response_for(recorder, QUESTIONS[2]))


@pytest.mark.parametrize("kind", KINDS)
def test_batch_of_8_each_result_has_only_its_own_evidence(
    kind, base_url, model_name, retriever
) -> None:
    chain, recorder, seen = calibrated(kind, retriever, base_url, model_name)
    results = chain.batch(QUESTIONS, config={"max_concurrency": 4})
    assert len(results) == len(QUESTIONS) == len(recorder.exchanges) == len(seen)
    by_query = {e.retrievals[0].query: e for e in seen}
    for question, result in zip(QUESTIONS, results, strict=True):
        cal = result["calibration"]
        own_ids = [d.metadata["id"] for d in retriever.invoke(question)]
        assert [d.metadata["id"] for d in cal.documents] == own_ids
        check_against_server(cal, by_query[question], response_for(recorder, question))


async def test_abatch_with_shared_handler(base_url, model_name, retriever) -> None:
    chain, recorder, seen = calibrated("completions", retriever, base_url, model_name)
    results = await chain.abatch(QUESTIONS, config={"max_concurrency": 4})
    by_query = {e.retrievals[0].query: e for e in seen}
    for question, result in zip(QUESTIONS, results, strict=True):
        cal = result["calibration"]
        own_ids = [d.metadata["id"] for d in await retriever.ainvoke(question)]
        assert [d.metadata["id"] for d in cal.documents] == own_ids
        check_against_server(cal, by_query[question], response_for(recorder, question))
    assert chain.handler.active_runs == 0 and not chain.handler.finished


@pytest.mark.parametrize("kind", KINDS)
def test_model_without_logprobs_is_flagged_not_trusted(kind, base_url, model_name, retriever):
    recorder = _Recorder()
    llm = make_llm(kind, base_url, model_name, recorder, logprobs=False)
    result = with_calibration(rag(kind, retriever, llm)).invoke(QUESTIONS[0])
    assert server_tokens(response_for(recorder, QUESTIONS[0])) == []
    cal = result["calibration"]
    assert result["output"].strip()  # the chain still answered
    assert NO_LOGPROBS in cal.flags
    assert cal.confidence is None and cal.kind == "none"
    assert any("not asked for logprobs" in n for n in cal.notes)


def test_plain_handler_on_a_rag_app(base_url, model_name, retriever) -> None:
    """The callback alone (no wrapper) on a real chain, sync and async, via config run ids."""
    import uuid

    recorder = _Recorder()
    handler = CalibrationHandler()
    chain = rag("completions", retriever, make_llm("completions", base_url, model_name, recorder))
    rid = uuid.uuid4()
    chain.invoke(QUESTIONS[3], config={"callbacks": [handler], "run_id": rid})
    evidence = handler.pop_evidence(rid)
    assert captured_tokens(evidence) == server_tokens(response_for(recorder, QUESTIONS[3]))
    assert [d.metadata["id"] for d in evidence.documents] == [
        d.metadata["id"] for d in retriever.invoke(QUESTIONS[3])
    ]
    assert all(isinstance(d, Document) and "relevance" in d.metadata for d in evidence.documents)
    rid2 = uuid.uuid4()
    asyncio.run(chain.ainvoke(QUESTIONS[4], config={"callbacks": [handler], "run_id": rid2}))
    assert captured_tokens(handler.pop_evidence(rid2)) == server_tokens(
        response_for(recorder, QUESTIONS[4])
    )


@pytest.mark.parametrize("kind", KINDS)
def test_stream_and_invoke_score_the_same_tokens(kind, base_url, model_name, retriever) -> None:
    chain, _, seen = calibrated(kind, retriever, base_url, model_name)
    invoked = chain.invoke(QUESTIONS[5])["calibration"]
    streamed = list(chain.stream(QUESTIONS[5]))[-1]["calibration"]
    first, second = seen
    assert [t for t, _ in captured_tokens(first)] == [t for t, _ in captured_tokens(second)]
    assert invoked.signals.n_tokens == streamed.signals.n_tokens
