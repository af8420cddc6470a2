"""Turn every token-logprob payload a LangChain caller can meet into one record type.

Providers put logprobs in different places and shapes (see ``normalize_logprobs``). Everything
downstream of capture works on ``list[TokenLogprob]``, or on ``None``, which always means
"no logprob evidence" and is never read as confidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


def _clean_logprob(value: Any) -> float | None:
    # bool is an int subclass; a True logprob is a malformed payload, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if math.isnan(value):
        return None
    # Rounding in some servers yields tiny positive logprobs for p == 1.
    return min(0.0, max(LOGPROB_FLOOR, value))


def _top_from_entries(entries: Any) -> tuple[TopLogprob, ...]:
    """Top alternatives in chat style: a list of ``{"token", "logprob"}`` dicts."""
    if isinstance(entries, Mapping):  # legacy completions style: {token: logprob}
        pairs = list(entries.items())
    elif isinstance(entries, Sequence) and not isinstance(entries, str | bytes):
        pairs = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            token = entry.get("token", entry.get("tok_str"))
            logprob = entry.get("logprob")
            if logprob is None and "prob" in entry:  # llama.cpp native `probs`
                prob = entry.get("prob")
                logprob = math.log(prob) if isinstance(prob, int | float) and prob > 0 else None
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


def _from_entry_list(entries: Sequence[Any]) -> list[TokenLogprob]:
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
    toks = payload.get("tokens") or []
    lps = payload.get("token_logprobs") or []
    tops = payload.get("top_logprobs") or []
    out = []
    for i, (token, raw) in enumerate(zip(toks, lps, strict=False)):
        logprob = _clean_logprob(raw)
        # The echo'd first prompt token has a null logprob; it is not part of the answer.
        if not isinstance(token, str) or logprob is None:
            continue
        top = _top_from_entries(tops[i]) if i < len(tops) else ()
        out.append(TokenLogprob(token, logprob, top))
    return out


def normalize_logprobs(payload: Any) -> list[TokenLogprob] | None:
    """Normalize one logprob payload into token records.

    Recognized shapes:

    * OpenAI chat (and every ``BaseChatOpenAI`` subclass): ``{"content": [entry, ...]}`` with
      ``entry = {"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}``.
    * llama.cpp ``/v1/completions``: the same ``content`` list beside null legacy keys.
    * Legacy OpenAI completions: ``{"tokens": [...], "token_logprobs": [...],
      "top_logprobs": [{token: logprob}, ...]}``.
    * A flat list of entries (Ollama's ``logprobs``, Vertex's ``logprobs_result``, llama.cpp's
      native ``completion_probabilities``).

    Args:
        payload: The value found under ``logprobs`` (or ``logprobs_result``).

    Returns:
        The tokens in generation order, or ``None`` when the payload holds no usable logprob
        (missing, empty, or an unrecognized shape). Entries without a numeric logprob are
        dropped; ``-inf`` is clamped to ``LOGPROB_FLOOR``.

    Example:
        >>> normalize_logprobs({"content": [{"token": "Paris", "logprob": -0.1,
        ...                                  "top_logprobs": []}]})
        [TokenLogprob(token='Paris', logprob=-0.1, top_logprobs=())]
    """
    tokens: list[TokenLogprob] = []
    if isinstance(payload, Mapping):
        content = payload.get("content")
        if isinstance(content, Sequence) and not isinstance(content, str | bytes) and content:
            tokens = _from_entry_list(content)
        elif isinstance(payload.get("token_logprobs"), Sequence):
            tokens = _from_legacy(payload)
    elif isinstance(payload, Sequence) and not isinstance(payload, str | bytes):
        tokens = _from_entry_list(payload)
    return tokens or None


_PAYLOAD_KEYS = ("logprobs", "logprobs_result")


def _payload_from(*sources: Any) -> Any:
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for key in _PAYLOAD_KEYS:
            value = source.get(key)
            if value:
                return value
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
    return normalize_logprobs(_payload_from(metadata, info))


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
