"""A persistent queue of answers a person must check, and the verdicts that become labels.

``ReviewQueue("review.db")`` keeps the queue in one SQLite file (no server); any SQLAlchemy URL
works too, e.g. ``ReviewQueue("postgresql://app@db/app")`` for an app with several replicas.

- ``enqueue`` stores the run's redacted run-log record (``runlog.run_record``: inputs, answer,
  signals, flags, confidence, documents; API keys never stored). It is idempotent per ``run_id``
  (``INSERT ... ON CONFLICT DO NOTHING``), safe from many processes at once, and one transaction
  per call, so a process killed mid-write leaves no partial row.
- ``pending``, ``get`` and ``record_verdict`` are what a reviewer (or ``langchain-calibrate
  review``) uses; ``export_labels`` and ``export_runs`` write the files ``langchain-calibrate fit``
  reads, so the calibrator improves from review.

SQLite runs in WAL mode with a busy timeout, and takes its write lock at the start of each write
transaction (``BEGIN IMMEDIATE``), so concurrent writers wait for each other instead of failing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Connection, Engine
    from sqlalchemy.exc import IntegrityError
except ImportError:  # pragma: no cover - exercised only without the extra installed
    msg = (
        "The review queue needs SQLAlchemy: pip install 'langchain-calibrate[review]' "
        "(or pip install sqlalchemy; add 'psycopg[binary]' for PostgreSQL)."
    )
    raise ImportError(msg) from None

from langchain_calibrate.result import Calibration
from langchain_calibrate.review._storage import (
    PG_CREATE_LOCK,
    as_utc,
    make_engine,
    make_table,
    resolve_url,
)
from langchain_calibrate.review.items import (
    PENDING,
    REVIEWED,
    ReviewItem,
    ReviewQueueError,
    UnknownRunError,
)
from langchain_calibrate.runlog import RUN_LOG_SCHEMA, redact, run_record

__all__ = [
    "PENDING",
    "REVIEWED",
    "ReviewItem",
    "ReviewQueue",
    "ReviewQueueError",
    "UnknownRunError",
]

_CHUNK = 200  # rows per INSERT statement
_REQUIRED_COLUMNS = frozenset(c.name for c in make_table(sa.MetaData(), "columns").columns)
_VERDICT_WORDS = {
    "1": 1, "0": 0, "true": 1, "false": 0, "correct": 1, "incorrect": 0, "yes": 1, "no": 0,
}  # fmt: skip
_ANSWER_KEYS = ("answer", "output", "text", "result", "content")


def _text_of(output: Any) -> str | None:
    if isinstance(output, str):
        return output
    text = getattr(output, "text", None)  # messages
    if isinstance(text, str):
        return text
    if isinstance(output, Mapping):
        for key in _ANSWER_KEYS:
            if (found := _text_of(output.get(key))) is not None:
                return found
    return None


def _routing_info(routing: Any) -> dict[str, Any] | None:
    """The routing decision as plain data, without the (possibly large) original output."""
    if routing is None:
        return None
    dump = getattr(routing, "model_dump", None)
    data = dump() if callable(dump) else dict(routing) if isinstance(routing, Mapping) else None
    if data is None:
        return None
    data.pop("original_output", None)
    return data


def _check_verdict(label: Any) -> int:
    if isinstance(label, bool):
        return int(label)
    if isinstance(label, int | float) and label in (0, 1):
        return int(label)
    if isinstance(label, str) and label.strip().lower() in _VERDICT_WORDS:
        return _VERDICT_WORDS[label.strip().lower()]
    msg = f"A verdict is 1/'correct' or 0/'incorrect', got {label!r}."
    raise ReviewQueueError(msg)


def _atomic_write_lines(path: str | os.PathLike[str], lines: Iterable[str]) -> int:
    """Write ``lines`` to ``path`` through a temporary file and a rename: all or nothing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class ReviewQueue:
    """A persistent queue of answers for people to check.

    Args:
        url_or_path: A file path (SQLite, created if missing), ``":memory:"``, or a SQLAlchemy
            URL: ``sqlite:///review.db``, ``postgresql://user:pw@host/dbname`` (uses psycopg 3,
            ``pip install 'psycopg[binary]'``), or any other URL whose driver is installed.
        table: The table name (one database can hold several queues).
        create: Create the database file and table when missing. With ``False``, a missing
            SQLite file or table is an error (what the CLI's read commands want).

    Raises:
        ReviewQueueError: A bad URL or path, a missing file or table with ``create=False``, or
            a table that was not created by this class.
        ImportError: The database driver is not installed (the message says what to install).

    Example:
        >>> from langchain_calibrate.result import Calibration
        >>> from langchain_calibrate.signals import Signals
        >>> queue = ReviewQueue(":memory:")
        >>> cal = Calibration(confidence=0.3, method="raw:sequence_prob",
        ...                   signals=Signals(sequence_prob=0.3), run_id="run-1")
        >>> queue.enqueue(cal, inputs="Who wrote Dune?", answer="Asimov")
        True
        >>> queue.enqueue(cal, inputs="Who wrote Dune?", answer="Asimov")  # same run: no-op
        False
        >>> [item.run_id for item in queue.pending()]
        ['run-1']
        >>> queue.record_verdict("run-1", "incorrect", reviewer="ana").verdict
        0
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | URL = "review.db",
        *,
        table: str = "review_items",
        create: bool = True,
    ) -> None:
        url, path = resolve_url(url_or_path)
        self._url = url
        self.path = path
        """The SQLite file, or ``None`` for a server database or memory."""
        shown = self.url
        if path is not None and not path.exists():
            if not create:
                msg = (
                    f"No review queue at {path}; it is created when the first answer is "
                    "enqueued (ReviewQueue(path).enqueue(...) or a review_writer tier)."
                )
                raise ReviewQueueError(msg)
            path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = make_engine(url, shown)
        self.table = make_table(sa.MetaData(), table)
        self._setup(create)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for monitoring or your own queries; writes go via methods)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"``, ``"postgresql"``, ..."""
        return self._engine.dialect.name

    def __repr__(self) -> str:
        return f"ReviewQueue({self.url!r}, table={self.table.name!r})"

    def __enter__(self) -> ReviewQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (the queue can be opened again with a new object)."""
        self._engine.dispose()

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._engine.connect() as conn:
            conn.execution_options(langchain_calibrate_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def _columns(self, conn: Connection) -> set[str] | None:
        """The table's column names, or ``None`` when it does not exist."""
        inspector = sa.inspect(conn)
        if not inspector.has_table(self.table.name):
            return None
        return {c["name"] for c in inspector.get_columns(self.table.name)}

    def _setup(self, create: bool) -> None:
        name = self.table.name
        with self._read() as conn:  # the common case: the table is there; no write lock taken
            columns = self._columns(conn)
        if columns is None and not create:
            msg = (
                f"{self.url} has no review table {name!r}; it is created when the first answer "
                "is enqueued."
            )
            raise ReviewQueueError(msg)
        if columns is None:
            try:
                with self._write() as conn:  # SQLite: BEGIN IMMEDIATE serialises creators
                    if self.dialect == "postgresql":
                        # Concurrent CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL.
                        conn.execute(
                            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_CREATE_LOCK}
                        )
                    self.table.metadata.create_all(conn)  # checks again, under the lock
            except IntegrityError:  # another process created it between our check and CREATE
                pass
            with self._read() as conn:
                columns = self._columns(conn) or set()
        missing = sorted(_REQUIRED_COLUMNS - columns)
        if missing:
            msg = (
                f"Table {name!r} in {self.url} was not created by langchain-calibrate (it lacks "
                f"{', '.join(missing)}); pass table='another_name' or use another database."
            )
            raise ReviewQueueError(msg)

    # -- enqueue --------------------------------------------------------------------------

    def _insert(self, rows: list[dict[str, Any]]) -> Any:
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return (
                sqlite_insert(self.table)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["run_id"])
            )
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return (
                pg_insert(self.table).values(rows).on_conflict_do_nothing(index_elements=["run_id"])
            )
        return None

    def _row(self, record: dict[str, Any]) -> dict[str, Any]:
        routing = (record.get("extra") or {}).get("routing") or {}
        tier = routing.get("tier") if isinstance(routing, Mapping) else None
        confidence = record.get("confidence")
        return {
            "run_id": str(record["run_id"]),
            "created_at": datetime.now(UTC),
            "status": PENDING,
            "confidence": float(confidence) if isinstance(confidence, int | float) else None,
            "tier": str(tier) if tier is not None else None,
            "record": _dumps(record),
        }

    def enqueue(
        self,
        item: Calibration | Mapping[str, Any],
        *,
        inputs: Any = None,
        answer: str | None = None,
        run_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Add one answer for review, unless its run is already queued.

        Args:
            item: A ``Calibration``; or a result dict with ``"calibration"`` (and ``"input"``,
                ``"output"``, optionally ``"routing"``), as a routing fallback receives; or a
                run-log record (a dict with ``"run_id"`` and ``"signals"``).
            inputs: The chain's input, when ``item`` does not carry it.
            answer: The answer text, when ``item`` does not carry it.
            run_id: Overrides the run id (needed for a ``Calibration`` without one).
            extra: More fields for the record's ``"extra"``.

        Returns:
            ``True`` if this call added the item, ``False`` if its run id was already queued
            (whether by this or another process; the stored item is left as it was).

        Raises:
            ReviewQueueError: The item is none of the above, or has no run id.
        """
        return (
            self.enqueue_many([item], inputs=inputs, answer=answer, run_id=run_id, extra=extra) == 1
        )

    def enqueue_many(
        self,
        items: Iterable[Calibration | Mapping[str, Any]],
        *,
        inputs: Any = None,
        answer: str | None = None,
        run_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Add several answers in one transaction (all or none); returns how many were new."""
        records = [
            self.to_record(i, inputs=inputs, answer=answer, run_id=run_id, extra=extra)
            for i in items
        ]
        if not records:
            return 0
        rows = list({row["run_id"]: row for row in map(self._row, records)}.values())
        if self._insert(rows[:1]) is not None:
            added = 0
            with self._write() as conn:  # one transaction, in chunks under SQLite's variable cap
                # INSERT rowcounts are dropped unless asked for (SQLAlchemy >= 2.0.28).
                conn.execution_options(preserve_rowcount=True)
                for start in range(0, len(rows), _CHUNK):
                    added += int(conn.execute(self._insert(rows[start : start + _CHUNK])).rowcount)
            return added
        added = 0  # other databases: one guarded insert per row, savepoints in one transaction
        with self._write() as conn:
            for row in rows:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(self.table).values(row))
                except IntegrityError:
                    continue
                added += 1
        return added

    @staticmethod
    def to_record(
        item: Calibration | Mapping[str, Any],
        *,
        inputs: Any = None,
        answer: str | None = None,
        run_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The redacted run-log record ``enqueue`` stores for ``item`` (see ``enqueue``)."""
        more = dict(extra or {})
        if isinstance(item, Mapping) and isinstance(item.get("calibration"), Calibration):
            calibration = item["calibration"]
            inputs = item.get("input", inputs)
            if answer is None:
                answer = _text_of(item.get("output"))
            if (routing := _routing_info(item.get("routing"))) is not None:
                more.setdefault("routing", routing)
        elif isinstance(item, Calibration):
            calibration = item
        elif isinstance(item, Mapping) and "signals" in item and "run_id" in item:
            if item.get("schema", RUN_LOG_SCHEMA) != RUN_LOG_SCHEMA:
                msg = f"Not a langchain-calibrate run record: schema {item.get('schema')!r}."
                raise ReviewQueueError(msg)
            record = dict(item)
            if run_id is not None:
                record["run_id"] = run_id
            if more:
                record["extra"] = {**(record.get("extra") or {}), **more}
            record = redact(record)
            try:
                _dumps(record)
            except (TypeError, ValueError) as exc:
                msg = f"Run record {record['run_id']!r} is not JSON data ({exc})."
                raise ReviewQueueError(msg) from None
            return record
        else:
            msg = (
                f"Cannot enqueue a {type(item).__name__}: pass a Calibration (with inputs= and "
                "answer=), a result dict {'input', 'output', 'calibration'} or a run-log record."
            )
            raise ReviewQueueError(msg)
        if run_id is not None:
            calibration = calibration.model_copy(update={"run_id": run_id})
        if not calibration.run_id:
            msg = (
                "This Calibration has no run_id (with_calibration sets one on every run); pass "
                "run_id=... to enqueue it."
            )
            raise ReviewQueueError(msg)
        return run_record(calibration, inputs=inputs, answer=answer, extra=more or None)

    # -- reading --------------------------------------------------------------------------

    def _item(self, row: Any) -> ReviewItem:
        return ReviewItem(
            run_id=row.run_id,
            status=row.status,
            created_at=as_utc(row.created_at),  # type: ignore[arg-type]
            record=json.loads(row.record),
            confidence=row.confidence,
            tier=row.tier,
            verdict=row.verdict,
            reviewer=row.reviewer,
            note=row.note,
            decided_at=as_utc(row.decided_at),
        )

    def items(self, status: str | None = None, *, limit: int | None = None) -> list[ReviewItem]:
        """Items oldest first, all or those with ``status`` (``"pending"``/``"reviewed"``)."""
        if status not in (None, PENDING, REVIEWED):
            msg = f"status must be {PENDING!r}, {REVIEWED!r} or None, got {status!r}."
            raise ReviewQueueError(msg)
        query = sa.select(self.table).order_by(self.table.c.created_at, self.table.c.run_id)
        if status is not None:
            query = query.where(self.table.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [self._item(row) for row in conn.execute(query)]

    def pending(self, *, limit: int | None = None) -> list[ReviewItem]:
        """The items waiting for a verdict, oldest first."""
        return self.items(PENDING, limit=limit)

    def count(self, status: str | None = None) -> int:
        """How many items there are (with ``status``, if given)."""
        query = sa.select(sa.func.count()).select_from(self.table)
        if status is not None:
            query = query.where(self.table.c.status == status)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def get(self, run_id: str) -> ReviewItem:
        """The item for ``run_id``.

        Raises:
            UnknownRunError: No item has that run id.
        """
        query = sa.select(self.table).where(self.table.c.run_id == str(run_id))
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownRunError(str(run_id), self.url)
        return self._item(row)

    def resolve(self, prefix: str) -> str:
        """The one run id that is ``prefix`` or starts with it (run ids are long UUIDs).

        Raises:
            UnknownRunError: Nothing matches.
            ReviewQueueError: Several run ids start with ``prefix``.
        """
        column = self.table.c.run_id
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (
            sa.select(column)
            .where(sa.or_(column == prefix, column.like(f"{escaped}%", escape="\\")))
            .order_by(column)
            .limit(6)
        )
        with self._read() as conn:
            found = [row[0] for row in conn.execute(query)]
        if prefix in found:
            return prefix
        if not found:
            raise UnknownRunError(prefix, self.url)
        if len(found) > 1:
            shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
            msg = f"Run id prefix {prefix!r} matches several items ({shown}); type more of it."
            raise ReviewQueueError(msg)
        return found[0]

    # -- verdicts -------------------------------------------------------------------------

    def record_verdict(
        self,
        run_id: str,
        label: int | bool | str,
        *,
        reviewer: str | None = None,
        note: str | None = None,
    ) -> ReviewItem:
        """Record a reviewer's verdict (a later verdict replaces an earlier one).

        Args:
            run_id: The item's run id.
            label: 1, ``True`` or ``"correct"``; 0, ``False`` or ``"incorrect"``.
            reviewer: Who decided.
            note: Why, or the right answer.

        Returns:
            The updated item.

        Raises:
            UnknownRunError: No item has that run id.
            ReviewQueueError: The label is not a verdict.
        """
        verdict = _check_verdict(label)
        values = {
            "status": REVIEWED,
            "verdict": verdict,
            "reviewer": redact(reviewer) if reviewer is not None else None,
            "note": redact(note) if note is not None else None,
            "decided_at": datetime.now(UTC),
        }
        statement = sa.update(self.table).where(self.table.c.run_id == str(run_id)).values(values)
        with self._write() as conn:
            if conn.execute(statement).rowcount != 1:
                raise UnknownRunError(str(run_id), self.url)
        return self.get(run_id)

    # -- export ---------------------------------------------------------------------------

    def export_labels(self, path: str | os.PathLike[str]) -> int:
        """Write the verdicts as a labels file for ``langchain-calibrate fit --labels``.

        One JSON line per reviewed item: ``{"run_id", "label", "reviewer", "decided_at"}``.
        The file is replaced atomically. Returns the number of labels written.
        """
        reviewed = sorted(self.items(REVIEWED), key=lambda i: i.decided_at or i.created_at)
        return _atomic_write_lines(
            path,
            (
                _dumps({
                    "run_id": item.run_id,
                    "label": item.verdict,
                    "reviewer": item.reviewer,
                    "decided_at": item.decided_at.isoformat() if item.decided_at else None,
                })
                for item in reviewed
            ),
        )  # fmt: skip

    def export_runs(self, path: str | os.PathLike[str], *, status: str | None = None) -> int:
        """Write the items' run records as a run log (``read_runs`` / ``fit`` read it).

        Each record's ``label`` is the verdict (``None`` while pending), so ``langchain-calibrate
        fit RUNS`` works on the file alone. The file is replaced atomically.

        Args:
            path: The JSONL file to write.
            status: Only ``"pending"`` or ``"reviewed"`` items (default: all).

        Returns:
            The number of records written.
        """
        items = self.items(status)
        return _atomic_write_lines(
            path, (_dumps({**item.record, "label": item.verdict}) for item in items)
        )
