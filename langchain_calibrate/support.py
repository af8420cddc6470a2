"""How much of an answer the retrieved context backs up: lexical and embedding-based support.

Both measures return a float in ``[0, 1]`` or ``None``. ``None`` means "cannot judge" (no answer
content, or no context): no evidence is not the same as evidence of zero support, and the
calibrators treat ``None`` as a missing feature.

Contexts are treated purely as text. Nothing here parses or obeys them, so a context saying
"confidence: 1.0" or "ignore previous instructions" counts only through its word or embedding
overlap with the answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = [
    "STOPWORDS",
    "answer_position",
    "asemantic_support",
    "chunk_text",
    "content_words",
    "first_run_position",
    "lexical_support",
    "semantic_support",
    "split_sentences",
    "support_share",
]

# Compact English function-word list. Negations ("not", "no", "never", "nor", "n't" forms) are
# deliberately absent: "Paris is not in France" must not get full support from "Paris is in
# France".
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just let me more most my myself of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up upon very was we were what when
    where which while who whom whose why will with would you your yours yourself yourselves
    i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've we'd we'll they're
    they've they'd they'll that's there's here's what's who's let's
    """.split()
)

# Numbers keep internal separators ("3.14", "1,000"); words keep internal apostrophes
# ("o'clock", "don't"). Letters/digits are Unicode-aware ([^\W_] = alphanumeric).
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

# Candidate sentence ends: terminal punctuation, optional closing quotes/brackets, whitespace.
_SENT_END_RE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+")
_PARAGRAPH_RE = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)])\s)")
_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_ABBREVIATIONS: frozenset[str] = frozenset(
    """
    mr mrs ms dr prof sr jr st mt vs etc e.g i.e cf al approx fig no vol ed eds inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m ph.d
    """.split()
)


def content_words(text: str) -> list[str]:
    """Split ``text`` into lowercase content words, in order, with repeats.

    Text is NFKC-normalised and case-folded; punctuation is dropped; a trailing possessive
    ``'s`` is removed ("France's" -> "france"); numbers are kept; words in :data:`STOPWORDS` are
    dropped. There is no stemming ("capital" and "capitals" differ).

    Args:
        text: Any text.

    Returns:
        The content words.

    Example:
        >>> content_words("France's capital is Paris (pop. 2,100,000).")
        ['france', 'capital', 'paris', 'pop', '2,100,000']
    """
    normalized = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    words = []
    for token in _TOKEN_RE.findall(normalized):
        if token in STOPWORDS:
            continue
        if token.endswith("'s"):
            token = token[:-2]
        if token and token not in STOPWORDS:
            words.append(token)
    return words


def _check_answer(answer: Any) -> str:
    if not isinstance(answer, str):
        msg = f"answer must be a str, got {type(answer).__name__}."
        raise TypeError(msg)
    return answer


def _check_contexts(contexts: Sequence[str]) -> list[str]:
    if isinstance(contexts, str):
        # A bare string is a Sequence[str] of characters; almost certainly a mistake.
        msg = "contexts must be a sequence of strings, not a single string; wrap it: [context]."
        raise TypeError(msg)
    texts = list(contexts)
    for text in texts:
        if not isinstance(text, str):
            msg = (
                f"contexts must be strings, found a {type(text).__name__}; pass the documents' "
                "page_content, e.g. [d.page_content for d in docs]."
            )
            raise TypeError(msg)
    return [c for c in texts if c.strip()]


def lexical_support(answer: str, contexts: Sequence[str]) -> float | None:
    """Share of the answer's distinct content words that occur anywhere in the contexts.

    Words are compared as **sets**: repeating a word in the answer neither raises nor lowers
    support, so padding an answer with one supported word cannot inflate the score.

    Args:
        answer: The generated answer.
        contexts: Retrieved passages (e.g. ``[d.page_content for d in docs]``).

    Returns:
        A value in ``[0, 1]``, or ``None`` ("cannot judge") when the answer has no content words
        or there is no non-blank context.

    Raises:
        TypeError: If ``answer`` is not a str, or ``contexts`` is a single string or holds
            anything but strings.

    Example:
        >>> lexical_support("Paris is the capital of Germany", ["France's capital is Paris."])
        0.6666666666666666
    """
    texts = _check_contexts(contexts)
    if not texts:
        return None
    return support_share(content_words(_check_answer(answer)), [content_words(t) for t in texts])


def support_share(
    answer_words: Sequence[str], context_words: Sequence[Sequence[str]]
) -> float | None:
    """:func:`lexical_support` on words already split by :func:`content_words`.

    For callers that split the answer and contexts once for several signals.
    """
    wanted = set(answer_words)
    if not wanted:
        return None
    found: set[str] = set()
    for words in context_words:
        found.update(words)
    return len(wanted & found) / len(wanted)


def answer_position(answer: str, contexts: Sequence[str]) -> float | None:
    """Where the answer first occurs, word for word, in the contexts joined in order.

    The answer's content words are looked for as one contiguous run in the content words of the
    contexts (in retrieval order); the result is the run's start offset over the context's
    length, so 0.0 is the very start and values near 1.0 the end. Which end is the trustworthy
    one depends on the corpus and the chain, so a calibrator learns its direction from labels:
    in multi-hop passages the bridge entity tends to come first and the asked-for fact later,
    and with several documents a late position means a lower-ranked document.

    Args:
        answer: The generated answer.
        contexts: Retrieved passages, in the order the model saw them.

    Returns:
        A value in ``[0, 1)``, or ``None`` when the answer has no content words, there is no
        non-blank context, or the answer's words do not occur as one run in it.

    Raises:
        TypeError: If ``answer`` is not a str, or ``contexts`` is a single string or holds
            anything but strings.

    Example:
        >>> answer_position("Gustave Eiffel", ["The tower was designed by Gustave Eiffel."])
        0.5
    """
    texts = _check_contexts(contexts)
    return first_run_position(
        content_words(_check_answer(answer)), [content_words(t) for t in texts]
    )


def first_run_position(
    answer_words: Sequence[str], context_words: Sequence[Sequence[str]]
) -> float | None:
    """:func:`answer_position` on words already split by :func:`content_words`."""
    wanted = list(answer_words)
    words = [w for chunk in context_words for w in chunk]
    if not wanted or not words:
        return None
    n = len(wanted)
    first = wanted[0]
    for i, word in enumerate(words[: len(words) - n + 1]):
        if word == first and words[i : i + n] == wanted:
            return i / len(words)
    return None


def _is_false_end(text: str, start: int, next_char: str) -> bool:
    """Whether the punctuation ending ``text[:start]`` is not a sentence end."""
    if next_char.islower():  # "approx. five", "e.g. the"
        return True
    words = text[:start].split()
    if not words:
        return True
    last = words[-1].casefold().strip("\"'([")
    last = last.rstrip(".")
    if last in _ABBREVIATIONS:
        return True
    # Initials ("J. K. Rowling") and dotted acronyms ("U.S.A."); not single digits ("step 3.").
    return (len(last) == 1 and last.isalpha()) or bool(_ACRONYM_RE.fullmatch(last))


def split_sentences(text: str) -> list[str]:
    """Split text into sentences with a small regex heuristic.

    Splits at ``. ! ? …`` followed by whitespace, unless the next character is lowercase or the
    preceding word is a known abbreviation (Dr., e.g., etc., ...), an initial ("J.") or a dotted
    acronym ("U.S."), so "Plan A. Next" stays one sentence. Blank lines and list items (``-``,
    ``*``, ``•``, ``1.`` at line start) also split; other single newlines are treated as spaces.

    Args:
        text: Any text.

    Returns:
        Non-empty, stripped sentences in order.

    Example:
        >>> split_sentences("Dr. Smith lives in the U.S. now. He moved in 2020! Why?")
        ['Dr. Smith lives in the U.S. now.', 'He moved in 2020!', 'Why?']
    """
    sentences: list[str] = []
    for block in _PARAGRAPH_RE.split(text):
        block = " ".join(block.split())
        start = 0
        for match in _SENT_END_RE.finditer(block):
            end = match.end()
            next_char = block[end] if end < len(block) else ""
            if _is_false_end(block, match.start(), next_char):
                continue
            sentences.append(block[start:end].strip())
            start = end
        sentences.append(block[start:].strip())
    return [s for s in sentences if s]


def chunk_text(text: str, max_words: int = 60) -> list[str]:
    """Pack sentences greedily into chunks of at most ``max_words`` whitespace-separated words.

    A sentence longer than ``max_words`` is cut into consecutive ``max_words``-word pieces.

    Args:
        text: A context passage.
        max_words: Maximum words per chunk.

    Returns:
        Chunks in order; empty for blank text.

    Raises:
        ValueError: If ``max_words < 1``.

    Example:
        >>> chunk_text("One two three. Four five. Six.", max_words=3)
        ['One two three.', 'Four five. Six.']
    """
    if max_words < 1:
        msg = f"max_words must be >= 1, got {max_words}."
        raise ValueError(msg)
    chunks: list[str] = []
    current: list[str] = []
    for sentence in split_sentences(text):
        words = sentence.split()
        if current and len(current) + len(words) > max_words:
            chunks.append(" ".join(current))
            current = []
        while len(words) > max_words:
            chunks.append(" ".join(words[:max_words]))
            words = words[max_words:]
        current.extend(words)
        if len(current) == max_words:
            chunks.append(" ".join(current))
            current = []
    if current:
        chunks.append(" ".join(current))
    return chunks


def _prepare(answer: str, contexts: Sequence[str], max_words: int) -> tuple[list[str], list[str]]:
    sentences = split_sentences(_check_answer(answer))
    chunks = [c for text in _check_contexts(contexts) for c in chunk_text(text, max_words)]
    return sentences, chunks


def _require_method(embeddings: Any, name: str) -> None:
    if not callable(getattr(embeddings, name, None)):
        msg = (
            f"embeddings must be a langchain_core.embeddings.Embeddings (with {name}); got "
            f"{type(embeddings).__name__}."
        )
        raise TypeError(msg)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero vector has no direction: leave it zero so its cosine with everything is 0.
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _score(vectors: Any, n_sentences: int, n_texts: int) -> float:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != n_texts:
        msg = (
            f"embed_documents returned shape {matrix.shape} for {n_texts} texts; expected "
            f"({n_texts}, dim). Check the Embeddings implementation."
        )
        raise ValueError(msg)
    if not np.isfinite(matrix).all():
        msg = "embed_documents returned NaN or infinite values; check the embedding model."
        raise ValueError(msg)
    matrix = np.ascontiguousarray(_unit_rows(matrix))
    index = faiss.IndexFlatIP(matrix.shape[1])
    index.add(matrix[n_sentences:])
    best, _ = index.search(matrix[:n_sentences], 1)
    # Clip per sentence: a negative cosine means "unsupported" (0) and must not cancel out a
    # well-supported sentence in the mean.
    return float(np.clip(best[:, 0], 0.0, 1.0).mean())


def semantic_support(
    answer: str, contexts: Sequence[str], embeddings: Embeddings, *, max_words: int = 60
) -> float | None:
    """Mean over answer sentences of the best cosine with any context chunk.

    Answer sentences (:func:`split_sentences`) and context chunks (:func:`chunk_text`) are
    embedded in one ``embed_documents`` call, L2-normalised, and searched with a
    ``faiss.IndexFlatIP``. Each sentence's best cosine is clipped to ``[0, 1]`` before
    averaging.

    Args:
        answer: The generated answer.
        contexts: Retrieved passages.
        embeddings: Any LangChain ``Embeddings``.
        max_words: Words per context chunk.

    Returns:
        A value in ``[0, 1]``, or ``None`` when the answer has no sentences or there is no
        non-blank context.

    Raises:
        TypeError: If ``embeddings`` has no ``embed_documents``, ``answer`` is not a str, or
            ``contexts`` is a string or holds anything but strings.
        ValueError: If the embeddings have the wrong shape or non-finite values.

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> emb = DeterministicFakeEmbedding(size=16)
        >>> round(semantic_support("Paris is in France.", ["Paris is in France."], emb), 6)
        1.0
    """
    _require_method(embeddings, "embed_documents")
    sentences, chunks = _prepare(answer, contexts, max_words)
    if not sentences or not chunks:
        return None
    texts = sentences + chunks
    return _score(embeddings.embed_documents(texts), len(sentences), len(texts))


async def asemantic_support(
    answer: str, contexts: Sequence[str], embeddings: Embeddings, *, max_words: int = 60
) -> float | None:
    """Async :func:`semantic_support`, embedding with ``aembed_documents``.

    Args:
        answer: The generated answer.
        contexts: Retrieved passages.
        embeddings: Any LangChain ``Embeddings``.
        max_words: Words per context chunk.

    Returns:
        A value in ``[0, 1]``, or ``None`` when it cannot be judged.

    Raises:
        TypeError: If ``embeddings`` has no ``aembed_documents``, ``answer`` is not a str, or
            ``contexts`` is a string or holds anything but strings.
        ValueError: If the embeddings have the wrong shape or non-finite values.

    Example:
        >>> import asyncio
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> emb = DeterministicFakeEmbedding(size=16)
        >>> asyncio.run(asemantic_support("Hi.", [], emb)) is None
        True
    """
    _require_method(embeddings, "aembed_documents")
    sentences, chunks = _prepare(answer, contexts, max_words)
    if not sentences or not chunks:
        return None
    texts = sentences + chunks
    return _score(await embeddings.aembed_documents(texts), len(sentences), len(texts))
