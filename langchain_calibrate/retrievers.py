"""A retriever that keeps the vector store's scores, plus a per-store relevance map.

LangChain's ``VectorStoreRetriever`` drops similarity scores, and the stores' own
``_select_relevance_score_fn`` maps are missing (``InMemoryVectorStore``) or wrong for the
distances actually returned (community ``FAISS``: ``IndexFlatL2`` returns *squared* L2, so
``1 - d/sqrt(2)`` goes negative). :class:`ScoredRetriever` calls ``similarity_search_with_score``
and writes two metadata keys on **copies** of the returned documents:

* :data:`SCORE_KEY` (``"score"``): the raw store score, as a Python ``float``. Its meaning is
  store-specific (cosine similarity, squared L2 distance, inner product, ...).
* :data:`RELEVANCE_KEY` (``"relevance"``): that score mapped to ``[0, 1]`` (higher = more relevant)
  by :func:`relevance_function_for` or a user ``relevance_fn``; ``None`` if the map gave NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever, LangSmithRetrieverParams
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

__all__ = [
    "RELEVANCE_KEY",
    "SCORE_KEY",
    "ScoredRetriever",
    "relevance_function_for",
]

SCORE_KEY = "score"
"""Metadata key for the raw, store-specific similarity/distance score."""

RELEVANCE_KEY = "relevance"
"""Metadata key for the relevance in ``[0, 1]`` (higher = more relevant), or ``None``."""

# faiss.MetricType values; stable across faiss releases, spelled out so this module does not
# import faiss unless a FAISS store is actually used.
_FAISS_METRIC_INNER_PRODUCT = 0
_FAISS_METRIC_L2 = 1
_FAISS_METRIC_JACCARD = 23

_UNIT_NORM_TOL = 1e-3
_NORM_SAMPLE = 16


def _in_memory_relevance(cosine: float) -> float:
    """Map a cosine similarity in ``[-1, 1]`` to ``[0, 1]``."""
    return (cosine + 1.0) / 2.0


def _unit_l2_relevance(sq_dist: float) -> float:
    """Squared L2 between unit vectors is ``2 - 2cos`` in ``[0, 4]``; ``1 - d/4 = (1+cos)/2``."""
    return 1.0 - sq_dist / 4.0


def _unbounded_l2_relevance(sq_dist: float) -> float:
    """Monotone (not a cosine) score for squared L2 between vectors of arbitrary norm."""
    return 1.0 / (1.0 + math.sqrt(max(sq_dist, 0.0)))


def _unit_ip_relevance(ip: float) -> float:
    """Inner product of unit vectors is a cosine; map ``[-1, 1]`` to ``[0, 1]``."""
    return (1.0 + ip) / 2.0


def _unbounded_ip_relevance(ip: float) -> float:
    """Monotone (not a cosine) score for an unbounded inner product: the logistic sigmoid."""
    if ip >= 0:
        return 1.0 / (1.0 + math.exp(-ip))
    e = math.exp(ip)  # avoids overflow of exp(-ip) for very negative ip
    return e / (1.0 + e)


def _jaccard_relevance(similarity: float) -> float:
    """faiss ``METRIC_Jaccard`` already returns a similarity in ``[0, 1]``."""
    return similarity


def _is_community_faiss(vectorstore: VectorStore) -> bool:
    """Detect langchain_community's FAISS (or a subclass) without importing the package."""
    is_faiss_class = any(
        cls.__name__ == "FAISS" and cls.__module__.startswith("langchain_community.")
        for cls in type(vectorstore).__mro__
    )
    return (
        is_faiss_class
        and hasattr(vectorstore, "distance_strategy")
        and hasattr(vectorstore, "index")
    )


def _faiss_vectors_unit_norm(vectorstore: Any) -> bool | None:
    """Whether the vectors FAISS compares are unit-norm.

    ``normalize_L2=True`` makes FAISS normalise both stored and query vectors, whatever the
    distance strategy (despite the warning it logs for non-Euclidean strategies). Otherwise a
    spread sample of stored vectors is reconstructed; the query is assumed to come from the same
    embedding model and so to share their norm.

    Returns:
        True/False, or None when it cannot be told yet (empty index).
    """
    if getattr(vectorstore, "_normalize_L2", False):
        return True
    index = vectorstore.index
    n = int(index.ntotal)
    if n == 0:
        return None
    ids = np.unique(np.linspace(0, n - 1, num=min(n, _NORM_SAMPLE)).astype(np.int64))
    try:
        norms = [float(np.linalg.norm(index.reconstruct(int(i)))) for i in ids]
    except RuntimeError:
        # Index types without reconstruct (IndexIDMap, IVF without direct map): no evidence of
        # unit norm, so use the bounded monotone maps rather than a possibly-wrong cosine.
        return False
    return all(abs(v - 1.0) <= _UNIT_NORM_TOL for v in norms)


class _FaissRelevance:
    """Relevance map for a community FAISS store, chosen from the index's real metric.

    The choice is made once, when the index first holds vectors (so an empty store that is
    filled later still gets the right map).
    """

    def __init__(self, vectorstore: Any) -> None:
        self._vectorstore = vectorstore
        self._fn: Callable[[float], float] | None = None
        metric = int(vectorstore.index.metric_type)
        if metric not in (_FAISS_METRIC_L2, _FAISS_METRIC_INNER_PRODUCT, _FAISS_METRIC_JACCARD):
            msg = (
                f"No relevance map for a FAISS index with metric_type={metric} "
                f"({type(vectorstore.index).__name__}). Pass relevance_fn= to ScoredRetriever "
                "mapping its raw score to [0, 1] (higher = more relevant)."
            )
            raise ValueError(msg)
        self._metric = metric
        self._resolve()

    def _resolve(self) -> Callable[[float], float] | None:
        if self._fn is None:
            if self._metric == _FAISS_METRIC_JACCARD:
                self._fn = _jaccard_relevance
            else:
                unit = _faiss_vectors_unit_norm(self._vectorstore)
                if unit is not None:
                    l2 = self._metric == _FAISS_METRIC_L2
                    if unit:
                        self._fn = _unit_l2_relevance if l2 else _unit_ip_relevance
                    else:
                        self._fn = _unbounded_l2_relevance if l2 else _unbounded_ip_relevance
        return self._fn

    def __call__(self, score: float) -> float:
        fn = self._resolve()
        if fn is None:  # only reachable if called while the index is still empty
            msg = "FAISS index is empty; add vectors before mapping scores to relevance."
            raise ValueError(msg)
        return fn(score)

    def __repr__(self) -> str:
        name = self._fn.__name__.lstrip("_") if self._fn else "undecided (empty index)"
        return f"<FAISS relevance: {name}>"


def relevance_function_for(vectorstore: VectorStore) -> Callable[[float], float]:
    """Return the function mapping ``vectorstore``'s raw scores to relevance in ``[0, 1]``.

    * ``InMemoryVectorStore``: raw score is cosine similarity; relevance ``(s + 1) / 2``.
    * langchain_community ``FAISS``: a ``relevance_score_fn`` given to the store wins. Otherwise
      the index's ``metric_type`` decides, not ``distance_strategy`` (``FAISS.from_texts`` builds
      an ``IndexFlatL2`` for every strategy except ``MAX_INNER_PRODUCT``, so "COSINE" stores
      return squared L2 too):

      - L2 (faiss returns the **squared** distance ``d``): unit-norm vectors give
        ``1 - d/4`` (exactly ``(1 + cos)/2``); otherwise ``1 / (1 + sqrt(d))``, a monotone score
        with no cosine meaning.
      - inner product: unit-norm vectors give ``(1 + ip)/2``; otherwise ``sigmoid(ip)``, again
        only monotone.
      - Jaccard: faiss already returns a similarity in ``[0, 1]``.

      Vectors count as unit-norm when the store has ``normalize_L2=True`` or a sample of stored
      vectors has norm 1 (within 1e-3).
    * Any other store: its ``_select_relevance_score_fn()``.

    The returned function is not clipped; :class:`ScoredRetriever` clips to ``[0, 1]``.

    Args:
        vectorstore: The store whose ``similarity_search_with_score`` scores are to be mapped.

    Returns:
        A callable ``raw_score -> relevance`` (higher = more relevant).

    Raises:
        ValueError: If the store has no known or declared relevance map; pass ``relevance_fn=``.

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> store = InMemoryVectorStore(DeterministicFakeEmbedding(size=8))
        >>> relevance_function_for(store)(0.5)
        0.75
    """
    if isinstance(vectorstore, InMemoryVectorStore):
        return _in_memory_relevance
    if _is_community_faiss(vectorstore):
        override = getattr(vectorstore, "override_relevance_score_fn", None)
        if override is not None:
            return override
        return _FaissRelevance(vectorstore)
    try:
        return vectorstore._select_relevance_score_fn()
    except NotImplementedError:
        msg = (
            f"{type(vectorstore).__name__} does not define how its raw scores map to relevance "
            "(_select_relevance_score_fn is not implemented). Pass relevance_fn= to "
            "ScoredRetriever, a callable mapping the store's raw score to [0, 1] "
            "(higher = more relevant)."
        )
        raise ValueError(msg) from None


def _clipped_relevance(fn: Callable[[float], float], raw: float) -> float | None:
    value = float(fn(raw))
    if math.isnan(value):
        return None
    return min(1.0, max(0.0, value))


class ScoredRetriever(BaseRetriever):
    """Retriever that returns copies of the store's documents with score and relevance.

    Each returned document is a copy whose metadata adds :data:`SCORE_KEY` (raw store score) and
    :data:`RELEVANCE_KEY` (``[0, 1]``, clipped; see :func:`relevance_function_for`). The store's
    own documents and metadata dicts are never modified. The copy is shallow: nested mutable
    values inside metadata are still shared with the store.

    Attributes:
        vectorstore: Store queried with ``similarity_search_with_score``.
        k: Number of documents to return; override per call with ``invoke(q, k=2)``.
        search_kwargs: Extra keyword arguments for the search (e.g. ``filter``); per-call
            keyword arguments are merged over them. Must not contain ``k``.
        relevance_fn: Optional ``raw_score -> relevance`` map overriding the per-store default.

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> store = InMemoryVectorStore(DeterministicFakeEmbedding(size=8))
        >>> _ = store.add_texts(["Paris is in France.", "Bananas are yellow."])
        >>> docs = ScoredRetriever(vectorstore=store, k=1).invoke("Paris is in France.")
        >>> round(docs[0].metadata["relevance"], 6)
        1.0
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: VectorStore
    k: int = Field(default=4, gt=0)
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    relevance_fn: Callable[[float], float] | None = None

    _relevance: Callable[[float], float] = PrivateAttr()

    @model_validator(mode="after")
    def _resolve_relevance(self) -> ScoredRetriever:
        if "k" in self.search_kwargs:
            msg = "Set the number of documents with ScoredRetriever(k=...), not search_kwargs['k']."
            raise ValueError(msg)
        # Resolved here so an unsupported store fails at construction, not at the first query.
        self._relevance = self.relevance_fn or relevance_function_for(self.vectorstore)
        return self

    def _get_ls_params(self, **kwargs: Any) -> LangSmithRetrieverParams:
        params = super()._get_ls_params(**kwargs)
        params["ls_vector_store_provider"] = type(self.vectorstore).__name__
        if self.vectorstore.embeddings is not None:
            params["ls_embedding_provider"] = type(self.vectorstore.embeddings).__name__
        return params

    def _search_args(self, kwargs: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        merged = {**self.search_kwargs, **kwargs}
        k = merged.pop("k", self.k)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            msg = f"k must be a positive int, got {k!r}."
            raise ValueError(msg)
        return k, merged

    def _with_scores(self, pairs: list[tuple[Document, float]]) -> list[Document]:
        out = []
        for doc, raw in pairs:
            score = float(raw)  # numpy float32 from FAISS -> JSON-serialisable float
            relevance = _clipped_relevance(self._relevance, score)
            metadata = {**doc.metadata, SCORE_KEY: score, RELEVANCE_KEY: relevance}
            out.append(doc.model_copy(update={"metadata": metadata}))
        return out

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k, search_kwargs = self._search_args(kwargs)
        pairs = self.vectorstore.similarity_search_with_score(query, k=k, **search_kwargs)
        return self._with_scores(pairs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k, search_kwargs = self._search_args(kwargs)
        pairs = await self.vectorstore.asimilarity_search_with_score(query, k=k, **search_kwargs)
        return self._with_scores(pairs)
