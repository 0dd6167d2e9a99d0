"""An immutable snapshot of one study: its trials, their curves, and its decisions.

Optimizers see the study only through a :class:`History`; everything they decide must follow from
it (and the per-decision seed), which is what makes resuming and many workers exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from hyperrace.exceptions import ConfigurationError
from hyperrace.trial import DecisionRecord, Enqueued, TrialRecord, TrialStatus

__all__ = ["BEST_BY", "BestBy", "Direction", "History"]

Direction = Literal["minimize", "maximize"]
#: How trials are ranked (see :meth:`History.best`).
BestBy = Literal["last", "curve"]
#: What each rule of :data:`BestBy` means, in words (for the CLI and the docs).
BEST_BY: dict[str, str] = {
    "last": "the value at the highest fidelity reached; trials below it do not compete",
    "curve": "the best value anywhere on a trial's curve",
}


@dataclass(frozen=True, slots=True)
class History:
    """What a study has done so far.

    Attributes:
        direction: ``"minimize"`` or ``"maximize"`` the reported value.
        trials: every trial, in order of creation.
        n_decisions: how many decisions were recorded (the next one has this index).
        decisions: the recorded decisions, oldest first (may be empty when not loaded).
        version: the storage's change counter of the study when this snapshot was read: a later
            snapshot is read incrementally from it (only the trials changed since).
        enqueued: the configurations waiting in the study's queue, in order (``Study.enqueue``):
            the study starts them before it asks the optimizer for new ones.
    """

    direction: Direction
    trials: tuple[TrialRecord, ...] = ()
    n_decisions: int = 0
    decisions: tuple[DecisionRecord, ...] = ()
    version: int = 0
    enqueued: tuple[Enqueued, ...] = ()
    _positions: dict[int, int] | None = field(default=None, init=False, repr=False, compare=False)
    # :meth:`best` by rule, found once per snapshot (a dashboard's figures each ask for it)
    _best: dict[str, TrialRecord | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(self.trials)

    @property
    def decisions_loaded(self) -> bool:
        """Whether :attr:`decisions` holds every decision (not only their count)."""
        return len(self.decisions) == self.n_decisions

    def trial(self, trial_id: int) -> TrialRecord:
        """The trial with this id; ``KeyError`` naming the id if there is none."""
        positions = self._positions
        if positions is None:  # built once per snapshot: lookups by id are then O(1)
            positions = {t.trial_id: i for i, t in enumerate(self.trials)}
            object.__setattr__(self, "_positions", positions)
        i = positions.get(trial_id)
        if i is None:
            raise KeyError(f"no trial with trial_id={trial_id} in this history")
        return self.trials[i]

    def with_status(self, *statuses: TrialStatus) -> tuple[TrialRecord, ...]:
        """The trials whose status is one of ``statuses``."""
        return tuple(t for t in self.trials if t.status in statuses)

    @property
    def running(self) -> tuple[TrialRecord, ...]:
        return self.with_status(TrialStatus.RUNNING)

    @property
    def paused(self) -> tuple[TrialRecord, ...]:
        return self.with_status(TrialStatus.PAUSED)

    @property
    def completed(self) -> tuple[TrialRecord, ...]:
        return self.with_status(TrialStatus.COMPLETED)

    @property
    def failed(self) -> tuple[TrialRecord, ...]:
        return self.with_status(TrialStatus.FAILED)

    def loss(self, value: float) -> float:
        """``value`` turned into a loss: itself when minimizing, its negative when maximizing."""
        return value if self.direction == "minimize" else -value

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b`` in this study's direction."""
        return self.loss(a) < self.loss(b)

    @property
    def work(self) -> float:
        """Fidelity units trained over all trials, retraining included."""
        return sum(t.work for t in self.trials)

    @property
    def max_fidelity_reached(self) -> float:
        """The highest fidelity any trial reported (0 before the first report)."""
        return max((t.fidelity for t in self.trials), default=0.0)

    def best(self, by: BestBy = "last") -> TrialRecord | None:
        """The best trial; ``None`` while no trial that has not failed has reported a value.

        A failed trial is never the best: its last value is the one of a run that crashed or
        diverged. Among the others the rule ``by`` ranks:

        - ``"last"`` (default): only the trials at the highest fidelity any of them reached
          compete (comparing a value after 1 epoch with one after 50 would favour the short
          runs), by their value there;
        - ``"curve"``: every trial competes with the best value anywhere on its curve (as when
          the checkpoint of the best epoch is kept: early stopping).

        Ties go to the older trial.

        Examples:
            >>> from hyperrace.trial import Observation, TrialRecord, TrialStatus
            >>> def trial(number, status, *values):
            ...     curve = tuple(Observation(i + 1, v) for i, v in enumerate(values))
            ...     return TrialRecord(number, number, {}, status, curve)
            >>> h = History("minimize", (
            ...     trial(0, TrialStatus.COMPLETED, 0.9, 0.5, 0.4),
            ...     trial(1, TrialStatus.PAUSED, 0.3),
            ...     trial(2, TrialStatus.FAILED, 0.8, 0.2, 0.1, 0.05),
            ... ))
            >>> h.best().number, h.best(by="curve").number, h.best_value(by="curve")
            (0, 1, 0.3)
        """
        if by not in ("last", "curve"):
            raise ConfigurationError(f"by={by!r} is not a ranking rule; use one of {list(BEST_BY)}")
        found = self._best
        if found is None:
            found = {}
            object.__setattr__(self, "_best", found)
        if by not in found:
            found[by] = self._find_best(by)
        return found[by]

    def _find_best(self, by: BestBy) -> TrialRecord | None:
        healthy = [t for t in self.trials if t.curve and t.status != TrialStatus.FAILED]
        if not healthy:
            return None
        if by == "curve":
            return min(healthy, key=lambda t: (min(self.loss(o.value) for o in t.curve), t.number))
        # one pass, each trial's last point read once: the highest fidelity, then the lowest
        # loss there, then the oldest
        found, top, key = healthy[0], -math.inf, (math.inf, 0)
        for t in healthy:
            last = t.curve[-1]
            if last.fidelity < top:
                continue
            mine = (self.loss(last.value), t.number)
            if last.fidelity > top or mine < key:
                found, top, key = t, last.fidelity, mine
        return found

    def best_value(self, by: BestBy = "last") -> float | None:
        """The value that makes :meth:`best` the best (its last value for ``"last"``, the best
        value of its curve for ``"curve"``), or ``None``."""
        trial = self.best(by)
        if trial is None:
            return None
        if by == "curve":
            return min((o.value for o in trial.curve), key=self.loss)
        return trial.curve[-1].value

    def values_at(self, fidelity: float) -> list[tuple[TrialRecord, float]]:
        """Every (trial, value) reported at exactly ``fidelity``."""
        out = []
        for t in self.trials:
            v = t.value_at(fidelity)
            if v is not None:
                out.append((t, v))
        return out
