"""A callback handler that gathers the evidence of each run: token logprobs and retrieved documents.

The handler only gathers. It never gates, never calls a model, and never raises into the user's
chain unless asked to (``strict=True``): a failure is recorded on the run's evidence instead.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult
from typing_extensions import override

from langchain_calibrate.logprobs import (
    TokenLogprob,
    logprobs_from_generation,
    merge_logprob_chunks,
)

__all__ = ["CalibrationHandler", "GenerationRecord", "RetrievalRecord", "RunEvidence"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """One generation of one model call."""

    run_id: UUID
    text: str
    tokens: list[TokenLogprob] | None
    """``None`` when the provider returned no logprobs for this generation."""
    prompt_index: int = 0
    candidate_index: int = 0
    """Position among the ``n`` candidates of one prompt."""
    model_name: str | None = None
    logprobs_requested: bool | None = None
    """Whether the call's parameters asked for logprobs; ``None`` when unknown."""
    uses_responses_api: bool = False


@dataclass(frozen=True, slots=True)
class RetrievalRecord:
    """One retriever call and what it returned."""

    run_id: UUID
    query: str
    documents: list[Document]


@dataclass(slots=True)
class RunEvidence:
    """Everything captured inside one scope (one wrapped invocation, or one root run)."""

    scope_id: UUID
    generations: list[GenerationRecord] = field(default_factory=list)
    retrievals: list[RetrievalRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def documents(self) -> list[Document]:
        """Every retrieved document, in retrieval order."""
        return [doc for r in self.retrievals for doc in r.documents]

    @property
    def answer(self) -> GenerationRecord | None:
        """The generation that produced the answer: the first candidate of the last model call."""
        if not self.generations:
            return None
        last_run = self.generations[-1].run_id
        for gen in self.generations:
            if gen.run_id == last_run:
                return gen
        return None  # pragma: no cover - unreachable, the last run has a generation


@dataclass(slots=True)
class _ModelCall:
    scope: UUID
    model_name: str | None
    logprobs_requested: bool | None
    uses_responses_api: bool
    streamed: list[Any] = field(default_factory=list)
    """Raw streamed chunks (or logprob payloads), normalized only if ``on_llm_end`` lacks them."""


def _guarded(*, ends_run: bool) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Record a failure inside a callback instead of breaking the chain (unless strict).

    With ``ends_run`` the run is closed after the body, whether it failed or not, so a failure
    is still recorded on the run's own evidence and its state is still freed.
    """

    def decorate(method: Callable[P, R]) -> Callable[P, R | None]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
            self = args[0]
            if not isinstance(self, CalibrationHandler):  # pragma: no cover - misuse
                raise TypeError(type(self).__name__)
            run_id = kwargs.get("run_id")
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if self.strict:
                    raise
                self._record_error(run_id, method.__name__, exc)
                return None
            finally:
                if ends_run and isinstance(run_id, UUID):
                    self._exit(run_id)

        return wrapper

    return decorate


_RESPONSES_ONLY_PARAMS = ("reasoning", "include", "truncation", "previous_response_id", "text")


def _from_responses_api(generation: Any) -> bool:
    """Whether a generation came from OpenAI's Responses API, which drops logprobs."""
    metadata = getattr(getattr(generation, "message", None), "response_metadata", None) or {}
    response_id = metadata.get("id")
    return metadata.get("object") == "response" or (
        isinstance(response_id, str) and response_id.startswith("resp_")
    )


def _logprobs_requested(params: dict[str, Any]) -> bool | None:
    if not params:
        return None
    # Completions' logprobs=0 still returns the chosen tokens' logprobs.
    value = params.get("logprobs")
    return value is not None and value is not False


class CalibrationHandler(BaseCallbackHandler):
    """Collect token logprobs and retrieved documents per run, safely across threads.

    Pass it in the config (``config={"callbacks": [handler]}``) so every step of the chain
    reports to it. Evidence is grouped by *scope*: the root run of each invocation, or, when the
    handler is attached below some outer run (as ``with_calibration`` does), that outer run. A
    retriever and a model on sibling branches of one chain therefore land in the same scope, and
    the elements of a ``batch`` land in separate ones.

    When the last run of a scope ends, its evidence moves to ``finished`` (a bounded, oldest-first
    mapping), ``on_evidence`` is called with it, and every per-run structure is freed.

    Args:
        strict: Raise errors from inside the handler into the chain instead of recording them.
        on_evidence: Called with each scope's evidence when the scope ends.
        max_finished: How many finished scopes to keep for ``pop_evidence``.

    Example:
        .. code-block:: python

            handler = CalibrationHandler()
            chain.invoke("Who wrote Dune?", config={"callbacks": [handler], "run_id": rid})
            evidence = handler.pop_evidence(rid)
            evidence.answer.tokens[0].logprob
    """

    run_inline: bool = True  # cheap and lock-protected: no need for an executor hop in async

    def __init__(
        self,
        *,
        strict: bool = False,
        on_evidence: Callable[[RunEvidence], None] | None = None,
        max_finished: int = 1024,
    ) -> None:
        super().__init__()
        if max_finished < 0:
            msg = f"max_finished must be >= 0, got {max_finished}."
            raise ValueError(msg)
        self.strict = strict
        self.on_evidence = on_evidence
        self.max_finished = max_finished
        self.finished: OrderedDict[UUID, RunEvidence] = OrderedDict()
        self.unscoped_errors: list[str] = []
        self._lock = threading.Lock()
        self._scope_of: dict[UUID, UUID] = {}
        self._live: dict[UUID, int] = {}
        self._evidence: dict[UUID, RunEvidence] = {}
        self._calls: dict[UUID, _ModelCall] = {}
        self._claimed: set[UUID] = set()

    @property
    def raise_error(self) -> bool:  # type: ignore[override]
        """In strict mode LangChain re-raises what the handler raises."""
        return self.strict

    def __repr__(self) -> str:
        return f"CalibrationHandler(live_scopes={len(self._live)}, finished={len(self.finished)})"

    # -- public access ---------------------------------------------------------------------

    def claim(self, scope_id: UUID) -> None:
        """Keep this scope's evidence for ``pop_evidence`` even when ``max_finished`` is 0.

        ``with_calibration`` claims its own run before invoking the chain, so a shared handler's
        ``finished`` bound can never drop evidence the wrapper is about to read.
        """
        with self._lock:
            self._claimed.add(scope_id)

    def pop_evidence(self, scope_id: UUID) -> RunEvidence | None:
        """Remove and return a scope's evidence (finished or still running); releases a claim."""
        with self._lock:
            self._claimed.discard(scope_id)
            evidence = self.finished.pop(scope_id, None)
            if evidence is None:
                evidence = self._evidence.pop(scope_id, None)
            return evidence

    @property
    def active_runs(self) -> int:
        """Runs started and not yet ended (0 when idle: nothing is leaking)."""
        with self._lock:
            return len(self._scope_of)

    # -- scope bookkeeping (callers hold no lock) --------------------------------------------

    def _enter(self, run_id: UUID, parent_run_id: UUID | None) -> UUID:
        with self._lock:
            if parent_run_id is None:
                scope = run_id
            else:
                scope = self._scope_of.get(parent_run_id, parent_run_id)
            if run_id not in self._scope_of:
                self._scope_of[run_id] = scope
                self._live[scope] = self._live.get(scope, 0) + 1
            return self._scope_of[run_id]

    def _exit(self, run_id: UUID) -> None:
        done = None
        with self._lock:
            self._calls.pop(run_id, None)
            scope = self._scope_of.pop(run_id, None)
            if scope is None:
                return
            self._live[scope] -= 1
            if self._live[scope] > 0:
                return
            del self._live[scope]
            done = self._evidence.pop(scope, None) or RunEvidence(scope)
            if scope in self._claimed:
                self.finished[scope] = done
            elif self.max_finished:
                self.finished[scope] = done
                while len(self.finished) > self.max_finished:
                    oldest = next(iter(self.finished))
                    if oldest in self._claimed:  # pragma: no cover - claims are popped at once
                        break
                    del self.finished[oldest]
        if self.on_evidence is not None:
            try:
                self.on_evidence(done)
            except Exception as exc:
                if self.strict:
                    raise
                logger.warning("on_evidence callback failed: %r", exc)

    def _scope_evidence(self, run_id: UUID) -> RunEvidence | None:
        """The evidence object of the run's scope; caller holds the lock."""
        scope = self._scope_of.get(run_id)
        if scope is None:
            return None
        evidence = self._evidence.get(scope)
        if evidence is None:
            evidence = self._evidence[scope] = RunEvidence(scope)
        return evidence

    def _record_error(self, run_id: Any, where: str, exc: BaseException) -> None:
        message = f"{where}: {type(exc).__name__}: {exc}"
        logger.warning("CalibrationHandler recorded an error in %s", message)
        with self._lock:
            evidence = self._scope_evidence(run_id) if isinstance(run_id, UUID) else None
            if evidence is not None:
                evidence.errors.append(message)
            else:
                self.unscoped_errors.append(message)
                del self.unscoped_errors[:-100]

    # -- model runs ----------------------------------------------------------------------------

    def _start_model(self, run_id: UUID, parent_run_id: UUID | None, kwargs: dict) -> None:
        scope = self._enter(run_id, parent_run_id)
        params = kwargs.get("invocation_params") or {}
        metadata = kwargs.get("metadata") or {}
        call = _ModelCall(
            scope=scope,
            model_name=metadata.get("ls_model_name")
            or params.get("model_name")
            or params.get("model"),
            logprobs_requested=_logprobs_requested(params),
            uses_responses_api=bool(params.get("use_responses_api"))
            or params.get("output_version") == "responses/v1"
            or any(params.get(k) for k in _RESPONSES_ONLY_PARAMS),
        )
        with self._lock:
            self._calls[run_id] = call

    @override
    @_guarded(ends_run=False)
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(run_id, parent_run_id, kwargs)

    @override
    @_guarded(ends_run=False)
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_model(run_id, parent_run_id, kwargs)

    @override
    @_guarded(ends_run=False)
    def on_llm_new_token(
        self,
        token: str,
        *,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        # Only a fallback: on_llm_end normally carries the merged logprobs, so nothing is
        # parsed here, on the per-token path; the chunk is kept in case it is needed.
        source = chunk if chunk is not None else kwargs.get("logprobs")
        if source is not None:
            with self._lock:
                call = self._calls.get(run_id)
                if call is not None:
                    call.streamed.append(source)

    @override
    @_guarded(ends_run=True)
    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            call = self._calls.get(run_id)
        records = []
        for p_idx, candidates in enumerate(response.generations):
            for c_idx, generation in enumerate(candidates):
                tokens = logprobs_from_generation(generation)
                single = len(response.generations) == 1 and len(candidates) == 1
                if tokens is None and call is not None and call.streamed and single:
                    tokens = merge_logprob_chunks(call.streamed)
                records.append(
                    GenerationRecord(
                        run_id=run_id,
                        text=generation.text,
                        tokens=tokens,
                        prompt_index=p_idx,
                        candidate_index=c_idx,
                        model_name=call.model_name if call else None,
                        logprobs_requested=call.logprobs_requested if call else None,
                        uses_responses_api=(call is not None and call.uses_responses_api)
                        or _from_responses_api(generation),
                    )
                )
        with self._lock:
            evidence = self._scope_evidence(run_id)
            if evidence is not None:
                evidence.generations.extend(records)

    @override
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._exit(run_id)

    # -- retrievers ----------------------------------------------------------------------------

    @override
    @_guarded(ends_run=False)
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._enter(run_id, parent_run_id)
        with self._lock:
            # on_retriever_end gets no query; keep it on a placeholder record.
            evidence = self._scope_evidence(run_id)
            if evidence is not None:
                evidence.retrievals.append(RetrievalRecord(run_id, str(query), []))

    @override
    @_guarded(ends_run=True)
    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        docs = [d for d in documents if isinstance(d, Document)]
        with self._lock:
            evidence = self._scope_evidence(run_id)
            if evidence is not None:
                for i, record in enumerate(evidence.retrievals):
                    if record.run_id == run_id:
                        evidence.retrievals[i] = RetrievalRecord(run_id, record.query, docs)
                        break

    @override
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._exit(run_id)

    # -- everything else only tracks the tree ------------------------------------------------

    @override
    @_guarded(ends_run=False)
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._enter(run_id, parent_run_id)

    @override
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._exit(run_id)

    @override
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._exit(run_id)

    @override
    @_guarded(ends_run=False)
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._enter(run_id, parent_run_id)

    @override
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._exit(run_id)

    @override
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._exit(run_id)
