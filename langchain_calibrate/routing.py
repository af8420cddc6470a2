"""Send low-confidence answers somewhere else: "I don't know", a review queue, a bigger model."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, cast, runtime_checkable

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, ConfigDict
from typing_extensions import override

from langchain_calibrate.opinions.checks import (
    CONFIDENCE_REFUSED,
    CONFIDENCE_UNPARSEABLE,
    P_TRUE_UNAVAILABLE,
)
from langchain_calibrate.result import CAPTURE_ERROR, Calibration
from langchain_calibrate.runnable import CalibratedRunnable, with_calibration
from langchain_calibrate.signals import (
    FLAT_DISTRIBUTION,
    LOW_EVIDENCE,
    NO_LOGPROBS,
    UNRELIABLE_FLAGS,
)

KNOWN_FLAGS = frozenset(
    {
        NO_LOGPROBS,
        LOW_EVIDENCE,
        FLAT_DISTRIBUTION,
        CAPTURE_ERROR,
        *UNRELIABLE_FLAGS,
        CONFIDENCE_UNPARSEABLE,
        CONFIDENCE_REFUSED,
        P_TRUE_UNAVAILABLE,
    }
)

ROUTING_EVENT = "routing"
"""Name of the custom event (``astream_events``) a router dispatches once it has decided.

Its data is ``{"routing": <RoutingDecision or TierDecision>, "calibration": <the Calibration
that decided>}``, the same two keys the router's result carries. It is dispatched before any
fallback runs, so a UI learns the decision as soon as it is made.
"""

StreamMode = Literal["buffer", "passthrough"]
"""How a router streams: hold the answer until it is judged, or pass its tokens through."""

STREAM_MODES: tuple[StreamMode, ...] = ("buffer", "passthrough")

logger = logging.getLogger(__name__)

__all__ = [
    "ROUTING_EVENT",
    "STREAM_MODES",
    "ConfidenceRouter",
    "LowConfidenceError",
    "RoutingDecision",
    "StreamMode",
    "SupportsThreshold",
    "require_confidence",
    "route_by_confidence",
]


@runtime_checkable
class SupportsThreshold(Protocol):
    """A fitted threshold object (for example one chosen for a target risk)."""

    @property
    def threshold(self) -> float:
        """The confidence at or above which an answer is kept."""
        ...


def _threshold_value(threshold: float | SupportsThreshold) -> float:
    value = threshold.threshold if isinstance(threshold, SupportsThreshold) else threshold
    if isinstance(value, float) and value == math.inf:
        return math.inf  # "answer nothing" (a fitted threshold no data met): even 1.0 is routed
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        msg = (
            "threshold must be a number in [0, 1] (or have a .threshold in it), or math.inf to "
            f"route every answer; got {value!r}."
        )
        raise ValueError(msg)
    return float(value)


class RoutingDecision(BaseModel):
    """Why an answer was kept or sent to the fallback."""

    model_config = ConfigDict(frozen=True)

    routed: bool
    reason: str
    threshold: float
    confidence: float | None
    is_calibrated: bool
    original_output: Any = None
    """The primary chain's answer when it was routed away (kept for review)."""


class LowConfidenceError(Exception):
    """Raised by ``require_confidence`` so ``with_fallbacks`` can take over.

    Attributes:
        calibration: The calibration that fell short.
        output: The answer that was withheld.
        threshold: The threshold it missed.
    """

    def __init__(self, calibration: Calibration, output: Any, threshold: float) -> None:
        self.calibration = calibration
        self.output = output
        self.threshold = threshold
        shown = "none" if calibration.confidence is None else f"{calibration.confidence:.3f}"
        kind = "probability" if calibration.is_calibrated else "raw score"
        super().__init__(
            f"Confidence {shown} ({kind}) is below the threshold {threshold:.3f}"
            + (f"; flags: {', '.join(calibration.flags)}" if calibration.flags else "")
        )


def _decide(
    calibration: Calibration, threshold: float, route_on_flags: Sequence[str]
) -> tuple[bool, str]:
    flagged = [f for f in calibration.flags if f in route_on_flags]
    if calibration.confidence is None:
        return True, "no confidence (no logprob evidence and no calibrator)"
    if flagged:
        return True, f"flagged: {', '.join(flagged)}"
    if calibration.confidence < threshold:
        return True, f"confidence {calibration.confidence:.3f} < threshold {threshold:.3f}"
    return False, f"confidence {calibration.confidence:.3f} >= threshold {threshold:.3f}"


class _Relay:
    """Pass a ``CalibratedRunnable``'s output chunks on under ``key``; add up its whole result."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.result: AddableDict = AddableDict()

    def push(self, chunk: Mapping[str, Any]) -> AddableDict | None:
        """Take one chunk; return ``{key: output chunk}`` to yield, or ``None`` (nothing new)."""
        self.result = self.result + AddableDict(chunk)
        output = chunk.get("output")
        return None if output is None else AddableDict({self.key: output})


def _routing_event_data(decision: BaseModel, calibration: Calibration) -> dict[str, Any]:
    return {"routing": decision, "calibration": calibration}


def _event_failed(exc: Exception, strict: bool) -> None:
    # A user's event handler that raises must not cost them the answer (as with_calibration).
    if strict:
        raise exc
    logger.warning("could not dispatch the %r event: %r", ROUTING_EVENT, exc)


def _dispatch_routing(
    decision: BaseModel, calibration: Calibration, config: RunnableConfig, *, strict: bool
) -> None:
    """Dispatch the ``"routing"`` custom event (sync)."""
    try:
        data = _routing_event_data(decision, calibration)
        dispatch_custom_event(ROUTING_EVENT, data, config=config)
    except Exception as exc:
        _event_failed(exc, strict)


async def _adispatch_routing(
    decision: BaseModel, calibration: Calibration, config: RunnableConfig, *, strict: bool
) -> None:
    """Dispatch the ``"routing"`` custom event (async)."""
    try:
        data = _routing_event_data(decision, calibration)
        await adispatch_custom_event(ROUTING_EVENT, data, config=config)
    except Exception as exc:
        _event_failed(exc, strict)


def _checked_stream_mode(stream_mode: Any) -> StreamMode:
    if stream_mode not in STREAM_MODES:
        msg = (
            f"stream_mode must be 'buffer' (hold the answer until it is judged) or "
            f"'passthrough' (stream its tokens, then the decision); got {stream_mode!r}."
        )
        raise ValueError(msg)
    return cast(StreamMode, stream_mode)


class _OneInputStreaming(RunnableSerializable[Any, dict[str, Any]]):
    """``stream``/``astream`` for a router that judges one whole input (via ``_stream``)."""

    def _stream(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _astream(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError

    @override
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        yield from self._transform_stream_with_config(iter([input]), self._stream, config, **kwargs)

    @override
    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        async def one() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            one(), self._astream, config, **kwargs
        ):
            yield chunk


class ConfidenceRouter(_OneInputStreaming):
    """Run a calibrated chain; below the threshold, run the fallback instead.

    Returns ``{"output", "calibration", "routing"}``; ``output`` is the fallback's when routed.
    Build it with ``route_by_confidence``. Every run dispatches a ``"routing"`` custom event
    (``ROUTING_EVENT``) with ``{"routing": RoutingDecision, "calibration": Calibration}`` as
    soon as the decision is made, besides the wrapped chain's own ``"calibration"`` event; both
    show in ``astream_events(version="v2")`` as ``on_custom_event``.

    Streaming, by ``stream_mode``:

    * ``"buffer"`` (default): the primary answer is held until it is judged (it runs with
      ``invoke``). Kept: one chunk ``{"output", "calibration", "routing"}``. Routed: a chunk
      ``{"calibration", "routing"}``, then the fallback's chunks as ``{"output": chunk}``. Adding
      the chunks gives the ``invoke`` result. Nothing of a routed answer reaches the router's
      stream (``astream_events`` still reports the inner model's own token events).
    * ``"passthrough"``: the primary streams as it is generated, ``{"output": chunk}`` each,
      then one chunk ``{"calibration", "routing"}``; when routed, the fallback's chunks follow
      as ``{"fallback": chunk}``, so a UI replaces the answer it has shown. Adding the chunks
      gives ``{"output": <primary answer>, "calibration", "routing", "fallback": <fallback
      answer>}`` (no ``"fallback"`` key when kept).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    calibrated: CalibratedRunnable
    fallback: Runnable[Any, Any]
    threshold: float
    route_on_flags: tuple[str, ...] = ()
    fallback_input: Literal["input", "result"] = "input"
    stream_mode: StreamMode = "buffer"
    """``"buffer"``: release the answer only once judged; ``"passthrough"``: stream it at once."""

    def _fallback_arg(self, input: Any, result: Mapping[str, Any]) -> Any:
        if self.fallback_input == "input":
            return input
        return {"input": input, "output": result["output"], "calibration": result["calibration"]}

    def _decision(self, result: Mapping[str, Any]) -> RoutingDecision:
        calibration: Calibration = result["calibration"]
        routed, reason = _decide(calibration, self.threshold, self.route_on_flags)
        return RoutingDecision(
            routed=routed,
            reason=reason,
            threshold=self.threshold,
            confidence=calibration.confidence,
            is_calibrated=calibration.is_calibrated,
            original_output=result["output"] if routed else None,
        )

    def _decided(self, result: Mapping[str, Any], config: RunnableConfig) -> RoutingDecision:
        """Decide, and dispatch the ``"routing"`` event (sync)."""
        decision = self._decision(result)
        _dispatch_routing(decision, result["calibration"], config, strict=self.calibrated.strict)
        return decision

    async def _adecided(self, result: Mapping[str, Any], config: RunnableConfig) -> RoutingDecision:
        """Decide, and dispatch the ``"routing"`` event (async)."""
        decision = self._decision(result)
        await _adispatch_routing(
            decision, result["calibration"], config, strict=self.calibrated.strict
        )
        return decision

    def _invoke(
        self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        result = self.calibrated.invoke(input, config)
        decision = self._decided(result, config)
        output = result["output"]
        if decision.routed:
            output = self.fallback.invoke(self._fallback_arg(input, result), config)
        return AddableDict(output=output, calibration=result["calibration"], routing=decision)

    async def _ainvoke(
        self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        result = await self.calibrated.ainvoke(input, config)
        decision = await self._adecided(result, config)
        output = result["output"]
        if decision.routed:
            output = await self.fallback.ainvoke(self._fallback_arg(input, result), config)
        return AddableDict(output=output, calibration=result["calibration"], routing=decision)

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

    def _stream(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[dict[str, Any]]:
        input = next(inputs)
        if self.stream_mode == "passthrough":
            relay = _Relay("output")
            for chunk in self.calibrated.stream(input, config):
                if (ready := relay.push(chunk)) is not None:
                    yield ready
            result: Mapping[str, Any] = relay.result
        else:
            result = self.calibrated.invoke(input, config)
        decision = self._decided(result, config)
        meta = {"calibration": result["calibration"], "routing": decision}
        if not decision.routed:
            if self.stream_mode == "passthrough":
                yield AddableDict(meta)
            else:
                yield AddableDict(output=result["output"], **meta)
            return
        yield AddableDict(meta)
        key = "fallback" if self.stream_mode == "passthrough" else "output"
        for chunk in self.fallback.stream(self._fallback_arg(input, result), config):
            yield AddableDict({key: chunk})

    async def _astream(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[dict[str, Any]]:
        input = await anext(inputs)
        if self.stream_mode == "passthrough":
            relay = _Relay("output")
            async for chunk in self.calibrated.astream(input, config):
                if (ready := relay.push(chunk)) is not None:
                    yield ready
            result: Mapping[str, Any] = relay.result
        else:
            result = await self.calibrated.ainvoke(input, config)
        decision = await self._adecided(result, config)
        meta = {"calibration": result["calibration"], "routing": decision}
        if not decision.routed:
            if self.stream_mode == "passthrough":
                yield AddableDict(meta)
            else:
                yield AddableDict(output=result["output"], **meta)
            return
        yield AddableDict(meta)
        key = "fallback" if self.stream_mode == "passthrough" else "output"
        async for chunk in self.fallback.astream(self._fallback_arg(input, result), config):
            yield AddableDict({key: chunk})


def _checked_flags(route_on_flags: Sequence[str]) -> tuple[str, ...]:
    if isinstance(route_on_flags, str):
        msg = (
            f"route_on_flags must be a list of flag names, got the string {route_on_flags!r}; "
            f"write route_on_flags=[{route_on_flags!r}]."
        )
        raise TypeError(msg)
    unknown = sorted(set(route_on_flags) - set(KNOWN_FLAGS))
    if unknown:
        msg = f"Unknown flag(s) {unknown} in route_on_flags; the flags are {sorted(KNOWN_FLAGS)}."
        raise ValueError(msg)
    return tuple(route_on_flags)


def _as_calibrated(runnable: Runnable[Any, Any]) -> CalibratedRunnable:
    return runnable if isinstance(runnable, CalibratedRunnable) else with_calibration(runnable)


def route_by_confidence(
    runnable: Runnable[Any, Any],
    threshold: float | SupportsThreshold,
    fallback: Runnable[Any, Any],
    *,
    route_on_flags: Sequence[str] = UNRELIABLE_FLAGS,
    fallback_input: Literal["input", "result"] = "input",
    stream_mode: StreamMode = "buffer",
) -> ConfidenceRouter:
    """Route answers below ``threshold`` to ``fallback``.

    An answer with no confidence at all (no logprobs and no calibrator) is always routed. Each
    run dispatches a ``"routing"`` custom event with ``{"routing", "calibration"}`` once decided.

    Args:
        runnable: A ``with_calibration`` chain (a plain chain is wrapped with raw scores).
        threshold: Keep answers at or above this confidence, or a fitted threshold object.
        fallback: Runs instead, e.g. ``RunnableLambda(lambda _: "I don't know.")``, a bigger
            model's chain, or a function that writes to a review queue.
        route_on_flags: Flags that route an answer whatever its confidence. The default is
            ``signals.UNRELIABLE_FLAGS`` (``verbal_logprob_disagreement``,
            ``assertive_without_evidence``): an answer so flagged is unreliable whatever its
            number says. Pass ``()`` to opt out, or add e.g. ``"low_evidence"``.
        fallback_input: ``"input"`` gives the fallback the original input; ``"result"`` gives it
            ``{"input", "output", "calibration"}`` (what a review queue needs).
        stream_mode: How ``stream``/``astream`` deliver the answer. ``"buffer"`` holds it until
            it is judged and releases it only if it passes (else the fallback streams).
            ``"passthrough"`` streams its tokens as they come (``{"output": chunk}``), then
            ``{"calibration", "routing"}``, then, if routed, the fallback as
            ``{"fallback": chunk}`` (see ``ConfidenceRouter``).

    Returns:
        A ``ConfidenceRouter`` returning ``{"output", "calibration", "routing"}``.

    Raises:
        TypeError: When ``fallback`` is not a Runnable.
        ValueError: For a threshold outside [0, 1], an unknown flag or ``stream_mode``.

    Example:
        .. code-block:: python

            router = route_by_confidence(
                with_calibration(chain, calibrator), 0.7,
                RunnableLambda(lambda _: "I don't know."),
            )
            router.invoke("Who wrote Dune?")["routing"].reason

            # Stream tokens now; swap the answer out if the decision comes back routed.
            live = route_by_confidence(calibrated, 0.7, idk, stream_mode="passthrough")
            for chunk in live.stream("Who wrote Dune?"):
                ...  # {"output": token} ..., {"calibration", "routing"}, {"fallback": ...}
    """
    if not isinstance(fallback, Runnable):
        msg = (
            f"fallback must be a Runnable, got {type(fallback).__name__}; wrap a function with "
            "RunnableLambda(fn) or a constant with RunnableLambda(lambda _: 'I don't know.')."
        )
        raise TypeError(msg)
    return ConfidenceRouter(
        calibrated=_as_calibrated(runnable),
        fallback=fallback,
        threshold=_threshold_value(threshold),
        route_on_flags=_checked_flags(route_on_flags),
        fallback_input=fallback_input,
        stream_mode=_checked_stream_mode(stream_mode),
    )


def require_confidence(
    runnable: Runnable[Any, Any],
    threshold: float | SupportsThreshold,
    *,
    route_on_flags: Sequence[str] = UNRELIABLE_FLAGS,
) -> Runnable[Any, dict[str, Any]]:
    """A calibrated chain that raises ``LowConfidenceError`` below ``threshold``.

    For ``with_fallbacks``:

    .. code-block:: python

        guarded = require_confidence(with_calibration(chain, calibrator), 0.7)
        safe = guarded.with_fallbacks(
            [RunnableLambda(lambda _: {"output": "I don't know."})],
            exceptions_to_handle=(LowConfidenceError,),
        )
    """
    calibrated = _as_calibrated(runnable)
    limit = _threshold_value(threshold)
    flags = _checked_flags(route_on_flags)

    def gate(result: dict[str, Any]) -> dict[str, Any]:
        routed, _ = _decide(result["calibration"], limit, flags)
        if routed:
            raise LowConfidenceError(result["calibration"], result["output"], limit)
        return result

    return (calibrated | gate).with_config(run_name="require_confidence")
