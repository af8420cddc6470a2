"""ReviewQueue on real SQLite files: idempotent enqueue from 8 processes, SIGKILL mid-write,
verdicts, exports that `fit` reads, review_writer in routers, and the reviewer CLI round trip.

The process-level helpers (``concurrent_enqueue``, ``kill_mid_enqueue``) are shared with
tests/integration/test_review_postgres.py, which runs them against a real PostgreSQL server.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from langchain_calibrate import cli as main_cli
from langchain_calibrate.calibrators import load_calibrator
from langchain_calibrate.result import Calibration
from langchain_calibrate.review import (
    REVIEWED,
    ReviewQueue,
    ReviewQueueError,
    UnknownRunError,
    review_writer,
)
from langchain_calibrate.review.cli import add_review_parser, run_review
from langchain_calibrate.review.cli import main as review_main
from langchain_calibrate.review.writer import DEFAULT_MESSAGE
from langchain_calibrate.routing import route_by_confidence
from langchain_calibrate.runlog import read_labels, read_runs
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import Signals
from langchain_calibrate.tiers import Tier, route_by_tiers
from tests.unit.test_handler import rag_chain

ROOT = Path(__file__).resolve().parents[2]


def cal(run_id: str, p: float | None = 0.4, **kwargs: Any) -> Calibration:
    signals = Signals(sequence_prob=p, mean_logprob=None if p is None else math.log(p))
    return Calibration(
        confidence=p, method="raw:sequence_prob", signals=signals, run_id=run_id, **kwargs
    )


class Fixed:
    method = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_one(self, signals: Signals) -> float:
        return self.value


# -- several processes ------------------------------------------------------------------------

ENQUEUE_WORKER = r"""
import json, sys, time
from pathlib import Path
from langchain_calibrate.result import Calibration
from langchain_calibrate.review.queue import ReviewQueue
from langchain_calibrate.signals import Signals

url, ids, go = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.002)
queue = ReviewQueue(url)  # opened after the barrier, so creating the table races too
added = []
for i in ids:
    p = ((i * 37) % 100 + 0.5) / 100
    c = Calibration(confidence=p, method="raw:sequence_prob",
                    signals=Signals(sequence_prob=p), run_id=f"run-{i:04d}")
    if queue.enqueue(c, inputs=f"question {i}", answer=f"answer {i}"):
        added.append(i)
print(json.dumps(added))
"""


def expected_p(i: int) -> float:
    return ((i * 37) % 100 + 0.5) / 100


def concurrent_enqueue(url: str, tmp_path: Path, n_procs: int = 8, n_items: int = 1000) -> None:
    """``n_procs`` processes enqueue ``n_items`` run ids, each id by two processes at once."""
    block = n_items // n_procs
    go = tmp_path / "go"
    procs = []
    for k in range(n_procs):
        ids = [(k * block + j) % n_items for j in range(2 * block)]  # overlaps the next process
        random.Random(k).shuffle(ids)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", ENQUEUE_WORKER, url, json.dumps(ids), str(go)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    time.sleep(0.5)
    go.touch()
    added: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        added += json.loads(out.strip().splitlines()[-1])
    # Each id was offered by two processes; exactly one of them was told it added it.
    assert sorted(added) == list(range(n_items))

    queue = ReviewQueue(url, create=False)
    items = queue.items()
    assert queue.count() == len(items) == n_items
    assert sorted(item.run_id for item in items) == [f"run-{i:04d}" for i in range(n_items)]
    for item in items:
        i = int(item.run_id.removeprefix("run-"))
        assert item.record["run_id"] == item.run_id
        assert item.record["inputs"] == f"question {i}" and item.answer == f"answer {i}"
        assert item.confidence == item.record["confidence"] == expected_p(i)
        assert item.status == "pending" and item.verdict is None
    queue.close()


KILL_WORKER = r"""
import sys
from langchain_core.documents import Document
from sqlalchemy import event
from langchain_calibrate.result import Calibration
from langchain_calibrate.review.queue import ReviewQueue
from langchain_calibrate.signals import Signals

url, prefix = sys.argv[1], sys.argv[2]
queue = ReviewQueue(url)


def announce(conn, cursor, statement, *args):
    if statement.lstrip().upper().startswith("INSERT"):
        print("insert", flush=True)  # the write transaction is open: the parent kills soon


event.listen(queue.engine, "before_cursor_execute", announce)
# Twenty 20,000-character passages make each record ~400 kB.
docs = [Document(page_content=(f"{prefix} passage {k} " * 1200)[:20000], metadata={"k": k})
        for k in range(20)]
print("ready", flush=True)
i = 0
while True:
    c = Calibration(confidence=0.5, method="raw:sequence_prob", signals=Signals(sequence_prob=0.5),
                    documents=docs, run_id=f"{prefix}-{i:05d}")
    queue.enqueue(c, inputs=f"question {i}", answer="an answer")
    print("done", i, flush=True)  # only after the commit
    i += 1
"""


def passage(prefix: str, k: int) -> str:
    return (f"{prefix} passage {k} " * 1200)[:20000]


def kill_mid_enqueue(
    url: str,
    rows_of: Callable[[str], list[tuple[str, str]]],
    *,
    min_rounds: int = 4,
    max_rounds: int = 16,
    seed: int = 0,
) -> list[tuple[int, int, bool]]:
    """SIGKILL a writer at random moments; check that the queue stays complete and consistent.

    The writer announces each INSERT; the kill comes 0-1 ms later, inside the write transaction
    or just after its commit. Rounds go on (up to ``max_rounds``) until at least one kill has
    landed inside a transaction: the item whose INSERT had begun is then absent.

    Args:
        url: The queue's database.
        rows_of: Reads ``(run_id, record JSON)`` for a run-id prefix straight from the database,
            without ReviewQueue.
        min_rounds: Kills at least.
        max_rounds: Kills at most.
        seed: For the random moments.

    Returns:
        ``(ids reported committed, rows found, killed inside the transaction)`` per round.
    """
    rng = random.Random(seed)
    seen = []
    for round_ in range(max_rounds):
        if round_ >= min_rounds and any(inside for _, _, inside in seen):
            break
        prefix = f"kill{round_}"
        proc = subprocess.Popen(
            [sys.executable, "-c", KILL_WORKER, url, prefix],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        reported: list[int] = []
        target, inserts = rng.randint(1, 12), 0
        while inserts <= target:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            if line.startswith("done"):
                reported.append(int(line.split()[1]))
            elif line.startswith("insert"):
                inserts += 1
        in_flight = inserts - 1  # the item whose INSERT began last
        # A random moment after the INSERT began: inside it, during the commit, or just after.
        time.sleep(rng.uniform(0.0, 0.001))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        reported += [int(x.split()[1]) for x in rest.splitlines() if x.startswith("done")]

        rows = rows_of(prefix)
        found = sorted(int(run_id.rsplit("-", 1)[1]) for run_id, _ in rows)
        # Everything reported committed is there, plus at most the one committed before its
        # id could be printed; nothing half-written.
        assert found == list(range(len(found)))
        assert len(found) in (len(reported), len(reported) + 1)
        assert set(reported) <= set(found)
        for run_id, text in rows:
            record = json.loads(text)
            assert record["run_id"] == run_id and len(record["documents"]) == 20
            assert all(
                d["page_content"] == passage(prefix, k) for k, d in enumerate(record["documents"])
            )
        seen.append((len(reported), len(found), in_flight not in found))
        # The queue is still usable after the kill: a new writer and a reader work.
        with ReviewQueue(url, create=False) as queue:
            assert queue.enqueue(cal(f"{prefix}-after"), inputs="q", answer="a")
            assert queue.get(f"{prefix}-after").record["inputs"] == "q"
    return seen


def sqlite_rows(path: Path) -> Callable[[str], list[tuple[str, str]]]:
    def rows_of(prefix: str) -> list[tuple[str, str]]:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            return conn.execute(
                "SELECT run_id, record FROM review_items WHERE run_id LIKE ? AND run_id NOT LIKE ?",
                (f"{prefix}-%", "%-after"),
            ).fetchall()

    return rows_of


def test_eight_processes_enqueue_each_item_exactly_once_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    concurrent_enqueue(str(db), tmp_path)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute(
            "SELECT count(DISTINCT run_id), count(*) FROM review_items"
        ).fetchone() == (1000, 1000)


def test_kill_mid_enqueue_leaves_sqlite_consistent(tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    ReviewQueue(db).close()
    seen = kill_mid_enqueue(str(db), sqlite_rows(db))
    # At least one kill landed inside a write transaction (its item is absent, nothing partial).
    assert len(seen) >= 4 and any(inside for _, _, inside in seen)


# -- the queue API ----------------------------------------------------------------------------


def test_enqueue_is_idempotent_per_run_id(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    assert queue.enqueue(cal("r1", 0.3), inputs="first", answer="a1") is True
    assert queue.enqueue(cal("r1", 0.9), inputs="second", answer="a2") is False
    item = queue.get("r1")
    assert item.record["inputs"] == "first" and item.confidence == 0.3  # the first one stays
    assert queue.enqueue_many([cal("r1"), cal("r2"), cal("r2"), cal("r3")]) == 2
    assert [i.run_id for i in queue.pending()] == ["r1", "r2", "r3"]
    assert queue.enqueue_many([]) == 0
    assert queue.enqueue_many([cal(f"m{i}") for i in range(450)]) == 450  # several statements
    assert queue.count() == 453


def test_generic_insert_path_is_idempotent_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Databases without an ON CONFLICT construct here get a guarded insert per row.
    queue = ReviewQueue(tmp_path / "q.db")
    monkeypatch.setattr(queue, "_insert", lambda rows: None)
    assert queue.enqueue_many([cal("r1"), cal("r2")]) == 2
    assert queue.enqueue_many([cal("r2"), cal("r3")]) == 1
    assert queue.enqueue(cal("r1")) is False
    assert [i.run_id for i in queue.items()] == ["r1", "r2", "r3"]


def test_records_are_redacted_run_records(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
    docs = [Document(f"context with {key}", metadata={"api_key": "hunter22222", "score": 0.7})]
    queue = ReviewQueue(db)
    queue.enqueue(cal("r1", documents=docs), inputs={"question": f"use {key}"}, answer=key)
    queue.record_verdict("r1", 1, reviewer="ana", note=f"the key was {key}")
    raw = db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("q.db-wal"))
    assert key.encode() not in raw and b"hunter22222" not in raw
    item = queue.get("r1")
    assert item.record["schema"] == "langchain-calibrate.run"
    assert item.question == "use [REDACTED]" and item.answer == "[REDACTED]"
    assert item.record["documents"][0]["metadata"] == {"api_key": "[REDACTED]", "score": 0.7}
    assert item.note == "the key was [REDACTED]"


def test_enqueue_accepts_a_result_dict_and_a_logged_run(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    log = tmp_path / "runs.jsonl"
    result = with_calibration(rag_chain(), Fixed(0.25), log_to=log).invoke("q1 x")
    # with_calibration's result has no input; the router's result for an action has one.
    assert queue.enqueue(result, inputs="q1 x") is True
    item = queue.get(result["calibration"].run_id)
    assert item.question == "q1 x" and item.answer == "q1 x" and item.confidence == 0.25
    assert [d["page_content"] for d in item.record["documents"]] == [
        "q1 x passage 0",
        "q1 x passage 1",
    ]
    # The same run from its run-log line is the same run id: not queued twice.
    (logged,) = read_runs(log)
    assert queue.enqueue(logged) is False
    logged["run_id"] = "from-log"
    assert (
        queue.enqueue(logged) is True
        and queue.get("from-log").record["signals"] == (logged["signals"])
    )


def test_enqueue_rejects_what_it_cannot_store(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    with pytest.raises(ReviewQueueError, match="has no run_id"):
        queue.enqueue(cal(None))  # type: ignore[arg-type]
    assert queue.enqueue(cal(None), run_id="given") is True  # type: ignore[arg-type]
    with pytest.raises(ReviewQueueError, match="Cannot enqueue a str"):
        queue.enqueue("an answer")  # type: ignore[arg-type]
    with pytest.raises(ReviewQueueError, match="schema 'other'"):
        queue.enqueue({"run_id": "x", "signals": {}, "schema": "other"})
    assert queue.count() == 1


def test_verdicts(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    queue.enqueue_many([cal("r1"), cal("r2"), cal("r3")])
    item = queue.record_verdict("r2", "incorrect", reviewer="ana", note="wrong year")
    assert (item.status, item.verdict, item.reviewer, item.note) == (
        REVIEWED,
        0,
        "ana",
        "wrong year",
    )
    assert item.decided_at is not None and item.decided_at >= item.created_at
    assert [i.run_id for i in queue.pending()] == ["r1", "r3"]
    assert queue.record_verdict("r2", True).verdict == 1  # a corrected verdict replaces it
    for word, value in [("correct", 1), ("0", 0), (0, 0), ("yes", 1)]:
        assert queue.record_verdict("r1", word).verdict == value
    with pytest.raises(ReviewQueueError, match="1/'correct' or 0/'incorrect', got 'maybe'"):
        queue.record_verdict("r3", "maybe")
    with pytest.raises(UnknownRunError, match="No review item with run id 'nope'"):
        queue.record_verdict("nope", 1)
    with pytest.raises(UnknownRunError):
        queue.get("nope")
    assert queue.count("pending") == 1 and queue.count(REVIEWED) == 2
    with pytest.raises(ReviewQueueError, match="status must be"):
        queue.items("done")


def test_resolve_prefixes(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    queue.enqueue_many([cal("abc-1"), cal("abd-2"), cal("a_%-3"), cal("ab")])
    assert queue.resolve("abc") == "abc-1"
    assert queue.resolve("ab") == "ab"  # an exact id wins over longer ones
    assert queue.resolve("a_%") == "a_%-3"  # LIKE wildcards are taken literally
    with pytest.raises(ReviewQueueError, match="matches several items"):
        queue.resolve("a")
    with pytest.raises(UnknownRunError):
        queue.resolve("zz")


def test_exports_are_what_fit_reads(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    queue.enqueue_many([cal("r1", 0.2), cal("r2", 0.7), cal("r3", 0.9)])
    queue.record_verdict("r3", "correct", reviewer="ana")
    queue.record_verdict("r1", "incorrect")
    labels, runs = tmp_path / "out" / "labels.jsonl", tmp_path / "out" / "runs.jsonl"
    assert queue.export_labels(labels) == 2
    assert read_labels(labels) == {"r3": 1, "r1": 0}
    assert [json.loads(x)["reviewer"] for x in labels.read_text().splitlines()] == ["ana", None]
    assert queue.export_runs(runs) == 3
    records = read_runs(runs)
    assert [(r["run_id"], r["label"]) for r in records] == [("r1", 0), ("r2", None), ("r3", 1)]
    assert [r["signals"]["sequence_prob"] for r in records] == [0.2, 0.7, 0.9]
    assert queue.export_runs(runs, status="pending") == 1
    assert [r["run_id"] for r in read_runs(runs)] == ["r2"]
    assert not list(labels.parent.glob(".*"))  # no temporary files left behind


def test_opening_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReviewQueueError, match="No review queue at"):
        ReviewQueue(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(ReviewQueueError, match="is a directory"):
        ReviewQueue(tmp_path)
    with pytest.raises(ReviewQueueError, match="Unknown database kind"):
        ReviewQueue("nosuchdb://host/x")
    with pytest.raises(ReviewQueueError, match="neither a file path nor a database URL"):
        ReviewQueue("://")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE review_items (run_id TEXT PRIMARY KEY, data TEXT)")
        conn.execute("CREATE TABLE unrelated (x INTEGER)")
    with pytest.raises(ReviewQueueError, match="was not created by langchain-calibrate"):
        ReviewQueue(other)
    with pytest.raises(ReviewQueueError, match="has no review table 'mine'"):
        ReviewQueue(other, table="mine", create=False)
    assert ReviewQueue(other, table="mine").count() == 0  # one database, several queues
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(ImportError, match=r"pip install 'psycopg\[binary\]'"):
        ReviewQueue("postgresql://user@localhost/db")


def test_sqlite_url_and_memory(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "q.db"
    queue = ReviewQueue(f"sqlite:///{db}")
    assert queue.path == db and queue.dialect == "sqlite" and db.exists()
    memory = ReviewQueue(":memory:")
    assert memory.path is None and memory.enqueue(cal("r")) and memory.count() == 1
    assert "sqlite" in repr(memory)


# -- review_writer in routers -----------------------------------------------------------------


def test_review_writer_as_the_last_tier(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    router = route_by_tiers(
        with_calibration(rag_chain(), Fixed(0.3)),
        [Tier("answer", 0.8), Tier("review", action=review_writer(queue))],
    )
    out = router.invoke("q1 x")
    assert out["output"] == DEFAULT_MESSAGE and out["routing"].tier == "review"
    item = queue.get(out["calibration"].run_id)
    assert (item.tier, item.confidence, item.question, item.answer) == (
        "review",
        0.3,
        "q1 x",
        "q1 x",
    )
    assert item.reason == "confidence 0.300 < 0.800 (the lowest threshold)"
    assert "original_output" not in item.record["extra"]["routing"]
    kept = route_by_tiers(
        with_calibration(rag_chain(), Fixed(0.9)),
        [Tier("answer", 0.8), Tier("review", action=review_writer(queue))],
    ).invoke("q2 y")
    assert kept["output"].text == "q2 y" and queue.count() == 1  # answered: nothing queued


async def test_review_writer_batch_async_and_retries(tmp_path: Path) -> None:
    queue = ReviewQueue(tmp_path / "q.db")
    writer = review_writer(queue, message="Queued as {run_id}.")
    router = route_by_tiers(
        with_calibration(rag_chain(), Fixed(0.1)),
        [Tier("answer", 0.5), Tier("review", action=writer)],
    )
    outs = router.batch([f"q{i} x" for i in range(6)], config={"max_concurrency": 4})
    assert queue.count() == 6
    assert outs[0]["output"] == f"Queued as {outs[0]['calibration'].run_id}."
    out = await router.ainvoke("async q")
    assert queue.get(out["calibration"].run_id).question == "async q"
    # A retried delivery of the same routed result is queued once.
    again = {"input": "q", "output": "a", "calibration": out["calibration"]}
    writer.invoke(again)
    await writer.ainvoke(again)
    assert queue.count() == 7
    with pytest.raises(TypeError, match="fallback_input='result'"):
        writer.invoke("just the question")


def test_review_writer_with_route_by_confidence(tmp_path: Path) -> None:
    writer = review_writer(tmp_path / "q.db")
    router = route_by_confidence(
        with_calibration(rag_chain(), Fixed(0.2)), 0.5, writer, fallback_input="result"
    )
    out = router.invoke("q1 x")
    assert out["output"] == DEFAULT_MESSAGE
    item = writer.queue.get(out["calibration"].run_id)
    assert item.tier is None and item.answer == "q1 x" and item.confidence == 0.2


# -- the reviewer CLI -------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = review_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_round_trip_refits_the_calibrator_from_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "review.db")
    rng = np.random.default_rng(7)
    n = 80
    scores = rng.uniform(0.05, 0.95, n)
    truth = (rng.uniform(size=n) < expit(2.0 * logit(scores) - 0.5)).astype(int)
    with ReviewQueue(db) as queue:
        for i, s in enumerate(scores):
            queue.enqueue(cal(f"run-{i:03d}", float(s)), inputs=f"question {i}", answer=f"ans {i}")

    code, out, _ = run_cli(capsys, "list", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["RUN", "ID", "CREATED", "(UTC)", "CONF", "STATUS",
                                              "QUESTION"]  # fmt: skip
    assert len(lines) == n + 2 and lines[-1].startswith(f"{n} pending, 0 reviewed")
    assert lines[1].split()[0] == "run-000" and f"{scores[0]:.3f}" in lines[1]

    code, out, _ = run_cli(capsys, "show", "run-005", "--db", db)
    assert code == 0 and "question:    question 5" in out and "answer:      ans 5" in out
    assert f"confidence:  {scores[5]:.3f} (score, raw:sequence_prob)" in out

    for i, label in enumerate(truth):
        verdict = "correct" if label else "incorrect"
        # A unique prefix is enough for the run id.
        run_id = f"run-{i:03d}" if i % 2 else f"run-{i:03d}"[:7]
        code, out, err = run_cli(
            capsys, "verdict", run_id, verdict, "--db", db, "--reviewer", "ana"
        )
        assert code == 0, err
        assert out.strip() == f"run-{i:03d}: {verdict} by ana; {n - i - 1} pending"

    code, out, _ = run_cli(capsys, "list", "--db", db)
    assert code == 0 and out.startswith("No pending answers") and f"({n} in all)" in out
    code, out, _ = run_cli(capsys, "list", "--all", "--json", "--db", db)
    listed = [json.loads(x) for x in out.splitlines()]
    assert [x["verdict"] for x in listed] == truth.tolist()

    labels, runs, fitted = tmp_path / "labels.jsonl", tmp_path / "runs.jsonl", tmp_path / "c.json"
    code, out, _ = run_cli(
        capsys, "export", "--labels", str(labels), "--runs", str(runs), "--db", db
    )
    assert code == 0 and f"({n} verdicts)" in out and f"({n} runs, {n} with a verdict)" in out

    assert main_cli.main(["fit", str(runs), "--labels", str(labels), "-o", str(fitted),
                          "--method", "platt"]) == 0  # fmt: skip
    params = json.loads(fitted.read_text())["params"]
    # Independent check: an unpenalised logistic regression on logit(sequence_prob).
    x = logit(np.clip(scores, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(x, truth)
    assert params["a"] == pytest.approx(reference.coef_[0][0], rel=1e-3, abs=1e-4)
    assert params["b"] == pytest.approx(reference.intercept_[0], rel=1e-3, abs=1e-4)
    calibrator = load_calibrator(fitted)
    probe = Signals(sequence_prob=0.7)
    expected = reference.predict_proba(np.array([[logit(0.7)]]))[0, 1]
    assert calibrator.predict_one(probe) == pytest.approx(expected, abs=1e-4)


def test_cli_show_prints_context_signals_and_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "review.db")
    router = route_by_tiers(
        with_calibration(rag_chain(), Fixed(0.3)),
        [Tier("answer", 0.8), Tier("review", action=review_writer(db))],
    )
    run_id = router.invoke("q1 x")["calibration"].run_id
    code, out, _ = run_cli(capsys, "show", run_id[:8], "--db", db)
    assert code == 0
    assert f"run id:      {run_id}" in out and "status:      pending" in out
    assert "routed to:   review: confidence 0.300 < 0.800 (the lowest threshold)" in out
    assert "confidence:  0.300 (probability, fixed)" in out
    assert "sequence_prob=0.861" in out  # exp(-(0.2 + 0.1) / 2), the fake's logprobs
    assert "documents:   2" in out and "[1] (relevance 0.900) q1 x passage 0" in out
    run_cli(capsys, "verdict", run_id, "incorrect", "--db", db, "--reviewer", "bo", "--note", "no")
    code, out, _ = run_cli(capsys, "show", run_id, "--db", db)
    assert "status:      reviewed: incorrect by bo at " in out and "note:        no" in out
    code, out, _ = run_cli(capsys, "show", run_id, "--db", db, "--json")
    assert json.loads(out)["verdict"] == 0 and json.loads(out)["record"]["run_id"] == run_id


def test_cli_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "review.db"
    ReviewQueue(db).enqueue_many([cal("abc-1"), cal("abc-2")])
    cases = [
        (["show", "nope", "--db", str(db)], "No review item with run id 'nope'"),
        (["verdict", "abc", "correct", "--db", str(db)], "matches several items"),
        (["list", "--db", str(tmp_path / "none.db")], "No review queue at"),
        (["list", "--db", "nosuchdb://x/y"], "Unknown database kind"),
        (["list", "--db", "postgresql://u@127.0.0.1:1/x"], "the review database failed: "
         "OperationalError"),
        (["export", "--db", str(db)], "needs --labels PATH and/or --runs PATH"),
    ]  # fmt: skip
    for argv, message in cases:
        code, out, err = run_cli(capsys, *argv)
        assert code == 1 and out == "", argv
        assert err.startswith("langchain-calibrate: error: ") and message in err, err
        assert err.count("\n") == 1, err
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    code, _, err = run_cli(capsys, "list", "--db", "postgresql://u@h/x")
    assert code == 1 and "pip install 'psycopg[binary]'" in err
    monkeypatch.setenv("LANGCHAIN_CALIBRATE_REVIEW_DB", str(db))
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and out.splitlines()[-1].startswith("2 pending")
    with pytest.raises(SystemExit):
        review_main(["verdict", "abc-1", "maybe"])


def test_add_review_parser_wires_into_a_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    db = tmp_path / "review.db"
    ReviewQueue(db).enqueue(cal("r1"))
    parser = argparse.ArgumentParser(prog="langchain-calibrate")
    add_review_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["review", "verdict", "r1", "correct", "--db", str(db)])
    assert (args.command, args.review_command, args.verdict) == ("review", "verdict", "correct")
    assert run_review(args) == 0 and ReviewQueue(db).get("r1").verdict == 1
    assert "r1: correct" in capsys.readouterr().out


def test_cli_module_does_not_need_sqlalchemy_to_build_its_parser() -> None:
    code = (
        "import sys, langchain_calibrate.review.cli as c; c.build_parser(); "
        "print('sqlalchemy' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr and proc.stdout.strip() == "False"
    assert proc.stdout.strip() == "False"


# -- the example ------------------------------------------------------------------------------


def load_example() -> Any:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        spec = importlib.util.spec_from_file_location(
            "review_queue_example", ROOT / "examples" / "review_queue.py"
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return module


def test_example_routes_queues_and_reviews(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load_example()
    assert callable(example.main)
    queue = ReviewQueue(tmp_path / "review.db")
    # Raw scores from the fake: exp(mean of -len(token)/10) is 0.861 for "q1 x" and
    # exp(-(0.9 + 0.4) / 2) = 0.522 for "alphaxxxx beta".
    router = example.build_router(with_calibration(rag_chain()), queue, 0.7)
    questions = ["q1 x", "alphaxxxx beta", "gammaxxxx delta"]
    results = example.answer_all(router, questions)
    assert [r["routing"].tier for r in results] == ["answer", "review", "review"]
    assert results[1]["calibration"].confidence == pytest.approx(math.exp(-0.65))
    assert "[review] alphaxxxx beta" in capsys.readouterr().out
    # batch() runs them concurrently, so the queue's order is the order they finished in.
    assert sorted(i.question for i in queue.pending()) == questions[1:]
    # The fake echoes the question: judged against a right answer equal to it, it is correct.
    rights = {"alphaxxxx beta": "alphaxxxx beta", "gammaxxxx delta": "something else"}
    assert example.review_pending(queue, lambda a, r: a == r, rights) == 2
    verdicts = {i.question: (i.verdict, i.reviewer) for i in queue.items(REVIEWED)}
    assert verdicts == {"alphaxxxx beta": (1, "grader"), "gammaxxxx delta": (0, "grader")}
    assert queue.pending() == []
