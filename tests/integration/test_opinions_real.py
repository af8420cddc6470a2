"""P(True) and verbalized confidence against the real llama-server (Gemma 3 270M, a base model).

The reference is the server's own response: a recording httpx transport keeps the bytes it sent,
and the P(True) each judge returns must equal the one computed here, independently, from the raw
``top_logprobs`` of the generated token. Whether P(True) separates right from wrong answers is
reported, not asserted: the model has 270M parameters.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import threading
import unicodedata
from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI, OpenAI

from langchain_calibrate.opinions import (
    PTrueJudge,
    PTrueResult,
    VerbalConfidenceAsker,
    parse_stated_confidence,
)

# HaluEval-style rows, written for this test: (knowledge, question, right, hallucinated).
PAIRS = [
    (
        "The Danube is Europe's second-longest river. It flows through ten countries and empties "
        "into the Black Sea.",
        "Into which sea does the Danube empty?",
        "The Black Sea",
        "The Adriatic Sea",
    ),
    (
        "Ada Lovelace was an English mathematician, the daughter of the poet Lord Byron. She "
        "wrote notes on Charles Babbage's Analytical Engine.",
        "Who was Ada Lovelace's father?",
        "Lord Byron",
        "Charles Babbage",
    ),
    (
        "The Sydney Opera House was designed by the Danish architect Jorn Utzon and formally "
        "opened in 1973.",
        "What nationality was the architect of the Sydney Opera House?",
        "Danish",
        "Australian",
    ),
    (
        "Penicillin was discovered in 1928 by Alexander Fleming at St Mary's Hospital in London.",
        "In which year was penicillin discovered?",
        "1928",
        "1945",
    ),
    (
        "The Atacama Desert is a plateau on the Pacific coast of Chile, in South America. It is "
        "one of the driest places on Earth.",
        "In which country is the Atacama Desert?",
        "Chile",
        "Argentina",
    ),
    (
        "One Hundred Years of Solitude is a novel by Gabriel Garcia Marquez, first published in "
        "1967 in Buenos Aires.",
        "Who wrote One Hundred Years of Solitude?",
        "Gabriel Garcia Marquez",
        "Mario Vargas Llosa",
    ),
    (
        "Jupiter is the fifth planet from the Sun and the largest in the Solar System. Its moon "
        "Ganymede is the largest moon in the Solar System.",
        "What is the largest moon in the Solar System?",
        "Ganymede",
        "Titan",
    ),
    (
        "The Treaty of Tordesillas, signed in 1494, divided newly discovered lands outside Europe "
        "between Portugal and the Crown of Castile.",
        "Which two powers divided lands under the Treaty of Tordesillas?",
        "Portugal and Castile",
        "England and France",
    ),
    (
        "Aconcagua, in the Andes of Argentina, is the highest mountain outside Asia, at 6,961 "
        "metres.",
        "In which mountain range is Aconcagua?",
        "The Andes",
        "The Rocky Mountains",
    ),
    (
        "The violinist Niccolo Paganini was born in Genoa in 1782 and became the most celebrated "
        "violin virtuoso of his time.",
        "In which city was Niccolo Paganini born?",
        "Genoa",
        "Venice",
    ),
]


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def add(self, request: httpx.Request, body: bytes) -> None:
        with self.lock:
            self.exchanges.append((json.loads(request.content), json.loads(body)))

    def last(self) -> dict[str, Any]:
        with self.lock:
            return self.exchanges[-1][1]


class _Transport(httpx.BaseTransport):
    def __init__(self, recorder: _Recorder) -> None:
        self.inner = httpx.HTTPTransport()
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        self.recorder.add(request, body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, recorder: _Recorder) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.recorder = recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.recorder.add(request, body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def _clients(recorder: _Recorder) -> dict[str, Any]:
    return {
        "http_client": httpx.Client(transport=_Transport(recorder)),
        "http_async_client": httpx.AsyncClient(transport=_AsyncTransport(recorder)),
    }


def completions(base_url: str, model: str, recorder: _Recorder) -> Any:
    """The demo's model settings: a completions client with logprobs, stopping at a newline."""
    llm = OpenAI(
        base_url=base_url,
        api_key="none",  # type: ignore[arg-type]
        model=model,
        temperature=0.0,
        max_tokens=24,
        logprobs=3,
        max_retries=0,
        timeout=120,
        **_clients(recorder),
    )
    return llm.bind(stop=["\n"])


def _bare(token: str) -> str:
    text = unicodedata.normalize("NFKD", token.strip().lower())
    return "".join(c for c in text if not unicodedata.combining(c)).strip(".,:;!?\"'*")


def raw_p_true(body: dict[str, Any]) -> tuple[float, float, float | None]:
    """(p_yes, p_no, p_true) straight from a server response's first generated token."""
    choice = body["choices"][0]
    first = choice["logprobs"]["content"][0]
    probs = {t["token"]: t["logprob"] for t in first["top_logprobs"]}
    probs.setdefault(first["token"], first["logprob"])
    p_yes = sum(math.exp(lp) for t, lp in probs.items() if _bare(t) in {"yes", "true", "si"})
    p_no = sum(math.exp(lp) for t, lp in probs.items() if _bare(t) in {"no", "false", "falso"})
    return p_yes, p_no, (p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None)


def check_against_raw(result: PTrueResult, body: dict[str, Any]) -> None:
    p_yes, p_no, p_true = raw_p_true(body)
    assert result.p_yes == pytest.approx(p_yes, rel=1e-9, abs=1e-15)
    assert result.p_no == pytest.approx(p_no, rel=1e-9, abs=1e-15)
    if p_true is None:
        assert result.p_true is None and result.reason
    else:
        assert result.p_true == pytest.approx(p_true, rel=1e-9)
        assert 0.0 <= result.p_true <= 1.0


def _report(lines: list[str]) -> None:
    sys.stderr.write("\n" + "\n".join(f"[opinions] {line}" for line in lines) + "\n")
    sys.stderr.flush()


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f}" if values else "n/a"


def test_p_true_on_right_and_wrong_answers(base_url: str, model_name: str) -> None:
    recorder = _Recorder()
    judge = PTrueJudge(completions(base_url, model_name, recorder))
    results: dict[str, list[PTrueResult]] = {"right": [], "wrong": []}
    for knowledge, question, right, wrong in PAIRS:
        for label, answer in (("right", right), ("wrong", wrong)):
            result = judge.judge(question, knowledge, answer)
            request, body = recorder.exchanges[-1]
            assert request["max_tokens"] == 1 and request["logprobs"] == 5
            assert request["prompt"][0].endswith(f"Proposed answer: {answer}\nCorrect:")
            check_against_raw(result, body)
            assert result.elapsed is not None and result.elapsed > 0.0
            results[label].append(result)
    every = results["right"] + results["wrong"]
    read = [r for r in every if r.p_true is not None]
    assert len(read) >= 15, [(r.token, r.reason) for r in every if r.p_true is None]
    right = [r.p_true for r in results["right"] if r.p_true is not None]
    wrong = [r.p_true for r in results["wrong"] if r.p_true is not None]
    latencies = [r.elapsed or 0.0 for r in every]
    _report(
        [
            f"P(True) read on {len(read)}/{len(every)} judge calls",
            f"mean P(True): right answers {_mean(right)} (n={len(right)}), "
            f"wrong answers {_mean(wrong)} (n={len(wrong)})",
            "pairs right>wrong: "
            + str(
                sum(
                    1
                    for a, b in zip(results["right"], results["wrong"], strict=True)
                    if a.p_true is not None and b.p_true is not None and a.p_true > b.p_true
                )
            )
            + f"/{len(PAIRS)}",
            f"latency per call: median {statistics.median(latencies):.3f} s, "
            f"max {max(latencies):.3f} s",
            "tokens: " + ", ".join(sorted({repr(r.token) for r in every})),
        ]
    )


async def test_ajudge_matches_raw_logprobs(base_url: str, model_name: str) -> None:
    recorder = _Recorder()
    judge = PTrueJudge(completions(base_url, model_name, recorder))
    knowledge, question, right, _ = PAIRS[0]
    result = await judge.ajudge(question, knowledge, right)
    check_against_raw(result, recorder.last())


def test_p_true_with_chat_openai(base_url: str, model_name: str) -> None:
    recorder = _Recorder()
    chat = ChatOpenAI(
        base_url=base_url,
        api_key="none",  # type: ignore[arg-type]
        model=model_name,
        temperature=0.0,
        max_retries=0,
        timeout=120,
        **_clients(recorder),
    )
    judge = PTrueJudge(chat)
    knowledge, question, right, _ = PAIRS[3]
    result = judge.judge(question, knowledge, right)
    request, body = recorder.exchanges[-1]
    assert request["logprobs"] is True and request["top_logprobs"] == 5
    check_against_raw(result, body)
    _report([f"chat P(True) {result.p_true} token {result.token!r} in {result.elapsed:.3f} s"])


def test_verbal_asker_parses_real_replies(base_url: str, model_name: str) -> None:
    recorder = _Recorder()
    asker = VerbalConfidenceAsker(completions(base_url, model_name, recorder))
    lines = []
    for knowledge, question, right, wrong in PAIRS[:3]:
        for label, answer in (("right", right), ("wrong", wrong)):
            stated = asker.ask(question, knowledge, answer)
            request, body = recorder.exchanges[-1]
            assert request["max_tokens"] == 8 and request["stop"] == ["\n"]
            reply = body["choices"][0]["text"]
            assert stated.text == reply
            assert stated == parse_stated_confidence(reply, scale=100).model_copy(
                update={"elapsed": stated.elapsed}
            )
            if stated.value is None:
                assert stated.form in ("unparseable", "refusal")
            else:
                assert 0.0 <= stated.value <= 1.0
            assert stated.elapsed is not None and stated.elapsed > 0.0
            lines.append(
                f"verbal {label:5} {answer!r:22} reply {reply!r:12} -> {stated.value} "
                f"({stated.form}) in {stated.elapsed:.3f} s"
            )
    _report(lines)
