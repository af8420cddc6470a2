"""Human review of low-confidence answers: a persistent queue, a routing action, a CLI.

``ReviewQueue`` stores answers for review (SQLite by default, any SQLAlchemy URL), records
verdicts and exports them as labels for ``langchain-calibrate fit``; ``review_writer(queue)`` is
the routing action that fills it. Needs the ``review`` extra (SQLAlchemy; psycopg for
PostgreSQL): ``pip install 'langchain-calibrate[review]'``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_calibrate.review.items import (
        PENDING,
        REVIEWED,
        ReviewItem,
        ReviewQueueError,
        UnknownRunError,
    )
    from langchain_calibrate.review.queue import ReviewQueue
    from langchain_calibrate.review.writer import ReviewWriter, review_writer

__all__ = (
    "PENDING",
    "REVIEWED",
    "ReviewItem",
    "ReviewQueue",
    "ReviewQueueError",
    "ReviewWriter",
    "UnknownRunError",
    "review_writer",
)

# Imported on first use: the CLI builds its parser without needing SQLAlchemy installed.
_dynamic_imports = {
    "PENDING": "items",
    "REVIEWED": "items",
    "ReviewItem": "items",
    "ReviewQueue": "queue",
    "ReviewQueueError": "items",
    "UnknownRunError": "items",
    "ReviewWriter": "writer",
    "review_writer": "writer",
}


def __getattr__(name: str) -> Any:
    module_name = _dynamic_imports.get(name)
    if module_name is None:
        msg = f"module 'langchain_calibrate.review' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(f"langchain_calibrate.review.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
