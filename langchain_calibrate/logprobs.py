"""Turn every token-logprob payload a LangChain caller can meet into one record type.

Providers put logprobs in different places and shapes (see ``normalize_logprobs``). Everything
downstream of capture works on ``list[TokenLogprob]``, or on ``None``, which always means
"no logprob evidence" and is never read as confidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

__all__ = [
    "LOGPROB_FLOOR",
    "TokenLogprob",
    "TopLogprob",
    "logprobs_from_generation",
    "merge_logprob_chunks",
    "normalize_logprobs",
]

LOGPROB_FLOOR = -100.0
"""Logprobs below this (including ``-inf``) are clamped to it, so one impossible token cannot
turn every mean into ``-inf``; ``exp(-100)`` is already zero for any practical purpose."""


@dataclass(frozen=True, slots=True)
class TopLogprob:
    """One alternative the model considered at a position."""

    token: str
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token, its logprob, and the top alternatives at its position.

    ``top_logprobs`` is sorted from most to least likely and may be empty when the provider was
    not asked for alternatives.
    """

    token: str
    logprob: float
    top_logprobs: tuple[TopLogprob, ...] = ()


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else ``None``.

    Integers too large for a float become ``+-inf`` instead of raising ``OverflowError``.
    """
    # bool is an int subclass; a True logprob is a malformed payload, not 1.0.
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond float range, e.g. -10**400
        return -math.inf if value < 0 else math.inf
    except (TypeError, ValueError):  # a Real subclass that will not convert
        return None


def _clean_logprob(value: Any) -> float | None:
    number = _number(value)
    if number is None or math.isnan(number):
        return None
    # Rounding in some servers yields tiny positive logprobs for p == 1.
    return min(0.0, max(LOGPROB_FLOOR, number))


def _as_list(value: Any) -> list[Any] | None:
    """A JSON array as a list; ``None`` for anything else (strings and bytes included)."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return list(value)
    return None


def _logprob_of_prob(prob: Any) -> float | None:
    """llama.cpp's native ``probs`` give probabilities; turn one into a logprob."""
    number = _number(prob)
    if number is None or not number > 0.0:  # also rejects NaN
        return None
    return math.log(number)


def _top_from_entries(entries: Any) -> tuple[TopLogprob, ...]:
    """Top alternatives: chat-style ``[{"token", "logprob"}, ...]`` or legacy ``{token: lp}``."""
    if isinstance(entries, Mapping):  # legacy completions style: {token: logprob}
        pairs = list(entries.items())
    elif (listed := _as_list(entries)) is not None:
        pairs = []
        for entry in listed:
            if not isinstance(entry, Mapping):
                continue
            token = entry.get("token", entry.get("tok_str"))
            logprob = entry.get("logprob")
            if logprob is None and "prob" in entry:  # llama.cpp native `probs`
                logprob = _logprob_of_prob(entry.get("prob"))
            pairs.append((token, logprob))
    else:
        return ()
    tops = []
    for token, logprob in pairs:
        clean = _clean_logprob(logprob)
        if isinstance(token, str) and clean is not None:
            tops.append(TopLogprob(token, clean))
    tops.sort(key=lambda t: t.logprob, reverse=True)
    return tuple(tops)


def _from_entry_list(entries: Iterable[Any]) -> list[TokenLogprob]:
    """Chat-style entries: OpenAI ``content``, llama.cpp's hybrid, Ollama, Vertex."""
    tokens = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        token = entry.get("token", entry.get("content"))
        logprob = _clean_logprob(entry.get("logprob"))
        # An empty token carries no text: llama-server streams its stop token that way, and
        # counting it would make a streamed answer score differently from the same answer invoked.
        if not isinstance(token, str) or not token or logprob is None:
            continue
        top = _top_from_entries(entry.get("top_logprobs", entry.get("probs")))
        tokens.append(TokenLogprob(token, logprob, top))
    return tokens


def _from_legacy(payload: Mapping[str, Any]) -> list[TokenLogprob]:
    """Completions style: parallel lists ``tokens`` / ``token_logprobs`` / ``top_logprobs``."""
    toks = _as_list(payload.get("tokens")) or []
    lps = _as_list(payload.get("token_logprobs")) or []
    # A malformed ``top_logprobs`` (not a list) costs the alternatives, not the tokens.
    tops = _as_list(payload.get("top_logprobs")) or []
    out = []
    for i, (token, raw) in enumerate(zip(toks, lps, strict=False)):
        logprob = _clean_logprob(raw)
        # The echo'd first prompt token has a null logprob; it is not part of the answer.
        if not isinstance(token, str) or logprob is None:
            continue
        top = _top_from_entries(tops[i]) if i < len(tops) else ()
        out.append(TokenLogprob(token, logprob, top))
    return out


_GEMINI_CHOSEN = ("chosen_candidates", "chosenCandidates")
_GEMINI_TOP = ("top_candidates", "topCandidates")
_GEMINI_LOGPROB = ("log_probability", "logProbability")


def _first_key(mapping: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if name in mapping:
            return mapping[name]
    return None


def _gemini_candidate(entry: Any) -> tuple[Any, Any]:
    if not isinstance(entry, Mapping):
        return None, None
    return entry.get("token"), _first_key(entry, _GEMINI_LOGPROB)


def _from_gemini(payload: Mapping[str, Any]) -> list[TokenLogprob]:
    """Gemini's own ``LogprobsResult``: ``chosen_candidates`` plus per-step ``top_candidates``.

    Both the Python SDK's snake_case and the REST API's camelCase are read. A candidate without
    a log probability is dropped, as in every other shape (proto3 JSON may omit a 0.0 there;
    dropping it can only lower confidence, never raise it).
    """
    chosen = _as_list(_first_key(payload, _GEMINI_CHOSEN)) or []
    steps = _as_list(_first_key(payload, _GEMINI_TOP)) or []
    out = []
    for i, entry in enumerate(chosen):
        token, raw = _gemini_candidate(entry)
        logprob = _clean_logprob(raw)
        if not isinstance(token, str) or not token or logprob is None:
            continue
        step = steps[i] if i < len(steps) else None
        alternatives = step.get("candidates") if isinstance(step, Mapping) else None
        pairs = [_gemini_candidate(c) for c in _as_list(alternatives) or []]
        top = _top_from_entries([{"token": t, "logprob": lp} for t, lp in pairs])
        out.append(TokenLogprob(token, logprob, top))
    return out


def normalize_logprobs(payload: Any) -> list[TokenLogprob] | None:
    """Normalize one logprob payload into token records.

    Recognized shapes:

    * OpenAI chat (and every ``BaseChatOpenAI`` subclass, Fireworks, vLLM, llama.cpp's
      ``/v1/chat/completions``): ``{"content": [entry, ...]}`` with
      ``entry = {"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}``.
    * llama.cpp ``/v1/completions``: the same ``content`` list beside null legacy keys.
    * Legacy OpenAI completions (and Fireworks' chat completions): ``{"tokens": [...],
      "token_logprobs": [...], "top_logprobs": [{token: logprob}, ...]}``.
    * A flat list of entries (Ollama's ``logprobs``, ``ChatVertexAI``'s ``logprobs_result``,
      llama.cpp's native ``completion_probabilities``).
    * Gemini's own ``LogprobsResult`` (what ``ChatVertexAI`` returned before it flattened it):
      ``{"chosen_candidates": [{"token", "log_probability"}], "top_candidates":
      [{"candidates": [...]}]}``, snake_case or camelCase.

    Any other value, however malformed (wrong types, NaN, huge numbers, strings where lists
    belong), gives ``None`` or the usable part; this function does not raise.

    Args:
        payload: The value found under ``logprobs`` (or ``logprobs_result``).

    Returns:
        The tokens in generation order, or ``None`` when the payload holds no usable logprob
        (missing, empty, or an unrecognized shape). Entries without a numeric logprob (NaN,
        strings, booleans) are dropped; logprobs are clamped to ``[LOGPROB_FLOOR, 0]``, so
        ``-inf`` becomes ``LOGPROB_FLOOR`` and a positive rounding error becomes 0.

    Example:
        >>> normalize_logprobs({"content": [{"token": "Paris", "logprob": -0.1,
        ...                                  "top_logprobs": []}]})
        [TokenLogprob(token='Paris', logprob=-0.1, top_logprobs=())]
    """
    tokens: list[TokenLogprob] = []
    if isinstance(payload, Mapping):
        content = _as_list(payload.get("content"))
        if content:
            tokens = _from_entry_list(content)
        if not tokens and _as_list(payload.get("token_logprobs")) is not None:
            tokens = _from_legacy(payload)
        if not tokens and any(key in payload for key in _GEMINI_CHOSEN):
            tokens = _from_gemini(payload)
    elif (entries := _as_list(payload)) is not None:
        tokens = _from_entry_list(entries)
    return tokens or None


_PAYLOAD_KEYS = ("logprobs", "logprobs_result")


def _tokens_from(*sources: Any) -> list[TokenLogprob] | None:
    """The first usable payload among the sources' ``logprobs`` / ``logprobs_result`` keys."""
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for key in _PAYLOAD_KEYS:
            tokens = normalize_logprobs(source.get(key))
            if tokens:
                return tokens
    return None


def logprobs_from_generation(generation: Any) -> list[TokenLogprob] | None:
    """Read the logprobs of one LangChain ``Generation`` or ``ChatGeneration`` (or a message).

    Looks in the message's ``response_metadata`` first (chat models), then in
    ``generation_info`` (completions models, Fireworks, Vertex's ``logprobs_result``).
    """
    message = getattr(generation, "message", None)
    if message is None and hasattr(generation, "response_metadata"):
        message = generation
    metadata = getattr(message, "response_metadata", None)
    info = getattr(generation, "generation_info", None)
    return _tokens_from(metadata, info)


def merge_logprob_chunks(payloads: Iterable[Any]) -> list[TokenLogprob] | None:
    """Concatenate the logprobs of streamed chunks, in the order given.

    Each item may be a raw payload or a generation chunk / message chunk.
    """
    tokens: list[TokenLogprob] = []
    for item in payloads:
        if hasattr(item, "generation_info") or hasattr(item, "response_metadata"):
            part = logprobs_from_generation(item)
        else:
            part = normalize_logprobs(item)
        if part:
            tokens.extend(part)
    return tokens or None
