"""A big study's history cut down to a bounded sample of whole curves, for a surrogate.

A learning-curve surrogate trains on every point of every curve: at a thousand observations that
is what wins the race, at a million (a study of 100,000 trials) one fit takes hours. Past
``max_observations`` points, :func:`bounded` keeps whole trials, chosen from the history alone
(a fresh instance picks the same), in two groups.

**The fit sample**, the trials whose points the surrogate trains on. It is chosen from the
*reports recorded up to a checkpoint* of the study's change counter (the largest multiple of
``max_observations // 4`` not above the snapshot's version; a report's
:attr:`~hyperrace.trial.Observation.seq` says when it was recorded), so that it stays the same
from one decision to the next until the counter passes the next checkpoint, whatever trials
start, pause or resume in between. That is what lets a fit chain
(:mod:`~hyperrace.optimizers._parts.surrogate.fit_chain`) find its fits in the memo: were the
sample to follow the running trials, every decision of a study with many workers would see other
points and replay its fits. Counting each trial's reports up to the checkpoint (and one failure
point for a trial that failed without a report), it holds

1. the best trials (by the best loss among those reports, ties to the older trial) until half of
   ``max_observations`` is used: the region the race refines, and the paused trials most worth
   resuming;
2. an even sample of the others, those whose trial number is a multiple of ``k`` (the smallest
   ``k`` that fits them in), until ``max_observations``: the rest of the space, failures
   included, so the model still learns where the losses are bad;
3. every trial without a report up to the checkpoint (those started since): the race just
   started them, may want to resume them, and learns from their first reports at once.

Its trials keep every point they have (their reports after the checkpoint too: at most a
checkpoint's period of them in all). Between two checkpoints the sample only gains trials that
start (with no point yet), so the points of one decision are the first points of the next.

**The running trials** outside the fit sample (older trials resumed) join the history the race
decides from: it fantasises them and predicts for them, and the surrogate does not train on their
points (their earlier points would change the order of the sample's).

The sample is a :class:`History` of the kept trials, in creation order, with the study's decision
count and version. What the race does not see are mediocre older trials: none is resumed while
the study is this big (beyond the sample, a paused trial is not a candidate).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hyperrace.history import History
from hyperrace.trial import TrialRecord, TrialStatus, gathered

__all__ = ["Memo", "Sample", "bounded"]


#: Per trial id: (its record, the checkpoint, its points, its points up to the checkpoint, its
#: best loss up to the checkpoint or None), for :func:`bounded`'s memo.
Memo = dict[int, tuple[TrialRecord, int, int, int, float | None]]


class Sample(NamedTuple):
    """What :func:`bounded` keeps.

    Attributes:
        history: the kept trials, as a history of the study.
        fit_trials: the ids of the trials whose points a surrogate trains on; None when the
            history was small enough to be kept whole (every point is trained on).
    """

    history: History
    fit_trials: frozenset[int] | None


def checkpoint(history: History, max_observations: int) -> int:
    """The change counter up to which reports choose the fit sample (see the module docstring)."""
    period = max(1, max_observations // 4)
    return history.version // period * period


def _summary(
    trial: TrialRecord, mark: int, minimize: bool, memo: Memo
) -> tuple[int, int, float | None]:
    """The trial's points now, its points up to the checkpoint ``mark`` and its best loss among
    those (None when it has no report there), memoized by record and checkpoint: an unchanged
    trial keeps its record object between snapshots."""
    hit = memo.get(trial.trial_id)
    if hit is not None and hit[0] is trial and hit[1] == mark:
        return hit[2], hit[3], hit[4]
    failed = trial.status is TrialStatus.FAILED
    values = [o.value for o in trial.curve if o.seq <= mark]
    best: float | None = None
    if values:
        best = min(values) if minimize else -max(values)
    early = len(values) + (failed and not trial.curve)
    points = len(trial.curve) + failed
    memo[trial.trial_id] = (trial, mark, points, early, best)
    return points, early, best


#: With more trials than this missing from the memo (a first decision), their summaries are
#: computed over the columns of their curves at once.
_AT_ONCE = 1000


def _summaries(
    trials: Sequence[TrialRecord], mark: int, minimize: bool, memo: Memo
) -> list[tuple[int, int, float | None]]:
    """:func:`_summary` of each trial; the trials the memo does not know, when there are many,
    computed in numpy over their curves' columns (:func:`~hyperrace.trial.gathered`: without a
    record per point when the curves are read in columns), the same numbers."""
    missing = [
        i
        for i, t in enumerate(trials)
        if (hit := memo.get(t.trial_id)) is None or hit[0] is not t or hit[1] != mark
    ]
    if len(missing) > _AT_ONCE:
        chosen = [trials[i] for i in missing]
        owners, columns = gathered([t.curve for t in chosen])
        m = len(chosen)
        sizes = np.bincount(owners, minlength=m)
        early_mask = columns.seq <= mark
        early = np.bincount(owners[early_mask], minlength=m)
        losses = np.where(early_mask, columns.value if minimize else -columns.value, np.inf)
        firsts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        best = np.full(m, np.inf)
        nonempty = sizes > 0
        if len(losses):
            best[nonempty] = np.minimum.reduceat(losses, firsts[nonempty])
        for t, n, e, b in zip(chosen, sizes.tolist(), early.tolist(), best.tolist(), strict=True):
            failed = t.status is TrialStatus.FAILED
            memo[t.trial_id] = (t, mark, n + failed, e + (failed and not n), b if e else None)
    return [_summary(t, mark, minimize, memo) for t in trials]


def bounded(history: History, max_observations: int, memo: Memo | None = None) -> Sample:
    """``history`` itself (with ``fit_trials`` None) when it holds at most ``max_observations``
    points, else the sample described in the module docstring: a fit sample of at most
    ``max_observations`` points counted up to the checkpoint (and the trials started since),
    and the running trials.

    ``memo``: a dictionary kept between calls on successive snapshots of one study (it only
    saves time: the sample is the same without it)."""
    if memo is None or len(memo) > 2 * len(history.trials) + 1000:
        memo = {} if memo is None else memo
        memo.clear()
    minimize = history.direction == "minimize"
    trials = history.trials
    mark = checkpoint(history, max_observations)
    summaries = _summaries(trials, mark, minimize, memo)
    if sum(points for points, _, _ in summaries) <= max_observations:
        return Sample(history, None)
    keep: list[int] = []
    taken: set[int] = set()
    used = 0
    half = max_observations // 2
    # every candidate has at least one point: the best `half` trials are enough to look at
    candidates = (
        (best, trials[i].number, i) for i, (_, _, best) in enumerate(summaries) if best is not None
    )
    for _, _, i in heapq.nsmallest(half, candidates):
        if used + summaries[i][1] > half:
            break
        keep.append(i)
        taken.add(i)
        used += summaries[i][1]
    room = max_observations - used
    total = sum(early for _, early, _ in summaries) - used  # the others' points
    # every k-th trial number, so that one more trial among the others moves no other
    k = max(1, math.ceil(total / room)) if room > 0 and total > 0 else 0
    running: list[int] = []  # those not started since the checkpoint
    for i, (t, (_, early, _)) in enumerate(zip(trials, summaries, strict=True)):
        if not early:  # started since the checkpoint
            keep.append(i)
            continue
        if t.status is TrialStatus.RUNNING:
            running.append(i)
        if k and t.number % k == 0 and i not in taken and used + early <= max_observations:
            keep.append(i)  # (in creation order)
            used += early
    fit = frozenset(trials[i].trial_id for i in keep)
    kept = sorted(set(keep).union(running))
    sample = History(
        history.direction,
        tuple(trials[i] for i in kept),
        history.n_decisions,
        (),
        history.version,
        history.enqueued,
    )
    return Sample(sample, fit)
