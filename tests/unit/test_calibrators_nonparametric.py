"""Isotonic regression and histogram binning: agreement with references, hand cases, warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from langchain_calibrate.calibrators import (
    HistogramBinningCalibrator,
    IsotonicCalibrator,
    SmallCalibrationSetWarning,
    load_calibrator,
)


def _data(seed: int, n: int, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.beta(2.0, 1.2, n)
    if decimals is not None:
        s = np.round(s, decimals)  # ties, as with coarse scores
    y = (rng.random(n) < expit(3.0 * (s - 0.6))).astype(int)
    return s, y


def _sklearn_isotonic(s: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(s, y)


def _new_points(s: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(99)
    return np.concatenate([rng.uniform(0.0, 1.0, 500), [0.0, 1.0, s.min(), s.max()], s[:50]])


# ----------------------------------------------------------------------------- isotonic


@pytest.mark.parametrize("decimals", [None, 2])
def test_isotonic_matches_sklearn_on_training_new_points_and_after_loading(
    decimals: int | None, tmp_path: Path
) -> None:
    s, y = _data(0, 3000, decimals)
    ref = _sklearn_isotonic(s, y)
    cal = IsotonicCalibrator().fit(s.reshape(-1, 1), y)
    np.testing.assert_allclose(cal.predict(s.reshape(-1, 1)), ref.predict(s), rtol=0, atol=1e-12)
    new = _new_points(s)
    np.testing.assert_allclose(cal.predict(new.reshape(-1, 1)), ref.predict(new), atol=1e-12)
    # Exactly at the breakpoints too.
    np.testing.assert_allclose(
        cal.predict(ref.X_thresholds_.reshape(-1, 1)), ref.y_thresholds_, atol=1e-12
    )
    cal.save(tmp_path / "iso.json")
    loaded = load_calibrator(tmp_path / "iso.json")
    assert isinstance(loaded, IsotonicCalibrator)
    np.testing.assert_array_equal(
        loaded.predict(new.reshape(-1, 1)), cal.predict(new.reshape(-1, 1))
    )
    np.testing.assert_allclose(loaded.predict(new.reshape(-1, 1)), ref.predict(new), atol=1e-12)


def test_isotonic_breakpoints_are_strictly_increasing_and_in_range() -> None:
    s, y = _data(1, 3000, decimals=2)
    cal = IsotonicCalibrator().fit(s.reshape(-1, 1), y)
    assert (np.diff(cal.X_thresholds_) > 0).all()
    assert (np.diff(cal.y_thresholds_) >= 0).all()
    assert 0.0 <= cal.y_thresholds_.min() <= cal.y_thresholds_.max() <= 1.0
    assert cal.X_thresholds_.size == cal.y_thresholds_.size < np.unique(s).size


def test_isotonic_missing_score_gets_the_lowest_step() -> None:
    s, y = _data(2, 1500)
    s[::10] = np.nan
    cal = IsotonicCalibrator().fit(s.reshape(-1, 1), y)
    assert cal.missing_value_ == pytest.approx(np.nanmin(s))
    assert cal.predict_one({"sequence_prob": None}) == pytest.approx(cal.y_thresholds_[0])


def test_isotonic_on_one_distinct_score_predicts_the_base_rate() -> None:
    y = np.array([0, 1, 1, 0, 1] * 220)
    cal = IsotonicCalibrator().fit(np.full((y.size, 1), 0.4), y)
    assert cal.X_thresholds_.tolist() == [0.4]
    np.testing.assert_allclose(cal.predict([[0.0], [0.4], [1.0]]), 0.6)


# ----------------------------------------------------------------------------- histogram


def test_histogram_hand_computed_equal_mass_bins() -> None:
    # 6 scores, 3 bins: edges are the 2nd and 4th smallest scores; bins (-inf, .2], (.2, .4],
    # (.4, inf) hold {.1, .2}, {.3, .4}, {.5, .6}, whose labels average 1/2, 1/2 and 1.
    s = [0.6, 0.1, 0.4, 0.3, 0.5, 0.2]
    y = [1, 0, 0, 1, 1, 1]
    with pytest.warns(SmallCalibrationSetWarning):
        cal = HistogramBinningCalibrator(n_bins=3).fit(s, y)
    assert cal.bin_edges_.tolist() == [0.2, 0.4]
    assert cal.bin_values_.tolist() == [0.5, 0.5, 1.0]
    points = [0.0, 0.1, 0.2, 0.2000001, 0.4, 0.41, 1.0]
    assert cal.predict(points).tolist() == [0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0]


def test_histogram_non_monotone_values_and_pessimistic_missing_value() -> None:
    s = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    y = [1, 1, 0, 0, 1, 0, 1, 1]
    with pytest.warns(SmallCalibrationSetWarning):
        cal = HistogramBinningCalibrator(n_bins=4).fit(s, y)
    assert cal.bin_edges_.tolist() == [0.2, 0.4, 0.6]
    assert cal.bin_values_.tolist() == [1.0, 0.0, 0.5, 1.0]
    # Missing evidence gets the lowest bin, which here is in the middle of the range.
    assert cal.missing_value_ == 0.3
    assert cal.predict_one({"sequence_prob": None}) == 0.0


def test_histogram_ties_never_straddle_an_edge() -> None:
    # Four tied scores at 0.2: the 2nd and 4th smallest are both 0.2, so the edges merge.
    with pytest.warns(SmallCalibrationSetWarning):
        cal = HistogramBinningCalibrator(n_bins=3).fit(
            [0.2, 0.2, 0.2, 0.2, 0.5, 0.9], [0, 1, 0, 0, 1, 0]
        )
    assert cal.bin_edges_.tolist() == [0.2]
    assert cal.bin_values_.tolist() == [0.25, 0.5]
    # Ties at the top would leave the last bin empty: that edge is dropped.
    with pytest.warns(SmallCalibrationSetWarning):
        cal = HistogramBinningCalibrator(n_bins=3).fit(
            [0.1, 0.5, 0.9, 0.9, 0.9, 0.9], [0, 1, 1, 1, 0, 1]
        )
    assert cal.bin_edges_.tolist() == [0.5]
    assert cal.bin_values_.tolist() == [0.5, 0.75]


def test_histogram_bins_hold_equal_mass_with_distinct_scores() -> None:
    s, y = _data(3, 3000)
    cal = HistogramBinningCalibrator(n_bins=15).fit(s.reshape(-1, 1), y)
    order = np.argsort(s)
    chunks = np.array_split(y[order], 15)  # 15 consecutive runs of 200 sorted rows
    np.testing.assert_allclose(cal.bin_values_, [c.mean() for c in chunks], atol=1e-15)
    assert cal.bin_edges_.tolist() == [s[order][200 * k - 1] for k in range(1, 15)]


def test_histogram_one_bin_is_the_base_rate() -> None:
    s, y = _data(4, 1000)
    cal = HistogramBinningCalibrator(n_bins=1).fit(s.reshape(-1, 1), y)
    assert cal.bin_edges_.size == 0
    np.testing.assert_allclose(cal.predict([[0.0], [0.5], [1.0]]), y.mean())


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, "15", 100_001])
def test_histogram_bad_n_bins(n_bins: object) -> None:
    s, y = _data(5, 1000)
    with pytest.raises(ValueError, match="n_bins must be"):
        HistogramBinningCalibrator(n_bins=n_bins).fit(s.reshape(-1, 1), y)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- warnings


@pytest.mark.parametrize("klass", [IsotonicCalibrator, HistogramBinningCalibrator])
def test_small_calibration_set_warns_with_count_and_alternatives(klass: type) -> None:
    s, y = _data(6, 300)
    with pytest.warns(SmallCalibrationSetWarning, match=r"300 labels") as record:
        klass().fit(s.reshape(-1, 1), y)
    message = str(record[0].message)
    assert all(name in message for name in ("'platt'", "'beta'", "'logistic'"))
    assert record[0].filename == __file__  # points at the caller's fit(), not the library
    assert issubclass(SmallCalibrationSetWarning, UserWarning)


@pytest.mark.parametrize("klass", [IsotonicCalibrator, HistogramBinningCalibrator])
def test_small_set_counts_only_rows_with_the_score(klass: type) -> None:
    s, y = _data(7, 1200)
    s[:300] = np.nan
    with pytest.warns(SmallCalibrationSetWarning, match=r"900 labels"):
        klass().fit(s.reshape(-1, 1), y)


@pytest.mark.parametrize("klass", [IsotonicCalibrator, HistogramBinningCalibrator])
def test_one_thousand_labels_do_not_warn(klass: type) -> None:
    s, y = _data(8, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallCalibrationSetWarning)
        klass().fit(s.reshape(-1, 1), y)
