"""Hedging/assertiveness, the cross-check flags, and P(True) arithmetic from hand-built payloads.

The fake models here only hand back a logprob payload in a provider's shape (llama.cpp's hybrid
completions, legacy OpenAI completions, OpenAI chat); the expected P(True) is worked out by hand
from those logprobs. Two tests drive the real ``langchain_openai`` clients through an
``httpx.MockTransport`` so their own response parsing is exercised too.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult, Generation, LLMResult
from langchain_core.prompts import PromptTemplate
from pydantic import Field, ValidationError

from langchain_calibrate.logprobs import TokenLogprob, TopLogprob, normalize_logprobs
from langchain_calibrate.opinions import (
    ASSERTIVE_WITHOUT_EVIDENCE,
    CONFIDENCE_REFUSED,
    CONFIDENCE_UNPARSEABLE,
    OPINION_TAG,
    P_TRUE_UNAVAILABLE,
    PTRUE_PROMPT,
    VERBAL_LOGPROB_DISAGREEMENT,
    VERBAL_PROMPT,
    OpinionConfig,
    PTrueJudge,
    PTrueResult,
    StatedConfidence,
    VerbalConfidenceAsker,
    Wording,
    assertive_without_evidence,
    is_assertive,
    opinion_flags,
    p_true_from_logprobs,
    parse_stated_confidence,
    verbal_logprob_disagreement,
    wording_assertiveness,
)
from langchain_calibrate.signals import Signals

e = math.exp

# --------------------------------------------------------------------------------------------
# Wording.

# (text, hedges, absolutes, score)
WORDING: list[tuple[str, tuple[str, ...], tuple[str, ...], float]] = [
    ("Paris", (), (), 0.0),
    ("Gustave Eiffel designed it.", (), (), 0.0),
    ("It is probably Paris.", ("probably",), (), -1.0),
    ("I think it was 1889.", ("I think",), (), -1.0),
    ("Maybe Lyon, perhaps Paris.", ("Maybe", "perhaps"), (), -1.0),
    ("I'm not sure.", ("not sure",), (), -1.0),
    ("It is definitely Paris.", (), ("definitely",), 1.0),
    ("Without a doubt, 1889.", (), ("Without a doubt",), 1.0),
    ("Definitely Paris, no doubt.", (), ("Definitely", "no doubt"), 1.0),
    ("I'm absolutely sure: 1889.", (), ("I'm absolutely sure",), 1.0),
    ("It is probably Paris, but I am not certain.", ("probably", "not certain"), (), -1.0),
    ("It is not definitely Paris.", ("not definitely",), (), -1.0),  # negated absolute
    ("It isn't clearly stated.", ("isn't clearly",), (), -1.0),
    ("I'm not 100% sure it's Paris.", ("not 100%",), (), -1.0),
    ("I think it was 1889, I'm sure.", ("I think",), ("I'm sure",), 0.0),
    ("Clearly and obviously Paris, maybe.", ("maybe",), ("Clearly", "obviously"), 1 / 3),
    ("DEFINITELY PARIS", (), ("DEFINITELY",), 1.0),  # case-insensitive
    ("Maybelline is a brand.", (), (), 0.0),  # word boundaries
    ("I don't know definitely.", ("I don't know",), (), -1.0),  # one negation, counted once
    ("Not clearly, maybe definitely.", ("Not clearly", "maybe"), ("definitely",), -1 / 3),
    # Spanish
    ("Tal vez sea Lima.", ("Tal vez",), (), -1.0),
    ("Probablemente es Lima.", ("Probablemente",), (), -1.0),
    ("No estoy seguro, pero creo que es Lima.", ("No estoy seguro", "creo que"), (), -1.0),
    ("QUIZÁS sea Roma.", ("QUIZÁS",), (), -1.0),  # accent- and case-insensitive
    ("Quizas sea Roma.", ("Quizas",), (), -1.0),
    ("Seguramente es Lima.", ("Seguramente",), (), -1.0),  # "most likely", a hedge
    ("Sin duda, es Madrid.", (), ("Sin duda",), 1.0),
    ("Es obviamente Roma, por supuesto.", (), ("obviamente", "por supuesto"), 1.0),
    ("No es seguro que sea Madrid.", ("No es seguro",), (), -1.0),
    ("Estoy completamente segura: Madrid.", (), ("Estoy completamente segura",), 1.0),
    ("Tal vez sea Lima; definitivamente no es Quito.", ("Tal vez",), ("definitivamente",), 0.0),
]


@pytest.mark.parametrize(("text", "hedges", "absolutes", "score"), WORDING)
def test_wording_table(
    text: str, hedges: tuple[str, ...], absolutes: tuple[str, ...], score: float
) -> None:
    wording = wording_assertiveness(text)
    assert wording.hedges == hedges
    assert wording.absolutes == absolutes
    assert wording.score == pytest.approx(score)
    assert -1.0 <= wording.score <= 1.0


def test_wording_reuses_the_signals_hedge_list() -> None:
    from langchain_calibrate.signals import _HEDGES

    # Every hedge the flat_distribution flag knows is a hedge here too.
    for phrase in ("maybe", "i believe", "might", "posiblemente", "no sé", "could be"):
        assert _HEDGES.search(phrase)
        assert wording_assertiveness(f"It {phrase} Paris").hedges, phrase


def test_wording_on_long_hostile_text_is_linear_enough() -> None:
    text = "not sure, definitely, no es seguro que, sin duda " * 2000
    wording = wording_assertiveness(text)
    assert len(wording.hedges) == 4000 and len(wording.absolutes) == 4000
    assert wording.score == 0.0


def test_wording_declarative_and_errors() -> None:
    assert wording_assertiveness("Paris.").declarative
    assert not wording_assertiveness("Paris?").declarative
    assert not wording_assertiveness("   ").declarative
    assert not wording_assertiveness("").declarative
    with pytest.raises(TypeError, match="a str"):
        wording_assertiveness(None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Wording(score=2.0)


# --------------------------------------------------------------------------------------------
# Cross-check flags on hand-chosen signals.


@pytest.mark.parametrize(
    ("stated", "sequence_prob", "entropy", "expected"),
    [
        (0.95, 0.30, None, True),  # very sure, low sequence probability
        (0.90, 0.80, 1.50, True),  # very sure, flat distribution (entropy > 1.0)
        (0.90, 0.49, 0.20, True),  # just under the 0.5 sequence-probability threshold
        (0.95, 0.50, 1.00, False),  # exactly at both thresholds: neither is crossed
        (0.95, 0.90, 0.20, False),  # logprobs agree
        (0.80, 0.10, 2.00, False),  # stated below 0.9: no claim of high confidence
        (0.95, None, None, False),  # no logprobs is not "low" (no_logprobs speaks)
        (None, 0.10, 2.00, False),  # nothing stated
        (parse_stated_confidence("very confident"), 0.2, None, True),  # 0.9 from a word
        (parse_stated_confidence("I don't know"), 0.2, None, False),  # a refusal
        (parse_stated_confidence("banana"), 0.2, None, False),  # unparseable
    ],
)
def test_verbal_logprob_disagreement(
    stated: Any, sequence_prob: float | None, entropy: float | None, expected: bool
) -> None:
    assert verbal_logprob_disagreement(stated, sequence_prob, entropy) is expected


def test_verbal_disagreement_config_and_errors() -> None:
    strict = OpinionConfig(high_stated=0.7, low_sequence_prob=0.8)
    assert verbal_logprob_disagreement(0.75, 0.7, None, strict)
    assert not verbal_logprob_disagreement(0.75, 0.7, None)
    with pytest.raises(TypeError, match="StatedConfidence"):
        verbal_logprob_disagreement("90%", 0.1, None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        OpinionConfig(high_stated=1.5)
    with pytest.raises(ValidationError):
        OpinionConfig().high_stated = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("answer", "support", "relevance", "expected"),
    [
        ("Gustave Eiffel", 0.10, 0.90, True),  # plain claim, weak support
        ("Gustave Eiffel", 0.90, 0.60, True),  # plain claim, weak relevance
        ("Definitely 1889.", 0.30, None, True),
        ("Gustave Eiffel", 0.90, 0.90, False),  # well supported
        ("Probably Gustave Eiffel", 0.10, 0.30, False),  # hedged
        ("No estoy seguro, quizás 1889.", 0.0, 0.0, False),  # hedged (Spanish)
        ("Gustave Eiffel?", 0.10, 0.30, False),  # a question is not a claim
        ("", 0.0, 0.0, False),  # nothing asserted
        ("Gustave Eiffel", None, None, False),  # unknown evidence is not weak
        ("Gustave Eiffel", 0.50, 0.75, False),  # exactly at the thresholds
    ],
)
def test_assertive_without_evidence(
    answer: str, support: float | None, relevance: float | None, expected: bool
) -> None:
    wording = wording_assertiveness(answer)
    assert assertive_without_evidence(wording, support, relevance) is expected


def test_assertive_strict_reading_needs_a_marker() -> None:
    strict = OpinionConfig(require_absolute_marker=True)
    assert not is_assertive(wording_assertiveness("Gustave Eiffel"), strict)
    assert is_assertive(wording_assertiveness("Definitely Gustave Eiffel"), strict)
    assert not is_assertive(wording_assertiveness("Definitely, maybe Eiffel"), strict)
    assert not assertive_without_evidence(wording_assertiveness("Eiffel"), 0.0, 0.0, strict)
    assert assertive_without_evidence(wording_assertiveness("Sin duda Eiffel"), 0.0, 0.0, strict)


def test_opinion_flags_in_order() -> None:
    weak = Signals(sequence_prob=0.2, mean_entropy=1.4, lexical_support=0.1, max_relevance=0.9)
    flags = opinion_flags(
        weak,
        wording_assertiveness("Gustave Eiffel"),
        stated=parse_stated_confidence("95%"),
        p_true=PTrueResult(p_true=None, reason="no yes/no token"),
    )
    assert flags == [P_TRUE_UNAVAILABLE, VERBAL_LOGPROB_DISAGREEMENT, ASSERTIVE_WITHOUT_EVIDENCE]
    # semantic support counts as support, as in compute_flags (the best of the two).
    strong = Signals(sequence_prob=0.9, lexical_support=0.1, semantic_support=0.8)
    assert opinion_flags(strong, wording_assertiveness("Eiffel")) == []
    assert opinion_flags(strong, stated=parse_stated_confidence("banana")) == [
        CONFIDENCE_UNPARSEABLE
    ]
    assert opinion_flags(strong, stated=parse_stated_confidence("no lo sé")) == [CONFIDENCE_REFUSED]
    # No logprobs at all: the disagreement check stays silent.
    assert opinion_flags(Signals(), stated=parse_stated_confidence("99%")) == []


# --------------------------------------------------------------------------------------------
# P(True) arithmetic from hand-built payloads.


def _llamacpp_entry(token: str, logprob: float, top: list[tuple[str, float]]) -> dict[str, Any]:
    """One llama.cpp /v1/completions ``content`` entry (ids and bytes as the server sends)."""
    return {
        "id": 1,
        "token": token,
        "bytes": list(token.encode()),
        "logprob": logprob,
        "top_logprobs": [
            {"id": i, "token": t, "bytes": list(t.encode()), "logprob": lp}
            for i, (t, lp) in enumerate(top)
        ],
    }


def llamacpp_payload(token: str, logprob: float, top: list[tuple[str, float]]) -> dict[str, Any]:
    """llama.cpp's hybrid completions logprobs: ``content`` beside null legacy keys."""
    return {
        "content": [_llamacpp_entry(token, logprob, top)],
        "tokens": None,
        "token_logprobs": None,
        "top_logprobs": None,
        "text_offset": None,
    }


def chat_payload(entries: list[tuple[str, float, list[tuple[str, float]]]]) -> dict[str, Any]:
    """OpenAI chat logprobs: ``{"content": [entry, ...], "refusal": None}``."""
    return {
        "content": [
            {
                "token": tok,
                "bytes": None,
                "logprob": lp,
                "top_logprobs": [{"token": t, "bytes": None, "logprob": x} for t, x in top],
            }
            for tok, lp, top in entries
        ],
        "refusal": None,
    }


LLAMACPP = llamacpp_payload(
    " yes", -0.5, [(" yes", -0.5), (" no", -1.2), (" Yes", -2.0), (" maybe", -3.0)]
)
LEGACY = {
    "tokens": [" No"],
    "token_logprobs": [-0.3],
    "top_logprobs": [{" No": -0.3, " Yes": -1.5, " no": -2.5, " I": -3.0}],
    "text_offset": [0],
}
CHAT = chat_payload([("Yes", -0.1, [("Yes", -0.1), ("No", -2.4), ("Maybe", -3.5), ("yes", -4.0)])])
SPANISH = chat_payload(
    [
        (
            "Sí",
            -0.7,
            [("Sí", -0.7), ("No", -1.0), (" si", -3.0), ("Falso", -4.0), ("Verdadero", -5.0)],
        )
    ]
)
LEADING_NEWLINE = chat_payload(
    [("\n", -0.01, [("\n", -0.01), (" ", -5.0)]), ("No", -0.2, [("No", -0.2), ("Yes", -1.8)])]
)

# (payload, p_yes, p_no, p_true) worked by hand:
#   llama.cpp:  p_yes = e^-0.5 + e^-2.0 = 0.6065 + 0.1353 = 0.7419; p_no = e^-1.2 = 0.3012
#   legacy:     p_yes = e^-1.5 = 0.2231; p_no = e^-0.3 + e^-2.5 = 0.7408 + 0.0821 = 0.8229
#   chat:       p_yes = e^-0.1 + e^-4.0 = 0.9048 + 0.0183 = 0.9232; p_no = e^-2.4 = 0.0907
#   Spanish:    p_yes = e^-0.7 + e^-3 + e^-5 = 0.4966 + 0.0498 + 0.0067 = 0.5531 (Sí, si,
#               Verdadero); p_no = e^-1 + e^-4 = 0.3679 + 0.0183 = 0.3862 (No, Falso)
#   newline:    the "\n" position is skipped; p_yes = e^-1.8 = 0.1653; p_no = e^-0.2 = 0.8187
PAYLOADS = [
    ("llamacpp", LLAMACPP, e(-0.5) + e(-2.0), e(-1.2), 0.7112),
    ("legacy", LEGACY, e(-1.5), e(-0.3) + e(-2.5), 0.2133),
    ("chat", CHAT, e(-0.1) + e(-4.0), e(-2.4), 0.9105),
    ("spanish", SPANISH, e(-0.7) + e(-3.0) + e(-5.0), e(-1.0) + e(-4.0), 0.5889),
    ("newline", LEADING_NEWLINE, e(-1.8), e(-0.2), 0.1680),
]


@pytest.mark.parametrize(("name", "payload", "p_yes", "p_no", "p_true"), PAYLOADS)
def test_p_true_from_payloads(
    name: str, payload: dict[str, Any], p_yes: float, p_no: float, p_true: float
) -> None:
    result = p_true_from_logprobs(normalize_logprobs(payload))
    assert result.p_yes == pytest.approx(p_yes, rel=1e-12)
    assert result.p_no == pytest.approx(p_no, rel=1e-12)
    assert result.p_true == pytest.approx(p_yes / (p_yes + p_no), rel=1e-12)
    assert result.p_true == pytest.approx(p_true, abs=5e-5)
    assert result.reason is None
    assert result.elapsed is None


def test_p_true_without_yes_or_no_is_none_not_half() -> None:
    tokens = normalize_logprobs(llamacpp_payload(" Paris", -0.2, [(" Paris", -0.2), (" The", -2)]))
    result = p_true_from_logprobs(tokens)
    assert result.p_true is None
    assert result.p_yes == 0.0
    assert result.p_no == 0.0
    assert result.token == " Paris"
    assert "no yes/no token" in (result.reason or "")
    assert [t for t, _ in result.alternatives] == [" Paris", " The"]


def test_p_true_one_sided_and_missing() -> None:
    one_sided = p_true_from_logprobs(
        normalize_logprobs(llamacpp_payload(" yes", -0.05, [(" yes", -0.05), (" Yes", -3.5)]))
    )
    assert one_sided.p_true == 1.0
    assert one_sided.p_no == 0.0
    assert one_sided.p_yes == pytest.approx(e(-0.05) + e(-3.5))
    assert "'no'" in (one_sided.reason or "")
    missing = p_true_from_logprobs(None, elapsed=0.25)
    assert missing.p_true is None and missing.p_yes is None and missing.p_no is None
    assert "no logprobs" in (missing.reason or "")
    assert missing.elapsed == 0.25


def test_p_true_counts_the_generated_token_when_it_is_not_listed() -> None:
    # p_yes = e^-0.4 (the generated token, missing from its own alternatives), p_no = e^-1.5.
    token = TokenLogprob(" yes", -0.4, (TopLogprob(" no", -1.5),))
    assert p_true_from_logprobs([token]).p_true == pytest.approx(
        e(-0.4) / (e(-0.4) + e(-1.5)), rel=1e-12
    )
    # Custom token sets.
    token = TokenLogprob(" A", -0.1, (TopLogprob(" A", -0.1), TopLogprob(" B", -2.0)))
    result = p_true_from_logprobs([token], yes_tokens=frozenset({"a"}), no_tokens=frozenset("b"))
    assert result.p_true == pytest.approx(e(-0.1) / (e(-0.1) + e(-2.0)))


# --------------------------------------------------------------------------------------------
# Judges through tiny fake models (they only supply a payload shape).


class PayloadLLM(BaseLLM):
    """A completions model that answers ``text`` with ``generation_info={"logprobs": payload}``."""

    text: str = " yes"
    payload: dict[str, Any] | None = None
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "payload-llm"

    def _generate(
        self, prompts: list[str], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> LLMResult:
        self.calls.append({"prompts": prompts, "stop": stop, **kw})
        info = {"logprobs": self.payload} if self.payload is not None else {}
        return LLMResult(generations=[[Generation(text=self.text, generation_info=info)]])


class PayloadChat(BaseChatModel):
    """A chat model that answers ``text`` with logprobs in ``generation_info`` (as ChatOpenAI)."""

    text: str = "Yes"
    payload: dict[str, Any] | None = None
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "payload-chat"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kw: Any,
    ) -> ChatResult:
        self.calls.append({"messages": messages, "stop": stop, **kw})
        info = {"logprobs": self.payload} if self.payload is not None else {}
        message = AIMessage(content=self.text)
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])


QUESTION = "Whose company designed the Eiffel Tower?"
CONTEXT = [Document(page_content="The Eiffel Tower was designed by the company of Gustave Eiffel.")]


def test_judge_completions_llamacpp_shape() -> None:
    llm = PayloadLLM(payload=LLAMACPP)
    result = PTrueJudge(llm).judge(QUESTION, CONTEXT, "Gustave Eiffel")
    assert result.p_true == pytest.approx(PAYLOADS[0][4], abs=5e-5)
    assert result.token == " yes"
    assert result.elapsed is not None and result.elapsed >= 0.0
    (call,) = llm.calls
    assert call["max_tokens"] == 1 and call["logprobs"] == 5
    prompt = call["prompts"][0]
    assert prompt.endswith(
        "Passage: The Eiffel Tower was designed by the company of Gustave Eiffel.\n"
        f"Question: {QUESTION}\nProposed answer: Gustave Eiffel\nCorrect:"
    )
    assert prompt.count("Correct: yes") == 2 and prompt.count("Correct: no") == 2


def test_judge_through_a_binding_and_legacy_shape() -> None:
    llm = PayloadLLM(payload=LEGACY)
    judge = PTrueJudge(llm.bind(stop=["\n"]), top_k=3)
    result = judge.invoke({"question": QUESTION, "context": "passage text", "answer": "Eiffel"})
    assert result.p_true == pytest.approx(PAYLOADS[1][4], abs=5e-5)
    assert llm.calls[0]["logprobs"] == 3 and llm.calls[0]["stop"] == ["\n"]


def test_judge_chat_shape() -> None:
    chat = PayloadChat(payload=CHAT)
    result = PTrueJudge(chat).judge(QUESTION, CONTEXT, "Gustave Eiffel")
    assert result.p_true == pytest.approx(PAYLOADS[2][4], abs=5e-5)
    call = chat.calls[0]
    assert call["logprobs"] is True and call["top_logprobs"] == 5 and call["max_tokens"] == 1


async def test_ajudge_and_batch() -> None:
    judge = PTrueJudge(PayloadChat(payload=SPANISH))
    result = await judge.ajudge(QUESTION, CONTEXT, "Gustave Eiffel")
    assert result.p_true == pytest.approx(PAYLOADS[3][4], abs=5e-5)
    inputs = [{"question": QUESTION, "context": CONTEXT, "answer": a} for a in ("A", "B")]
    assert [r.p_true for r in judge.batch(inputs)] == [result.p_true] * 2
    assert [r.p_true for r in await judge.abatch(inputs)] == [result.p_true] * 2


def test_judge_without_logprobs_flags_instead_of_guessing() -> None:
    result = PTrueJudge(PayloadLLM(payload=None)).judge(QUESTION, CONTEXT, "Eiffel")
    assert result.p_true is None
    assert "no logprobs" in (result.reason or "")
    assert result.elapsed is not None


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.llm_tags: list[list[str]] = []
        self.chains: list[str] = []

    def on_llm_start(self, serialized: Any, prompts: Any, **kwargs: Any) -> None:
        self.llm_tags.append(list(kwargs.get("tags") or []))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.llm_tags.append(list(kwargs.get("tags") or []))

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.chains.append(kwargs.get("name") or "")


def test_judge_and_asker_calls_are_traced_and_tagged() -> None:
    recorder = _Recorder()
    config = {"callbacks": [recorder], "tags": ["outer"]}
    PTrueJudge(PayloadLLM(payload=LLAMACPP)).judge(QUESTION, CONTEXT, "Eiffel", config=config)
    VerbalConfidenceAsker(PayloadChat(text="80%")).ask(QUESTION, CONTEXT, "Eiffel", config=config)
    assert recorder.chains == ["PTrueJudge", "VerbalConfidenceAsker"]
    assert all(OPINION_TAG in tags and "outer" in tags for tags in recorder.llm_tags)
    assert len(recorder.llm_tags) == 2


def test_verbal_asker_completions() -> None:
    llm = PayloadLLM(text=" 80%")
    stated = VerbalConfidenceAsker(llm).ask(QUESTION, CONTEXT, "Gustave Eiffel")
    assert (stated.value, stated.form, stated.text) == (pytest.approx(0.8), "percent", " 80%")
    assert stated.elapsed is not None and stated.elapsed >= 0.0
    call = llm.calls[0]
    assert call["max_tokens"] == 8 and call["stop"] == ["\n"]
    assert call["prompts"][0].endswith("Proposed answer: Gustave Eiffel\nConfidence:")
    assert call["prompts"][0].count("Confidence: ") == 4


async def test_verbal_asker_chat_unparseable_and_async() -> None:
    asker = VerbalConfidenceAsker(PayloadChat(text="a banana"))
    stated = await asker.aask(QUESTION, CONTEXT, "Gustave Eiffel")
    assert stated.value is None and stated.form == "unparseable" and stated.elapsed is not None
    words = VerbalConfidenceAsker(PayloadChat(text="muy seguro")).ask(QUESTION, "ctx", "Eiffel")
    assert words == StatedConfidence(
        value=0.9, form="word", text="muy seguro", elapsed=words.elapsed
    )
    scaled = VerbalConfidenceAsker(PayloadLLM(text=" 7"), scale=10).ask(QUESTION, "c", "E")
    assert scaled.value == pytest.approx(0.7) and scaled.form == "scale"


def test_invoke_kwargs_replace_the_defaults() -> None:
    llm = PayloadLLM(payload=LLAMACPP)
    PTrueJudge(llm, invoke_kwargs={"logprobs": 2}).judge(QUESTION, CONTEXT, "Eiffel")
    assert "max_tokens" not in llm.calls[0] and llm.calls[0]["logprobs"] == 2


def test_custom_prompt_and_validation() -> None:
    prompt = PromptTemplate.from_template("Q: {question}\nA: {answer}\nRight?")
    llm = PayloadLLM(payload=LLAMACPP)
    PTrueJudge(llm, prompt).invoke({"question": QUESTION, "answer": "Eiffel"})
    assert llm.calls[0]["prompts"][0] == f"Q: {QUESTION}\nA: Eiffel\nRight?"
    with pytest.raises(ValidationError, match=r"must use \{answer\}"):
        PTrueJudge(llm, PromptTemplate.from_template("{question} {passage} {answer}"))
    with pytest.raises(ValidationError, match=r"must use \{answer\}"):
        VerbalConfidenceAsker(llm, PromptTemplate.from_template("{question}"))
    judge = PTrueJudge(llm)
    with pytest.raises(KeyError, match="missing"):
        judge.invoke({"question": QUESTION, "answer": "x"})
    with pytest.raises(TypeError, match="takes a dict"):
        judge.invoke("just a string")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context must be"):
        judge.judge(QUESTION, 42, "x")
    with pytest.raises(TypeError, match="answer must be a str"):
        judge.judge(QUESTION, CONTEXT, None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PTrueJudge(llm, top_k=0)
    assert PTRUE_PROMPT.input_variables and VERBAL_PROMPT.input_variables


# --------------------------------------------------------------------------------------------
# The real langchain-openai clients against a mock transport (their own parsing is exercised).


def _mock_clients(handler: Any) -> dict[str, Any]:
    async def ahandler(request: httpx.Request) -> httpx.Response:
        return handler(request)

    return {
        "http_client": httpx.Client(transport=httpx.MockTransport(handler)),
        "http_async_client": httpx.AsyncClient(transport=httpx.MockTransport(ahandler)),
        "base_url": "http://fake.invalid/v1",
        "api_key": "none",
        "model": "fake",
        "max_retries": 0,
    }


async def test_real_openai_completions_client_llamacpp_response() -> None:
    from langchain_openai import OpenAI

    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        choice = {"text": " yes", "index": 0, "logprobs": LLAMACPP, "finish_reason": "length"}
        return httpx.Response(
            200,
            json={
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 0,
                "model": "fake",
                "choices": [choice],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    llm = OpenAI(temperature=0.0, logprobs=3, **_mock_clients(handler))
    judge = PTrueJudge(llm.bind(stop=["\n"]))
    for result in (
        judge.judge(QUESTION, CONTEXT, "Gustave Eiffel"),
        await judge.ajudge(QUESTION, CONTEXT, "Gustave Eiffel"),
    ):
        assert result.p_true == pytest.approx(PAYLOADS[0][4], abs=5e-5)
    assert all(b["max_tokens"] == 1 and b["logprobs"] == 5 for b in seen)
    assert seen[0]["prompt"][0].endswith("Proposed answer: Gustave Eiffel\nCorrect:")


def test_real_chat_openai_client_response() -> None:
    from langchain_openai import ChatOpenAI

    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": "Yes"},
            "logprobs": CHAT,
            "finish_reason": "length",
        }
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": "fake",
                "choices": [choice],
            },
        )

    chat = ChatOpenAI(temperature=0.0, **_mock_clients(handler))
    result = PTrueJudge(chat).judge(QUESTION, CONTEXT, "Gustave Eiffel")
    assert result.p_true == pytest.approx(PAYLOADS[2][4], abs=5e-5)
    body = seen[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 1
