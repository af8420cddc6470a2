"""Text folding shared by the parsers: lower case, no accents, plain dashes and apostrophes."""

from __future__ import annotations

import unicodedata

_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark (the usual "don't" apostrophe)
        "\u02bc": "'",  # modifier letter apostrophe
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus sign
        "\uff05": "%",  # fullwidth percent sign
        "\u00a0": " ",  # no-break space
        "\u202f": " ",  # narrow no-break space
    }
)


def _fold_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.translate(_PUNCTUATION))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fold(text: str) -> str:
    """``text`` lower-cased, without accents, with typographic dashes and quotes made plain.

    Example:
        >>> fold("No estoy SEGURO \u2013 quiz\u00e1s")
        'no estoy seguro - quizas'
    """
    return "".join(_fold_char(c) for c in text)


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """``fold(text)`` and, for each folded character, the index of its source character.

    Folding may change the length (``"\ufb01"`` becomes ``"fi"``), so spans found in the folded
    text are mapped back through this list to slice the original.

    Example:
        >>> fold_with_map("S\u00ed")
        ('si', [0, 1])
    """
    folded: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        piece = _fold_char(char)
        folded.append(piece)
        index.extend([i] * len(piece))
    return "".join(folded), index


def original_span(text: str, index: list[int], start: int, end: int) -> str:
    """The slice of ``text`` that folded to ``folded[start:end]`` (see ``fold_with_map``)."""
    if start >= end:
        return ""
    return text[index[start] : index[end - 1] + 1]
