"""``with_calibration``: wrap a chain so its output comes back with a ``Calibration``."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    BaseCallbackManager,
    CallbackManagerForChainRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import override

from langchain_calibrate.handler import (
    CalibrationHandler,
    GenerationRecord,
    RunEvidence,
    message_text,
)
from langchain_calibrate.result import CAPTURE_ERROR, Calibration, Candidate
from langchain_calibrate.runlog import RunLogWriter
from langchain_calibrate.signals import (
    NO_LOGPROBS,
    SignalConfig,
    Signals,
    acompute_signals,
    compute_flags,
    compute_signals,
)

__all__ = ["CALIBRATION_EVENT", "CalibratedRunnable", "SupportsPredictOne", "with_calibration"]

CALIBRATION_EVENT = "calibration"
"""Name of the custom event (``astream_events``) that carries each run's ``Calibration``."""

logger = logging.getLogger(__name__)

_ANSWER_KEYS = ("answer", "output", "text", "result", "content")


@runtime_checkable
class SupportsPredictOne(Protocol):
    """What ``with_calibration`` needs of a calibrator: one ``Signals`` in, a probability out."""

    def predict_one(self, signals: Signals) -> float:
        """Probability that the answer behind ``signals`` is correct."""
        ...


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        return message_text(value)[0]  # the tool-call arguments when there is no content
    return None


def _answer_from_output(output: Any, answer_key: str | None) -> str:
    """The answer text in a chain's output, when no model call's text was captured."""
    if (text := _text_of(output)) is not None:
        return text
    if isinstance(output, Mapping):
        keys: tuple[str, ...] = (answer_key,) if answer_key else _ANSWER_KEYS
        if not answer_key and "parsed" in output and isinstance(output.get("raw"), BaseMessage):
            keys = ("raw",)  # with_structured_output(..., include_raw=True)
        for key in keys:
            if (text := _text_of(output.get(key))) is not None:
                return text
    if isinstance(output, BaseModel):  # with_structured_output(PydanticSchema)
        return output.model_dump_json()
    return ""


def _documents_from_output(output: Any) -> list[Document]:
    if isinstance(output, Mapping):
        docs = output.get("context") or output.get("documents") or output.get("source_documents")
        if isinstance(docs, list):
            return [d for d in docs if isinstance(d, Document)]
    return []


def _no_logprob_note(evidence: RunEvidence | None) -> str:
    answer = evidence.answer if evidence else None
    if answer is None:
        return (
            "No model call was seen inside the wrapped runnable, so there are no logprobs. "
            "If the model is called elsewhere, pass the config (and its callbacks) through."
        )
    if answer.uses_responses_api:
        return (
            "ChatOpenAI is using the Responses API, which drops logprobs (langchain issue "
            "36211). Pass use_responses_api=False to ChatOpenAI to get them back."
        )
    if answer.logprobs_requested is False:
        return (
            "The model was not asked for logprobs. Use ChatOpenAI(logprobs=True, "
            "top_logprobs=5) or OpenAI(logprobs=5), or bind them: llm.bind(logprobs=True)."
        )
    if answer.from_tool_call:
        return (
            "The answer is a tool call's arguments, and OpenAI returns logprobs only for message "
            "content. With ChatOpenAI use with_structured_output(Schema, method='json_schema', "
            "include_raw=True) (its default method), which writes the answer as content."
        )
    return "The provider returned no logprobs for this generation."


class CalibratedRunnable(RunnableSerializable[Any, dict[str, Any]]):
    """A runnable that returns ``{"output": <the chain's output>, "calibration": Calibration}``.

    Build it with ``with_calibration``. Each invocation gets its own ``CalibrationHandler``
    (or shares the one given, which is thread-safe), so ``batch``/``abatch`` elements never see
    each other's evidence. When streaming, output chunks come as ``{"output": chunk}`` and the
    last chunk also carries ``"calibration"``; adding the chunks gives the invoke result.

    When the answering model call returns several candidates (``n > 1``), each is scored on its
    own in ``calibration.candidates``; the first is the answer the chain returned.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bound: Runnable[Any, Any]
    """The wrapped chain."""
    calibrator: Any = None
    """A fitted calibrator (anything with ``predict_one(signals)``); ``None`` gives raw scores."""
    embeddings: Embeddings | None = None
    """For the ``semantic_support`` signal; without it that signal is ``None``."""
    signal_config: SignalConfig = Field(default_factory=SignalConfig)
    handler: CalibrationHandler | None = None
    """A shared handler to use instead of a fresh one per call."""
    answer_key: str | None = None
    """Where the answer is in a dict output (default: the first of answer/output/text/...)."""
    strict: bool = False
    """Raise errors from capture and scoring instead of recording them on the result."""
    log_to: RunLogWriter | None = None
    """Append one JSON record per run here (see ``langchain_calibrate.runlog``)."""
    p_true_judge: Any = None
    """Opt-in self-check (``opinions.PTrueJudge``): a second call, P("yes") as ``p_true``."""
    verbal_asker: Any = None
    """Opt-in stated confidence (``opinions.VerbalConfidenceAsker``): a second call."""

    @override
    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or "CalibratedRunnable")

    @property
    @override
    def InputType(self) -> Any:
        return self.bound.InputType

    # -- scoring ---------------------------------------------------------------------------

    def _handler_for_call(self) -> CalibrationHandler:
        return self.handler or CalibrationHandler(strict=self.strict)

    def _child_config(self, config: RunnableConfig, handler: CalibrationHandler) -> RunnableConfig:
        callbacks = config.get("callbacks")
        if isinstance(callbacks, BaseCallbackManager):
            callbacks = callbacks.copy()
            callbacks.add_handler(handler, inherit=True)
        else:
            callbacks = [*(callbacks or []), handler]
        return {**config, "callbacks": callbacks}

    def _prepare(
        self, output: Any, evidence: RunEvidence | None
    ) -> tuple[str, list[Document], Any, str | None]:
        answer_gen = evidence.answer if evidence else None
        generated = answer_gen.text.strip() if answer_gen else ""
        answer = generated or _answer_from_output(output, self.answer_key)
        documents = (evidence.documents if evidence else []) or _documents_from_output(output)
        tokens = answer_gen.tokens if answer_gen else None
        # The retriever's query is the question as the RAG chain understood it.
        question = evidence.retrievals[0].query if evidence and evidence.retrievals else None
        return answer, documents, tokens, question

    @staticmethod
    def _other_candidates(evidence: RunEvidence | None) -> list[GenerationRecord]:
        """The answering call's candidates after the first (``n > 1``), in order."""
        return evidence.candidates[1:] if evidence else []

    def _signals_of(
        self, gen: GenerationRecord, documents: list[Document], question: str | None
    ) -> Signals:
        """One candidate's own signals: its tokens and text against the run's documents."""
        return compute_signals(
            answer=gen.text.strip(),
            tokens=gen.tokens,
            documents=documents,
            embeddings=self.embeddings,
            question=question,
        )

    async def _asignals_of(
        self, gen: GenerationRecord, documents: list[Document], question: str | None
    ) -> Signals:
        """Async ``_signals_of``."""
        return await acompute_signals(
            answer=gen.text.strip(),
            tokens=gen.tokens,
            documents=documents,
            embeddings=self.embeddings,
            question=question,
        )

    def _score(self, signals: Signals) -> tuple[float | None, str, bool]:
        """Confidence, method and whether it is calibrated, for one set of signals."""
        if self.calibrator is not None:
            confidence = float(self.calibrator.predict_one(signals))
            method = str(getattr(self.calibrator, "method", type(self.calibrator).__name__))
            if not 0.0 <= confidence <= 1.0:  # also catches NaN
                msg = (
                    f"The calibrator {type(self.calibrator).__name__} returned {confidence!r}, "
                    "not a probability in [0, 1]; check that it was fitted and loaded correctly."
                )
                raise ValueError(msg)
            return confidence, method, True
        if signals.sequence_prob is not None:
            return signals.sequence_prob, "raw:sequence_prob", False
        return None, "none", False

    def _finish(
        self,
        signals: Signals,
        answer: str,
        documents: list[Document],
        evidence: RunEvidence | None,
        others: Sequence[tuple[GenerationRecord, Signals]] = (),
        opinions: dict[str, Any] | None = None,
    ) -> Calibration:
        opinions = opinions or {}
        flags = compute_flags(
            signals,
            answer,
            self.signal_config,
            stated=opinions.get("stated"),
            p_true=opinions.get("p_true"),
        )
        errors = list(evidence.errors) if evidence else []
        notes = [_no_logprob_note(evidence)] if NO_LOGPROBS in flags else []
        confidence, method, calibrated = self._score(signals)
        if errors:
            flags.append(CAPTURE_ERROR)
        answer_gen = evidence.answer if evidence else None
        candidates: list[Candidate] = []
        if answer_gen is not None:
            candidates.append(
                Candidate(index=0, text=answer, signals=signals, confidence=confidence)
            )
            for gen, gen_signals in others:
                candidates.append(
                    Candidate(
                        index=gen.candidate_index,
                        text=gen.text.strip(),
                        signals=gen_signals,
                        confidence=self._score(gen_signals)[0],
                    )
                )
        return Calibration(
            confidence=confidence,
            is_calibrated=calibrated,
            method=method,
            signals=signals,
            flags=flags,
            notes=notes,
            errors=errors,
            documents=documents,
            model_name=answer_gen.model_name if answer_gen else None,
            n_generations=len(evidence.generations) if evidence else 0,
            candidates=candidates,
            opinions={k: v.model_dump() for k, v in opinions.items()},
        )

    def _failed(self, exc: Exception, evidence: RunEvidence | None) -> Calibration:
        if self.strict:
            raise exc
        logger.warning("with_calibration could not score a run: %r", exc)
        errors = [*(evidence.errors if evidence else []), f"{type(exc).__name__}: {exc}"]
        return Calibration(
            confidence=None, method="none", signals=Signals(), flags=[CAPTURE_ERROR], errors=errors
        )

    def calibrate(self, output: Any, evidence: RunEvidence | None) -> Calibration:
        """Score one output from its captured evidence (sync)."""
        try:
            answer, documents, tokens, question = self._prepare(output, evidence)
            signals = compute_signals(
                answer=answer,
                tokens=tokens,
                documents=documents,
                embeddings=self.embeddings,
                question=question,
            )
            opinions = self._opinions(question, documents, answer)
            signals = _with_opinions(signals, opinions)
            others = [
                (gen, self._signals_of(gen, documents, question))
                for gen in self._other_candidates(evidence)
            ]
            return self._finish(signals, answer, documents, evidence, others, opinions)
        except Exception as exc:
            return self._failed(exc, evidence)

    async def acalibrate(self, output: Any, evidence: RunEvidence | None) -> Calibration:
        """Score one output from its captured evidence (async)."""
        try:
            answer, documents, tokens, question = self._prepare(output, evidence)
            signals = await acompute_signals(
                answer=answer,
                tokens=tokens,
                documents=documents,
                embeddings=self.embeddings,
                question=question,
            )
            opinions = await self._aopinions(question, documents, answer)
            signals = _with_opinions(signals, opinions)
            gens = self._other_candidates(evidence)
            scored = await asyncio.gather(
                *(self._asignals_of(gen, documents, question) for gen in gens)
            )
            others = list(zip(gens, scored, strict=True))
            return self._finish(signals, answer, documents, evidence, others, opinions)
        except Exception as exc:
            return self._failed(exc, evidence)

    # -- second opinions --------------------------------------------------------------------

    def _opinion_input(
        self, question: str | None, documents: list[Document], answer: str
    ) -> dict[str, Any]:
        context = "\n".join(d.page_content.strip() for d in documents)
        return {"question": question or "", "context": context, "answer": answer}

    def _opinions(
        self, question: str | None, documents: list[Document], answer: str
    ) -> dict[str, Any]:
        """Ask the opt-in judges (P(True), stated confidence) about this answer."""
        out: dict[str, Any] = {}
        if self.p_true_judge is None and self.verbal_asker is None:
            return out
        payload = self._opinion_input(question, documents, answer)
        if self.p_true_judge is not None:
            out["p_true"] = self.p_true_judge.judge(**payload)
        if self.verbal_asker is not None:
            out["stated"] = self.verbal_asker.ask(**payload)
        return out

    async def _aopinions(
        self, question: str | None, documents: list[Document], answer: str
    ) -> dict[str, Any]:
        """Async ``_opinions``: both judges in parallel."""
        if self.p_true_judge is None and self.verbal_asker is None:
            return {}
        payload = self._opinion_input(question, documents, answer)
        keys, calls = [], []
        if self.p_true_judge is not None:
            keys.append("p_true")
            calls.append(self.p_true_judge.ajudge(**payload))
        if self.verbal_asker is not None:
            keys.append("stated")
            calls.append(self.verbal_asker.aask(**payload))
        return dict(zip(keys, await asyncio.gather(*calls), strict=True))

    # -- run log ---------------------------------------------------------------------------

    def _record(
        self, input: Any, output: Any, evidence: RunEvidence | None, calibration: Calibration
    ) -> Calibration:
        """Stamp the run id on the result and append it to the run log (if one is set)."""
        if self.log_to is None:
            return calibration
        try:
            answer = self._prepare(output, evidence)[0]
            self.log_to.write(calibration, inputs=input, answer=answer, calibrator=self.calibrator)
        except Exception as exc:
            if self.strict:
                raise
            logger.warning("with_calibration could not write the run log: %r", exc)
            problem = f"run log {self.log_to.path}: {type(exc).__name__}: {exc}"
            return calibration.model_copy(update={"errors": [*calibration.errors, problem]})
        return calibration

    def _result(
        self,
        input: Any,
        output: Any,
        evidence: RunEvidence | None,
        calibration: Calibration,
        run_id: Any,
        config: RunnableConfig,
    ) -> Calibration:
        calibration = calibration.model_copy(update={"run_id": str(run_id)})
        calibration = self._record(input, output, evidence, calibration)
        try:
            dispatch_custom_event(CALIBRATION_EVENT, calibration, config=config)
        except Exception as exc:
            self._event_failed(exc)
        return calibration

    async def _aresult(
        self,
        input: Any,
        output: Any,
        evidence: RunEvidence | None,
        calibration: Calibration,
        run_id: Any,
        config: RunnableConfig,
    ) -> Calibration:
        calibration = calibration.model_copy(update={"run_id": str(run_id)})
        if self.log_to is not None:
            # File I/O off the event loop.
            calibration = await asyncio.to_thread(
                self._record, input, output, evidence, calibration
            )
        try:
            await adispatch_custom_event(CALIBRATION_EVENT, calibration, config=config)
        except Exception as exc:
            self._event_failed(exc)
        return calibration

    def _event_failed(self, exc: Exception) -> None:
        # A user's event handler that raises must not cost them the answer.
        if self.strict:
            raise exc
        logger.warning(
            "with_calibration could not dispatch the %r event: %r", CALIBRATION_EVENT, exc
        )

    # -- invoke ----------------------------------------------------------------------------

    def _invoke(
        self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        handler = self._handler_for_call()
        handler.claim(run_manager.run_id)
        try:
            output = self.bound.invoke(input, self._child_config(config, handler))
        finally:
            evidence = handler.pop_evidence(run_manager.run_id)
        calibration = self._result(
            input, output, evidence, self.calibrate(output, evidence), run_manager.run_id, config
        )
        return AddableDict(output=output, calibration=calibration)

    async def _ainvoke(
        self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        handler = self._handler_for_call()
        handler.claim(run_manager.run_id)
        try:
            output = await self.bound.ainvoke(input, self._child_config(config, handler))
        finally:
            evidence = handler.pop_evidence(run_manager.run_id)
        calibration = await self._aresult(
            input,
            output,
            evidence,
            await self.acalibrate(output, evidence),
            run_manager.run_id,
            config,
        )
        return AddableDict(output=output, calibration=calibration)

    @override
    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._call_with_config(self._invoke, input, config, **kwargs)

    @override
    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._ainvoke, input, config, **kwargs)

    # -- streaming ---------------------------------------------------------------------------

    def _transform(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Iterator[dict[str, Any]]:
        handler = self._handler_for_call()
        handler.claim(run_manager.run_id)
        holder, seen = _HoldLast(), _HoldLast()
        inputs = seen.tee(inputs)
        try:
            for chunk in self.bound.transform(inputs, self._child_config(config, handler)):
                if (ready := holder.push(chunk)) is not None:
                    yield ready
        finally:
            evidence = handler.pop_evidence(run_manager.run_id)
        calibration = self._result(
            seen.full, holder.full, evidence, self.calibrate(holder.full, evidence),
            run_manager.run_id, config,
        )  # fmt: skip
        yield holder.last(calibration)

    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[dict[str, Any]]:
        handler = self._handler_for_call()
        handler.claim(run_manager.run_id)
        holder, seen = _HoldLast(), _HoldLast()
        inputs = seen.atee(inputs)
        try:
            async for chunk in self.bound.atransform(inputs, self._child_config(config, handler)):
                if (ready := holder.push(chunk)) is not None:
                    yield ready
        finally:
            evidence = handler.pop_evidence(run_manager.run_id)
        calibration = await self._aresult(
            seen.full, holder.full, evidence, await self.acalibrate(holder.full, evidence),
            run_manager.run_id, config,
        )  # fmt: skip
        yield holder.last(calibration)

    @override
    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    @override
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        yield from self.transform(iter([input]), config, **kwargs)

    @override
    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

    @override
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk


def _with_opinions(signals: Signals, opinions: dict[str, Any]) -> Signals:
    update = {}
    if "p_true" in opinions:
        update["p_true"] = opinions["p_true"].p_true
    if "stated" in opinions:
        update["stated_confidence"] = opinions["stated"].value
    return signals.model_copy(update=update) if update else signals


class _HoldLast:
    """Holds one chunk back so the calibration can ride on the last real chunk."""

    def __init__(self) -> None:
        self.held: Any = None
        self.full: Any = None
        self._have = False

    def push(self, chunk: Any) -> dict[str, Any] | None:
        """Take a chunk; return the previous one, wrapped, once there is one."""
        ready = AddableDict(output=self.held) if self._have else None
        self.held, self._have = chunk, True
        # Accumulate the way LangChain does; for unaddable chunks keep the last.
        if self.full is None:
            self.full = chunk
        else:
            try:
                self.full = self.full + chunk
            except TypeError:
                self.full = chunk
        return ready

    def tee(self, items: Iterator[Any]) -> Iterator[Any]:
        """Pass ``items`` through, accumulating them (to log the streamed input)."""
        for item in items:
            self.push(item)
            yield item

    async def atee(self, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """Async ``tee``."""
        async for item in items:
            self.push(item)
            yield item

    def last(self, calibration: Calibration) -> dict[str, Any]:
        """The final chunk: the held output (``None`` if nothing streamed) and the calibration."""
        return AddableDict(output=self.held, calibration=calibration)


def with_calibration(
    runnable: Runnable[Any, Any],
    calibrator: SupportsPredictOne | None = None,
    *,
    embeddings: Embeddings | None = None,
    signal_config: SignalConfig | None = None,
    handler: CalibrationHandler | None = None,
    answer_key: str | None = None,
    strict: bool = False,
    log_to: str | os.PathLike[str] | RunLogWriter | None = None,
    p_true_judge: Any = None,
    verbal_asker: Any = None,
) -> CalibratedRunnable:
    """Wrap a chain so each output comes back with a ``Calibration``.

    The chain's model calls must return logprobs (``ChatOpenAI(logprobs=True, top_logprobs=5)``,
    ``OpenAI(logprobs=5)``); without them the result is flagged ``no_logprobs`` and its
    confidence is not trusted. Retrieval evidence is read from any retriever in the chain;
    ``ScoredRetriever`` adds the relevance the evidence signals need.

    Args:
        runnable: The chain to wrap (any ``Runnable``).
        calibrator: A fitted calibrator. Without one, ``confidence`` is a raw score
            (``is_calibrated=False``), not a probability.
        embeddings: Enables the ``semantic_support`` signal.
        signal_config: Thresholds for the flags.
        handler: Share one ``CalibrationHandler`` instead of a fresh one per call.
        answer_key: Key of the answer in a dict output.
        strict: Raise capture and scoring errors instead of recording them.
        log_to: Append one JSON line per run to this file (or ``RunLogWriter``): inputs,
            answer, signals, flags, confidence, model and calibrator versions, timestamp and the
            ``run_id`` to join a label on later. Known API-key patterns are redacted.
        p_true_judge: Opt-in second call that shows the model its answer with the context and
            reads P("yes") from the logprobs (``opinions.PTrueJudge(llm)``): the ``p_true``
            signal. Costs one prompt prefill per run.
        verbal_asker: Opt-in second call asking how sure the model is
            (``opinions.VerbalConfidenceAsker(llm)``): the ``stated_confidence`` signal and the
            ``verbal_logprob_disagreement`` cross-check.

    Returns:
        A ``CalibratedRunnable``; ``invoke`` returns ``{"output": ..., "calibration": ...}``.

    Example:
        .. code-block:: python

            chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} \\
                | prompt | ChatOpenAI(logprobs=True, top_logprobs=5) | StrOutputParser()
            calibrated = with_calibration(chain, load_calibrator("calibrator.json"))
            result = calibrated.invoke("Who wrote Dune?")
            result["output"], result["calibration"].confidence, result["calibration"].flags
    """
    if not isinstance(runnable, Runnable):
        msg = (
            f"with_calibration needs a LangChain Runnable, got {type(runnable).__name__}. "
            "Wrap a plain function with RunnableLambda(fn) first."
        )
        raise TypeError(msg)
    if calibrator is not None and not callable(getattr(calibrator, "predict_one", None)):
        msg = (
            f"calibrator must have a predict_one(signals) method; {type(calibrator).__name__} "
            "has none. Use a calibrator from langchain_calibrate.calibrators, fitted first."
        )
        raise TypeError(msg)
    writer = log_to if isinstance(log_to, RunLogWriter) or log_to is None else RunLogWriter(log_to)
    for name, judge, method in (
        ("p_true_judge", p_true_judge, "judge"),
        ("verbal_asker", verbal_asker, "ask"),
    ):
        if judge is not None and not callable(getattr(judge, method, None)):
            msg = (
                f"{name} must have a {method}(question, context, answer) method; "
                f"{type(judge).__name__} has none. Use langchain_calibrate.opinions."
                f"{'PTrueJudge' if method == 'judge' else 'VerbalConfidenceAsker'}(llm)."
            )
            raise TypeError(msg)
    return CalibratedRunnable(
        bound=runnable,
        log_to=writer,
        p_true_judge=p_true_judge,
        verbal_asker=verbal_asker,
        calibrator=calibrator,
        embeddings=embeddings,
        signal_config=signal_config or SignalConfig(),
        handler=handler,
        answer_key=answer_key,
        strict=strict,
    )
