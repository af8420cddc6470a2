"""Run logs: one record per run on every execution path, labels joined by run id, no secrets."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_calibrate.runlog import (
    REDACTED,
    RUN_LOG_SCHEMA,
    RunLogError,
    RunLogWriter,
    join_labels,
    read_labels,
    read_runs,
    redact,
)
from langchain_calibrate.runnable import with_calibration
from tests.unit.test_handler import questions, rag_chain
from tests.unit.test_runnable import expected_prob


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_invoke_appends_one_record_keyed_by_the_results_run_id(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "runs.jsonl"  # the parent directory does not exist yet
    result = with_calibration(rag_chain(), log_to=log).invoke("q1 red")
    (record,) = lines(log)
    cal = result["calibration"]
    assert record["run_id"] == cal.run_id and cal.run_id
    assert record["schema"] == RUN_LOG_SCHEMA and record["version"] == 1
    assert record["inputs"] == "q1 red"
    assert record["answer"] == "q1 red"
    assert record["confidence"] == pytest.approx(expected_prob("q1 red"))
    assert record["kind"] == "score" and record["is_calibrated"] is False
    assert record["label"] is None
    assert record["signals"]["sequence_prob"] == pytest.approx(expected_prob("q1 red"))
    assert {d["metadata"]["qid"] for d in record["documents"]} == {"q1 red"}
    assert record["timestamp"].endswith("+00:00")


async def test_every_execution_path_logs_its_own_run(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    chain = with_calibration(rag_chain(), log_to=log)
    qs = questions(24)
    results = chain.batch(qs[:8], config={"max_concurrency": 4})
    results += await chain.abatch(qs[8:16], config={"max_concurrency": 4})
    results.append(await chain.ainvoke(qs[16]))
    last = None
    for chunk in chain.stream(qs[17]):
        last = chunk
    results.append(last)
    async for chunk in chain.astream(qs[18]):
        last = chunk
    results.append(last)
    by_id = {r["run_id"]: r for r in lines(log)}
    asked = [*qs[:17], qs[17], qs[18]]
    assert len(by_id) == len(asked) == len(results)
    for question, result in zip(asked, results, strict=True):
        record = by_id[result["calibration"].run_id]
        assert record["inputs"] == question
        assert record["answer"] == question
        assert {d["metadata"]["qid"] for d in record["documents"]} == {question}


def test_api_keys_in_inputs_never_reach_the_log(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    key = "sk-proj-" + "A1b2C3d4" * 6
    with_calibration(rag_chain(), log_to=log).invoke(f"q1 {key}")
    # A dict input with a secret-named field and a header, through a chain that echoes it.
    echo = RunnableLambda(lambda d: f"answer for {d['question']}")
    inputs = {
        "question": "q2",
        "openai_api_key": "plain-looking-value",
        "headers": {"Authorization": "Bearer " + "z9" * 20},
    }
    with_calibration(echo, log_to=log).invoke(inputs)
    text = log.read_text()
    for secret in (key, "A1b2C3d4A1b2", "plain-looking-value", "z9z9z9z9"):
        assert secret not in text
    second = lines(log)[1]
    assert second["inputs"]["question"] == "q2" and second["answer"] == "answer for q2"
    assert second["inputs"]["openai_api_key"] == REDACTED
    assert inputs["openai_api_key"] == "plain-looking-value"  # the user's input is untouched


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        ("sk-" + "x" * 40, "see"),
        ("sk-ant-api03-" + "Ab9_" * 10, "see"),
        ("ghp_" + "a" * 36, "see"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "see"),
        ("AIza" + "b" * 35, "see"),
        ("hf_" + "c" * 34, "see"),
        ("xoxb-" + "1234567890-abcdef", "see"),
        ("Bearer " + "tok.en-" * 4, "see"),
        ("eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", "see"),
    ],
)
def test_known_key_patterns_are_redacted_in_text(secret: str, kept: str) -> None:
    out = redact(f"{kept} {secret} end")
    assert secret not in out and out.startswith(kept) and out.endswith("end")


def test_secret_named_fields_are_redacted_but_counts_are_not() -> None:
    value = {
        "api_key": "short",
        "Authorization": "Basic abc",
        "headers": {"x-api-key": "k", "Content-Type": "json"},
        "config": {"password": "hunter2", "access_token": "t"},
        "max_tokens": 24,
        "tokens": ["a", "b"],
        "text": "api_key=abcdef123456 and more",
    }
    out = redact(value)
    assert out["api_key"] == out["Authorization"] == REDACTED
    assert out["headers"] == {"x-api-key": REDACTED, "Content-Type": "json"}
    assert out["config"] == {"password": REDACTED, "access_token": REDACTED}
    assert out["max_tokens"] == 24 and out["tokens"] == ["a", "b"]
    assert out["text"] == f"api_key={REDACTED} and more"
    assert value["api_key"] == "short"  # the caller's object is not changed


def test_labels_join_by_run_id_from_jsonl_and_csv(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    chain = with_calibration(rag_chain(), log_to=log)
    ids = [chain.invoke(q)["calibration"].run_id for q in questions(3)]
    jl = tmp_path / "labels.jsonl"
    jl.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"run_id": ids[0], "label": 1},
                {"run_id": ids[1], "label": 0},
                {"run_id": "nope", "label": 1},
                {"run_id": ids[1], "label": 1},  # a later verdict wins
            ]
        )
    )
    runs, report = join_labels(read_runs(log), jl)
    assert [r["label"] for r in runs] == [1, 1, None]
    assert (report.labelled, report.unlabelled, report.unknown_run_ids) == (2, 1, ("nope",))
    cv = tmp_path / "labels.csv"
    cv.write_text(f"run_id,label\n{ids[2]},incorrect\n{ids[0]},0\n")
    runs, report = join_labels(read_runs(log), cv)
    assert [r["label"] for r in runs] == [0, None, 0]
    assert read_runs(log)[0]["label"] is None  # joining never rewrites the log


def test_bad_files_give_errors_that_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(RunLogError, match="No run log"):
        read_runs(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"run_id": "a", "signals": {}}\nnot json\n{"run_id": "b", "signals": {}}\n')
    with pytest.raises(RunLogError, match=r"bad.jsonl:2 is not valid JSON"):
        read_runs(bad)
    bad.write_text('{"run_id": "a", "signals": {}, "label": 2}\n')
    with pytest.raises(RunLogError, match=r"bad.jsonl:1: label must be 1"):
        read_runs(bad)
    bad.write_text('{"question": "x"}\n')
    with pytest.raises(RunLogError, match="needs 'run_id' and 'signals'"):
        read_runs(bad)
    labels = tmp_path / "l.csv"
    labels.write_text("id,verdict\na,1\n")
    with pytest.raises(RunLogError, match="run_id and label columns"):
        read_labels(labels)
    with pytest.raises(RunLogError, match="is a directory"):
        with_calibration(rag_chain(), log_to=tmp_path)


def test_a_truncated_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    log.write_text('{"run_id": "a", "signals": {}}\n{"run_id": "b", "sig')
    with pytest.warns(UserWarning, match="truncated last line"):
        runs = read_runs(log)
    assert [r["run_id"] for r in runs] == ["a"]


def test_a_failing_log_write_is_recorded_not_raised(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    chain = with_calibration(rag_chain(), log_to=log)
    log.mkdir()  # the file path turned into a directory after the wrapper was built
    result = chain.invoke("q1 red")
    assert result["output"].text == "q1 red"
    assert any("run log" in e for e in result["calibration"].errors)
    strict = with_calibration(rag_chain(), log_to=tmp_path / "other.jsonl", strict=True)
    (tmp_path / "other.jsonl").mkdir()
    with pytest.raises(IsADirectoryError):
        strict.invoke("q1 red")


def _append_many(path: str, worker: int, count: int) -> None:
    writer = RunLogWriter(path)
    for i in range(count):
        writer.write_record({"run_id": f"{worker}-{i}", "signals": {}, "pad": "x" * 3000})


def test_processes_appending_to_one_log_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "runs.jsonl"
    ctx = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    procs = [ctx.Process(target=_append_many, args=(str(log), w, 200)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    runs = read_runs(log)
    assert sorted(r["run_id"] for r in runs) == sorted(
        f"{w}-{i}" for w in range(4) for i in range(200)
    )
