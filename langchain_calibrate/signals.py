"""Confidence and evidence signals computed from what a run captured.

Token signals come from logprobs; evidence signals come from the retrieved documents and how much
of the answer they back up. Flags mark the situations a number alone would hide. Low evidence and
low confidence are different things, so both are reported and neither stands in for the other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.logprobs import TokenLogprob, _clean_logprob
from langchain_calibrate.opinions.wording import wording_assertiveness
from langchain_calibrate.retrievers import RELEVANCE_KEY

if TYPE_CHECKING:
    from langchain_calibrate.opinions.judges import PTrueResult
    from langchain_calibrate.opinions.stated import StatedConfidence
from langchain_calibrate.support import (
    asemantic_support,
    content_words,
    first_run_position,
    semantic_support,
    support_share,
)

__all__ = [
    "FEATURE_NAMES",
    "FLAT_DISTRIBUTION",
    "LOW_EVIDENCE",
    "NO_LOGPROBS",
    "SignalConfig",
    "Signals",
    "acompute_signals",
    "compute_flags",
    "compute_signals",
    "token_signals",
]

NO_LOGPROBS = "no_logprobs"
"""No token logprobs reached the handler: there is no logprob evidence, which is not confidence."""
LOW_EVIDENCE = "low_evidence"
"""The retrieved context backs the answer weakly (or nothing was retrieved)."""
FLAT_DISTRIBUTION = "flat_distribution"
"""The answer is worded without hedging, yet the model's token distribution was flat."""

FEATURE_NAMES: tuple[str, ...] = (
    "mean_logprob",
    "min_logprob",
    "sequence_prob",
    "mean_entropy",
    "mean_margin",
    "answer_length",
    "max_relevance",
    "mean_relevance",
    "lexical_support",
    "semantic_support",
    "n_documents",
    "question_coverage",
    "answer_in_question",
    "binary_answer",
    "assertiveness",
    "answer_position",
)
"""The signals every run can have (no extra model call); the default calibrator features."""

OPINION_FEATURE_NAMES: tuple[str, ...] = ("stated_confidence", "p_true")
"""Signals from the opt-in second opinions (an extra model call each)."""

SIGNAL_NAMES: tuple[str, ...] = FEATURE_NAMES + OPINION_FEATURE_NAMES
"""Every signal a calibrator may use."""

VERBAL_LOGPROB_DISAGREEMENT = "verbal_logprob_disagreement"
"""The model said it was sure (>= 0.9) while its own logprobs were low or flat: unreliable."""
ASSERTIVE_WITHOUT_EVIDENCE = "assertive_without_evidence"
"""The answer is stated flatly (no hedge) while the retrieved context backs it weakly:
unreliable."""
UNRELIABLE_FLAGS: tuple[str, ...] = (VERBAL_LOGPROB_DISAGREEMENT, ASSERTIVE_WITHOUT_EVIDENCE)
"""Flags that mark an answer unreliable whatever its confidence; routing acts on them by
default."""

_BINARY_ANSWER = re.compile(r"^\W*(yes|no|s[ií])\b", re.IGNORECASE)

# Hedges make a flat distribution unsurprising; only unhedged wording over a flat distribution is
# flagged. A small list is enough here: the flag is a hint, not a classifier.
_HEDGES = re.compile(
    r"\b(maybe|perhaps|probably|possibly|likely|unlikely|i think|i believe|i guess|not sure|"
    r"unsure|might|may be|could be|seems?|appears?|uncertain|i don'?t know|"
    r"tal vez|quiz[aá]s?|probablemente|posiblemente|creo que|no estoy segur[oa]|no s[eé])\b",
    re.IGNORECASE,
)


class SignalConfig(BaseModel):
    """Thresholds for the flags. The defaults suit cosine-based relevance in [0, 1]."""

    model_config = ConfigDict(frozen=True)

    low_relevance: float = Field(0.75, ge=0.0, le=1.0)
    """``low_evidence`` when the best document's relevance is below this (0.75 is a cosine of
    0.5 under ``(1 + cos) / 2``; with all-MiniLM-L6-v2 on HaluEval, below it the question's own
    passage was the top hit 43% of the time, above it 93%)."""
    low_support: float = Field(0.5, ge=0.0, le=1.0)
    """``low_evidence`` when the answer's best support (lexical or semantic) is below this."""
    flat_entropy: float = Field(1.0, ge=0.0)
    """``flat_distribution`` when the mean top-k entropy (nats) is at least this."""
    flat_sequence_prob: float = Field(0.3, ge=0.0, le=1.0)
    """Without alternatives, ``flat_distribution`` when the sequence probability is at most this."""


class Signals(BaseModel):
    """Everything the calibrators may use. ``None`` means "not available", never zero.

    Token signals need logprobs; evidence signals need retrieved documents; ``semantic_support``
    needs an embeddings object.
    """

    model_config = ConfigDict(frozen=True)

    mean_logprob: float | None = None
    """Mean token logprob (nats)."""
    min_logprob: float | None = None
    """Logprob of the least likely generated token."""
    sequence_prob: float | None = None
    """Length-normalized sequence probability, ``exp(mean_logprob)``."""
    mean_entropy: float | None = None
    """Mean entropy (nats) over the top alternatives, the unlisted mass as one extra outcome."""
    mean_margin: float | None = None
    """Mean probability gap between the top two alternatives."""
    answer_length: float | None = None
    """Words in the answer."""
    max_relevance: float | None = None
    """Best retrieval relevance in [0, 1]."""
    mean_relevance: float | None = None
    """Mean retrieval relevance in [0, 1]."""
    lexical_support: float | None = None
    """Share of the answer's content words found in the context."""
    semantic_support: float | None = None
    """Mean over answer sentences of the best cosine against a context chunk."""
    n_documents: float | None = None
    """Documents retrieved in the run."""
    question_coverage: float | None = None
    """Share of the question's content words found in the retrieved context: a cheap sign of
    whether the context holds what the question asks about (a multi-hop question whose bridge is
    missing scores low)."""
    answer_in_question: float | None = None
    """Share of the answer's content words that the question already contains (an answer that
    echoes the question is often a non-answer)."""
    binary_answer: float | None = None
    """1.0 when the answer starts with yes/no (sí/no), else 0.0: a two-way answer's token
    probability means something different from a named entity's."""
    assertiveness: float | None = None
    """Wording in [-1, 1]: +1 only absolute markers ("definitely"), -1 only hedges ("probably",
    "tal vez"), 0 neither or both (``opinions.wording_assertiveness``)."""
    answer_position: float | None = None
    """Where the answer first occurs word for word in the retrieved context, in [0, 1) from its
    start (``support.answer_position``); ``None`` when it does not occur as one run."""
    stated_confidence: float | None = None
    """What the model said its confidence was, in [0, 1] (opt-in verbal step)."""
    p_true: float | None = None
    """P("yes") when the model is asked whether its answer is true (opt-in self-check)."""
    n_tokens: int = 0
    """Tokens with logprobs (not a calibration feature: it depends on the tokenizer)."""

    def to_features(self, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
        """The named signals as floats, ``NaN`` where a signal is unavailable."""
        values = []
        for name in names:
            if name not in SIGNAL_NAMES:
                msg = f"Unknown signal {name!r}; the signals are {', '.join(SIGNAL_NAMES)}."
                raise KeyError(msg)
            value = getattr(self, name)
            values.append(math.nan if value is None else float(value))
        return np.asarray(values, dtype=float)


# normalize_logprobs already cleans and clamps logprobs; a hand-built TokenLogprob may not be,
# so _clean_logprob (NaN and non-numbers -> None, the rest clamped to [LOGPROB_FLOOR, 0]) is
# applied again to every value read here.


def _alternatives(token: TokenLogprob) -> list[float]:
    """The usable alternative logprobs at one position, most likely first."""
    values = (_clean_logprob(t.logprob) for t in token.top_logprobs)
    return sorted((v for v in values if v is not None), reverse=True)


def _entropy(alternatives: Sequence[float]) -> float | None:
    if not alternatives:
        return None
    probs = [math.exp(lp) for lp in alternatives]
    rest = max(0.0, 1.0 - sum(probs))
    # -p ln p >= 0 for every p in (0, 1], so the entropy is never negative.
    return -sum(p * math.log(p) for p in [*probs, rest] if p > 0.0)


def _margin(alternatives: Sequence[float]) -> float | None:
    if len(alternatives) < 2:
        return None
    return math.exp(alternatives[0]) - math.exp(alternatives[1])


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def _check_tokens(tokens: Any) -> Sequence[TokenLogprob]:
    if tokens is None:
        return ()
    if isinstance(tokens, str | bytes) or not isinstance(tokens, Sequence):
        msg = (
            f"tokens must be a list of TokenLogprob (from normalize_logprobs) or None, got "
            f"{type(tokens).__name__}."
        )
        raise TypeError(msg)
    for token in tokens:
        if not isinstance(token, TokenLogprob):
            msg = (
                f"tokens must hold TokenLogprob records, found a {type(token).__name__}; turn a "
                "provider payload into records with normalize_logprobs(payload)."
            )
            raise TypeError(msg)
    return tokens


def token_signals(tokens: Sequence[TokenLogprob] | None) -> dict[str, Any]:
    """Signals from token logprobs alone; empty when there are none.

    Logprobs are clamped to ``[LOGPROB_FLOOR, 0]`` and a token whose logprob is NaN (or not a
    number) is skipped, so every value returned is finite: ``mean_logprob`` and ``min_logprob``
    in ``[LOGPROB_FLOOR, 0]``, ``sequence_prob`` and ``mean_margin`` in ``[0, 1]``,
    ``mean_entropy >= 0``.

    Raises:
        TypeError: If ``tokens`` is not a sequence of ``TokenLogprob``.
    """
    checked = _check_tokens(tokens)
    usable = [(t, lp) for t in checked if (lp := _clean_logprob(t.logprob)) is not None]
    if not usable:
        return {}
    logprobs = [lp for _, lp in usable]
    low, high = min(logprobs), max(logprobs)
    # fsum, and the clamp to [min, max], keep rounding from pushing the mean out of range.
    mean_lp = min(high, max(low, math.fsum(logprobs) / len(logprobs)))
    alternatives = [_alternatives(t) for t, _ in usable]
    return {
        "mean_logprob": mean_lp,
        "min_logprob": low,
        "sequence_prob": math.exp(mean_lp),
        "mean_entropy": _mean([_entropy(a) for a in alternatives]),
        "mean_margin": _mean([_margin(a) for a in alternatives]),
        "n_tokens": len(usable),
    }


def _check_inputs(answer: Any, documents: Any) -> Sequence[Document]:
    if not isinstance(answer, str):
        msg = (
            f"answer must be the answer text (a str), got {type(answer).__name__}; for a chat "
            "message pass message.text."
        )
        raise TypeError(msg)
    if documents is None:
        return ()
    if isinstance(documents, str | bytes | Document) or not isinstance(documents, Sequence):
        msg = f"documents must be a list of Document, got {type(documents).__name__}."
        raise TypeError(msg)
    for doc in documents:
        if not isinstance(doc, Document):
            msg = f"documents must hold langchain Document objects, found a {type(doc).__name__}."
            raise TypeError(msg)
    return documents


def _cheap_signals(
    answer: Any, tokens: Sequence[TokenLogprob] | None, documents: Any, question: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Every signal but semantic support, and the non-empty contexts it would need."""
    documents = _check_inputs(answer, documents)
    if question is not None and not isinstance(question, str):
        msg = f"question must be a str or None, got {type(question).__name__}."
        raise TypeError(msg)
    contexts = [d.page_content for d in documents if d.page_content]
    values = {
        **token_signals(tokens),
        **_evidence_signals(answer, documents, contexts),
        **_word_signals(question, answer, contexts),
        "binary_answer": 1.0 if _BINARY_ANSWER.match(answer) else 0.0,
        "assertiveness": wording_assertiveness(answer).score,
    }
    return values, contexts


def _word_signals(question: str | None, answer: str, contexts: list[str]) -> dict[str, Any]:
    """The content-word signals; answer, contexts and question are each split once."""
    said = content_words(answer)
    texts = [c for c in contexts if c.strip()]
    split = [content_words(c) for c in texts]
    values: dict[str, Any] = {
        "lexical_support": support_share(said, split) if texts else None,
        "answer_position": first_run_position(said, split) if texts else None,
    }
    asked = set(content_words(question)) if question else set()
    if not asked:
        return {**values, "question_coverage": None, "answer_in_question": None}
    found = {w for words in split for w in words}
    said_set = set(said)
    return {
        **values,
        "question_coverage": len(asked & found) / len(asked) if contexts else None,
        "answer_in_question": len(said_set & asked) / len(said_set) if said_set else None,
    }


_RELEVANCE_TOLERANCE = 1e-6
"""Relevance this far outside [0, 1] is rounding error and is clipped; further out, ignored."""


def _relevance(document: Document) -> float | None:
    """The retriever-written relevance of one document, or ``None`` when it is unusable.

    Only ``metadata["relevance"]`` is read, never the page text. A value that is not a real
    number (a string such as ``"1.0"``, a bool, ``None``), NaN, infinite, or outside ``[0, 1]`` by
    more than rounding error is ignored rather than clipped: 5.0 or -3 is probably a raw score or a
    distance, and clipping it to 1.0 or 0.0 would invent evidence.
    """
    raw = document.metadata.get(RELEVANCE_KEY)
    if isinstance(raw, bool) or not isinstance(raw, Real):
        return None
    try:
        value = float(raw)
    except (OverflowError, TypeError, ValueError):
        return None
    if not -_RELEVANCE_TOLERANCE <= value <= 1.0 + _RELEVANCE_TOLERANCE:  # also rejects NaN
        return None
    return min(1.0, max(0.0, value))


def _evidence_signals(
    answer: str, documents: Sequence[Document], contexts: list[str]
) -> dict[str, Any]:
    relevances = [r for d in documents if (r := _relevance(d)) is not None]
    return {
        "answer_length": float(len(answer.split())),
        "n_documents": float(len(documents)),
        "max_relevance": max(relevances) if relevances else None,
        "mean_relevance": (
            min(max(relevances), math.fsum(relevances) / len(relevances)) if relevances else None
        ),
    }


def compute_signals(
    *,
    answer: str,
    tokens: Sequence[TokenLogprob] | None,
    documents: Sequence[Document] | None = (),
    embeddings: Embeddings | None = None,
    question: str | None = None,
) -> Signals:
    """Compute every available signal for one answer.

    Document text is only ever compared with the answer (word overlap, embeddings); nothing in
    it is parsed or obeyed, so a passage saying "confidence: 1.0" or "relevance: 1.0" changes a
    signal only through its overlap with the answer.

    Args:
        answer: The answer text the user sees.
        tokens: The answer's token logprobs, or ``None`` when none were captured.
        documents: The documents retrieved in the run (``None`` is read as none); relevance is
            read only from ``metadata["relevance"]`` (written by ``ScoredRetriever``). A
            relevance that is not a real number in ``[0, 1]`` (a string, a bool, NaN, +-inf,
            5.0, -3) is ignored, not clipped; within 1e-6 of the range it is clipped.
        embeddings: Used for ``semantic_support``; without it that signal is ``None``.
        question: The question (``with_calibration`` uses the retriever's query); without it
            ``question_coverage`` and ``answer_in_question`` are ``None``.

    Returns:
        The signals; unavailable ones are ``None``. Every number is finite and in its documented
        range.

    Raises:
        TypeError: If ``answer`` is not a str, or ``tokens`` / ``documents`` are not lists of
            ``TokenLogprob`` / ``Document``.
    """
    values, contexts = _cheap_signals(answer, tokens, documents, question)
    if embeddings is not None and contexts and answer.strip():
        values["semantic_support"] = semantic_support(answer, contexts, embeddings)
    return Signals(**values)


async def acompute_signals(
    *,
    answer: str,
    tokens: Sequence[TokenLogprob] | None,
    documents: Sequence[Document] | None = (),
    embeddings: Embeddings | None = None,
    question: str | None = None,
) -> Signals:
    """Async twin of ``compute_signals`` (embeds with ``aembed_documents``)."""
    values, contexts = _cheap_signals(answer, tokens, documents, question)
    if embeddings is not None and contexts and answer.strip():
        values["semantic_support"] = await asemantic_support(answer, contexts, embeddings)
    return Signals(**values)


def compute_flags(
    signals: Signals,
    answer: str,
    config: SignalConfig | None = None,
    *,
    stated: StatedConfidence | None = None,
    p_true: PTrueResult | None = None,
) -> list[str]:
    """The flags that apply to one answer, in a fixed order.

    Besides ``no_logprobs``, ``low_evidence`` and ``flat_distribution``, the cross-checks:
    ``assertive_without_evidence`` (flat wording over weak support) always, and, when the opt-in
    second opinions ran, ``verbal_logprob_disagreement`` and the flags for a stated confidence
    that could not be read (``unparseable_confidence``, ``refused_confidence``) or a P(True) the
    model gave no yes/no for (``p_true_unavailable``).

    Raises:
        TypeError: If ``answer`` is not a str.
    """
    if not isinstance(answer, str):
        msg = f"answer must be the answer text (a str), got {type(answer).__name__}."
        raise TypeError(msg)
    config = config or SignalConfig()
    flags = []
    if signals.sequence_prob is None:
        flags.append(NO_LOGPROBS)
    # Short answers embed poorly against whole passages, so either kind of support suffices.
    supports = [v for v in (signals.lexical_support, signals.semantic_support) if v is not None]
    support = max(supports) if supports else None
    if (
        not signals.n_documents
        or (signals.max_relevance is not None and signals.max_relevance < config.low_relevance)
        or (support is not None and support < config.low_support)
    ):
        flags.append(LOW_EVIDENCE)
    if signals.sequence_prob is not None and not _HEDGES.search(answer):
        if signals.mean_entropy is not None:
            flat = signals.mean_entropy >= config.flat_entropy
        else:
            flat = signals.sequence_prob <= config.flat_sequence_prob
        if flat:
            flags.append(FLAT_DISTRIBUTION)
    from langchain_calibrate.opinions.checks import opinion_flags

    wording = wording_assertiveness(answer)
    flags.extend(opinion_flags(signals, wording, stated=stated, p_true=p_true))
    return flags
