"""The main job: a real RAG chain on HaluEval QA, calibrated and judged on held-out answers.

It answers questions through an LCEL chain (``ScoredRetriever`` over FAISS, a few-shot prompt, a
``langchain_openai.OpenAI`` completions client with logprobs) wrapped in ``with_calibration``,
grades each answer against HaluEval's right answer, fits a calibrator by repeated cross-fitting
(each reported confidence is the mean over several splits of calibrators that never saw that
question) and reports accuracy,
ECE (15 equal-width bins), Brier and AUROC of the confidence against correctness.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough

from langchain_calibrate.calibrators import LogisticCalibrator
from langchain_calibrate.metrics import auroc, brier_score, expected_calibration_error
from langchain_calibrate.offline import cross_fit_confidences
from langchain_calibrate.result import Calibration
from langchain_calibrate.retrievers import ScoredRetriever
from langchain_calibrate.runnable import with_calibration
from langchain_calibrate.signals import FEATURE_NAMES

if TYPE_CHECKING:
    from langchain_calibrate.local.server import LlamaServer

__all__ = [
    "DemoAnswer",
    "DemoConfig",
    "ModelEndpointError",
    "build_rag_chain",
    "endpoint_error",
    "halueval_index",
    "run_demo",
]

# Hand-written shots: no HaluEval row is shown to the model as an example.
FEW_SHOT_PROMPT = """Answer the question from the passages with a short answer.

Passages:
The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It was \
designed by the company of engineer Gustave Eiffel and completed in 1889.
Question: Whose company designed the Eiffel Tower?
Answer: Gustave Eiffel

Passages:
Lake Baikal is a rift lake in Siberia, Russia. It is the deepest lake in the world, with a \
maximum depth of 1,642 metres, and holds about 22% of the world's fresh surface water.
Question: In which country is Lake Baikal?
Answer: Russia

Passages:
{context}
Question: {question}
Answer:"""


@dataclass(frozen=True)
class DemoConfig:
    """Settings of one demo run (the CLI flags)."""

    questions: int = 300
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    k: int = 1
    folds: int = 5
    repeats: int = 10
    """Fold assignments averaged over (repeated cross-fitting), so no single split decides."""
    fit_questions: int | None = None
    """Further questions answered only to fit the calibrator (a labelled calibration set): added
    to every fold's training part, never reported on. ``None`` means as many as ``questions``;
    0 fits on the reported questions' other folds alone."""
    seed: int = 0
    concurrency: int = 4
    max_tokens: int = 24
    timeout: float = 120.0
    second_opinions: bool = False
    """Also ask the model P(True) and its stated confidence per answer (two extra calls each),
    and report how much each witness adds."""
    """Seconds to wait for each model request (the client retries once)."""
    show_answers: bool = True
    out_dir: str | None = None
    """Write the run log, labels, calibrator and HTML report here (overwriting earlier ones)."""


@dataclass(frozen=True)
class DemoAnswer:
    """One graded answer."""

    row: int
    question: str
    answer: str
    right_answer: str
    correct: bool
    calibration: Calibration
    retrieved_own_passage: bool
    confidence: float = math.nan
    """Out-of-fold calibrated confidence (filled in after fitting)."""


def format_documents(documents: Sequence[Document]) -> str:
    """Join retrieved passages into the prompt's context block."""
    return "\n".join(d.page_content.strip() for d in documents)


def build_rag_chain(retriever: Runnable[str, list[Document]], llm: Runnable[Any, str]) -> Runnable:
    """The LCEL RAG chain the demo calibrates: retrieve, prompt, complete, parse."""
    prompt = PromptTemplate.from_template(FEW_SHOT_PROMPT)
    return (
        {"context": retriever | format_documents, "question": RunnablePassthrough()}
        | prompt
        | llm
        | StrOutputParser()
    )


def halueval_index(rows: Sequence[Any], embeddings: Any, *, cache_key: str) -> Any:
    """A FAISS store over the rows' knowledge passages (embedded once, cached on disk)."""
    from langchain_calibrate.datasets import build_passage_index

    return build_passage_index(
        [r.knowledge for r in rows],
        embeddings,
        cache_key=cache_key,
        metadatas=[{"row": r.row} for r in rows],
        progress=True,
    )


def _rows_of(document: Document) -> list[int]:
    rows = document.metadata.get("rows")
    return list(rows) if isinstance(rows, list) else [document.metadata.get("row", -1)]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: Retries of a failed model request (connection errors, timeouts, HTTP 408/409/429/5xx).
_MAX_RETRIES = 1


class ModelEndpointError(RuntimeError):
    """The model endpoint failed while the demo was answering; the message is one line."""


def _one_line(text: object, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _openai_error(exc: BaseException) -> Any:
    """The openai client error in ``exc``'s cause/context chain, or None."""
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on it
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, openai.APIError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def endpoint_error(
    exc: BaseException, *, timeout: float, attempts: int = _MAX_RETRIES + 1
) -> ModelEndpointError | None:
    """Turn an openai client failure into a one-line error naming the endpoint and the cause.

    Args:
        exc: What the chain raised.
        timeout: The client's per-request timeout in seconds (named in timeout messages).
        attempts: Requests the client made (1 + its retries).

    Returns:
        A :class:`ModelEndpointError`, or None when ``exc`` is not an openai client error.

    Example:
        >>> endpoint_error(ValueError("not from openai"), timeout=120) is None
        True
    """
    import openai

    error = _openai_error(exc)
    if error is None:
        return None
    request = getattr(error, "request", None)
    url = str(request.url) if request is not None else "(unknown URL)"
    tries = f"{attempts} attempts" if attempts != 1 else "1 attempt"
    if isinstance(error, openai.APITimeoutError):
        msg = (
            f"the model endpoint {url} did not answer within {timeout:g} s ({tries}); check "
            "that it is up and not overloaded, or give it longer with --timeout SECONDS"
        )
    elif isinstance(error, openai.APIStatusError):
        body = error.body
        detail = body.get("message", body) if isinstance(body, dict) else body
        reason = error.response.reason_phrase
        msg = f"the model endpoint {url} answered HTTP {error.status_code}"
        msg += f" {reason}" if reason else ""
        msg += f": {_one_line(detail)}" if detail not in (None, "") else ""
    elif isinstance(error, openai.APIConnectionError):
        cause = error.__cause__
        why = _one_line(cause) if cause is not None and str(cause) else type(cause).__name__
        msg = f"could not reach the model endpoint {url} ({tries}): {why}"
    else:
        msg = f"the model endpoint {url} failed: {type(error).__name__}: {_one_line(error)}"
    return ModelEndpointError(msg)


def _make_llm(
    base_url: str, model: str, api_key: str, max_tokens: int, timeout: float = 120.0
) -> Runnable[Any, str]:
    from langchain_openai import OpenAI

    return OpenAI(
        base_url=base_url,
        api_key=api_key,  # type: ignore[arg-type]
        model=model,
        temperature=0.0,
        max_tokens=max_tokens,
        logprobs=3,
        max_retries=_MAX_RETRIES,
        timeout=timeout,
    ).bind(stop=["\n"])


def _metrics(labels: np.ndarray, conf: np.ndarray) -> dict[str, float | None]:
    both = 0 < labels.sum() < len(labels)
    return {
        "ece": expected_calibration_error(labels, conf, n_bins=15),
        "brier": brier_score(labels, conf),
        "auroc": auroc(labels, conf) if both else None,
    }


def _check_config(config: DemoConfig) -> None:
    """Refuse bad settings before any model is started or any question answered."""
    from langchain_calibrate.datasets import HALUEVAL_DEV_ROWS

    if config.folds < 2:
        msg = (
            "--folds must be >= 2, so no confidence comes from a calibrator fitted on it; "
            f"got {config.folds}."
        )
        raise ValueError(msg)
    if config.questions < 2 * config.folds:
        msg = f"--questions must be at least {2 * config.folds} for {config.folds}-fold fitting."
        raise ValueError(msg)
    if config.questions > HALUEVAL_DEV_ROWS:
        msg = (
            f"--questions {config.questions} is more than the {HALUEVAL_DEV_ROWS} development rows "
            "(HaluEval rows 5000 and up are reserved for independent evaluation)."
        )
        raise ValueError(msg)
    fit_questions = _fit_questions(config)
    if fit_questions < 0:
        msg = f"--fit-questions must be 0 or more; got {fit_questions}."
        raise ValueError(msg)
    if config.questions + fit_questions > HALUEVAL_DEV_ROWS:
        given = "" if config.fit_questions is not None else " (its default: as many as --questions)"
        msg = (
            f"--questions {config.questions} plus --fit-questions {fit_questions}{given} is more "
            f"than the {HALUEVAL_DEV_ROWS} development rows (HaluEval rows 5000 and up are "
            f"reserved for independent evaluation); pass --fit-questions "
            f"{HALUEVAL_DEV_ROWS - config.questions} or less, or lower --questions."
        )
        raise ValueError(msg)
    if not config.timeout > 0:
        msg = f"--timeout must be a positive number of seconds; got {config.timeout}."
        raise ValueError(msg)
    if config.out_dir and os.path.exists(config.out_dir) and not os.path.isdir(config.out_dir):
        msg = f"--out-dir {config.out_dir} is a file; give a folder (it is created if missing)."
        raise ValueError(msg)


def _splits(repeats: int) -> str:
    return "1 split" if repeats == 1 else f"{repeats} splits"


def _fit_questions(config: DemoConfig) -> int:
    return config.questions if config.fit_questions is None else config.fit_questions


def _choose_rows(n_rows: int, config: DemoConfig) -> tuple[list[int], list[int]]:
    """Reported rows (the same for a seed whatever ``fit_questions`` is), then calibration rows."""
    rng = np.random.default_rng(config.seed)
    reported = rng.choice(n_rows, size=min(config.questions, n_rows), replace=False)
    rest = np.setdiff1d(np.arange(n_rows), reported)
    extra = rng.choice(rest, size=min(_fit_questions(config), len(rest)), replace=False)
    return sorted(int(i) for i in reported), sorted(int(i) for i in extra)


def run_demo(config: DemoConfig, *, progress: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Run the demo end to end and return its summary (what ``--json`` prints)."""
    from tqdm import tqdm

    from langchain_calibrate.datasets import load_halueval_qa
    from langchain_calibrate.grading import is_correct
    from langchain_calibrate.local.embeddings import LocalMiniLMEmbeddings

    _check_config(config)
    started = time.perf_counter()
    server: LlamaServer | None = None
    with ExitStack() as stack:
        if config.base_url:
            base_url = config.base_url
            model = config.model or "gpt-4o-mini"
            api_key = config.api_key or os.environ.get("OPENAI_API_KEY") or "none"
            progress(f"Using the endpoint {base_url} (model {model}).")
        else:
            from langchain_calibrate.local.server import LlamaServer

            progress("Starting the local model server (llama-server, Gemma 3 270M)...")
            server = stack.enter_context(LlamaServer(progress=progress))
            base_url, model, api_key = server.base_url, config.model or server.model_name, "none"
            progress(f"Local model server ready at {base_url}.")

        rows = load_halueval_qa()
        progress(f"Loaded {len(rows)} HaluEval QA rows (0-{len(rows) - 1}).")
        embeddings = LocalMiniLMEmbeddings()
        store = halueval_index(rows, embeddings, cache_key="halueval-qa-dev-minilm")
        retriever = ScoredRetriever(vectorstore=store, k=config.k)
        llm = _make_llm(base_url, model, api_key, config.max_tokens, config.timeout)
        files = _demo_files(config.out_dir)
        judges: dict[str, Any] = {}
        if config.second_opinions:
            from langchain_calibrate.opinions import PTrueJudge, VerbalConfidenceAsker

            judge_llm = _make_llm(base_url, model, api_key, 8, config.timeout)
            judges = {
                "p_true_judge": PTrueJudge(judge_llm),
                "verbal_asker": VerbalConfidenceAsker(judge_llm),
            }
        calibrated = with_calibration(
            build_rag_chain(retriever, llm),
            embeddings=embeddings,
            log_to=files["runs"] if files else None,
            **judges,
        )

        reported, extra = _choose_rows(len(rows), config)
        sample = [rows[i] for i in (*reported, *extra)]
        results: list[Any] = [None] * len(sample)
        t0 = time.perf_counter()
        batch = calibrated.batch_as_completed(
            [r.question for r in sample], config={"max_concurrency": config.concurrency}
        )
        if server is not None:
            server.check()  # it may have died while the index loaded
        bar = tqdm(batch, total=len(sample), desc="answering", unit="q", file=sys.stderr)
        try:
            for i, result in bar:
                results[i] = result
        except Exception as exc:
            bar.close()  # end the progress line, so the error starts a line of its own
            if server is not None and not server.is_running():
                server.check()  # the local server died: raises, naming the exit and its log
            error = endpoint_error(exc, timeout=config.timeout)
            if error is None:
                raise
            raise error from exc
        answer_seconds = time.perf_counter() - t0

    answers = []
    for row, result in zip(sample, results, strict=True):
        cal: Calibration = result["calibration"]
        text = str(result["output"]).strip()
        own = any(row.row in _rows_of(d) for d in cal.documents)
        answers.append(
            DemoAnswer(
                row.row,
                row.question,
                text,
                row.right_answer,
                is_correct(text, row.right_answer),
                cal,
                own,
            )
        )
    answers, fit_answers = answers[: len(reported)], answers[len(reported) :]
    fit_labels = np.array([a.correct for a in fit_answers], dtype=float)
    labels = np.array([a.correct for a in answers], dtype=float)
    if labels.sum() in (0, len(labels)):
        msg = (
            f"All {len(labels)} answers were graded {'correct' if labels.sum() else 'wrong'}; "
            "a calibrator needs both. Use more --questions or check the endpoint's answers."
        )
        raise RuntimeError(msg)
    signals = [a.calibration.signals for a in answers]
    fit_signals = [a.calibration.signals for a in fit_answers]
    conf = cross_fit_confidences(
        signals,
        labels,
        folds=config.folds,
        seed=config.seed,
        repeats=config.repeats,
        calibration_signals=fit_signals,
        calibration_labels=fit_labels,
    )
    answers = [
        dataclasses.replace(a, confidence=float(c)) for a, c in zip(answers, conf, strict=True)
    ]
    raw = np.array([s.sequence_prob if s.sequence_prob is not None else 0.0 for s in signals])

    if files:
        _write_outputs(files, answers, fit_answers, labels, conf, config, progress)
    if config.show_answers:
        print(f"{'conf':>5}  {'ok':<3} {'flags':<34} question -> answer  [right answer]")
        for a in answers:
            flags = ",".join(a.calibration.flags) or "-"
            print(
                f"{a.confidence:5.2f}  {'yes' if a.correct else 'no':<3} {flags:<34} "
                f"{a.question[:70]} -> {a.answer[:40]!r}  [{a.right_answer[:30]}]"
            )

    calibrated_metrics = _metrics(labels, conf)
    raw_metrics = _metrics(labels, raw)
    flag_counts: dict[str, int] = {}
    for a in answers:
        for f in a.calibration.flags:
            flag_counts[f] = flag_counts.get(f, 0) + 1
    summary = {
        "n": len(answers),
        "accuracy": float(labels.mean()),
        "ece": calibrated_metrics["ece"],
        "auroc": calibrated_metrics["auroc"],
        "brier": calibrated_metrics["brier"],
        "raw_score": {"name": "sequence_prob", **raw_metrics},
        "folds": config.folds,
        "repeats": config.repeats,
        "fit_questions": len(fit_answers),
        "fit_accuracy": float(fit_labels.mean()) if len(fit_labels) else None,
        "n_bins": 15,
        "retrieval_hit_rate": float(np.mean([a.retrieved_own_passage for a in answers])),
        "flags": flag_counts,
        "features": list(FEATURE_NAMES),
        "model": model,
        "base_url": base_url,
        "seconds_answering": round(answer_seconds, 2),
        "seconds_per_question": round(answer_seconds / (len(answers) + len(fit_answers)), 3),
        "seconds_total": round(time.perf_counter() - started, 2),
    }
    if config.second_opinions:
        summary["second_opinions"] = _witness_report(answers, fit_answers, labels, config)
    return summary


def _witness_report(
    answers: Sequence[DemoAnswer],
    fit_answers: Sequence[DemoAnswer],
    labels: np.ndarray,
    config: DemoConfig,
) -> dict[str, Any]:
    """AUROC and ECE with and without each second opinion, on the same out-of-fold splits."""
    signals = [a.calibration.signals for a in answers]
    calibration = {
        "calibration_signals": [a.calibration.signals for a in fit_answers],
        "calibration_labels": [int(a.correct) for a in fit_answers],
    }
    report: dict[str, Any] = {}
    for name, extra in (
        ("without", ()),
        ("with_p_true", ("p_true",)),
        ("with_stated_confidence", ("stated_confidence",)),
        ("with_both", ("p_true", "stated_confidence")),
    ):
        conf = cross_fit_confidences(
            signals, labels, folds=config.folds, seed=config.seed, repeats=config.repeats,
            features=(*FEATURE_NAMES, *extra), **calibration,
        )  # fmt: skip
        report[name] = _metrics(labels, conf)
    for key, signal in (("p_true", "p_true"), ("stated", "stated_confidence")):
        values = np.array([getattr(s, signal) for s in signals], dtype=float)
        read = ~np.isnan(values)
        seconds = [a.calibration.opinions.get(key, {}).get("elapsed") for a in answers]
        seconds = [s for s in seconds if isinstance(s, int | float)]
        both = read.any() and 0 < labels[read].sum() < read.sum()
        report[f"{key}_alone"] = {
            "read": int(read.sum()),
            "auroc": auroc(labels[read], values[read]) if both else None,
            "mean_when_right": float(np.mean(values[read & (labels == 1)])) if both else None,
            "mean_when_wrong": float(np.mean(values[read & (labels == 0)])) if both else None,
            "seconds_per_call": round(float(np.mean(seconds)), 3) if seconds else None,
        }
    return report


_DEMO_FILES = {
    "runs": "runs.jsonl",
    "labels": "labels.jsonl",
    "calibrator": "calibrator.json",
    "report": "report.html",
}


def _demo_files(out_dir: str | None) -> dict[str, Path]:
    """The demo's output paths; earlier demo outputs there are removed (the log appends)."""
    if not out_dir:
        return {}
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = {key: folder / name for key, name in _DEMO_FILES.items()}
    for path in files.values():
        path.unlink(missing_ok=True)
    return files


def _write_outputs(
    files: dict[str, Path],
    answers: Sequence[DemoAnswer],
    fit_answers: Sequence[DemoAnswer],
    labels: np.ndarray,
    conf: np.ndarray,
    config: DemoConfig,
    progress: Callable[[str], None],
) -> None:
    """Labels keyed by run id, a calibrator fitted on every answer, and the HTML report."""
    from langchain_calibrate.report import write_html_report

    everything = [*answers, *fit_answers]
    with files["labels"].open("w", encoding="utf-8") as handle:
        for a in everything:
            reported = not math.isnan(a.confidence)
            item = {
                "run_id": a.calibration.run_id,
                "label": int(a.correct),
                "row": a.row,
                "right_answer": a.right_answer,
                "part": "reported" if reported else "calibration",
                "out_of_fold_confidence": a.confidence if reported else None,
                "retrieved_own_passage": a.retrieved_own_passage,
            }
            handle.write(json.dumps(item) + "\n")
    LogisticCalibrator().fit(
        [a.calibration.signals for a in everything], [int(a.correct) for a in everything]
    ).save(files["calibrator"])
    progress("Writing the report (bootstrap intervals, plots)...")
    write_html_report(
        files["report"],
        labels,
        conf,
        title="langchain-calibrate demo: HaluEval QA",
        seed=config.seed,
        details={
            "run log": files["runs"].name,
            "labels": files["labels"].name,
            "questions reported on": str(len(answers)),
            "calibration questions (fitting only)": str(len(fit_answers)),
            "retrieved passages per question": str(config.k),
        },
        notes=[
            f"Confidences are out-of-fold: logistic regression over the signals, "
            f"{config.folds}-fold cross-fitting averaged over {_splits(config.repeats)}, each "
            f"fold's training part joined by {len(fit_answers)} calibration questions that are "
            "never reported on, so no confidence comes from a calibrator that saw its own label.",
            f"{files['calibrator'].name} is fitted on all answers, for use on new questions.",
        ],
    )
    progress(
        f"Wrote {', '.join(str(p) for p in files.values())}. Try: langchain-calibrate evaluate "
        f"{files['runs']} --labels {files['labels']} (it cross-fits over all "
        f"{len(everything)} answers, calibration ones included, on one split, so its figures "
        "differ from the demo's)"
    )


def print_summary(summary: dict[str, Any]) -> None:
    """Human-readable closing block."""

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    raw = summary["raw_score"]
    print()
    print(
        f"questions: {summary['n']}   accuracy: {summary['accuracy']:.3f}   "
        f"retrieval hit rate: {summary['retrieval_hit_rate']:.3f}"
    )
    if summary["fit_questions"]:
        print(
            f"calibration questions (fitting only, never reported on): "
            f"{summary['fit_questions']}   accuracy: {fmt(summary['fit_accuracy'])}"
        )
    print(
        f"calibrated (logistic over signals, {summary['folds']}-fold out-of-fold, "
        f"averaged over {_splits(summary['repeats'])}): "
        f"ECE {fmt(summary['ece'])}  Brier {fmt(summary['brier'])}  "
        f"AUROC {fmt(summary['auroc'])}"
    )
    print(
        f"raw score (sequence_prob, uncalibrated): "
        f"ECE {fmt(raw['ece'])}  Brier {fmt(raw['brier'])}  AUROC {fmt(raw['auroc'])}"
    )
    print(f"flags: {summary['flags'] or 'none'}")
    if "second_opinions" in summary:
        witness = summary["second_opinions"]
        print("second opinions (same out-of-fold split):")
        for name in ("without", "with_p_true", "with_stated_confidence", "with_both"):
            m = witness[name]
            print(f"  {name:<24} ECE {fmt(m['ece'])}  AUROC {fmt(m['auroc'])}")
        for key in ("p_true_alone", "stated_alone"):
            m = witness[key]
            print(
                f"  {key:<24} read {m['read']}/{summary['n']}  AUROC {fmt(m['auroc'])}  "
                f"mean right {fmt(m['mean_when_right'])} / wrong {fmt(m['mean_when_wrong'])}  "
                f"{fmt(m['seconds_per_call'])} s a call"
            )
    print(
        f"{summary['seconds_per_question']:.2f} s a question; "
        f"{summary['seconds_total']:.0f} s in all"
    )


def main_demo(config: DemoConfig, *, as_json: bool) -> int:
    """CLI entry: run, print, and return an exit code."""
    summary = run_demo(config)
    print_summary(summary)
    if as_json:
        print(json.dumps(summary))
    return 0
