"""Wrap an existing RAG chain so every answer says how sure it is, and route the unsure ones.

Runs on the embedded local default (llama-server + Gemma 3 270M, started here and stopped on
exit), or on any OpenAI-compatible endpoint: set LANGCHAIN_CALIBRATE_BASE_URL (and
LANGCHAIN_CALIBRATE_MODEL, OPENAI_API_KEY).

    python examples/quickstart.py
"""

from __future__ import annotations

from contextlib import ExitStack

from _common import completions_llm
from langchain_community.vectorstores import FAISS
from langchain_community.vectorstores.utils import DistanceStrategy
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from langchain_calibrate import ScoredRetriever, route_by_confidence, with_calibration
from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

PASSAGES = [
    "Marie Curie was a physicist and chemist who won Nobel Prizes in physics (1903) and "
    "chemistry (1911).",
    "The Danube flows through ten countries, including Austria, Hungary and Romania, into the "
    "Black Sea.",
    "Canberra was chosen as the capital of Australia in 1908 as a compromise between Sydney "
    "and Melbourne.",
]
PROMPT = PromptTemplate.from_template(
    "Answer from the passages with a short answer.\n\n"
    "Passages:\nLake Baikal is a rift lake in Siberia, Russia.\n"
    "Question: In which country is Lake Baikal?\nAnswer: Russia\n\n"
    "Passages:\n{context}\nQuestion: {question}\nAnswer:"
)


def main() -> None:
    with ExitStack() as stack:
        # 1. An ordinary LCEL RAG chain; the only changes are ScoredRetriever and logprobs=3.
        embeddings = LocalMiniLMEmbeddings()
        store = FAISS.from_texts(
            PASSAGES,
            embeddings,
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
            normalize_L2=True,
        )
        retriever = ScoredRetriever(vectorstore=store, k=2)
        llm = completions_llm(stack)  # OpenAI(..., logprobs=3).bind(stop=["\n"])
        chain = (
            {
                "context": retriever | (lambda docs: "\n".join(d.page_content for d in docs)),
                "question": RunnablePassthrough(),
            }
            | PROMPT
            | llm
            | StrOutputParser()
        )

        # 2. Wrap it. Without a fitted calibrator the confidence is a raw *score*.
        calibrated = with_calibration(chain, embeddings=embeddings)
        for question in [
            "In which year did Marie Curie win the chemistry prize?",
            "Who painted the Mona Lisa?",
        ]:
            result = calibrated.invoke(question)
            cal = result["calibration"]
            print(f"Q: {question}\nA: {result['output'].strip()}")
            print(
                f"   {cal.kind} {cal.confidence:.2f}  flags={cal.flags}  "
                f"support={cal.signals.lexical_support}  best relevance="
                f"{cal.signals.max_relevance:.2f}"
            )

        # 3. Route: below 0.5, or with weak evidence, say "I don't know" instead.
        router = route_by_confidence(
            calibrated,
            0.5,
            RunnableLambda(lambda _: "I don't know."),
            route_on_flags=["low_evidence"],
        )
        for result in router.batch(
            ["Which sea does the Danube flow into?", "Who painted the Mona Lisa?"]
        ):
            print(f"-> {str(result['output']).strip()!r}  ({result['routing'].reason})")


if __name__ == "__main__":
    main()
