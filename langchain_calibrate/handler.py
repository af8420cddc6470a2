"""A callback handler that gathers the evidence of each run: token logprobs and retrieved documents.

The handler only gathers. It never gates, never calls a model, and never raises into the user's
chain unless asked to (``strict=True``): a failure is recorded on the run's evidence instead.
"""

from __future__ import annotations

import functools
import itertools
import json
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

__all__ = [
    "CalibrationHandler",
    "GenerationRecord",
    "RetrievalRecord",
    "RunEvidence",
    "message_text",
]

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
    from_tool_call: bool = False
    """The message had no text content; ``text`` is the JSON of its tool-call arguments (what
    ``with_structured_output(method="function_calling")`` parses)."""


_OPINION_TAG = "langchain_calibrate:opinion"
"""``opinions.OPINION_TAG``: runs with it are ignored (kept here to avoid importing opinions)."""


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
        candidates = self.candidates
        return candidates[0] if candidates else None

    @property
    def candidates(self) -> list[GenerationRecord]:
        """Every candidate of the answering (last) model call's first prompt, in order.

        One item for an ordinary call; ``n`` for ``ChatOpenAI(n=3)`` / ``OpenAI(n=3)``. The first
        is ``answer``: LangChain's ``invoke`` returns that one.
        """
        if not self.generations:
            return []
        last_run = self.generations[-1].run_id
        return [g for g in self.generations if g.run_id == last_run and g.prompt_index == 0]


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


def _tool_call_text(message: Any) -> str | None:
    """The JSON of a message's tool-call arguments, or ``None`` when it made no tool call."""
    calls = getattr(message, "tool_calls", None) or []
    if len(calls) == 1:
        return json.dumps(calls[0].get("args", {}), ensure_ascii=False)
    if calls:
        return json.dumps(
            [{"name": c.get("name"), "args": c.get("args", {})} for c in calls],
            ensure_ascii=False,
        )
    invalid = getattr(message, "invalid_tool_calls", None) or []
    raw = invalid[0].get("args") if invalid else None
    return raw if isinstance(raw, str) and raw.strip() else None


def message_text(message: Any) -> tuple[str, bool]:
    """The answer text of a message or generation, and whether it came from a tool call.

    The text content when there is some; otherwise the JSON of the tool-call arguments, which
    is where ``with_structured_output(method="function_calling")`` puts the answer.
    """
    text = getattr(message, "text", "")
    if not isinstance(text, str):
        text = text() if callable(text) else ""  # a method in langchain-core < 1.0
    text = text if isinstance(text, str) else ""
    if text.strip():
        return text, False
    args = _tool_call_text(getattr(message, "message", message))
    return (args, True) if args is not None else (text, False)


class CalibrationHandler(BaseCallbackHandler):
    """Collect token logprobs and retrieved documents per run, safely across threads.

    Pass it in the config (``config={"callbacks": [handler]}``) so every step of the chain
    reports to it. Evidence is grouped by *scope*: the root run of each invocation, or, when the
    handler is attached below some outer run (as ``with_calibration`` does), that outer run. A
    retriever and a model on sibling branches of one chain therefore land in the same scope, and
    the elements of a ``batch`` land in separate ones.

    When the last run of a scope ends, its evidence moves to ``finished`` (a bounded, oldest-first
    mapping), ``on_evidence`` is called with it, and every per-run structure is freed. A scope
    also ends when its root run ends, or when ``pop_evidence`` takes it, even if some child never
    reported its own end; and past ``max_open_scopes`` the oldest unclaimed one is closed. So
    memory stays bounded however many runs pass through, ended, failed or abandoned.

    Args:
        strict: Raise errors from inside the handler into the chain instead of recording them.
        on_evidence: Called with each scope's evidence when the scope ends.
        max_finished: How many finished scopes to keep for ``pop_evidence``.
        max_open_scopes: How many scopes may be open at once. Past it, the oldest unclaimed open
            scope is closed as if it had ended (an error on its evidence says so), so runs that
            never end cannot grow the handler without bound. Claimed scopes
            (``with_calibration``'s) are never closed this way.

    Example:
        .. code-block:: python

            handler = CalibrationHandler()
            chain.invoke("Who wrote Dune?", config={"callbacks": [handler], "run_id": rid})
            evidence = handler.pop_evidence(rid)
            evidence.answer.tokens[0].logprob
    """

    # Not run inline: with run_inline=True langchain-core skips the other handlers' on_llm_start
    # (langchain-ai/langchain#39633), which breaks astream_events for completions models.
    run_inline: bool = False

    def __init__(
        self,
        *,
        strict: bool = False,
        on_evidence: Callable[[RunEvidence], None] | None = None,
        max_finished: int = 1024,
        max_open_scopes: int = 4096,
    ) -> None:
        super().__init__()
        if max_finished < 0:
            msg = f"max_finished must be >= 0, got {max_finished}."
            raise ValueError(msg)
        if max_open_scopes < 1:
            msg = f"max_open_scopes must be >= 1, got {max_open_scopes}."
            raise ValueError(msg)
        self.strict = strict
        self.on_evidence = on_evidence
        self.max_finished = max_finished
        self.max_open_scopes = max_open_scopes
        self.finished: OrderedDict[UUID, RunEvidence] = OrderedDict()
        self.unscoped_errors: list[str] = []
        self._lock = threading.Lock()
        self._scope_of: dict[UUID, UUID] = {}
        """Every open run -> its scope."""
        self._live: OrderedDict[UUID, set[UUID]] = OrderedDict()
        """Every open scope -> its open runs, oldest scope first."""
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
        """Remove and return a scope's evidence (finished or still running); releases a claim.

        This closes the scope: runs of it that are still open (e.g. a child whose end never
        came) are forgotten, and their later end events are ignored. A scope still open is
        reported to ``on_evidence`` here.
        """
        with self._lock:
            self._claimed.discard(scope_id)
            was_open = scope_id in self._live
            for run_id in self._live.pop(scope_id, ()):
                self._scope_of.pop(run_id, None)
                self._calls.pop(run_id, None)
            evidence = self.finished.pop(scope_id, None)
            if evidence is None:
                evidence = self._evidence.pop(scope_id, None)
            else:
                self._evidence.pop(scope_id, None)
        if was_open:  # the scope ends here: report it, as when its last run ends
            self._emit(evidence or RunEvidence(scope_id))
        return evidence

    @property
    def active_runs(self) -> int:
        """Runs started and not yet ended (0 when idle: nothing is leaking)."""
        with self._lock:
            return len(self._scope_of)

    def state_sizes(self) -> dict[str, int]:
        """How many entries each internal structure holds; all but ``finished`` are 0 when idle.

        ``finished`` is at most ``max_finished`` plus the claimed scopes, ``unscoped_errors`` at
        most 100, and the open scopes at most ``max_open_scopes`` plus the claimed ones.
        """
        with self._lock:
            return {
                "open_runs": len(self._scope_of),
                "open_scopes": len(self._live),
                "evidence": len(self._evidence),
                "model_calls": len(self._calls),
                "claimed": len(self._claimed),
                "finished": len(self.finished),
                "unscoped_errors": len(self.unscoped_errors),
            }

    # -- scope bookkeeping (callers hold no lock) --------------------------------------------

    def _enter(self, run_id: UUID, parent_run_id: UUID | None) -> UUID:
        evicted: list[RunEvidence] = []
        with self._lock:
            known = self._scope_of.get(run_id)
            if known is not None:
                return known
            if parent_run_id is None:
                scope = run_id
            elif parent_run_id in self._claimed:
                # A claimed run (with_calibration's) bounds a scope even when this handler
                # also sees the runs around it.
                scope = parent_run_id
            else:
                scope = self._scope_of.get(parent_run_id, parent_run_id)
            self._scope_of[run_id] = scope
            runs = self._live.get(scope)
            if runs is None:
                runs = self._live[scope] = set()
                if len(self._live) > self.max_open_scopes:
                    evicted = self._evict_locked(keep=scope)
            runs.add(run_id)
        for done in evicted:
            self._emit(done)
        return scope

    def _exit(self, run_id: UUID) -> None:
        with self._lock:
            self._calls.pop(run_id, None)
            scope = self._scope_of.pop(run_id, None)
            if scope is None:
                return
            runs = self._live.get(scope)
            if runs is not None:
                runs.discard(run_id)
            # The scope ends with its last open run, or with its root run: children of an ended
            # root that never reported their own end are dropped with it.
            if runs and run_id != scope:
                return
            done = self._close_locked(scope)
        self._emit(done)

    def _close_locked(self, scope: UUID) -> RunEvidence:
        """Free a scope's runs and move its evidence to ``finished``; caller holds the lock."""
        for run_id in self._live.pop(scope, ()):
            self._scope_of.pop(run_id, None)
            self._calls.pop(run_id, None)
        done = self._evidence.pop(scope, None) or RunEvidence(scope)
        if scope in self._claimed or self.max_finished:
            self.finished[scope] = done
            self.finished.move_to_end(scope)
            excess = len(self.finished) - self.max_finished
            if excess > 0:
                # Claimed scopes stay until popped (the wrapper pops at once); drop the oldest
                # unclaimed ones.
                unclaimed = (s for s in self.finished if s not in self._claimed)
                for old in list(itertools.islice(unclaimed, excess)):
                    del self.finished[old]
        return done

    def _evict_locked(self, keep: UUID) -> list[RunEvidence]:
        """Close the oldest unclaimed scopes past ``max_open_scopes``; caller holds the lock."""
        excess = len(self._live) - self.max_open_scopes
        victims = list(
            itertools.islice(
                (s for s in self._live if s != keep and s not in self._claimed), excess
            )
        )
        closed = []
        for scope in victims:
            open_runs = len(self._live.get(scope, ()))
            evidence = self._evidence.get(scope)
            if evidence is None:
                evidence = self._evidence[scope] = RunEvidence(scope)
            evidence.errors.append(
                f"scope closed with {open_runs} run(s) still open: more than "
                f"max_open_scopes={self.max_open_scopes} scopes were open at once (runs that "
                "never ended?)"
            )
            closed.append(self._close_locked(scope))
        if victims:
            logger.warning(
                "CalibrationHandler closed %d scope(s) past max_open_scopes=%d",
                len(victims),
                self.max_open_scopes,
            )
        return closed

    def _emit(self, done: RunEvidence) -> None:
        if self.on_evidence is None:
            return
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
        if _OPINION_TAG in (kwargs.get("tags") or ()):
            # A second opinion about an answer (P(True), stated confidence) is not an answer.
            return
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
                text, from_tool_call = message_text(generation)
                records.append(
                    GenerationRecord(
                        run_id=run_id,
                        text=text,
                        tokens=tokens,
                        prompt_index=p_idx,
                        candidate_index=c_idx,
                        model_name=call.model_name if call else None,
                        logprobs_requested=call.logprobs_requested if call else None,
                        uses_responses_api=(call is not None and call.uses_responses_api)
                        or _from_responses_api(generation),
                        from_tool_call=from_tool_call,
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
