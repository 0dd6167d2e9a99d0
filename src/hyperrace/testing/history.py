"""Builders of histories for optimizer tests: drive a study with ask/report/tell, no training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperrace.optimizers import Done, Wait
from hyperrace.study import Job, Study

__all__ = ["drive"]


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
