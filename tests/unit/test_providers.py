"""Every logprob shape the normalizer claims, built from each provider's documented format.

For each provider there is one realistic payload of the documented shape, the path by which
the LangChain integration hands it to a caller (``AIMessage.response_metadata`` and/or
``generation_info``), and the token records expected from it, written out by hand from the
payload. Each provider is also run end to end through ``with_calibration``, with the mean
logprob worked out by hand.

The fakes below do exactly what the named integration does with the provider's response (quoted
in each docstring), so the test exercises LangChain core's real merging of ``generation_info``
into ``response_metadata`` and of streamed chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.llms import BaseLLM
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    Generation,
    GenerationChunk,
    LLMResult,
)
from pydantic import Field

from langchain_calibrate.logprobs import (
    TokenLogprob,
    TopLogprob,
    logprobs_from_generation,
    merge_logprob_chunks,
    normalize_logprobs,
)
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import NO_LOGPROBS

# --------------------------------------------------------------------------------------- fakes


class ProviderChat(BaseChatModel):
    """A chat model returning one fixed provider response, filed the way an integration files it.

    ``info`` is what the integration puts in ``ChatGeneration.generation_info`` and ``metadata``
    what it sets on ``AIMessage.response_metadata`` itself; ``chunks`` are streamed
    ``(text, generation_info, response_metadata)`` triples.
    """

    text: str = ""
    info: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    chunks: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "provider-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        message = AIMessage(self.text, response_metadata=dict(self.metadata))
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=self.info)])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for text, info, metadata in self.chunks:
            message = AIMessageChunk(text, response_metadata=dict(metadata))
            yield ChatGenerationChunk(message=message, generation_info=info)


class ProviderCompletions(BaseLLM):
    """A completions LLM, filing logprobs as ``langchain_openai.OpenAI`` does.

    ``langchain_openai/llms/base.py`` builds ``generation_info = {"finish_reason":
    choice.get("finish_reason"), "logprobs": choice.get("logprobs")}`` for each choice.
    """

    text: str = ""
    logprobs: Any = None

    @property
    def _llm_type(self) -> str:
        return "completions-fake"

    def _generate(
        self, prompts: list[str], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> LLMResult:
        info = {"finish_reason": "stop", "logprobs": self.logprobs}
        return LLMResult(
            generations=[[Generation(text=self.text, generation_info=info)] for _ in prompts]
        )


def via_generate(model: BaseChatModel) -> ChatGeneration:
    """The generation ``on_llm_end`` receives (``LLMResult.generations[0][0]``)."""
    generation = model.generate([[HumanMessage("q")]]).generations[0][0]
    assert isinstance(generation, ChatGeneration)
    return generation


def calibrated_mean(model: Any, *, stream: bool = False) -> tuple[float | None, int]:
    """``mean_logprob`` and ``n_tokens`` that ``with_calibration`` computes for one call."""
    wrapped = with_calibration(model)
    if stream:
        *_, last = wrapped.stream("q")
        calibration = last["calibration"]
    else:
        calibration = wrapped.invoke("q")["calibration"]
    assert not calibration.errors
    return calibration.signals.mean_logprob, calibration.signals.n_tokens


def top(*pairs: tuple[str, float]) -> tuple[TopLogprob, ...]:
    return tuple(TopLogprob(t, lp) for t, lp in pairs)


# ------------------------------------------------------------------------------ OpenAI chat
# Shape: OpenAI API reference, "The chat completion object": choices[].logprobs is
# {"content": [ChatCompletionTokenLogprob], "refusal": ...}; each entry has token, logprob,
# bytes (UTF-8 ints or null) and top_logprobs [{token, logprob, bytes}]. "-9999.0 is used to
# signify that the token is very unlikely." langchain-openai `_create_chat_result`:
# `if "logprobs" in res: generation_info["logprobs"] = res["logprobs"]`.

OPENAI_CHAT = {
    "content": [
        {
            "token": "Paris",
            "logprob": -0.031,
            "bytes": [80, 97, 114, 105, 115],
            "top_logprobs": [
                {"token": "Paris", "logprob": -0.031, "bytes": [80, 97, 114, 105, 115]},
                {"token": "The", "logprob": -3.5, "bytes": [84, 104, 101]},
                {"token": "paris", "logprob": -9999.0, "bytes": [112, 97, 114, 105, 115]},
            ],
        },
        {
            "token": ".",
            "logprob": -0.25,
            "bytes": [46],
            "top_logprobs": [
                {"token": ".", "logprob": -0.25, "bytes": [46]},
                {"token": "!", "logprob": -1.5, "bytes": [33]},
            ],
        },
    ],
    "refusal": None,
}
OPENAI_CHAT_TOKENS = [
    # -9999.0 ("very unlikely") is clamped to the floor, -100.
    TokenLogprob("Paris", -0.031, top(("Paris", -0.031), ("The", -3.5), ("paris", -100.0))),
    TokenLogprob(".", -0.25, top((".", -0.25), ("!", -1.5))),
]
OPENAI_CHAT_MEAN = -0.1405  # (-0.031 - 0.25) / 2


def openai_chat_model() -> ProviderChat:
    return ProviderChat(text="Paris.", info={"finish_reason": "stop", "logprobs": OPENAI_CHAT})


def test_openai_chat_reaches_caller_in_response_metadata_and_generation_info() -> None:
    model = openai_chat_model()
    message = model.invoke("q")
    assert message.response_metadata["logprobs"] == OPENAI_CHAT
    assert via_generate(model).generation_info == {"finish_reason": "stop", "logprobs": OPENAI_CHAT}


def test_openai_chat_normalized() -> None:
    assert normalize_logprobs(OPENAI_CHAT) == OPENAI_CHAT_TOKENS
    assert logprobs_from_generation(openai_chat_model().invoke("q")) == OPENAI_CHAT_TOKENS
    assert logprobs_from_generation(via_generate(openai_chat_model())) == OPENAI_CHAT_TOKENS


def test_openai_chat_end_to_end() -> None:
    mean, n = calibrated_mean(openai_chat_model())
    assert n == 2
    assert mean == pytest.approx(OPENAI_CHAT_MEAN)


def test_openai_refusal_has_no_answer_logprobs() -> None:
    # A refusal puts its tokens under "refusal" and leaves "content" null: no answer tokens.
    refusal = {"content": None, "refusal": [{"token": "I", "logprob": -0.1, "top_logprobs": []}]}
    model = ProviderChat(text="", info={"logprobs": refusal})
    assert normalize_logprobs(refusal) is None
    result = with_calibration(model).invoke("q")
    assert NO_LOGPROBS in result["calibration"].flags
    assert result["calibration"].confidence is None


# ----------------------------------------------------------------------- OpenAI, streamed chat
# langchain-openai `_convert_chunk_to_generation_chunk`: `logprobs = choice.get("logprobs"); if
# logprobs: generation_info["logprobs"] = logprobs`, so each delta chunk carries
# {"content": [its entries], "refusal": None}; the usage-only chunk (empty choices) carries none.
# Core copies generation_info into each chunk's response_metadata, and merge_dicts concatenates
# the content lists (entries have no "index" key).

STREAM_CHUNKS: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = [
    ("Paris", {"logprobs": {"content": [OPENAI_CHAT["content"][0]], "refusal": None}}, {}),
    (".", {"logprobs": {"content": [OPENAI_CHAT["content"][1]], "refusal": None}}, {}),
    ("", {"finish_reason": "stop"}, {}),  # final chunk without logprobs
]


def test_streamed_chat_chunks_carry_their_own_entries() -> None:
    model = ProviderChat(chunks=STREAM_CHUNKS)
    chunks = list(model.stream("q"))
    per_chunk = [c.response_metadata.get("logprobs") for c in chunks]
    assert per_chunk[0] == {"content": [OPENAI_CHAT["content"][0]], "refusal": None}
    assert per_chunk[1] == {"content": [OPENAI_CHAT["content"][1]], "refusal": None}
    assert all(p is None for p in per_chunk[2:])
    assert merge_logprob_chunks(chunks) == OPENAI_CHAT_TOKENS
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.response_metadata["logprobs"]["content"] == OPENAI_CHAT["content"]
    assert logprobs_from_generation(merged) == OPENAI_CHAT_TOKENS


def test_streamed_chat_end_to_end() -> None:
    mean, n = calibrated_mean(ProviderChat(chunks=STREAM_CHUNKS), stream=True)
    assert n == 2
    assert mean == pytest.approx(OPENAI_CHAT_MEAN)


# ---------------------------------------------------------------- OpenAI legacy completions
# Shape: OpenAI API reference, legacy "The completion object": choices[].logprobs is
# {"tokens": [str], "token_logprobs": [float], "top_logprobs": [{token: logprob}],
# "text_offset": [int]}. With echo=True the first prompt token has a null logprob and a null
# top_logprobs entry (vLLM's /v1/completions, quoted in llama.cpp PR 15189, does the same).

LEGACY = {
    "tokens": [" Paris", "."],
    "token_logprobs": [-0.12, -0.03],
    "top_logprobs": [{" Paris": -0.12, " Lyon": -2.4}, {"!": -3.9, ".": -0.03}],
    "text_offset": [0, 6],
}
LEGACY_TOKENS = [
    TokenLogprob(" Paris", -0.12, top((" Paris", -0.12), (" Lyon", -2.4))),
    TokenLogprob(".", -0.03, top((".", -0.03), ("!", -3.9))),  # sorted most likely first
]


def test_legacy_completions_reach_caller_through_generate_only() -> None:
    llm = ProviderCompletions(text=" Paris.", logprobs=LEGACY)
    assert llm.invoke("q") == " Paris."  # invoke() returns a str: no logprobs visible there
    generation = llm.generate(["q"]).generations[0][0]
    assert generation.generation_info == {"finish_reason": "stop", "logprobs": LEGACY}
    assert logprobs_from_generation(generation) == LEGACY_TOKENS


def test_legacy_completions_echo_drops_the_prompt_token() -> None:
    echoed = {
        "tokens": ["Capital", " Paris"],
        "token_logprobs": [None, -0.12],
        "top_logprobs": [None, {" Paris": -0.12, " Lyon": -2.4}],
        "text_offset": [0, 7],
    }
    assert normalize_logprobs(echoed) == [LEGACY_TOKENS[0]]


def test_legacy_completions_streamed_chunks_concatenate() -> None:
    # langchain-openai `_stream_response_to_generation_chunk` files each chunk's lists the same
    # way; GenerationChunk addition concatenates them.
    parts = [
        GenerationChunk(
            text=tok,
            generation_info={
                "logprobs": {
                    "tokens": [tok],
                    "token_logprobs": [LEGACY["token_logprobs"][i]],
                    "top_logprobs": [LEGACY["top_logprobs"][i]],
                    "text_offset": [LEGACY["text_offset"][i]],
                }
            },
        )
        for i, tok in enumerate(LEGACY["tokens"])
    ]
    assert merge_logprob_chunks(parts) == LEGACY_TOKENS
    assert logprobs_from_generation(parts[0] + parts[1]) == LEGACY_TOKENS


def test_legacy_completions_end_to_end() -> None:
    mean, n = calibrated_mean(ProviderCompletions(text=" Paris.", logprobs=LEGACY))
    assert n == 2
    assert mean == pytest.approx((-0.12 - 0.03) / 2)


# ------------------------------------------------------------------- llama.cpp /v1/completions
# llama-server (ggml-org/llama.cpp, PR 10783 "server : fix logprobs, make it OAI-compatible"):
# /v1/completions answers with a chat-style content list (entries: id, token, bytes, logprob,
# top_logprobs [{id, token, bytes, logprob}]) while the legacy keys stay null. Reached through
# langchain_openai.OpenAI(base_url=...), i.e. generation_info["logprobs"].

LLAMA_HYBRID = {
    "tokens": None,
    "token_logprobs": None,
    "top_logprobs": None,
    "text_offset": None,
    "content": [
        {
            "id": 12366,
            "token": " Paris",
            "bytes": [32, 80, 97, 114, 105, 115],
            "logprob": -0.0625,
            "top_logprobs": [
                {
                    "id": 12366,
                    "token": " Paris",
                    "bytes": [32, 80, 97, 114, 105, 115],
                    "logprob": -0.0625,
                },
                {"id": 55207, "token": " Marseille", "bytes": [32, 77], "logprob": -3.0},
            ],
        },
        {
            "id": 13,
            "token": ".",
            "bytes": [46],
            "logprob": -0.5,
            "top_logprobs": [{"id": 13, "token": ".", "bytes": [46], "logprob": -0.5}],
        },
    ],
}
LLAMA_TOKENS = [
    TokenLogprob(" Paris", -0.0625, top((" Paris", -0.0625), (" Marseille", -3.0))),
    TokenLogprob(".", -0.5, top((".", -0.5))),
]


def test_llama_cpp_hybrid_through_completions_llm() -> None:
    llm = ProviderCompletions(text=" Paris.", logprobs=LLAMA_HYBRID)
    generation = llm.generate(["q"]).generations[0][0]
    assert generation.generation_info is not None
    assert generation.generation_info["logprobs"] == LLAMA_HYBRID
    assert logprobs_from_generation(generation) == LLAMA_TOKENS
    mean, n = calibrated_mean(llm)
    assert (mean, n) == (pytest.approx((-0.0625 - 0.5) / 2), 2)


# -------------------------------------------------------------------------------------- Ollama
# Ollama native API (docs/api.md; `logprobs`/`top_logprobs` since v0.12.11, ollama-python PR
# 601): the response has a top-level "logprobs" list of {token, logprob, bytes, top_logprobs:
# [{token, logprob, bytes}]}, one entry per generated token. ChatOllama (langchain PR 34218)
# puts each streamed chunk's list in response_metadata["logprobs"] and accumulates it on invoke.

OLLAMA_ENTRIES = [
    {
        "token": "Paris",
        "logprob": -0.2,
        "bytes": [80, 97, 114, 105, 115],
        "top_logprobs": [
            {"token": "Paris", "logprob": -0.2, "bytes": [80, 97, 114, 105, 115]},
            {"token": "Lyon", "logprob": -1.8, "bytes": [76, 121, 111, 110]},
        ],
    },
    {
        "token": "!",
        "logprob": -0.6,
        "bytes": [33],
        "top_logprobs": [
            {"token": ".", "logprob": -0.9, "bytes": [46]},
            {"token": "!", "logprob": -0.6, "bytes": [33]},
        ],
    },
]
OLLAMA_TOKENS = [
    TokenLogprob("Paris", -0.2, top(("Paris", -0.2), ("Lyon", -1.8))),
    TokenLogprob("!", -0.6, top(("!", -0.6), (".", -0.9))),
]


def test_ollama_invoke_accumulated_list() -> None:
    model = ProviderChat(text="Paris!", metadata={"logprobs": OLLAMA_ENTRIES})
    message = model.invoke("q")
    assert message.response_metadata["logprobs"] == OLLAMA_ENTRIES
    assert logprobs_from_generation(message) == OLLAMA_TOKENS
    mean, n = calibrated_mean(model)
    assert (mean, n) == (pytest.approx(-0.4), 2)


def test_ollama_streamed_lists_concatenate() -> None:
    chunks = [
        ("Paris", None, {"logprobs": [OLLAMA_ENTRIES[0]]}),
        ("!", None, {"logprobs": [OLLAMA_ENTRIES[1]]}),
        ("", None, {"done": True}),
    ]
    model = ProviderChat(chunks=chunks)
    streamed = list(model.stream("q"))
    merged = streamed[0]
    for chunk in streamed[1:]:
        merged = merged + chunk
    assert merged.response_metadata["logprobs"] == OLLAMA_ENTRIES
    assert merge_logprob_chunks(streamed) == OLLAMA_TOKENS
    mean, n = calibrated_mean(model, stream=True)
    assert (mean, n) == (pytest.approx(-0.4), 2)


# ----------------------------------------------------------------------------- Vertex / Gemini
# Gemini's LogprobsResult (Vertex AI reference, google.cloud.aiplatform.v1 LogprobsResult;
# ai.google.dev GenerateContentResponse): chosen_candidates[i] = {token, token_id,
# log_probability}, one per decoding step ("may or may not be in top_candidates"), and
# top_candidates[i] = {candidates: [...]} "sorted by log probability in descending order".
# ChatVertexAI first filed it raw in response_metadata["logprobs_result"] (langchain-google
# PR 570), and since PR 583 flattens it in `_utils.get_generation_info`:
# `info["logprobs_result"] = [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]`.

GEMINI_RAW = {
    "chosen_candidates": [
        {"token": "Paris", "token_id": 3681, "log_probability": -0.05},
        {"token": " is", "token_id": 603, "log_probability": -0.4},
    ],
    "top_candidates": [
        {
            "candidates": [
                {"token": "Paris", "token_id": 3681, "log_probability": -0.05},
                {"token": "The", "token_id": 651, "log_probability": -3.1},
            ]
        },
        # The chosen " is" is not among this step's top candidates.
        {"candidates": [{"token": ",", "token_id": 235269, "log_probability": -0.3}]},
    ],
}
GEMINI_TOKENS = [
    TokenLogprob("Paris", -0.05, top(("Paris", -0.05), ("The", -3.1))),
    TokenLogprob(" is", -0.4, top((",", -0.3))),
]
VERTEX_FLAT = [
    {
        "token": "Paris",
        "logprob": -0.05,
        "top_logprobs": [{"token": "Paris", "logprob": -0.05}, {"token": "The", "logprob": -3.1}],
    },
    {"token": " is", "logprob": -0.4, "top_logprobs": [{"token": ",", "logprob": -0.3}]},
]


def test_vertex_flattened_logprobs_result_in_generation_info() -> None:
    model = ProviderChat(text="Paris is", info={"logprobs_result": VERTEX_FLAT})
    message = model.invoke("q")
    assert message.response_metadata["logprobs_result"] == VERTEX_FLAT
    assert via_generate(model).generation_info == {"logprobs_result": VERTEX_FLAT}
    assert logprobs_from_generation(message) == GEMINI_TOKENS
    mean, n = calibrated_mean(model)
    assert (mean, n) == (pytest.approx(-0.225), 2)


def test_gemini_raw_logprobs_result_snake_case() -> None:
    model = ProviderChat(text="Paris is", metadata={"logprobs_result": GEMINI_RAW})
    assert normalize_logprobs(GEMINI_RAW) == GEMINI_TOKENS
    assert logprobs_from_generation(model.invoke("q")) == GEMINI_TOKENS
    mean, n = calibrated_mean(model)
    assert (mean, n) == (pytest.approx(-0.225), 2)


def test_gemini_raw_logprobs_result_rest_camel_case_and_empty_tops() -> None:
    # The REST API spells the same message in camelCase; with logprobs=True but no count the
    # top candidates are empty (the PR 570 example shows 'top_candidates': []).
    rest = {
        "chosenCandidates": [
            {"token": "Paris", "tokenId": 3681, "logProbability": -0.05},
            {"token": " is", "tokenId": 603, "logProbability": -0.4},
        ],
        "topCandidates": [],
    }
    assert normalize_logprobs(rest) == [TokenLogprob("Paris", -0.05), TokenLogprob(" is", -0.4)]


# ----------------------------------------------------------------------------------- Fireworks
# ChatFireworks `_create_chat_result`: `generation_info = {"finish_reason": ...}; if "logprobs"
# in res: generation_info["logprobs"] = res["logprobs"]` (streaming: each chunk's
# choice["logprobs"] into its generation_info). Fireworks' chat completions reference
# (docs.fireworks.ai, POST /chat/completions) documents choices[].logprobs in the completions
# layout {tokens, token_logprobs, top_logprobs: [{}], text_offset, token_ids}, and its
# completion_logprobs.content entries as {token, logprob, sampling_logprob, bytes, token_id,
# text_offset, top_logprobs: [{token, logprob, token_id, bytes}]}.

FIREWORKS_LEGACY = {
    "tokens": ["Paris", "."],
    "token_logprobs": [-0.08, -0.02],
    "top_logprobs": [{"Paris": -0.08, "Rome": -2.6}, {".": -0.02}],
    "text_offset": [0, 5],
    "token_ids": [59604, 13],
}
FIREWORKS_LEGACY_TOKENS = [
    TokenLogprob("Paris", -0.08, top(("Paris", -0.08), ("Rome", -2.6))),
    TokenLogprob(".", -0.02, top((".", -0.02))),
]
FIREWORKS_CONTENT = {
    "content": [
        {
            "token": "Paris",
            "logprob": -0.08,
            "sampling_logprob": -0.07,
            "bytes": [80, 97, 114, 105, 115],
            "token_id": 59604,
            "text_offset": 0,
            "top_logprobs": [
                {"token": "Rome", "logprob": -2.6, "token_id": 49, "bytes": [82]},
                {"token": "Paris", "logprob": -0.08, "token_id": 59604, "bytes": [80]},
            ],
        },
        {
            "token": ".",
            "logprob": -0.02,
            "sampling_logprob": -0.02,
            "bytes": [46],
            "token_id": 13,
            "text_offset": 5,
            "top_logprobs": [{"token": ".", "logprob": -0.02, "token_id": 13, "bytes": [46]}],
        },
    ]
}


@pytest.mark.parametrize("payload", [FIREWORKS_LEGACY, FIREWORKS_CONTENT], ids=["lists", "content"])
def test_fireworks_chat_in_generation_info(payload: dict[str, Any]) -> None:
    model = ProviderChat(text="Paris.", info={"finish_reason": "stop", "logprobs": payload})
    assert via_generate(model).generation_info == {"finish_reason": "stop", "logprobs": payload}
    # logprob (not sampling_logprob) is the model's logprob of the emitted token.
    assert logprobs_from_generation(model.invoke("q")) == FIREWORKS_LEGACY_TOKENS
    mean, n = calibrated_mean(model)
    assert (mean, n) == (pytest.approx(-0.05), 2)


# ---------------------------------------------------------------------------- which key wins


def test_first_usable_payload_wins_over_an_empty_one() -> None:
    # response_metadata has a "logprobs" dict with nothing usable (a truthy dict); the
    # generation's logprobs_result is still read rather than reporting no logprobs.
    generation = ChatGeneration(
        message=AIMessage("Paris is", response_metadata={"logprobs": {"content": None}}),
        generation_info={"logprobs_result": VERTEX_FLAT},
    )
    assert logprobs_from_generation(generation) == GEMINI_TOKENS
