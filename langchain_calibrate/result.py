"""The calibration result attached to a chain's output."""

from __future__ import annotations

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.signals import Signals

__all__ = ["CAPTURE_ERROR", "Calibration"]

CAPTURE_ERROR = "capture_error"
"""Something failed while gathering evidence or scoring; see ``Calibration.errors``."""


class Calibration(BaseModel):
    """How sure the chain is of one answer, and why.

    ``confidence`` is a probability that the answer is correct only when ``is_calibrated`` is
    true (a calibrator fitted on labelled runs produced it). Otherwise it is a raw score
    (the length-normalized sequence probability) that orders answers but is not a probability,
    or ``None`` when there is no logprob evidence at all: missing evidence is never confidence.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    confidence: float | None = Field(None, ge=0.0, le=1.0)
    is_calibrated: bool = False
    method: str
    """The calibrator's method (e.g. ``"logistic"``), or ``"raw:sequence_prob"``, or ``"none"``."""
    signals: Signals
    flags: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    """Hints for the user, e.g. how to turn logprobs on."""
    errors: list[str] = Field(default_factory=list)
    documents: list[Document] = Field(default_factory=list, repr=False)
    """The documents retrieved in this run, with their scores in metadata."""
    model_name: str | None = None
    n_generations: int = 0
    run_id: str | None = None
    """The LangChain run id of the wrapped call: the key for joining a label to a run log."""

    @property
    def kind(self) -> str:
        """``"probability"`` after calibration, ``"score"`` before, ``"none"`` without evidence."""
        if self.confidence is None:
            return "none"
        return "probability" if self.is_calibrated else "score"
