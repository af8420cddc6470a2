"""Stated-confidence parsing: a hand-worked table of replies, English and Spanish.

Every expected value below was worked out by hand from the rules in
``langchain_calibrate.opinions.stated`` (percent / 100, fraction num / den, a bare number over
its scale, a range's midpoint, a word from ``WORD_TABLE``), not copied from the parser's output.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from langchain_calibrate.opinions import (
    CONFIDENCE_FORMAT_INSTRUCTION,
    WORD_TABLE,
    StatedConfidence,
    extract_stated_confidence,
    parse_stated_confidence,
)

# (reply, scale hint, expected value, expected form)
TABLE: list[tuple[str, float | None, float | None, str]] = [
    # --- percent -----------------------------------------------------------------------------
    ("80%", None, 0.80, "percent"),
    ("80 %", None, 0.80, "percent"),
    ("80 percent", None, 0.80, "percent"),
    ("80 per cent", None, 0.80, "percent"),
    ("80 por ciento", None, 0.80, "percent"),
    ("Confidence: 95%", None, 0.95, "percent"),
    ("Estoy 90% seguro", None, 0.90, "percent"),
    ("I'm about 65% sure.", None, 0.65, "percent"),
    ("100%", None, 1.00, "percent"),
    ("0%", None, 0.00, "percent"),
    ("72.5%", None, 0.725, "percent"),
    ("72,5 %", None, 0.725, "percent"),  # Spanish decimal comma
    ("Confianza: 85 %", 10, 0.85, "percent"),  # "%" beats the 0-10 hint
    ("ninety percent", None, 0.90, "percent"),
    ("noventa por ciento", None, 0.90, "percent"),
    ("ninety-five percent", None, 0.95, "percent"),
    ("setenta y cinco por ciento", None, 0.75, "percent"),
    ("a hundred percent", None, 1.00, "percent"),
    ("cien por cien", None, 1.00, "percent"),
    ("Noventa Por Ciento", None, 0.90, "percent"),  # case
    # --- fraction ----------------------------------------------------------------------------
    ("8/10", None, 0.80, "fraction"),
    ("8 / 10", None, 0.80, "fraction"),
    ("8 out of 10", None, 0.80, "fraction"),
    ("8 de 10", None, 0.80, "fraction"),
    ("8 sobre 10", None, 0.80, "fraction"),
    ("eight out of ten", None, 0.80, "fraction"),
    ("ocho de diez", None, 0.80, "fraction"),
    ("nueve sobre diez", None, 0.90, "fraction"),
    ("one out of ten", None, 0.10, "fraction"),
    ("4/5", None, 0.80, "fraction"),
    ("3 of 4", None, 0.75, "fraction"),
    ("8.5/10", None, 0.85, "fraction"),
    ("7,5 sobre 10", None, 0.75, "fraction"),
    ("Confidence: 9/10", 100, 0.90, "fraction"),  # an explicit denominator beats the hint
    # --- bare number on a scale --------------------------------------------------------------
    ("8", 10, 0.80, "scale"),
    ("80", 100, 0.80, "scale"),
    ("8", 100, 0.08, "scale"),
    ("Confidence: 9", 10, 0.90, "scale"),
    ("10", 10, 1.00, "scale"),
    ("0", 10, 0.00, "scale"),
    ("7", None, 0.70, "scale"),  # no hint: up to 10 is read on 0-10
    ("85", None, 0.85, "scale"),  # no hint: up to 100 is read on 0-100
    ("On a scale of 0 to 10, I'd say 8", None, 0.80, "scale"),
    ("8 (on a scale from 1 to 10)", 100, 0.80, "scale"),  # the declared scale beats the hint
    ("En una escala del 0 al 10: 7", None, 0.70, "scale"),
    ("From 0 to 100, 65", None, 0.65, "scale"),
    # --- decimal -----------------------------------------------------------------------------
    ("0.8", None, 0.80, "decimal"),
    ("0,8", None, 0.80, "decimal"),
    (".8", None, 0.80, "decimal"),
    ("0.75", 10, 0.75, "decimal"),  # "0.x" is a probability whatever the scale
    ("1.0", None, 1.00, "decimal"),
    ("Probability: 0.35", None, 0.35, "decimal"),
    # --- range (midpoint) --------------------------------------------------------------------
    ("70-80%", None, 0.75, "range"),
    ("70% - 80%", None, 0.75, "range"),
    ("70\u201380%", None, 0.75, "range"),  # en dash
    ("70 to 80 percent", None, 0.75, "range"),
    ("between 7 and 8", None, 0.75, "range"),
    ("between 7 and 8", 100, 0.075, "range"),  # bare endpoints use the hint
    ("between 70% and 80%", None, 0.75, "range"),
    ("entre 70 y 80%", None, 0.75, "range"),
    ("entre el 60 y el 70 por ciento", None, 0.65, "range"),
    ("entre siete y ocho sobre diez", None, 0.75, "range"),
    ("7-8/10", None, 0.75, "range"),
    ("de 7 a 8 sobre 10", None, 0.75, "range"),
    ("8 or 9 out of 10", None, 0.85, "range"),
    ("0.6-0.7", None, 0.65, "range"),
    # --- words -------------------------------------------------------------------------------
    ("very confident", None, 0.90, "word"),
    ("highly confident", None, 0.90, "word"),
    ("certain", None, 0.95, "word"),
    ("completely sure", None, 0.95, "word"),
    ("fairly confident", None, 0.70, "word"),
    ("somewhat", None, 0.60, "word"),
    ("not sure", None, 0.30, "word"),
    ("unsure", None, 0.30, "word"),
    ("low", None, 0.20, "word"),
    ("medium", None, 0.50, "word"),
    ("high", None, 0.80, "word"),
    ("muy seguro", None, 0.90, "word"),
    ("bastante seguro", None, 0.70, "word"),
    ("seguro", None, 0.80, "word"),
    ("poco seguro", None, 0.30, "word"),
    ("no estoy seguro", None, 0.30, "word"),
    ("alta", None, 0.80, "word"),
    ("media", None, 0.50, "word"),
    ("baja", None, 0.20, "word"),
    ("Confidence: High", None, 0.80, "word"),
    ("Nivel de confianza: MUY ALTA", None, 0.90, "word"),
    ("I'm not very confident", None, 0.30, "word"),
    ("not completely sure", None, 0.70, "word"),
    ("I'm not 100% sure", None, 0.70, "word"),  # not read as 100%
    ("no estoy del todo segura", None, 0.70, "word"),
    ("not at all sure", None, 0.10, "word"),
    ("nada seguro", None, 0.10, "word"),
    ("almost certain", None, 0.90, "word"),
    ("Sin duda", None, 0.95, "word"),
    ("Segur\u00edsimo", None, 0.95, "word"),  # accent
    ("probably", None, 0.70, "word"),
    ("probablemente", None, 0.70, "word"),
    ("fifty-fifty", None, 0.50, "word"),
    ("50/50", None, 0.50, "word"),  # an idiom, not 50 over 50
    ("just a guess", None, 0.20, "word"),
    ("very low", None, 0.10, "word"),
    ("muy baja", None, 0.10, "word"),
    ("I'm pretty sure", None, 0.70, "word"),
    ("Confident.", None, 0.80, "word"),
    ("moderadamente seguro", None, 0.60, "word"),
    ("dudoso", None, 0.30, "word"),
    ("uncertain", None, 0.30, "word"),  # not "certain"
    # --- refusals ----------------------------------------------------------------------------
    ("I don't know", None, None, "refusal"),
    ("I don\u2019t know.", None, None, "refusal"),  # typographic apostrophe
    ("I do not know.", None, None, "refusal"),
    ("I cannot say", None, None, "refusal"),
    ("I can't tell.", None, None, "refusal"),
    ("N/A", None, None, "refusal"),
    ("n/a", None, None, "refusal"),
    ("No lo s\u00e9", None, None, "refusal"),
    ("no lo se", None, None, "refusal"),
    ("No puedo decirlo", None, None, "refusal"),
    ("no sabr\u00eda decir", None, None, "refusal"),
    ("Ni idea", None, None, "refusal"),
    ("No idea.", None, None, "refusal"),
    ("Unknown", None, None, "refusal"),
    ("I'm unable to estimate that.", None, None, "refusal"),
    ("I can't give a number from 0 to 10", None, None, "refusal"),  # the scale is not a range
    # --- unparseable (never a zero) ----------------------------------------------------------
    ("asdf qwerty", None, None, "unparseable"),
    ("", None, None, "unparseable"),
    ("The answer is Paris.", None, None, "unparseable"),
    ("Yes", None, None, "unparseable"),
    ("Confidence:", None, None, "unparseable"),
    ("150%", None, None, "unparseable"),  # out of range: not clipped to 1.0
    ("11/10", None, None, "unparseable"),
    ("12", 10, None, "unparseable"),
    ("80", 10, None, "unparseable"),  # 80 on a declared 0-10 scale is off the scale
    ("1,000%", None, None, "unparseable"),  # a thousands separator, not 1.0%
    ("-5%", None, None, "unparseable"),
    ("0-10", None, None, "unparseable"),  # a scale alone says nothing
    ("2023", None, None, "unparseable"),
    ("200 out of 100", None, None, "unparseable"),
    ("9/0", None, None, "unparseable"),
]


def test_table_is_large_and_covers_every_form() -> None:
    assert len(TABLE) >= 60
    forms = {form for *_, form in TABLE}
    assert forms == {
        "percent",
        "fraction",
        "scale",
        "decimal",
        "word",
        "range",
        "refusal",
        "unparseable",
    }
    spanish = [t for t, *_ in TABLE if any(w in t.lower() for w in ("de", "sobre", "segur", "no "))]
    assert len(spanish) >= 15


@pytest.mark.parametrize(("reply", "scale", "value", "form"), TABLE)
def test_parse_table(reply: str, scale: float | None, value: float | None, form: str) -> None:
    stated = parse_stated_confidence(reply, scale=scale)
    assert stated.form == form, (reply, stated)
    if value is None:
        assert stated.value is None
        assert not stated.parsed
    else:
        assert stated.value == pytest.approx(value, abs=1e-12), (reply, stated)
        assert stated.parsed
    assert stated.text == reply
    assert stated.elapsed is None


def test_word_table_values_are_in_range_and_documented() -> None:
    for label, pattern, value in WORD_TABLE:
        assert 0.0 <= value <= 1.0, label
        assert pattern
    labels = [label for label, _, _ in WORD_TABLE]
    assert len(labels) == len(set(labels))


def test_stated_confidence_is_frozen_and_checked() -> None:
    stated = parse_stated_confidence("80%")
    with pytest.raises(ValidationError):
        stated.value = 0.1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        StatedConfidence(value=1.5, form="percent", text="150%")
    with pytest.raises(ValidationError):
        StatedConfidence(value=0.5, form="guess", text="?")  # type: ignore[arg-type]


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(TypeError, match="a str"):
        parse_stated_confidence(0.8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        parse_stated_confidence("8", scale=0)
    with pytest.raises(ValueError, match="positive"):
        parse_stated_confidence("8", scale=float("nan"))
    with pytest.raises(TypeError, match="scale"):
        parse_stated_confidence("8", scale="10")  # type: ignore[arg-type]


# (model output, expected answer, expected value, expected form)
EXTRACT: list[tuple[str, str, float | None, str]] = [
    ("Paris\nConfidence: 90%", "Paris", 0.90, "percent"),
    ("Paris\n\nConfidence: 9/10\n", "Paris", 0.90, "fraction"),
    ("**Answer:** Paris\n**Confidence:** high", "**Answer:** Paris", 0.80, "word"),
    ("Madrid\nConfianza: alta", "Madrid", 0.80, "word"),
    ("Madrid\nNivel de confianza: 70 por ciento", "Madrid", 0.70, "percent"),
    ("Paris (confidence: 80%)", "Paris", 0.80, "percent"),
    ("Paris. Confidence: 75%", "Paris.", 0.75, "percent"),
    ("Lima, confianza 60%", "Lima", 0.60, "percent"),
    ("Gustave Eiffel\nConfidence: I don't know", "Gustave Eiffel", None, "refusal"),
    ("Gustave Eiffel\nConfidence: banana", "Gustave Eiffel", None, "unparseable"),
    ("Line one\nConfidence: 20%\nLine two", "Line one\nLine two", 0.20, "percent"),
    ("Confidence: 50%\nParis\nConfidence: 85%", "Confidence: 50%\nParis", 0.85, "percent"),
    ("Confidence: 85", "", 0.85, "scale"),  # the default scale is 100
]


@pytest.mark.parametrize(("output", "answer", "value", "form"), EXTRACT)
def test_extract_stated_confidence(
    output: str, answer: str, value: float | None, form: str
) -> None:
    got_answer, stated = extract_stated_confidence(output)
    assert got_answer == answer
    assert stated.form == form
    assert stated.value == (pytest.approx(value) if value is not None else None)


def test_extract_without_a_line_returns_the_answer_unchanged() -> None:
    answer, stated = extract_stated_confidence("Paris is the capital of France.")
    assert answer == "Paris is the capital of France."
    assert stated == StatedConfidence(value=None, form="unparseable", text="")
    # A passing use of the word is not a confidence line.
    text = "He lost confidence in 1990."
    assert extract_stated_confidence(text) == (text, StatedConfidence())


def test_extract_scale_hint_and_errors() -> None:
    assert extract_stated_confidence("Paris\nConfidence: 8", scale=10)[1].value == 0.8
    with pytest.raises(TypeError, match="a str"):
        extract_stated_confidence(None)  # type: ignore[arg-type]


def test_format_instruction_round_trips() -> None:
    assert "Confidence: N%" in CONFIDENCE_FORMAT_INSTRUCTION
    _, stated = extract_stated_confidence("Paris\nConfidence: 42%")
    assert stated.value == pytest.approx(0.42)
