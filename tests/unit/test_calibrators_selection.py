"""select_calibrator: cross-validated choice of method, its explanation, and its errors."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from langchain_calibrate.calibrators import (
    SELECTION_METHODS,
    CalibratorSelection,
    IsotonicCalibrator,
    LogisticCalibrator,
    PlattScaling,
    SmallCalibrationSetWarning,
    load_calibrator,
    select_calibrator,
)
from langchain_calibrate.signals import FEATURE_NAMES, Signals


def _draw(
    seed: int, n: int, true_map: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(0.0, 2.0, n))
    y = (rng.random(n) < true_map(p)).astype(int)
    return p, y


def _platt_map(p: np.ndarray) -> np.ndarray:
    return expit(0.5 * logit(p) - 1.0)


def _step_map(p: np.ndarray) -> np.ndarray:
    # Plateaus no sigmoid of logit(p) can follow (nor beta calibration's family).
    return np.select([p < 0.3, p < 0.8], [0.2, 0.7], 0.9)


@pytest.fixture(scope="module")
def small_platt() -> CalibratorSelection:
    p, y = _draw(0, 300, _platt_map)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallCalibrationSetWarning)  # silenced inside CV
        return select_calibrator(p.reshape(-1, 1), y)


def test_small_platt_shaped_set_picks_a_parametric_method(
    small_platt: CalibratorSelection,
) -> None:
    assert small_platt.method in {"platt", "beta"}
    assert small_platt.calibrator.method == small_platt.method
    assert small_platt.calibrator.n_samples_ == 300
    assert list(small_platt.scores) == list(SELECTION_METHODS)
    assert set(small_platt.not_eligible) == {"isotonic", "histogram"}
    assert small_platt.failed == {}


def test_reason_names_the_choice_the_runner_up_and_the_label_count(
    small_platt: CalibratorSelection,
) -> None:
    reason = small_platt.reason
    assert reason.startswith(f"chose {small_platt.method}: mean CV NLL ")
    assert f"{small_platt.scores[small_platt.method]:.3f}" in reason
    assert "5 stratified folds, 300 labels" in reason
    assert "isotonic" in reason and "histogram" in reason
    assert "only 300 labels have 'sequence_prob'" in reason and "1,000" in reason
    assert "SmallCalibrationSetWarning" in reason
    assert str(small_platt) == reason


def test_scores_are_cross_validated_nll_recomputed_independently(
    small_platt: CalibratorSelection,
) -> None:
    p, y = _draw(0, 300, _platt_map)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(p[:, None], y)
    nll = [
        log_loss(y[test], PlattScaling().fit(p[train, None], y[train]).predict(p[test, None]))
        for train, test in folds
    ]
    assert small_platt.scores["platt"] == pytest.approx(np.mean(nll), abs=1e-12)
    assert small_platt.score_std["platt"] == pytest.approx(np.std(nll, ddof=1), abs=1e-12)
    assert all(math.isfinite(v) and v > 0 for v in small_platt.scores.values())


def test_small_sets_never_pick_a_non_parametric_method() -> None:
    for seed in range(1, 5):
        p, y = _draw(seed, 300, _platt_map)
        chosen = select_calibrator(p.reshape(-1, 1), y, methods=("platt", "beta", "isotonic"))
        assert chosen.method in {"platt", "beta"}


def test_large_step_shaped_set_picks_a_non_parametric_method() -> None:
    p, y = _draw(1, 20_000, _step_map)
    chosen = select_calibrator(p.reshape(-1, 1), y)
    assert chosen.method in {"isotonic", "histogram"}
    assert chosen.not_eligible == {}
    parametric = min(chosen.scores[m] for m in ("temperature", "platt", "beta", "logistic"))
    assert chosen.scores[chosen.method] < parametric - 0.01
    assert "20000 labels" in chosen.reason


def test_ties_go_to_fewer_parameters() -> None:
    p, y = _draw(2, 400, lambda p: expit(0.7 * logit(p)))
    exact = select_calibrator(
        p.reshape(-1, 1), y, methods=("beta", "platt", "temperature"), tie_tolerance=0.0
    )
    assert exact.method == min(exact.scores, key=exact.scores.__getitem__)
    everything_ties = select_calibrator(
        p.reshape(-1, 1), y, methods=("beta", "platt", "temperature"), tie_tolerance=10.0
    )
    assert everything_ties.method == "temperature"
    if exact.method != "temperature":
        assert "tied with the lowest" in everything_ties.reason


def test_small_set_with_only_non_parametric_methods_warns_on_refit() -> None:
    p, y = _draw(3, 300, _platt_map)
    with pytest.warns(SmallCalibrationSetWarning, match="300 labels"):
        chosen = select_calibrator(p.reshape(-1, 1), y, methods=("isotonic",))
    assert isinstance(chosen.calibrator, IsotonicCalibrator)
    assert "may overfit" in chosen.reason


def test_lowering_the_threshold_lets_cross_validation_decide() -> None:
    p, y = _draw(4, 600, _step_map)
    with pytest.warns(SmallCalibrationSetWarning, match="600 labels"):  # from the refit
        chosen = select_calibrator(
            p.reshape(-1, 1),
            y,
            methods=("platt", "isotonic", "histogram"),
            nonparametric_min_labels=0,
        )
    assert chosen.method in {"isotonic", "histogram"}
    assert chosen.not_eligible == {}
    assert "silenced in cross-validation" in chosen.reason


def test_signals_input_uses_all_features_for_logistic() -> None:
    rng = np.random.default_rng(5)
    n = 400
    p = expit(rng.normal(0.0, 2.0, n))
    support = rng.uniform(0.0, 1.0, n)
    y = (rng.random(n) < expit(0.5 * logit(p) + 2.0 * (support - 0.5))).astype(int)
    rows = [
        Signals(sequence_prob=None if i % 10 == 0 else float(a), lexical_support=float(b))
        for i, (a, b) in enumerate(zip(p, support, strict=True))
    ]
    chosen = select_calibrator(rows, y, methods=("platt", "logistic"))
    assert chosen.method == "logistic"  # the support signal carries information Platt ignores
    assert isinstance(chosen.calibrator, LogisticCalibrator)
    assert chosen.calibrator.feature_names == FEATURE_NAMES
    assert 0.0 < chosen.calibrator.predict_one(rows[1]) < 1.0
    only = select_calibrator(rows, y, methods=("isotonic", "platt"))
    assert "only 360 labels have 'sequence_prob'" in only.reason


def test_named_array_columns(tmp_path: Path) -> None:
    p, y = _draw(6, 300, _platt_map)
    X = np.column_stack([p, np.zeros_like(p)])
    chosen = select_calibrator(
        X, y, methods=("platt", "logistic"), features=["sequence_prob", "n_documents"]
    )
    assert chosen.calibrator.feature_names in {("sequence_prob",), ("sequence_prob", "n_documents")}
    path = tmp_path / "chosen.json"
    chosen.calibrator.save(path)
    assert load_calibrator(path).to_dict() == chosen.calibrator.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"methods": "platt"}, "sequence of names"),
        ({"methods": ()}, "sequence of names"),
        ({"methods": ("platt", "spline")}, r"Unknown calibration methods \['spline'\]"),
        ({"methods": ("platt", "platt")}, "twice"),
        ({"cv": 1}, "cv must be"),
        ({"cv": 2.0}, "cv must be"),
        ({"seed": "x"}, "seed must be"),
        ({"tie_tolerance": -1.0}, "tie_tolerance"),
        ({"nonparametric_min_labels": -5}, "nonparametric_min_labels"),
        ({"feature": ""}, "feature must be"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    p, y = _draw(7, 100, _platt_map)
    with pytest.raises(ValueError, match=match):
        select_calibrator(p.reshape(-1, 1), y, **kwargs)  # type: ignore[arg-type]


def test_one_class_is_refused() -> None:
    p, _ = _draw(8, 100, _platt_map)
    with pytest.raises(ValueError, match=r"only correct \(1\) answers \(100 labels\)"):
        select_calibrator(p.reshape(-1, 1), np.ones(100))


def test_too_few_labels_of_a_class_for_the_folds() -> None:
    p = np.linspace(0.05, 0.95, 40)
    y = np.r_[np.zeros(4), np.ones(36)]
    with pytest.raises(ValueError, match=r"cv=5 folds need at least 5 correct and 5 incorrect"):
        select_calibrator(p.reshape(-1, 1), y)
    assert select_calibrator(p.reshape(-1, 1), y, cv=4, methods=("platt",)).cv == 4
    with pytest.raises(ValueError, match="cv=2 folds need at least 4"):
        select_calibrator(p.reshape(-1, 1), np.r_[np.zeros(3), np.ones(37)], cv=2)


def test_unnamed_multi_column_array_is_refused() -> None:
    with pytest.raises(ValueError, match=r"3 columns; name them with features="):
        select_calibrator(np.full((50, 3), 0.5), np.tile([0, 1], 25))
    with pytest.raises(ValueError, match=r"'sequence_prob' is not among X's columns"):
        select_calibrator(np.full((50, 1), 0.5), np.tile([0, 1], 25), features=["n_documents"])


def test_rows_lacking_logistic_features_fail_only_logistic() -> None:
    p, y = _draw(9, 300, _platt_map)
    rows = [{"sequence_prob": float(v)} for v in p]  # no other signal keys at all
    chosen = select_calibrator(rows, y, methods=("platt", "logistic"))
    assert chosen.method == "platt"
    assert set(chosen.failed) == {"logistic"}
    assert "lacks features" in chosen.failed["logistic"]
    assert "Could not fit logistic (row 0 lacks features" in chosen.reason
    with pytest.raises(ValueError, match=r"No calibration method could be fit.*logistic: row 0"):
        select_calibrator(rows, y, methods=("logistic",))
