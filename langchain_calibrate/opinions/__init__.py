"""What the model says about its own answer: stated confidence, P(True), hedging.

* Verbalized confidence: ``parse_stated_confidence`` reads "80%", "8/10", "muy seguro", "no lo
  sé"... into a :class:`StatedConfidence` (``value`` in [0, 1] or ``None``);
  ``extract_stated_confidence`` splits a same-call "Confidence: 80%" line off an answer
  (the prompt carries :data:`CONFIDENCE_FORMAT_INSTRUCTION`); :class:`VerbalConfidenceAsker`
  asks in a second call.
* Self-check: :class:`PTrueJudge` reads P(True) from one token's logprobs.
* Wording: ``wording_assertiveness`` lists hedges and absolute markers (English and Spanish).
* Cross-checks: ``verbal_logprob_disagreement``, ``assertive_without_evidence`` and
  ``opinion_flags`` (thresholds in :class:`OpinionConfig`).

All of it is opt-in: nothing here runs unless called, and the second calls cost one model
request each (``elapsed`` on every result says how long it took).
"""

from langchain_calibrate.opinions.checks import (
    ASSERTIVE_WITHOUT_EVIDENCE,
    CONFIDENCE_REFUSED,
    CONFIDENCE_UNPARSEABLE,
    P_TRUE_UNAVAILABLE,
    VERBAL_LOGPROB_DISAGREEMENT,
    OpinionConfig,
    assertive_without_evidence,
    is_assertive,
    opinion_flags,
    verbal_logprob_disagreement,
)
from langchain_calibrate.opinions.judges import (
    NO_TOKENS,
    OPINION_TAG,
    PTRUE_PROMPT,
    VERBAL_PROMPT,
    YES_TOKENS,
    PTrueJudge,
    PTrueResult,
    VerbalConfidenceAsker,
    p_true_from_logprobs,
)
from langchain_calibrate.opinions.stated import (
    CONFIDENCE_FORMAT_INSTRUCTION,
    WORD_TABLE,
    ConfidenceForm,
    StatedConfidence,
    extract_stated_confidence,
    parse_stated_confidence,
)
from langchain_calibrate.opinions.wording import (
    ABSOLUTE_PATTERNS,
    HEDGE_PATTERNS,
    Wording,
    wording_assertiveness,
)

__all__ = [
    "ABSOLUTE_PATTERNS",
    "ASSERTIVE_WITHOUT_EVIDENCE",
    "CONFIDENCE_FORMAT_INSTRUCTION",
    "CONFIDENCE_REFUSED",
    "CONFIDENCE_UNPARSEABLE",
    "HEDGE_PATTERNS",
    "NO_TOKENS",
    "OPINION_TAG",
    "PTRUE_PROMPT",
    "P_TRUE_UNAVAILABLE",
    "VERBAL_LOGPROB_DISAGREEMENT",
    "VERBAL_PROMPT",
    "WORD_TABLE",
    "YES_TOKENS",
    "ConfidenceForm",
    "OpinionConfig",
    "PTrueJudge",
    "PTrueResult",
    "StatedConfidence",
    "VerbalConfidenceAsker",
    "Wording",
    "assertive_without_evidence",
    "extract_stated_confidence",
    "is_assertive",
    "opinion_flags",
    "p_true_from_logprobs",
    "parse_stated_confidence",
    "verbal_logprob_disagreement",
    "wording_assertiveness",
]
