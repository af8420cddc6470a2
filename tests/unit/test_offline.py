"""The demo's cross-fitting: no reported confidence comes from a calibrator that saw its label."""

from __future__ import annotations

import numpy as np
import pytest

from langchain_calibrate.offline import cross_fit_confidences, fold_ids
from langchain_calibrate.signals import Signals


def synthetic(n: int, seed: int = 0) -> tuple[list[Signals], np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    signals = [
        Signals(
            sequence_prob=float(x),
            mean_logprob=float(np.log(x)),
            max_relevance=float(rng.uniform()),
            n_documents=1.0,
        )
        for x in p
    ]
    return signals, (rng.uniform(size=n) < p).astype(float)


def test_flipping_a_folds_labels_leaves_its_own_confidences_unchanged() -> None:
    signals, labels = synthetic(200)
    base = cross_fit_confidences(signals, labels, folds=5, seed=3)
    fold = fold_ids(len(signals), 5, 3)
    flipped = labels.copy()
    flipped[fold == 0] = 1 - flipped[fold == 0]
    again = cross_fit_confidences(signals, flipped, folds=5, seed=3)
    assert np.allclose(base[fold == 0], again[fold == 0])
    assert not np.allclose(base[fold != 0], again[fold != 0])
    assert np.all((base >= 0) & (base <= 1))


def test_folds_are_balanced_and_need_two() -> None:
    fold = fold_ids(103, 5, 0)
    assert sorted(np.bincount(fold)) == [20, 20, 21, 21, 21]
    signals, labels = synthetic(20)
    with pytest.raises(ValueError, match="folds must be >= 2"):
        cross_fit_confidences(signals, labels, folds=1, seed=0)


@pytest.mark.parametrize("i", [0, 57, 199])
def test_repeated_cross_fitting_never_lets_a_run_see_its_own_label(i: int) -> None:
    # Every repeat puts run i in a held-out fold, so its averaged confidence cannot move when
    # only its own label changes, while runs whose calibrators trained on it do move.
    signals, labels = synthetic(200)
    base = cross_fit_confidences(signals, labels, folds=5, seed=3, repeats=4)
    flipped = labels.copy()
    flipped[i] = 1 - flipped[i]
    again = cross_fit_confidences(signals, flipped, folds=5, seed=3, repeats=4)
    assert again[i] == pytest.approx(base[i], abs=1e-12)
    others = np.arange(len(labels)) != i
    assert np.abs(again[others] - base[others]).max() > 1e-6


def test_one_repeat_is_plain_cross_fitting_and_more_repeats_use_other_splits() -> None:
    signals, labels = synthetic(200)
    plain = cross_fit_confidences(signals, labels, folds=5, seed=3)
    assert np.array_equal(cross_fit_confidences(signals, labels, folds=5, seed=3, repeats=1), plain)
    averaged = cross_fit_confidences(signals, labels, folds=5, seed=3, repeats=3)
    assert np.all((averaged >= 0) & (averaged <= 1))
    assert not np.allclose(averaged, plain)


@pytest.mark.parametrize("repeats", [0, -1, 1.5, True])
def test_repeats_must_be_a_positive_integer(repeats: object) -> None:
    signals, labels = synthetic(40)
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        cross_fit_confidences(signals, labels, folds=5, seed=0, repeats=repeats)  # type: ignore[arg-type]


def test_a_calibration_set_trains_every_fold_but_is_never_predicted() -> None:
    signals, labels = synthetic(100, seed=1)
    extra, extra_labels = synthetic(150, seed=2)
    base = cross_fit_confidences(signals, labels, folds=5, seed=0)
    joined = cross_fit_confidences(
        signals, labels, folds=5, seed=0, calibration_signals=extra, calibration_labels=extra_labels
    )
    assert joined.shape == (100,) and np.all((joined >= 0) & (joined <= 1))
    assert not np.allclose(joined, base)  # the calibration runs were learned from
    # A run's own label still never reaches its confidence.
    flipped = labels.copy()
    flipped[7] = 1 - flipped[7]
    again = cross_fit_confidences(
        signals,
        flipped,
        folds=5,
        seed=0,
        calibration_signals=extra,
        calibration_labels=extra_labels,
    )
    assert again[7] == pytest.approx(joined[7], abs=1e-12)


def test_calibration_signals_and_labels_must_pair_up() -> None:
    signals, labels = synthetic(40)
    with pytest.raises(ValueError, match="calibration_signals has 3 runs but calibration_labels"):
        cross_fit_confidences(
            signals, labels, calibration_signals=signals[:3], calibration_labels=[0, 1]
        )


def test_numpy_integer_repeats_are_accepted() -> None:
    signals, labels = synthetic(40)
    plain = cross_fit_confidences(signals, labels, folds=5, seed=0, repeats=2)
    as_numpy = cross_fit_confidences(signals, labels, folds=5, seed=0, repeats=np.int64(2))  # type: ignore[arg-type]
    assert np.array_equal(plain, as_numpy)


def test_signals_and_labels_must_pair_up() -> None:
    signals, labels = synthetic(40)
    with pytest.raises(ValueError, match="signals has 40 runs but labels has 30"):
        cross_fit_confidences(signals, labels[:30])
