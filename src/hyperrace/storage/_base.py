"""The storage protocol: the single source of truth of every study.

Contract
--------
* Every method is one transaction: when it returns, what it wrote is committed, and a process
  killed at any point leaves either all of it or none of it.
* Decisions are numbered 0, 1, 2, ... per study. :meth:`Storage.apply_decision` writes decision
  number ``index`` together with the trial it starts or resumes, and raises
  :class:`DecisionConflict` when that number is taken or the trial to resume is no longer paused:
  the caller then reads a fresh history and decides again. This is how many processes deciding at
  once stay consistent without any lock held between reading and writing.
* Deciding is also serialised where the storage can (:meth:`Storage.deciding`): a process that
  reads, decides and writes inside it makes the study's other deciders wait, so that a decision
  is not made twice and thrown away. It is an economy, not the guarantee: a decision made
  outside it (another storage, a lock not granted in time) still conflicts as above.
* Decisions are idempotent: each :class:`NewDecision` carries a key of its own
  (:attr:`NewDecision.key`, made by the client), stored with it. Applying a decision whose key
  the study holds already returns the decision recorded then, with its trial, and writes
  nothing: a retry after a lost answer (the commit went through, the connection dropped before
  the reply) gets the run it started instead of deciding again.
* A trial moves ``running -> paused | completed | failed`` (:meth:`end_run`), ``paused ->
  running`` (a resume decision), and ``running -> paused`` (or ``failed`` after too many
  retries) when its run is lost (:meth:`lose_run`, :meth:`recover_stale`). Completed and failed
  trials never change again.
* Reports are accepted only from running trials, one observation per (trial, fidelity): a report
  at a fidelity already recorded (a retrained step) replaces it. A NaN or infinite value is never
  stored: it fails the trial with the reason. Each stored observation is numbered
  (:attr:`Observation.seq <hyperrace.trial.Observation.seq>`) with the study's change counter
  in the transaction that commits it: a total order of the study's reports, the order they were
  committed in, the same for every reader. The same report again (same fidelity, value and
  time: a retry after a lost answer) changes nothing.
* Implementations are safe to call from several threads; SQL ones from several processes and
  machines at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hyperrace.exceptions import ConfigurationError
from hyperrace.history import BEST_BY, BestBy, Direction, History
from hyperrace.trial import (
    DecisionRecord,
    Observation,
    Resume,
    Start,
    StopReason,
    TrialRecord,
    TrialStatus,
)

__all__ = [
    "MAX_KEY_LENGTH",
    "DecisionConflict",
    "NewDecision",
    "Reported",
    "Storage",
    "StudyInfo",
    "StudySummary",
]


class DecisionConflict(Exception):
    """The decision index was taken, or the trial to resume was not paused: decide again."""


@dataclass(frozen=True, slots=True)
class StudyInfo:
    """What a study was created with.

    Attributes:
        study_id: unique in the storage.
        name: unique in the storage.
        direction: ``"minimize"`` or ``"maximize"``.
        space: the space as :meth:`hyperrace.space.Space.to_dict` gives it.
        optimizer: ``{"name": ..., "params": {...}}`` of the optimizer in use.
        seed: the study's seed; per-decision generators derive from it.
        created: seconds since the Unix epoch.
        elapsed_seconds: wall-clock seconds spent in ``optimize`` so far, over all sessions.
        attrs: small JSON values the study keeps (budget of the last run, for example).
    """

    study_id: int
    name: str
    direction: Direction
    space: Mapping[str, Any]
    optimizer: Mapping[str, Any]
    seed: int
    created: float = 0.0
    elapsed_seconds: float = 0.0
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StudySummary:
    """One line of a list of studies."""

    name: str
    direction: Direction
    n_trials: int
    n_running: int
    n_completed: int
    n_failed: int
    created: float
    best_value: float | None


#: The longest decision key a storage keeps (:attr:`NewDecision.key`).
MAX_KEY_LENGTH = 64


def check_numbers(numbers: Any) -> range:
    """``numbers`` of :meth:`Storage.trials`, checked: a range of step 1.

    Raises:
        ConfigurationError: it is something else; the message names it.
    """
    if not isinstance(numbers, range) or numbers.step != 1:
        raise ConfigurationError(
            f"numbers={numbers!r} must be a range of trial numbers with step 1, "
            "e.g. range(0, 100) for the first 100 trials"
        )
    return numbers


def check_best_by(by: Any) -> BestBy:
    """``by`` of :meth:`Storage.best_trial`, checked.

    Raises:
        ConfigurationError: it is not a ranking rule; the message lists them.
    """
    if by not in BEST_BY:
        raise ConfigurationError(f"by={by!r} is not a ranking rule; use one of {list(BEST_BY)}")
    return by  # type: ignore[no-any-return]


def _new_key() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class NewDecision:
    """A decision to write: start ``config`` or resume ``trial_id``, up to fidelity ``stop``
    (:meth:`of` makes one from an optimizer's :class:`~hyperrace.trial.Start` or
    :class:`~hyperrace.trial.Resume`).

    ``enqueued``: the index of the queued configuration (:meth:`Storage.enqueue`) a start takes
    out of the study's queue; the new trial gets that entry's user attributes.

    ``key``: what makes the decision idempotent (see the module docstring): a fresh random key
    per object unless given; 1 to :data:`MAX_KEY_LENGTH` characters, unique within the study.
    Retrying the same object after an error can never start a second run.
    """

    kind: Literal["start", "resume"]
    stop: float
    config: Mapping[str, Any] | None = None
    trial_id: int | None = None
    optimizer: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    enqueued: int | None = None
    key: str = field(default_factory=_new_key)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not 0 < len(self.key) <= MAX_KEY_LENGTH:
            raise ConfigurationError(
                f"decision key {self.key!r} must be a string of 1 to {MAX_KEY_LENGTH} "
                "characters; leave key out for a fresh random one"
            )

    def record(self, index: int, trial_id: int, start: float, now: float) -> DecisionRecord:
        """The record of this decision once written as the study's decision ``index`` (at
        ``now``), on trial ``trial_id`` from fidelity ``start``."""
        return DecisionRecord(
            index,
            self.kind,
            trial_id,
            start,
            self.stop,
            self.optimizer,
            dict(self.info),
            now,
            self.key,
        )

    @classmethod
    def of(
        cls,
        decision: Start | Resume,
        *,
        stop: float | None = None,
        optimizer: str = "",
        enqueued: int | None = None,
    ) -> NewDecision:
        """The decision to write for an optimizer's :class:`~hyperrace.trial.Start` or
        :class:`~hyperrace.trial.Resume`, with its info; ``stop`` replaces the decision's own
        (clipped to a budget), ``enqueued`` only for a start."""
        stop = decision.stop if stop is None else stop
        if isinstance(decision, Start):
            return cls(
                "start",
                stop,
                config=decision.config,
                optimizer=optimizer,
                info=decision.info,
                enqueued=enqueued,
            )
        return cls(
            "resume", stop, trial_id=decision.trial_id, optimizer=optimizer, info=decision.info
        )

    def same_as(self, record: DecisionRecord) -> bool:
        """Whether ``record`` (found under this decision's key) is this decision: the same
        kind, stop and, for a resume, trial."""
        return (
            record.kind == self.kind
            and record.stop == self.stop
            and (self.kind == "start" or record.trial_id == self.trial_id)
        )

    def key_reused(self, record: DecisionRecord) -> ConfigurationError:
        """The error for a key that names another decision (``record``) of the study."""
        return ConfigurationError(
            f"decision key {self.key!r} is the key of decision {record.index} of the study "
            f"(a {record.kind} of trial {record.trial_id} up to {record.stop:g}), not of this "
            f"{self.kind} up to {self.stop:g}; give each decision a key of its own (leave key "
            "out for a fresh random one)"
        )


@dataclass(frozen=True, slots=True)
class Reported:
    """What a report left: the trial's status (running, or failed for a non-finite value) and
    the fidelity it is granted (train up to ``target``)."""

    status: TrialStatus
    target: float


class Storage(Protocol):
    """Where studies live. See the module docstring for the contract."""

    @property
    def url(self) -> str:
        """A URL another process can open the same storage with (``memory://`` cannot be)."""
        ...

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
        """Create a study; if one of that name exists, return it unchanged (no error)."""
        ...

    def get_study(self, name: str) -> StudyInfo | None:
        """The study of that name, or ``None``."""
        ...

    def list_studies(self) -> list[StudySummary]:
        """Every study, oldest first, with counts of its trials and its best value
        (:meth:`History.best_value` by the rule of its ``best_by`` attribute, ``"last"`` when it
        has none); SQL storages keep the best values with the study and read them in one
        query."""
        ...

    def delete_study(self, name: str) -> bool:
        """Delete a study with its trials and decisions; False if there was none."""
        ...

    def set_study_optimizer(self, study_id: int, optimizer: Mapping[str, Any]) -> None:
        """Record the optimizer a study now uses (the user may switch between runs)."""
        ...

    def add_elapsed(self, study_id: int, seconds: float) -> None:
        """Add wall-clock seconds spent in ``optimize`` to the study's total."""
        ...

    def set_study_attr(self, study_id: int, key: str, value: Any) -> None:
        """Set one JSON-serialisable attribute of a study."""
        ...

    def enqueue(
        self,
        study_id: int,
        config: Mapping[str, Any],
        user_attrs: Mapping[str, Any],
        *,
        now: float,
    ) -> int:
        """Put ``config`` (JSON values) at the end of the study's queue of configurations to start
        first; return its index. It stays in :attr:`History.enqueued` until a start decision takes
        it (``NewDecision.enqueued``). Counts as a change of the study."""
        ...

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Set one JSON-serialisable user attribute of a trial, whatever its status (a change
        of the trial: the next snapshot shows it)."""
        ...

    def deciding(self, study_id: int) -> AbstractContextManager[None]:
        """A context in which this thread reads the study, decides and applies the decision
        while the study's other deciders wait (for at most a few seconds, then they go on
        without it). A storage whose processes cannot wait on each other returns a context that
        does nothing; deciding in it stays correct through :class:`DecisionConflict`. Not
        re-entrant: a thread enters it once per decision."""
        ...

    def apply_decision(
        self, study_id: int, index: int, decision: NewDecision, *, now: float
    ) -> tuple[DecisionRecord, TrialRecord]:
        """Write decision ``index`` and start or resume its trial, as one transaction; a start
        that takes an entry of the queue (``decision.enqueued``) takes it in the same one.

        When the study holds a decision of key ``decision.key`` already (this call's retry after
        a lost answer), return that decision and its trial as they are now, and write nothing.

        Raises:
            DecisionConflict: the index is taken, the trial to resume is not paused, or the
                queue entry was taken already.
            ConfigurationError: ``decision.key`` is the key of another decision of the study.
        """
        ...

    def report(
        self,
        trial_id: int,
        observation: Observation,
        *,
        work: float | None = None,
        checkpoint_fidelity: float | None = None,
        run: int | None = None,
    ) -> Reported:
        """Commit one observation of a running trial.

        Args:
            trial_id: the trial.
            observation: its value; NaN or inf fail the trial (the value is not stored).
            work: fidelity units trained since the previous report of this run; ``None``: the
                observation's fidelity less the highest one reported before (at least 0).
            checkpoint_fidelity: set when a checkpoint at that fidelity was saved with it.
            run: the index of the decision that started the reporting run, if known: a report
                from a run that is not the trial's current one (it was taken as lost, and the
                trial resumed by another) is refused.

        Returns:
            The trial's status after the report and its granted fidelity.

        Raises:
            TrialStateError: the trial is not running, or ``run`` is not its current run.
        """
        ...

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
        """End the current run of a running trial with ``status`` (paused, completed, failed).

        Raises:
            TrialStateError: the trial is not running, ``run`` (as in :meth:`report`) is not its
                current run, or ``status`` is ``running``.
        """
        ...

    def heartbeat(self, trial_ids: Sequence[int], *, now: float) -> None:
        """Mark running trials as alive at ``now``."""
        ...

    def set_devices(self, trial_id: int, devices: Sequence[str], *, run: int | None = None) -> None:
        """Record the devices the current run of a running trial trains on (``TrialRecord.
        devices``; empty: none assigned). A change of the trial, seen by incremental snapshots.

        Raises:
            TrialStateError: the trial is not running, or ``run`` (as in :meth:`report`) is not
                its current run.
        """
        ...

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
        """The run of a running trial was lost (its worker died): count it, and pause the trial
        (reason ``lost``) to be resumed from its checkpoint, or fail it once it has been lost
        more than ``max_retries`` times (``None``: never). A run that had reported its granted
        fidelity lost nothing: the trial ends as the run would have ended it (completed at
        ``max_fidelity``, otherwise paused, reason ``reached``) and the loss is not counted.

        Returns the new status, or ``None`` when nothing was changed: the trial was no longer
        running, or ``run`` (as in :meth:`report`) is not its current run (it was ended, or
        lost and resumed elsewhere)."""
        ...

    def recover_stale(
        self,
        study_id: int,
        *,
        older_than: float,
        now: float,
        max_retries: int | None = None,
        max_fidelity: float | None = None,
    ) -> list[int]:
        """:meth:`lose_run` for every running trial whose heartbeat is older than ``older_than``;
        return their ids."""
        ...

    def trial(self, trial_id: int) -> TrialRecord:
        """One trial with its curve; ``KeyError`` if there is none."""
        ...

    def trials(self, study_id: int, numbers: range) -> tuple[TrialRecord, ...]:
        """The study's trials whose numbers are in ``numbers`` (a range of step 1), with their
        curves, by number; those numbers that no trial has yet are left out. Reads only those
        trials: a page of a study of any size costs the page.

        Raises:
            ConfigurationError: ``numbers`` is not a range of step 1.
            KeyError: there is no such study.
        """
        ...

    def best_trial(self, study_id: int, by: BestBy = "last") -> TrialRecord | None:
        """:meth:`History.best(by) <hyperrace.history.History.best>` of the study, the same
        trial, with its curve, read without the rest of the study (SQL storages find it from the
        best values they keep with the study).

        Raises:
            ConfigurationError: ``by`` is not a ranking rule.
            KeyError: there is no such study.
        """
        ...

    def history(
        self, study_id: int, *, decisions: bool = False, since: History | None = None
    ) -> History:
        """A snapshot of the study (with its decision records when ``decisions`` is True).

        ``since``: an earlier snapshot of the same study; only what changed after it is read
        (trials whose status, curve or grant changed, new decisions) and the rest is shared
        with it, so that following a study of thousands of trials costs what changed, not the
        whole study. Heartbeats are not changes: a snapshot may hold older heartbeat times.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
