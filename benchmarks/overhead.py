"""The plugin's own cost per run, next to the model's latency.

Run: ``python benchmarks/overhead.py`` (starts the local llama-server for the model figure;
``--no-model`` skips it, ``--base-url URL --model NAME`` measures another endpoint).

It prints, per run of a RAG answer of ~24 tokens with top-3 alternatives and 3 documents:
  * each stage alone: logprob normalization, token signals, evidence signals (lexical),
    semantic support (real MiniLM + FAISS), a logistic calibrator's predict_one;
  * the whole wrapper: the same chain with an instant model, with and without
    ``with_calibration`` (handler callbacks + signals + calibration), the difference being the
    overhead a user pays;
  * the real model's latency for the same kind of request.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever

from langchain_calibrate import with_calibration
from langchain_calibrate.calibrators import LogisticCalibrator
from langchain_calibrate.logprobs import normalize_logprobs
from langchain_calibrate.signals import Signals, compute_signals, token_signals

DOCS = [
    Document(
        "Scott Derrickson (born July 16, 1966) is an American director, screenwriter and "
        "producer. He lives in Los Angeles, California.",
        metadata={"relevance": 0.86, "score": 0.72},
    ),
    Document(
        "Edward Davis Wood Jr. (October 10, 1924 - December 10, 1978) was an American "
        "filmmaker, actor, writer, producer, and director.",
        metadata={"relevance": 0.79, "score": 0.58},
    ),
    Document("Doctor Strange is a 2016 American superhero film.", metadata={"relevance": 0.7}),
]
ANSWER = "Scott Derrickson and Ed Wood were both American directors."


def payload(n_tokens: int = 24, seed: int = 0) -> dict[str, Any]:
    """A llama.cpp /v1/completions logprobs payload (legacy keys null, a content list)."""
    rng = random.Random(seed)
    content = []
    for i in range(n_tokens):
        lps = sorted((math.log(rng.uniform(0.01, 1.0)) for _ in range(3)), reverse=True)
        tops = [
            {"id": i * 3 + j, "token": f"t{i}_{j}", "bytes": [], "logprob": lp}
            for j, lp in enumerate(lps)
        ]
        content.append(
            {"id": i, "token": f"t{i}_0", "bytes": [], "logprob": lps[0], "top_logprobs": tops}
        )
    return {
        "tokens": None,
        "token_logprobs": None,
        "top_logprobs": None,
        "text_offset": None,
        "content": content,
    }


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls (after a warm-up call)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


class StaticRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return list(DOCS)


def fitted_calibrator() -> LogisticCalibrator:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(400):
        mean_lp = float(rng.uniform(-3, 0))
        rows.append(
            Signals(
                mean_logprob=mean_lp,
                min_logprob=mean_lp - 1,
                sequence_prob=math.exp(mean_lp),
                mean_entropy=float(rng.uniform(0, 1)),
                mean_margin=float(rng.uniform(0, 1)),
                answer_length=5.0,
                max_relevance=float(rng.uniform(0.5, 1)),
                mean_relevance=0.7,
                lexical_support=float(rng.uniform(0, 1)),
                semantic_support=0.5,
                n_documents=3.0,
            )
        )
    labels = [int(rng.uniform() < r.sequence_prob) for r in rows]
    return LogisticCalibrator().fit(rows, labels)


def model_latency(base_url: str | None, model: str | None, repeat: int) -> tuple[float, str]:
    from langchain_openai import OpenAI

    prompt = (
        "Answer from the passages with a short answer.\n\nPassages:\n"
        + "\n".join(d.page_content for d in DOCS) * 3
        + "\nQuestion: Were Scott Derrickson and Ed Wood of the same nationality?\nAnswer:"
    )

    def run(url: str, name: str) -> float:
        llm = OpenAI(
            base_url=url,
            api_key="none",
            model=name,
            temperature=0.0,  # type: ignore[arg-type]
            max_tokens=24,
            logprobs=3,
        )
        return timed(lambda: llm.invoke(prompt), repeat)

    if base_url:
        return run(base_url, model or "gpt-4o-mini"), base_url
    from langchain_calibrate.local.server import LlamaServer

    with LlamaServer() as server:
        return run(server.base_url, server.model_name), f"local llama-server ({server.model_name})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-model", action="store_true", help="skip the model latency")
    parser.add_argument("--no-embeddings", action="store_true", help="skip semantic support")
    parser.add_argument("--base-url")
    parser.add_argument("--model")
    args = parser.parse_args()

    raw = payload()
    tokens = normalize_logprobs(raw)
    calibrator = fitted_calibrator()
    signals = compute_signals(answer=ANSWER, tokens=tokens, documents=DOCS)
    rows: list[tuple[str, float]] = [
        (
            "normalize logprobs (24 tokens, top-3)",
            timed(lambda: normalize_logprobs(raw), args.repeat),
        ),
        ("token signals", timed(lambda: token_signals(tokens), args.repeat)),
        (
            "evidence signals, lexical (3 docs)",
            timed(
                lambda: compute_signals(answer=ANSWER, tokens=tokens, documents=DOCS), args.repeat
            ),
        ),
        (
            "logistic calibrator predict_one",
            timed(lambda: calibrator.predict_one(signals), args.repeat),
        ),
    ]
    if not args.no_embeddings:
        from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

        emb = LocalMiniLMEmbeddings()
        rows.append(
            (
                "semantic support (MiniLM + FAISS)",
                timed(
                    lambda: compute_signals(
                        answer=ANSWER, tokens=tokens, documents=DOCS, embeddings=emb
                    ),
                    max(10, args.repeat // 10),
                ),
            )
        )

    message = AIMessage(ANSWER, response_metadata={"logprobs": raw})
    model = GenericFakeChatModel(messages=iter(lambda: message, None))
    prompt = ChatPromptTemplate.from_template("{context}\n{question}")
    chain = (
        {
            "context": StaticRetriever() | (lambda d: "\n".join(x.page_content for x in d)),
            "question": lambda q: q,
        }
        | prompt
        | model
        | StrOutputParser()
    )
    wrapped = with_calibration(chain, calibrator)
    plain_s = timed(lambda: chain.invoke("Were they both American?"), args.repeat)
    wrapped_s = timed(lambda: wrapped.invoke("Were they both American?"), args.repeat)
    rows += [
        ("chain with an instant model, unwrapped", plain_s),
        ("same chain in with_calibration", wrapped_s),
        ("=> plugin overhead per run (handler + signals + calibration)", wrapped_s - plain_s),
    ]
    if not args.no_model:
        latency, where = model_latency(args.base_url, args.model, repeat=10)
        rows.append((f"model call, 24 tokens with top-3 logprobs, {where}", latency))

    width = max(len(name) for name, _ in rows)
    print(f"{'stage':<{width}}  ms per run (median)")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds * 1000:10.3f}")
    if not args.no_model:
        share = (wrapped_s - plain_s) / latency * 100
        print(f"\nplugin overhead (lexical signals) is {share:.2f}% of one model call")


if __name__ == "__main__":
    main()
