"""Property-based tests of the logprob normalizer over malformed, partial and hostile payloads.

The contract checked here: ``normalize_logprobs`` never raises, whatever it is given, and returns
either ``None`` or a non-empty list of ``TokenLogprob`` whose logprobs (and alternatives) are
finite, in ``[LOGPROB_FLOOR, 0]``, with alternatives sorted most likely first. For payloads of a
valid shape the records equal the values the payload was generated from.

Run with ``--hypothesis-show-statistics`` to see how many examples each property tried.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation

from langchain_calibrate.logprobs import (
    LOGPROB_FLOOR,
    TokenLogprob,
    TopLogprob,
    logprobs_from_generation,
    merge_logprob_chunks,
    normalize_logprobs,
)

BASE = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------------- strategies

KEYS = (
    "content",
    "refusal",
    "tokens",
    "token_logprobs",
    "top_logprobs",
    "text_offset",
    "token",
    "logprob",
    "bytes",
    "probs",
    "tok_str",
    "prob",
    "chosen_candidates",
    "top_candidates",
    "candidates",
    "log_probability",
    "logProbability",
)
HUGE_INTS = st.sampled_from([10**400, -(10**400), 2**1024, -(2**1024)])
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | FLOATS
    | st.text(max_size=8)
    | st.sampled_from(["-0.1", "nan", "", " ", "\x00", "Paris", "\U0001f600"])
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=12,
)


def sometimes(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, JSON_LIKE)


def optional_keys(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts where every key may be missing and every value may be malformed."""
    return st.fixed_dictionaries({}, optional={k: sometimes(v) for k, v in fields.items()})


TOKEN_TEXT = st.text(min_size=0, max_size=6)
LOGPROB = FLOATS | st.floats(-30.0, 0.0) | HUGE_INTS | st.integers(-5, 1)
TOP_ENTRY = optional_keys(token=TOKEN_TEXT, logprob=LOGPROB, bytes=st.lists(st.integers(0, 255)))
CHAT_ENTRY = optional_keys(
    token=TOKEN_TEXT,
    logprob=LOGPROB,
    bytes=st.none() | st.lists(st.integers(0, 255), max_size=4),
    top_logprobs=st.lists(TOP_ENTRY, max_size=4),
)
CHAT = optional_keys(content=st.lists(CHAT_ENTRY, max_size=6), refusal=st.none())
LEGACY = optional_keys(
    tokens=st.lists(sometimes(TOKEN_TEXT), max_size=6),
    token_logprobs=st.lists(sometimes(LOGPROB), max_size=6),
    top_logprobs=st.lists(
        st.none() | st.dictionaries(TOKEN_TEXT, sometimes(LOGPROB), max_size=3), max_size=6
    ),
    text_offset=st.lists(st.integers(0, 100), max_size=6),
)
NATIVE = optional_keys(
    content=TOKEN_TEXT,
    logprob=LOGPROB,
    probs=st.lists(optional_keys(tok_str=TOKEN_TEXT, prob=LOGPROB | st.floats(0, 2)), max_size=3),
)
CANDIDATE = optional_keys(token=TOKEN_TEXT, log_probability=LOGPROB, logProbability=LOGPROB)
GEMINI = optional_keys(
    chosen_candidates=st.lists(CANDIDATE, max_size=5),
    top_candidates=st.lists(optional_keys(candidates=st.lists(CANDIDATE, max_size=3)), max_size=5),
    chosenCandidates=st.lists(CANDIDATE, max_size=5),
)
SHAPED = st.one_of(
    CHAT,
    LEGACY,
    st.lists(CHAT_ENTRY, max_size=6),
    st.lists(NATIVE, max_size=4),
    GEMINI,
    # llama.cpp's hybrid: chat entries beside the legacy keys, either of them broken.
    st.builds(lambda a, b: {**a, **b}, CHAT, LEGACY),
)
PAYLOADS = SHAPED | JSON_LIKE


def check_records(tokens: list[TokenLogprob] | None) -> None:
    """The output contract, independent of the input."""
    if tokens is None:
        return
    assert isinstance(tokens, list) and tokens, "an empty result must be None"
    for token in tokens:
        assert isinstance(token, TokenLogprob)
        assert isinstance(token.token, str)
        assert isinstance(token.logprob, float)
        assert math.isfinite(token.logprob) and LOGPROB_FLOOR <= token.logprob <= 0.0
        alternatives = [t.logprob for t in token.top_logprobs]
        assert all(
            isinstance(t, TopLogprob) and isinstance(t.token, str) for t in token.top_logprobs
        )
        assert all(math.isfinite(lp) and LOGPROB_FLOOR <= lp <= 0.0 for lp in alternatives)
        assert alternatives == sorted(alternatives, reverse=True)


def clamp(x: float) -> float:
    """What a logprob is expected to become: [-100, 0], the floor for -inf."""
    return min(0.0, max(-100.0, float(x)))


# ----------------------------------------------------------------------------- properties


@settings(BASE, max_examples=500)
@given(PAYLOADS)
def test_normalizer_never_raises_and_output_is_well_formed(payload: Any) -> None:
    check_records(normalize_logprobs(payload))


@settings(BASE, max_examples=200)
@given(
    metadata=st.dictionaries(st.sampled_from(["logprobs", "logprobs_result", "x"]), PAYLOADS),
    info=st.none() | st.dictionaries(st.sampled_from(["logprobs", "logprobs_result"]), PAYLOADS),
)
def test_generation_reader_never_raises(metadata: dict[str, Any], info: Any) -> None:
    message = AIMessage("answer", response_metadata=metadata)
    check_records(logprobs_from_generation(ChatGeneration(message=message, generation_info=info)))
    check_records(logprobs_from_generation(Generation(text="answer", generation_info=info)))
    check_records(logprobs_from_generation(message))


@settings(BASE, max_examples=150)
@given(st.lists(PAYLOADS, max_size=4))
def test_chunk_merger_never_raises(payloads: list[Any]) -> None:
    check_records(merge_logprob_chunks(payloads))


# Valid-shape round trips: the expected records come from the data the payload was built from.

VALID_LP = st.floats(-50.0, 0.0)
VALID_TOKEN = st.text(min_size=1, max_size=6)
STEP = st.tuples(VALID_TOKEN, VALID_LP, st.lists(st.tuples(VALID_TOKEN, VALID_LP), max_size=4))
STEPS = st.lists(STEP, min_size=1, max_size=12)


def expected(steps: list[tuple[str, float, list[tuple[str, float]]]]) -> list[TokenLogprob]:
    out = []
    for token, lp, alts in steps:
        ordered = sorted(alts, key=lambda a: a[1], reverse=True)
        out.append(TokenLogprob(token, lp, tuple(TopLogprob(t, a) for t, a in ordered)))
    return out


def chat_payload(steps: list[tuple[str, float, list[tuple[str, float]]]]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": t,
                "logprob": lp,
                "bytes": list(t.encode()),
                "top_logprobs": [{"token": a, "logprob": alp, "bytes": None} for a, alp in alts],
            }
            for t, lp, alts in steps
        ],
        "refusal": None,
    }


@settings(BASE, max_examples=300)
@given(STEPS)
def test_chat_and_flat_shapes_round_trip(steps: list[Any]) -> None:
    payload = chat_payload(steps)
    assert normalize_logprobs(payload) == expected(steps)
    assert normalize_logprobs(payload["content"]) == expected(steps)  # Ollama / Vertex list


@settings(BASE, max_examples=300)
@given(STEPS)
def test_legacy_shape_round_trips(steps: list[Any]) -> None:
    # Legacy top_logprobs is a {token: logprob} dict, so repeated alternatives collapse to the
    # last value; build the expectation from that dict the same way a provider would.
    tops = [dict(alts) for _, _, alts in steps]
    payload = {
        "tokens": [t for t, _, _ in steps],
        "token_logprobs": [lp for _, lp, _ in steps],
        "top_logprobs": tops,
        "text_offset": list(range(len(steps))),
    }
    want = expected(
        [(t, lp, list(top.items())) for (t, lp, _), top in zip(steps, tops, strict=True)]
    )
    assert normalize_logprobs(payload) == want


@settings(BASE, max_examples=300)
@given(STEPS, st.booleans())
def test_gemini_shape_round_trips(steps: list[Any], camel: bool) -> None:
    chosen_key, top_key, lp_key = (
        ("chosenCandidates", "topCandidates", "logProbability")
        if camel
        else ("chosen_candidates", "top_candidates", "log_probability")
    )
    payload = {
        chosen_key: [{"token": t, lp_key: lp} for t, lp, _ in steps],
        top_key: [
            {"candidates": [{"token": a, lp_key: x} for a, x in alts]} for _, _, alts in steps
        ],
    }
    assert normalize_logprobs(payload) == expected(steps)


@settings(BASE, max_examples=300)
@given(STEPS, st.data())
def test_streamed_chunks_equal_the_whole(steps: list[Any], data: st.DataObject) -> None:
    entries = chat_payload(steps)["content"]
    cuts = sorted(data.draw(st.sets(st.integers(0, len(entries)), max_size=4)))
    bounds = [0, *cuts, len(entries)]
    parts = [{"content": entries[a:b], "refusal": None} for a, b in pairwise(bounds)]
    assert merge_logprob_chunks(parts) == expected(steps)
    chunks = [
        ChatGenerationChunk(message=AIMessageChunk("", response_metadata={"logprobs": p}))
        for p in parts
    ]
    assert merge_logprob_chunks(chunks) == expected(steps)
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert logprobs_from_generation(merged) == expected(steps)


@settings(BASE, max_examples=400)
@given(st.lists(st.tuples(VALID_TOKEN, FLOATS | HUGE_INTS | st.integers(-200, 5)), min_size=1))
def test_non_finite_and_out_of_range_logprobs_are_clamped_or_dropped(
    pairs: list[tuple[str, Any]],
) -> None:
    payload = {"content": [{"token": t, "logprob": lp, "top_logprobs": []} for t, lp in pairs]}
    # Expected, by the documented rule: NaN dropped; everything else clamped to [-100, 0],
    # with integers beyond float range taken as -inf / +inf.
    want = []
    for token, lp in pairs:
        try:
            value = float(lp)
        except OverflowError:
            value = -math.inf if lp < 0 else math.inf
        if not math.isnan(value):
            want.append(TokenLogprob(token, clamp(value)))
    assert normalize_logprobs(payload) == (want or None)
