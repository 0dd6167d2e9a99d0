"""Trials: frozen records of configurations and curves, the objective's Trial handle, checkpoints."""

from hyperrace.trial._checkpoint import Checkpoint
from hyperrace.trial._handle import InvalidValue, ReportSink, Trial
from hyperrace.trial._records import (
    DecisionRecord,
    Observation,
    StopReason,
    TrialRecord,
    TrialStatus,
    check_value,
)

__all__ = [
    "Checkpoint",
    "InvalidValue",
    "ReportSink",
    "DecisionRecord",
    "Observation",
    "StopReason",
    "Trial",
    "TrialRecord",
    "TrialStatus",
    "check_value",
]
