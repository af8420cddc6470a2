"""The calibration result attached to a chain's output."""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field

from langchain_calibrate.signals import Signals

__all__ = ["CAPTURE_ERROR", "Calibration", "Candidate"]

CAPTURE_ERROR = "capture_error"
"""Something failed while gathering evidence or scoring; see ``Calibration.errors``."""


class Candidate(BaseModel):
    """One of the generations of the answering model call, scored on its own.

    A call with ``n > 1`` (``ChatOpenAI(n=3, logprobs=True)``, ``OpenAI(n=3, logprobs=5)``)
    returns several candidates for one prompt; each gets its own signals from its own tokens,
    against the same retrieved documents, and a confidence from the same calibrator (or the same
    raw score) as the answer.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    """Position among the call's candidates; 0 is the answer the chain returned."""
    text: str
    signals: Signals
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    """Same kind as ``Calibration.confidence`` (a probability only when ``is_calibrated``)."""


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
    """Generations seen in the run, over every model call and candidate."""
    candidates: list[Candidate] = Field(default_factory=list)
    """Every candidate of the answering model call, each with its own signals; the first is the
    answer (its signals are ``signals``). Empty when no model call was seen."""
    opinions: dict[str, Any] = Field(default_factory=dict)
    """Raw second opinions when they ran: ``"p_true"`` (``PTrueResult``) and ``"stated"``
    (``StatedConfidence``) as dicts, with each call's ``elapsed`` seconds."""
    run_id: str | None = None
    """The LangChain run id of the wrapped call: the key for joining a label to a run log."""

    @property
    def generation_signals(self) -> list[Signals]:
        """The signals of each candidate, in order (``candidates[i].signals``)."""
        return [c.signals for c in self.candidates]

    @property
    def kind(self) -> str:
        """``"probability"`` after calibration, ``"score"`` before, ``"none"`` without evidence."""
        if self.confidence is None:
            return "none"
        return "probability" if self.is_calibrated else "score"
