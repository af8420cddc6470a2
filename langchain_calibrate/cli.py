"""The ``langchain-calibrate`` command."""

from __future__ import annotations

import argparse
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
    demo.add_argument("--questions", type=_positive, default=300, help="questions to answer")
    demo.add_argument("--json", action="store_true", help="print a JSON summary on the last line")
    demo.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: local server)")
    demo.add_argument("--model", help="model name at --base-url (default: gpt-4o-mini)")
    demo.add_argument("--api-key", help="API key for --base-url (default: $OPENAI_API_KEY)")
    demo.add_argument("--k", type=_positive, default=1, help="passages retrieved per question")
    demo.add_argument("--folds", type=_positive, default=5, help="cross-fitting folds (>= 2)")
    demo.add_argument("--seed", type=int, default=0, help="seed for choosing questions")
    demo.add_argument("--concurrency", type=_positive, default=4, help="requests in flight")
    demo.add_argument("--quiet", action="store_true", help="do not list every answer")
    demo.add_argument("--save-runs", metavar="PATH", help="write one JSON line per answer")

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
                seed=args.seed,
                concurrency=args.concurrency,
                show_answers=not args.quiet,
                runs_path=args.save_runs,
            )
            return main_demo(config, as_json=args.json)
        if args.command == "server":
            from langchain_calibrate.local.server import main as server_main

            return server_main(args.args)
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
