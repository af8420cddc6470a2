"""The normalizer against every payload shape it claims (built from documented shapes)."""

from __future__ import annotations

import math

import pytest
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

PARIS = TokenLogprob(" Paris", -0.25, (TopLogprob(" Paris", -0.25), TopLogprob(" Lyon", -1.75)))
DOT = TokenLogprob(".", -0.5, (TopLogprob(".", -0.5),))


def chat_entry(token: str, logprob: float, tops: list[tuple[str, float]]) -> dict:
    return {
        "token": token,
        "bytes": list(token.encode()),
        "logprob": logprob,
        "top_logprobs": [{"token": t, "bytes": None, "logprob": lp} for t, lp in tops],
    }


OPENAI_CHAT = {
    "content": [
        chat_entry(" Paris", -0.25, [(" Lyon", -1.75), (" Paris", -0.25)]),
        chat_entry(".", -0.5, [(".", -0.5)]),
    ],
    "refusal": None,
}


def test_openai_chat_shape_sorted_alternatives() -> None:
    assert normalize_logprobs(OPENAI_CHAT) == [PARIS, DOT]


def test_llama_cpp_completions_hybrid() -> None:
    # llama-server's /v1/completions: legacy keys null, a chat-style content list.
    payload = {
        "tokens": None,
        "token_logprobs": None,
        "top_logprobs": None,
        "text_offset": None,
        "content": [
            {
                "id": 1,
                "token": " Paris",
                "bytes": [32],
                "logprob": -0.25,
                "top_logprobs": [
                    {"id": 1, "token": " Paris", "bytes": [], "logprob": -0.25},
                    {"id": 2, "token": " Lyon", "bytes": [], "logprob": -1.75},
                ],
            },
            {
                "id": 3,
                "token": ".",
                "bytes": [46],
                "logprob": -0.5,
                "top_logprobs": [{"id": 3, "token": ".", "bytes": [], "logprob": -0.5}],
            },
        ],
    }
    assert normalize_logprobs(payload) == [PARIS, DOT]


def test_legacy_completions_parallel_lists() -> None:
    payload = {
        "tokens": [" Paris", "."],
        "token_logprobs": [-0.25, -0.5],
        "top_logprobs": [{" Lyon": -1.75, " Paris": -0.25}, {".": -0.5}],
        "text_offset": [0, 6],
    }
    assert normalize_logprobs(payload) == [PARIS, DOT]


def test_legacy_echo_null_first_logprob_dropped() -> None:
    payload = {"tokens": ["Q", " Paris"], "token_logprobs": [None, -0.25], "top_logprobs": None}
    assert normalize_logprobs(payload) == [TokenLogprob(" Paris", -0.25)]


def test_ollama_flat_list() -> None:
    payload = [
        {
            "token": " Paris",
            "logprob": -0.25,
            "bytes": [32],
            "top_logprobs": [
                {"token": " Paris", "logprob": -0.25},
                {"token": " Lyon", "logprob": -1.75},
            ],
        },
        {"token": ".", "logprob": -0.5, "top_logprobs": [{"token": ".", "logprob": -0.5}]},
    ]
    assert normalize_logprobs(payload) == [PARIS, DOT]


def test_vertex_logprobs_result_in_generation_info() -> None:
    generation = ChatGeneration(
        message=AIMessage(" Paris."),
        generation_info={
            "logprobs_result": [
                {
                    "token": " Paris",
                    "logprob": -0.25,
                    "top_logprobs": [
                        {"token": " Paris", "logprob": -0.25},
                        {"token": " Lyon", "logprob": -1.75},
                    ],
                },
                {"token": ".", "logprob": -0.5, "top_logprobs": [{"token": ".", "logprob": -0.5}]},
            ]
        },
    )
    assert logprobs_from_generation(generation) == [PARIS, DOT]


def test_llama_cpp_native_probs_shape() -> None:
    payload = [
        {
            "content": " Paris",
            "logprob": -0.25,
            "probs": [
                {"tok_str": " Paris", "prob": math.exp(-0.25)},
                {"tok_str": " Lyon", "prob": math.exp(-1.75)},
            ],
        }
    ]
    (token,) = normalize_logprobs(payload) or []
    assert token.token == " Paris"
    assert [t.token for t in token.top_logprobs] == [" Paris", " Lyon"]
    assert token.top_logprobs[1].logprob == pytest.approx(-1.75)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        [],
        {"content": []},
        {"content": None, "refusal": None},
        "logprobs",
        3,
        {"tokens": None, "token_logprobs": None},
        [{"token": "x"}],
        [{"logprob": -1.0}],
    ],
)
def test_no_usable_logprobs_is_none(payload: object) -> None:
    assert normalize_logprobs(payload) is None


def test_non_finite_and_malformed_values() -> None:
    payload = {
        "content": [
            {"token": "a", "logprob": float("nan")},
            {"token": "b", "logprob": float("-inf")},
            {"token": "c", "logprob": 1e-9},
            {"token": "d", "logprob": True},
            {"token": "e", "logprob": "-0.1"},
            {"token": 5, "logprob": -0.1},
        ]
    }
    assert normalize_logprobs(payload) == [TokenLogprob("b", LOGPROB_FLOOR), TokenLogprob("c", 0.0)]


def test_chat_message_metadata_wins_over_generation_info() -> None:
    message = AIMessage(" Paris.", response_metadata={"logprobs": OPENAI_CHAT})
    generation = ChatGeneration(message=message, generation_info={"logprobs": None})
    assert logprobs_from_generation(generation) == [PARIS, DOT]
    assert logprobs_from_generation(message) == [PARIS, DOT]


def test_completions_generation_info() -> None:
    generation = Generation(
        text=" Paris.",
        generation_info={
            "finish_reason": "stop",
            "logprobs": {
                "tokens": [" Paris", "."],
                "token_logprobs": [-0.25, -0.5],
                "top_logprobs": [{" Paris": -0.25, " Lyon": -1.75}, {".": -0.5}],
            },
        },
    )
    assert logprobs_from_generation(generation) == [PARIS, DOT]


def test_generation_without_logprobs() -> None:
    assert logprobs_from_generation(ChatGeneration(message=AIMessage("hi"))) is None
    assert logprobs_from_generation(Generation(text="hi")) is None


def test_streamed_chat_chunks_merge_in_order() -> None:
    first = {"content": [OPENAI_CHAT["content"][0]], "refusal": None}
    second = {"content": [OPENAI_CHAT["content"][1]], "refusal": None}
    chunks = [
        ChatGenerationChunk(
            message=AIMessageChunk(" Paris", response_metadata={"logprobs": first})
        ),
        ChatGenerationChunk(message=AIMessageChunk("", response_metadata={})),  # usage-only chunk
        ChatGenerationChunk(message=AIMessageChunk(".", response_metadata={"logprobs": second})),
    ]
    assert merge_logprob_chunks(chunks) == [PARIS, DOT]
    # LangChain's own chunk addition concatenates the lists the same way.
    merged = chunks[0] + chunks[1] + chunks[2]
    assert logprobs_from_generation(merged) == [PARIS, DOT]


def test_empty_stop_token_of_a_llama_cpp_stream_is_dropped() -> None:
    # llama-server streams its stop token as an entry with an empty token and a real logprob.
    stop = {
        "content": [{"id": 107, "token": "", "bytes": [], "logprob": -0.628, "top_logprobs": []}]
    }
    assert merge_logprob_chunks([OPENAI_CHAT, stop]) == [PARIS, DOT]


def test_merge_raw_payloads_and_empty() -> None:
    assert merge_logprob_chunks([OPENAI_CHAT, None, {"content": []}]) == [PARIS, DOT]
    assert merge_logprob_chunks([None, {}]) is None
