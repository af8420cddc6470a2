"""``review_writer``: a routing action that puts the answer in a review queue and says so."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict
from typing_extensions import override

from langchain_calibrate.result import Calibration
from langchain_calibrate.review.queue import ReviewQueue

__all__ = ["DEFAULT_MESSAGE", "ReviewWriter", "review_writer"]

DEFAULT_MESSAGE = "Your question was sent for review; a person will check the answer."


class ReviewWriter(RunnableSerializable[Any, str]):
    """Enqueue the routed answer for review and return a holding message.

    Its input is ``{"input", "output", "calibration"}`` (plus ``"routing"`` from
    ``route_by_tiers``): what a ``Tier`` action gets by default (``accepts_routed_result``) and
    what ``route_by_confidence(..., fallback_input="result")`` passes. Enqueueing is idempotent
    per run id, so a retried run is queued once. Build it with ``review_writer``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    accepts_routed_result: ClassVar[bool] = True
    """Tells ``Tier`` to pass the routed result rather than the original input."""

    queue: ReviewQueue
    """Where answers go."""
    message: str = DEFAULT_MESSAGE
    """The reply returned instead of the answer; ``{run_id}`` in it is replaced by the run id."""

    def _reply(self, item: Any) -> str:
        if not isinstance(item, Mapping) or not isinstance(item.get("calibration"), Calibration):
            msg = (
                "review_writer needs the routed result {'input', 'output', 'calibration'}, got "
                f"{type(item).__name__}. Use it as a Tier action (it gets the result by default), "
                "or route_by_confidence(..., fallback_input='result')."
            )
            raise TypeError(msg)
        self.queue.enqueue(item)
        return self.message.replace("{run_id}", str(item["calibration"].run_id))

    @override
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return self._call_with_config(self._reply, input, config, run_type="tool", **kwargs)

    @override
    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        async def reply(item: Any) -> str:
            return await asyncio.to_thread(self._reply, item)  # database I/O off the loop

        return await self._acall_with_config(reply, input, config, run_type="tool", **kwargs)


def review_writer(
    queue: ReviewQueue | str | os.PathLike[str],
    *,
    message: str = DEFAULT_MESSAGE,
) -> ReviewWriter:
    """A Runnable that enqueues a routed answer for review and returns ``message``.

    Args:
        queue: A ``ReviewQueue``, or its path or database URL.
        message: What the user is told instead of the answer; ``{run_id}`` is replaced by the
            run id (a reference to quote).

    Returns:
        A ``ReviewWriter`` for a ``Tier`` action or a ``route_by_confidence`` fallback.

    Example:
        .. code-block:: python

            queue = ReviewQueue("review.db")
            router = route_by_tiers(
                with_calibration(chain, calibrator),
                [Tier(name="answer", min_confidence=0.7),
                 Tier(name="review", action=review_writer(queue))],
            )
            router.invoke("Who wrote Dune?")["output"]  # the answer, or the holding message
    """
    if not isinstance(queue, ReviewQueue):
        queue = ReviewQueue(queue)
    return ReviewWriter(queue=queue, message=message)
