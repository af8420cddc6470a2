"""Tests for ScoredRetriever and relevance_function_for.

Expected scores are hand-computed from fixed 2-D vectors (or, for the fake embedding, from an
independent numpy cosine), never read back from the code under test.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import faiss
import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore

from langchain_calibrate.retrievers import (
    RELEVANCE_KEY,
    SCORE_KEY,
    ScoredRetriever,
    relevance_function_for,
)


class TableEmbeddings(Embeddings):
    """Maps known texts to fixed vectors, so every cosine is computable by hand."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(self.table[t]) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return list(self.table[text])


# Unit vectors at known angles to the query (1, 0): cos = 1, 0.6, 0, -1.
UNIT = {"q": [1.0, 0.0], "a": [1.0, 0.0], "b": [0.6, 0.8], "c": [0.0, 1.0], "d": [-1.0, 0.0]}
UNIT_COS = {"a": 1.0, "b": 0.6, "c": 0.0, "d": -1.0}
# Same directions, arbitrary norms (for normalize_L2=True).
SCALED = {"q": [10.0, 0.0], "a": [2.0, 0.0], "b": [3.0, 4.0], "c": [0.0, 5.0], "d": [-7.0, 0.0]}
TEXTS = ["a", "b", "c", "d"]


def _faiss_cls() -> Any:
    return pytest.importorskip("langchain_community.vectorstores").FAISS


def _strategy(name: str) -> Any:
    utils = pytest.importorskip("langchain_community.vectorstores.utils")
    return getattr(utils.DistanceStrategy, name)


def _faiss(table: dict[str, list[float]], texts: Iterable[str] = TEXTS, **kwargs: Any) -> Any:
    texts = list(texts)
    return _faiss_cls().from_texts(
        texts, TableEmbeddings(table), metadatas=[{"name": t} for t in texts], ids=texts, **kwargs
    )


def _by_text(docs: list[Document]) -> dict[str, Document]:
    return {d.page_content: d for d in docs}


# ----------------------------------------------------------------- InMemoryVectorStore


def _in_memory(table: dict[str, list[float]] = UNIT) -> InMemoryVectorStore:
    store = InMemoryVectorStore(TableEmbeddings(table))
    store.add_texts(TEXTS, metadatas=[{"name": t, "tags": ["x"]} for t in TEXTS], ids=TEXTS)
    return store


def test_in_memory_cosine_mapped_to_unit_interval() -> None:
    docs = ScoredRetriever(vectorstore=_in_memory(), k=4).invoke("q")
    assert [d.page_content for d in docs] == ["a", "b", "c", "d"]
    for doc in docs:
        cos = UNIT_COS[doc.page_content]
        assert doc.metadata[SCORE_KEY] == pytest.approx(cos, abs=1e-9)
        assert doc.metadata[RELEVANCE_KEY] == pytest.approx((cos + 1) / 2, abs=1e-9)
        assert doc.metadata["name"] == doc.page_content  # original metadata kept
    assert [d.metadata[RELEVANCE_KEY] for d in docs] == pytest.approx([1.0, 0.8, 0.5, 0.0])


def test_in_memory_with_fake_embedding_matches_numpy_cosine() -> None:
    emb = DeterministicFakeEmbedding(size=16)
    texts = ["alpha beta", "gamma", "delta epsilon", "zeta"]
    store = InMemoryVectorStore(emb)
    store.add_texts(texts)
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("alpha")
    q = np.array(emb.embed_query("alpha"))
    for doc in docs:
        v = np.array(emb.embed_query(doc.page_content))
        cos = float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))
        assert doc.metadata[SCORE_KEY] == pytest.approx(cos, abs=1e-9)
        assert doc.metadata[RELEVANCE_KEY] == pytest.approx((cos + 1) / 2, abs=1e-9)
        assert 0.0 <= doc.metadata[RELEVANCE_KEY] <= 1.0
    relevances = [d.metadata[RELEVANCE_KEY] for d in docs]
    assert relevances == sorted(relevances, reverse=True)


def test_in_memory_store_documents_not_mutated() -> None:
    store = _in_memory()
    stored_meta = {k: v["metadata"] for k, v in store.store.items()}
    snapshot = copy.deepcopy(stored_meta)
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("q")
    for doc in docs:
        assert doc.metadata is not stored_meta[doc.id]
    for key, meta in stored_meta.items():
        assert store.store[key]["metadata"] is meta  # same dict object ...
        assert meta == snapshot[key]  # ... and unchanged
        assert SCORE_KEY not in meta
        assert RELEVANCE_KEY not in meta
    # A second retrieval sees the pristine metadata, not the first call's scores.
    again = ScoredRetriever(vectorstore=store, k=1).invoke("q")
    assert set(again[0].metadata) == {"name", "tags", SCORE_KEY, RELEVANCE_KEY}


def test_documents_keep_id_and_content() -> None:
    docs = ScoredRetriever(vectorstore=_in_memory(), k=2).invoke("q")
    assert [(d.id, d.page_content) for d in docs] == [("a", "a"), ("b", "b")]


async def test_in_memory_async_matches_hand_values() -> None:
    retriever = ScoredRetriever(vectorstore=_in_memory(), k=4)
    docs = await retriever.ainvoke("q")
    assert [d.metadata[RELEVANCE_KEY] for d in docs] == pytest.approx([1.0, 0.8, 0.5, 0.0])
    assert [d.metadata[SCORE_KEY] for d in docs] == pytest.approx([1.0, 0.6, 0.0, -1.0])


async def test_per_call_k_sync_and_async() -> None:
    retriever = ScoredRetriever(vectorstore=_in_memory(), k=3)
    assert len(retriever.invoke("q")) == 3
    assert [d.page_content for d in retriever.invoke("q", k=1)] == ["a"]
    assert [d.page_content for d in await retriever.ainvoke("q", k=2)] == ["a", "b"]
    assert retriever.k == 3  # the per-call value does not stick


def test_search_kwargs_and_per_call_kwargs_are_merged() -> None:
    def no_a(doc: Document) -> bool:
        return doc.page_content != "a"

    retriever = ScoredRetriever(vectorstore=_in_memory(), k=2, search_kwargs={"filter": no_a})
    assert [d.page_content for d in retriever.invoke("q")] == ["b", "c"]

    def only_d(doc: Document) -> bool:
        return doc.page_content == "d"

    assert [d.page_content for d in retriever.invoke("q", filter=only_d)] == ["d"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_invalid_per_call_k_rejected(bad: Any) -> None:
    with pytest.raises(ValueError, match="k must be a positive int"):
        ScoredRetriever(vectorstore=_in_memory()).invoke("q", k=bad)


def test_invalid_construction_rejected() -> None:
    with pytest.raises(ValueError, match="not search_kwargs"):
        ScoredRetriever(vectorstore=_in_memory(), search_kwargs={"k": 2})
    with pytest.raises(ValueError):
        ScoredRetriever(vectorstore=_in_memory(), k=0)


def test_relevance_fn_override_is_clipped() -> None:
    store = _in_memory()
    docs = ScoredRetriever(vectorstore=store, k=4, relevance_fn=lambda s: 3 * s).invoke("q")
    # 3*cos = 3, 1.8, 0, -3 -> clipped
    assert [d.metadata[RELEVANCE_KEY] for d in docs] == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert [d.metadata[SCORE_KEY] for d in docs] == pytest.approx([1.0, 0.6, 0.0, -1.0])
    nan = ScoredRetriever(vectorstore=store, k=1, relevance_fn=lambda s: math.nan).invoke("q")
    assert nan[0].metadata[RELEVANCE_KEY] is None


def test_relevance_function_for_in_memory() -> None:
    fn = relevance_function_for(_in_memory())
    assert [fn(-1.0), fn(0.0), fn(0.6), fn(1.0)] == pytest.approx([0.0, 0.5, 0.8, 1.0])


# ------------------------------------------------------------------------ other stores


class _ScoreOnlyStore(VectorStore):
    """Minimal store returning fixed scores; no relevance function unless told."""

    def __init__(self, relevance: Callable[[float], float] | None = None) -> None:
        self._relevance = relevance
        self.docs = [(Document(page_content="x", metadata={"m": 1}), 7.0)]

    def add_texts(self, texts: Iterable[str], metadatas: Any = None, **kwargs: Any) -> list[str]:
        raise NotImplementedError

    @classmethod
    def from_texts(cls, *args: Any, **kwargs: Any) -> _ScoreOnlyStore:
        raise NotImplementedError

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [d for d, _ in self.docs[:k]]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self.docs[:k]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self._relevance is None:
            raise NotImplementedError
        return self._relevance


def test_store_without_relevance_function_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"_ScoreOnlyStore.*Pass relevance_fn="):
        ScoredRetriever(vectorstore=_ScoreOnlyStore())
    with pytest.raises(ValueError, match="Pass relevance_fn="):
        relevance_function_for(_ScoreOnlyStore())


def test_store_without_relevance_function_works_with_relevance_fn() -> None:
    store = _ScoreOnlyStore()
    docs = ScoredRetriever(vectorstore=store, relevance_fn=lambda s: s / 10).invoke("anything")
    assert docs[0].metadata == {"m": 1, SCORE_KEY: 7.0, RELEVANCE_KEY: pytest.approx(0.7)}
    assert store.docs[0][0].metadata == {"m": 1}


async def test_store_relevance_function_used_and_default_async_path() -> None:
    store = _ScoreOnlyStore(relevance=lambda s: 1 / s)
    retriever = ScoredRetriever(vectorstore=store)
    (doc,) = await retriever.ainvoke("anything")  # VectorStore's default async via executor
    assert doc.metadata[RELEVANCE_KEY] == pytest.approx(1 / 7)


# --------------------------------------------------------------------------------- FAISS


def test_faiss_index_flat_l2_returns_squared_distance() -> None:
    """The finding everything below relies on: IndexFlatL2 reports ||x - y||^2."""
    index = faiss.IndexFlatL2(2)
    index.add(np.array([[3.0, 4.0]], dtype=np.float32))
    dist, _ = index.search(np.zeros((1, 2), dtype=np.float32), 1)
    assert dist[0, 0] == pytest.approx(25.0)  # not 5


def test_faiss_l2_unit_vectors() -> None:
    store = _faiss(UNIT)  # vectors already unit-norm; normalize_L2=False
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("q")
    assert [d.page_content for d in docs] == TEXTS
    for doc in docs:
        cos = UNIT_COS[doc.page_content]
        assert doc.metadata[SCORE_KEY] == pytest.approx(2 - 2 * cos, abs=1e-6)  # squared L2
        assert doc.metadata[RELEVANCE_KEY] == pytest.approx((1 + cos) / 2, abs=1e-6)
        assert type(doc.metadata[SCORE_KEY]) is float  # not numpy.float32


def test_faiss_l2_normalize_flag_on_scaled_vectors() -> None:
    store = _faiss(SCALED, normalize_L2=True)
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("q")
    relevance = {d.page_content: d.metadata[RELEVANCE_KEY] for d in docs}
    assert relevance == pytest.approx({t: (1 + c) / 2 for t, c in UNIT_COS.items()}, abs=1e-6)


def test_faiss_l2_unnormalized_is_bounded_monotone_score() -> None:
    table = {"q": [1.0, 0.0], "a": [1.0, 0.0], "b": [1.0, 2.0], "c": [4.0, 0.0]}
    store = _faiss(table, texts=["a", "b", "c"])
    docs = _by_text(ScoredRetriever(vectorstore=store, k=3).invoke("q"))
    # squared distances 0, 4, 9 -> 1/(1+0), 1/(1+2), 1/(1+3)
    assert {t: d.metadata[SCORE_KEY] for t, d in docs.items()} == pytest.approx(
        {"a": 0.0, "b": 4.0, "c": 9.0}
    )
    assert {t: d.metadata[RELEVANCE_KEY] for t, d in docs.items()} == pytest.approx(
        {"a": 1.0, "b": 1 / 3, "c": 1 / 4}
    )


def test_faiss_cosine_strategy_is_really_squared_l2() -> None:
    """from_texts builds IndexFlatL2 for COSINE; community's own map (1 - d) is then wrong."""
    store = _faiss(UNIT, distance_strategy=_strategy("COSINE"))
    assert store.index.metric_type == faiss.METRIC_L2
    docs = _by_text(ScoredRetriever(vectorstore=store, k=4).invoke("q"))
    assert docs["d"].metadata[SCORE_KEY] == pytest.approx(4.0)
    assert store._select_relevance_score_fn()(4.0) == pytest.approx(-3.0)  # the bug
    rel = {t: d.metadata[RELEVANCE_KEY] for t, d in docs.items()}
    assert rel == pytest.approx({t: (1 + c) / 2 for t, c in UNIT_COS.items()}, abs=1e-6)


def test_faiss_inner_product_unit_vectors() -> None:
    store = _faiss(UNIT, distance_strategy=_strategy("MAX_INNER_PRODUCT"))
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("q")
    assert [d.page_content for d in docs] == TEXTS
    for doc in docs:
        cos = UNIT_COS[doc.page_content]
        assert doc.metadata[SCORE_KEY] == pytest.approx(cos, abs=1e-6)
        assert doc.metadata[RELEVANCE_KEY] == pytest.approx((1 + cos) / 2, abs=1e-6)


def test_faiss_inner_product_with_normalize_flag() -> None:
    # FAISS warns that normalize_L2 "is not applicable", but it does normalise both sides.
    with pytest.warns(UserWarning, match="Normalizing L2"):
        store = _faiss(SCALED, distance_strategy=_strategy("MAX_INNER_PRODUCT"), normalize_L2=True)
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("q")
    rel = {d.page_content: d.metadata[RELEVANCE_KEY] for d in docs}
    assert rel == pytest.approx({t: (1 + c) / 2 for t, c in UNIT_COS.items()}, abs=1e-6)


def test_faiss_inner_product_unnormalized_uses_sigmoid() -> None:
    table = {"q": [1.0, 0.0], "a": [2.0, 0.0], "b": [0.0, 3.0], "c": [-1.0, 1.0]}
    store = _faiss(table, texts=["a", "b", "c"], distance_strategy=_strategy("MAX_INNER_PRODUCT"))
    docs = _by_text(ScoredRetriever(vectorstore=store, k=3).invoke("q"))
    ips = {"a": 2.0, "b": 0.0, "c": -1.0}
    assert {t: d.metadata[SCORE_KEY] for t, d in docs.items()} == pytest.approx(ips)
    expected = {t: 1 / (1 + math.exp(-ip)) for t, ip in ips.items()}
    assert {t: d.metadata[RELEVANCE_KEY] for t, d in docs.items()} == pytest.approx(expected)


def test_faiss_jaccard_index_similarity_passed_through() -> None:
    cls = _faiss_cls()
    docstore = pytest.importorskip("langchain_community.docstore.in_memory").InMemoryDocstore()
    table = {"q": [1.0, 2.0], "a": [1.0, 2.0], "b": [1.0, 1.0]}
    store = cls(
        TableEmbeddings(table),
        faiss.IndexFlat(2, faiss.METRIC_Jaccard),
        docstore,
        {},
        distance_strategy=_strategy("JACCARD"),
    )
    store.add_texts(["a", "b"])
    docs = _by_text(ScoredRetriever(vectorstore=store, k=2).invoke("q"))
    # sum(min)/sum(max): a = 3/3, b = (1+1)/(1+2)
    assert docs["a"].metadata[RELEVANCE_KEY] == pytest.approx(1.0)
    assert docs["b"].metadata[RELEVANCE_KEY] == pytest.approx(2 / 3)


def test_faiss_empty_at_construction_decides_on_first_search() -> None:
    cls = _faiss_cls()
    docstore = pytest.importorskip("langchain_community.docstore.in_memory").InMemoryDocstore()
    store = cls(TableEmbeddings(UNIT), faiss.IndexFlatL2(2), docstore, {})
    retriever = ScoredRetriever(vectorstore=store, k=4)
    store.add_texts(TEXTS)
    docs = retriever.invoke("q")
    assert [d.metadata[RELEVANCE_KEY] for d in docs] == pytest.approx([1.0, 0.8, 0.5, 0.0])


def test_faiss_unsupported_metric_needs_relevance_fn() -> None:
    cls = _faiss_cls()
    docstore = pytest.importorskip("langchain_community.docstore.in_memory").InMemoryDocstore()
    store = cls(TableEmbeddings(UNIT), faiss.IndexFlat(2, faiss.METRIC_L1), docstore, {})
    with pytest.raises(ValueError, match=r"metric_type.*relevance_fn="):
        ScoredRetriever(vectorstore=store)
    ScoredRetriever(vectorstore=store, relevance_fn=lambda d: 1 / (1 + d))  # accepted


def test_faiss_store_override_respected() -> None:
    store = _faiss(UNIT, relevance_score_fn=lambda d: 0.25)
    docs = ScoredRetriever(vectorstore=store, k=2).invoke("q")
    assert [d.metadata[RELEVANCE_KEY] for d in docs] == [0.25, 0.25]


def test_faiss_docstore_documents_not_mutated() -> None:
    store = _faiss(UNIT)
    originals = {t: store.docstore.search(t) for t in TEXTS}
    meta_objs = {t: d.metadata for t, d in originals.items()}
    docs = ScoredRetriever(vectorstore=store, k=4).invoke("q")
    for doc in docs:
        assert doc is not originals[doc.page_content]
        assert doc.metadata is not meta_objs[doc.page_content]
    for t in TEXTS:
        assert store.docstore.search(t) is originals[t]
        assert originals[t].metadata is meta_objs[t]
        assert originals[t].metadata == {"name": t}


async def test_faiss_async_path_matches_hand_values() -> None:
    store = _faiss(UNIT)
    docs = await ScoredRetriever(vectorstore=store, k=4).ainvoke("q", k=3)
    assert [d.page_content for d in docs] == ["a", "b", "c"]
    assert [d.metadata[RELEVANCE_KEY] for d in docs] == pytest.approx([1.0, 0.8, 0.5], abs=1e-6)
    assert [d.metadata[SCORE_KEY] for d in docs] == pytest.approx([0.0, 0.8, 2.0], abs=1e-6)


@pytest.mark.parametrize("strategy", ["EUCLIDEAN_DISTANCE", "MAX_INNER_PRODUCT"])
def test_faiss_relevance_monotone_in_true_cosine(strategy: str) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(12, 5))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    query = vecs[0] + 0.3 * rng.normal(size=5)
    query /= np.linalg.norm(query)
    table = {f"t{i}": v.tolist() for i, v in enumerate(vecs)} | {"q": query.tolist()}
    texts = [f"t{i}" for i in range(12)]
    store = _faiss(table, texts=texts, distance_strategy=_strategy(strategy))
    docs = ScoredRetriever(vectorstore=store, k=12).invoke("q")
    cos = {t: float(vecs[int(t[1:])] @ query) for t in texts}
    for doc in docs:
        assert 0.0 <= doc.metadata[RELEVANCE_KEY] <= 1.0
        expected = (1 + cos[doc.page_content]) / 2
        assert doc.metadata[RELEVANCE_KEY] == pytest.approx(expected, abs=1e-5)
    ordered = sorted(docs, key=lambda d: cos[d.page_content])
    rel = [d.metadata[RELEVANCE_KEY] for d in ordered]
    assert rel == sorted(rel)
