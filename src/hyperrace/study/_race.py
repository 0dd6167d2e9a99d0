"""The race of one study: the only writer of its decisions.

A :class:`Race` holds what deciding needs (the storage, the study's id and name, its space,
optimizer and seed, the clock, the checkpoint folder) and the liveness settings of the runs it
hands out (:class:`~hyperrace.executors.Liveness`: heartbeat interval, when a run is taken as
lost or hung, how many lost runs a trial may have).
:meth:`Race.next` decides and records the next job; :meth:`Race.spec` says how an executor runs
it. ``Study`` (ask / tell), the race loop of ``optimize`` and the keeper of an ask/tell process
all use a race, and none of them uses another.

Safe to share between threads: the only state is the latest snapshots read (under a lock); the
settings are fixed once built (:meth:`Race.with_liveness` gives a copy with others).
"""

from __future__ import annotations

import copy
import math
import threading
from pathlib import Path

from hyperrace._clock import Clock
from hyperrace._rng import decision_rng
from hyperrace.exceptions import ConfigurationError
from hyperrace.executors import Liveness, RunSpec
from hyperrace.history import History
from hyperrace.optimizers import Decision, Done, Optimizer, Resume, Start, Wait
from hyperrace.space import Space
from hyperrace.storage import DecisionConflict, NewDecision, Storage
from hyperrace.study._budget import Budget
from hyperrace.study._job import Job
from hyperrace.trial import TrialStatus

__all__ = ["Race"]

#: Decisions tried in a row before giving up, each lost to another process deciding first.
_MAX_CONFLICTS = 200


class _Snapshots:
    """The latest snapshots read, without and with decisions: the next read starts from them.
    Shared by a race and its copies."""

    def __init__(self) -> None:
        self.latest: dict[bool, History] = {}
        self.lock = threading.Lock()


class Race:
    """Decides and records the jobs of study ``study_id``.

    Args:
        storage: where the study lives.
        study_id: the study's id in ``storage``.
        name: the study's name (for messages and thread names).
        space: the study's search space.
        optimizer: what decides.
        seed: the study's seed: decision ``i`` draws from the generator of ``(seed, i)``.
        clock: where time comes from.
        artifacts: the folder of the study's checkpoints.
        liveness: the liveness settings of the runs it hands out, checked when the record was
            made (default: ``Liveness()``).
    """

    def __init__(
        self,
        *,
        storage: Storage,
        study_id: int,
        name: str,
        space: Space,
        optimizer: Optimizer,
        seed: int,
        clock: Clock,
        artifacts: str | Path,
        liveness: Liveness | None = None,
    ) -> None:
        self.storage = storage
        self.study_id = study_id
        self.name = name
        self.space = space
        self.optimizer = optimizer
        self.seed = seed
        self.clock = clock
        self.artifacts = artifacts
        self.liveness = Liveness() if liveness is None else liveness
        self._snapshots = _Snapshots()

    def with_liveness(self, liveness: Liveness) -> Race:
        """This race with the liveness settings ``liveness``; it shares this race's snapshots,
        so that reads stay incremental. ``self`` when they are the same."""
        if liveness == self.liveness:
            return self
        race = copy.copy(self)
        race.liveness = liveness
        return race

    # -- reading ------------------------------------------------------------------------------

    def history(self, *, decisions: bool = False) -> History:
        """A snapshot of the study now (with its decision records when ``decisions``), read
        incrementally from the previous one."""
        snapshots = self._snapshots
        with snapshots.lock:
            snapshot = self.storage.history(
                self.study_id, decisions=decisions, since=snapshots.latest.get(decisions)
            )
            snapshots.latest[decisions] = snapshot
            return snapshot

    @property
    def elapsed_seconds(self) -> float:
        """Wall-clock seconds spent racing, over every call, as the storage recorded them."""
        info = self.storage.get_study(self.name)
        return info.elapsed_seconds if info else 0.0

    @property
    def max_fidelity(self) -> float:
        """The highest fidelity of the space (1 without a fidelity: its one step)."""
        return float(self.space.fidelity.high) if self.space.fidelity is not None else 1.0

    @property
    def integer_fidelity(self) -> bool:
        """Whether fidelities are whole epochs or steps (not seconds)."""
        return self.space.fidelity is None or self.space.fidelity.is_integer

    # -- liveness -----------------------------------------------------------------------------

    def recover(self) -> list[int]:
        """Take running trials whose heartbeat is older than ``liveness.stale_after`` seconds as
        lost: pause them to be resumed, or fail those lost more than ``liveness.max_retries``
        times. Returns their ids."""
        live = self.liveness
        return self.recover_stale(stale_after=live.stale_after, max_retries=live.max_retries)

    def recover_stale(self, *, stale_after: float, max_retries: int | None) -> list[int]:
        """:meth:`recover` with these numbers instead of the race's own (``Study.recover``: one
        round by hand)."""
        now = self.clock.timestamp()
        return self.storage.recover_stale(
            self.study_id,
            older_than=now - stale_after,
            now=now,
            max_retries=max_retries,
            max_fidelity=self.max_fidelity,
        )

    # -- deciding -----------------------------------------------------------------------------

    def next(self, budget: Budget | None, *, elapsed: float | None = None) -> Job | Wait | Done:
        """Decide and record the next job, deciding again when another process recorded a
        decision first.

        Args:
            budget: counted over the whole study: the job's ``stop`` is clipped to the epochs
                left (those granted to running trials count as spent); ``Done`` once it is spent.
            elapsed: seconds spent racing so far, for ``budget.seconds`` (default: the seconds
                the storage recorded).

        Returns:
            The job; or the optimizer's ``Wait`` (also when the epochs left are all granted to
            running trials) or ``Done`` (also when the budget is spent, with the reason).

        Raises:
            ConfigurationError: the optimizer decided something the study cannot do.
        """
        if elapsed is None:
            elapsed = self.elapsed_seconds if budget and budget.seconds else 0.0
        # the study's other deciders wait meanwhile (where the storage can make them): a
        # decision made at the same time as another would be thrown away and made again
        with self.storage.deciding(self.study_id):
            return self._next(budget, elapsed)

    def _next(self, budget: Budget | None, elapsed: float) -> Job | Wait | Done:
        for _ in range(_MAX_CONFLICTS):
            history = self.history()
            usage = budget.usage(history, elapsed) if budget is not None else None
            if usage is not None and usage.exhausted:
                return Done(usage.exhausted)  # before asking: no decision is made to be dropped
            if usage is not None and not usage.can_start and not history.paused:
                return Done(f"the trial budget ({usage.budget.trials}) is spent")
            decision, enqueued = self._decide(history)
            if isinstance(decision, Wait | Done):
                return decision
            self._validate(decision, history)
            start = (
                0.0 if isinstance(decision, Start) else history.trial(decision.trial_id).fidelity
            )
            stop = decision.stop
            if budget is not None and usage is not None:
                if isinstance(decision, Start) and not usage.can_start:
                    return Done(f"the trial budget ({budget.trials}) is spent")
                stop = self._clip(start, stop, usage.epochs_left)
                if stop <= start:
                    return Wait("the epoch budget left is granted to running trials")
            made_by = "study" if "resumed" in decision.info else self.optimizer.name
            new = NewDecision.of(decision, stop=stop, optimizer=made_by, enqueued=enqueued)
            try:
                record, trial = self.storage.apply_decision(
                    self.study_id, history.n_decisions, new, now=self.clock.timestamp()
                )
            except DecisionConflict:
                continue
            return Job(
                trial.trial_id,
                trial.number,
                dict(trial.config),
                self._native(record.start),
                self._native(record.stop),
                record.kind,
                record.index,
                dict(record.info),
            )
        raise RuntimeError(f"no decision could be recorded after {_MAX_CONFLICTS} conflicts")

    def spec(self, job: Job, *, budget: Budget | None = None) -> RunSpec:
        """How an executor runs ``job``: its trial and stop, the study's fidelity, the time slice
        of ``budget``, and this race's liveness settings (its heartbeats, when it is hung, how
        many lost runs its trial may have)."""
        fidelity = self.space.fidelity
        return RunSpec(
            study_id=self.study_id,
            trial_id=job.trial_id,
            stop=job.stop,
            max_fidelity=self.max_fidelity,
            integer_fidelity=self.integer_fidelity,
            artifacts=str(self.artifacts),
            time_slice=budget.time_slice if budget else None,
            slice_clock=budget.slice_clock if budget else "auto",
            fidelity_clock=fidelity.clock if fidelity is not None else "auto",
            hard_stop_grace=budget.grace_in_effect if budget else None,
            liveness=self.liveness,
            decision=job.decision,
        )

    def _native(self, fidelity: float) -> float:
        """An int for epochs and steps (``range(job.start + 1, job.stop + 1)`` works), the float
        itself for seconds."""
        if self.integer_fidelity and float(fidelity).is_integer():
            return int(fidelity)
        return fidelity

    def _clip(self, start: float, stop: float, left: float) -> float:
        stop = min(stop, start + left)
        return float(math.floor(stop)) if self.integer_fidelity else stop

    def _decide(self, history: History) -> tuple[Decision, int | None]:
        """The next decision, and the queue entry a start takes (``None``: none)."""
        interrupted = [
            t for t in history.paused if t.reason.is_interruption and t.fidelity < t.target
        ]
        if interrupted:
            t = interrupted[0]
            return Resume(t.trial_id, t.target, {"resumed": "interrupted"}), None
        rng = decision_rng(self.seed, history.n_decisions)
        decision = self.optimizer.decide(self.space, history, rng)
        if not history.enqueued or isinstance(decision, Resume | Wait):
            return decision, None
        # the queue comes first: the optimizer's start (its budget and bookkeeping) with the
        # queued values; once the optimizer is done, the queue still trains to the maximum
        entry = history.enqueued[0]
        if isinstance(decision, Start):
            config, stop, info = dict(decision.config), decision.stop, dict(decision.info)
        else:
            config, stop, info = self.space.sample(rng), self.max_fidelity, {}
        config.update(entry.config)
        return Start(config, stop, {**info, "enqueued": entry.index}), entry.index

    def _validate(self, decision: Start | Resume, history: History) -> None:
        name = self.optimizer.name
        high = self.max_fidelity
        low = float(self.space.fidelity.low) if self.space.fidelity is not None else 1.0
        if not (low <= decision.stop <= high):
            raise ConfigurationError(
                f"optimizer {name!r} asked for stop={decision.stop}, outside the fidelity range "
                f"[{low:g}, {high:g}]"
            )
        if isinstance(decision, Start):
            self.space.validate(decision.config)
        else:
            trial = history.trial(decision.trial_id)
            if trial.status is not TrialStatus.PAUSED or decision.stop <= trial.fidelity:
                raise ConfigurationError(
                    f"optimizer {name!r} asked to resume trial {trial.trial_id} "
                    f"({trial.status.value} at fidelity {trial.fidelity:g}) up to "
                    f"{decision.stop:g}; only paused trials can be resumed, to a higher fidelity"
                )

    def __repr__(self) -> str:
        return f"Race({self.name!r}, optimizer={self.optimizer.name!r})"
