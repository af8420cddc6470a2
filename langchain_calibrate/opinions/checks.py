"""Cross-checks between what the model says and what the other signals show.

Pure functions over numbers the signals already hold; ``compute_flags`` (or a caller) decides
when to run them. A missing signal is never read as a low one: each check returns ``False`` when
it lacks what it compares, and the flags for missing evidence (``no_logprobs``,
``low_evidence``) speak instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.opinions.judges import PTrueResult
from langchain_calibrate.opinions.stated import StatedConfidence
from langchain_calibrate.opinions.wording import Wording

__all__ = [
    "ASSERTIVE_WITHOUT_EVIDENCE",
    "CONFIDENCE_REFUSED",
    "CONFIDENCE_UNPARSEABLE",
    "P_TRUE_UNAVAILABLE",
    "VERBAL_LOGPROB_DISAGREEMENT",
    "OpinionConfig",
    "assertive_without_evidence",
    "is_assertive",
    "opinion_flags",
    "verbal_logprob_disagreement",
]

CONFIDENCE_UNPARSEABLE = "unparseable_confidence"
"""The model was asked how sure it is and its reply could not be read (not a zero)."""
CONFIDENCE_REFUSED = "refused_confidence"
"""The model was asked how sure it is and declined ("I don't know", "no lo sé")."""
P_TRUE_UNAVAILABLE = "p_true_unavailable"
"""The P(True) check ran but its reply held no yes/no token among the alternatives."""
VERBAL_LOGPROB_DISAGREEMENT = "verbal_logprob_disagreement"
"""The model says it is very sure, but its token distribution was unsure or flat."""
ASSERTIVE_WITHOUT_EVIDENCE = "assertive_without_evidence"
"""The answer asserts without hedging, but the retrieved context backs it weakly."""


class OpinionConfig(BaseModel):
    """Thresholds of the cross-checks."""

    model_config = ConfigDict(frozen=True)

    high_stated: float = Field(0.9, ge=0.0, le=1.0)
    """A stated confidence at least this high is "very sure" (90%, 9/10, "very confident")."""
    low_sequence_prob: float = Field(0.5, ge=0.0, le=1.0)
    """Disagreement when the length-normalized sequence probability is below this: a model
    "90% sure" whose geometric-mean token probability is under one half picks its words like a
    coin toss, a gap of 0.4 or more between what it says and what it does."""
    high_entropy: float = Field(1.0, ge=0.0)
    """Disagreement when the mean top-k entropy (nats) is above this (the same 1.0 nats as
    ``SignalConfig.flat_entropy``: about three equally likely alternatives)."""
    low_support: float = Field(0.5, ge=0.0, le=1.0)
    """Weak evidence when the answer's best support is below this (as ``SignalConfig``)."""
    low_relevance: float = Field(0.75, ge=0.0, le=1.0)
    """Weak evidence when the best document's relevance is below this (as ``SignalConfig``)."""
    require_absolute_marker: bool = False
    """``assertive_without_evidence`` needs an absolute marker ("definitely") when True; by
    default any unhedged declarative answer counts as assertive."""


def _stated_value(stated: StatedConfidence | float | None) -> float | None:
    if stated is None:
        return None
    if isinstance(stated, StatedConfidence):
        return stated.value
    if isinstance(stated, bool) or not isinstance(stated, int | float):
        msg = f"stated must be a StatedConfidence, a float or None, got {type(stated).__name__}."
        raise TypeError(msg)
    return float(stated)


def verbal_logprob_disagreement(
    stated: StatedConfidence | float | None,
    sequence_prob: float | None,
    mean_entropy: float | None,
    config: OpinionConfig | None = None,
) -> bool:
    """Whether the model states high confidence while its logprobs are low or flat.

    True when the stated value is at least ``config.high_stated`` and either
    ``sequence_prob < config.low_sequence_prob`` or ``mean_entropy > config.high_entropy``.
    Missing logprobs (both ``None``) are not "low": the result is False and ``no_logprobs``
    speaks. An unread statement (``value is None``) is False too.

    Args:
        stated: The stated confidence (or its value).
        sequence_prob: ``Signals.sequence_prob``.
        mean_entropy: ``Signals.mean_entropy``.
        config: Thresholds; the defaults when ``None``.

    Examples:
        >>> verbal_logprob_disagreement(0.95, sequence_prob=0.3, mean_entropy=None)
        True
        >>> verbal_logprob_disagreement(0.95, sequence_prob=None, mean_entropy=None)
        False
    """
    config = config or OpinionConfig()
    value = _stated_value(stated)
    if value is None or value < config.high_stated:
        return False
    low = sequence_prob is not None and sequence_prob < config.low_sequence_prob
    flat = mean_entropy is not None and mean_entropy > config.high_entropy
    return low or flat


def is_assertive(wording: Wording, config: OpinionConfig | None = None) -> bool:
    """Whether the wording asserts: no hedge, and a declarative claim (or an absolute marker).

    An unhedged declarative answer counts by default, because a RAG answer is mostly a bare
    claim ("Gustave Eiffel", "Es Madrid."): it reaches the user as fact with no marker at all,
    so requiring "definitely" would leave the flag silent on nearly every short answer. A
    question ("Paris?"), an empty answer, or any hedge is not assertive. Set
    ``require_absolute_marker`` for the strict reading (an absolute marker and no hedge).
    """
    config = config or OpinionConfig()
    if wording.hedges:
        return False
    if config.require_absolute_marker:
        return bool(wording.absolutes)
    return bool(wording.absolutes) or wording.declarative


def assertive_without_evidence(
    wording: Wording,
    support: float | None,
    relevance: float | None,
    config: OpinionConfig | None = None,
) -> bool:
    """Whether an assertive answer rests on weak retrieval evidence.

    True when ``is_assertive(wording)`` and the evidence is weak: ``support <
    config.low_support`` or ``relevance < config.low_relevance``. A ``None`` support or relevance
    is unknown, not weak (with nothing retrieved, ``low_evidence`` speaks).

    Args:
        wording: ``wording_assertiveness(answer)``.
        support: The answer's best support, ``max(lexical_support, semantic_support)``.
        relevance: ``Signals.max_relevance``.
        config: Thresholds; the defaults when ``None``.

    Examples:
        >>> from langchain_calibrate.opinions.wording import wording_assertiveness
        >>> assertive_without_evidence(wording_assertiveness("Definitely 1889."), 0.1, 0.9)
        True
        >>> assertive_without_evidence(wording_assertiveness("Maybe 1889."), 0.1, 0.9)
        False
    """
    config = config or OpinionConfig()
    if not is_assertive(wording, config):
        return False
    weak_support = support is not None and support < config.low_support
    weak_relevance = relevance is not None and relevance < config.low_relevance
    return weak_support or weak_relevance


def opinion_flags(
    signals: Any,
    wording: Wording | None = None,
    *,
    stated: StatedConfidence | None = None,
    p_true: PTrueResult | None = None,
    config: OpinionConfig | None = None,
) -> list[str]:
    """All opinion flags for one answer, in a fixed order.

    Args:
        signals: A ``Signals`` (read: ``sequence_prob``, ``mean_entropy``, ``lexical_support``,
            ``semantic_support``, ``max_relevance``).
        wording: ``wording_assertiveness(answer)``; without it the wording check is skipped.
        stated: The stated confidence, when the verbal step ran.
        p_true: The P(True) result, when the self-check ran.
        config: Thresholds; the defaults when ``None``.

    Returns:
        Among ``unparseable_confidence``, ``refused_confidence``, ``p_true_unavailable``,
        ``verbal_logprob_disagreement`` and ``assertive_without_evidence``, those that apply.
    """
    config = config or OpinionConfig()
    flags = []
    if stated is not None and stated.form == "unparseable":
        flags.append(CONFIDENCE_UNPARSEABLE)
    if stated is not None and stated.form == "refusal":
        flags.append(CONFIDENCE_REFUSED)
    if p_true is not None and p_true.p_true is None:
        flags.append(P_TRUE_UNAVAILABLE)
    sequence_prob = getattr(signals, "sequence_prob", None)
    entropy = getattr(signals, "mean_entropy", None)
    if stated is not None and verbal_logprob_disagreement(stated, sequence_prob, entropy, config):
        flags.append(VERBAL_LOGPROB_DISAGREEMENT)
    if wording is not None:
        supports = [
            v
            for v in (
                getattr(signals, "lexical_support", None),
                getattr(signals, "semantic_support", None),
            )
            if v is not None
        ]
        support = max(supports) if supports else None
        relevance = getattr(signals, "max_relevance", None)
        if assertive_without_evidence(wording, support, relevance, config):
            flags.append(ASSERTIVE_WITHOUT_EVIDENCE)
    return flags
