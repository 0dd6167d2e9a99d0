"""Decisions are records of hyperrace.trial, re-exported where they were, and the storage's
NewDecision is made from them."""

from __future__ import annotations

import hyperrace as hr
import hyperrace.optimizers as optimizers
import hyperrace.trial as trial
from hyperrace.storage import NewDecision


def test_decisions_are_the_same_records_everywhere() -> None:
    for name in ("Start", "Resume", "Wait", "Done", "Decision"):
        assert getattr(optimizers, name) is getattr(trial, name)
    for name in ("Start", "Resume", "Wait", "Done"):
        assert getattr(hr, name) is getattr(trial, name)
    assert trial.Start.__module__ == "hyperrace.trial._records"


def test_new_decision_of_a_start_and_of_a_resume() -> None:
    start = trial.Start({"x": 0.5}, 9.0, {"rung": 0})
    new = NewDecision.of(start, stop=3.0, optimizer="asha", enqueued=2)
    assert (new.kind, new.stop, dict(new.config or {}), new.trial_id) == (
        "start",
        3.0,
        {"x": 0.5},
        None,
    )
    assert (new.optimizer, dict(new.info), new.enqueued) == ("asha", {"rung": 0}, 2)
    resume = NewDecision.of(trial.Resume(7, 27.0, {"rung": 2}), optimizer="study", enqueued=4)
    assert (resume.kind, resume.stop, resume.config, resume.trial_id) == ("resume", 27.0, None, 7)
    assert (resume.optimizer, dict(resume.info), resume.enqueued) == ("study", {"rung": 2}, None)
    assert new.key != NewDecision.of(start).key  # each gets a fresh key
