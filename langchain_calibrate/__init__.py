"""langchain-calibrate: calibrated confidence for LangChain RAG applications.

Capture evidence inside runs (``CalibrationHandler``, ``ScoredRetriever``), turn it into signals
(``compute_signals``), map the signals to a probability of being correct (the calibrators), attach
it to a chain's output (``with_calibration``) and act on it (``route_by_confidence``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from langchain_calibrate._version import __version__

if TYPE_CHECKING:
    from langchain_calibrate.calibrators import (
        BaseCalibrator,
        BetaCalibration,
        CalibratorFileError,
        CalibratorSelection,
        HistogramBinningCalibrator,
        IsotonicCalibrator,
        LogisticCalibrator,
        PlattScaling,
        SmallCalibrationSetWarning,
        TemperatureScaling,
        load_calibrator,
        make_calibrator,
        select_calibrator,
    )
    from langchain_calibrate.handler import (
        CalibrationHandler,
        RunEvidence,
    )
    from langchain_calibrate.logprobs import (
        TokenLogprob,
        TopLogprob,
        normalize_logprobs,
    )
    from langchain_calibrate.result import (
        Calibration,
        Candidate,
    )
    from langchain_calibrate.retrievers import (
        ScoredRetriever,
    )
    from langchain_calibrate.routing import (
        ROUTING_EVENT,
        LowConfidenceError,
        RoutingDecision,
        require_confidence,
        route_by_confidence,
    )
    from langchain_calibrate.runlog import (
        RunLogWriter,
        read_runs,
    )
    from langchain_calibrate.runnable import (
        CALIBRATION_EVENT,
        CalibratedRunnable,
        with_calibration,
    )
    from langchain_calibrate.signals import (
        UNRELIABLE_FLAGS,
        SignalConfig,
        Signals,
        compute_signals,
    )
    from langchain_calibrate.thresholds import (
        ConfidenceThreshold,
        ThresholdWarning,
        fit_coverage_threshold,
        fit_risk_threshold,
        load_threshold,
    )
    from langchain_calibrate.tiers import (
        Tier,
        TierDecision,
        TieredRouter,
        route_by_tiers,
    )

__all__ = (
    "CALIBRATION_EVENT",
    "ROUTING_EVENT",
    "UNRELIABLE_FLAGS",
    "BaseCalibrator",
    "BetaCalibration",
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
)

# Imported on first use so `import langchain_calibrate` stays cheap (scikit-learn, faiss).
_dynamic_imports = {
    "BaseCalibrator": "calibrators",
    "BetaCalibration": "calibrators",
    "CalibratorFileError": "calibrators",
    "CalibratorSelection": "calibrators",
    "HistogramBinningCalibrator": "calibrators",
    "IsotonicCalibrator": "calibrators",
    "LogisticCalibrator": "calibrators",
    "PlattScaling": "calibrators",
    "SmallCalibrationSetWarning": "calibrators",
    "TemperatureScaling": "calibrators",
    "load_calibrator": "calibrators",
    "make_calibrator": "calibrators",
    "select_calibrator": "calibrators",
    "CalibrationHandler": "handler",
    "RunEvidence": "handler",
    "TokenLogprob": "logprobs",
    "TopLogprob": "logprobs",
    "normalize_logprobs": "logprobs",
    "Calibration": "result",
    "Candidate": "result",
    "ScoredRetriever": "retrievers",
    "LowConfidenceError": "routing",
    "ROUTING_EVENT": "routing",
    "RoutingDecision": "routing",
    "require_confidence": "routing",
    "route_by_confidence": "routing",
    "RunLogWriter": "runlog",
    "read_runs": "runlog",
    "CALIBRATION_EVENT": "runnable",
    "CalibratedRunnable": "runnable",
    "with_calibration": "runnable",
    "SignalConfig": "signals",
    "Signals": "signals",
    "UNRELIABLE_FLAGS": "signals",
    "compute_signals": "signals",
    "ConfidenceThreshold": "thresholds",
    "ThresholdWarning": "thresholds",
    "fit_coverage_threshold": "thresholds",
    "fit_risk_threshold": "thresholds",
    "load_threshold": "thresholds",
    "Tier": "tiers",
    "TierDecision": "tiers",
    "TieredRouter": "tiers",
    "route_by_tiers": "tiers",
}


def __getattr__(name: str) -> Any:
    module_name = _dynamic_imports.get(name)
    if module_name is None:
        msg = f"module 'langchain_calibrate' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(import_module(f"langchain_calibrate.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
