"""What the review queue holds: ``ReviewItem``, its two statuses, and the queue's errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["PENDING", "REVIEWED", "ReviewItem", "ReviewQueueError", "UnknownRunError"]

PENDING = "pending"
"""Status of an item waiting for a verdict."""
REVIEWED = "reviewed"
"""Status of an item with a verdict."""

_QUESTION_KEYS = ("question", "input", "query", "prompt")


class ReviewQueueError(ValueError):
    """The queue cannot do what was asked: a bad URL, a missing table, a bad item or verdict."""


class UnknownRunError(ReviewQueueError, KeyError):
    """No item in the queue has this run id.

    Attributes:
        run_id: The run id (or prefix) that matched nothing.
    """

    def __init__(self, run_id: str, where: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"No review item with run id {run_id!r} in {where}; `langchain-calibrate review "
            "list --all` shows the run ids there."
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ReviewItem:
    """One answer in the review queue.

    Attributes:
        run_id: The run's id (the key for joining its label to a run log).
        status: ``"pending"`` or ``"reviewed"``.
        created_at: When it was enqueued (UTC).
        record: The redacted run-log record (``runlog.run_record``).
        confidence: The confidence that sent it to review, if any.
        tier: The routing tier that sent it (from ``route_by_tiers``), if known.
        verdict: 1 correct, 0 incorrect, ``None`` before review.
        reviewer: Who gave the verdict.
        note: The reviewer's note.
        decided_at: When the verdict was recorded (UTC).
    """

    run_id: str
    status: str
    created_at: datetime
    record: dict[str, Any]
    confidence: float | None = None
    tier: str | None = None
    verdict: int | None = None
    reviewer: str | None = None
    note: str | None = None
    decided_at: datetime | None = None

    @property
    def question(self) -> str:
        """The run's input as one string (a dict input's question/input/query field)."""
        inputs = self.record.get("inputs")
        if inputs is None:
            return ""
        if isinstance(inputs, str):
            return inputs
        if isinstance(inputs, Mapping):
            for key in _QUESTION_KEYS:
                if isinstance(inputs.get(key), str):
                    return str(inputs[key])
        return json.dumps(inputs, ensure_ascii=False)

    @property
    def answer(self) -> str:
        """The answer under review ("" when the record has none)."""
        return str(self.record.get("answer") or "")

    @property
    def flags(self) -> list[str]:
        """The run's flags (``low_evidence``, ``no_logprobs``, ...)."""
        return list(self.record.get("flags") or [])

    @property
    def reason(self) -> str | None:
        """Why it was routed to review (from the routing decision), if known."""
        routing = (self.record.get("extra") or {}).get("routing") or {}
        return routing.get("reason") if isinstance(routing, Mapping) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the columns, times as ISO 8601 strings."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "confidence": self.confidence,
            "tier": self.tier,
            "verdict": self.verdict,
            "reviewer": self.reviewer,
            "note": self.note,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "record": self.record,
        }
