"""Verbalized confidence: read "how sure are you?" replies, in English and Spanish.

``parse_stated_confidence`` turns a reply ("80%", "8/10", "ocho de diez", "fairly confident",
"entre 70 y 80%", "I don't know") into a :class:`StatedConfidence` whose ``value`` is in [0, 1],
or ``None`` when the model refused or the reply could not be read. An unreadable reply is never
a zero: callers flag it. Values outside the scale ("150%", "11/10") are unreadable too, never
clipped.

``extract_stated_confidence`` finds a "Confidence: 80%" line (or a trailing "(confidence: 80%)")
in a longer answer, for the same-call mode where the prompt carries
:data:`CONFIDENCE_FORMAT_INSTRUCTION`.

How a reply is read, in order (the first rule that matches wins):

1. The text is folded: lower case, accents removed ("sí" is "si"), typographic dashes and
   apostrophes made plain; "percent", "per cent", "pct", "por ciento", "por cien" become "%";
   number words up to one hundred become digits ("ninety-five" -> 95, "noventa y cinco" -> 95,
   "ocho" -> 8; the ambiguous "one", "uno", "una" and "once" only before "%", "out of", "of",
   "de", "sobre" or "/").
2. A scale the reply declares ("on a scale of 0 to 10", "en una escala del 1 al 10", "from 0 to
   100") is removed from the text and replaces the ``scale`` hint.
3. Idioms checked before numbers: "50/50", "50-50", "fifty-fifty", "toss-up" are 0.5; "not 100%
   sure" / "no estoy 100% seguro" is 0.7 (the same as "not completely sure").
4. Ranges, read as their midpoint: "70-80%", "70% to 80%", "7-8/10", "between 7 and 8",
   "entre 70 y 80%", "de 7 a 8 sobre 10". The unit is the one written after the range (or after
   its first number), else the scale as for a bare number.
5. Fractions: "8/10", "8 out of 10", "8 of 10", "8 de 10", "8 sobre 10".
6. Percentages: "80%", "80 %", "80 percent", "80 por ciento".
7. A bare number: written as a decimal in [0, 1] ("0.8", "0,8" with a Spanish decimal comma,
   ".8") it is a probability whatever the scale (form ``decimal``); otherwise it is read on the
   scale: ``scale`` (the hint, or the declared scale), else inferred as 0-10 for numbers up to
   10 and 0-100 for numbers up to 100 (form ``scale``). The first number in the reply is used.
8. Refusals ("I don't know", "I cannot say", "N/A", "no idea", "no lo sé", "no puedo decirlo",
   "ni idea") give ``value=None`` and form ``refusal``.
9. Words, from :data:`WORD_TABLE` (the first row whose pattern matches wins; negated rows come
   before the words they negate).
10. Anything else is ``unparseable`` (``value=None``).

A number outside its scale (150%, 11/10, 12 on a 0-10 scale, 80 when ``scale=10``) makes the
reply ``unparseable`` at the first rule it reaches: the reply is not re-read another way.
Scales that start at 1 ("1 to 10") are read as ``n / max`` like those that start at 0.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.opinions._text import fold

__all__ = [
    "CONFIDENCE_FORMAT_INSTRUCTION",
    "WORD_TABLE",
    "ConfidenceForm",
    "StatedConfidence",
    "extract_stated_confidence",
    "parse_stated_confidence",
]

ConfidenceForm = Literal[
    "percent", "fraction", "scale", "decimal", "word", "range", "refusal", "unparseable"
]
"""How a stated confidence was written (``refusal`` and ``unparseable`` carry no value)."""

CONFIDENCE_FORMAT_INSTRUCTION = (
    "After the answer, on a new line, write how sure you are that the answer is correct, as "
    '"Confidence: N%" with N from 0 to 100.'
)
"""Format instruction for the same-call mode; read the reply with ``extract_stated_confidence``."""


class StatedConfidence(BaseModel):
    """A confidence the model stated, mapped to [0, 1].

    ``value`` is ``None`` for a refusal and for a reply that could not be read; neither is a
    zero, and callers should flag them (``form`` says which).
    """

    model_config = ConfigDict(frozen=True)

    value: float | None = Field(None, ge=0.0, le=1.0)
    """The stated confidence in [0, 1], or ``None``."""
    form: ConfidenceForm = "unparseable"
    """How it was written: percent, fraction, scale, decimal, word, range, refusal, unparseable."""
    text: str = ""
    """The reply that was parsed (empty when ``extract_stated_confidence`` found no line)."""
    elapsed: float | None = None
    """Seconds the model call took, when a ``VerbalConfidenceAsker`` asked for it."""

    @property
    def parsed(self) -> bool:
        """Whether a value was read (not a refusal, not unparseable)."""
        return self.value is not None


# --------------------------------------------------------------------------------------------
# Folding: percent words and number words to symbols and digits.

_PERCENT_WORDS = re.compile(r"\s*\b(?:per\s?cent|pct|por\s?cien(?:to)?)\b")

_EN_UNITS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_EN_SINGLES = {
    "zero": 0,
    **{k: v for k, v in _EN_UNITS.items() if k != "one"},
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_EN_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ES_UNITS = {
    "uno": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
}
_ES_SINGLES = {
    "cero": 0,
    **{k: v for k, v in _ES_UNITS.items() if k not in ("uno", "una")},
    "diez": 10,
    "doce": 12,
    "trece": 13,
    "catorce": 14,
    "quince": 15,
    "dieciseis": 16,
    "diecisiete": 17,
    "dieciocho": 18,
    "diecinueve": 19,
    "veinte": 20,
    "veintiuno": 21,
    "veintiuna": 21,
    "veintidos": 22,
    "veintitres": 23,
    "veinticuatro": 24,
    "veinticinco": 25,
    "veintiseis": 26,
    "veintisiete": 27,
    "veintiocho": 28,
    "veintinueve": 29,
}
_ES_TENS = {
    "treinta": 30,
    "cuarenta": 40,
    "cincuenta": 50,
    "sesenta": 60,
    "setenta": 70,
    "ochenta": 80,
    "noventa": 90,
}
_AMBIGUOUS = {"one": 1, "uno": 1, "una": 1, "once": 11}
"""Words that are numbers only before a unit ("one out of ten", "once de doce")."""


def _alternation(words: dict[str, int]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_HUNDRED = re.compile(r"\b(?:(?:a|one)\s+hundred|hundred|cien|ciento)\b")
_EN_COMPOUND = re.compile(rf"\b({_alternation(_EN_TENS)})(?:[\s-]+({_alternation(_EN_UNITS)}))?\b")
_ES_COMPOUND = re.compile(rf"\b({_alternation(_ES_TENS)})(?:\s+y\s+({_alternation(_ES_UNITS)}))?\b")
_AMBIGUOUS_WORDS = re.compile(
    rf"\b({_alternation(_AMBIGUOUS)})\b(?=\s*(?:%|/|out\b|of\b|de\b|sobre\b))"
)
_SINGLE_WORDS = re.compile(rf"\b({_alternation({**_EN_SINGLES, **_ES_SINGLES})})\b")
_ALL_WORDS = {**_EN_UNITS, **_EN_SINGLES, **_EN_TENS, **_ES_UNITS, **_ES_SINGLES, **_ES_TENS}


def _compound(match: re.Match[str]) -> str:
    tens, unit = match.group(1), match.group(2)
    return str(_ALL_WORDS[tens] + (_ALL_WORDS[unit] if unit else 0))


def _number_words_to_digits(text: str) -> str:
    text = _HUNDRED.sub("100", text)
    text = _EN_COMPOUND.sub(_compound, text)
    text = _ES_COMPOUND.sub(_compound, text)
    text = _AMBIGUOUS_WORDS.sub(lambda m: str(_AMBIGUOUS[m.group(1)]), text)
    return _SINGLE_WORDS.sub(lambda m: str(_ALL_WORDS[m.group(1)]), text)


def _prepare(text: str) -> str:
    text = fold(text)
    text = _PERCENT_WORDS.sub("%", text)
    text = _number_words_to_digits(text)
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# Numbers.

_N = r"(?:\d+(?:[.,]\d+)?|[.,]\d+)"
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+")
_SCALE_MAXIMA = (1.0, 5.0, 10.0, 100.0)


def _to_float(token: str) -> float:
    """A matched number; "0,8" is a Spanish decimal comma, "1,000" a thousands separator."""
    if _THOUSANDS.fullmatch(token):
        return float(token.replace(",", ""))
    return float(token.replace(",", "."))


def _has_decimal(token: str) -> bool:
    return "." in token or ("," in token and not _THOUSANDS.fullmatch(token))


_DECLARED_SCALE = [
    re.compile(
        rf"\(?\s*(?:\b(?:on|in|en|using|with|con)\s+)?(?:\b(?:a|an|the|una|la|1)\s+)?"
        rf"\b(?:scale|escala)\s+(?:(?:of|from|de|del|desde)\s+)?(?:(?:el|la)\s+)?"
        rf"(?P<lo>{_N})\s*(?:-|\bto\b|\ba\b|\bal\b|\bhasta\b)\s*(?:el\s+)?(?P<hi>{_N})\s*\)?"
    ),
    re.compile(
        rf"\(?\s*\b(?:on|in|en)\s+(?:a|an|una)\s+(?P<lo>{_N})\s*(?:-|\bto\b|\ba\b)\s*"
        rf"(?P<hi>{_N})\s+(?:point\s+)?(?:scale|escala)\b\s*\)?"
    ),
    # "from 0 to 10" / "between 0 and 100" / "de 0 a 10": a scale only when the endpoints look
    # like one and no "%" follows (``_scale_like`` checks); "de 7 a 8" is a range, not a scale.
    re.compile(
        rf"\(?\s*\b(?:from|between|de|del|desde|entre)\s+(?:el\s+)?(?P<lo>{_N})\s*"
        rf"(?:\bto\b|\band\b|\ba\b|\bal\b|\by\b|\bhasta\b)\s*(?:el\s+)?(?P<hi>{_N})(?!\s*[%/\d])"
        rf"\s*\)?"
    ),
    # "0-10" / "1-100" with nothing after: a scale, not a range (its midpoint means nothing).
    re.compile(rf"\(?(?<![\w.,/-])(?P<lo>{_N})\s*-\s*(?P<hi>{_N})(?!\s*[%/\d])\)?"),
]


def _scale_like(lo: str, hi: str) -> bool:
    return _to_float(lo) in (0.0, 1.0) and _to_float(hi) in (5.0, 10.0, 100.0)


def _take_declared_scale(text: str) -> tuple[str, float | None]:
    """Remove a declared scale from ``text``; return the text and the scale's maximum."""
    for i, pattern in enumerate(_DECLARED_SCALE):
        for match in pattern.finditer(text):
            lo, hi = match.group("lo"), match.group("hi")
            if i >= 2 and not _scale_like(lo, hi):
                continue
            if _to_float(hi) <= _to_float(lo):
                continue
            rest = f"{text[: match.start()]} {text[match.end() :]}"
            return " ".join(rest.split()), _to_float(hi)
    return text, None


# Units written after a number or a range: "%", "/10", "out of 10", "de 10", "sobre 10".
_UNIT = rf"(?:\s*(?P<pct>%)|\s*,?\s*(?:/|\bout\s+of\b|\bof\b|\bde\b|\bsobre\b)\s*(?P<den>{_N}))"
_RANGES = [
    re.compile(
        rf"\b(?:between|entre)\s+(?:(?:the|el)\s+)?(?P<lo>{_N})\s*(?P<lopct>%)?\s*"
        rf"(?:\band\b|\by\b|\be\b|\ba\b|\bto\b|-)\s*(?:(?:the|el)\s+)?(?P<hi>{_N}){_UNIT}?"
    ),
    re.compile(
        rf"(?<![\w.,/-])(?P<lo>{_N})\s*(?P<lopct>%)?\s*(?:-|\bto\b|\ba\b|\bor\b|\bo\b|\bu\b)\s*"
        rf"(?P<hi>{_N}){_UNIT}?"
    ),
]
_FRACTION = re.compile(
    rf"(?<![\w.,/-])(?P<num>{_N})\s*,?\s*(?:/|\bout\s+of\b|\bof\b|\bde\b|\bsobre\b)\s*"
    rf"(?P<den>{_N})"
)
_PERCENT = re.compile(rf"(?<![\w.,/-])(?P<num>{_N})\s*%")
_BARE = re.compile(rf"(?<![\w.,/-])(?P<num>{_N})(?![\w%/])")

_IDIOMS = [
    (re.compile(r"\b50\s*[/-]\s*50\b|\bfifty[\s-]fifty\b|\btoss[\s-]?up\b|\bmitad y mitad\b"), 0.5),
    (
        re.compile(
            r"(?:\bnot|n't|\bno)\s+(?:\w+\s+){0,2}?(?:al\s+)?100\s*%\s*(?:sure|certain|confident|"
            r"segur[oa]s?)?"
        ),
        0.7,
    ),
]


def _on_scale(number: str, scale: float | None) -> tuple[float, str] | None:
    """A bare number read as a probability (decimal) or on the scale; ``None`` if off scale."""
    value = _to_float(number)
    if _has_decimal(number) and 0.0 <= value <= 1.0:
        return value, "decimal"
    top = scale
    if top is None:
        top = 10.0 if value <= 10.0 else 100.0
    if not 0.0 <= value <= top:
        return None
    return value / top, "scale"


def _with_unit(value: float, pct: bool, den: str | None) -> float | None:
    """``value`` as a percentage or over ``den``; ``None`` when it is off that scale."""
    if pct:
        return value / 100.0 if 0.0 <= value <= 100.0 else None
    top = _to_float(den or "0")
    return value / top if top > 0.0 and 0.0 <= value <= top else None


def _numeric(text: str, scale: float | None) -> tuple[float | None, ConfidenceForm] | None:
    """The first numeric reading of ``text``; ``(None, "unparseable")`` if it is off scale."""
    off: tuple[None, ConfidenceForm] = (None, "unparseable")
    for pattern, value in _IDIOMS:
        if pattern.search(text):
            return value, "word"
    for pattern in _RANGES:
        match = pattern.search(text)
        if match is None:
            continue
        lo_s, hi_s = match.group("lo"), match.group("hi")
        pct = bool(match.group("pct") or match.group("lopct"))
        den = match.group("den")
        if not pct and den is None:
            # Bare endpoints: both probabilities, or both on the scale.
            lo_read, hi_read = _on_scale(lo_s, scale), _on_scale(hi_s, scale)
            if lo_read is None or hi_read is None or lo_read[1] != hi_read[1]:
                return off
            lo, hi = lo_read[0], hi_read[0]
        else:
            lo_v = _with_unit(_to_float(lo_s), pct, den)
            hi_v = _with_unit(_to_float(hi_s), pct, den)
            if lo_v is None or hi_v is None:
                return off
            lo, hi = lo_v, hi_v
        return (min(lo, hi) + max(lo, hi)) / 2.0, "range"
    if (match := _FRACTION.search(text)) is not None:
        value = _with_unit(_to_float(match.group("num")), False, match.group("den"))
        return off if value is None else (value, "fraction")
    if (match := _PERCENT.search(text)) is not None:
        value = _with_unit(_to_float(match.group("num")), True, None)
        return off if value is None else (value, "percent")
    if (match := _BARE.search(text)) is not None:
        read = _on_scale(match.group("num"), scale)
        if read is None:
            return off
        return read[0], "decimal" if read[1] == "decimal" else "scale"
    return None


# --------------------------------------------------------------------------------------------
# Refusals and words.

_REFUSALS = re.compile(
    r"\b(?:i\s+)?(?:do\s+not|don'?t|dont)\s+know\b|\bdunno\b|\bidk\b"
    r"|\b(?:cannot|can\s*not|can'?t|could\s*(?:not|n'?t)|unable\s+to|won'?t|will\s+not|"
    r"(?:am|'m)\s+not\s+able\s+to)\s+(?:say|tell|determine|estimate|assess|judge|give|provide|"
    r"answer|rate|know|quantify|evaluate)\b"
    r"|\bno\s+(?:idea|clue|comment)\b|\bni\s+idea\b"
    r"|(?:^|\s)n\s*/\s*a(?:\s|$|[.!])|^\s*(?:na|none|unknown|null|nan|-+|\?+)\s*[.!]?\s*$"
    r"|\bno\s+(?:lo\s+)?se\b"
    r"|\bno\s+(?:puedo|podria|sabria|se\s+puede|es\s+posible)\s+(?:decir|saber|determinar|"
    r"estimar|evaluar|precisar|responder|dar|calcular)\w*"
    r"|\bno\s+sabria\b|\bdesconocid[oa]\b|\bprefer\s+not\s+to\b|\bprefiero\s+no\b"
)

_NEG = r"(?:\bnot|n't|\bno|\bnever|\bhardly|\bnunca|\btampoco)"
_SURE = r"(?:sure|confident|certain|positive)"
_SEGURO = r"(?:segur[oa]s?|confiad[oa]s?)"
_COMPLETELY = r"(?:completely|entirely|totally|fully|absolutely|quite|100%)"
_COMPLETAMENTE = r"(?:completamente|totalmente|del\s+todo|absolutamente|enteramente|100%)"

WORD_TABLE: tuple[tuple[str, str, float], ...] = (
    # (label, pattern on folded text, value). First match wins; negations come first.
    ("no confidence", r"\b(?:no|zero|ninguna|nula|cero)\s+(?:confidence|confianza)\b", 0.05),
    (
        "not at all sure",
        rf"{_NEG}\s+(?:\w+\s+)?{_SURE}\s+at\s+all\b|\bnot\s+at\s+all\s+{_SURE}\b"
        rf"|\b(?:para\s+)?nada\s+{_SEGURO}|\bmuy\s+poco\s+{_SEGURO}",
        0.1,
    ),
    (
        "very unsure",
        r"\b(?:very|extremely|highly|really|muy)\s+(?:unsure|uncertain|doubtful|insegur[oa]s?|"
        r"low|baj[oa])\b",
        0.1,
    ),
    (
        "not completely sure",
        rf"{_NEG}\s+(?:\w+\s+)?{_COMPLETELY}\s+{_SURE}\b"
        rf"|\bno\s+(?:\w+\s+)?{_COMPLETAMENTE}\s+{_SEGURO}",
        0.7,
    ),
    (
        "not sure",
        rf"{_NEG}\s+(?:\w+\s+){{0,2}}?{_SURE}\b|\bno\s+(?:\w+\s+){{0,2}}?{_SEGURO}"
        r"|\b(?:unsure|uncertain|doubtful|insegur[oa]s?|dudos[oa]s?)\b|\bpoco\s+"
        + _SEGURO
        + r"|\b(?:con|tengo|algunas)\s+dudas\b",
        0.3,
    ),
    ("unlikely", r"\b(?:unlikely|improbable|poco\s+probable)\b", 0.2),
    ("a guess", r"\b(?:(?:just\s+)?a\s+guess|guessing|adivinando|al\s+azar)\b", 0.2),
    (
        "very confident",
        r"\b(?:very|highly|extremely|really|super)\s+(?:sure|confident|likely|high)\b"
        r"|\b(?:almost|nearly|virtually)\s+(?:certain|sure)\b|\bcasi\s+(?:segur[oa]|certeza)"
        r"|\bmuy\s+(?:segur[oa]s?|confiad[oa]s?|alt[oa]|probable)\b",
        0.9,
    ),
    (
        "certain",
        r"\b(?:absolutely|completely|totally|entirely|fully|100%)\s+(?:sure|certain|confident)\b"
        r"|\b(?:completamente|totalmente|absolutamente|del\s+todo)\s+"
        + _SEGURO
        + r"|\b(?:certain|positive|definitely|certainly|no\s+doubt|without\s+(?:a|any)\s+doubt|"
        r"segurisim[oa]|sin\s+(?:ninguna\s+)?duda(?:\s+alguna)?|con\s+(?:total\s+)?certeza|"
        r"certeza\s+(?:total|absoluta))\b",
        0.95,
    ),
    (
        "fairly confident",
        r"\b(?:fairly|pretty|quite|reasonably|rather|mostly|moderately\s+high)\s+"
        r"(?:sure|confident|certain|high)\b|\bbastante\s+(?:segur[oa]s?|confiad[oa]s?|alt[oa])\b"
        r"|\b(?:probably|likely|probable|probablemente)\b",
        0.7,
    ),
    (
        "somewhat confident",
        r"\b(?:somewhat|moderately|relatively|slightly)\b(?:\s+(?:sure|confident))?"
        r"|\b(?:algo|moderadamente|medianamente|relativamente)\s+(?:segur[oa]s?|confiad[oa]s?)\b",
        0.6,
    ),
    (
        "confident",
        r"\b(?:confident|sure|high|alta|alto|segur[oa]s?|confiad[oa]s?|seguridad\s+alta)\b",
        0.8,
    ),
    ("medium", r"\b(?:medium|moderate|average|media|medio|moderada|regular|intermedia)\b", 0.5),
    ("low", r"\b(?:low|baja|bajo)\b", 0.2),
)
"""The word -> value table, in matching order (on folded text: lower case, no accents).

=====================  =====  ===============================================================
label                  value  examples (English / Spanish)
=====================  =====  ===============================================================
no confidence          0.05   "no confidence", "zero confidence" / "ninguna confianza"
not at all sure        0.10   "not sure at all", "not at all confident" / "nada seguro",
                              "para nada segura", "muy poco seguro"
very unsure            0.10   "very unsure", "very uncertain", "very low" / "muy inseguro",
                              "muy baja"
not completely sure    0.70   "not completely sure", "not 100% sure" / "no estoy del todo
                              seguro", "no completamente segura"
not sure               0.30   "not sure", "not very confident", "unsure", "uncertain",
                              "doubtful" / "no estoy seguro", "no muy seguro", "poco seguro",
                              "inseguro", "dudoso", "tengo dudas"
unlikely               0.20   "unlikely" / "improbable", "poco probable"
a guess                0.20   "just a guess", "guessing" / "adivinando", "al azar"
very confident         0.90   "very confident", "highly confident", "very high", "almost
                              certain" / "muy seguro", "muy alta", "casi seguro", "muy probable"
certain                0.95   "certain", "completely sure", "absolutely certain", "positive",
                              "definitely", "no doubt" / "completamente seguro", "segurísimo",
                              "sin duda", "con certeza"
fairly confident       0.70   "fairly confident", "pretty sure", "quite sure", "probably",
                              "likely" / "bastante seguro", "probablemente", "probable"
somewhat confident     0.60   "somewhat", "somewhat confident", "moderately sure" / "algo
                              seguro", "medianamente segura"
confident              0.80   "confident", "sure", "high" / "seguro", "segura", "confiado",
                              "alta", "alto"
medium                 0.50   "medium", "moderate" / "media", "medio", "regular"
low                    0.20   "low" / "baja", "bajo"
=====================  =====  ===============================================================

"50/50", "fifty-fifty" and "toss-up" are 0.5 (checked before numbers). The values place each
phrase on the same 0-1 line as numeric replies, roughly following Kent's "words of estimative
probability" (certain ~ 0.95+, probable ~ 0.75, chances about even 0.5, unlikely ~ 0.2). They are
the model's *stated* level, not a calibrated probability: a calibrator maps them to P(correct).
"""

_WORDS = tuple((label, re.compile(pattern), value) for label, pattern, value in WORD_TABLE)


def _check_scale(scale: float | None) -> float | None:
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        msg = f"scale must be a number such as 10 or 100 (or None), got {type(scale).__name__}."
        raise TypeError(msg)
    if not math.isfinite(scale) or scale <= 0:
        msg = f"scale must be a positive finite number such as 10 or 100, got {scale!r}."
        raise ValueError(msg)
    return float(scale)


def parse_stated_confidence(text: str, *, scale: float | None = None) -> StatedConfidence:
    """Read a stated confidence ("80%", "8/10", "muy seguro", "I don't know") into [0, 1].

    See the module docstring for the rules and :data:`WORD_TABLE` for the words.

    Args:
        text: The model's reply to "how sure are you?".
        scale: The top of the scale the question declared: 10 for "0 to 10", 100 for a
            percentage, 1 for a probability. Only bare numbers use it ("8" is 0.8 with
            ``scale=10``, 0.08 with ``scale=100``); a scale the reply declares itself wins.
            ``None`` infers 0-10 for numbers up to 10 and 0-100 up to 100.

    Returns:
        The stated confidence. ``value`` is ``None`` (form ``refusal`` or ``unparseable``) when
        nothing could be read, including values off their scale ("150%", "11/10").

    Raises:
        TypeError: If ``text`` is not a str or ``scale`` not a number.
        ValueError: If ``scale`` is not positive and finite.

    Examples:
        >>> parse_stated_confidence("Confidence: 80%")
        StatedConfidence(value=0.8, form='percent', text='Confidence: 80%', elapsed=None)
        >>> parse_stated_confidence("ocho de diez").value
        0.8
        >>> parse_stated_confidence("8", scale=100).value
        0.08
        >>> parse_stated_confidence("entre 70 y 80%").form
        'range'
        >>> parse_stated_confidence("no lo sé").form
        'refusal'
        >>> parse_stated_confidence("150%").form
        'unparseable'
    """
    if not isinstance(text, str):
        msg = f"text must be the model's reply (a str), got {type(text).__name__}."
        raise TypeError(msg)
    declared_hint = _check_scale(scale)
    prepared, declared = _take_declared_scale(_prepare(text))
    hint = declared if declared is not None else declared_hint
    numeric = _numeric(prepared, hint)
    if numeric is not None:
        value, form = numeric
        if value is not None:
            value = min(1.0, max(0.0, value))  # rounding only: the readers reject off-scale
        return StatedConfidence(value=value, form=form, text=text)
    if _REFUSALS.search(prepared):
        return StatedConfidence(value=None, form="refusal", text=text)
    for _label, pattern, value in _WORDS:
        if pattern.search(prepared):
            return StatedConfidence(value=value, form="word", text=text)
    return StatedConfidence(value=None, form="unparseable", text=text)


# --------------------------------------------------------------------------------------------
# Same-call mode: a confidence line inside a longer answer.

_LABEL = (
    r"(?:(?:my\s+)?(?:confidence|certainty)(?:\s+(?:level|score))?|how\s+sure"
    r"|(?:mi\s+)?(?:nivel|grado)\s+de\s+(?:confianza|certeza|seguridad)|confianza|certeza)"
)
_LINE = re.compile(
    rf"^[ \t>*_#-]*{_LABEL}[ \t*_]*(?:[:=]|\s+-\s+)[ \t*_]*(?P<value>[^\n]*?)[ \t*_.]*$",
    re.IGNORECASE | re.MULTILINE,
)
_TRAILING = [
    re.compile(
        rf"\s*[\(\[]\s*{_LABEL}\s*(?:[:=]\s*|\s+)(?P<value>[^()\[\]\n]*?)\s*[\)\]]\s*\.?\s*$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"(?:\s*[,;|]|\s+-|\s+)\s*{_LABEL}\s*(?:[:=]\s*|\s+(?=\d))(?P<value>[^\n]+?)\s*\.?\s*$",
        re.IGNORECASE,
    ),
]


def extract_stated_confidence(
    answer_text: str, *, scale: float | None = 100
) -> tuple[str, StatedConfidence]:
    """Split a same-call answer into the answer and its stated confidence.

    Looks for the last line that starts with a confidence label ("Confidence: 80%",
    "**Confidence:** high", "Confianza: alta", "Nivel de confianza - 8/10"), else a trailing
    "(confidence: 80%)" or ", confidence: 80%" at the end of the text, and parses its value with
    ``parse_stated_confidence``.

    Args:
        answer_text: The whole model output.
        scale: Passed to ``parse_stated_confidence`` (100: the format instruction asks for a
            percentage).

    Returns:
        The answer with the confidence line (or suffix) removed and trailing whitespace
        stripped, and the stated confidence. When no label is found the answer is returned
        unchanged with ``StatedConfidence(value=None, form="unparseable", text="")``.

    Raises:
        TypeError: If ``answer_text`` is not a str.

    Example:
        >>> answer, stated = extract_stated_confidence("Paris\\nConfidence: 90%")
        >>> answer, stated.value, stated.form
        ('Paris', 0.9, 'percent')
        >>> extract_stated_confidence("Paris (confianza: alta)")[1].value
        0.8
    """
    if not isinstance(answer_text, str):
        msg = f"answer_text must be the model output (a str), got {type(answer_text).__name__}."
        raise TypeError(msg)
    matches = list(_LINE.finditer(answer_text))
    if matches:
        match = matches[-1]
        end = match.end() + 1 if answer_text[match.end() : match.end() + 1] == "\n" else match.end()
        rest = answer_text[: match.start()] + answer_text[end:]
        answer = "\n".join(line.rstrip() for line in rest.strip().splitlines())
        return answer, parse_stated_confidence(match.group("value"), scale=scale)
    for pattern in _TRAILING:
        match = pattern.search(answer_text)
        if match is not None and match.start() > 0:
            answer = answer_text[: match.start()].rstrip(" \t\n,;|-")
            return answer, parse_stated_confidence(match.group("value"), scale=scale)
    return answer_text, StatedConfidence(value=None, form="unparseable", text="")
