"""Storage for the review queue: the table, URLs and paths, engines (SQLite tuned for WAL)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from langchain_calibrate.review.items import PENDING, REVIEWED, ReviewQueueError

__all__ = [
    "PG_CREATE_LOCK",
    "SQLITE_BUSY_TIMEOUT_MS",
    "as_utc",
    "make_engine",
    "make_table",
    "resolve_url",
]

SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long a SQLite writer waits for another process's write lock before giving up."""
PG_CREATE_LOCK = 0x6C63_7276  # pg_advisory_xact_lock key serialising CREATE TABLE ("lcrv")


def make_table(metadata: sa.MetaData, name: str) -> sa.Table:
    """The queue's table: one row per run id, the run record as JSON text, the verdict."""
    return sa.Table(
        name,
        metadata,
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("tier", sa.String(255), nullable=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("verdict", sa.SmallInteger, nullable=True),
        sa.Column("reviewer", sa.String(255), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"status IN ('{PENDING}', '{REVIEWED}')", name=f"{name}_status"),
        sa.CheckConstraint("verdict IS NULL OR verdict IN (0, 1)", name=f"{name}_verdict"),
        sa.Index(f"{name}_status_created", "status", "created_at"),
    )


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_url(url_or_path: str | os.PathLike[str] | URL) -> tuple[URL, Path | None]:
    """The SQLAlchemy URL for a URL or a file path, and the SQLite file if there is one."""
    if isinstance(url_or_path, os.PathLike) or (
        isinstance(url_or_path, str) and "://" not in url_or_path and url_or_path != ":memory:"
    ):
        path = Path(url_or_path).expanduser().resolve()
        if path.is_dir():
            msg = f"{str(url_or_path)!r} is a directory; give a file such as review.db."
            raise ReviewQueueError(msg)
        return URL.create("sqlite", database=str(path)), path
    if url_or_path == ":memory:":
        return URL.create("sqlite"), None
    try:
        url = make_url(url_or_path)
    except ArgumentError:
        msg = (
            f"{url_or_path!r} is neither a file path nor a database URL; use e.g. review.db, "
            "sqlite:///review.db or postgresql://user@host/dbname."
        )
        raise ReviewQueueError(msg) from None
    if url.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg2; prefer psycopg 3
        try:
            import psycopg  # noqa: F401
        except ImportError:
            try:
                import psycopg2  # type: ignore[import-untyped]  # noqa: F401
            except ImportError:
                msg = (
                    "PostgreSQL needs a driver: pip install 'psycopg[binary]' (or "
                    "pip install 'langchain-calibrate[review]')."
                )
                raise ImportError(msg) from None
        else:
            url = url.set(drivername="postgresql+psycopg")
    path = None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database)).expanduser().resolve()
        url = url.set(database=str(path))
    return url, path


def make_engine(url: URL, shown: str) -> Engine:
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if url.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, **kwargs)
    except NoSuchModuleError:
        msg = (
            f"Unknown database kind in {shown}; use a path (SQLite), sqlite:///FILE or "
            "postgresql://user@host/dbname (or another SQLAlchemy URL with its driver installed)."
        )
        raise ReviewQueueError(msg) from None
    except ImportError as exc:
        hint = "pip install 'psycopg[binary]'" if backend == "postgresql" else "install it"
        msg = f"The database driver for {shown} is not installed ({exc}); {hint}."
        raise ImportError(msg) from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, rather than pysqlite's own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")  # before WAL
            cursor.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed item survives a power cut too, not only a killed process.
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("langchain_calibrate_write", False)
        # Taking the write lock up front lets busy_timeout wait for it; a deferred transaction
        # that upgrades to a writer later can fail at once with SQLITE_BUSY.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
