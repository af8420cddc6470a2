"""Hedging versus assertiveness in the answer's own wording, in English and Spanish.

``wording_assertiveness`` lists the hedges ("probably", "I think", "tal vez", "no estoy seguro")
and the absolute markers ("definitely", "without a doubt", "sin duda") in a text and scores it
``(n_absolutes - n_hedges) / (n_absolutes + n_hedges)`` in [-1, 1] (0 when there is neither).

Matching is on folded text (case- and accent-insensitive: "Quizás" matches "quizas"), on word
boundaries ("maybe" does not match inside "maybelline"), and negation-aware: an absolute marker
negated within the two words before it ("not certain", "not definitely", "no es seguro") counts
as a hedge, not as an absolute.

Hedges are :data:`HEDGE_PATTERNS` plus the list in ``langchain_calibrate.signals`` that the
``flat_distribution`` flag uses (imported, not copied, so the two never disagree on a word that
list has). Absolutes are :data:`ABSOLUTE_PATTERNS`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.opinions._text import fold_with_map, original_span

__all__ = ["ABSOLUTE_PATTERNS", "HEDGE_PATTERNS", "Wording", "wording_assertiveness"]

HEDGE_PATTERNS: tuple[str, ...] = (
    # English (beyond the signals list: maybe, perhaps, probably, possibly, likely, unlikely,
    # I think, I believe, I guess, not sure, unsure, might, may be, could be, seem(s),
    # appear(s), uncertain, I don't know).
    r"not\s+(?:\w+\s+)?(?:certain|sure|clear|definite|confident|positive)",
    r"not\s+necessarily",
    r"i\s+suppose",
    r"i\s+assume",
    r"i(?:'d|\s+would)\s+(?:say|guess)",
    r"as\s+far\s+as\s+i\s+know",
    r"to\s+(?:the\s+best\s+of\s+)?my\s+knowledge",
    r"if\s+i\s+(?:recall|remember)(?:\s+correctly)?",
    r"presumably",
    r"apparently",
    r"arguably",
    r"potentially",
    r"supposedly",
    r"somewhat",
    r"sort\s+of",
    r"kind\s+of",
    r"(?:fairly|pretty|reasonably)\s+(?:sure|confident|certain)",
    r"in\s+my\s+opinion",
    r"it\s+is\s+possible",
    r"it'?s\s+possible",
    r"could",
    r"i\s+doubt",
    r"doubtful",
    # Spanish (beyond: tal vez, quizá(s), probablemente, posiblemente, creo que,
    # no estoy seguro/a, no sé).
    r"no\s+(?:es|esta|estoy|estamos|parece)\s+(?:\w+\s+)?(?:segur[oa]|clar[oa]|ciert[oa]|"
    r"evidente|obvi[oa])",
    r"a\s+lo\s+mejor",
    r"puede\s+(?:que|ser)",
    r"podria(?:n)?",
    r"supongo",
    r"me\s+parece",
    r"parece(?:\s+que)?",
    r"pienso\s+que",
    r"al\s+parecer",
    r"aparentemente",
    r"seguramente",
    r"es\s+posible",
    r"si\s+no\s+me\s+equivoco",
    r"que\s+yo\s+sepa",
    r"no\s+creo",
    r"dudo",
    r"creo",
    r"quiza",
)
"""Hedge patterns (regular expressions on folded text, matched on word boundaries).

"seguramente" is a hedge: in Spanish it means "most likely", not "surely". A negated absolute
("not certain", "no es seguro") is a hedge.
"""

ABSOLUTE_PATTERNS: tuple[str, ...] = (
    # English
    r"definitely",
    r"definitively",
    r"certainly",
    r"clearly",
    r"obviously",
    r"undoubtedly",
    r"unquestionably",
    r"indisputably",
    r"undeniably",
    r"absolutely",
    r"without\s+(?:a|any)\s+doubt",
    r"no\s+doubt",
    r"beyond\s+(?:a|any)\s+doubt",
    r"of\s+course",
    r"for\s+(?:sure|certain)",
    r"guaranteed",
    r"100\s*%",
    r"(?:i'?m|i\s+am|we\s+are|we'?re)\s+(?:(?:very|completely|absolutely|totally|fully|"
    r"entirely|really|100\s*%)\s+)?(?:sure|certain|confident|positive)",
    r"it\s+is\s+(?:certain|clear|a\s+fact|beyond\s+doubt)",
    r"there\s+is\s+no\s+(?:question|doubt)",
    # Spanish
    r"definitivamente",
    r"ciertamente",
    r"claramente",
    r"obviamente",
    r"evidentemente",
    r"indudablemente",
    r"incuestionablemente",
    r"innegablemente",
    r"absolutamente",
    r"sin\s+(?:ninguna\s+|lugar\s+a\s+)?dudas?(?:\s+alguna)?",
    r"por\s+supuesto",
    r"desde\s+luego",
    r"con\s+(?:total\s+|toda\s+)?(?:certeza|seguridad)",
    r"(?:estoy|estamos)\s+(?:(?:muy|completamente|totalmente|absolutamente|100\s*%)\s+)?"
    r"segur[oa]s?",
    r"es\s+(?:seguro|evidente|obvio|indudable|cierto)\s+que",
    r"seguro\s+que",
)
"""Absolute markers (regular expressions on folded text, matched on word boundaries)."""

_NEGATION_BEFORE = re.compile(
    r"(?:\bnot|\b\w*n't|\bno|\bnever|\bhardly|\bnunca|\bni)(?:\s+\w+)?\s*$"
)
"""A negation within the two words before an absolute marker makes it a hedge."""
_NEGATION_WINDOW = 64
"""Characters before a marker searched for that negation (two words fit easily)."""


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # (?<!\w) / (?!\w) rather than \b so that "100%" (which ends in a non-word character) works.
    return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?!\w)")


_OWN_HEDGES = _compile(HEDGE_PATTERNS)
_ABSOLUTES = _compile(ABSOLUTE_PATTERNS)


@cache
def _signals_hedges() -> re.Pattern[str]:
    # Imported on first use: signals may import this module, and a top-level import both ways
    # would be circular.
    from langchain_calibrate.signals import _HEDGES

    return _HEDGES


class Wording(BaseModel):
    """The hedges and absolute markers in a text, and how assertive that makes it.

    ``hedges`` and ``absolutes`` are the matched phrases as they appear in the text, in order.
    """

    model_config = ConfigDict(frozen=True)

    hedges: tuple[str, ...] = ()
    """Hedging phrases ("probably", "no estoy seguro", a negated absolute like "not certain")."""
    absolutes: tuple[str, ...] = ()
    """Absolute markers ("definitely", "sin duda"), not negated."""
    score: float = Field(0.0, ge=-1.0, le=1.0)
    """``(n_absolutes - n_hedges) / (n_absolutes + n_hedges)``; 0 when there is neither."""
    declarative: bool = False
    """The text makes a claim: it has a letter or digit and is not a question (no final "?")."""

    @property
    def hedged(self) -> bool:
        """Whether any hedge was found."""
        return bool(self.hedges)


def _spans(pattern: re.Pattern[str], folded: str) -> Iterator[tuple[int, int]]:
    for match in pattern.finditer(folded):
        if match.end() > match.start():
            yield match.start(), match.end()


class _Spans:
    """Sorted, non-overlapping spans with an O(log n) overlap test."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)  # spans starting before ``end``
        return i > 0 and self.ends[i - 1] > start

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.starts, self.ends, strict=True)


def wording_assertiveness(text: str) -> Wording:
    """Find the hedges and absolute markers in ``text`` and score its assertiveness.

    Args:
        text: The answer text.

    Returns:
        The hedges and absolutes (as written in ``text``), the score in [-1, 1], and whether the
        text is a declarative claim.

    Raises:
        TypeError: If ``text`` is not a str.

    Examples:
        >>> w = wording_assertiveness("It is probably Paris, but I am not certain.")
        >>> w.hedges, w.absolutes, w.score
        (('probably', 'not certain'), (), -1.0)
        >>> wording_assertiveness("Sin duda, es Madrid.").score
        1.0
        >>> wording_assertiveness("Tal vez sea Lima; definitivamente no es Quito.").score
        0.0
        >>> wording_assertiveness("Paris").score
        0.0
    """
    if not isinstance(text, str):
        msg = f"text must be the answer text (a str), got {type(text).__name__}."
        raise TypeError(msg)
    folded, index = fold_with_map(text)
    hedge_spans = _Spans()
    for pattern in (_signals_hedges(), _OWN_HEDGES):
        for start, end in _spans(pattern, folded):
            if not hedge_spans.overlaps(start, end):
                hedge_spans.add(start, end)
    absolute_spans = []
    for start, end in _spans(_ABSOLUTES, folded):
        if hedge_spans.overlaps(start, end):
            continue  # e.g. "es seguro que" inside the hedge "no es seguro que"
        window = max(0, start - _NEGATION_WINDOW)
        negation = _NEGATION_BEFORE.search(folded, window, start)
        if negation is not None:
            # "not definitely" is a hedge; in "I don't know definitely" the hedge "I don't know"
            # already holds the negation, and the negated marker is not counted again.
            if not hedge_spans.overlaps(negation.start(), start):
                hedge_spans.add(negation.start(), end)
        else:
            absolute_spans.append((start, end))
    hedges = tuple(original_span(text, index, s, e) for s, e in hedge_spans)
    absolutes = tuple(original_span(text, index, s, e) for s, e in absolute_spans)
    n_hedge, n_abs = len(hedges), len(absolutes)
    score = (n_abs - n_hedge) / (n_abs + n_hedge) if n_abs + n_hedge else 0.0
    stripped = text.strip()
    declarative = any(c.isalnum() for c in stripped) and not stripped.endswith("?")
    return Wording(hedges=hedges, absolutes=absolutes, score=score, declarative=declarative)
