"""In-memory storage: for tests, notebooks and simulations that need no file."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from hyperrace.history import BEST_BY, BestBy, Direction, History
from hyperrace.storage._base import (
    DecisionConflict,
    NewDecision,
    Reported,
    StudyInfo,
    StudySummary,
    check_best_by,
    check_numbers,
)
from hyperrace.storage._rules import check_end_status, check_run, check_running
from hyperrace.trial import (
    DecisionRecord,
    Enqueued,
    Lost,
    Observation,
    RunState,
    StopReason,
    TrialRecord,
    TrialStatus,
    as_value,
    check_value,
    end_of_run,
)

__all__ = ["InMemoryStorage"]


class InMemoryStorage:
    """A storage that lives in this process only; thread-safe; lost when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, StudyInfo] = {}
        self._trials: dict[int, TrialRecord] = {}
        self._study_of: dict[int, int] = {}
        self._decisions: dict[int, list[DecisionRecord]] = {}
        self._keys: dict[int, dict[str, DecisionRecord]] = {}  # a study's decisions by key
        self._order: dict[int, list[int]] = {}  # a study's trial ids, by number
        self._version: dict[int, int] = {}  # a study's change counter
        self._changed_at: dict[int, int] = {}  # a trial's study version at its last change
        self._run: dict[int, int] = {}  # a trial's current run: the index of its decision
        self._queue: dict[int, list[tuple[Enqueued, int | None]]] = {}  # entry, trial taking it

    def _put(self, trial: TrialRecord) -> None:
        """Store a changed trial and count the change."""
        study_id = self._study_of[trial.trial_id]
        version = self._version.get(study_id, 0) + 1
        self._version[study_id] = version
        self._changed_at[trial.trial_id] = version
        self._trials[trial.trial_id] = trial

    @property
    def url(self) -> str:
        return "memory://"

    def _study_by_id(self, study_id: int) -> StudyInfo:
        for info in self._studies.values():
            if info.study_id == study_id:
                return info
        raise KeyError(f"no study with study_id={study_id}")

    def create_study(
        self,
        name: str,
        *,
        direction: Direction,
        space: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        seed: int,
        now: float,
    ) -> StudyInfo:
        with self._lock:
            if name in self._studies:
                return self._studies[name]
            study_id = max((s.study_id for s in self._studies.values()), default=0) + 1
            info = StudyInfo(
                study_id, name, direction, copy.deepcopy(dict(space)), dict(optimizer), seed, now
            )
            self._studies[name] = info
            self._decisions[study_id] = []
            return info

    def get_study(self, name: str) -> StudyInfo | None:
        with self._lock:
            return self._studies.get(name)

    def list_studies(self) -> list[StudySummary]:
        with self._lock:
            out = []
            for info in sorted(self._studies.values(), key=lambda s: s.study_id):
                h = self.history(info.study_id)
                by = info.attrs.get("best_by", "last")
                best = h.best_value(by if by in BEST_BY else "last")
                out.append(
                    StudySummary(
                        info.name,
                        info.direction,
                        len(h.trials),
                        len(h.running),
                        len(h.completed),
                        len(h.failed),
                        info.created,
                        best,
                    )
                )
            return out

    def delete_study(self, name: str) -> bool:
        with self._lock:
            info = self._studies.pop(name, None)
            if info is None:
                return False
            for tid in self._order.pop(info.study_id, []):
                del self._trials[tid], self._study_of[tid]
                self._changed_at.pop(tid, None)
                self._run.pop(tid, None)
            del self._decisions[info.study_id]
            self._keys.pop(info.study_id, None)
            self._version.pop(info.study_id, None)
            self._queue.pop(info.study_id, None)
            return True

    def _replace_study(self, study_id: int, **changes: Any) -> None:
        info = self._study_by_id(study_id)
        self._studies[info.name] = dataclasses.replace(info, **changes)

    def set_study_optimizer(self, study_id: int, optimizer: Mapping[str, Any]) -> None:
        with self._lock:
            self._replace_study(study_id, optimizer=dict(optimizer))

    def add_elapsed(self, study_id: int, seconds: float) -> None:
        with self._lock:
            info = self._study_by_id(study_id)
            self._replace_study(study_id, elapsed_seconds=info.elapsed_seconds + seconds)

    def set_study_attr(self, study_id: int, key: str, value: Any) -> None:
        with self._lock:
            info = self._study_by_id(study_id)
            self._replace_study(study_id, attrs={**info.attrs, key: copy.deepcopy(value)})

    def enqueue(
        self,
        study_id: int,
        config: Mapping[str, Any],
        user_attrs: Mapping[str, Any],
        *,
        now: float,
    ) -> int:
        with self._lock:
            self._study_by_id(study_id)
            queue = self._queue.setdefault(study_id, [])
            entry = Enqueued(
                len(queue), copy.deepcopy(dict(config)), copy.deepcopy(dict(user_attrs))
            )
            queue.append((entry, None))
            self._version[study_id] = self._version.get(study_id, 0) + 1
            return entry.index

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            old = self.trial(trial_id)
            attrs = {**old.user_attrs, key: copy.deepcopy(value)}
            self._put(dataclasses.replace(old, user_attrs=attrs))

    def deciding(self, study_id: int) -> AbstractContextManager[None]:
        # one process: its threads' decisions are already one at a time under the lock, and
        # a thread that lost the race decides again from what is in memory, at no real cost
        return contextlib.nullcontext()

    def apply_decision(
        self, study_id: int, index: int, decision: NewDecision, *, now: float
    ) -> tuple[DecisionRecord, TrialRecord]:
        with self._lock:
            records = self._decisions[study_id]
            keys = self._keys.setdefault(study_id, {})
            done = keys.get(decision.key)
            if done is not None:  # applied before: its answer was lost
                if not decision.same_as(done):
                    raise decision.key_reused(done)
                return done, self._trials[done.trial_id]
            if index != len(records):
                raise DecisionConflict(f"decision {index} of study {study_id} is taken")
            if decision.kind == "start":
                if decision.config is None:
                    raise ValueError("a start decision needs a config")
                queue = self._queue.get(study_id, [])
                user_attrs: Mapping[str, Any] = {}
                if decision.enqueued is not None:
                    k = decision.enqueued
                    if not 0 <= k < len(queue) or queue[k][1] is not None:
                        raise DecisionConflict(
                            f"queued configuration {k} of study {study_id} is taken"
                        )
                    user_attrs = copy.deepcopy(dict(queue[k][0].user_attrs))
                trial_id = max(self._trials, default=0) + 1
                number = len(self._order.get(study_id, []))
                trial = TrialRecord(
                    trial_id,
                    number,
                    copy.deepcopy(dict(decision.config)),
                    TrialStatus.RUNNING,
                    target=decision.stop,
                    created=now,
                    updated=now,
                    heartbeat=now,
                    user_attrs=user_attrs,
                )
                self._study_of[trial_id] = study_id
                self._order.setdefault(study_id, []).append(trial_id)
                if decision.enqueued is not None:
                    queue[decision.enqueued] = (queue[decision.enqueued][0], trial_id)
            else:
                if decision.trial_id is None:
                    raise ValueError("a resume decision needs a trial_id")
                old = self._trials.get(decision.trial_id)
                if old is None or self._study_of[old.trial_id] != study_id:
                    raise DecisionConflict(f"trial {decision.trial_id} is not in study {study_id}")
                if old.status is not TrialStatus.PAUSED:
                    raise DecisionConflict(
                        f"trial {old.trial_id} is {old.status.value}, not paused"
                    )
                trial = dataclasses.replace(
                    old,
                    status=TrialStatus.RUNNING,
                    target=decision.stop,
                    reason=StopReason.NONE,
                    message="",
                    updated=now,
                    heartbeat=now,
                )
            self._put(trial)
            self._run[trial.trial_id] = index
            record = DecisionRecord(
                index,
                decision.kind,
                trial.trial_id,
                0.0 if decision.kind == "start" else trial.fidelity,
                decision.stop,
                decision.optimizer,
                copy.deepcopy(dict(decision.info)),
                now,
                decision.key,
            )
            records.append(record)
            keys[decision.key] = record
            return record, trial

    def report(
        self,
        trial_id: int,
        observation: Observation,
        *,
        work: float | None = None,
        checkpoint_fidelity: float | None = None,
        run: int | None = None,
    ) -> Reported:
        with self._lock:
            trial = self._trials[trial_id]
            check_running(trial_id, trial.status, "report to")
            check_run(trial_id, run, self._run.get(trial_id), "report to")
            problem = check_value(observation.value)
            if problem is None:  # a Python float, whatever number type the caller gave
                observation = dataclasses.replace(observation, value=as_value(observation.value))
            if work is None:
                work = observation.fidelity - trial.fidelity
            if problem is not None:
                trial = dataclasses.replace(
                    trial,
                    status=TrialStatus.FAILED,
                    reason=StopReason.INVALID_VALUE,
                    message=f"{problem} at fidelity {observation.fidelity}",
                    updated=observation.time,
                    heartbeat=None,
                )
            else:
                if any(
                    (o.fidelity, o.value, o.time)
                    == (observation.fidelity, observation.value, observation.time)
                    for o in trial.curve
                ):
                    # the same report again (its answer was lost): nothing changes
                    return Reported(trial.status, trial.target)
                # numbered with the study's change counter, as _put is about to count it
                seq = self._version.get(self._study_of[trial_id], 0) + 1
                curve = [o for o in trial.curve if o.fidelity != observation.fidelity]
                curve.append(dataclasses.replace(observation, seq=seq))
                curve.sort(key=lambda o: o.fidelity)
                trial = dataclasses.replace(
                    trial,
                    curve=tuple(curve),
                    work=trial.work + max(work, 0.0),
                    checkpoint_fidelity=(
                        trial.checkpoint_fidelity
                        if checkpoint_fidelity is None
                        else checkpoint_fidelity
                    ),
                    updated=observation.time,
                    heartbeat=observation.time,
                )
            self._put(trial)
            return Reported(trial.status, trial.target)

    def end_run(
        self,
        trial_id: int,
        status: TrialStatus,
        reason: StopReason,
        message: str,
        *,
        now: float,
        run: int | None = None,
    ) -> None:
        check_end_status(status)
        with self._lock:
            trial = self._trials[trial_id]
            check_running(trial_id, trial.status, "end the run of")
            check_run(trial_id, run, self._run.get(trial_id), "end the run of")
            trial = dataclasses.replace(
                trial, status=status, reason=reason, message=message, updated=now, heartbeat=None
            )
            self._put(trial)

    def set_devices(self, trial_id: int, devices: Sequence[str], *, run: int | None = None) -> None:
        with self._lock:
            trial = self._trials[trial_id]
            check_running(trial_id, trial.status, "record the devices of")
            check_run(trial_id, run, self._run.get(trial_id), "record the devices of")
            self._put(dataclasses.replace(trial, devices=tuple(devices)))

    def heartbeat(self, trial_ids: Sequence[int], *, now: float) -> None:
        with self._lock:
            for tid in trial_ids:
                trial = self._trials.get(tid)
                if trial is not None and trial.status is TrialStatus.RUNNING:
                    self._trials[tid] = dataclasses.replace(trial, heartbeat=now)

    def _lose(
        self,
        trial: TrialRecord,
        message: str,
        now: float,
        max_retries: int | None,
        max_fidelity: float | None,
    ) -> TrialStatus:
        ending = end_of_run(RunState.of(trial, max_fidelity), Lost(message, max_retries))
        self._put(
            dataclasses.replace(
                trial,
                status=ending.status,
                reason=ending.reason,
                message=ending.message,
                updated=now,
                heartbeat=None,
                lost_count=trial.lost_count + ending.lost,
            )
        )
        return ending.status

    def lose_run(
        self,
        trial_id: int,
        message: str,
        *,
        now: float,
        max_retries: int | None = None,
        run: int | None = None,
        max_fidelity: float | None = None,
    ) -> TrialStatus | None:
        with self._lock:
            trial = self._trials[trial_id]
            if trial.status is not TrialStatus.RUNNING:
                return None
            if run is not None and run != self._run.get(trial_id):
                return None
            return self._lose(trial, message, now, max_retries, max_fidelity)

    def recover_stale(
        self,
        study_id: int,
        *,
        older_than: float,
        now: float,
        max_retries: int | None = None,
        max_fidelity: float | None = None,
    ) -> list[int]:
        with self._lock:
            out = []
            for tid in self._order.get(study_id, []):
                trial = self._trials[tid]
                if trial.status is TrialStatus.RUNNING and (trial.heartbeat or 0.0) < older_than:
                    message = "its worker stopped sending heartbeats"
                    self._lose(trial, message, now, max_retries, max_fidelity)
                    out.append(tid)
            return sorted(out)

    def trial(self, trial_id: int) -> TrialRecord:
        with self._lock:
            if trial_id not in self._trials:
                raise KeyError(f"no trial with trial_id={trial_id}")
            return self._trials[trial_id]

    def trials(self, study_id: int, numbers: range) -> tuple[TrialRecord, ...]:
        numbers = check_numbers(numbers)
        with self._lock:
            self._study_by_id(study_id)
            order = self._order.get(study_id, [])
            first, stop = max(numbers.start, 0), min(numbers.stop, len(order))
            return tuple(self._trials[order[n]] for n in range(first, stop))

    def best_trial(self, study_id: int, by: BestBy = "last") -> TrialRecord | None:
        by = check_best_by(by)
        with self._lock:
            return self.history(study_id).best(by)

    def history(
        self, study_id: int, *, decisions: bool = False, since: History | None = None
    ) -> History:
        with self._lock:
            info = self._study_by_id(study_id)
            version = self._version.get(study_id, 0)
            order = self._order.get(study_id, [])
            records = self._decisions[study_id]
            decs = tuple(records) if decisions else ()
            if since is not None and since.version <= version and len(since.trials) <= len(order):
                if since.version == version and (not decisions or since.decisions_loaded):
                    return since
                trials = list(since.trials)
                for number in range(len(trials)):
                    if self._changed_at.get(order[number], 0) > since.version:
                        trials[number] = self._trials[order[number]]
                trials.extend(self._trials[tid] for tid in order[len(trials) :])
                if decisions and since.decisions_loaded:
                    decs = since.decisions + tuple(records[since.n_decisions :])
            else:
                trials = [self._trials[tid] for tid in order]
            waiting = tuple(e for e, taken in self._queue.get(study_id, []) if taken is None)
            return History(info.direction, tuple(trials), len(records), decs, version, waiting)

    def close(self) -> None:
        """Nothing to release."""
