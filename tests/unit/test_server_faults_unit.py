"""Server faults without the model: real sockets, real HTTP servers and real child processes.

* An endpoint that accepts connections and never answers: the chain raises openai's timeout
  error promptly, and the demo's error names the endpoint and the timeout.
* An endpoint answering HTTP 500: the chain raises, and the error names the status and endpoint.
* A stand-in ``llama-server`` (a small Python HTTP server answering ``/health``, run as a real
  child process through :class:`LlamaServer`) that is SIGKILLed or crashes: ``check()`` and the
  ``with`` block report how it died and where its log is.
* SIGTERM, SIGINT and SIGKILL sent to ``langchain-calibrate server serve``: no child is left.

The same faults against the real llama-server, and the ``demo`` command end to end, are in
tests/integration/test_server_faults.py (the demo loads MiniLM and HaluEval before it calls
the model, which is too slow and too data-hungry for unit tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import Runnable
from langchain_openai import OpenAI

from langchain_calibrate.demo import ModelEndpointError, endpoint_error
from langchain_calibrate.local.server import (
    ENV_CACHE,
    ENV_LLAMA_SERVER,
    LlamaServer,
    LocalServerDiedError,
    LocalServerError,
    Terminated,
    describe_exit,
    raise_on_termination_signals,
)
from langchain_calibrate.runnable import with_calibration

ROOT = Path(__file__).resolve().parents[2]
_ERROR_BODY = {"error": {"code": 500, "message": "slot 0 crashed:\n  out of memory", "type": "x"}}


# -- real endpoints that misbehave ----------------------------------------------------------------


class _SilentEndpoint:
    """A TCP server that accepts every connection, reads nothing and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        return len(self._held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = self._listener.accept()
                self._held.append(conn)

    def __enter__(self) -> _SilentEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._listener.close()


class _Error500Handler(BaseHTTPRequestHandler):
    """Answers every POST with HTTP 500 and a llama.cpp-style JSON error body."""

    server: _Error500Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.paths.append(self.path)
        body = json.dumps(_ERROR_BODY).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class _Error500Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Error500Handler)
        self.paths: list[str] = []


@contextlib.contextmanager
def _error_500_endpoint() -> Iterator[_Error500Server]:
    server = _Error500Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _base_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def _chain(base_url: str, *, timeout: float, max_retries: int) -> Runnable[Any, Any]:
    """The demo's shape without retrieval: prompt | completions model | parser, calibrated."""
    llm = OpenAI(
        base_url=base_url,
        api_key="none",  # type: ignore[arg-type]
        model="gemma-3-270m",
        max_tokens=8,
        logprobs=3,
        max_retries=max_retries,
        timeout=timeout,
    )
    prompt = PromptTemplate.from_template("Question: {question}\nAnswer:")
    return with_calibration(prompt | llm | StrOutputParser())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the chain against real misbehaving endpoints -------------------------------------------------


def test_chain_raises_openai_timeout_promptly_when_the_endpoint_never_answers() -> None:
    with _SilentEndpoint() as endpoint:
        chain = _chain(endpoint.base_url, timeout=1.0, max_retries=0)
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError) as info:
            chain.invoke({"question": "Who wrote Dune?"})
        elapsed = time.monotonic() - started
        assert endpoint.connections == 1  # it connected, then waited for an answer
    assert 0.9 <= elapsed < 10, elapsed  # the 1 s timeout, not a hang
    error = endpoint_error(info.value, timeout=1.0, attempts=1)
    assert isinstance(error, ModelEndpointError)
    assert str(error) == (
        f"the model endpoint {endpoint.base_url}/completions did not answer within 1 s "
        "(1 attempt); check that it is up and not overloaded, or give it longer with "
        "--timeout SECONDS"
    )


def test_chain_timeout_with_a_retry_still_ends_in_bounded_time() -> None:
    with _SilentEndpoint() as endpoint:
        chain = _chain(endpoint.base_url, timeout=0.5, max_retries=1)
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            chain.batch([{"question": "a"}, {"question": "b"}], config={"max_concurrency": 2})
        elapsed = time.monotonic() - started
        assert endpoint.connections >= 2
    # Two attempts of 0.5 s plus openai's backoff (at most ~1 s) per question, in parallel.
    assert elapsed < 10, elapsed


def test_chain_raises_internal_server_error_on_http_500() -> None:
    with _error_500_endpoint() as server:
        chain = _chain(_base_url(server), timeout=10, max_retries=1)
        with pytest.raises(openai.InternalServerError) as info:
            chain.invoke({"question": "Who wrote Dune?"})
        assert server.paths == ["/v1/completions", "/v1/completions"]  # one retry, then raise
    assert info.value.status_code == 500
    error = endpoint_error(info.value, timeout=10)
    assert isinstance(error, ModelEndpointError)
    assert str(error) == (
        f"the model endpoint {_base_url(server)}/completions answered HTTP 500 "
        "Internal Server Error: slot 0 crashed: out of memory"
    )
    assert "\n" not in str(error)


def test_chain_reports_connection_refused_with_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    chain = _chain(url, timeout=5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(openai.APIConnectionError) as info:
        chain.invoke({"question": "Who wrote Dune?"})
    assert time.monotonic() - started < 5
    error = endpoint_error(info.value, timeout=5, attempts=1)
    assert isinstance(error, ModelEndpointError)
    assert str(error).startswith(
        f"could not reach the model endpoint {url}/completions (1 attempt): "
    )
    assert "Connection refused" in str(error)


def test_endpoint_error_finds_a_wrapped_openai_error_and_ignores_others() -> None:
    with _error_500_endpoint() as server:
        chain = _chain(_base_url(server), timeout=10, max_retries=0)
        try:
            chain.invoke({"question": "q"})
        except openai.InternalServerError as exc:
            try:
                raise RuntimeError("the chain failed") from exc
            except RuntimeError as wrapped:
                error = endpoint_error(wrapped, timeout=10)
    assert error is not None and "answered HTTP 500" in str(error)
    assert endpoint_error(ValueError("bad input"), timeout=10) is None
    assert endpoint_error(KeyboardInterrupt(), timeout=10) is None


# -- LlamaServer around a real stand-in process -------------------------------------------------

_FAKE_SERVER = '''\
"""A stand-in llama-server: GET /health answers 200; GET /crash logs an assert and exits 3."""
import argparse
import http.server
import os

parser = argparse.ArgumentParser()
parser.add_argument("--host")
parser.add_argument("--port", type=int)
args, _ = parser.parse_known_args()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            print("GGML_ASSERT(slot.n_ctx > 0) failed", flush=True)
            os._exit(3)
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *fmt_args):
        print("request:", fmt % fmt_args, flush=True)


server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
print(f"fake llama-server listening on http://{args.host}:{args.port}", flush=True)
server.serve_forever()
'''


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    """An executable stand-in for llama-server (a real process that serves /health)."""
    path = tmp_path / "bin" / "fake-llama-server"
    path.parent.mkdir()
    path.write_text(f"#!{sys.executable}\n{_FAKE_SERVER}")
    path.chmod(0o755)
    return path


@pytest.fixture
def dummy_model(tmp_path: Path) -> Path:
    """A file to pass as model_path (the stand-in does not read it)."""
    path = tmp_path / "dummy.gguf"
    path.write_bytes(b"GGUF")
    return path


def _fake_server(fake_binary: Path, dummy_model: Path, tmp_path: Path) -> LlamaServer:
    return LlamaServer(
        model_path=dummy_model,
        binary=fake_binary,
        log_path=tmp_path / "server.log",
        startup_timeout=30,
    )


def _proc_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _children(ppid: int, needle: str) -> list[int]:
    """Live children of ``ppid`` whose command line contains ``needle`` (scanned in /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid and needle in cmdline and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _wait_child(ppid: int, needle: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _children(ppid, needle)
        if found:
            return found[0]
        time.sleep(0.05)
    msg = f"no child of {ppid} matching {needle!r} within {timeout} s"
    raise AssertionError(msg)


def test_describe_exit_names_the_signal_or_the_code() -> None:
    assert describe_exit(-9) == "was killed by SIGKILL, exit -9"
    assert describe_exit(-15) == "was killed by SIGTERM, exit -15"
    assert describe_exit(1) == "exited with code 1"
    assert describe_exit(-200) == "was killed by signal 200, exit -200"


def test_check_reports_a_server_killed_by_sigkill(
    fake_binary: Path, dummy_model: Path, tmp_path: Path
) -> None:
    server = _fake_server(fake_binary, dummy_model, tmp_path)
    with pytest.raises(LocalServerError, match="not running"):
        server.check()
    server.start()
    try:
        server.check()  # alive: no error
        pid = server.process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while server.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(LocalServerDiedError) as info:
            server.check()
    finally:
        server.stop()
    assert str(info.value) == (
        f"the local model server died (llama-server pid {pid} was killed by SIGKILL, exit -9); "
        f"its log is at {tmp_path / 'server.log'}"
    )
    assert info.value.returncode == -9
    assert info.value.log_path == tmp_path / "server.log"
    assert not _alive(pid)
    with pytest.raises(LocalServerError, match="not running"):
        server.check()  # stopped now: no longer "died"


def test_check_shows_the_last_log_line_of_a_crash(
    fake_binary: Path, dummy_model: Path, tmp_path: Path
) -> None:
    with _fake_server(fake_binary, dummy_model, tmp_path) as server:
        pid = server.process.pid  # type: ignore[union-attr]
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn,
            contextlib.suppress(OSError),
        ):
            conn.sendall(b"GET /crash HTTP/1.0\r\n\r\n")
            conn.recv(1)  # the connection closes when the process exits
        assert _wait_gone(pid)
        with pytest.raises(LocalServerDiedError) as info:
            server.check()
    assert info.value.returncode == 3
    assert str(info.value).endswith(
        f"(llama-server pid {pid} exited with code 3); its log is at {tmp_path / 'server.log'}; "
        "its last line: GGML_ASSERT(slot.n_ctx > 0) failed"
    )


def test_with_block_turns_the_client_error_into_the_servers_death(
    fake_binary: Path, dummy_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(LocalServerDiedError) as info:
        with _fake_server(fake_binary, dummy_model, tmp_path) as server:
            pid = server.process.pid  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)
            assert _wait_gone(pid)
            _chain(server.base_url, timeout=5, max_retries=0).invoke({"question": "q"})
    assert "killed by SIGKILL, exit -9" in str(info.value)
    assert isinstance(info.value.__cause__, openai.APIConnectionError)
    assert server.process is None


def test_with_block_passes_other_errors_through_and_stops_the_server(
    fake_binary: Path, dummy_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="user code"):
        with _fake_server(fake_binary, dummy_model, tmp_path) as server:
            pid = server.process.pid  # type: ignore[union-attr]
            raise ValueError("user code failed")
    assert server.process is None
    assert _wait_gone(pid)


def test_raise_on_termination_signals_raises_terminated_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as info, raise_on_termination_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
    assert info.value.signum == signal.SIGTERM
    assert info.value.code == 128 + signal.SIGTERM
    assert str(info.value) == "terminated by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


# -- the CLI: signals to `langchain-calibrate server serve` leave no child ----------------------


@contextlib.contextmanager
def _serve_cli(fake_binary: Path, dummy_model: Path, tmp_path: Path) -> Iterator[tuple[Any, int]]:
    """Run ``langchain-calibrate server serve`` on the stand-in; yield (process, child pid)."""
    env = {**os.environ, ENV_LLAMA_SERVER: str(fake_binary), ENV_CACHE: str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "langchain_calibrate.cli", "server", "serve", "--model",
         str(dummy_model)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "serving ... at ... (log: ...)" once /health answers
        assert line.startswith("serving "), line + proc.stderr.read()
        child = _wait_child(proc.pid, str(fake_binary))
        yield proc, child
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM, "terminated by SIGTERM; the server was stopped"),
        (signal.SIGHUP, 128 + signal.SIGHUP, "terminated by SIGHUP; the server was stopped"),
        (signal.SIGINT, 0, None),
    ],
)
def test_signal_to_server_serve_stops_its_child(
    sig: signal.Signals,
    code: int,
    message: str | None,
    fake_binary: Path,
    dummy_model: Path,
    tmp_path: Path,
) -> None:
    with _serve_cli(fake_binary, dummy_model, tmp_path) as (proc, child):
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == code, stderr
        if message is not None:
            assert stderr.strip().splitlines()[-1] == message
        assert "Traceback" not in stderr
        assert _wait_gone(child, timeout=5)  # stopped by the CLI before it exited


def test_sigkill_of_the_cli_still_stops_its_child(
    fake_binary: Path, dummy_model: Path, tmp_path: Path
) -> None:
    with _serve_cli(fake_binary, dummy_model, tmp_path) as (proc, child):
        proc.kill()  # no handler, no atexit: only the parent-death signal can stop the child
        proc.wait(timeout=30)
        assert _wait_gone(child, timeout=15)
        assert _children(proc.pid, str(fake_binary)) == []


def test_server_serve_reports_a_child_that_dies(
    fake_binary: Path, dummy_model: Path, tmp_path: Path
) -> None:
    with _serve_cli(fake_binary, dummy_model, tmp_path) as (proc, child):
        os.kill(child, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: the local model server died (llama-server pid ")
    assert "was killed by SIGKILL, exit -9); its log is at " in last
