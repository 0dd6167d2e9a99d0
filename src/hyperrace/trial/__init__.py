"""Trials: frozen records of configs, curves and decisions, the objective's Trial handle,
checkpoints."""

from hyperrace.trial._checkpoint import TRUSTED_ENV, Checkpoint, trial_folder
from hyperrace.trial._handle import InvalidValue, ReportMirror, ReportSink, Trial
from hyperrace.trial._records import (
    Decision,
    DecisionRecord,
    Done,
    Enqueued,
    Observation,
    Resume,
    Start,
    StopReason,
    TrialRecord,
    TrialStatus,
    Wait,
    as_value,
    check_user_attr,
    check_value,
    curves_from_rows,
    short_repr,
)

__all__ = [
    "TRUSTED_ENV",
    "Checkpoint",
    "Decision",
    "DecisionRecord",
    "Done",
    "Enqueued",
    "InvalidValue",
    "Observation",
    "ReportMirror",
    "ReportSink",
    "Resume",
    "Start",
    "StopReason",
    "Trial",
    "TrialRecord",
    "TrialStatus",
    "Wait",
    "as_value",
    "check_user_attr",
    "check_value",
    "curves_from_rows",
    "short_repr",
    "trial_folder",
]
