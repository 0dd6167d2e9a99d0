"""Staged: settle the cheap hyperparameters on cheap budgets first, then let the expensive grow.

A practitioner's strategy, made an optimizer. Some hyperparameters change only the quality of
training (learning rate, decay, momentum); others change what a step costs (batch size, width,
depth). Refine the first kind while training is cheap, holding the second at its cheapest; then
let the second grow, a little at a time, where it still pays.

Stages (every one follows from the history alone, so a fresh instance decides as a long-lived
one):

0. **Probe**: the first ``n_probe`` trials (by number) are random configurations trained to the
   lowest rung. They measure what a step costs across the whole space.
1. **Cheap first**: once every probe has reported (or failed), a cost model
   (:class:`~hyperrace.optimizers._parts.surrogate.cost.CostModel`, fitted on the probes' first rung
   only, so it never changes afterwards) marks as *expensive* every hyperparameter that moves the
   cost of a step by more than ``cost_factor`` across its range. Those are held at their cheapest
   value (the low or high end of a numeric range, the cheapest choice of a categorical); the others
   are searched with BOHB's density model (fitted on this stage's trials, over the cheap ones only),
   raced by ASHA up to the second-highest rung only: cheap budgets.
2. **Grow**: when the best loss at stage 1's top rung has not improved by ``min_improvement``
   (relative) over ``patience`` arrivals there, stage 2 begins. The cheap hyperparameters keep
   coming from stage 1's model (concentrated where stage 1 found good values); the expensive ones
   are drawn uniformly from a region that starts at their cheapest value and spans ``1 / levels``
   of their range; each time the improvement at the maximum fidelity stalls likewise, the region
   grows by another ``1 / levels``. ASHA races this stage's trials over every rung.
3. The last level goes on until the study's budget ends; with ``stop_on_stall=True`` the search
   is :class:`Done` when the improvement stalls there too.

A trial belongs to the stage in force when it was created; a stall happens at the time of the
report that completes it. With no expensive hyperparameter found (or no cost measured), stage 1
searches everything on cheap budgets and stage 2 everything on all budgets, in one level.

While probes still run and nothing else can start, it waits (:class:`Wait`): the cost model needs
their timings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from hyperrace._params import Boolean, Declared, Integer, Real, declare
from hyperrace.history import History
from hyperrace.optimizers._asha import ASHA
from hyperrace.optimizers._base import Decision, Done, Resume, Start, Wait
from hyperrace.optimizers._parts.density.kde import bohb_sample
from hyperrace.optimizers._parts.schedule.ladder import rungs
from hyperrace.optimizers._parts.schedule.rungs import report_at
from hyperrace.optimizers._parts.surrogate.cost import CostModel
from hyperrace.optimizers._registry import register
from hyperrace.space import Categorical, Fidelity, Float, Int, Space
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = ["Staged"]


@register
class Staged(Declared):
    """Settle the cheap hyperparameters on cheap budgets, then grow the expensive ones.

    Args:
        n_probe: random trials at the lowest rung that measure the cost of a step (default:
            ``2 * (d + 1)`` for ``d`` hyperparameters, at least 6).
        cost_factor: a hyperparameter is expensive when it changes the cost of a step by more
            than this factor across its range (> 1).
        patience: arrivals at a stage's top rung without improvement that end the stage.
        min_improvement: the relative improvement of the best loss that counts (>= 0).
        levels: how many times the region of the expensive hyperparameters grows (>= 1).
        eta: ASHA's reduction factor within each stage.
        stop_on_stall: end the search (:class:`Done`) when the improvement stalls at the last
            level; by default the last level goes on until the study's budget ends.

    See the module docstring for the stages.
    """

    name: ClassVar[str] = "staged"
    parameters = declare(
        n_probe=Integer(2, optional=True),
        cost_factor=Real(1, low_open=True),
        patience=Integer(1),
        min_improvement=Real(0, 1, high_open=True),
        levels=Integer(1),
        eta=Integer(2),
        stop_on_stall=Boolean(),
    )
    n_probe: int | None
    cost_factor: float
    patience: int
    min_improvement: float
    levels: int
    eta: int
    stop_on_stall: bool

    def __init__(
        self,
        n_probe: int | None = None,
        cost_factor: float = 1.5,
        patience: int = 4,
        min_improvement: float = 0.01,
        levels: int = 3,
        eta: int = 3,
        stop_on_stall: bool = False,
    ) -> None:
        self._set(
            n_probe=n_probe,
            cost_factor=cost_factor,
            patience=patience,
            min_improvement=min_improvement,
            levels=levels,
            eta=eta,
            stop_on_stall=stop_on_stall,
        )
        self._asha = ASHA(eta=self.eta)

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        ladder = rungs(space.fidelity, self.eta) if space.fidelity is not None else [1.0]
        n_probe = self.n_probe or max(6, 2 * (len(space) + 1))
        trials = sorted(history.trials, key=lambda t: t.number)
        probes = [t for t in trials if t.number < n_probe]
        if len(probes) < n_probe:
            return Start(space.sample(rng), ladder[0], {"stage": 0})
        if any(t.status is TrialStatus.RUNNING for t in probes):
            return Wait("the probes that measure the cost of a step are still running")
        plan = _Plan.make(space, probes, ladder, self.cost_factor)
        rest = [t for t in trials if t.number >= n_probe]
        top1 = _top(ladder, 1)
        stall1 = self._stall(history, rest, top1, since=-math.inf)
        stage1 = [t for t in rest if stall1 is None or t.created < stall1]
        if stall1 is None:
            return self._race(space, history, rng, plan, stage1, stage1, ladder, top1, 1, 0)
        stage2 = [t for t in rest if t.created >= stall1]
        levels = self.levels if plan.expensive else 1
        level, since = 1, stall1
        while True:
            members = [t for t in stage2 if t.created >= since]
            stall = self._stall(history, members, ladder[-1], since=since)
            if stall is None:
                break
            if level == levels:
                if not self.stop_on_stall:
                    break  # the last level goes on until the budget ends
                return Done(
                    f"the best loss stopped improving at every growth level ({levels}) of the "
                    f"expensive hyperparameters ({', '.join(plan.expensive) or 'none found'})"
                )
            level, since = level + 1, stall
        return self._race(space, history, rng, plan, stage1, stage2, ladder, ladder[-1], 2, level)

    def _race(
        self,
        space: Space,
        history: History,
        rng: np.random.Generator,
        plan: _Plan,
        model_trials: Sequence[TrialRecord],
        members: Sequence[TrialRecord],
        ladder: Sequence[float],
        top: float,
        stage: int,
        level: int,
    ) -> Decision:
        """ASHA among ``members`` up to ``top``; a new trial from the stage's sampler."""
        fidelity = space.fidelity
        sub_space = space
        if fidelity is not None and top < fidelity.high:
            name = space.fidelity_name or "fidelity"
            top_of_stage = round(top) if fidelity.is_integer else top
            sub_space = Space(
                **{
                    **space.entries(),
                    name: Fidelity(fidelity.low, top_of_stage, unit=fidelity.unit),
                }
            )
        sub_history = History(history.direction, tuple(members), history.n_decisions)
        decision = self._asha.decide(sub_space, sub_history, rng)
        info: dict[str, Any] = {"stage": stage}
        if level:
            info["level"] = level
        if isinstance(decision, Resume):
            return dataclasses.replace(decision, info={**decision.info, **info})
        if not isinstance(decision, Start):
            return decision
        config = plan.sample(space, history, model_trials, ladder, rng, stage, level, self.levels)
        return Start(config, decision.stop, {**info, "expensive": list(plan.expensive)})

    def _stall(
        self, history: History, members: Sequence[TrialRecord], top: float, since: float
    ) -> float | None:
        """When the best loss at ``top`` among ``members`` stopped improving: the time of the
        ``patience``-th arrival without an improvement of ``min_improvement``; None if not yet."""
        arrivals = []
        for t in members:
            obs = report_at(t, top)
            if obs is not None and obs.time >= since:
                arrivals.append((obs.seq, obs.time, t.number, history.loss(obs.value)))
        arrivals.sort()  # in the order the storage recorded them
        best, without = math.inf, 0
        for _, when, _, loss in arrivals:
            if math.isinf(best) or loss < best - self.min_improvement * abs(best):
                best, without = min(best, loss), 0
            else:
                best = min(best, loss)
                without += 1
                if without >= self.patience:
                    return when
        return None


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Which hyperparameters are expensive, with their cheapest end (unit 0 or 1, or a choice)."""

    expensive: dict[str, Any]

    @classmethod
    def make(
        cls, space: Space, probes: Sequence[TrialRecord], ladder: Sequence[float], factor: float
    ) -> _Plan:
        first_rung = [
            dataclasses.replace(t, curve=tuple(o for o in t.curve if o.fidelity <= ladder[0]))
            for t in probes
        ]
        model = CostModel.fit(space, History("minimize", tuple(first_rung)))
        if model is None:
            return cls({})
        cheap_end: dict[str, Any] = {}
        for name, effect in model.expensive(factor).items():
            dim = space[name]
            if isinstance(dim, Categorical):
                cheap_end[name] = model.cheapest_choice(name)
            else:
                cheap_end[name] = 0.0 if effect > 0 else 1.0
        return cls(cheap_end)

    def sample(
        self,
        space: Space,
        history: History,
        model_trials: Sequence[TrialRecord],
        ladder: Sequence[float],
        rng: np.random.Generator,
        stage: int,
        level: int,
        levels: int,
    ) -> dict[str, Any]:
        cheap_names = _cheap_names(space, self.expensive)
        config: dict[str, Any] = {}
        if cheap_names:
            cheap_space = space.subspace(cheap_names)
            cheap_history = History(
                history.direction,
                tuple(
                    dataclasses.replace(
                        t, config={n: t.config[n] for n in cheap_names if n in t.config}
                    )
                    for t in model_trials
                ),
            )
            budgets = [b for b in ladder if b <= _top(ladder, stage)]
            config.update(bohb_sample(cheap_space, cheap_history, rng, budgets))
        for name, end in self.expensive.items():
            dim = space[name]
            if stage == 1:
                config[name] = end if isinstance(dim, Categorical) else _at_unit(dim, end)
                continue
            share = level / levels
            if isinstance(dim, Categorical):
                config[name] = dim.sample(rng) if share >= 1 else end
                continue
            u = float(rng.uniform(0.0, share))
            config[name] = _at_unit(dim, u if end == 0.0 else 1.0 - u)
        out: dict[str, Any] = {}
        for n in space.names:  # what depends on an expensive one is drawn from its prior
            if space.is_active(n, out):
                out[n] = config[n] if n in config else space[n].sample(rng)
        return out


def _cheap_names(space: Space, expensive: Mapping[str, Any]) -> list[str]:
    """The hyperparameters neither expensive nor conditional on an expensive one (at any depth)."""
    left: set[str] = set(expensive)
    for name in space.names:
        cond = space.conditions.get(name)
        if cond is not None and any(p in left for p in cond.parents):
            left.add(name)
    return [n for n in space.names if n not in left]


def _top(ladder: Sequence[float], stage: int) -> float:
    return ladder[-2] if stage == 1 and len(ladder) > 1 else ladder[-1]


def _at_unit(dim: Any, u: float) -> Any:
    """The value of numeric ``dim`` at unit coordinate ``u`` (its exact bound at 0 and 1)."""
    if isinstance(dim, Float | Int):
        if u <= 0.0:
            return dim.low
        if u >= 1.0:
            return dim.high
    return dim.from_unit(u)
