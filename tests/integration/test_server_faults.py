"""Server faults on the real llama-server and the real ``demo`` command.

Each test that kills a server starts its own (the session's shared server is never touched):

* llama-server SIGKILLed while a batch is in flight: the chain raises openai's connection error
  at once and ``LlamaServer`` turns it into ``LocalServerDiedError`` naming the signal and log.
* The same under ``langchain-calibrate demo``: exit code 1, one error line, no traceback.
* SIGTERM / SIGINT / SIGKILL sent to the demo: its llama-server child is gone afterwards.
* ``demo --base-url`` against an endpoint that never answers, and one that answers HTTP 500:
  one clear error line each (these need no llama-server, but the demo loads MiniLM and HaluEval
  before its first request, so they live here rather than in the unit tests).

Processes are found and checked in /proc (the demo's llama-server is its child).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_openai import OpenAI

from langchain_calibrate.local.server import LlamaServer, LocalServerDiedError
from langchain_calibrate.runnable import with_calibration

ROOT = Path(__file__).resolve().parents[2]
_ERROR_LINE = "langchain-calibrate: error: "


# -- /proc helpers --------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def _live_processes(*needles: str, ppid: int | None = None) -> list[int]:
    """Live processes whose command line contains every needle (and, if given, parent ppid)."""
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
        if fields[0] in ("Z", "X") or (ppid is not None and int(fields[1]) != ppid):
            continue
        if all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


def _port_of(pid: int) -> int:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(cmdline[cmdline.index(b"--port") + 1])


def _no_llama_server_on(port: int) -> bool:
    return _live_processes("llama-server", f"--port {port} ") == []


def _requests_in_flight(log: Path) -> int:
    """Slots llama-server launched and has not released yet, read from its log."""
    text = log.read_text(errors="replace")
    return len(re.findall(r"launch_slot_", text)) - len(re.findall(r"\brelease: ", text))


def _wait_busy(log: Path, timeout: float) -> None:
    """Block until the log shows a request being decoded."""
    if not _wait_until(lambda: _requests_in_flight(log) > 0, timeout, poll=0.02):
        msg = f"no request reached llama-server within {timeout} s; log: {log}"
        raise AssertionError(msg)


# -- the chain, with llama-server SIGKILLed mid-batch ---------------------------------------------


def test_chain_raises_at_once_and_server_reports_sigkill_mid_batch(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = LlamaServer(n_ctx=2048, parallel=2, threads=1, log_path=log)
    prompt = PromptTemplate.from_template("Write a long story about {topic}.\n")
    questions = [{"topic": t} for t in ("a lighthouse", "a river", "a fox", "a city", "a ship")]
    caught: list[BaseException] = []
    in_flight_at_kill: list[int] = []

    with pytest.raises(LocalServerDiedError) as died:
        with server:
            pid, port = server.process.pid, server.port  # type: ignore[union-attr]
            llm = OpenAI(
                base_url=server.base_url,
                api_key="none",  # type: ignore[arg-type]
                model=server.model_name,
                max_tokens=64,
                temperature=0.0,
                logprobs=3,
                max_retries=1,
                timeout=60,
            )
            chain = with_calibration(prompt | llm | StrOutputParser())

            def kill_when_busy() -> None:
                _wait_busy(log, timeout=120)
                time.sleep(0.2)  # a few tokens into the answer
                in_flight_at_kill.append(_requests_in_flight(log))
                os.kill(pid, signal.SIGKILL)

            killer = threading.Thread(target=kill_when_busy, daemon=True)
            killer.start()
            started = time.monotonic()
            try:
                chain.batch(questions, config={"max_concurrency": 2})
            except Exception as exc:
                caught.append(exc)
                elapsed = time.monotonic() - started
                raise
            finally:
                killer.join(timeout=150)

    assert in_flight_at_kill and in_flight_at_kill[0] > 0  # killed while decoding
    assert len(caught) == 1
    assert isinstance(caught[0], openai.APIConnectionError)
    assert not isinstance(caught[0], openai.APITimeoutError)
    assert elapsed < 30, elapsed  # a prompt error, not a hang until the 60 s timeout
    assert died.value.__cause__ is caught[0]
    assert died.value.returncode == -9
    assert str(died.value) == (
        f"the local model server died (llama-server pid {pid} was killed by SIGKILL, exit -9); "
        f"its log is at {log}"
    )
    assert server.process is None
    assert not _alive(pid)
    assert _no_llama_server_on(port)


# -- the demo command -----------------------------------------------------------------------------


class _DemoRun:
    """``python -m langchain_calibrate.cli demo ...`` as a child, with its stderr collected."""

    def __init__(self, args: list[str], out_dir: Path) -> None:
        cmd = [sys.executable, "-m", "langchain_calibrate.cli", "demo", "--quiet"]
        cmd += ["--out-dir", str(out_dir), *args]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        for chunk in iter(lambda: os.read(fd, 65536), b""):
            self._chunks.append(chunk)

    @property
    def stderr(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def lines(self) -> list[str]:
        """Stderr lines as a terminal shows them (progress bars redraw with carriage returns)."""
        return [line.rsplit("\r", 1)[-1] for line in self.stderr.splitlines()]

    def error_lines(self) -> list[str]:
        return [line for line in self.lines() if line.startswith(_ERROR_LINE)]

    def wait(self, timeout: float) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return rc

    def llama_server_child(self, timeout: float = 120) -> int:
        """The pid of the llama-server the demo started (its child)."""
        found: list[int] = []

        def spawned() -> bool:
            found[:] = _live_processes("llama-server", ppid=self.proc.pid)
            return bool(found) or self.proc.poll() is not None

        _wait_until(spawned, timeout)
        assert found, f"the demo started no llama-server; stderr:\n{self.stderr[-3000:]}"
        return found[0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(timeout=60)


@contextlib.contextmanager
def _demo(args: list[str], tmp_path: Path) -> Iterator[_DemoRun]:
    """Run the demo; whatever the test does, leave neither it nor a llama-server child behind."""
    run = _DemoRun(args, tmp_path / "out")
    children: list[int] = []

    def note_children() -> None:
        children.extend(_live_processes("llama-server", ppid=run.proc.pid))

    try:
        yield run
    finally:
        note_children()
        run.kill()
        for pid in children:  # only if a test failed half-way (the demo stops them itself)
            if not _wait_until(lambda pid=pid: not _alive(pid), 15):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _log_of(pid: int) -> Path:
    """llama-server writes stdout and stderr to its log file: read the path from /proc."""
    return Path(os.readlink(f"/proc/{pid}/fd/1"))


def test_demo_reports_its_llama_server_killed_mid_run(tmp_path: Path) -> None:
    with _demo(["--questions", "40"], tmp_path) as run:
        child = run.llama_server_child()
        port, log = _port_of(child), _log_of(child)
        _wait_busy(log, timeout=600)  # answering has begun (MiniLM and the index load first)
        os.kill(child, signal.SIGKILL)
        killed = time.monotonic()
        rc = run.wait(timeout=120)
        assert time.monotonic() - killed < 60  # noticed promptly
    assert rc == 1, run.stderr[-3000:]
    assert run.error_lines() == [
        f"{_ERROR_LINE}the local model server died (llama-server pid {child} was killed by "
        f"SIGKILL, exit -9); its log is at {log}"
    ], run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert not _alive(child)
    assert _no_llama_server_on(port)


@pytest.mark.parametrize(
    ("sig", "code", "last_line"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM, "langchain-calibrate: terminated by SIGTERM"),
        (signal.SIGINT, 130, "interrupted"),
    ],
    ids=["SIGTERM", "SIGINT"],
)
def test_signal_to_the_demo_mid_run_stops_its_llama_server(
    sig: signal.Signals, code: int, last_line: str, tmp_path: Path
) -> None:
    with _demo(["--questions", "40"], tmp_path) as run:
        child = run.llama_server_child()
        port, log = _port_of(child), _log_of(child)
        _wait_busy(log, timeout=600)
        run.proc.send_signal(sig)
        rc = run.wait(timeout=120)
        gone_when_demo_exited = not _alive(child)
    assert rc == code, run.stderr[-3000:]
    assert run.lines()[-1] == last_line, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert gone_when_demo_exited  # stopped by the demo itself, not left for the kernel
    assert _no_llama_server_on(port)


def test_sigkill_of_the_demo_leaves_no_llama_server(tmp_path: Path) -> None:
    with _demo(["--questions", "40"], tmp_path) as run:
        child = run.llama_server_child()
        port = _port_of(child)
        assert _wait_until(lambda: "Local model server ready" in run.stderr, 300), run.stderr
        run.proc.kill()  # no Python cleanup at all: only the parent-death signal is left
        run.wait(timeout=60)
        assert _wait_until(lambda: not _alive(child), 30), "llama-server outlived the demo"
    assert _no_llama_server_on(port)


# -- the demo against remote endpoints that misbehave --------------------------------------------


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
        return len(self._held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self._held.append(self._listener.accept()[0])

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
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"error": {"code": 500, "message": "model crashed", "type": "x"}})
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def test_demo_times_out_clearly_on_an_endpoint_that_never_answers(tmp_path: Path) -> None:
    with _SilentEndpoint() as endpoint:
        args = ["--base-url", endpoint.base_url, "--timeout", "2", "--questions", "10"]
        with _demo(args, tmp_path) as run:
            rc = run.wait(timeout=600)
        assert endpoint.connections >= 2  # the request and its one retry
    assert rc == 1, run.stderr[-3000:]
    assert run.error_lines() == [
        f"{_ERROR_LINE}the model endpoint {endpoint.base_url}/completions did not answer within "
        "2 s (2 attempts); check that it is up and not overloaded, or give it longer with "
        "--timeout SECONDS"
    ], run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "Starting the local model server" not in run.stderr


def test_demo_names_the_status_and_endpoint_of_an_http_500(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Error500Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        with _demo(["--base-url", url, "--questions", "10"], tmp_path) as run:
            rc = run.wait(timeout=600)
    finally:
        server.shutdown()
        server.server_close()
    assert rc == 1, run.stderr[-3000:]
    assert run.error_lines() == [
        f"{_ERROR_LINE}the model endpoint {url}/completions answered HTTP 500 Internal Server "
        "Error: model crashed"
    ], run.stderr[-3000:]
    assert "Traceback" not in run.stderr
