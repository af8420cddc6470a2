"""Run logs: one JSON line per calibrated run, labels joined later, API keys never written.

``with_calibration(chain, log_to="runs.jsonl")`` appends a record per run. Label the runs later
(a ``label`` field written by your own tooling, or a separate labels file keyed by ``run_id``)
and fit a calibrator on them with ``langchain-calibrate fit runs.jsonl --labels labels.jsonl``.

Each line is one ``write`` on a file opened with ``O_APPEND``, so threads and processes that
share a log never interleave half-lines; a process killed mid-write leaves at most one
truncated final line, which ``read_runs`` skips with a warning.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_calibrate._version import __version__

if TYPE_CHECKING:
    from langchain_calibrate.result import Calibration

__all__ = [
    "RUN_LOG_SCHEMA",
    "RUN_LOG_VERSION",
    "RunLogError",
    "RunLogWriter",
    "join_labels",
    "read_labels",
    "read_runs",
    "redact",
    "run_record",
]

RUN_LOG_SCHEMA = "langchain-calibrate.run"
RUN_LOG_VERSION = 1
REDACTED = "[REDACTED]"
MAX_TEXT_CHARS = 20_000
"""Longer strings are cut (with a marker) so one huge output cannot bloat the log."""

# Known credential shapes. Broad on purpose: a false redaction costs a log line's readability,
# a missed one leaks a secret.
_SECRET_PATTERNS = [
    re.compile(r"\bsk-(?:proj-|ant-|or-v1-|live-|test-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    re.compile(r"\bgsk_[A-Za-z0-9]{30,}"),
    re.compile(r"\bpplx-[A-Za-z0-9]{30,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"),  # JWT
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{12,}"),
    re.compile(
        r"(?i)\b(api[_-]?key|access[_-]?token|secret|password|authorization)"
        r"(\s*[:=]\s*)([\"']?)[^\s\"',;]{6,}"
    ),
]
# Matched against a whole key, lower-cased with "-" as "_": "access_token" is a secret,
# "max_tokens" is not.
_SECRET_KEY_NAMES = re.compile(
    r"(x_)?(.*_)?(api_?key|secret|client_secret|password|passwd|passphrase|token|"
    r"authorization|auth_header|credentials?|private_key|cookie|set_cookie|session_id)"
)


class RunLogError(ValueError):
    """A run log or labels file that cannot be read as written by langchain-calibrate."""


def _redact_text(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any) -> Any:
    """Replace credentials in a JSON-like value: known key shapes in strings, secret-named keys.

    Args:
        value: Strings, numbers, lists and dicts (as produced for a run record).

    Returns:
        A copy with every known key pattern and every value under a secret-sounding key
        (``api_key``, ``authorization``, ``password``, ...) replaced by ``"[REDACTED]"``.

    Example:
        >>> redact({"q": "use sk-abcdefghijklmnopqrstuv", "api_key": "x"})
        {'q': 'use [REDACTED]', 'api_key': '[REDACTED]'}
    """
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            secret = _SECRET_KEY_NAMES.fullmatch(name.lower().replace("-", "_"))
            out[_redact_text(name)] = REDACTED if secret and item is not None else redact(item)
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[truncated {len(text) - limit} chars]"


def _jsonable(value: Any, limit: int, depth: int = 0) -> Any:
    """A JSON-safe copy of inputs/outputs: messages, documents and models become plain data."""
    if depth > 20:
        return "<nested too deep>"
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _truncate(value, limit)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, limit, depth + 1) for k, v in list(value.items())[:1000]}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, limit, depth + 1) for v in list(value)[:1000]]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _jsonable(dump(), limit, depth + 1)
        except Exception:  # noqa: S110 - fall through to repr: logging must not fail on odd input
            pass
    return _truncate(repr(value), limit)


def _calibrator_info(calibrator: Any) -> dict[str, Any] | None:
    if calibrator is None:
        return None
    info: dict[str, Any] = {
        "class": f"{type(calibrator).__module__}.{type(calibrator).__qualname__}",
        "method": getattr(calibrator, "method", None),
    }
    to_dict = getattr(calibrator, "to_dict", None)
    if callable(to_dict):
        try:
            data = to_dict()
            info["format_version"] = data.get("version")
            info["package_version"] = data.get("package_version")
            info["feature_names"] = data.get("feature_names")
            blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
            info["fingerprint"] = hashlib.sha256(blob.encode()).hexdigest()[:16]
        except Exception as exc:  # an unfitted or foreign calibrator must not stop the run
            info["fingerprint_error"] = f"{type(exc).__name__}: {exc}"
    return info


def run_record(
    calibration: Calibration,
    *,
    inputs: Any,
    answer: str | None = None,
    calibrator: Any = None,
    include_documents: bool = True,
    max_text_chars: int = MAX_TEXT_CHARS,
    label: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one run-log record (redacted, JSON-safe). See the README for the schema.

    Args:
        calibration: The run's ``Calibration`` (its ``run_id`` keys the record).
        inputs: The chain's input.
        answer: The answer text the signals were computed from.
        calibrator: The calibrator that produced the confidence, if any (for its version).
        include_documents: Keep the retrieved documents' text and metadata.
        max_text_chars: Cut longer strings.
        label: 1 correct, 0 incorrect, ``None`` not yet labelled.
        extra: More fields to store under ``"extra"``.

    Returns:
        The record as a dict, ready for ``json.dumps``.
    """
    documents = []
    if include_documents:
        documents = [
            {
                "page_content": _truncate(doc.page_content, max_text_chars),
                "metadata": _jsonable(doc.metadata, max_text_chars),
            }
            for doc in calibration.documents
        ]
    record: dict[str, Any] = {
        "schema": RUN_LOG_SCHEMA,
        "version": RUN_LOG_VERSION,
        "run_id": calibration.run_id,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "inputs": _jsonable(inputs, max_text_chars),
        "answer": _truncate(answer, max_text_chars) if answer is not None else None,
        "confidence": calibration.confidence,
        "kind": calibration.kind,
        "is_calibrated": calibration.is_calibrated,
        "method": calibration.method,
        "signals": _jsonable(calibration.signals.model_dump(), max_text_chars),
        "flags": list(calibration.flags),
        "errors": [_truncate(e, max_text_chars) for e in calibration.errors],
        "model_name": calibration.model_name,
        "calibrator": _calibrator_info(calibrator),
        "package_version": __version__,
        "documents": documents,
        "label": label,
    }
    if extra:
        record["extra"] = _jsonable(dict(extra), max_text_chars)
    return redact(record)


class RunLogWriter:
    """Appends run records to a JSONL file; safe across threads and processes.

    Args:
        path: The log file (created with its parent directories if missing).
        include_documents: Store retrieved documents' text and metadata in each record.
        max_text_chars: Cut longer strings in a record.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "runs.jsonl"
        >>> RunLogWriter(path).write_record({"run_id": "r1", "label": 1})
        >>> path.read_text().strip()
        '{"run_id":"r1","label":1}'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        include_documents: bool = True,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            msg = f"log_to={str(path)!r} is a directory; give a file path such as runs.jsonl."
            raise RunLogError(msg)
        self.include_documents = include_documents
        self.max_text_chars = max_text_chars
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RunLogWriter({str(self.path)!r})"

    def write_record(self, record: Mapping[str, Any]) -> None:
        """Append one record as a single line (one ``write`` call, ``O_APPEND``)."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        data = (line + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                written = os.write(fd, data)
                while written < len(data):  # short writes are rare, but never drop the tail
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)

    def write(
        self,
        calibration: Calibration,
        *,
        inputs: Any,
        answer: str | None = None,
        calibrator: Any = None,
        label: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build the record for one run (see ``run_record``), append it and return it."""
        record = run_record(
            calibration,
            inputs=inputs,
            answer=answer,
            calibrator=calibrator,
            include_documents=self.include_documents,
            max_text_chars=self.max_text_chars,
            label=label,
            extra=extra,
        )
        self.write_record(record)
        return record


def _check_label(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _LABEL_WORDS:
        return _LABEL_WORDS[value.strip().lower()]
    msg = f"{where}: label must be 1 (correct), 0 (incorrect) or empty (unlabelled), got {value!r}."
    raise RunLogError(msg)


_LABEL_WORDS = {
    "1": 1, "0": 0, "true": 1, "false": 0, "correct": 1, "incorrect": 0, "yes": 1, "no": 0,
    "": None, "null": None, "none": None,
}  # fmt: skip


def _json_lines(file: Path, name: str) -> Iterator[tuple[str, Any]]:
    """Parsed lines with their ``file:line``; a truncated last line is skipped with a warning."""
    lines = file.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not line.endswith(("}", "]")):
                warnings.warn(
                    f"{where}: skipped a truncated last line (a writer was interrupted).",
                    stacklevel=3,
                )
                continue
            msg = f"{where} is not valid JSON ({exc.msg}); fix or delete that line."
            raise RunLogError(msg) from exc


def read_runs(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a run log written by ``with_calibration(..., log_to=...)``.

    Args:
        path: The JSONL file.

    Returns:
        The records in file order, each with ``label`` checked (0, 1 or ``None``).

    Raises:
        RunLogError: When the file is missing, a line (other than a truncated last one) is not
            JSON, a record lacks ``run_id``/``signals``, or a label is not 0/1.
    """
    file = Path(path)
    if not file.is_file():
        msg = f"No run log at {str(path)!r}. Write one with with_calibration(..., log_to=PATH)."
        raise RunLogError(msg)
    runs: list[dict[str, Any]] = []
    for where, record in _json_lines(file, str(path)):
        if not isinstance(record, dict) or "run_id" not in record or "signals" not in record:
            msg = (
                f"{where} is not a langchain-calibrate run record (needs 'run_id' and "
                "'signals'); was this file written by with_calibration(log_to=...)?"
            )
            raise RunLogError(msg)
        if record.get("schema", RUN_LOG_SCHEMA) != RUN_LOG_SCHEMA:
            msg = f"{where} has schema {record.get('schema')!r}, expected {RUN_LOG_SCHEMA!r}."
            raise RunLogError(msg)
        if not isinstance(record["signals"], dict):
            msg = f"{where}: 'signals' must be an object, got {type(record['signals']).__name__}."
            raise RunLogError(msg)
        record["label"] = _check_label(record.get("label"), where)
        runs.append(record)
    return runs


def read_labels(path: str | os.PathLike[str]) -> dict[str, int | None]:
    """Read a labels file: JSONL (``{"run_id": ..., "label": 0|1}``) or CSV (``run_id,label``).

    Args:
        path: ``.jsonl``/``.json`` for JSON lines, anything else is read as CSV with a header.

    Returns:
        ``run_id -> label``; a later line for the same run id wins (a corrected verdict).

    Raises:
        RunLogError: On a missing file, a missing column or a label that is not 0/1.
    """
    file = Path(path)
    if not file.is_file():
        msg = f"No labels file at {str(path)!r}."
        raise RunLogError(msg)
    labels: dict[str, int | None] = {}
    if file.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for where, item in _json_lines(file, str(path)):
            if not isinstance(item, dict) or "run_id" not in item or "label" not in item:
                msg = f'{where} needs "run_id" and "label", e.g. {{"run_id": "...", "label": 1}}.'
                raise RunLogError(msg)
            labels[str(item["run_id"])] = _check_label(item["label"], where)
        return labels
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"run_id", "label"} <= set(reader.fieldnames):
            msg = f"{path} must be a CSV with a header containing run_id and label columns."
            raise RunLogError(msg)
        for number, row in enumerate(reader, 2):
            labels[row["run_id"]] = _check_label(row["label"], f"{path}:{number}")
    return labels


@dataclass(frozen=True)
class JoinReport:
    """What ``join_labels`` did: how many runs got a label, and which label ids matched none."""

    labelled: int
    unlabelled: int
    unknown_run_ids: tuple[str, ...]


def join_labels(
    runs: Sequence[dict[str, Any]], labels: Mapping[str, int | None] | str | os.PathLike[str]
) -> tuple[list[dict[str, Any]], JoinReport]:
    """Attach labels to runs by ``run_id`` (a label given here overrides one in the log).

    Args:
        runs: Records from ``read_runs``.
        labels: ``run_id -> label`` or a labels file for ``read_labels``.

    Returns:
        New records (the input is not changed) and a ``JoinReport``.
    """
    mapping = read_labels(labels) if isinstance(labels, str | os.PathLike) else dict(labels)
    seen = set()
    joined = []
    for record in runs:
        run_id = str(record.get("run_id"))
        new = dict(record)
        if run_id in mapping:
            new["label"] = _check_label(mapping[run_id], f"label for run {run_id}")
            seen.add(run_id)
        joined.append(new)
    unknown = tuple(sorted(set(mapping) - seen))
    n_labelled = sum(1 for r in joined if r.get("label") is not None)
    return joined, JoinReport(n_labelled, len(joined) - n_labelled, unknown)


def labelled_runs(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs that carry a 0/1 label."""
    return [r for r in runs if r.get("label") is not None]
