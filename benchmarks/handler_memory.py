"""Memory a ``CalibrationHandler`` retains after many runs, and how many runs it takes per second.

Run: ``python benchmarks/handler_memory.py`` (about four minutes: tracemalloc slows the
callbacks about sevenfold; ``--runs 20000`` for a quick look).

One handler is sent the callbacks of N chain runs exactly as LangChain's callback managers send
them (``tests/unit/fakes.py: drive_runs``: uuid run ids with parent ids; a RAG sequence with a
retriever, a prompt, a chat or completions model and a parser; some streamed; some under a
claimed wrapper run like ``with_calibration``'s; errors in the retriever, the model and the
parser; runs whose children never end; runs that never end at all; a payload the handler cannot
read). No model, no thread pool, no LangChain runnable: only the handler's own cost.

It prints, after 1,000, 10,000 and 100,000 runs, the bytes still allocated (tracemalloc, after
``gc.collect()``) and the handler's structure sizes, for:

* ``bounded``: ``max_finished=256, max_open_scopes=64``, both reached within 1,000 runs, so
  any growth after that is a leak;
* ``defaults``: ``max_finished=1024, max_open_scopes=4096``; memory grows until both bounds
  are reached (about 1,300 and 57,000 runs with this mix) and stays flat after;
* ``well-behaved``: defaults, without the never-ending runs (what a normal app sends).

Then the runs per second, untraced.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_calibrate.handler import CalibrationHandler
from tests.unit.fakes import RUN_KINDS, deep_sizeof, drive_runs

CHECKPOINTS = (1_000, 10_000, 100_000)


def measure(
    name: str, make: Any, kinds: Sequence[str], checkpoints: Sequence[int]
) -> list[tuple[int, int]]:
    """Drive one handler through the checkpoints, printing retained bytes at each."""
    tracemalloc.start()
    try:
        handler = make()
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        done, figures = 0, []
        start = time.perf_counter()
        for target in checkpoints:
            drive_runs(handler, target - done, start=done, kinds=kinds)
            done = target
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - base
            figures.append((target, retained))
            sizes = handler.state_sizes()
            print(
                f"  {name:<12} {target:>7,} runs: {retained:>10,} B retained "
                f"(object graph {deep_sizeof(handler):>10,} B)  {sizes}  "
                f"[{time.perf_counter() - start:.0f} s]",
                flush=True,
            )
    finally:
        tracemalloc.stop()
    return figures


def throughput(n: int) -> float:
    """Runs per second through one default handler, untraced."""
    handler = CalibrationHandler()
    drive_runs(handler, 1000)  # warm up
    start = time.perf_counter()
    drive_runs(handler, n, start=1000)
    return n / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=CHECKPOINTS[-1], help="last checkpoint")
    args = parser.parse_args(argv)
    checkpoints = [c for c in CHECKPOINTS if c < args.runs] + [args.runs]
    # Recorded handler errors are logged as warnings: one per "handler_failure" run.
    logging.getLogger("langchain_calibrate.handler").disabled = True

    print(f"Python {sys.version.split()[0]}; run kinds in turn: {', '.join(RUN_KINDS)}")
    print("Retained memory (tracemalloc, bytes still allocated since the handler was made):")
    configs = [
        ("bounded", lambda: CalibrationHandler(max_finished=256, max_open_scopes=64), RUN_KINDS),
        ("defaults", CalibrationHandler, RUN_KINDS),
        ("well-behaved", CalibrationHandler, [k for k in RUN_KINDS if k != "never_ends"]),
    ]
    summary = []
    for name, make, kinds in configs:
        figures = measure(name, make, kinds, checkpoints)
        deltas = ", ".join(
            f"- after {n:,}: {figures[-1][1] - retained:+,} B" for n, retained in figures[:-1]
        )
        summary.append(f"  {name:<12} after {checkpoints[-1]:,} {deltas}")
    print("\n".join(summary))
    rate = throughput(min(args.runs, 50_000))
    print(f"Throughput (untraced, defaults, full mix): {rate:,.0f} runs/s, {1e6 / rate:.0f} us/run")


if __name__ == "__main__":
    main()
