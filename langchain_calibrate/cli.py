"""The ``langchain-calibrate`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from langchain_calibrate._version import __version__

__all__ = ["main"]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        msg = f"must be a positive integer, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        msg = f"must be 0 or a positive integer, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _positive_seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        msg = f"must be a positive number of seconds, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _add_label_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--labels", help="labels file keyed by run_id (JSONL or CSV); overrides labels in the log"
    )
    parser.add_argument("--cv", type=_positive, default=5, help="folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="fold and bootstrap seed")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="langchain-calibrate",
        description="Calibrated confidence for LangChain RAG apps.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="answer HaluEval questions with a real RAG chain and report calibration",
        description=(
            "Answer HaluEval QA questions (rows 0-4999) through a real LCEL RAG chain, fit a "
            "calibrator by cross-fitting and report accuracy, ECE (15 bins) and AUROC. Without "
            "--base-url it starts the embedded local default: llama-server with Gemma 3 270M "
            "(built from source on first use)."
        ),
    )
    demo.add_argument(
        "--questions", type=_positive, default=300, help="questions to report on (default 300)"
    )
    demo.add_argument("--json", action="store_true", help="print a JSON summary on the last line")
    demo.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: local server)")
    demo.add_argument("--model", help="model name at --base-url (default: gpt-4o-mini)")
    demo.add_argument("--api-key", help="API key for --base-url (default: $OPENAI_API_KEY)")
    demo.add_argument(
        "--k", type=_positive, default=1, help="passages retrieved per question (default 1)"
    )
    demo.add_argument(
        "--folds", type=_positive, default=5, help="cross-fitting folds, >= 2 (default 5)"
    )
    demo.add_argument(
        "--repeats",
        type=_positive,
        default=10,
        help="fold assignments the out-of-fold confidences are averaged over (default 10)",
    )
    demo.add_argument(
        "--fit-questions",
        type=_non_negative,
        default=None,
        metavar="N",
        help="further questions answered only to fit the calibrator, never reported on "
        "(default: as many as --questions; 0 for none)",
    )
    demo.add_argument(
        "--seed", type=int, default=0, help="seed for choosing questions and folds (default 0)"
    )
    demo.add_argument(
        "--concurrency", type=_positive, default=4, help="requests in flight (default 4)"
    )
    demo.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=120.0,
        metavar="SECONDS",
        help="give up on a model request after this long (default 120; retried once)",
    )
    demo.add_argument("--quiet", action="store_true", help="do not list every answer")
    demo.add_argument(
        "--second-opinions",
        action="store_true",
        help="also ask P(True) and the stated confidence (2 extra calls an answer) and report "
        "how much each adds",
    )

    demo.add_argument(
        "--out-dir",
        metavar="DIR",
        default="langchain-calibrate-demo",
        help=(
            "write the run log (runs.jsonl), labels.jsonl, calibrator.json and report.html here "
            "(default: ./langchain-calibrate-demo; earlier demo files there are replaced)"
        ),
    )

    methods = ["auto", "temperature", "platt", "logistic", "isotonic", "histogram", "beta"]
    fit = commands.add_parser(
        "fit",
        help="fit a calibrator on a labelled run log",
        description="Fit a calibrator on the labelled runs of a run log (from log_to=...).",
    )
    fit.add_argument("runs", help="run log (JSONL written by with_calibration(log_to=...))")
    fit.add_argument("-o", "--output", required=True, help="calibrator JSON to write")
    fit.add_argument("--method", choices=methods, default="auto", help="default: auto (CV NLL)")
    _add_label_args(fit)

    for name, what in (
        ("evaluate", "print every metric with a bootstrap interval"),
        ("report", "write an HTML report with a reliability diagram and risk-coverage plot"),
        ("threshold", "choose the confidence threshold for a target error rate or coverage"),
    ):
        sub = commands.add_parser(
            name,
            help=what,
            description=(
                f"{what[0].upper()}{what[1:]}. Confidences come from --calibrator (fitted on other "
                "runs), or else from cross-fitting --method over --cv folds of these runs."
            ),
        )
        sub.add_argument("runs", help="run log (JSONL written by with_calibration(log_to=...))")
        sub.add_argument("--calibrator", help="a calibrator JSON (from `fit`) to evaluate")
        sub.add_argument(
            "--method",
            choices=methods[1:],
            default="logistic",
            help="without --calibrator: the calibrator to cross-fit (default logistic)",
        )
        sub.add_argument("--bins", type=_positive, default=15, help="ECE bins (default 15)")
        sub.add_argument(
            "--bootstrap",
            type=int,
            default=1000,
            help="bootstrap resamples for the intervals (default 1000, 0 for none)",
        )
        _add_label_args(sub)
        if name == "evaluate":
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        elif name == "report":
            sub.add_argument("-o", "--output", required=True, help="HTML file to write")
            sub.add_argument("--threshold", help="a threshold JSON (from `threshold`) to mark")
        else:
            sub.add_argument("-o", "--output", required=True, help="threshold JSON to write")
            goal = sub.add_mutually_exclusive_group(required=True)
            goal.add_argument(
                "--target-risk",
                type=float,
                help="highest error rate among answered questions, e.g. 0.05 (with --delta)",
            )
            goal.add_argument(
                "--target-coverage", type=float, help="share of questions to answer, e.g. 0.8"
            )
            sub.add_argument(
                "--min-answered",
                type=_positive,
                help="with --target-risk: start testing at thresholds keeping this many answers",
            )
            sub.add_argument(
                "--delta",
                type=float,
                default=0.1,
                help="allowed chance that the risk guarantee fails (default 0.1)",
            )

    from langchain_calibrate.review.cli import add_review_parser

    add_review_parser(commands)

    server = commands.add_parser(
        "server",
        help="the embedded llama-server: build | model | serve [--port N]",
        add_help=False,
    )
    server.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``langchain-calibrate`` console script."""
    args = build_parser().parse_args(argv)
    if args.command not in ("demo", "server"):
        return _run(args)
    from langchain_calibrate.local.server import Terminated, raise_on_termination_signals

    # SIGTERM/SIGHUP unwind the stack like Ctrl-C, so a local llama-server is stopped.
    try:
        with raise_on_termination_signals():
            return _run(args)
    except Terminated as exc:
        print(f"langchain-calibrate: {exc}", file=sys.stderr)
        return 128 + exc.signum


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; errors become one line on stderr and exit code 1."""
    try:
        if args.command == "demo":
            from langchain_calibrate.demo import DemoConfig, main_demo

            config = DemoConfig(
                questions=args.questions,
                base_url=args.base_url,
                model=args.model,
                api_key=args.api_key,
                k=args.k,
                folds=args.folds,
                repeats=args.repeats,
                fit_questions=args.fit_questions,
                seed=args.seed,
                concurrency=args.concurrency,
                timeout=args.timeout,
                show_answers=not args.quiet,
                second_opinions=args.second_opinions,
                out_dir=args.out_dir,
            )
            return main_demo(config, as_json=args.json)
        if args.command in ("fit", "evaluate", "report", "threshold"):
            from langchain_calibrate import commands

            return int(getattr(commands, f"run_{args.command}")(args))
        if args.command == "review":
            from langchain_calibrate.review.cli import run_review

            return run_review(args)
        if args.command == "server":
            from langchain_calibrate.local.server import main as server_main

            return server_main(args.args)
    except BrokenPipeError:
        # `langchain-calibrate review list | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, OSError, ImportError) as exc:
        print(f"langchain-calibrate: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # openai's connection, timeout and HTTP errors: one line, not a traceback.
        if type(exc).__module__.startswith(("openai", "httpx")):
            print(
                f"langchain-calibrate: error: the model endpoint failed: "
                f"{type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        raise
    return 2


if __name__ == "__main__":
    sys.exit(main())
