"""``langchain-calibrate review``: list, show and judge queued answers; export them as labels.

The main CLI wires this in with ``add_review_parser(subcommands)`` and dispatches
``args.command == "review"`` to ``run_review(args)``. It also runs on its own as
``python -m langchain_calibrate.review ...``.

    langchain-calibrate review list [--db URL] [--all] [--json]
    langchain-calibrate review show RUN_ID [--db URL] [--json]
    langchain-calibrate review verdict RUN_ID correct|incorrect [--reviewer NAME] [--note TEXT]
    langchain-calibrate review export --labels labels.jsonl --runs runs.jsonl

``--db`` takes a SQLite file or a database URL; the default is ``$LANGCHAIN_CALIBRATE_REVIEW_DB``
or ``review.db``. A run id may be shortened to any prefix that names one item.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_calibrate.review.queue import ReviewItem, ReviewQueue

__all__ = ["DB_ENV", "DEFAULT_DB", "add_review_parser", "main", "run_review"]

DB_ENV = "LANGCHAIN_CALIBRATE_REVIEW_DB"
"""Environment variable naming the review database when ``--db`` is not given."""
DEFAULT_DB = "review.db"
_PROG_ERROR = "langchain-calibrate: error:"


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        msg = f"must be a positive integer, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help=(
            f"SQLite file or database URL, e.g. postgresql://user@host/db "
            f"(default: ${DB_ENV} or {DEFAULT_DB})"
        ),
    )
    parser.add_argument("--table", default="review_items", help=argparse.SUPPRESS)


def add_review_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``review`` command (with list/show/verdict/export) to a CLI's subcommands.

    Args:
        subparsers: What ``parser.add_subparsers(dest="command")`` returned.

    Returns:
        The ``review`` parser; parsed arguments carry ``review_command``.

    Example:
        >>> parser = argparse.ArgumentParser(prog="langchain-calibrate")
        >>> _ = add_review_parser(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["review", "verdict", "abc", "correct"]).verdict
        'correct'
    """
    review = subparsers.add_parser(
        "review",
        help="list, show and judge answers in the review queue; export verdicts as labels",
        description=(
            "Work through the answers routed to review (by review_writer), record verdicts, "
            "and export them as labels and runs for `langchain-calibrate fit`."
        ),
    )
    commands = review.add_subparsers(dest="review_command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="list the pending answers (oldest first)")
    _add_db(listing)
    listing.add_argument("--all", action="store_true", help="include reviewed answers")
    listing.add_argument("--limit", type=_positive, help="show at most this many")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    show = commands.add_parser("show", help="show one answer with its context and signals")
    show.add_argument("run_id", metavar="RUN_ID", help="the run id (or a unique prefix)")
    _add_db(show)
    show.add_argument("--json", action="store_true", help="print the whole item as JSON")

    verdict = commands.add_parser("verdict", help="record whether an answer was correct")
    verdict.add_argument("run_id", metavar="RUN_ID", help="the run id (or a unique prefix)")
    verdict.add_argument("verdict", choices=["correct", "incorrect"])
    verdict.add_argument("--reviewer", help="who decided (default: $USER)")
    verdict.add_argument("--note", help="why, or the right answer")
    _add_db(verdict)

    export = commands.add_parser(
        "export",
        help="write the verdicts as labels (and the runs) for `langchain-calibrate fit`",
        description=(
            "Write labels.jsonl ({run_id, label} per verdict) and/or runs.jsonl (every item's "
            "run record, label = verdict), then: langchain-calibrate fit runs.jsonl --labels "
            "labels.jsonl -o calibrator.json"
        ),
    )
    export.add_argument("--labels", metavar="PATH", help="labels JSONL to write")
    export.add_argument("--runs", metavar="PATH", help="run-log JSONL to write")
    _add_db(export)
    return review


def _open(args: argparse.Namespace) -> ReviewQueue:
    from langchain_calibrate.review.queue import ReviewQueue

    db = args.db or os.environ.get(DB_ENV) or DEFAULT_DB
    return ReviewQueue(db, table=args.table, create=False)


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _conf(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _list(queue: ReviewQueue, args: argparse.Namespace) -> int:
    items = queue.items(None if args.all else "pending", limit=args.limit)
    if args.json:
        for item in items:
            data = item.to_dict()
            data["question"], data["answer"] = item.question, item.answer
            del data["record"]
            _out(json.dumps(data, ensure_ascii=False))
        return 0
    pending = queue.count("pending")
    total = queue.count()
    if not items:
        _out(f"No {'' if args.all else 'pending '}answers in {queue.url} ({total} in all).")
        return 0
    width = max(len(i.run_id) for i in items)
    _out(f"{'RUN ID':<{width}}  {'CREATED (UTC)':<19}  {'CONF':>5}  {'STATUS':<10}  QUESTION")
    for item in items:
        status = item.status if item.verdict is None else ("correct", "incorrect")[1 - item.verdict]
        _out(
            f"{item.run_id:<{width}}  {item.created_at:%Y-%m-%d %H:%M:%S}  "
            f"{_conf(item.confidence):>5}  {status:<10}  {_one_line(item.question, 60)}"
        )
    _out(f"{pending} pending, {total - pending} reviewed ({queue.url})")
    return 0


def _show_lines(item: ReviewItem) -> list[str]:
    record = item.record
    if item.verdict is None:
        status = "pending"
    else:
        status = f"reviewed: {('incorrect', 'correct')[item.verdict]}"
        if item.reviewer:
            status += f" by {item.reviewer}"
        if item.decided_at:
            status += f" at {item.decided_at:%Y-%m-%d %H:%M:%S} UTC"
    kind = record.get("kind") or ("probability" if record.get("is_calibrated") else "score")
    lines = [
        f"run id:      {item.run_id}",
        f"status:      {status}",
    ]
    if item.note:
        lines.append(f"note:        {item.note}")
    lines += [
        f"created:     {item.created_at:%Y-%m-%d %H:%M:%S} UTC",
        f"confidence:  {_conf(item.confidence)} ({kind}, {record.get('method')})",
    ]
    if item.tier or item.reason:
        lines.append(f"routed to:   {item.tier or '?'}: {item.reason or ''}".rstrip(": "))
    lines += [
        f"flags:       {', '.join(item.flags) or 'none'}",
        f"model:       {record.get('model_name') or '-'}",
        f"question:    {item.question}",
        f"answer:      {item.answer}",
    ]
    signals = record.get("signals") or {}
    shown = [
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in signals.items()
        if v is not None
    ]
    lines.append(f"signals:     {' '.join(shown) or 'none'}")
    documents = record.get("documents") or []
    lines.append(f"documents:   {len(documents)}")
    for number, doc in enumerate(documents, 1):
        meta = doc.get("metadata") or {}
        score = next(
            (meta[k] for k in ("relevance", "relevance_score", "score") if k in meta), None
        )
        tag = f" (relevance {score:.3f})" if isinstance(score, int | float) else ""
        lines.append(f"  [{number}]{tag} {_one_line(str(doc.get('page_content', '')), 300)}")
    for error in record.get("errors") or []:
        lines.append(f"error:       {error}")
    return lines


def _show(queue: ReviewQueue, args: argparse.Namespace) -> int:
    item = queue.get(queue.resolve(args.run_id))
    if args.json:
        _out(json.dumps(item.to_dict(), ensure_ascii=False, indent=2))
        return 0
    for line in _show_lines(item):
        _out(line)
    return 0


def _verdict(queue: ReviewQueue, args: argparse.Namespace) -> int:
    run_id = queue.resolve(args.run_id)
    reviewer = args.reviewer or os.environ.get("USER") or None
    item = queue.record_verdict(run_id, args.verdict, reviewer=reviewer, note=args.note)
    by = f" by {item.reviewer}" if item.reviewer else ""
    _out(f"{item.run_id}: {args.verdict}{by}; {queue.count('pending')} pending")
    return 0


def _export(queue: ReviewQueue, args: argparse.Namespace) -> int:
    if not args.labels and not args.runs:
        msg = "review export needs --labels PATH and/or --runs PATH (the files `fit` reads)."
        raise _UsageError(msg)
    if args.labels:
        n = queue.export_labels(args.labels)
        _out(f"wrote {args.labels} ({n} verdicts)")
        if n == 0:
            _err("note: no verdicts yet; record some with `langchain-calibrate review verdict`.")
    if args.runs:
        n = queue.export_runs(args.runs)
        labelled = queue.count("reviewed")
        _out(f"wrote {args.runs} ({n} runs, {labelled} with a verdict)")
    if args.labels and args.runs:
        _err(f"next: langchain-calibrate fit {args.runs} --labels {args.labels} -o calibrator.json")
    return 0


class _UsageError(ValueError):
    """A combination of arguments argparse cannot express."""


def run_review(args: argparse.Namespace) -> int:
    """Run a parsed ``review`` command; errors are one line on stderr and exit code 1.

    Args:
        args: From a parser built with ``add_review_parser``.

    Returns:
        The exit code: 0 on success, 1 on an error (unknown run id, bad URL, missing driver,
        unreachable database).
    """
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        _err(f"{_PROG_ERROR} review needs SQLAlchemy: pip install 'langchain-calibrate[review]'")
        return 1
    handlers = {"list": _list, "show": _show, "verdict": _verdict, "export": _export}
    try:
        queue = _open(args)
        try:
            return handlers[args.review_command](queue, args)
        finally:
            queue.close()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = detail[0] if detail else type(exc).__name__
        _err(f"{_PROG_ERROR} the review database failed: {type(exc).__name__}: {reason}")
        return 1
    except (ValueError, OSError, ImportError) as exc:
        _err(f"{_PROG_ERROR} {exc}")
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The stand-alone parser of ``python -m langchain_calibrate.review``."""
    parser = argparse.ArgumentParser(
        prog="python -m langchain_calibrate.review",
        description="The review queue of langchain-calibrate.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_review_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m langchain_calibrate.review review list ...`` (or without the ``review``).

    Example:
        .. code-block:: console

            $ python -m langchain_calibrate.review list --db review.db
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] != "review":
        args_list = ["review", *args_list]
    args: Any = build_parser().parse_args(args_list)
    return run_review(args)


if __name__ == "__main__":
    sys.exit(main())
