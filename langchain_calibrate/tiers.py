"""Route each answer to one of several ordered tiers by its confidence: answer, escalate, review.

``route_by_tiers`` generalises ``route_by_confidence`` from one threshold to a ladder of them::

    router = route_by_tiers(
        with_calibration(chain, calibrator),
        [
            Tier(name="answer", min_confidence=0.8),
            Tier(name="escalate", min_confidence=0.5, action=with_calibration(big, big_cal)),
            Tier(name="review", action=review_writer(queue)),
        ],
        route_on_flags=["no_logprobs", "low_evidence"],
    )

An answer goes to the first tier whose ``min_confidence`` it meets; the last tier has none and
takes everything else, including every answer without a confidence and every answer carrying a
flag named in ``route_on_flags``. A tier without an ``action`` returns the answer as it is; a tier
whose action is a ``with_calibration`` chain *escalates*: that chain answers the original input,
its answer is scored by its own calibration and placed on the same ladder once more (it cannot
escalate again: a tier that would escalate it passes it down to the next tier). Any other action
(a canned reply, a review-queue writer, an uncalibrated bigger model) runs instead of the answer.

Every result is ``{"output", "calibration", "routing": TierDecision}``; the decision names the
tier, why, and the confidence and threshold that decided it. Each run also dispatches a
``"routing"`` custom event (``routing.ROUTING_EVENT``) with ``{"routing": TierDecision,
"calibration": Calibration}`` once the answer is placed, before the landing tier's action runs.

Streaming follows ``stream_mode`` as in ``route_by_confidence``: ``"buffer"`` (default) holds
the scored answers until placed; ``"passthrough"`` streams the first answer as it is generated
(``{"output": chunk}``), an escalated chain's answer the same way as ``{"escalated": chunk}``,
then ``{"calibration", "routing"}``, then the landing tier's action, if one runs, as
``{"fallback": chunk}``. The answer to show is the last of ``fallback``, ``escalated``, ``output``
present.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import AddableDict
from pydantic import BaseModel, ConfigDict, field_validator
from typing_extensions import override

from langchain_calibrate.result import Calibration
from langchain_calibrate.routing import (
    StreamMode,
    SupportsThreshold,
    _adispatch_routing,
    _as_calibrated,
    _checked_flags,
    _checked_stream_mode,
    _dispatch_routing,
    _OneInputStreaming,
    _Relay,
    _threshold_value,
)
from langchain_calibrate.runnable import CalibratedRunnable
from langchain_calibrate.signals import UNRELIABLE_FLAGS

__all__ = ["Tier", "TierDecision", "TieredRouter", "route_by_tiers"]

ActionInput = Literal["input", "result"]


class Tier(BaseModel):
    """One rung of the ladder ``route_by_tiers`` places answers on.

    Args:
        name: Unique name, recorded in ``TierDecision.tier`` (e.g. ``"answer"``, ``"review"``).
        min_confidence: Answers with ``confidence >= min_confidence`` land here (unless an
            earlier tier took them). A number in [0, 1], ``math.inf`` (matches nothing), or a
            fitted threshold object with a ``.threshold`` (``fit_risk_threshold(...)``). The
            last tier has none: it takes everything the others did not.
        action: What to do with an answer that lands here. ``None`` returns the answer; a
            ``with_calibration`` chain escalates (see the module docstring); any other Runnable
            runs instead and its output is returned.
        action_input: What a non-escalating action receives: ``"input"`` the original input,
            ``"result"`` a dict ``{"input", "output", "calibration", "routing"}`` (what a review
            queue needs). Default: ``"result"`` for an action that declares
            ``accepts_routed_result = True`` (``review_writer`` does), else ``"input"``.

    Example:
        >>> Tier(name="answer", min_confidence=0.8).min_confidence
        0.8
        >>> Tier(name="review").catches_all
        True
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    min_confidence: float | None = None
    action: Runnable[Any, Any] | None = None
    action_input: ActionInput | None = None

    def __init__(
        self,
        name: str | None = None,
        min_confidence: float | SupportsThreshold | None = None,
        action: Runnable[Any, Any] | None = None,
        action_input: ActionInput | None = None,
        **kwargs: Any,
    ) -> None:
        # Positional use reads well too: Tier("answer", 0.8).
        if name is not None:
            kwargs["name"] = name
        super().__init__(
            min_confidence=min_confidence, action=action, action_input=action_input, **kwargs
        )

    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            msg = f"Tier name must be a non-empty string, got {value!r}; e.g. Tier(name='answer')."
            raise ValueError(msg)
        return value

    @field_validator("min_confidence", mode="before")
    @classmethod
    def _check_min_confidence(cls, value: Any) -> float | None:
        return None if value is None else _threshold_value(value)

    @field_validator("action", mode="before")
    @classmethod
    def _check_action(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Runnable):
            msg = (
                f"Tier action must be a Runnable or None, got {type(value).__name__}; wrap a "
                "function with RunnableLambda(fn) or a reply with RunnableLambda(lambda _: '...')."
            )
            raise TypeError(msg)
        return value

    @property
    def catches_all(self) -> bool:
        """True for a tier without ``min_confidence`` (only the last tier may be one)."""
        return self.min_confidence is None

    @property
    def escalates(self) -> bool:
        """True when the action is a ``with_calibration`` chain whose answer is re-scored."""
        return isinstance(self.action, CalibratedRunnable)

    def wants_result(self) -> bool:
        """Whether the action receives ``{"input", "output", "calibration", "routing"}``."""
        if self.action_input is not None:
            return self.action_input == "result"
        return bool(getattr(self.action, "accepts_routed_result", False))


class TierDecision(BaseModel):
    """Where an answer was routed and why."""

    model_config = ConfigDict(frozen=True)

    tier: str
    """The name of the tier that took the answer."""
    index: int
    """Its position in the ladder (0 is the most confident tier)."""
    reason: str
    """One sentence, e.g. ``"confidence 0.612 >= 0.500 (tier 'escalate')"``."""
    confidence: float | None
    """The confidence that decided: the escalated answer's when the answer was escalated."""
    threshold: float | None
    """The threshold that decided: the tier's ``min_confidence`` it met, or for the last tier
    the lowest one it fell below; ``None`` when a flag or a missing confidence decided."""
    is_calibrated: bool
    """Whether ``confidence`` is a calibrated probability (else a raw score)."""
    escalated_from: str | None = None
    """The tier that escalated the answer to another chain, if one did."""
    original_output: Any = None
    """The first chain's answer whenever the output returned is something else."""
    original_confidence: float | None = None
    """The first chain's confidence when the answer was escalated."""


@dataclass(frozen=True)
class _Plan:
    """The outcome of the scoring (and escalation) steps: what to return or run next."""

    input: Any
    result: dict[str, Any]
    decision: TierDecision
    tier: Tier

    @property
    def calibration(self) -> Calibration:
        return self.result["calibration"]

    def action_arg(self) -> Any:
        if not self.tier.wants_result():
            return self.input
        return {
            "input": self.input,
            "output": self.result["output"],
            "calibration": self.calibration,
            "routing": self.decision,
        }

    def final(self, output: Any) -> dict[str, Any]:
        return AddableDict(output=output, calibration=self.calibration, routing=self.decision)


def _fmt(value: float) -> str:
    return "inf" if value == math.inf else f"{value:.3f}"


class TieredRouter(_OneInputStreaming):
    """Run a calibrated chain and place its answer on an ordered ladder of tiers.

    Build it with ``route_by_tiers``, which validates the ladder. Returns
    ``{"output", "calibration", "routing": TierDecision}``; ``calibration`` is the one that
    decided (the escalated chain's after an escalation). Each run dispatches a ``"routing"``
    custom event ``{"routing", "calibration"}`` once the answer is placed.

    Streaming, by ``stream_mode``:

    * ``"buffer"`` (default): the scored answers are held (an answer cannot be placed before it
      is complete); the result comes in one chunk, or, when a tier's action runs, the metadata
      ``{"calibration", "routing"}`` first and then the action's chunks as ``{"output": chunk}``.
      Adding the chunks gives the ``invoke`` result.
    * ``"passthrough"``: the first answer streams as ``{"output": chunk}``; after an escalation
      the escalated chain's answer streams as ``{"escalated": chunk}``; then one chunk
      ``{"calibration", "routing"}``; then, when the landing tier's action runs, its chunks as
      ``{"fallback": chunk}``. Adding the chunks gives ``{"output": <first answer>,
      "escalated": <escalated answer>, "calibration", "routing", "fallback": <action output>}``
      (keys absent when that step did not happen); show the last of fallback/escalated/output.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    calibrated: CalibratedRunnable
    """The first chain to answer."""
    tiers: tuple[Tier, ...]
    """The ladder, most confident tier first; the last catches everything."""
    route_on_flags: tuple[str, ...] = ()
    """Flags that send an answer straight to the last tier."""
    stream_mode: StreamMode = "buffer"
    """``"buffer"``: hold answers until placed; ``"passthrough"``: stream them as they come."""

    @property
    def runnables(self) -> Iterator[Runnable[Any, Any]]:
        """The first chain, then every tier's action."""
        yield self.calibrated
        for tier in self.tiers:
            if tier.action is not None:
                yield tier.action

    # -- deciding --------------------------------------------------------------------------

    def _place(
        self, calibration: Calibration, *, second_pass: bool
    ) -> tuple[int, str, float | None]:
        """The tier index for a calibration, the reason, and the deciding threshold."""
        last = len(self.tiers) - 1
        flagged = [f for f in calibration.flags if f in self.route_on_flags]
        if calibration.confidence is None:
            return last, "no confidence (no logprob evidence and no calibrator)", None
        if flagged:
            return last, f"flagged: {', '.join(flagged)}", None
        confidence = calibration.confidence
        eligible = [
            (index, tier)
            for index, tier in enumerate(self.tiers[:last])
            if not (second_pass and tier.escalates)
        ]

        def note(chosen: int) -> str:
            # Mention an escalating tier only when it, not the chosen one, would have matched.
            for above in self.tiers[:chosen]:
                if second_pass and above.escalates and confidence >= (above.min_confidence or 0):
                    return f"; tier {above.name!r} does not escalate twice"
            return ""

        for index, tier in eligible:
            threshold = float(tier.min_confidence or 0.0)
            if confidence >= threshold:
                reason = f"confidence {confidence:.3f} >= {_fmt(threshold)} (tier {tier.name!r})"
                return index, reason + note(index), threshold
        if not eligible:
            reason = f"confidence {confidence:.3f}, and no tier above the last can take it"
            return last, reason + note(last), None
        lowest = float(eligible[-1][1].min_confidence or 0.0)
        reason = f"confidence {confidence:.3f} < {_fmt(lowest)} (the lowest threshold)"
        return last, reason + note(last), lowest

    def _decision(
        self,
        calibration: Calibration,
        primary: dict[str, Any],
        *,
        escalated_from: str | None = None,
    ) -> tuple[TierDecision, Tier]:
        index, reason, threshold = self._place(calibration, second_pass=escalated_from is not None)
        tier = self.tiers[index]
        keeps_primary = escalated_from is None and tier.action is None
        if escalated_from is not None:
            first = primary["calibration"].confidence
            shown = "none" if first is None else f"{first:.3f}"
            reason = f"escalated from {escalated_from!r} (first answer {shown}); {reason}"
        decision = TierDecision(
            tier=tier.name,
            index=index,
            reason=reason,
            confidence=calibration.confidence,
            threshold=threshold,
            is_calibrated=calibration.is_calibrated,
            escalated_from=escalated_from,
            original_output=None if keeps_primary else primary["output"],
            original_confidence=(
                primary["calibration"].confidence if escalated_from is not None else None
            ),
        )
        return decision, tier

    def _first_plan(self, input: Any, result: dict[str, Any]) -> _Plan:
        decision, tier = self._decision(result["calibration"], result)
        return _Plan(input, result, decision, tier)

    def _escalated_plan(
        self, plan: _Plan, escalated: dict[str, Any], primary: dict[str, Any]
    ) -> _Plan:
        decision, tier = self._decision(
            escalated["calibration"], primary, escalated_from=plan.tier.name
        )
        return _Plan(plan.input, escalated, decision, tier)

    def _plan(self, input: Any, config: RunnableConfig) -> _Plan:
        primary = self.calibrated.invoke(input, config)
        plan = self._first_plan(input, primary)
        if plan.tier.escalates:
            escalated = plan.tier.action.invoke(input, config)  # type: ignore[union-attr]
            plan = self._escalated_plan(plan, escalated, primary)
        return plan

    async def _aplan(self, input: Any, config: RunnableConfig) -> _Plan:
        primary = await self.calibrated.ainvoke(input, config)
        plan = self._first_plan(input, primary)
        if plan.tier.escalates:
            escalated = await plan.tier.action.ainvoke(input, config)  # type: ignore[union-attr]
            plan = self._escalated_plan(plan, escalated, primary)
        return plan

    def _passthrough_plan(
        self, input: Any, config: RunnableConfig
    ) -> Generator[dict[str, Any], None, _Plan]:
        """``_plan`` with each answer streamed as it is generated; returns the plan."""
        relay = _Relay("output")
        for chunk in self.calibrated.stream(input, config):
            if (ready := relay.push(chunk)) is not None:
                yield ready
        primary = relay.result
        plan = self._first_plan(input, primary)
        if plan.tier.escalates:
            relay = _Relay("escalated")
            for chunk in plan.tier.action.stream(input, config):  # type: ignore[union-attr]
                if (ready := relay.push(chunk)) is not None:
                    yield ready
            plan = self._escalated_plan(plan, relay.result, primary)
        return plan

    def _dispatch(self, plan: _Plan, config: RunnableConfig) -> None:
        _dispatch_routing(plan.decision, plan.calibration, config, strict=self.calibrated.strict)

    async def _adispatch(self, plan: _Plan, config: RunnableConfig) -> None:
        await _adispatch_routing(
            plan.decision, plan.calibration, config, strict=self.calibrated.strict
        )

    @staticmethod
    def _runs_action(plan: _Plan) -> bool:
        # After the (single) escalation, the landing tier's action runs unless it has none or
        # it is itself an escalation (which _place never returns on the second pass).
        return plan.tier.action is not None and not plan.tier.escalates

    # -- invoke ----------------------------------------------------------------------------

    def _invoke(
        self, input: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        plan = self._plan(input, config)
        self._dispatch(plan, config)
        if not self._runs_action(plan):
            return plan.final(plan.result["output"])
        return plan.final(plan.tier.action.invoke(plan.action_arg(), config))  # type: ignore[union-attr]

    async def _ainvoke(
        self, input: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        plan = await self._aplan(input, config)
        await self._adispatch(plan, config)
        if not self._runs_action(plan):
            return plan.final(plan.result["output"])
        action = plan.tier.action
        return plan.final(await action.ainvoke(plan.action_arg(), config))  # type: ignore[union-attr]

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

    def _stream(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[dict[str, Any]]:
        input = next(inputs)
        passthrough = self.stream_mode == "passthrough"
        if passthrough:
            plan = yield from self._passthrough_plan(input, config)
        else:
            plan = self._plan(input, config)
        self._dispatch(plan, config)
        meta = AddableDict(calibration=plan.calibration, routing=plan.decision)
        if not self._runs_action(plan):
            yield meta if passthrough else plan.final(plan.result["output"])
            return
        yield meta
        key = "fallback" if passthrough else "output"
        for chunk in plan.tier.action.stream(plan.action_arg(), config):  # type: ignore[union-attr]
            yield AddableDict({key: chunk})

    async def _astream(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> AsyncIterator[dict[str, Any]]:
        input = await anext(inputs)
        passthrough = self.stream_mode == "passthrough"
        if passthrough:
            relay = _Relay("output")
            async for chunk in self.calibrated.astream(input, config):
                if (ready := relay.push(chunk)) is not None:
                    yield ready
            primary = relay.result
            plan = self._first_plan(input, primary)
            if plan.tier.escalates:
                relay = _Relay("escalated")
                bigger = plan.tier.action
                async for chunk in bigger.astream(input, config):  # type: ignore[union-attr]
                    if (ready := relay.push(chunk)) is not None:
                        yield ready
                plan = self._escalated_plan(plan, relay.result, primary)
        else:
            plan = await self._aplan(input, config)
        await self._adispatch(plan, config)
        meta = AddableDict(calibration=plan.calibration, routing=plan.decision)
        if not self._runs_action(plan):
            yield meta if passthrough else plan.final(plan.result["output"])
            return
        yield meta
        key = "fallback" if passthrough else "output"
        action = plan.tier.action
        async for chunk in action.astream(plan.action_arg(), config):  # type: ignore[union-attr]
            yield AddableDict({key: chunk})


def _checked_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    if isinstance(tiers, Tier) or not isinstance(tiers, Sequence) or isinstance(tiers, str):
        msg = (
            f"tiers must be a list of Tier objects, got {type(tiers).__name__}; e.g. "
            "[Tier(name='answer', min_confidence=0.8), Tier(name='review', action=...)]."
        )
        raise TypeError(msg)
    ladder = tuple(tiers)
    for position, tier in enumerate(ladder):
        if not isinstance(tier, Tier):
            msg = (
                f"tiers[{position}] is a {type(tier).__name__}, not a Tier; write "
                "Tier(name=..., min_confidence=..., action=...)."
            )
            raise TypeError(msg)
    if len(ladder) < 2:
        msg = (
            f"route_by_tiers needs at least two tiers, got {len(ladder)}; for a single "
            "threshold use route_by_confidence(chain, threshold, fallback)."
        )
        raise ValueError(msg)
    names = [t.name for t in ladder]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        msg = f"Tier names must be unique; {duplicates} appear more than once in {names}."
        raise ValueError(msg)
    *upper, last = ladder
    if not last.catches_all:
        msg = (
            f"The last tier ({last.name!r}) must catch everything: give it no min_confidence "
            f"(it has {last.min_confidence}). Answers below every threshold, without a "
            "confidence, or flagged go there."
        )
        raise ValueError(msg)
    if last.escalates:
        msg = (
            f"The last tier ({last.name!r}) cannot escalate: it also takes escalated answers that "
            "still fall short. Add a final tier after it, e.g. Tier(name='review', "
            "action=review_writer(queue))."
        )
        raise ValueError(msg)
    for position, tier in enumerate(upper):
        if tier.catches_all:
            msg = (
                f"Tier {tier.name!r} (position {position}) has no min_confidence, so the tiers "
                "after it could never be reached; only the last tier may catch everything."
            )
            raise ValueError(msg)
    for above, below in pairwise(upper):
        a, b = float(above.min_confidence or 0.0), float(below.min_confidence or 0.0)
        if not (a > b or a == b == math.inf):
            msg = (
                f"Tier thresholds must strictly decrease from the first tier to the last: "
                f"{above.name!r} has {_fmt(a)} and {below.name!r} after it has {_fmt(b)}. "
                "Put the most confident tier first."
            )
            raise ValueError(msg)
    return ladder


def route_by_tiers(
    calibrated: Runnable[Any, Any],
    tiers: Sequence[Tier],
    *,
    route_on_flags: Sequence[str] = UNRELIABLE_FLAGS,
    stream_mode: StreamMode = "buffer",
) -> TieredRouter:
    """Place each answer on an ordered ladder of tiers by its confidence.

    Args:
        calibrated: A ``with_calibration`` chain (a plain chain is wrapped with raw scores).
        tiers: The ladder, most confident first, thresholds strictly decreasing; the last tier
            has no ``min_confidence`` and takes everything else. Names must be unique.
        route_on_flags: Flags that send an answer to the last tier whatever its confidence;
            default ``signals.UNRELIABLE_FLAGS`` (pass ``()`` to opt out), or e.g.
            ``["no_logprobs", "low_evidence", *UNRELIABLE_FLAGS]``. An answer with no confidence
            at all always goes there.
        stream_mode: ``"buffer"`` (hold answers until placed) or ``"passthrough"`` (stream them
            as generated, then the decision; see ``TieredRouter``).

    Returns:
        A ``TieredRouter`` returning ``{"output", "calibration", "routing": TierDecision}``.

    Raises:
        TypeError: When ``tiers`` is not a list of ``Tier``.
        ValueError: When the ladder is out of order, has duplicate names, or its last tier
            does not catch everything; or for an unknown flag or ``stream_mode``.

    Example:
        .. code-block:: python

            router = route_by_tiers(
                with_calibration(small_chain, small_calibrator),
                [
                    Tier(name="answer", min_confidence=fit_risk_threshold(p, y, target_risk=0.05)),
                    Tier(name="escalate", min_confidence=0.5,
                         action=with_calibration(big_chain, big_calibrator)),
                    Tier(name="review", action=review_writer(ReviewQueue("review.db"))),
                ],
                route_on_flags=["no_logprobs"],
            )
            result = router.invoke("Who wrote Dune?")
            result["routing"].tier, result["routing"].reason
    """
    return TieredRouter(
        calibrated=_as_calibrated(calibrated),
        tiers=_checked_tiers(tiers),
        route_on_flags=_checked_flags(route_on_flags),
        stream_mode=_checked_stream_mode(stream_mode),
    )
