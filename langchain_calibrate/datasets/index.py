"""Build a cosine-similarity FAISS index over passages, caching the embedding matrix on disk.

The index uses ``DistanceStrategy.MAX_INNER_PRODUCT`` over L2-normalised vectors (documents and
queries), so the raw score FAISS returns from ``similarity_search_with_score`` *is* the cosine
similarity. The embedding matrix is cached under ``<cache>/index/<cache_key>/`` so that a second
build with the same passages and the same embedding model skips embedding entirely.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from langchain_calibrate.datasets._cache import cache_root

if TYPE_CHECKING:
    from langchain_community.vectorstores import FAISS

__all__ = ["build_passage_index", "cosine_relevance", "embeddings_identity", "index_cache_dir"]

_CACHE_FORMAT = 1
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VECTORS = "embeddings.npy"
_MANIFEST = "manifest.json"


def cosine_relevance(score: float) -> float:
    """Map a raw cosine score to LangChain's [0, 1] relevance scale: ``(1 + cos) / 2``.

    Installed as the index's ``relevance_score_fn``: LangChain's default for
    ``MAX_INNER_PRODUCT`` returns ``1 - score`` for positive scores, which would rank the most
    similar passage as the least relevant in ``similarity_search_with_relevance_scores``.

    Args:
        score: Cosine similarity in [-1, 1].

    Returns:
        ``(1 + score) / 2``, clipped to [0, 1].

    Example:
        >>> cosine_relevance(0.7), cosine_relevance(-0.2)
        (0.85, 0.4)
    """
    # The same map ScoredRetriever uses for unit vectors, so both APIs agree on relevance.
    return float(min(max((1.0 + score) / 2.0, 0.0), 1.0))


def embeddings_identity(embeddings: Embeddings) -> str:
    """Describe an embedding model for cache validation: class path plus model name if known.

    Args:
        embeddings: Any LangChain embeddings object.

    Returns:
        E.g. ``"langchain_calibrate.local.embeddings.LocalMiniLMEmbeddings:sentence-transformers/
        all-MiniLM-L6-v2"``.

    Example:
        >>> from langchain_core.embeddings import FakeEmbeddings
        >>> embeddings_identity(FakeEmbeddings(size=3))
        'langchain_core.embeddings.fake.FakeEmbeddings'
    """
    cls = type(embeddings)
    ident = f"{cls.__module__}.{cls.__qualname__}"
    for attr in ("model_name", "model", "model_id"):
        name = getattr(embeddings, attr, None)
        if isinstance(name, str) and name:
            return f"{ident}:{name}"
    return ident


def index_cache_dir(cache_key: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return ``<cache>/index/<cache_key>/`` (not created).

    Args:
        cache_key: Letters, digits, ``.``, ``_`` and ``-`` only (it becomes a directory name).
        cache_dir: Cache root; defaults to ``$LANGCHAIN_CALIBRATE_CACHE`` or
            ``~/.cache/langchain-calibrate``.

    Returns:
        The directory holding ``embeddings.npy`` and ``manifest.json``.

    Raises:
        ValueError: ``cache_key`` is not a safe directory name.

    Example:
        >>> index_cache_dir("halueval-dev", "/tmp/c").as_posix()
        '/tmp/c/index/halueval-dev'
    """
    if not _KEY_RE.match(cache_key):
        msg = (
            f"cache_key {cache_key!r} is not a safe directory name; use 1-128 letters, digits, "
            "'.', '_' or '-' (starting with a letter or digit)."
        )
        raise ValueError(msg)
    return cache_root(cache_dir) / "index" / cache_key


def _import_faiss() -> tuple[type[FAISS], Any]:
    try:
        with warnings.catch_warnings():
            # langchain-community announces its sunset on import; FAISS is still what we use.
            warnings.filterwarnings("ignore", message=".*langchain-community.*is being sunset")
            from langchain_community.vectorstores import FAISS
            from langchain_community.vectorstores.utils import DistanceStrategy
    except ImportError as exc:
        msg = (
            f"build_passage_index needs langchain-community and faiss-cpu ({exc}). Install them "
            "with `pip install 'langchain-calibrate[local]'` (or `pip install langchain-community "
            "faiss-cpu`)."
        )
        raise ImportError(msg) from exc
    return FAISS, DistanceStrategy


def _dedupe(
    passages: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Unique passages in first-seen order, each with the row ids of every occurrence."""
    if metadatas is not None and len(metadatas) != len(passages):
        msg = f"Got {len(metadatas)} metadatas for {len(passages)} passages; pass one per passage."
        raise ValueError(msg)
    slot: dict[str, int] = {}
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    for i, text in enumerate(passages):
        if not isinstance(text, str):
            msg = f"passages[{i}] is {type(text).__name__}, expected str."
            raise TypeError(msg)
        given = metadatas[i] if metadatas is not None else {}
        row = given.get("row", i)
        j = slot.get(text)
        if j is None:
            slot[text] = len(texts)
            texts.append(text)
            meta = dict(given)
            meta.pop("row", None)
            meta.update(passage_id=len(metas), rows=[row])
            metas.append(meta)
        else:
            metas[j]["rows"].append(row)
    return texts, metas


def _passages_sha256(texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8")).hexdigest()


def _normalize_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # A zero vector has no direction; leave it at zero (cosine 0 with everything).
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _embed(
    texts: Sequence[str], embeddings: Embeddings, *, batch_size: int, progress: bool
) -> np.ndarray:
    from tqdm.auto import tqdm

    chunks: list[np.ndarray] = []
    with tqdm(
        total=len(texts), desc="Embedding passages", unit="passage", file=sys.stderr,
        disable=not progress,
    ) as bar:  # fmt: skip
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            vectors = np.asarray(embeddings.embed_documents(batch), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(batch):
                msg = (
                    f"{embeddings_identity(embeddings)}.embed_documents returned shape "
                    f"{vectors.shape} for {len(batch)} texts; expected ({len(batch)}, dim)."
                )
                raise ValueError(msg)
            chunks.append(vectors)
            bar.update(len(batch))
    matrix = np.concatenate(chunks, axis=0)
    if not np.isfinite(matrix).all():
        msg = f"{embeddings_identity(embeddings)} produced non-finite embedding values."
        raise ValueError(msg)
    return _normalize_rows(matrix)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_cached(directory: Path, expect: Mapping[str, Any]) -> np.ndarray | None:
    """The cached matrix if the manifest matches ``expect`` and the file is intact, else None."""
    try:
        manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in expect.items()):
            return None
        path = directory / _VECTORS
        if manifest.get("vectors_sha256") != _file_sha256(path):
            return None
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if (
        matrix.dtype != np.float32
        or matrix.ndim != 2
        or matrix.shape != (expect["n_passages"], manifest.get("dim"))
    ):
        return None
    return matrix


def _replace_atomic(path: Path, write: Any) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_cache(directory: Path, matrix: np.ndarray, expect: Mapping[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    vectors = directory / _VECTORS
    _replace_atomic(vectors, lambda fh: np.save(fh, matrix, allow_pickle=False))
    # The manifest goes last and pins the matrix's hash: a reader never trusts a matrix that a
    # concurrent or interrupted writer left behind.
    manifest = {**expect, "dim": int(matrix.shape[1]), "vectors_sha256": _file_sha256(vectors)}
    payload = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    _replace_atomic(directory / _MANIFEST, lambda fh: fh.write(payload))


def build_passage_index(
    passages: Sequence[str],
    embeddings: Embeddings,
    *,
    cache_key: str | None,
    metadatas: Sequence[Mapping[str, Any]] | None = None,
    progress: bool | None = None,
    batch_size: int = 128,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FAISS:
    """Embed passages (once, cached) and return a FAISS store whose raw scores are cosines.

    Identical passages are stored once. Each stored document's metadata holds ``rows`` (the row
    ids of every input that had this exact text, in input order), ``passage_id`` (its position
    among the unique passages, also in its docstore id ``passage-<passage_id>``) and the keys of
    the first occurrence's metadata. A row id is ``metadatas[i]["row"]`` when given, else ``i``
    (the input position).

    Vectors are L2-normalised and the store uses ``DistanceStrategy.MAX_INNER_PRODUCT`` with
    ``normalize_L2=True`` (so queries are normalised too, whatever the embeddings class does):
    ``similarity_search_with_score`` returns cosine similarities, higher = more similar, and
    ``similarity_search_with_relevance_scores`` returns them clipped to [0, 1].

    With a ``cache_key`` the matrix is stored as ``<cache>/index/<cache_key>/embeddings.npy``
    plus ``manifest.json``, valid only for the same unique passages (sha256) and the same
    :func:`embeddings_identity`; a stale or damaged cache is rebuilt.

    Args:
        passages: Passage texts (duplicates allowed).
        embeddings: Embedding model; also used by the store to embed queries.
        cache_key: Cache directory name, or ``None`` to always embed and never write a cache.
        metadatas: Optional metadata per input passage (same length as ``passages``).
        progress: Show a tqdm bar on stderr while embedding; ``None`` = only if stderr is a TTY.
        batch_size: Passages per ``embed_documents`` call.
        cache_dir: Cache root; defaults to ``$LANGCHAIN_CALIBRATE_CACHE`` or
            ``~/.cache/langchain-calibrate``.

    Returns:
        A ``langchain_community.vectorstores.FAISS`` store with one document per unique passage.

    Raises:
        ValueError: No passages, mismatched ``metadatas``, a bad ``cache_key`` or
            ``batch_size``, or embeddings of the wrong shape.
        ImportError: langchain-community / faiss-cpu is missing.

    Example:
        >>> from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings
        >>> rows = load_halueval_qa()  # doctest: +SKIP
        >>> store = build_passage_index(  # doctest: +SKIP
        ...     [r.knowledge for r in rows], LocalMiniLMEmbeddings(), cache_key="halueval-dev",
        ...     metadatas=[{"row": r.row} for r in rows])
        >>> doc, cosine = store.similarity_search_with_score(rows[1].question, k=1)[0]  # doctest: +SKIP
    """  # noqa: E501
    if len(passages) == 0:
        msg = "build_passage_index needs at least one passage."
        raise ValueError(msg)
    if batch_size < 1:
        msg = f"batch_size must be >= 1, got {batch_size}."
        raise ValueError(msg)
    faiss_cls, distance = _import_faiss()
    directory = index_cache_dir(cache_key, cache_dir) if cache_key is not None else None
    texts, metas = _dedupe(passages, metadatas)
    expect = {
        "format": _CACHE_FORMAT,
        "model": embeddings_identity(embeddings),
        "passages_sha256": _passages_sha256(texts),
        "n_passages": len(texts),
    }
    matrix = _read_cached(directory, expect) if directory is not None else None
    if matrix is None:
        show = sys.stderr.isatty() if progress is None else progress
        matrix = _embed(texts, embeddings, batch_size=batch_size, progress=show)
        if directory is not None:
            _write_cache(directory, matrix, expect)
    with warnings.catch_warnings():
        # FAISS warns that normalize_L2 "is not applicable" to inner product, but it does apply:
        # it normalises query vectors, which is what makes raw scores cosines.
        warnings.filterwarnings("ignore", message="Normalizing L2 is not applicable")
        return faiss_cls.from_embeddings(
            text_embeddings=list(zip(texts, matrix.tolist(), strict=True)),
            embedding=embeddings,
            metadatas=metas,
            ids=[f"passage-{m['passage_id']}" for m in metas],
            distance_strategy=distance.MAX_INNER_PRODUCT,
            normalize_L2=True,
            relevance_score_fn=cosine_relevance,
        )
