"""Opt-in second calls that ask the model about its own answer.

* :class:`PTrueJudge` shows the model the question, the context and its answer, asks whether the
  answer is correct, generates one token and reads P(True) from that token's logprobs
  (Kadavath et al., 2022): ``P(yes) / (P(yes) + P(no))`` over the top alternatives.
* :class:`VerbalConfidenceAsker` asks the same model for a stated confidence ("Confidence:
  90%") and parses the reply with ``parse_stated_confidence``.

Both are Runnables (``invoke({"question", "context", "answer"})``, ``batch``, ``ainvoke``...) with
the plain helpers ``judge``/``ajudge`` and ``ask``/``aask``. Both work with a completions model
(``langchain_openai.OpenAI``, including against llama.cpp's ``llama-server``) and a chat model
(``ChatOpenAI``); the default prompts are few-shot, so a base model (not instruction-tuned)
follows them. Each result carries the seconds the model call took (``elapsed``).

Every model call they make is tagged :data:`OPINION_TAG`, so a capture handler that sees the
call (for example a ``CalibrationHandler`` whose callbacks the call inherits) can tell it from
the answer's own generation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, BaseLLM
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.prompts import BasePromptTemplate, PromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_calibrate.logprobs import TokenLogprob, logprobs_from_generation
from langchain_calibrate.opinions._text import fold
from langchain_calibrate.opinions.stated import StatedConfidence, parse_stated_confidence

__all__ = [
    "NO_TOKENS",
    "OPINION_TAG",
    "PTRUE_PROMPT",
    "VERBAL_PROMPT",
    "YES_TOKENS",
    "PTrueJudge",
    "PTrueResult",
    "VerbalConfidenceAsker",
    "p_true_from_logprobs",
]

OPINION_TAG = "langchain_calibrate:opinion"
"""Tag on every model call a judge or asker makes (so capture can skip it)."""

YES_TOKENS: frozenset[str] = frozenset({"yes", "true", "si", "verdadero"})
"""Token texts counted as "yes" (after stripping, lower-casing and removing accents: "Sí" -> si)."""
NO_TOKENS: frozenset[str] = frozenset({"no", "false", "falso"})
"""Token texts counted as "no"."""

_INPUT_KEYS = ("question", "context", "answer")

_SHOTS = [
    (
        "The Amazon is a river in South America. It is the largest river in the world by "
        "discharge volume of water.",
        "On which continent is the Amazon river?",
        "South America",
        "yes",
        "95%",
    ),
    (
        "Marie Curie was a physicist and chemist born in Warsaw, Poland, who later became a "
        "naturalised French citizen. She was the first woman to win a Nobel Prize.",
        "In which city was Marie Curie born?",
        "Paris",
        "no",
        "10%",
    ),
    (
        "The Golden Gate Bridge opened to traffic in 1937 and spans the strait at the entrance "
        "to San Francisco Bay.",
        "When did the Golden Gate Bridge open?",
        "1933",
        "no",
        "20%",
    ),
    (
        "Mount Kilimanjaro is a dormant volcano in Tanzania and the highest mountain in Africa.",
        "In which country is Mount Kilimanjaro?",
        "Tanzania",
        "yes",
        "90%",
    ),
]


def _few_shot(header: str, label: str, pick: int) -> str:
    blocks = [header]
    for passage, question, answer, *verdicts in _SHOTS:
        blocks.append(
            f"Passage: {passage}\nQuestion: {question}\nProposed answer: {answer}\n"
            f"{label}: {verdicts[pick]}"
        )
    blocks.append(
        "Passage: {context}\nQuestion: {question}\nProposed answer: {answer}\n" + label + ":"
    )
    return "\n\n".join(blocks)


PTRUE_PROMPT = PromptTemplate.from_template(
    _few_shot(
        "Decide whether the proposed answer to the question is correct according to the "
        "passage. Reply with yes or no.",
        "Correct",
        0,
    )
)
"""Default P(True) prompt: four worked yes/no examples (two of each), then the case to judge."""

VERBAL_PROMPT = PromptTemplate.from_template(
    _few_shot(
        "Rate how likely the proposed answer to the question is to be correct according to the "
        "passage, as a percentage from 0% to 100%.",
        "Confidence",
        1,
    )
)
"""Default verbal-confidence prompt: four worked "Confidence: N%" examples, then the case."""


class PTrueResult(BaseModel):
    """P(True) read from the logprobs of the judge's one-token reply.

    ``p_true`` is ``None`` when the reply's top alternatives hold neither a yes nor a no token
    (or there were no logprobs): that is a flag, never 0.5.
    """

    model_config = ConfigDict(frozen=True)

    p_true: float | None = Field(None, ge=0.0, le=1.0)
    """``p_yes / (p_yes + p_no)``, or ``None`` (see ``reason``)."""
    p_yes: float | None = Field(None, ge=0.0, le=1.0)
    """Summed probability of the yes tokens among the alternatives (``None``: no logprobs)."""
    p_no: float | None = Field(None, ge=0.0, le=1.0)
    """Summed probability of the no tokens among the alternatives (``None``: no logprobs)."""
    token: str | None = None
    """The token the model generated at the position read."""
    reason: str | None = None
    """Why ``p_true`` is ``None``, or a caveat when only one side was among the alternatives;
    ``None`` when both a yes and a no token were seen."""
    alternatives: tuple[tuple[str, float], ...] = ()
    """The (token, logprob) pairs considered at that position, most likely first."""
    elapsed: float | None = None
    """Seconds the model call took (``None`` when computed offline)."""


def _word(token: str) -> str:
    """A token's text as a bare lower-case word: " Yes" -> "yes", "▁Sí," -> "si"."""
    return fold(token).strip().strip("\u2581\u0120\"'`*_.,:;!?()[]").strip()


def _pool(token: TokenLogprob) -> dict[str, float]:
    """The alternatives at one position, plus the generated token itself if it is not listed."""
    pool: dict[str, float] = {}
    for alt in token.top_logprobs:
        if alt.token not in pool or alt.logprob > pool[alt.token]:
            pool[alt.token] = alt.logprob
    pool.setdefault(token.token, token.logprob)
    return pool


def p_true_from_logprobs(
    tokens: Sequence[TokenLogprob] | None,
    *,
    yes_tokens: frozenset[str] = YES_TOKENS,
    no_tokens: frozenset[str] = NO_TOKENS,
    elapsed: float | None = None,
) -> PTrueResult:
    """Compute P(True) from the logprobs of a judge reply.

    The position read is the first one whose generated token has text (leading whitespace or
    markdown tokens such as ``"**"`` are skipped) or whose alternatives hold a yes or no token.
    Its alternatives (plus the generated token) are split by their bare lower-cased text into yes
    tokens (yes, true, sí, si, verdadero) and no tokens (no, false, falso); ``p_yes`` and ``p_no``
    are the summed probabilities and ``p_true = p_yes / (p_yes + p_no)``.

    Args:
        tokens: The reply's token logprobs (``normalize_logprobs`` output), or ``None``.
        yes_tokens: Bare texts that count as yes.
        no_tokens: Bare texts that count as no.
        elapsed: Seconds the call took, copied into the result.

    Returns:
        The result; ``p_true`` is ``None`` with a ``reason`` when there were no logprobs or no
        yes/no token among the alternatives. When only one side is listed, ``p_true`` is 1.0 or
        0.0 (the unlisted side's mass is unknown and counted as 0) and ``reason`` says so.

    Example:
        >>> from langchain_calibrate.logprobs import TokenLogprob, TopLogprob
        >>> top = (TopLogprob(" yes", math.log(0.6)), TopLogprob(" no", math.log(0.2)))
        >>> token = TokenLogprob(" yes", math.log(0.6), top)
        >>> round(p_true_from_logprobs([token]).p_true, 6)
        0.75
    """
    if not tokens:
        return PTrueResult(
            reason=(
                "the model returned no logprobs; request them (completions: logprobs=k; chat: "
                "logprobs=True, top_logprobs=k)"
            ),
            elapsed=elapsed,
        )
    chosen = tokens[0]
    for token in tokens:
        chosen = token
        words = {_word(t) for t in _pool(token)}
        if _word(token.token) or words & (yes_tokens | no_tokens):
            break
    pool = _pool(chosen)
    alternatives = tuple(sorted(pool.items(), key=lambda kv: kv[1], reverse=True))
    p_yes = math.fsum(math.exp(lp) for t, lp in pool.items() if _word(t) in yes_tokens)
    p_no = math.fsum(math.exp(lp) for t, lp in pool.items() if _word(t) in no_tokens)
    p_yes, p_no = min(1.0, p_yes), min(1.0, p_no)
    common = {
        "p_yes": p_yes,
        "p_no": p_no,
        "token": chosen.token,
        "alternatives": alternatives,
        "elapsed": elapsed,
    }
    if p_yes + p_no <= 0.0:
        listed = ", ".join(repr(t) for t, _ in alternatives[:10])
        reason = f"no yes/no token among the {len(alternatives)} alternatives ({listed})"
        return PTrueResult(p_true=None, reason=reason, **common)
    reason = None
    if p_yes == 0.0 or p_no == 0.0:
        side = "no" if p_no == 0.0 else "yes"
        reason = f"no {side!r} token among the alternatives; its probability is counted as 0"
    return PTrueResult(p_true=p_yes / (p_yes + p_no), reason=reason, **common)


# --------------------------------------------------------------------------------------------
# Model calls.


class _LastGeneration(BaseCallbackHandler):
    """Keeps the first generation of the last LLM run it sees."""

    run_inline: bool = True

    def __init__(self) -> None:
        self.generation: Any = None

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        try:
            self.generation = response.generations[0][0]
        except (IndexError, TypeError):
            pass


def _model_kind(llm: Runnable[Any, Any]) -> str:
    """``"chat"``, ``"completions"`` or ``"unknown"``, looking through ``bind``/``with_config``."""
    seen = 0
    while not isinstance(llm, BaseChatModel | BaseLLM) and hasattr(llm, "bound") and seen < 10:
        llm = llm.bound
        seen += 1
    if isinstance(llm, BaseChatModel):
        return "chat"
    if isinstance(llm, BaseLLM):
        return "completions"
    return "unknown"


def _text_of(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, BaseMessage):
        return output.text
    msg = f"the model returned a {type(output).__name__}; expected a str or a message."
    raise TypeError(msg)


def _context_text(context: Any) -> str:
    if context is None:
        return ""
    if isinstance(context, str):
        return context
    if isinstance(context, Document):
        return context.page_content.strip()
    if isinstance(context, Sequence) and all(isinstance(d, Document) for d in context):
        return "\n".join(d.page_content.strip() for d in context)
    msg = f"context must be a str or a list of Document, got {type(context).__name__}."
    raise TypeError(msg)


class _AskModel(RunnableSerializable[dict[str, Any], Any]):
    """Shared plumbing: prompt the model with question/context/answer, time the call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Runnable[Any, Any]
    """A completions model (``OpenAI``), a chat model (``ChatOpenAI``), or a binding of one."""
    prompt: BasePromptTemplate
    """A prompt over some of ``question``, ``context`` and ``answer`` (``answer`` required)."""
    invoke_kwargs: dict[str, Any] | None = None
    """Keyword arguments for the model call, replacing the defaults (see each class)."""

    @model_validator(mode="after")
    def _check_prompt(self) -> _AskModel:
        variables = set(self.prompt.input_variables)
        unknown = variables - set(_INPUT_KEYS)
        if unknown or "answer" not in variables:
            msg = (
                f"{type(self).__name__}'s prompt must use {{answer}} and may use {{question}} "
                f"and {{context}}; it uses {sorted(variables)}."
            )
            raise ValueError(msg)
        return self

    def _default_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def _prompt_value(self, input_: Any) -> Any:
        if not isinstance(input_, Mapping):
            msg = (
                f"{type(self).__name__} takes a dict with 'question', 'context' and 'answer', "
                f"got {type(input_).__name__}; e.g. judge.invoke({{'question': q, 'context': "
                "docs, 'answer': a}})."
            )
            raise TypeError(msg)
        missing = [k for k in self.prompt.input_variables if k not in input_]
        if missing:
            msg = (
                f"{type(self).__name__} input is missing {missing}; it has "
                f"{sorted(input_)}. Pass {{'question': q, 'context': docs, 'answer': a}}."
            )
            raise KeyError(msg)
        values = {k: input_[k] for k in self.prompt.input_variables}
        if "context" in values:
            values["context"] = _context_text(values["context"])
        for key in ("question", "answer"):
            if key in values and not isinstance(values[key], str):
                msg = f"{key} must be a str, got {type(values[key]).__name__}."
                raise TypeError(msg)
        return self.prompt.format_prompt(**values)

    def _call_kwargs(self, extra: dict[str, Any]) -> dict[str, Any]:
        base = self.invoke_kwargs if self.invoke_kwargs is not None else self._default_kwargs()
        return {**base, **extra}

    def _child_config(self, run_manager: Any, config: RunnableConfig) -> tuple[Any, Any]:
        capture = _LastGeneration()
        child = run_manager.get_child()
        child.add_handler(capture, inherit=True)
        child.add_tags([OPINION_TAG], inherit=True)
        return patch_config(config, callbacks=child), capture

    def _call(
        self, input_: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any
    ) -> tuple[Any, Any, float]:
        prompt_value = self._prompt_value(input_)
        llm_config, capture = self._child_config(run_manager, config)
        started = time.perf_counter()
        output = self.llm.invoke(prompt_value, llm_config, **self._call_kwargs(kwargs))
        return output, capture.generation, time.perf_counter() - started

    async def _acall(
        self, input_: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any
    ) -> tuple[Any, Any, float]:
        prompt_value = self._prompt_value(input_)
        llm_config, capture = self._child_config(run_manager, config)
        started = time.perf_counter()
        output = await self.llm.ainvoke(prompt_value, llm_config, **self._call_kwargs(kwargs))
        return output, capture.generation, time.perf_counter() - started

    def _result(self, output: Any, generation: Any, elapsed: float) -> Any:
        raise NotImplementedError

    def _run(self, input_: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        return self._result(*self._call(input_, run_manager, config, **kwargs))

    async def _arun(
        self, input_: Any, run_manager: Any, config: RunnableConfig, **kwargs: Any
    ) -> Any:
        return self._result(*await self._acall(input_, run_manager, config, **kwargs))

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Ask about ``{"question", "context", "answer"}``; extra kwargs go to the model call."""
        return self._call_with_config(self._run, input, config, run_type="chain", **kwargs)

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Async twin of ``invoke``."""
        return await self._acall_with_config(self._arun, input, config, run_type="chain", **kwargs)


class PTrueJudge(_AskModel):
    """Ask the model whether its answer is correct and read P(True) from one token's logprobs.

    The prompt (default :data:`PTRUE_PROMPT`, few-shot for base models) ends where a "yes" or
    "no" belongs; the model generates one token (``max_tokens=1``) with its top alternatives,
    and ``p_true_from_logprobs`` turns them into ``P(yes) / (P(yes) + P(no))``.

    Default model-call arguments, by model type (``invoke_kwargs`` replaces them):

    * completions (``OpenAI``): ``max_tokens=1, logprobs=top_k``
    * chat (``ChatOpenAI``): ``max_tokens=1, logprobs=True, top_logprobs=top_k``
    * anything else: none (bind logprobs on the model yourself)

    Use ``temperature=0`` on the model: P(True) reads the distribution, not the sample, but a
    sampled first token could be a stray one.

    Example:
        .. code-block:: python

            from langchain_openai import OpenAI

            llm = OpenAI(base_url=url, api_key="none", model=name, temperature=0)
            judge = PTrueJudge(llm)
            result = judge.judge("Who designed the tower?", passages, "Gustave Eiffel")
            result.p_true, result.elapsed  # e.g. (0.83, 0.12); None + result.reason if unread
    """

    prompt: BasePromptTemplate = Field(default_factory=lambda: PTRUE_PROMPT)
    top_k: int = Field(5, ge=1, le=20)
    """Alternatives to request (OpenAI allows up to 5 on completions, 20 on chat)."""
    yes_tokens: frozenset[str] = YES_TOKENS
    no_tokens: frozenset[str] = NO_TOKENS

    def __init__(
        self, llm: Runnable[Any, Any], prompt: BasePromptTemplate | None = None, **kwargs: Any
    ) -> None:
        """Make a judge over ``llm`` (``prompt`` defaults to :data:`PTRUE_PROMPT`)."""
        if prompt is not None:
            kwargs["prompt"] = prompt
        super().__init__(llm=llm, **kwargs)

    def _default_kwargs(self) -> dict[str, Any]:
        kind = _model_kind(self.llm)
        if kind == "chat":
            return {"max_tokens": 1, "logprobs": True, "top_logprobs": self.top_k}
        if kind == "completions":
            return {"max_tokens": 1, "logprobs": self.top_k}
        return {}

    def _result(self, output: Any, generation: Any, elapsed: float) -> PTrueResult:
        tokens = logprobs_from_generation(generation) if generation is not None else None
        if not tokens and isinstance(output, BaseMessage):
            tokens = logprobs_from_generation(output)
        return p_true_from_logprobs(
            tokens, yes_tokens=self.yes_tokens, no_tokens=self.no_tokens, elapsed=elapsed
        )

    def judge(
        self, question: str, context: Any, answer: str, *, config: RunnableConfig | None = None
    ) -> PTrueResult:
        """P(True) for one answer; ``context`` is the passages (a str or a list of Document)."""
        return self.invoke({"question": question, "context": context, "answer": answer}, config)

    async def ajudge(
        self, question: str, context: Any, answer: str, *, config: RunnableConfig | None = None
    ) -> PTrueResult:
        """Async twin of ``judge``."""
        payload = {"question": question, "context": context, "answer": answer}
        return await self.ainvoke(payload, config)


class VerbalConfidenceAsker(_AskModel):
    """Ask the model, in a second call, how sure it is of its answer; parse the reply.

    The prompt (default :data:`VERBAL_PROMPT`, few-shot with "Confidence: 90%" lines) ends at
    "Confidence:"; the reply (``max_tokens`` tokens, stopping at a newline) is parsed with
    ``parse_stated_confidence(reply, scale=scale)``. An unreadable reply gives
    ``form="unparseable"`` and ``value=None``: flag it, do not read it as zero.

    Default model-call arguments (``invoke_kwargs`` replaces them): ``max_tokens`` and ``stop``
    for completions and chat models, only ``stop`` for anything else.

    Example:
        .. code-block:: python

            asker = VerbalConfidenceAsker(llm)
            stated = asker.ask("Who designed the tower?", passages, "Gustave Eiffel")
            stated.value, stated.form, stated.elapsed  # e.g. (0.9, 'percent', 0.2)
    """

    prompt: BasePromptTemplate = Field(default_factory=lambda: VERBAL_PROMPT)
    scale: float | None = Field(100.0, gt=0.0)
    """The scale the prompt asks for (100: a percentage), passed to the parser."""
    max_tokens: int = Field(8, ge=1)
    stop: tuple[str, ...] = ("\n",)

    def __init__(
        self, llm: Runnable[Any, Any], prompt: BasePromptTemplate | None = None, **kwargs: Any
    ) -> None:
        """Make an asker over ``llm`` (``prompt`` defaults to :data:`VERBAL_PROMPT`)."""
        if prompt is not None:
            kwargs["prompt"] = prompt
        super().__init__(llm=llm, **kwargs)

    def _default_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"stop": list(self.stop)} if self.stop else {}
        if _model_kind(self.llm) != "unknown":
            kwargs["max_tokens"] = self.max_tokens
        return kwargs

    def _result(self, output: Any, _generation: Any, elapsed: float) -> StatedConfidence:
        stated = parse_stated_confidence(_text_of(output), scale=self.scale)
        return stated.model_copy(update={"elapsed": elapsed})

    def ask(
        self, question: str, context: Any, answer: str, *, config: RunnableConfig | None = None
    ) -> StatedConfidence:
        """The stated confidence for one answer (with ``elapsed`` set)."""
        return self.invoke({"question": question, "context": context, "answer": answer}, config)

    async def aask(
        self, question: str, context: Any, answer: str, *, config: RunnableConfig | None = None
    ) -> StatedConfidence:
        """Async twin of ``ask``."""
        payload = {"question": question, "context": context, "answer": answer}
        return await self.ainvoke(payload, config)
