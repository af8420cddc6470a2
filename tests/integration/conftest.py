"""Fixtures for integration tests: one real ``llama-server`` (Gemma 3 270M) for the whole session.

Nothing here skips: if the server cannot be built or started, every test that uses it ERRORs with
the reason, so CI can never pass green without the real model server.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langchain_calibrate.local.server import LlamaServer

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests under tests/integration/ ``integration`` (`-m "not integration"` skips them)."""
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


def _terminal_writer(config: pytest.Config) -> Callable[[str], None]:
    """Return a progress callback that writes past pytest's output capture.

    The first run builds llama-server (~7 min); without this the user would see a silent pause.
    """
    capman = config.pluginmanager.getplugin("capturemanager")

    def write(message: str) -> None:
        ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with ctx:
            sys.stderr.write(f"\n[llama-server] {message}")
            sys.stderr.flush()

    return write


@pytest.fixture(scope="session")
def llama_server(pytestconfig: pytest.Config) -> Iterator[LlamaServer]:
    """A started :class:`LlamaServer` with the default model, shared by the session."""
    progress = _terminal_writer(pytestconfig)
    server = LlamaServer(progress=progress)
    started = time.monotonic()
    server.start()  # raises LocalServerError with the log tail: the test ERRORs, never skips
    progress(
        f"ready at {server.base_url} in {time.monotonic() - started:.1f} s "
        f"(log: {server.log_path})\n"
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def base_url(llama_server: LlamaServer) -> str:
    """OpenAI-compatible base URL of the session server, e.g. ``http://127.0.0.1:40123/v1``."""
    return llama_server.base_url


@pytest.fixture(scope="session")
def model_name(llama_server: LlamaServer) -> str:
    """Model name to pass as ``model=`` to OpenAI clients."""
    return llama_server.model_name
