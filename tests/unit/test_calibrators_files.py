"""Saved beta, isotonic and histogram calibrators: tampered parameter blocks are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit

from langchain_calibrate.calibrators import (
    BaseCalibrator,
    BetaCalibration,
    CalibratorFileError,
    HistogramBinningCalibrator,
    IsotonicCalibrator,
    load_calibrator,
)


@pytest.fixture(scope="module")
def fitted() -> dict[str, BaseCalibrator]:
    rng = np.random.default_rng(0)
    s = rng.uniform(0.02, 0.98, 2000)
    y = (rng.random(2000) < expit(2.0 * (s - 0.5))).astype(int)
    X = s.reshape(-1, 1)
    return {
        "beta": BetaCalibration().fit(X, y),
        "isotonic": IsotonicCalibrator().fit(X, y),
        "histogram": HistogramBinningCalibrator(n_bins=8).fit(X, y),
    }


def _set(key: str, index: int, value: Any) -> Any:
    return lambda d: d["params"][key].__setitem__(index, value)


def _swap_first_two(key: str) -> Any:
    def edit(d: dict[str, Any]) -> None:
        values = d["params"][key]
        values[0], values[1] = values[1], values[0]

    return edit


def _decreasing(key: str) -> Any:
    def edit(d: dict[str, Any]) -> None:
        n = len(d["params"][key])
        d["params"][key] = np.linspace(0.9, 0.1, n).tolist()

    return edit


def _write(doc: dict[str, Any], path: Path) -> Path:
    # json.dumps writes NaN/Infinity literals for non-finite floats, as a tamperer could.
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("method", "edit", "field"),
    [
        # isotonic
        ("isotonic", _swap_first_two("x_thresholds"), "params.x_thresholds[1]"),
        (
            "isotonic",
            lambda d: d["params"]["x_thresholds"].__setitem__(1, d["params"]["x_thresholds"][0]),
            "params.x_thresholds[1]",
        ),
        ("isotonic", _decreasing("y_thresholds"), "params.y_thresholds[1]"),
        ("isotonic", _set("x_thresholds", 0, float("nan")), "params.x_thresholds[0]"),
        ("isotonic", _set("y_thresholds", 2, float("inf")), "params.y_thresholds[2]"),
        ("isotonic", _set("y_thresholds", 0, 1.5), "params.y_thresholds[0]"),
        ("isotonic", _set("x_thresholds", 0, -0.1), "params.x_thresholds[0]"),
        ("isotonic", _set("x_thresholds", 0, "0.1"), "params.x_thresholds[0]"),
        ("isotonic", lambda d: d["params"]["y_thresholds"].pop(), "params.y_thresholds"),
        (
            "isotonic",
            lambda d: d["params"].update(x_thresholds=[], y_thresholds=[]),
            "params.x_thresholds",
        ),
        ("isotonic", lambda d: d["params"].update(x_thresholds=0.5), "params.x_thresholds"),
        (
            "isotonic",
            lambda d: d["params"].update(x_thresholds=[0.5] * 100_001),
            "params.x_thresholds",
        ),
        ("isotonic", lambda d: d["params"].pop("y_thresholds"), "params.y_thresholds"),
        (
            "isotonic",
            lambda d: d["params"].update(missing_value=float("nan")),
            "params.missing_value",
        ),
        ("isotonic", lambda d: d.update(feature_names=["a", "b"]), "feature_names"),
        # histogram
        ("histogram", _swap_first_two("bin_edges"), "params.bin_edges[1]"),
        ("histogram", _set("bin_edges", 0, 1.2), "params.bin_edges[0]"),
        ("histogram", _set("bin_values", 0, float("nan")), "params.bin_values[0]"),
        ("histogram", _set("bin_values", 2, -0.1), "params.bin_values[2]"),
        ("histogram", lambda d: d["params"]["bin_values"].pop(), "params.bin_values"),
        ("histogram", lambda d: d["params"]["bin_edges"].pop(), "params.bin_values"),
        ("histogram", lambda d: d["params"].update(n_bins=3), "params.bin_edges"),
        ("histogram", lambda d: d["params"].update(n_bins=0), "params.n_bins"),
        ("histogram", lambda d: d["params"].update(n_bins=8.0), "params.n_bins"),
        ("histogram", lambda d: d["params"].update(n_bins=10**6), "params.n_bins"),
        ("histogram", lambda d: d["params"].update(bin_values=[]), "params.bin_values"),
        ("histogram", lambda d: d["params"].update(counts=[1, 2]), "params.counts"),
        # beta
        ("beta", lambda d: d["params"].update(a=-0.5), "params.a"),
        ("beta", lambda d: d["params"].update(b=-1e-9), "params.b"),
        ("beta", lambda d: d["params"].update(c=float("nan")), "params.c"),
        ("beta", lambda d: d["params"].update(c=float("-inf")), "params.c"),
        ("beta", lambda d: d["params"].update(a="1.0"), "params.a"),
        ("beta", lambda d: d["params"].pop("c"), "params.c"),
        ("beta", lambda d: d["params"].update(m=0.5), "params.m"),
        ("beta", lambda d: d.update(params=[1.0, 1.0, 0.0]), "params"),
    ],
)
def test_tampered_params_are_refused_naming_the_field(
    fitted: dict[str, BaseCalibrator], tmp_path: Path, method: str, edit: Any, field: str
) -> None:
    doc = fitted[method].to_dict()
    edit(doc)
    path = _write(doc, tmp_path / "tampered.json")
    with pytest.raises(CalibratorFileError) as info:
        load_calibrator(path)
    message = str(info.value)
    assert str(path) in message
    assert f"field '{field}" in message  # the named field (or one of its elements)
    assert "re-fit" in message


def test_non_monotone_message_says_what_is_wrong(
    fitted: dict[str, BaseCalibrator], tmp_path: Path
) -> None:
    doc = fitted["isotonic"].to_dict()
    _swap_first_two("x_thresholds")(doc)
    with pytest.raises(CalibratorFileError, match=r"x_thresholds\[1\]'.*strictly increasing"):
        load_calibrator(_write(doc, tmp_path / "cal.json"))


def test_nan_literal_is_named(fitted: dict[str, BaseCalibrator], tmp_path: Path) -> None:
    doc = fitted["histogram"].to_dict()
    doc["params"]["bin_values"][0] = float("nan")
    path = _write(doc, tmp_path / "cal.json")
    assert "NaN" in path.read_text()
    with pytest.raises(
        CalibratorFileError, match=r"bin_values\[0\]' must be a finite number, got NaN"
    ):
        load_calibrator(path)


@pytest.mark.parametrize("method", ["beta", "isotonic", "histogram"])
def test_from_dict_validates_like_the_file_loader(
    fitted: dict[str, BaseCalibrator], method: str
) -> None:
    doc = fitted[method].to_dict()
    key = {"beta": "c", "isotonic": "missing_value", "histogram": "missing_value"}[method]
    doc["params"][key] = float("nan")
    with pytest.raises(CalibratorFileError, match=rf"params\.{key}"):
        type(fitted[method]).from_dict(doc)


def test_untampered_files_load_and_predict_identically(
    fitted: dict[str, BaseCalibrator], tmp_path: Path
) -> None:
    X = np.linspace(0.0, 1.0, 301).reshape(-1, 1)
    X[::4] = np.nan
    for method, cal in fitted.items():
        path = tmp_path / f"{method}.json"
        cal.save(path)
        loaded = load_calibrator(path)
        assert type(loaded) is type(cal)
        np.testing.assert_array_equal(loaded.predict(X), cal.predict(X))
        assert loaded.to_dict() == cal.to_dict()
        assert repr(loaded) == repr(cal)
