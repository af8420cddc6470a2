"""Passage index: dedupe, cosine scores, and the on-disk embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from langchain_calibrate.datasets.index import (
    build_passage_index,
    embeddings_identity,
    index_cache_dir,
)

LETTERS = "abcdefgh"


def letter_counts(text: str) -> np.ndarray:
    """Reference vector, computed here independently: counts of a..h plus a constant 1."""
    return np.array([text.count(ch) for ch in LETTERS] + [1.0], dtype=np.float64)


class CountingEmbeddings(Embeddings):
    """Deterministic, deliberately *unnormalised* embeddings that count their calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0

    def _vec(self, text: str) -> list[float]:
        return [float(text.count(ch)) for ch in LETTERS] + [1.0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts_embedded += len(texts)
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


class OtherModelEmbeddings(CountingEmbeddings):
    model_name = "other-model"


PASSAGES = ["abba cab", "hedge", "abba cab", "faded bead", "cabbage", "hedge"]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_dedupe_keeps_all_row_ids(cache: Path) -> None:
    store = build_passage_index(PASSAGES, CountingEmbeddings(), cache_key=None, cache_dir=cache)
    assert store.index.ntotal == 4
    docs = {d.page_content: d for d in store.docstore._dict.values()}  # type: ignore[attr-defined]
    assert docs["abba cab"].metadata == {"passage_id": 0, "rows": [0, 2]}
    assert docs["hedge"].metadata == {"passage_id": 1, "rows": [1, 5]}
    assert docs["cabbage"].metadata == {"passage_id": 3, "rows": [4]}
    assert not cache.exists()  # cache_key=None writes nothing


def test_row_ids_and_metadata_from_metadatas(cache: Path) -> None:
    metas = [{"row": 100 + i, "source": f"s{i}"} for i in range(len(PASSAGES))]
    store = build_passage_index(
        PASSAGES, CountingEmbeddings(), cache_key=None, metadatas=metas, cache_dir=cache
    )
    doc = store.docstore.search("passage-0")
    assert doc.metadata == {"source": "s0", "passage_id": 0, "rows": [100, 102]}  # first wins


def test_raw_scores_are_numpy_cosines(cache: Path) -> None:
    store = build_passage_index(PASSAGES, CountingEmbeddings(), cache_key=None, cache_dir=cache)
    unique = ["abba cab", "hedge", "faded bead", "cabbage"]
    matrix = np.stack([letter_counts(p) for p in unique])
    for query in ["bad cab", "egg", "head"]:
        q = letter_counts(query)
        cosines = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
        hits = store.similarity_search_with_score(query, k=4)
        got = {doc.page_content: float(score) for doc, score in hits}
        assert got == pytest.approx(dict(zip(unique, cosines.tolist(), strict=True)), abs=1e-6)
        assert [d.page_content for d, _ in hits] == [unique[i] for i in np.argsort(-cosines)]
        relevance = store.similarity_search_with_relevance_scores(query, k=1)
        assert relevance[0][0].page_content == unique[int(np.argmax(cosines))]
        assert relevance[0][1] == pytest.approx((1 + float(cosines.max())) / 2, abs=1e-6)


def test_stored_vectors_are_unit_norm(cache: Path) -> None:
    store = build_passage_index(PASSAGES, CountingEmbeddings(), cache_key=None, cache_dir=cache)
    stored = store.index.reconstruct_n(0, store.index.ntotal)
    assert np.linalg.norm(stored, axis=1) == pytest.approx(np.ones(4), abs=1e-6)


def test_second_build_reads_the_cache(cache: Path) -> None:
    first_emb = CountingEmbeddings()
    first = build_passage_index(PASSAGES, first_emb, cache_key="tiny", cache_dir=cache)
    assert first_emb.texts_embedded == 4  # duplicates embedded once

    directory = index_cache_dir("tiny", cache)
    assert sorted(p.name for p in directory.iterdir()) == ["embeddings.npy", "manifest.json"]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["n_passages"] == 4
    assert manifest["dim"] == 9
    assert manifest["model"] == embeddings_identity(first_emb)

    second_emb = CountingEmbeddings()
    second = build_passage_index(PASSAGES, second_emb, cache_key="tiny", cache_dir=cache)
    assert second_emb.calls == 0
    np.testing.assert_array_equal(first.index.reconstruct_n(0, 4), second.index.reconstruct_n(0, 4))


def test_changed_passages_invalidate_the_cache(cache: Path) -> None:
    build_passage_index(PASSAGES, CountingEmbeddings(), cache_key="tiny", cache_dir=cache)
    changed = [*PASSAGES[:-1], "a brand new passage"]
    emb = CountingEmbeddings()
    store = build_passage_index(changed, emb, cache_key="tiny", cache_dir=cache)
    assert emb.texts_embedded == 5
    assert store.index.ntotal == 5
    # and the rewritten cache now serves the new list
    again = CountingEmbeddings()
    build_passage_index(changed, again, cache_key="tiny", cache_dir=cache)
    assert again.calls == 0


def test_changed_model_invalidates_the_cache(cache: Path) -> None:
    build_passage_index(PASSAGES, CountingEmbeddings(), cache_key="tiny", cache_dir=cache)
    other = OtherModelEmbeddings()
    build_passage_index(PASSAGES, other, cache_key="tiny", cache_dir=cache)
    assert other.calls > 0
    assert embeddings_identity(other).endswith(":other-model")


def test_damaged_cache_is_rebuilt(cache: Path) -> None:
    build_passage_index(PASSAGES, CountingEmbeddings(), cache_key="tiny", cache_dir=cache)
    npy = index_cache_dir("tiny", cache) / "embeddings.npy"
    npy.write_bytes(npy.read_bytes()[:-8] + b"\x00" * 8)
    emb = CountingEmbeddings()
    build_passage_index(PASSAGES, emb, cache_key="tiny", cache_dir=cache)
    assert emb.calls > 0


def test_batches_and_progress_bar(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    emb = CountingEmbeddings()
    build_passage_index(PASSAGES, emb, cache_key=None, batch_size=3, progress=True, cache_dir=cache)
    assert emb.calls == 2  # 4 unique passages in batches of 3
    assert "Embedding passages" in capsys.readouterr().err
    build_passage_index(PASSAGES, emb, cache_key=None, progress=False, cache_dir=cache)
    assert "Embedding passages" not in capsys.readouterr().err


def test_cache_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LANGCHAIN_CALIBRATE_CACHE", str(tmp_path / "env"))
    build_passage_index(PASSAGES, CountingEmbeddings(), cache_key="k")
    assert (tmp_path / "env" / "index" / "k" / "manifest.json").is_file()


@pytest.mark.parametrize("key", ["../escape", "a/b", "", ".hidden"])
def test_unsafe_cache_key_rejected(key: str, cache: Path) -> None:
    with pytest.raises(ValueError, match="cache_key"):
        build_passage_index(PASSAGES, CountingEmbeddings(), cache_key=key, cache_dir=cache)


def test_input_errors(cache: Path) -> None:
    with pytest.raises(ValueError, match="at least one passage"):
        build_passage_index([], CountingEmbeddings(), cache_key=None)
    with pytest.raises(ValueError, match="one per passage"):
        build_passage_index(PASSAGES, CountingEmbeddings(), cache_key=None, metadatas=[{}])
