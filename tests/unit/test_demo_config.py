"""The demo's question split: reported and calibration questions never overlap."""

from __future__ import annotations

import pytest

from langchain_calibrate.demo import DemoConfig, _check_config, _choose_rows


def test_calibration_rows_are_disjoint_from_reported_rows_and_sized() -> None:
    reported, extra = _choose_rows(5000, DemoConfig(questions=300, seed=0))
    assert len(reported) == 300 and len(set(reported)) == 300
    assert len(extra) == 300 and len(set(extra)) == 300  # default: as many as --questions
    assert not set(reported) & set(extra)
    assert all(0 <= r < 5000 for r in (*reported, *extra))


def test_reported_rows_do_not_depend_on_the_calibration_set_size() -> None:
    # Figures with and without a calibration set are then on the same questions.
    base, none = _choose_rows(5000, DemoConfig(questions=300, seed=3, fit_questions=0))
    more, extra = _choose_rows(5000, DemoConfig(questions=300, seed=3, fit_questions=900))
    assert base == more and none == [] and len(extra) == 900
    other, _ = _choose_rows(5000, DemoConfig(questions=300, seed=4))
    assert other != base


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (DemoConfig(questions=300, fit_questions=-1), "--fit-questions must be 0 or more"),
        (DemoConfig(questions=3000, fit_questions=2001), "plus --fit-questions 2001"),
        (DemoConfig(questions=2600), r"2600 \(its default: as many as --questions\)"),
        (DemoConfig(questions=2600), "pass --fit-questions 2400 or less"),
    ],
)
def test_bad_calibration_set_sizes_are_refused_before_any_work(
    config: DemoConfig, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _check_config(config)


def test_rows_up_to_the_development_limit_are_accepted() -> None:
    _check_config(DemoConfig(questions=2500))  # 2500 + 2500 = all 5000 development rows
    reported, extra = _choose_rows(5000, DemoConfig(questions=2500))
    assert sorted((*reported, *extra)) == list(range(5000))
