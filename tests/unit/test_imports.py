"""The public surface: every name in __all__ imports, and nothing else is promised."""

from __future__ import annotations

import importlib

import langchain_calibrate

EXPECTED_ALL = [
    "BaseCalibrator",
    "BetaCalibration",
    "CALIBRATION_EVENT",
    "CalibratedRunnable",
    "Calibration",
    "CalibrationHandler",
    "CalibratorFileError",
    "CalibratorSelection",
    "Candidate",
    "ConfidenceThreshold",
    "HistogramBinningCalibrator",
    "IsotonicCalibrator",
    "LogisticCalibrator",
    "LowConfidenceError",
    "PlattScaling",
    "ROUTING_EVENT",
    "RoutingDecision",
    "RunEvidence",
    "RunLogWriter",
    "ScoredRetriever",
    "SignalConfig",
    "Signals",
    "SmallCalibrationSetWarning",
    "TemperatureScaling",
    "ThresholdWarning",
    "Tier",
    "TierDecision",
    "TieredRouter",
    "TokenLogprob",
    "TopLogprob",
    "UNRELIABLE_FLAGS",
    "__version__",
    "compute_signals",
    "fit_coverage_threshold",
    "fit_risk_threshold",
    "load_calibrator",
    "load_threshold",
    "make_calibrator",
    "normalize_logprobs",
    "read_runs",
    "require_confidence",
    "route_by_confidence",
    "route_by_tiers",
    "select_calibrator",
    "with_calibration",
]


def test_all_is_sorted_and_complete() -> None:
    assert sorted(langchain_calibrate.__all__) == sorted(EXPECTED_ALL)
    assert len(set(langchain_calibrate.__all__)) == len(langchain_calibrate.__all__)


def test_every_public_name_resolves_lazily() -> None:
    fresh = importlib.reload(langchain_calibrate)
    for name in fresh.__all__:
        assert getattr(fresh, name) is not None
    assert sorted(dir(fresh)) == sorted(EXPECTED_ALL)


def test_unknown_attribute_is_a_clear_error() -> None:
    try:
        langchain_calibrate.nope  # noqa: B018
    except AttributeError as exc:
        assert "has no attribute 'nope'" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("langchain_calibrate").joinpath("py.typed").is_file()
