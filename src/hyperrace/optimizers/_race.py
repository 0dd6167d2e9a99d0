"""The learning-curve race, composed of parts by role: surrogate, acquisition, pool, allocation.

Each decision, from the history alone:

1. **Initial design.** Until ``n_initial`` trials have a successful report, start a configuration
   from the prior at the first step.
2. **Promotion mix** (optional). With probability ``promotion`` first try an ASHA promotion
   (rungs of reduction factor 3; a paused trial among the best third at the highest rung it
   reached resumes up to the next rung).
3. **Model.** The surrogate (:mod:`~hyperrace.optimizers._parts.surrogate.base`) learns from every
   observation of every trial (:mod:`~hyperrace.optimizers._parts.data.curve_data`); past
   ``max_observations`` observations, from a sample of whole curves
   (:mod:`~hyperrace.optimizers._parts.data.bounded`).
4. **Pool** (:mod:`~hyperrace.optimizers._parts.candidates.pool`). Every paused trial that can
   continue, plus fresh configurations: ``n_prior`` from the prior and ``n_local`` perturbations of
   the ``n_centers`` configurations the model predicts best at the maximum fidelity.
5. **Acquisition** (:mod:`~hyperrace.optimizers._parts.acquisition`). Each candidate is scored;
   running trials are fantasised at their predicted loss. Ties go to the first in pool order
   (paused trials by number, then fresh ones). With ``cost_exponent > 0`` the scores are divided
   by the relative predicted cost of each candidate's step (a cost-aware race).
6. **Allocation.** The winner gets one ``step`` (``allocation="step"``), or runs up to the next
   rung of a geometric ladder (``allocation="rung"``, reduction factor 3).

The recipes registered beside it differ only in their defaults: ``race`` (DPL surrogate,
MFPI-random), ``dpl`` (DPL surrogate, EI at the maximum fidelity, the reference's recipe) and
``dyhpo`` (deep-kernel GP, one-step EI, the promotion mix). Everything is a function of the
history and the decision's generator: a fresh instance decides exactly as a long-lived one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from hyperrace._imports import require
from hyperrace._params import Declared, Integer, OneOf, Real, Unchecked, declare
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._asha import ASHA
from hyperrace.optimizers._base import Decision, Done, Resume, Start, Wait
from hyperrace.optimizers._parts import acquisition as acq
from hyperrace.optimizers._parts.candidates import pool
from hyperrace.optimizers._parts.data.bounded import Memo, bounded
from hyperrace.optimizers._parts.data.curve_data import CurveData, Ident, encode
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.optimizers._parts.schedule.ladder import rungs
from hyperrace.optimizers._parts.schedule.rungs import at_rung, top
from hyperrace.optimizers._parts.surrogate.base import Queries, Surrogate
from hyperrace.optimizers._parts.surrogate.cost import CostModel, spent_seconds
from hyperrace.optimizers._parts.surrogate.deep_kernel import DeepKernel
from hyperrace.optimizers._parts.surrogate.fit_chain import FitFailed
from hyperrace.optimizers._parts.surrogate.pfn import PFN
from hyperrace.optimizers._parts.surrogate.power_laws import PowerLaws
from hyperrace.optimizers._registry import register
from hyperrace.space import Space
from hyperrace.trial import TrialRecord, TrialStatus

__all__ = ["DPL", "DyHPO", "Race"]

#: Surrogates by name.
SURROGATES: dict[str, type[Any]] = {
    PowerLaws.name: PowerLaws,
    DeepKernel.name: DeepKernel,
    PFN.name: PFN,
}
_ETA = 3
#: Encoded configurations memoized per instance.
_CODES = 100_000


def _surrogate(
    spec: object,
    recipe: str | Mapping[str, Any],
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Surrogate, Any]:
    """The surrogate of ``spec`` and its JSON form: a name (that surrogate with its own
    defaults, over which ``defaults[name]`` is laid), a mapping with a ``"name"`` and
    parameters, or a mapping of parameters alone, laid over the recipe's surrogate
    ``recipe``."""
    base: dict[str, Any] = {"name": recipe} if isinstance(recipe, str) else dict(recipe)
    form: str | dict[str, Any]
    if isinstance(spec, str):
        name, params, form = spec, {}, spec
    elif isinstance(spec, Mapping) and isinstance(spec.get("name", base["name"]), str):
        merged = dict(spec) if "name" in spec else {**base, **spec}
        name = merged.pop("name")
        params, form = merged, {"name": name, **merged}
    else:
        raise ConfigurationError(
            f"surrogate={spec!r} must be a surrogate name ({', '.join(sorted(SURROGATES))}), "
            'a mapping with its "name" and parameters, e.g. {"name": "dpl", "width": 128}, or a '
            "mapping of parameters of the recipe's surrogate"
        )
    if name not in SURROGATES:
        raise ConfigurationError(
            f"surrogate={name!r} is not a surrogate; choose one of {', '.join(sorted(SURROGATES))}"
        )
    params = {**(defaults or {}).get(name, {}), **params}
    try:
        out: Surrogate = SURROGATES[name](**params)
    except TypeError as exc:
        raise ConfigurationError(f"surrogate {name!r}: {exc}") from None
    return out, form


@register
class Race(Declared):
    """A learning-curve race built from a surrogate, an acquisition, a pool and an allocation.

    See the module docstring for the decision. Needs the ``bo`` extra (PyTorch) from its first
    model-based decision: ``pip install 'hyperrace[bo]'``.

    Args:
        surrogate: ``"dpl"`` (deep power-law ensemble), ``"deep_kernel"`` (DyHPO's deep-kernel
            GP), ``"pfn"`` (the in-context transformer shipped with hyperrace, never refit; here
            with a context of at most 600 observations unless ``max_context`` is given), or a
            mapping ``{"name": ..., **params}`` with the surrogate's parameters, e.g.
            ``{"name": "pfn", "weights": "/path/to/ftpfn.pt"}``.
        acquisition: ``"pi_random"`` (MFPI-random), ``"ei_max"``, ``"ei_step"``, or
            ``"mixed"`` (``ei_max`` or ``pi_random``, drawn per decision).
        allocation: ``"step"`` (one step per decision) or ``"rung"`` (up to the next rung).
        first: where a new trial's first run ends: ``"step"`` (one step) or ``"rung"`` (the
            lowest rung of the ladder of reduction factor 3 anchored at the maximum fidelity, as
            Hyperband's most exploratory bracket starts: a grace period before the first
            judgement). None: the recipe's, ``"rung"`` with the ``pfn`` surrogate.
        step: fidelity units of a step (> 0; whole for an integer fidelity). A new trial's first
            step ends at ``max(low, step)``.
        n_initial: trials with a successful report before the model is used (>= 1).
        n_prior: fresh configurations from the prior per decision (>= 0).
        n_local: fresh local perturbations of the best configurations per decision (>= 0).
            None: the recipe's, 0 with the ``pfn`` surrogate.
        n_centers: how many of the best configurations are perturbed (>= 1).
        local_scale: standard deviation of a local step in the unit cube (in (0, 1]).
        promotion: probability in [0, 1] of trying an ASHA promotion before the model.
        incumbent: what a candidate must beat: ``"observed"``, the best loss reported (and the
            running trials' predicted losses); ``"predicted"``, also every paused trial's
            predicted loss at the maximum fidelity, so that continuing the best curve is not an
            improvement in itself.
        patience: refit the surrogate from scratch when the best loss did not improve over this
            many observations; None: ``max(20, 1.2 * steps from the lowest to the highest
            fidelity)``.
        max_trials: start no new trial after this many (None: no limit).
        max_observations: the most points (reports) the surrogate trains on, counted when the
            sample is chosen; a bigger study trains it on a sample of whole curves (the best
            ones and an even sample of the others, chosen again each time the study's change
            counter passes a multiple of ``max_observations // 4``, and the trials started
            since; :mod:`~hyperrace.optimizers._parts.data.bounded`), and only the paused
            trials of the sample are candidates to resume. None: every point.
        cost_exponent: ``kappa >= 0``; above 0 scores are divided by the relative predicted
            cost of each candidate's step to the power ``kappa * gamma``.
        cost_budget: processor seconds the study will spend in all; with it ``gamma`` cools from
            1 to 0 as they are spent. None: ``gamma = 1``.
        warmup: ``"none"``, or ``"asha"``: decide as ASHA (reduction factor 3, promotion) until
            ``warmup_until`` trials have reached ``warmup_rung`` (by default the maximum
            fidelity), then by the model.
        warmup_until: trials at the warm-up's rung that end the warm-up (>= 1).
        warmup_rung: the rung that ends the warm-up, counted down from the maximum fidelity on
            ASHA's ladder (0: the maximum fidelity; 1: the rung below it, 17 of 52 epochs).
        target: what the surrogate learns at each report: ``"last"``, the loss reported there;
            ``"best"``, the trial's best loss up to there (its running minimum), so that a
            curve that turns back up (a validation loss as the network overfits) is not
            extrapolated as a rise, and a candidate is judged by what it can still add to the
            best result.
    """

    name: ClassVar[str] = "race"
    #: The recipe: what a parameter left at None means.
    _defaults: ClassVar[dict[str, Any]] = {
        # fits that converge: with 300 and 30 Adam steps the power laws of flat curves went on
        # falling, and the race trained plateaued curves for tens of epochs (BENCHMARKS.md,
        # "The race's start")
        "surrogate": {"name": "dpl", "scratch_steps": 1000, "refine_steps": 100},
        "acquisition": "pi_random",
        "allocation": "step",
        "first": "step",
        "n_initial": 5,
        "n_prior": 128,
        # no local perturbations: near-copies of a mediocre incumbent won decisions and were
        # trained to the end, one after another (BENCHMARKS.md, "Where the race loses a whole
        # run"); without them, as good on average and within 1.2x Hyperband on more instances
        "n_local": 0,
        "promotion": 0.0,
        "incumbent": "observed",
        # the bracket methods' start until a first curve reaches the top: before it the
        # surrogate extrapolates short curves alone (BENCHMARKS.md, "The race's start")
        "warmup": "asha",
        "target": "last",
    }

    #: What a parameter left at None means with a surrogate other than the recipe's own, by
    #: surrogate name (laid over ``_defaults``). The in-context surrogate (``pfn``) reads a
    #: curve's first step as every other first step, and LCBench's first epochs say little of
    #: where a curve goes: with one-step first runs and perturbations of the best trials the
    #: race started one poor configuration after another near the first trial that looked good
    #: (BENCHMARKS.md, "The race with the in-context surrogate"). Its new trials run to the
    #: lowest rung (and its fresh configurations come from the prior alone, as every recipe's
    #: do by default).
    _with_surrogate: ClassVar[dict[str, dict[str, Any]]] = {
        "pfn": {"first": "rung", "warmup": "none"},
    }
    #: The surrogate's own parameters in this recipe where the surrogate's defaults differ, by
    #: name (a surrogate given with the parameter keeps its value). The in-context surrogate
    #: reads at most 600 observations: a decision at 1000 observed epochs takes 0.03-0.04 s
    #: instead of 0.05-0.07 s, and the race ended as well or better than with every point
    #: (BENCHMARKS.md, "The race with the in-context surrogate").
    _surrogate_params: ClassVar[dict[str, dict[str, Any]]] = {"pfn": {"max_context": 600}}

    parameters = declare(
        surrogate=Unchecked(),  # checked by _surrogate, against the recipe's surrogate
        acquisition=OneOf(*acq.ACQUISITIONS),
        allocation=OneOf("step", "rung"),
        first=OneOf("step", "rung"),
        step=Real(0, low_open=True),
        n_initial=Integer(1),
        n_prior=Integer(0),
        n_local=Integer(0),
        n_centers=Integer(1),
        local_scale=Real(0.0, 1.0, low_open=True),
        promotion=Real(0.0, 1.0),
        incumbent=OneOf("observed", "predicted"),
        patience=Integer(1, optional=True),
        max_trials=Integer(1, optional=True),
        max_observations=Integer(1, optional=True),
        cost_exponent=Real(0),
        cost_budget=Real(0, low_open=True, optional=True),
        warmup=OneOf("none", "asha"),
        warmup_until=Integer(1),
        warmup_rung=Integer(0),
        target=OneOf("last", "best"),
    )
    surrogate: str | dict[str, Any]
    acquisition: str
    allocation: str
    first: str
    step: float
    n_initial: int
    n_prior: int
    n_local: int
    n_centers: int
    local_scale: float
    promotion: float
    incumbent: str
    patience: int | None
    max_trials: int | None
    max_observations: int | None
    cost_exponent: float
    cost_budget: float | None
    warmup: str
    warmup_until: int
    warmup_rung: int
    target: str

    def __init__(
        self,
        *,
        surrogate: str | Mapping[str, Any] | None = None,
        acquisition: str | None = None,
        allocation: str | None = None,
        first: str | None = None,
        step: float = 1,
        n_initial: int | None = None,
        n_prior: int | None = None,
        n_local: int | None = None,
        n_centers: int = 5,
        local_scale: float = 0.1,
        promotion: float | None = None,
        incumbent: str | None = None,
        patience: int | None = None,
        max_trials: int | None = None,
        max_observations: int | None = 2000,
        cost_exponent: float = 0.0,
        cost_budget: float | None = None,
        warmup: str | None = None,
        warmup_until: int = 1,
        warmup_rung: int = 0,
        target: str | None = None,
    ) -> None:
        d = dict(self._defaults)
        self._surrogate, form = _surrogate(
            d["surrogate"] if surrogate is None else surrogate,
            d["surrogate"],
            self._surrogate_params,
        )
        d.update(self._with_surrogate.get(self._surrogate.name, {}))

        def pick(value: Any, key: str) -> Any:
            return d[key] if value is None else value

        self._set(
            surrogate=form,
            acquisition=pick(acquisition, "acquisition"),
            allocation=pick(allocation, "allocation"),
            first=pick(first, "first"),
            step=step,
            n_initial=pick(n_initial, "n_initial"),
            n_prior=pick(n_prior, "n_prior"),
            n_local=pick(n_local, "n_local"),
            n_centers=n_centers,
            local_scale=local_scale,
            promotion=pick(promotion, "promotion"),
            incumbent=pick(incumbent, "incumbent"),
            patience=patience,
            max_trials=max_trials,
            max_observations=max_observations,
            cost_exponent=cost_exponent,
            cost_budget=cost_budget,
            warmup=pick(warmup, "warmup"),
            warmup_until=warmup_until,
            warmup_rung=warmup_rung,
            target=pick(target, "target"),
        )
        if self.n_prior + self.n_local == 0:
            raise ConfigurationError(
                "n_prior=0 and n_local=0 leave no fresh configuration to start; set one >= 1"
            )
        self._codes: dict[Ident, np.ndarray] = {}
        self._codes_space: Space | None = None
        self._sample_memo: Memo = {}
        self._asha = ASHA(eta=_ETA)

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        low, high = self._range(space)
        first = self._first(space, low, high)
        draw = float(rng.random())  # always drawn: the stream does not depend on the branch
        may_start = self.max_trials is None or len(history.trials) < self.max_trials
        fit_trials = None
        if self.max_observations is not None:
            history, fit_trials = bounded(history, self.max_observations, self._sample_memo)
        waiting = pool.paused(history, high)
        if not waiting and not may_start:
            if history.running:
                return Wait(f"the {self.max_trials} trials allowed are started; waiting on running")
            return Done(f"{self.max_trials} trials were started and none can go on")
        successes = sum(1 for t in history.trials if t.curve and t.status is not TrialStatus.FAILED)
        if self.warmup == "asha" and space.fidelity is not None and may_start:
            warm = self._warmup(space, history, rng)
            if warm is not None:
                return warm
        if successes < self.n_initial and may_start:
            enc = OneHot(space)
            initial = pool.fresh(enc, self._encoded(space, enc, history), rng, 1)
            if len(initial):
                return Start(enc.decode(initial[0]), first, {"source": "initial"})
        if space.fidelity is not None and draw < self.promotion:
            promoted = _promote(history, waiting, rungs(space.fidelity, _ETA))
            if promoted is not None:
                return promoted
        return self._model_decision(
            space, history, waiting, may_start, rng, (low, high, first), fit_trials
        )

    def _warmup(
        self, space: Space, history: History, rng: np.random.Generator
    ) -> Start | Resume | None:
        """ASHA's decision while fewer than ``warmup_until`` trials reached the warm-up's rung;
        a new configuration ASHA draws that a trial already has is drawn again from the race's
        pool (which never repeats one), and the warm-up ends early when none is left."""
        assert space.fidelity is not None
        ladder = rungs(space.fidelity, _ETA)
        end = ladder[max(len(ladder) - 1 - self.warmup_rung, 0)]
        if sum(1 for t in history.trials if t.fidelity >= end) >= self.warmup_until:
            return None
        decision = self._asha.decide(space, history, rng)
        if isinstance(decision, Start):
            enc = OneHot(space)
            tried = self._encoded(space, enc, history)
            if pool.keys(enc.encode_valid(dict(decision.config))[None]) <= pool.keys(tried):
                fresh = pool.fresh(enc, tried, rng, 1)
                if not len(fresh):
                    return None
                decision = dataclasses.replace(decision, config=enc.decode(fresh[0]))
        if not isinstance(decision, (Start, Resume)):
            return None
        return dataclasses.replace(decision, info={**decision.info, "source": "warmup"})

    def _encoded(self, space: Space, enc: OneHot, history: History) -> np.ndarray:
        """The history's configurations encoded (memoized per configuration)."""
        return encode(enc, [t.config for t in history.trials], self._memo(space))

    def _memo(self, space: Space) -> dict[Ident, np.ndarray]:
        """The encoded configurations' memo, emptied when the space changed or it grew large."""
        if self._codes_space != space or len(self._codes) > _CODES:
            self._codes, self._codes_space = {}, space
        return self._codes

    def _range(self, space: Space) -> tuple[float, float]:
        fid = space.fidelity
        if fid is None:
            return 1.0, 1.0
        if fid.is_integer and self.step != int(self.step):
            raise ConfigurationError(
                f"step={self.step!r} must be a whole number for the integer fidelity "
                f"{space.fidelity_name!r}; pass step={max(1, round(self.step))}"
            )
        return float(fid.low), float(fid.high)

    def _first(self, space: Space, low: float, high: float) -> float:
        """Where a new trial's first run ends: one step, or the lowest rung of the ladder."""
        step = min(high, max(low, self.step))
        if self.first == "rung" and space.fidelity is not None:
            return max(step, rungs(space.fidelity, _ETA)[0])
        return step

    def _patience(self, low: float, high: float) -> int:
        if self.patience is not None:
            return self.patience
        steps = math.ceil((high - low) / self.step) + 1
        return int(max(20, math.ceil(1.2 * steps)))

    def _model_decision(
        self,
        space: Space,
        history: History,
        waiting: list[TrialRecord],
        may_start: bool,
        rng: np.random.Generator,
        bounds: tuple[float, float, float],
        fit_trials: frozenset[int] | None = None,
    ) -> Decision:
        low, high, first = bounds
        enc = OneHot(space)
        data = CurveData.collect(
            enc,
            history,
            low,
            high,
            self.step,
            self._memo(space),
            fit_trials,
            running_best=self.target == "best",
        )
        index = {t.trial_id: i for i, t in enumerate(data.trials)}
        model = None
        if len(data) >= 1 and np.isfinite(data.loss).any():
            try:
                model = self._surrogate.model(data, low, high, self._patience(low, high))
            except ImportError:
                require("torch", "bo", f"the {self.name} optimizer")
                raise
        centers = None
        if model is not None and self.n_local > 0:
            try:
                centers = self._centers(data, model, high)
            except FitFailed:
                model = None
        fresh = (
            pool.fresh(enc, data.x, rng, self.n_prior, self.n_local, centers, self.local_scale)
            if may_start
            else np.zeros((0, enc.width))
        )
        if not waiting and not len(fresh):
            if history.running:
                return Wait("every candidate is running")
            return Done("no configuration is left to start or resume")
        current = np.array([t.fidelity for t in waiting] + [0.0] * len(fresh))
        stop = np.array([min(high, t.fidelity + self.step) for t in waiting] + [first] * len(fresh))
        if model is None:
            return _without_model(enc, waiting, fresh, stop, "the surrogate has no fit yet")
        x = np.vstack([data.x[[index[t.trial_id] for t in waiting]], fresh])
        trial = np.array([index[t.trial_id] for t in waiting] + [-1] * len(fresh), dtype=np.int64)
        candidates = acq.Candidates(current, stop)
        name = acq.resolve(self.acquisition, rng)
        at, drawn = acq.queries(name, candidates, low, high, self.step, rng)
        try:
            pred = model.predict(Queries(x, at, trial))
            fantasies = self._fantasies(history, data, model, index, high)
        except FitFailed:
            return _without_model(enc, waiting, fresh, stop, "the surrogate failed to predict")
        scores, used = acq.score(
            name,
            history,
            at,
            pred.mean,
            pred.std,
            pred.log_prob_below,
            pred.expected_improvement,
            fantasies,
            rng,
        )
        weighted, cost_info = self._per_cost(
            space, history, waiting, enc, fresh, stop, scores, name
        )
        i = int(np.argmax(weighted))
        info: dict[str, Any] = {
            "source": "model",
            "acquisition": name,
            "score": float(scores[i]),
            "mean": float(pred.mean[i]),
            "std": float(pred.std[i]),
            "query": float(at[i]),
            "candidates": len(stop),
            "paused": len(waiting),
            "points": len(data),
            **{k: getattr(model, k) for k in ("fitted_at", "scratch") if hasattr(model, k)},
            **drawn,
            **acq.describe(used, i),
        }
        if cost_info is not None:
            info["cost"] = float(cost_info[0][i])
            info["cost_weight"] = cost_info[1]
        target = self._allocate(space, float(current[i]), float(stop[i]), high)
        if i < len(waiting):
            return Resume(waiting[i].trial_id, target, info)
        return Start(enc.decode(fresh[i - len(waiting)]), target, info)

    def _allocate(self, space: Space, current: float, stop: float, high: float) -> float:
        if self.allocation == "step" or space.fidelity is None:
            return stop
        for rung in rungs(space.fidelity, _ETA):
            if rung > current * (1 + 1e-9) and rung >= stop * (1 - 1e-9):
                return min(high, rung)
        return stop

    def _centers(self, data: CurveData, model: Any, high: float) -> np.ndarray | None:
        """The encoded configurations the model predicts best at ``high`` (failed excluded)."""
        ok = [
            i for i, t in enumerate(data.trials) if t.curve and t.status is not TrialStatus.FAILED
        ]
        if not ok:
            return None
        rows = np.array(ok, dtype=np.int64)
        pred = model.predict(Queries(data.x[rows], np.full(len(rows), high), rows))
        order = np.argsort(pred.mean, kind="stable")[: self.n_centers]
        centers: np.ndarray = data.x[rows[order]]
        return centers

    def _fantasies(
        self,
        history: History,
        data: CurveData,
        model: Any,
        index: Mapping[int, int],
        high: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The running trials' granted fidelities and their predicted losses there; with
        ``incumbent="predicted"``, also every paused trial's predicted loss at ``high``."""
        running = [t for t in history.running if t.trial_id in index]
        paused = history.paused if self.incumbent == "predicted" else ()
        ahead = [t for t in paused if t.trial_id in index and t.curve and t.fidelity < high]
        if not running and not ahead:
            return np.zeros(0), np.zeros(0)
        rows = np.array([index[t.trial_id] for t in [*running, *ahead]], dtype=np.int64)
        at = np.array([t.target for t in running] + [high] * len(ahead), dtype=np.float64)
        pred = model.predict(Queries(data.x[rows], at, rows))
        return at, pred.mean

    def _per_cost(
        self,
        space: Space,
        history: History,
        waiting: Sequence[TrialRecord],
        enc: OneHot,
        fresh: np.ndarray,
        stop: np.ndarray,
        scores: np.ndarray,
        name: str,
    ) -> tuple[np.ndarray, tuple[np.ndarray, float] | None]:
        """Scores divided by the relative predicted cost of each candidate's step to the power
        ``kappa * gamma``; the scores themselves when the race is not cost-aware, no cost is
        known yet, or the fidelity is in seconds (every step costs the same)."""
        if self.cost_exponent == 0 or (
            space.fidelity is not None and not space.fidelity.is_integer
        ):
            return scores, None
        model = CostModel.fit(space, history)
        if model is None:
            return scores, None
        configs = [t.config for t in waiting] + [enc.decode(row) for row in fresh]
        starts = np.array([t.fidelity for t in waiting] + [0.0] * len(fresh))
        steps = np.maximum(stop - starts, 1.0)
        cost = model.predict(configs) * steps
        relative = cost / float(np.median(cost))
        gamma = 1.0
        if self.cost_budget is not None:
            spent = sum(spent_seconds(o) for t in history.trials for o in t.curve)
            gamma = max(0.0, 1.0 - spent / self.cost_budget)
        weight = self.cost_exponent * gamma
        if name == "pi_random":  # scores are log probabilities
            return scores - weight * np.log(relative), (cost, weight)
        return scores / relative**weight, (cost, weight)


def _without_model(
    enc: OneHot, waiting: Sequence[TrialRecord], fresh: np.ndarray, stop: np.ndarray, reason: str
) -> Decision:
    """Without a model: start the first fresh configuration, else resume the first paused."""
    info = {"source": "prior", "reason": reason}
    if len(fresh):
        return Start(enc.decode(fresh[0]), float(stop[len(waiting)]), info)
    return Resume(waiting[0].trial_id, float(stop[0]), info)


def _promote(
    history: History, waiting: Sequence[TrialRecord], ladder: Sequence[float]
) -> Resume | None:
    """ASHA's rule on the rungs: a paused trial among the best ``1/eta`` of the trials that
    reported at the highest rung it reached, short of the next rung, resumes up to it."""
    ok = {t.trial_id for t in waiting}
    for k in range(len(ladder) - 2, -1, -1):
        reported = at_rung(history, ladder[k])
        for t in top(history, ladder[k], reported, len(reported) // _ETA):
            if t.trial_id in ok and ladder[k] <= t.fidelity < ladder[k + 1]:
                return Resume(t.trial_id, ladder[k + 1], {"source": "promotion", "rung": k + 1})
    return None


@register
class DPL(Race):
    """DPL's recipe (Kadra et al., NeurIPS 2023): the deep power-law ensemble, expected
    improvement at the maximum fidelity over the best loss anywhere, one step per decision, a
    single initial configuration and 128 fresh ones from the prior per decision. Parameters as
    :class:`Race`."""

    name: ClassVar[str] = "dpl"
    _defaults: ClassVar[dict[str, Any]] = {
        **Race._defaults,
        "surrogate": "dpl",
        "acquisition": "ei_max",
        "n_initial": 1,
        "n_local": 0,
        "warmup": "none",
    }


@register
class DyHPO(Race):
    """DyHPO's recipe (Wistuba, Kadra and Grabocka, NeurIPS 2022): the deep-kernel GP, one-step
    expected improvement over the best loss at each candidate's next budget, one step per
    decision, three initial configurations, 128 fresh ones from the prior per decision, and the
    ASHA promotion mix with probability 0.25 (Syne Tune's fix for the paper's rule, which starts
    new trials for ever). Parameters as :class:`Race`."""

    name: ClassVar[str] = "dyhpo"
    _defaults: ClassVar[dict[str, Any]] = {
        **Race._defaults,
        "surrogate": "deep_kernel",
        "acquisition": "ei_step",
        "n_initial": 3,
        "n_local": 0,
        "promotion": 0.25,
        "warmup": "none",
    }
