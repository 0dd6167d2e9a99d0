"""Trials: frozen records of configs and curves, the objective's Trial handle, checkpoints."""

from hyperrace.trial._checkpoint import TRUSTED_ENV, Checkpoint
from hyperrace.trial._handle import InvalidValue, ReportMirror, ReportSink, Trial
from hyperrace.trial._records import (
    DecisionRecord,
    Enqueued,
    Observation,
    StopReason,
    TrialRecord,
    TrialStatus,
    as_value,
    check_user_attr,
    check_value,
    short_repr,
)

__all__ = [
    "TRUSTED_ENV",
    "Checkpoint",
    "DecisionRecord",
    "Enqueued",
    "InvalidValue",
    "Observation",
    "ReportMirror",
    "ReportSink",
    "StopReason",
    "Trial",
    "TrialRecord",
    "TrialStatus",
    "as_value",
    "check_user_attr",
    "check_value",
    "short_repr",
]
