"""A big study's history cut down to a bounded sample of whole curves, for a surrogate.

A learning-curve surrogate trains on every point of every curve: at a thousand observations that
is what wins the race, at a million (a study of 100,000 trials) one fit takes hours. Past
``max_observations`` points, :func:`bounded` keeps whole trials, chosen from the history alone
(a fresh instance picks the same), by what the race needs of them:

1. every running trial (the race fantasises them);
2. the best trials (by the best loss on their curve, ties to the older trial) until half of the
   points are used: the region the race refines, and the paused trials most worth resuming;
3. an even sample, by trial number, of the others until ``max_observations``: the rest of the
   space, failures included, so the model still learns where the losses are bad.

A trial's points are its reports plus one failure point if it failed. The sample is a
:class:`History` of the kept trials, in creation order, with the study's decision count and
version. What the race does not see are mediocre trials: none is resumed while the study is this
big (beyond the sample, a paused trial is not a candidate).
"""

from __future__ import annotations

import heapq
import math

from hyperrace.history import History
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = ["Memo", "bounded"]


#: Per trial id: (its record, its points, its best loss or None), for :func:`bounded`'s memo.
Memo = dict[int, tuple[TrialRecord, int, float | None]]


def _summary(trial: TrialRecord, minimize: bool, memo: Memo) -> tuple[int, float | None]:
    """The trial's number of points and its best loss (None if it failed or has no report),
    memoized by record: an unchanged trial keeps its record object between snapshots."""
    hit = memo.get(trial.trial_id)
    if hit is not None and hit[0] is trial:
        return hit[1], hit[2]
    failed = trial.status is TrialStatus.FAILED
    best: float | None = None
    if trial.curve and not failed:
        values = [o.value for o in trial.curve]
        best = min(values) if minimize else -max(values)
    points = len(trial.curve) + failed
    memo[trial.trial_id] = (trial, points, best)
    return points, best


def bounded(history: History, max_observations: int, memo: Memo | None = None) -> History:
    """``history`` itself when it holds at most ``max_observations`` points, else the sample of
    whole trials described in the module docstring (at most ``max_observations`` points, unless
    the running trials alone hold more).

    ``memo``: a dictionary kept between calls on successive snapshots of one study (it only
    saves time: the sample is the same without it)."""
    if memo is None or len(memo) > 2 * len(history.trials) + 1000:
        memo = {} if memo is None else memo
        memo.clear()
    minimize = history.direction == "minimize"
    trials = history.trials
    summaries = [_summary(t, minimize, memo) for t in trials]
    if sum(points for points, _ in summaries) <= max_observations:
        return history
    keep = [i for i, t in enumerate(trials) if t.status is TrialStatus.RUNNING]
    used = sum(summaries[i][0] for i in keep)
    taken = set(keep)
    half = max(used, max_observations // 2)
    # every kept trial has at least one point: the best `half` trials are enough to look at
    candidates = (
        (best, trials[i].number, i)
        for i, (_, best) in enumerate(summaries)
        if best is not None and i not in taken
    )
    for _, _, i in heapq.nsmallest(half, candidates):
        if used + summaries[i][0] > half:
            break
        keep.append(i)
        taken.add(i)
        used += summaries[i][0]
    rest = [i for i in range(len(trials)) if i not in taken]  # in creation order
    room = max_observations - used
    total = sum(summaries[i][0] for i in rest)
    if room > 0 and total > 0:
        for i in rest[:: max(1, math.ceil(total / room))]:
            if used + summaries[i][0] <= max_observations:
                keep.append(i)
                used += summaries[i][0]
    keep.sort()
    return History(
        history.direction,
        tuple(trials[i] for i in keep),
        history.n_decisions,
        (),
        history.version,
        history.enqueued,
    )
