"""Shared set-up for the examples: an endpoint (local default or any OpenAI-compatible one)."""

from __future__ import annotations

import os
from contextlib import ExitStack

from langchain_openai import OpenAI


def completions_llm(stack: ExitStack, max_tokens: int = 16):
    """A completions client with logprobs on LANGCHAIN_CALIBRATE_BASE_URL, else the local server."""
    base_url = os.environ.get("LANGCHAIN_CALIBRATE_BASE_URL")
    model = os.environ.get("LANGCHAIN_CALIBRATE_MODEL", "gpt-4o-mini")
    if not base_url:
        from langchain_calibrate.local.server import LlamaServer

        server = stack.enter_context(LlamaServer())
        base_url, model = server.base_url, server.model_name
    return OpenAI(
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY", "none"),  # type: ignore[arg-type]
        model=model,
        temperature=0.0,
        max_tokens=max_tokens,
        logprobs=3,
    ).bind(stop=["\n"])
