"""Calibrators: recovery of known miscalibration, missing evidence, and safe JSON files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from langchain_calibrate.calibrators import (
    CALIBRATORS,
    DEFAULT_FEATURE_NAMES,
    BaseCalibrator,
    BetaCalibration,
    CalibratorFileError,
    CalibratorNotFittedError,
    HistogramBinningCalibrator,
    IsotonicCalibrator,
    LogisticCalibrator,
    PlattScaling,
    TemperatureScaling,
    load_calibrator,
    make_calibrator,
)
from langchain_calibrate.metrics import expected_calibration_error

N = 20_000
A_TRUE, B_TRUE = 0.5, -1.0  # overconfident and biased: true P(correct) = sigmoid(.5 logit(s) - 1)
BETA_TRUE = np.array([1.2, -0.8, 0.0])


def _scores(seed: int, a: float, b: float, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.02, 0.98, n)
    y = (rng.random(n) < expit(a * logit(s) + b)).astype(int)
    return s, y


def _three_features(seed: int, n: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(2.0, 3.0, n), rng.uniform(0, 10, n), rng.normal(0, 1, n)])
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (rng.random(n) < expit(0.3 + z @ BETA_TRUE)).astype(int)
    return X, y


class FakeSignals:
    """Stands in for the project's Signals: to_features(names) with NaN for missing."""

    def __init__(self, **values: float | None) -> None:
        self.values = values

    def to_features(self, names: Sequence[str]) -> np.ndarray:
        return np.array([np.nan if self.values[n] is None else self.values[n] for n in names])


@pytest.fixture(scope="module")
def platt_data() -> tuple[np.ndarray, np.ndarray]:
    return _scores(0, A_TRUE, B_TRUE)


@pytest.fixture(scope="module")
def fitted() -> dict[str, BaseCalibrator]:
    s, y = _scores(7, A_TRUE, B_TRUE, n=2000)
    X, y3 = _three_features(8, n=2000)
    return {
        "temperature": TemperatureScaling().fit(s.reshape(-1, 1), y),
        "platt": PlattScaling().fit(s.reshape(-1, 1), y),
        "beta": BetaCalibration().fit(s.reshape(-1, 1), y),
        "isotonic": IsotonicCalibrator().fit(s.reshape(-1, 1), y),
        "histogram": HistogramBinningCalibrator(n_bins=10).fit(s.reshape(-1, 1), y),
        "logistic": LogisticCalibrator(features=["f0", "f1", "f2"], C=0.5).fit(X, y3),
    }


# ----------------------------------------------------------------------------- recovery


def test_platt_recovers_known_miscalibration(platt_data: tuple[np.ndarray, np.ndarray]) -> None:
    s, y = platt_data
    cal = PlattScaling().fit(s.reshape(-1, 1), y)
    assert cal.a_ == pytest.approx(A_TRUE, rel=0.05)
    assert cal.b_ == pytest.approx(B_TRUE, rel=0.05)
    # Same maximum-likelihood problem solved independently by scikit-learn.
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(logit(s)[:, None], y)
    assert cal.a_ == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    assert cal.b_ == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_temperature_recovers_inverse_slope() -> None:
    s, y = _scores(1, 0.5, 0.0)
    cal = TemperatureScaling().fit(s.reshape(-1, 1), y)
    assert cal.temperature_ == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(("method", "a", "b"), [("platt", A_TRUE, B_TRUE), ("temperature", 0.5, 0)])
def test_calibrated_ece_on_fresh_data(method: str, a: float, b: float) -> None:
    s, y = _scores(2, a, b)
    cal = make_calibrator(method).fit(s.reshape(-1, 1), y)
    s_new, y_new = _scores(3, a, b)
    assert expected_calibration_error(y_new, s_new) > 0.1  # the raw score really is miscalibrated
    assert expected_calibration_error(y_new, cal.predict(s_new.reshape(-1, 1))) < 0.02


def test_temperature_keeps_ranking() -> None:
    s, y = _scores(4, 0.5, 0.0, n=500)
    p = TemperatureScaling().fit(s.reshape(-1, 1), y).predict(s.reshape(-1, 1))
    assert (np.diff(p[np.argsort(s)]) >= 0).all()


def test_logistic_matches_independent_sklearn_fit() -> None:
    X, y = _three_features(5)
    cal = LogisticCalibrator(features=["f0", "f1", "f2"], C=1.0).fit(X, y)
    np.testing.assert_allclose(cal.mean_, X.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(cal.scale_, X.std(axis=0), rtol=1e-12)
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(z, y)
    np.testing.assert_allclose(cal.coef_, ref.coef_[0], atol=2e-3)
    assert cal.intercept_ == pytest.approx(ref.intercept_[0], abs=2e-3)
    np.testing.assert_allclose(cal.coef_, BETA_TRUE, atol=0.12)  # and near the generating truth
    np.testing.assert_allclose(cal.predict(X), ref.predict_proba(z)[:, 1], atol=1e-3)
    assert all(type(v) is float for v in (*cal.coef_, cal.intercept_, *cal.mean_, *cal.scale_))


def test_logistic_drops_constant_and_all_missing_columns() -> None:
    X, y = _three_features(6, n=800)
    X = np.column_stack([X, np.full(len(X), 3.0), np.full(len(X), np.nan)])
    cal = LogisticCalibrator(features=["f0", "f1", "f2", "const", "absent"]).fit(X, y)
    assert cal.scale_[3:] == (0.0, 0.0)
    assert cal.coef_[3:] == (0.0, 0.0)
    ref = LogisticCalibrator(features=["f0", "f1", "f2"]).fit(X[:, :3], y)
    np.testing.assert_allclose(cal.predict(X), ref.predict(X[:, :3]), atol=1e-9)


def test_logistic_default_features_and_inputs_agree() -> None:
    assert len(DEFAULT_FEATURE_NAMES) == 16
    rng = np.random.default_rng(9)
    X = rng.normal(size=(60, len(DEFAULT_FEATURE_NAMES)))
    y = np.tile([0, 1], 30)
    cal = LogisticCalibrator().fit(X, y)
    assert cal.feature_names == DEFAULT_FEATURE_NAMES
    rows = [dict(zip(DEFAULT_FEATURE_NAMES, r, strict=True)) for r in X[:5].tolist()]
    np.testing.assert_allclose(cal.predict(rows), cal.predict(X[:5]))
    np.testing.assert_allclose(cal.predict([FakeSignals(**r) for r in rows]), cal.predict(X[:5]))
    assert cal.predict_one(rows[0]) == pytest.approx(cal.predict(X[:1])[0])


# ----------------------------------------------------------------------------- missing evidence


@pytest.mark.parametrize("a", [0.5, -0.7])
def test_platt_missing_score_is_most_pessimistic(a: float) -> None:
    s, y = _scores(10, a, 0.3, n=3000)
    cal = PlattScaling().fit(s.reshape(-1, 1), y)
    grid = np.linspace(s.min(), s.max(), 200).reshape(-1, 1)
    p_missing = cal.predict_one({"sequence_prob": None})
    assert p_missing == pytest.approx(cal.predict(grid).min(), abs=1e-12)
    # The pessimistic end is the low score when a > 0 and the high score when a < 0.
    assert cal.missing_value_ == pytest.approx(s.min() if a > 0 else s.max())


def test_temperature_missing_score_is_training_minimum() -> None:
    s, y = _scores(11, 0.5, 0.0, n=3000)
    s[:100] = np.nan  # missing rows are ignored when fitting
    cal = TemperatureScaling().fit(s.reshape(-1, 1), y)
    assert cal.missing_value_ == pytest.approx(np.nanmin(s))
    assert cal.predict(np.array([[np.nan]]))[0] == pytest.approx(
        expit(logit(np.nanmin(s)) / cal.temperature_)
    )


def test_logistic_missing_never_more_confident_than_observed() -> None:
    X, y = _three_features(12, n=3000)
    X[::7, 0] = np.nan
    X[::5, 1] = np.nan
    cal = LogisticCalibrator(features=["f0", "f1", "f2"]).fit(X, y)
    assert cal.coef_[0] > 0 > cal.coef_[1]
    assert cal.missing_values_[0] == pytest.approx(np.nanmin(X[:, 0]))
    assert cal.missing_values_[1] == pytest.approx(np.nanmax(X[:, 1]))
    rows = np.nan_to_num(X[:50], nan=1.0)
    for j in (0, 1, 2):
        observed = np.nanquantile(X[:, j], np.linspace(0, 1, 21))
        blanked = rows.copy()
        blanked[:, j] = np.nan
        p_nan = cal.predict(blanked)
        for v in observed:
            filled = rows.copy()
            filled[:, j] = v
            assert (p_nan <= cal.predict(filled) + 1e-12).all()
    mapping = {"f0": None, "f1": 4.0, "f2": 0.1}
    explicit = np.array([[cal.missing_values_[0], 4.0, 0.1]])
    assert cal.predict_one(mapping) == pytest.approx(cal.predict(explicit)[0], abs=1e-15)


def test_absent_key_is_an_error_listing_names(fitted: dict[str, BaseCalibrator]) -> None:
    with pytest.raises(ValueError, match=r"lacks features \['f2'\].*\['f0', 'f1', 'f2'\]"):
        fitted["logistic"].predict([{"f0": 1.0, "f1": 2.0}])
    with pytest.raises(ValueError, match="sequence_prob"):
        fitted["platt"].predict_one({"seq_prob": 0.5})


# ----------------------------------------------------------------------------- fit/predict errors


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
def test_predict_before_fit(method: str) -> None:
    cal = make_calibrator(method)
    with pytest.raises(CalibratorNotFittedError, match="not fitted"):
        cal.predict(np.zeros((1, len(cal.feature_names))))
    with pytest.raises(CalibratorNotFittedError):
        cal.to_dict()
    assert isinstance(CalibratorNotFittedError("x"), ValueError)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        ([[0.2], [0.3], [0.7]], [0, 1], "one 0/1 label per row"),
        ([[0.2], [0.3], [0.7], [0.8]], [1, 1, 1, 0], "at least 2 of each"),
        ([[0.2], [0.3], [0.7], [0.8]], [1, 1, 1, 1], "at least 2 of each"),
        ([[0.2], [0.3], [0.7], [0.8]], [0, 1, 2, 1], "only 0/1"),
        ([[0.2], [np.inf], [0.7], [0.8]], [0, 1, 0, 1], "inf"),
        ([[0.2], [1.3], [0.7], [0.8]], [0, 1, 0, 1], r"probability in \[0, 1\]"),
        ([[0.2, 0.1], [0.3, 0.1]], [0, 1], "expects"),
        ([[np.nan], [np.nan], [0.7], [0.8]], [0, 0, 1, 1], "rows with 'sequence_prob' present"),
        (np.zeros((0, 1)), [], "empty"),
    ],
)
def test_fit_input_errors(X: Any, y: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PlattScaling().fit(np.asarray(X, dtype=float), y)


def test_fit_accepts_bool_labels_and_mappings() -> None:
    rows = [{"sequence_prob": p} for p in (0.9, 0.8, 0.3, 0.6)]
    a = PlattScaling().fit(rows, [True, False, False, True])
    b = PlattScaling().fit(np.array([[0.9], [0.8], [0.3], [0.6]]), [1, 0, 0, 1])
    assert a.a_ == b.a_ and a.b_ == b.b_


def test_logistic_bad_C() -> None:
    X, y = _three_features(13, n=100)
    with pytest.raises(ValueError, match="C must be"):
        LogisticCalibrator(features=["f0", "f1", "f2"], C=0).fit(X, y)


def test_features_must_be_a_sequence_of_names() -> None:
    with pytest.raises(ValueError, match="not a single string"):
        LogisticCalibrator(features="sequence_prob").fit([[0.1], [0.2], [0.8], [0.9]], [0, 0, 1, 1])


def test_make_calibrator_unknown_method() -> None:
    known = r"\['beta', 'histogram', 'isotonic', 'logistic', 'platt', 'temperature'\]"
    with pytest.raises(ValueError, match=rf"'spline'.*{known}"):
        make_calibrator("spline")
    assert isinstance(make_calibrator("temperature", feature="x"), TemperatureScaling)
    assert isinstance(make_calibrator("isotonic"), IsotonicCalibrator)
    assert isinstance(make_calibrator("beta"), BetaCalibration)
    assert make_calibrator("histogram", n_bins=7).n_bins == 7


# ----------------------------------------------------------------------------- JSON files


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
def test_json_round_trip(fitted: dict[str, BaseCalibrator], method: str, tmp_path: Path) -> None:
    cal = fitted[method]
    path = tmp_path / "cal.json"
    cal.save(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "langchain-calibrate.calibrator"
    assert doc["format_version"] == 1
    assert doc["method"] == method
    assert doc["feature_names"] == list(cal.feature_names)
    assert doc["n_samples"] == 2000
    loaded = load_calibrator(path)
    assert type(loaded) is type(cal)
    X = np.random.default_rng(0).uniform(0.01, 0.99, size=(300, len(cal.feature_names)))
    X[::3, 0] = np.nan
    np.testing.assert_array_equal(loaded.predict(X), cal.predict(X))
    assert loaded.to_dict() == cal.to_dict()
    assert type(cal).from_dict(cal.to_dict()).to_dict() == cal.to_dict()


def _tamper(fitted: dict[str, BaseCalibrator], method: str, tmp_path: Path, edit: Any) -> Path:
    doc = fitted[method].to_dict()
    edit(doc)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("method", "edit", "field"),
    [
        ("platt", lambda d: d.update(method="pickle"), "method"),
        ("platt", lambda d: d.update(format="something-else"), "format"),
        ("platt", lambda d: d.update(params=[1.0, 0.0]), "params"),
        ("platt", lambda d: d.update(format_version=2), "format_version"),
        ("platt", lambda d: d.update(format_version="1"), "format_version"),
        ("platt", lambda d: d["params"].update(a="1.5"), "params.a"),
        ("platt", lambda d: d["params"].update(b=True), "params.b"),
        ("platt", lambda d: d["params"].update(a=10**400), "params.a"),
        ("temperature", lambda d: d["params"].update(temperature=-1.0), "params.temperature"),
        ("temperature", lambda d: d["params"].update(missing_value=3.0), "params.missing_value"),
        ("temperature", lambda d: d["params"].pop("temperature"), "params.temperature"),
        ("temperature", lambda d: d.update(feature_names=["a", "b"]), "feature_names"),
        ("logistic", lambda d: d["params"]["coef"].pop(), "params.coef"),
        ("logistic", lambda d: d["params"]["scale"].__setitem__(0, -1.0), "params.scale[0]"),
        ("logistic", lambda d: d.update(feature_names=[]), "feature_names"),
        ("logistic", lambda d: d.update(n_samples=-4), "n_samples"),
        ("logistic", lambda d: d.update(fitted_at="yesterday"), "fitted_at"),
        ("logistic", lambda d: d.pop("library_version"), "library_version"),
        ("logistic", lambda d: d.update(__reduce__="os.system('rm -rf /')"), "__reduce__"),
        (
            "logistic",
            lambda d: d["params"].update(hook="__import__('os').system('id')"),
            "params.hook",
        ),
        (
            "logistic",
            lambda d: d["params"].update(intercept="__import__('os').getcwd()"),
            "params.intercept",
        ),
    ],
)
def test_tampered_files_are_refused(
    fitted: dict[str, BaseCalibrator], tmp_path: Path, method: str, edit: Any, field: str
) -> None:
    path = _tamper(fitted, method, tmp_path, edit)
    with pytest.raises(CalibratorFileError) as info:
        load_calibrator(path)
    message = str(info.value)
    assert str(path) in message
    assert f"'{field}'" in message
    assert "re-fit" in message  # says what to do


def test_newer_format_version_says_upgrade(
    fitted: dict[str, BaseCalibrator], tmp_path: Path
) -> None:
    path = _tamper(fitted, "platt", tmp_path, lambda d: d.update(format_version=7))
    with pytest.raises(CalibratorFileError, match="upgrade langchain-calibrate"):
        load_calibrator(path)


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"format": "langchain-calibrate.calibrator", "params": {"a": NaN}}',
        '{"format": "a", "format": "b"}',
        "",
    ],
)
def test_non_calibrator_json_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CalibratorFileError, match=r"bad\.json"):
        load_calibrator(path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04\x95\x00\xff\xfe")
    with pytest.raises(CalibratorFileError, match=r"model\.pkl"):
        load_calibrator(path)


def test_from_dict_of_other_method_is_refused(fitted: dict[str, BaseCalibrator]) -> None:
    with pytest.raises(CalibratorFileError, match="method"):
        PlattScaling.from_dict(fitted["temperature"].to_dict())
    assert isinstance(CalibratorFileError("x"), ValueError)
