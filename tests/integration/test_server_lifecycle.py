"""The real llama-server: startup, health, a real completion with logprobs, and clean shutdown."""

from __future__ import annotations

import json
import math
import os
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from langchain_calibrate.local.server import LlamaServer, LocalServerError, ensure_llama_server


def _get(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, json.loads(response.read())


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
        result: dict[str, Any] = json.loads(response.read())
        return result


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes only once reaped.
    return False


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_session_server_is_healthy_and_lists_its_model(llama_server: LlamaServer) -> None:
    assert llama_server.is_running()
    status, body = _get(f"{llama_server.url}/health")
    assert status == 200
    assert body.get("status") == "ok"
    _, models = _get(f"{llama_server.base_url}/models")
    ids = [m["id"] for m in models["data"]]
    assert llama_server.model_name in ids


def test_real_completion_with_logprobs(base_url: str, model_name: str) -> None:
    body = _post(
        f"{base_url}/completions",
        {
            "model": model_name,
            "prompt": "The capital of France is",
            "max_tokens": 4,
            "temperature": 0,
            "logprobs": 2,
        },
    )
    choice = body["choices"][0]
    assert isinstance(choice["text"], str)
    assert choice["text"].strip()
    content = choice["logprobs"]["content"]
    assert 1 <= len(content) <= 4
    for entry in content:
        assert entry["logprob"] <= 0.0
        assert math.isfinite(entry["logprob"])
        assert len(entry["top_logprobs"]) == 2
    # Greedy decoding: the chosen token is the most probable one.
    first = content[0]
    assert first["logprob"] == pytest.approx(max(t["logprob"] for t in first["top_logprobs"]))
    assert body["usage"]["completion_tokens"] == len(content)


def test_start_stop_leaves_no_process(tmp_path: Path) -> None:
    server = LlamaServer(n_ctx=1024, parallel=1, threads=1, log_path=tmp_path / "server.log")
    with server:
        proc = server.process
        assert proc is not None
        pid = proc.pid
        assert os.getpgid(pid) == pid  # its own process group, so the group can be killed
        status, _ = _get(f"{server.url}/health")
        assert status == 200
        body = _post(
            f"{server.base_url}/completions",
            {"model": server.model_name, "prompt": "1, 2, 3,", "max_tokens": 2},
        )
        assert body["choices"][0]["text"]
    assert server.process is None
    assert not server.is_running()
    assert _pid_gone(pid)
    assert _group_gone(pid)
    server.stop()  # idempotent
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) != 0  # nobody listens any more
    assert "llama-server" in (tmp_path / "server.log").read_text()


def test_restart_after_stop(tmp_path: Path) -> None:
    server = LlamaServer(n_ctx=512, parallel=1, threads=1, log_path=tmp_path / "server.log")
    server.start()
    first_pid = server.process.pid  # type: ignore[union-attr]
    server.stop()
    server.start()
    try:
        assert server.process is not None
        assert server.process.pid != first_pid
        assert _get(f"{server.url}/health")[0] == 200
    finally:
        server.stop()
    assert _pid_gone(first_pid)


def test_process_exiting_during_startup_reports_the_log(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a GGUF file" * 100)
    server = LlamaServer(model_path=bogus, log_path=tmp_path / "server.log", startup_timeout=60)
    started = time.monotonic()
    with pytest.raises(LocalServerError) as info:
        server.start()
    assert time.monotonic() - started < 60  # noticed the exit, did not wait for the timeout
    message = str(info.value)
    assert "exited during startup" in message
    assert str(tmp_path / "server.log") in message
    assert "Last lines" in message
    assert server.process is None


def test_explicit_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = LlamaServer(port=port, n_ctx=512, parallel=1, log_path=tmp_path / "s.log")
        with pytest.raises(LocalServerError, match="could not bind"):
            server.start()
        assert server.process is None


def test_ensure_llama_server_finds_a_working_binary() -> None:
    binary = ensure_llama_server()
    assert binary.is_file()
    assert os.access(binary, os.X_OK)


def test_startup_timeout_stops_the_process(tmp_path: Path) -> None:
    # Loading the model takes over a second, so 0.05 s always times out.
    server = LlamaServer(n_ctx=512, parallel=1, startup_timeout=0.05, log_path=tmp_path / "s.log")
    pids: list[int] = []
    original = server._wait_healthy

    def spy(started: float) -> None:
        assert server.process is not None
        pids.append(server.process.pid)
        original(started)

    server._wait_healthy = spy  # type: ignore[method-assign]
    with pytest.raises(LocalServerError, match="did not become healthy"):
        server.start()
    assert server.process is None
    assert len(pids) == 1
    assert _pid_gone(pids[0])
