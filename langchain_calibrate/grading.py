"""Automatic grading of short answers against a reference (HaluEval's ``right_answer``).

The grader defines the correct/incorrect labels a calibrator is fit on, so its rule is stated
plainly here. :func:`is_correct` compares the *normalised* prediction and reference:

1. Empty prediction (after normalisation) -> **incorrect**.
2. **Yes/no reference** (normalises to ``"yes"`` or ``"no"``): the prediction's polarity is its
   first word if that is ``yes``/``no``; otherwise it is the one of ``yes``/``no`` that occurs
   as a word in it if exactly one does; otherwise it has none. Correct **iff** that polarity equals
   the reference. Rules 3-9 are not applied ("Both are American." has no polarity -> incorrect).
3. **Exact match** of the normalised strings -> correct.
4. **Negation guard**: if the prediction contains a negation word (``not``, ``no``, ``never``,
   ``neither``, ``nor``, ``none``, ``nothing``) that the reference lacks -> **incorrect**
   ("Not Delhi" is wrong for "Delhi").
5. **Contained span**: the reference's tokens occur as a contiguous whole-word run inside the
   prediction and the prediction has at most ``max(len(ref) + 6, 3 * len(ref))`` tokens ->
   correct. So "The head office is in Delhi." is right for "Delhi", but a rambling answer that
   happens to mention Delhi somewhere is not.
6. **Leading answer**: the prediction *starts* with the reference's tokens -> correct, whatever
   follows ("78.5 mi long, with its headwaters in..." for "78.5 mi"; "Muhammad (Arabic: ...)"
   for "Muhammad"). The model stated the answer first, then kept talking. A name may carry up to
   :data:`MAX_INSERTED_NAME_TOKENS` middle names or initials inside it: when the reference has
   at least two tokens, the prediction starts with its first token, and its tokens appear in
   order with at most two other tokens between them (none of them "and"/"or"/"nor"/"but", which
   would list a second answer), that is the same leading answer
   ("Stuart Fergusson Victor Sutcliffe (23 June 1940...)" and "Denis Hale Johnson" for "Stuart
   Sutcliffe" and "Denis Johnson"; "Richard M. Nixon" for "Richard Nixon").
7. **Shorter form of the reference**: the prediction's tokens are the reference's last tokens
   (English noun phrases end in their head: a surname, the noun) and cover at least half of it
   -> correct ("Claudius" for "King Claudius", "Mickey Arthur" for "coached by Mickey Arthur";
   not "1963" for "November 20, 1963", not "Lee" for "Lee Seung-hyun", not "Celtic" for
   "Celtic tribe").
8. **Country and nationality**: a country and its demonym are the same answer ("United States"
   for "American", "South Korea" for "South Korean"; a small table, :data:`DEMONYMS`). Different
   nations stay different ("British" is not "English").
9. **Near-complete subset**: token F1 (SQuAD bag-of-tokens F1 over normalised tokens)
   ``>= 0.8`` **and** every prediction token occurs in the reference (precision 1, counting
   repeats; together: the prediction covers at least 2/3 of the reference's tokens and adds
   nothing) -> correct. This accepts "Richard Nixon" for "President Richard Nixon" (F1 0.8) and
   rejects the partial "Nixon" (F1 0.5). Requiring precision 1 rejects substitutions that plain F1
   would pass: "Thomas Talbot, 21st Earl of Arundel" for "Thomas Howard, 21st Earl of Arundel"
   has F1 0.83 but names the wrong person.
10. Otherwise incorrect.

Normalisation (:func:`normalize_answer`) is SQuAD's (lowercase, delete punctuation, drop the
articles a/an/the, collapse whitespace) with three additions: Unicode punctuation (en dashes,
curly quotes...) is deleted too, accents are stripped ("Beyoncé" == "Beyonce"), and the number
words zero..twenty become digits ("three" == "3"). Deleting punctuation joins its neighbours, the
same way on both sides: "1,000" == "1000", "U.S." == "us", "Jay-Z" == "jayz".

Known limits, deliberately left in: a short hedge listing several candidates ("Delhi or Mumbai")
passes rule 5; synonyms, paraphrases, aliases and unit conversions are not recognised (beyond
the country names of rule 8); the negation guard also rejects harmless uses of "no"/"not" ("No
doubt, it is Delhi."); a bare number for a counted reference fails ("18" for "18 languages").

On HaluEval QA rows 0-4999 every ``right_answer`` grades correct against itself, and 257 of the
5,000 ``hallucinated_answer`` strings grade correct, almost all because they contain the right
entity inside a sentence with a false claim ("Park Dietz was a psychologist." for "Park Dietz"):
this grader checks the asked-for answer, not every claim.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

__all__ = [
    "CONTAIN_MAX_EXTRA_TOKENS",
    "CONTAIN_MAX_RATIO",
    "DEMONYMS",
    "F1_THRESHOLD",
    "MAX_INSERTED_NAME_TOKENS",
    "SHORTER_FORM_MIN_COVERAGE",
    "is_correct",
    "normalize_answer",
    "token_f1",
    "yes_no_polarity",
]

F1_THRESHOLD = 0.8
"""Minimum token F1 for rule 9 (which also requires precision 1)."""

SHORTER_FORM_MIN_COVERAGE = 0.5
"""Rule 7: a prediction inside the reference must cover at least this share of its tokens."""

DEMONYMS: dict[str, tuple[str, ...]] = {
    "american": ("united states", "us", "usa", "united states of america", "america"),
    "british": ("united kingdom", "uk", "britain", "great britain"),
    "english": ("england",),
    "scottish": ("scotland",),
    "welsh": ("wales",),
    "irish": ("ireland", "republic of ireland"),
    "french": ("france",),
    "german": ("germany",),
    "italian": ("italy",),
    "spanish": ("spain",),
    "portuguese": ("portugal",),
    "dutch": ("netherlands", "holland"),
    "belgian": ("belgium",),
    "swiss": ("switzerland",),
    "austrian": ("austria",),
    "swedish": ("sweden",),
    "norwegian": ("norway",),
    "danish": ("denmark",),
    "finnish": ("finland",),
    "polish": ("poland",),
    "russian": ("russia",),
    "greek": ("greece",),
    "turkish": ("turkey",),
    "canadian": ("canada",),
    "mexican": ("mexico",),
    "brazilian": ("brazil",),
    "argentine": ("argentina",),
    "australian": ("australia",),
    "japanese": ("japan",),
    "chinese": ("china", "peoples republic of china", "prc"),
    "indian": ("india",),
    "pakistani": ("pakistan",),
    "south korean": ("south korea",),
    "filipino": ("philippines",),
    "egyptian": ("egypt",),
    "israeli": ("israel",),
}
"""Rule 8: a demonym and the names of its country (normalised forms)."""

_NATION_OF = {form: key for key, forms in DEMONYMS.items() for form in (key, *forms)}

MAX_INSERTED_NAME_TOKENS = 2
"""Rule 6: middle names or initials a leading answer may carry inside the reference's name."""

CONTAIN_MAX_EXTRA_TOKENS = 6
CONTAIN_MAX_RATIO = 3
"""Rule 5 allows a prediction of up to ``max(len(ref) + 6, 3 * len(ref))`` tokens."""

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "none", "nothing"})
_POLAR = frozenset({"yes", "no"})
_CONJUNCTIONS = frozenset({"and", "or", "nor", "but"})


def _is_punct(ch: str) -> bool:
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """Normalise an answer for comparison (SQuAD-style, see the module docstring).

    Args:
        text: Any answer text.

    Returns:
        Lowercase, accent-free text without punctuation or articles, number words zero..twenty as
        digits, single spaces.

    Example:
        >>> normalize_answer("The Beyoncé Show, Vol. Three!")
        'beyonce show vol 3'
    """
    decomposed = unicodedata.normalize("NFKD", text.lower())
    no_accents = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    no_punct = "".join(ch for ch in no_accents if not _is_punct(ch))
    no_articles = _ARTICLES.sub(" ", no_punct)
    return " ".join(_NUMBER_WORDS.get(tok, tok) for tok in no_articles.split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token-level F1 between normalised prediction and reference.

    Args:
        prediction: Predicted answer.
        reference: Reference answer.

    Returns:
        Harmonic mean of token precision and recall (multiset overlap), in [0, 1]. Two empty
        answers score 1.0; one empty answer scores 0.0.

    Example:
        >>> token_f1("Richard Nixon", "President Richard Nixon")
        0.8
    """
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    overlap = sum((Counter(pred) & Counter(ref)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred)
    recall = overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def yes_no_polarity(text: str) -> str | None:
    """Polarity of an answer to a yes/no question (rule 2 of the module docstring).

    Args:
        text: The answer.

    Returns:
        ``"yes"``, ``"no"`` or ``None`` when the answer takes no clear side.

    Example:
        >>> yes_no_polarity("No, Delhi is not in Nepal."), yes_no_polarity("Both are.")
        ('no', None)
    """
    tokens = normalize_answer(text).split()
    if not tokens:
        return None
    if tokens[0] in _POLAR:
        return tokens[0]
    present = _POLAR.intersection(tokens)
    return next(iter(present)) if len(present) == 1 else None


def _leads_with(pred: list[str], ref: list[str]) -> bool:
    """Rule 6: ``pred`` starts with ``ref``, allowing a few tokens inserted inside a name."""
    if pred[: len(ref)] == ref:
        return True
    if len(ref) < 2 or pred[0] != ref[0]:
        return False
    inserted, i = 0, 1
    for token in ref[1:]:
        while i < len(pred) and pred[i] != token:
            if pred[i] in _CONJUNCTIONS:  # "Western and Eastern Conference" lists two answers
                return False
            inserted, i = inserted + 1, i + 1
        if i == len(pred) or inserted > MAX_INSERTED_NAME_TOKENS:
            return False
        i += 1
    return True


def _contains_span(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def is_correct(prediction: str, reference: str) -> bool:
    """Grade a short answer against a reference (rules 1-10 of the module docstring).

    Args:
        prediction: The model's answer.
        reference: The reference answer (HaluEval ``right_answer``).

    Returns:
        ``True`` if judged correct.

    Raises:
        ValueError: The reference is empty after normalisation (nothing to grade against).

    Example:
        >>> is_correct("The head office is in Delhi.", "Delhi")
        True
        >>> is_correct("Yes, both are.", "no")
        False
    """
    ref = normalize_answer(reference).split()
    if not ref:
        msg = f"Reference answer {reference!r} is empty after normalisation; cannot grade it."
        raise ValueError(msg)
    pred = normalize_answer(prediction).split()
    if not pred:
        return False
    if len(ref) == 1 and ref[0] in _POLAR:
        return yes_no_polarity(prediction) == ref[0]
    if pred == ref:
        return True
    if (_NEGATIONS & set(pred)) - set(ref):
        return False
    max_len = max(len(ref) + CONTAIN_MAX_EXTRA_TOKENS, CONTAIN_MAX_RATIO * len(ref))
    if len(pred) <= max_len and _contains_span(pred, ref):
        return True
    if _leads_with(pred, ref):
        return True
    if len(pred) >= SHORTER_FORM_MIN_COVERAGE * len(ref) and ref[-len(pred) :] == pred:
        return True
    nation = _NATION_OF.get(" ".join(ref))
    if nation is not None and _NATION_OF.get(" ".join(pred)) == nation:
        return True
    adds_tokens = bool(Counter(pred) - Counter(ref))
    return not adds_tokens and token_f1(prediction, reference) >= F1_THRESHOLD
