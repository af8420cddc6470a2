"""Confidence and evidence signals computed from what a run captured.

Token signals come from logprobs; evidence signals come from the retrieved documents and how much
of the answer they back up. Flags mark the situations a number alone would hide. Low evidence and
low confidence are different things, so both are reported and neither stands in for the other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.logprobs import TokenLogprob
from langchain_calibrate.retrievers import RELEVANCE_KEY
from langchain_calibrate.support import asemantic_support, lexical_support, semantic_support

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
)

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
    n_tokens: int = 0
    """Tokens with logprobs (not a calibration feature: it depends on the tokenizer)."""

    def to_features(self, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
        """The named signals as floats, ``NaN`` where a signal is unavailable."""
        values = []
        for name in names:
            if name not in FEATURE_NAMES:
                msg = f"Unknown signal {name!r}; the signals are {', '.join(FEATURE_NAMES)}."
                raise KeyError(msg)
            value = getattr(self, name)
            values.append(math.nan if value is None else float(value))
        return np.asarray(values, dtype=float)


def _entropy(token: TokenLogprob) -> float | None:
    if not token.top_logprobs:
        return None
    probs = [math.exp(t.logprob) for t in token.top_logprobs]
    rest = max(0.0, 1.0 - sum(probs))
    return -sum(p * math.log(p) for p in [*probs, rest] if p > 0.0)


def _margin(token: TokenLogprob) -> float | None:
    if len(token.top_logprobs) < 2:
        return None
    return math.exp(token.top_logprobs[0].logprob) - math.exp(token.top_logprobs[1].logprob)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def token_signals(tokens: Sequence[TokenLogprob] | None) -> dict[str, Any]:
    """Signals from token logprobs alone; empty when there are none."""
    if not tokens:
        return {}
    logprobs = [t.logprob for t in tokens]
    mean_lp = sum(logprobs) / len(logprobs)
    return {
        "mean_logprob": mean_lp,
        "min_logprob": min(logprobs),
        "sequence_prob": math.exp(mean_lp),
        "mean_entropy": _mean([_entropy(t) for t in tokens]),
        "mean_margin": _mean([_margin(t) for t in tokens]),
        "n_tokens": len(tokens),
    }


def _cheap_signals(
    answer: str, tokens: Sequence[TokenLogprob] | None, documents: Sequence[Document]
) -> tuple[dict[str, Any], list[str]]:
    """Every signal but semantic support, and the non-empty contexts it would need."""
    contexts = [d.page_content for d in documents if d.page_content]
    return {**token_signals(tokens), **_evidence_signals(answer, documents, contexts)}, contexts


def _evidence_signals(
    answer: str, documents: Sequence[Document], contexts: list[str]
) -> dict[str, Any]:
    relevances = [
        float(r)
        for d in documents
        if isinstance(r := d.metadata.get(RELEVANCE_KEY), int | float) and math.isfinite(r)
    ]
    return {
        "answer_length": float(len(answer.split())),
        "n_documents": float(len(documents)),
        "max_relevance": max(relevances) if relevances else None,
        "mean_relevance": sum(relevances) / len(relevances) if relevances else None,
        "lexical_support": lexical_support(answer, contexts) if contexts else None,
    }


def compute_signals(
    *,
    answer: str,
    tokens: Sequence[TokenLogprob] | None,
    documents: Sequence[Document] = (),
    embeddings: Embeddings | None = None,
) -> Signals:
    """Compute every available signal for one answer.

    Args:
        answer: The answer text the user sees.
        tokens: The answer's token logprobs, or ``None`` when none were captured.
        documents: The documents retrieved in the run; relevance is read from
            ``metadata["relevance"]`` (written by ``ScoredRetriever``).
        embeddings: Used for ``semantic_support``; without it that signal is ``None``.

    Returns:
        The signals; unavailable ones are ``None``.
    """
    values, contexts = _cheap_signals(answer, tokens, documents)
    if embeddings is not None and contexts and answer.strip():
        values["semantic_support"] = semantic_support(answer, contexts, embeddings)
    return Signals(**values)


async def acompute_signals(
    *,
    answer: str,
    tokens: Sequence[TokenLogprob] | None,
    documents: Sequence[Document] = (),
    embeddings: Embeddings | None = None,
) -> Signals:
    """Async twin of ``compute_signals`` (embeds with ``aembed_documents``)."""
    values, contexts = _cheap_signals(answer, tokens, documents)
    if embeddings is not None and contexts and answer.strip():
        values["semantic_support"] = await asemantic_support(answer, contexts, embeddings)
    return Signals(**values)


def compute_flags(signals: Signals, answer: str, config: SignalConfig | None = None) -> list[str]:
    """The flags that apply to one answer, in a fixed order."""
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
    return flags
