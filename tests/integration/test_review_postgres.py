"""ReviewQueue on a real PostgreSQL server: 8 concurrent writers, SIGKILL mid-write, the CLI.

The server is ``$LANGCHAIN_CALIBRATE_TEST_PG_URL`` when set (``.ci/run`` starts one with
``scripts/postgres.sh``), else a throwaway one this module starts with that script and stops at
the end. Nothing here skips: if no server can be had, every test fails with the reason.
Each test gets a fresh database on that server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from langchain_calibrate import cli as main_cli
from langchain_calibrate.review import ReviewQueue
from langchain_calibrate.review.cli import main as review_main
from langchain_calibrate.runlog import read_labels, read_runs

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # tests/integration is not a package, tests/unit is
    sys.path.insert(0, str(ROOT))
from tests.unit.test_review_queue import cal, concurrent_enqueue, kill_mid_enqueue  # noqa: E402

URL_ENV = "LANGCHAIN_CALIBRATE_TEST_PG_URL"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a running PostgreSQL server (a superuser that may create databases)."""
    if url := os.environ.get(URL_ENV):
        yield url
        return
    env = {
        **os.environ,
        "LANGCHAIN_CALIBRATE_PG_DIR": f"/tmp/langchain-calibrate-pg-pytest-{os.getpid()}",
    }
    script = ["bash", str(ROOT / "scripts" / "postgres.sh")]
    proc = subprocess.run(
        [*script, "start"], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"Could not start PostgreSQL with scripts/postgres.sh (exit {proc.returncode}); set "
            f"{URL_ENV} to a server's URL instead.\n{proc.stderr[-3000:]}",
            pytrace=False,
        )
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=120, check=False)


def _libpq(url: str) -> str:
    """A URL psycopg itself accepts (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the server, dropped afterwards."""
    name = f"lc_review_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_libpq(pg_server), autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        pytest.fail(f"Cannot connect to PostgreSQL at {pg_server}: {exc}", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(_libpq(pg_server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_rows(url: str) -> Callable[[str], list[tuple[str, str]]]:
    """Rows for a run-id prefix, read with psycopg, after checking the table and its index."""

    def rows_of(prefix: str) -> list[tuple[str, str]]:
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            # amcheck: the primary-key B-tree is consistent and holds every heap row.
            conn.execute("SELECT bt_index_check('review_items_pkey'::regclass, true)")
            total, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT run_id) FROM review_items"
            ).fetchone()  # type: ignore[misc]
            assert total == distinct
            return conn.execute(
                "SELECT run_id, record FROM review_items WHERE run_id LIKE %s "
                "AND run_id NOT LIKE %s",
                (f"{prefix}-%", "%-after"),
            ).fetchall()

    return rows_of


def test_eight_processes_enqueue_each_item_exactly_once_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    concurrent_enqueue(pg_url, tmp_path)
    with psycopg.connect(_libpq(pg_url)) as conn:
        assert conn.execute(
            "SELECT count(*), count(DISTINCT run_id), min(run_id), max(run_id) FROM review_items"
        ).fetchone() == (1000, 1000, "run-0000", "run-0999")


def test_kill_mid_enqueue_leaves_postgres_consistent(pg_url: str) -> None:
    ReviewQueue(pg_url).close()
    seen = kill_mid_enqueue(pg_url, pg_rows(pg_url))
    assert len(seen) >= 4 and any(inside for _, _, inside in seen)
    with psycopg.connect(_libpq(pg_url)) as conn:  # the server holds no open transaction of it
        (open_transactions,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%'"
        ).fetchone()  # type: ignore[misc]
        assert open_transactions == 0


def test_queue_api_on_postgres(pg_url: str) -> None:
    queue = ReviewQueue(pg_url)
    assert queue.dialect == "postgresql" and "+psycopg" in queue.url
    assert queue.enqueue(cal("r1", 0.3), inputs="q1", answer="a1") is True
    assert queue.enqueue(cal("r1", 0.9), inputs="other", answer="a2") is False
    assert queue.enqueue_many([cal("r1"), cal("r2"), cal("r_%")]) == 2
    assert queue.get("r1").record["inputs"] == "q1" and queue.get("r1").confidence == 0.3
    assert queue.resolve("r_") == "r_%" and queue.resolve("r2") == "r2"
    item = queue.record_verdict("r2", "incorrect", reviewer="ana")
    assert item.verdict == 0 and item.decided_at is not None and item.decided_at.tzinfo
    assert [i.run_id for i in queue.pending()] == ["r1", "r_%"]
    assert ReviewQueue(pg_url, create=False).count() == 3  # a second replica sees the same


def test_cli_round_trip_on_postgres(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = [0.15, 0.3, 0.45, 0.55, 0.62, 0.7, 0.78, 0.85, 0.9, 0.95, 0.2, 0.66]
    truth = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    with ReviewQueue(pg_url) as queue:
        for i, s in enumerate(scores):
            queue.enqueue(cal(f"pg-{i:02d}", s), inputs=f"question {i}", answer=f"answer {i}")
    assert review_main(["list", "--db", pg_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(scores) + 2 and out[-1].startswith(f"{len(scores)} pending")
    for i, label in enumerate(truth):
        verdict = "correct" if label else "incorrect"
        assert review_main(["verdict", f"pg-{i:02d}", verdict, "--db", pg_url]) == 0
    labels, runs, fitted = tmp_path / "l.jsonl", tmp_path / "r.jsonl", tmp_path / "c.json"
    assert (
        review_main(["export", "--labels", str(labels), "--runs", str(runs), "--db", pg_url]) == 0
    )
    assert read_labels(labels) == {f"pg-{i:02d}": y for i, y in enumerate(truth)}
    assert [r["label"] for r in read_runs(runs)] == truth
    assert main_cli.main(["fit", str(runs), "--labels", str(labels), "-o", str(fitted),
                          "--method", "platt"]) == 0  # fmt: skip
    assert json.loads(fitted.read_text())["method"] == "platt"


def test_unreachable_postgres_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert review_main(["list", "--db", "postgresql://nobody@127.0.0.1:9/none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("langchain-calibrate: error: the review database failed: ")
    assert err.count("\n") == 1
