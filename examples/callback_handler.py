"""Add one callback to an existing RAG app and read the evidence of each run.

No wrapper: the app's chain is unchanged and called as before, with the handler in its config.

    python examples/callback_handler.py
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack

from _common import completions_llm
from langchain_core.embeddings import Embeddings
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_calibrate import CalibrationHandler, ScoredRetriever, compute_signals
from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings
from langchain_calibrate.signals import compute_flags

PROMPT = PromptTemplate.from_template(
    "Answer from the passages with a short answer.\n\nPassages:\n{context}\n"
    "Question: {question}\nAnswer:"
)


def build_app(embeddings: Embeddings, llm):  # the "existing app"
    store = InMemoryVectorStore(embeddings)
    store.add_texts(
        [
            "The Great Barrier Reef lies off the coast of Queensland, Australia.",
            "Mount Kilimanjaro, in Tanzania, is the highest mountain in Africa.",
        ]
    )
    retriever = ScoredRetriever(vectorstore=store, k=1)  # cosine -> relevance (s + 1) / 2
    return (
        {
            "context": retriever | (lambda docs: docs[0].page_content),
            "question": RunnablePassthrough(),
        }
        | PROMPT
        | llm
        | StrOutputParser()
    )


def main() -> None:
    with ExitStack() as stack:
        handler = CalibrationHandler()
        app = build_app(LocalMiniLMEmbeddings(), completions_llm(stack))
        questions = ["Where is the Great Barrier Reef?", "What is the highest mountain in Africa?"]
        run_ids = [uuid.uuid4() for _ in questions]
        answers = app.batch(
            questions, config=[{"callbacks": [handler], "run_id": rid} for rid in run_ids]
        )
        for question, answer, rid in zip(questions, answers, run_ids, strict=True):
            evidence = handler.pop_evidence(rid)  # only this run's tokens and documents
            signals = compute_signals(
                answer=answer, tokens=evidence.answer.tokens, documents=evidence.documents
            )
            print(f"{question} -> {answer.strip()!r}")
            print(
                f"   tokens={signals.n_tokens}  sequence_prob(score)={signals.sequence_prob:.2f}"
                f"  relevance={signals.max_relevance:.2f}  flags={compute_flags(signals, answer)}"
            )
        print(f"handler state left behind: {handler.active_runs} runs")


if __name__ == "__main__":
    main()
