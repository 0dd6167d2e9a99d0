"""Builders of histories for optimizer tests: drive a study with ask/report/tell, no training."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from hyperrace.history import History
from hyperrace.optimizers import Done, Wait
from hyperrace.study import Job, Study
from hyperrace.trial import curves_from_columns, gathered

__all__ = ["drive", "in_columns"]


def in_columns(history: History) -> History:
    """The same history with every curve that has observations held in columns (a
    :class:`~hyperrace.trial.Curve` over one :class:`~hyperrace.trial.CurveColumns`), as a
    storage's read of a whole big study gives it: an optimizer must decide the same on both."""
    trials = history.trials
    owners, columns = gathered([t.curve for t in trials])
    ids = np.array([t.trial_id for t in trials], dtype=np.int64)[owners]
    curves = curves_from_columns(ids, columns)
    held = tuple(dataclasses.replace(t, curve=curves.get(t.trial_id, ())) for t in trials)
    return dataclasses.replace(history, trials=held)


def drive(
    study: Study,
    steps: int,
    value: Callable[[dict[str, Any], float], float],
    *,
    on_job: Callable[[Study, Job], None] | None = None,
    fail: Callable[[dict[str, Any]], bool] | None = None,
) -> int:
    """Run ``steps`` jobs one after another with ask/report/tell; return how many ran.

    Each job reports ``value(config, f)`` at every whole step after ``job.start`` up to
    ``job.stop`` (for a fidelity in seconds, the last report is at ``job.stop`` exactly).
    ``on_job`` is called right after each ``ask`` (before any report), to inspect the decision.
    ``fail(config)`` true makes the job fail instead.
    """
    ran = 0
    for _ in range(steps):
        job = study.ask()
        if isinstance(job, Wait | Done):
            break
        if on_job is not None:
            on_job(study, job)
        if fail is not None and fail(dict(job.config)):
            study.tell(job, error="failed on purpose")
        else:
            f = job.start
            while f < job.stop:
                f = min(float(int(f) + 1), job.stop)  # whole steps; seconds end at the stop
                if not study.report(job.trial_id, fidelity=f, value=value(dict(job.config), f)):
                    break
            study.tell(job)
        ran += 1
    return ran
