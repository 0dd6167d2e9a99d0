"""DyHPO: a deep-kernel Gaussian process races learning curves one budget step at a time.

Reference: M. Wistuba, A. Kadra and J. Grabocka, "Supervising the Multi-Fidelity Race of
Hyperparameter Configurations", NeurIPS 2022 (arXiv:2202.09774).

Each decision, from the history alone:

1. **Data.** Every observation of every trial is one training point: (configuration one-hot
   encoded in the unit cube, budget ``(b - low) / (high - low)``, the curve reported before ``b``,
   the loss at ``b``). A failed trial (it raised, or reported NaN or inf) adds one point just
   after its last report at the worst loss of the data, so its region looks bad; its config is
   never offered again. Points are put in a canonical order: by report time, then trial number,
   then fidelity (failures last).
2. **Initial design.** Until ``n_initial`` trials have a successful report, start a configuration
   drawn from the space's prior at the first step.
3. **Candidates.** Every paused trial (not finished, not stopped by its own objective), scored at
   its next step ``fidelity + step``, with its curve; plus ``n_candidates`` fresh configurations
   from the prior, scored at the first step with an empty curve. Running trials are not
   candidates; configurations already in the history are not offered as fresh ones.
4. **Promotion mix.** With probability ``promotion``, first try an ASHA promotion (rungs
   ``_parts.ladder.rungs(fidelity, 3)``; a paused trial among the best third of the trials that
   reported at its highest rung reached resumes up to the next rung, highest rung first). EI at
   the lowest budget, where the incumbent is weak, tends to dwarf EI of continuing a trial at a
   budget few have reached; the mix is what keeps DyHPO from starting new trials for ever.
5. **Model.** The deep-kernel GP of :mod:`~hyperrace.optimizers._parts.deep_kernel`, conditioned
   on the current data (at most ``max_points`` of them, see below), predicts each candidate's
   loss at its next budget; the winner maximises expected improvement (latent sigma) over the
   best loss reported at exactly that budget (or the best loss anywhere when nobody reached it),
   ties to the first in pool order (paused trials by number, then fresh ones). It is resumed
   from its checkpoint (or started) up to that budget.

**Cost.** A decision predicts all candidates in one batch on at most ``max_points`` points
(cubic in them). When there are more, the data are thinned: every trial's latest point first,
then the points of the most advanced trials (highest fidelity, then best loss), newest first.
The network and GP hyperparameters are refitted only at *fit points*: when the number of data
points ``p`` is below ``refit_every`` or a multiple of it. Between fit points a decision reuses
the last fit's weights and only conditions the GP on the new data.

**Statelessness.** The weights used at a decision are a deterministic function of the *first
p* points in canonical order, ``p`` the last fit point not above the number of points now:

* a fit at ``p`` is from scratch (``scratch_steps`` Adam steps from the fixed initial weights) at
  the first fit points (``p < refit_every``), when the best loss did not improve over the last
  ``restart_after`` points and the last scratch fit lies at least that far back, after
  ``max_chain`` warm starts in a row, and after a fit that failed; otherwise it continues from
  the previous fit's weights (``refine_steps`` steps). All of these rules read the first ``p``
  points only.
* The weights of each fit are memoized in the process (the last 16 fits) under a hash of the
  optimizer's parameters and the first ``p`` points (trial numbers, encoded configurations,
  fidelities, losses, failure flags). A miss (another process, a restarted study, a history
  that changed under us) replays the chain of fits from the last scratch fit the rules name, or
  from the latest fit of the chain found in the memo; a hit returns what the replay would.

So a fresh instance given the same history and generator makes exactly the decision of a
long-lived one; the long-lived one is only faster. The replay after a restart costs one scratch
fit and at most ``max_chain`` warm starts. torch runs single-threaded in double precision; the
decision's generator drives the promotion draw and the fresh configurations; the initial
weights come from a fixed seed.

Units: losses are the study's values made "lower is better"; ``ei``, ``mean``, ``std`` and
``incumbent`` recorded in a decision's info are in those units, at the chosen budget.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from hyperrace._imports import require
from hyperrace.exceptions import ConfigurationError
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Resume, Start, Wait
from hyperrace.optimizers._parts.cost import CostModel, spent_seconds
from hyperrace.optimizers._parts.ladder import rungs
from hyperrace.optimizers._parts.onehot import OneHot
from hyperrace.optimizers._parts.rungs import at_rung, top
from hyperrace.optimizers._registry import register
from hyperrace.space import Space
from hyperrace.trial import StopReason, TrialRecord, TrialStatus

if TYPE_CHECKING:
    from hyperrace.optimizers._parts.deep_kernel import Points, State

__all__ = ["DyHPO"]

Array = npt.NDArray[np.float64]
#: The reduction factor of the promotion mix's rungs.
_ETA = 3
#: Curves longer than this enter the model as their last _WINDOW values.
_WINDOW = 64
#: Adam's learning rate (on standardized targets; 1e-3 in the reference, on raw ones).
_LR = 1e-2
#: Fits memoized in this process, by a hash of the parameters and data that determine them.
_MEMO_SIZE = 16
_memo: OrderedDict[bytes, tuple[State | None, bool]] = OrderedDict()
_memo_lock = threading.Lock()
#: Encoded configurations of the history memoized per instance.
_CODES = 100_000


def _int_param(name: str, value: object, low: int, optional: bool = False) -> Any:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        extra = " or None" if optional else ""
        raise ConfigurationError(f"{name}={value!r} must be an integer >= {low}{extra}")
    return value


def _ident(config: Mapping[str, Any]) -> tuple[tuple[str, type, Any], ...]:
    """An exact, hashable identity for configs of one space (types kept apart: ``True`` is not
    ``1``); configs of a space list their names in the space's order."""
    return tuple((k, v.__class__, v) for k, v in config.items())


@dataclass(frozen=True)
class _Data:
    """Every training point of a history in canonical order (see the module docstring).

    ``trial[i]`` indexes ``trials``; ``j[i]`` is how many reports of that trial precede point
    ``i`` (its curve input); ``loss[i]`` is NaN for a failure point (resolved to the worst loss
    of the data it is used in)."""

    trials: tuple[TrialRecord, ...]
    x: Array  # (n_trials, width)
    curves: tuple[Array, ...]  # per trial, its losses
    trial: npt.NDArray[np.int64]
    j: npt.NDArray[np.int64]
    budget: Array
    loss: Array
    table: Array  # per point: trial number, fidelity, loss (inf: failure), configuration
    header: bytes

    def __len__(self) -> int:
        return len(self.loss)

    def key(self, p: int, salt: bytes) -> bytes:
        """A hash of ``salt`` (the optimizer's parameters) and the first ``p`` points: what the
        fit at ``p`` is a function of."""
        return hashlib.sha256(salt + self.header + self.table[:p].tobytes()).digest()


@register
class DyHPO:
    """DyHPO: freeze-thaw racing with a deep-kernel GP and multi-budget expected improvement.

    See the module docstring for the algorithm and its contract. Every decision grants one
    ``step``: a paused trial resumes from its checkpoint for ``step`` more fidelity units, a new
    trial starts up to the first step. Without a fidelity in the space every trial trains at
    fidelity 1 and DyHPO is GP-EI with a deep kernel.

    Args:
        step: fidelity units granted per decision (epochs, steps or seconds; > 0; whole for an
            integer fidelity). The first step of a new trial ends at ``max(low, step)``.
        n_initial: trials with a successful report before the model is used (>= 1).
        n_candidates: fresh configurations from the prior scored at each decision (>= 1).
        promotion: probability in [0, 1] of trying an ASHA promotion before the model (0: the
            paper's rule alone).
        max_points: the most data points the GP is conditioned and fitted on (>= 8); more are
            thinned. Bounds the cost of a decision (cubic in it).
        refit_every: refit the network and GP every this many new data points (>= 1).
        scratch_steps: Adam steps of a fit from scratch (>= 1).
        refine_steps: Adam steps of a warm-started fit (>= 1).
        restart_after: refit from scratch when the best loss has not improved over this many
            data points; ``None``: ``max(20, 1.2 * steps to the maximum fidelity)``.
        max_chain: warm starts in a row before a fit from scratch (>= 1); bounds the replay of a
            fresh instance.
        max_trials: start no new trial after this many (``None``: no limit). When every trial
            left is running the decision is Wait, when none is left, Done.
        cost_exponent: ``kappa >= 0``; above 0 the race is cost-aware: expected improvement is
            divided by ``c ** (kappa * gamma)``, ``c`` the predicted seconds of the candidate's
            next step (a :class:`~hyperrace.optimizers._parts.cost.CostModel` fitted on the
            timings every report carries) over the median of the candidates'. 0: the paper's
            acquisition.
        cost_budget: the processor seconds the study will spend in all (e.g. its time budget
            times the workers); with it, ``gamma`` cools from 1 to 0 as the seconds spent so far
            approach it (cost-cooled EI, as CArBO), so the search does not stay in the cheap
            corner. ``None``: ``gamma = 1`` throughout.

    Needs the ``bo`` extra (PyTorch), imported on the first model-based decision:
    ``pip install 'hyperrace[bo]'``.

    Reference: M. Wistuba, A. Kadra and J. Grabocka, "Supervising the Multi-Fidelity Race of
    Hyperparameter Configurations", NeurIPS 2022.
    """

    name: ClassVar[str] = "dyhpo"

    def __init__(
        self,
        *,
        step: float = 1,
        n_initial: int = 3,
        n_candidates: int = 128,
        promotion: float = 0.25,
        max_points: int = 128,
        refit_every: int = 5,
        scratch_steps: int = 200,
        refine_steps: int = 20,
        restart_after: int | None = None,
        max_chain: int = 20,
        max_trials: int | None = None,
        cost_exponent: float = 0.0,
        cost_budget: float | None = None,
    ) -> None:
        if isinstance(step, bool) or not isinstance(step, int | float) or not 0 < step < math.inf:
            raise ConfigurationError(
                f"step={step!r} must be a positive number of fidelity units (e.g. 1 epoch)"
            )
        if (
            isinstance(promotion, bool)
            or not isinstance(promotion, int | float)
            or not 0 <= promotion <= 1
        ):
            raise ConfigurationError(
                f"promotion={promotion!r} must be a probability in [0, 1] (0.25 is the default)"
            )
        self.step = step
        self.n_initial: int = _int_param("n_initial", n_initial, 1)
        self.n_candidates: int = _int_param("n_candidates", n_candidates, 1)
        self.promotion = promotion
        self.max_points: int = _int_param("max_points", max_points, 8)
        self.refit_every: int = _int_param("refit_every", refit_every, 1)
        self.scratch_steps: int = _int_param("scratch_steps", scratch_steps, 1)
        self.refine_steps: int = _int_param("refine_steps", refine_steps, 1)
        self.restart_after: int | None = _int_param(
            "restart_after", restart_after, 1, optional=True
        )
        self.max_chain: int = _int_param("max_chain", max_chain, 1)
        self.max_trials: int | None = _int_param("max_trials", max_trials, 1, optional=True)
        if isinstance(cost_exponent, bool) or not (
            isinstance(cost_exponent, int | float) and 0 <= cost_exponent < math.inf
        ):
            raise ConfigurationError(
                f"cost_exponent={cost_exponent!r} must be a number >= 0 (0: not cost-aware, "
                "1: expected improvement per second)"
            )
        if cost_budget is not None and (
            isinstance(cost_budget, bool)
            or not isinstance(cost_budget, int | float)
            or not 0 < cost_budget < math.inf
        ):
            raise ConfigurationError(
                f"cost_budget={cost_budget!r} must be a positive number of seconds, or None"
            )
        self.cost_exponent = float(cost_exponent)
        self.cost_budget = None if cost_budget is None else float(cost_budget)
        self._codes: dict[tuple[tuple[str, type, Any], ...], Array] = {}
        self._codes_space: Space | None = None

    def get_params(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "n_initial": self.n_initial,
            "n_candidates": self.n_candidates,
            "promotion": self.promotion,
            "max_points": self.max_points,
            "refit_every": self.refit_every,
            "scratch_steps": self.scratch_steps,
            "refine_steps": self.refine_steps,
            "restart_after": self.restart_after,
            "max_chain": self.max_chain,
            "max_trials": self.max_trials,
            "cost_exponent": self.cost_exponent,
            "cost_budget": self.cost_budget,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"DyHPO({args})"

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        low, high = self._range(space)
        first = min(high, max(low, float(self.step)))
        draw = float(rng.random())  # always drawn: the stream does not depend on the branch
        may_start = self.max_trials is None or len(history.trials) < self.max_trials
        paused = [
            t
            for t in history.paused
            if t.fidelity < high and t.reason is not StopReason.OBJECTIVE_RETURNED
        ]
        if not paused and not may_start:
            if history.running:
                return Wait(f"the {self.max_trials} trials allowed are started; waiting on running")
            return Done(f"{self.max_trials} trials were started and none can go on")
        successes = sum(1 for t in history.trials if t.curve and t.status is not TrialStatus.FAILED)
        if successes < self.n_initial and may_start:
            initial = self._fresh(space, history, rng, 1)
            if initial:
                return Start(initial[0], first, {"source": "initial"})
        if space.fidelity is not None and draw < self.promotion:
            promoted = _promote(history, paused, rungs(space.fidelity, _ETA))
            if promoted is not None:
                return promoted
        fresh = self._fresh(space, history, rng, self.n_candidates) if may_start else []
        return self._model_decision(space, history, paused, fresh, (low, high, first))

    def _range(self, space: Space) -> tuple[float, float]:
        fid = space.fidelity
        if fid is None:
            return 1.0, 1.0
        if fid.is_integer and float(self.step) != int(self.step):
            raise ConfigurationError(
                f"step={self.step!r} must be a whole number for the integer fidelity "
                f"{space.fidelity_name!r}; pass step={max(1, round(self.step))}"
            )
        return float(fid.low), float(fid.high)

    def _fresh(
        self, space: Space, history: History, rng: np.random.Generator, n: int
    ) -> list[dict[str, Any]]:
        """``n`` configurations from the prior, none already in the history (nor repeated);
        fewer when the space runs out of new ones."""
        seen = {_ident(t.config) for t in history.trials}
        out: list[dict[str, Any]] = []
        for _ in range(4 * n):
            config = space.sample(rng)
            key = _ident(config)
            if key not in seen:
                seen.add(key)
                out.append(config)
                if len(out) == n:
                    break
        return out

    def _model_decision(
        self,
        space: Space,
        history: History,
        paused: list[TrialRecord],
        fresh: list[dict[str, Any]],
        bounds: tuple[float, float, float],
    ) -> Decision:
        low, high, first = bounds
        if not paused and not fresh:
            if history.running:
                return Wait("every candidate is running")
            return Done("no configuration is left to start or resume")
        enc = OneHot(space)
        if self._codes_space != space or len(self._codes) > _CODES:
            self._codes, self._codes_space = {}, space
        data = _collect(enc, history, low, high, float(self.step), self._codes)
        stops = [min(high, t.fidelity + float(self.step)) for t in paused] + [first] * len(fresh)
        if len(data) < 2 or not np.isfinite(data.loss).any():
            return _first_candidate(paused, fresh, stops, "prior", "too few successful reports")
        try:
            from hyperrace.optimizers._parts import deep_kernel as dk
        except ImportError:
            require("torch", "bo", "the dyhpo optimizer")  # names the extra if it is missing
            raise
        state, fitted_at, scratch = self._weights(data, self._patience(low, high))
        if state is None:
            return _first_candidate(paused, fresh, stops, "prior", "the model failed to fit")
        train = _dataset(data, len(data), self.max_points)
        test = _candidates(enc, data, paused, fresh, stops, low, high)
        try:
            pred = dk.predict(state, train, test)
        except dk.FitError:
            return _first_candidate(paused, fresh, stops, "prior", "the model failed to fit")
        best, where = _incumbents(history, stops)
        ei = dk.expected_improvement(pred.mean, pred.std, best)
        acquisition, cost_info = self._per_cost(space, history, paused, fresh, stops, ei)
        i = int(np.argmax(acquisition))  # the first of equal values: pool order
        info: dict[str, Any] = {
            "source": "model",
            "ei": float(ei[i]),
            "mean": float(pred.mean[i]),
            "std": float(pred.std[i]),
            "incumbent": float(best[i]),
            "incumbent_at": where[i],
            "budget": stops[i],
            "candidates": len(stops),
            "paused": len(paused),
            "points": len(train),
            "fitted_at": fitted_at,
            "fit": "scratch" if scratch else "warm",
        }
        if cost_info is not None:
            info["cost"] = float(cost_info[0][i])
            info["cost_weight"] = cost_info[1]
        if i < len(paused):
            return Resume(paused[i].trial_id, stops[i], info)
        return Start(fresh[i - len(paused)], stops[i], info)

    def _per_cost(
        self,
        space: Space,
        history: History,
        paused: Sequence[TrialRecord],
        fresh: Sequence[Mapping[str, Any]],
        stops: Sequence[float],
        ei: Array,
    ) -> tuple[Array, tuple[Array, float] | None]:
        """EI divided by the relative cost of each candidate's step to the power ``kappa *
        gamma``; EI itself, and no cost, when the race is not cost-aware or no cost is known.
        With a fidelity in seconds every step costs the same: nothing to weigh."""
        if self.cost_exponent == 0 or (
            space.fidelity is not None and not space.fidelity.is_integer
        ):
            return ei, None
        model = CostModel.fit(space, history)
        if model is None:
            return ei, None
        configs = [t.config for t in paused] + list(fresh)
        starts = [t.fidelity for t in paused] + [0.0] * len(fresh)
        steps = np.maximum(np.array(stops) - np.array(starts), 1.0)
        cost = model.predict(configs) * steps
        relative = cost / float(np.median(cost))
        gamma = 1.0
        if self.cost_budget is not None:
            spent = sum(spent_seconds(o) for t in history.trials for o in t.curve)
            gamma = max(0.0, 1.0 - spent / self.cost_budget)
        weight = self.cost_exponent * gamma
        return ei / relative**weight, (cost, weight)

    # -- the fits -------------------------------------------------------------------------------

    def _fit_points(self, n: int) -> list[int]:
        return [p for p in range(2, n + 1) if p < self.refit_every or p % self.refit_every == 0]

    def _patience(self, low: float, high: float) -> int:
        """``restart_after``, or ``max(20, 1.2 * steps from low to high)``."""
        if self.restart_after is not None:
            return self.restart_after
        steps = math.ceil((high - low) / float(self.step)) + 1
        return max(20, math.ceil(1.2 * steps))

    def _plan(self, data: _Data, upto: int, patience: int) -> list[tuple[int, bool]]:
        """The fit points up to ``upto`` data points, each with whether it is from scratch by the
        rules (each a function of the first ``p`` points only)."""
        finite = np.where(np.isfinite(data.loss), data.loss, np.inf)
        best = np.minimum.accumulate(finite) if len(finite) else finite
        plan: list[tuple[int, bool]] = []
        last_scratch = -(10**9)
        chain = 0
        for p in self._fit_points(upto):
            stalled = p > patience and best[p - 1] >= best[p - 1 - patience]
            scratch = (
                p < self.refit_every
                or not plan
                or chain >= self.max_chain
                or (stalled and p - last_scratch >= patience)
            )
            if scratch:
                last_scratch, chain = p, 0
            else:
                chain += 1
            plan.append((p, scratch))
        return plan

    def _weights(self, data: _Data, patience: int) -> tuple[State | None, int, bool]:
        """The weights at the last fit point (memoized; replayed on a miss), or None when no fit
        succeeded; that fit point, and whether its fit was from scratch by the rules."""
        from hyperrace.optimizers._parts import deep_kernel as dk

        plan = self._plan(data, len(data), patience)
        if not plan:
            return None, 0, False
        last, last_scratch = plan[-1]
        salt = repr(sorted(self.get_params().items())).encode()
        hit = _recall(data.key(last, salt))
        if hit is not None:
            return hit[0], last, last_scratch
        start = max(i for i, (_, scratch) in enumerate(plan) if scratch)
        state: State | None = None
        failed = False
        for i in range(len(plan) - 1, start - 1, -1):
            cached = _recall(data.key(plan[i][0], salt))
            if cached is not None:
                state, failed = cached
                start = i + 1
                break
        for p, scratch in plan[start:]:
            points = _dataset(data, p, self.max_points)
            fresh = scratch or failed or state is None
            try:
                state = dk.fit(
                    points,
                    None if fresh else state,
                    self.scratch_steps if fresh else self.refine_steps,
                    _LR,
                )
                failed = False
            except dk.FitError:
                failed = True  # keep the previous weights; the next fit starts from scratch
            _remember(data.key(p, salt), (state, failed))
        return state, last, last_scratch


def _recall(key: bytes) -> tuple[State | None, bool] | None:
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None:
            _memo.move_to_end(key)
        return hit


def _remember(key: bytes, fit: tuple[State | None, bool]) -> None:
    with _memo_lock:
        _memo[key] = fit
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)


def _promote(
    history: History, paused: Sequence[TrialRecord], ladder: Sequence[float]
) -> Resume | None:
    """ASHA's rule on the rungs: a paused trial among the best ``1/eta`` of the trials that
    reported at the highest rung it reached, short of the next rung, resumes up to it."""
    ok = {t.trial_id for t in paused}
    for k in range(len(ladder) - 2, -1, -1):
        reported = at_rung(history, ladder[k])
        for t in top(history, ladder[k], reported, len(reported) // _ETA):
            if t.trial_id in ok and ladder[k] <= t.fidelity < ladder[k + 1]:
                return Resume(t.trial_id, ladder[k + 1], {"source": "promotion", "rung": k + 1})
    return None


def _first_candidate(
    paused: list[TrialRecord],
    fresh: list[dict[str, Any]],
    stops: list[float],
    source: str,
    reason: str,
) -> Decision:
    """Without a model: start the first fresh configuration, else resume the first paused."""
    info = {"source": source, "reason": reason}
    if fresh:
        return Start(fresh[0], stops[len(paused)], info)
    return Resume(paused[0].trial_id, stops[0], info)


def _encode(
    enc: OneHot,
    configs: Sequence[Mapping[str, Any]],
    memo: dict[tuple[tuple[str, type, Any], ...], Array] | None = None,
) -> Array:
    """``enc.encode_many(configs)`` for valid configs, faster: no validation of the whole config,
    and rows memoized in ``memo`` by config identity."""
    out = np.zeros((len(configs), enc.width), dtype=np.float64)
    for i, config in enumerate(configs):
        ident = _ident(config) if memo is not None else ()
        row = memo.get(ident) if memo is not None else None
        if row is None:
            row = out[i]
            row[:] = enc.encode_valid(config)
            if memo is not None:
                memo[ident] = row.copy()
        else:
            out[i] = row
    return out


def _collect(
    enc: OneHot,
    history: History,
    low: float,
    high: float,
    step: float,
    memo: dict[tuple[tuple[str, type, Any], ...], Array],
) -> _Data:
    """The training points of ``history`` in canonical order."""
    span = high - low
    rows: list[tuple[float, int, float, int, int, int, float]] = []
    trials = history.trials
    curves = []
    for i, t in enumerate(trials):
        losses = np.array([history.loss(o.value) for o in t.curve], dtype=np.float64)
        curves.append(losses)
        for j, obs in enumerate(t.curve):
            rows.append((obs.time, t.number, obs.fidelity, 0, i, j, float(losses[j])))
        if t.status is TrialStatus.FAILED and t.fidelity < high:
            at = min(high, t.fidelity + step) if t.curve else max(low, min(high, step))
            when = max([t.updated] + [o.time for o in t.curve])  # after its own reports
            rows.append((when, t.number, at, 1, i, len(t.curve), math.nan))
    rows.sort(key=lambda r: r[:4])
    x = _encode(enc, [t.config for t in trials], memo)
    trial = np.array([r[4] for r in rows], dtype=np.int64)
    fidelity = np.array([r[2] for r in rows], dtype=np.float64)
    loss = np.array([r[6] for r in rows], dtype=np.float64)
    budget = (fidelity - low) / span if span > 0 else np.ones_like(fidelity)
    numbers = np.array([trials[k].number for k in trial], dtype=np.float64)
    table = np.column_stack([numbers, fidelity, np.nan_to_num(loss, nan=np.inf)])
    if len(trial):
        table = np.hstack([table, x[trial]])
    return _Data(
        trials,
        x,
        tuple(curves),
        trial,
        np.array([r[5] for r in rows], dtype=np.int64),
        budget,
        loss,
        np.ascontiguousarray(table),
        repr((enc.width, low, high)).encode(),
    )


def _thin(data: _Data, p: int, cap: int) -> npt.NDArray[np.int64]:
    """Indices (sorted) of at most ``cap`` of the first ``p`` points: each trial's latest point
    first, then the points of the most advanced trials (highest budget, then best loss), newest
    first."""
    if p <= cap:
        return np.arange(p)
    trial, budget, loss = data.trial[:p], data.budget[:p], data.loss[:p]
    reach = np.zeros(len(data.trials))
    best = np.full(len(data.trials), np.inf)
    np.maximum.at(reach, trial, budget)
    np.minimum.at(best, trial, np.where(np.isfinite(loss), loss, np.inf))
    latest = np.zeros(p, dtype=bool)
    last_of: dict[int, int] = {}
    for i, t in enumerate(trial):
        last_of[int(t)] = i
    latest[list(last_of.values())] = True
    # sort keys, most important first: latest, trial reach (desc), trial best (asc), newer first
    order = np.lexsort((-np.arange(p), best[trial], -reach[trial], ~latest))
    return np.sort(order[:cap])


def _dataset(data: _Data, p: int, cap: int) -> Points:
    """The model's training set from the first ``p`` points (thinned to ``cap``); failure points
    at the worst loss among them."""
    from hyperrace.optimizers._parts.deep_kernel import Points

    idx = _thin(data, p, cap)
    finite = data.loss[:p][np.isfinite(data.loss[:p])]
    worst = float(finite.max()) if len(finite) else 0.0
    y = np.where(np.isfinite(data.loss[idx]), data.loss[idx], worst)
    curves, lengths = _curves([data.curves[data.trial[i]][: data.j[i]] for i in idx])
    return Points(data.x[data.trial[idx]], data.budget[idx], curves, lengths, y)


def _curves(rows: Sequence[Array]) -> tuple[Array, npt.NDArray[np.int64]]:
    """Curves as a right-padded matrix of their last :data:`_WINDOW` values, and their lengths."""
    tails = [r[-_WINDOW:] for r in rows]
    lengths = np.array([len(r) for r in tails], dtype=np.int64)
    out = np.zeros((len(tails), max(1, int(lengths.max(initial=0)))), dtype=np.float64)
    for i, r in enumerate(tails):
        out[i, : len(r)] = r
    return out, lengths


def _candidates(
    enc: OneHot,
    data: _Data,
    paused: Sequence[TrialRecord],
    fresh: Sequence[Mapping[str, Any]],
    stops: Sequence[float],
    low: float,
    high: float,
) -> Points:
    """Paused trials with their curves, then fresh configurations with empty curves."""
    from hyperrace.optimizers._parts.deep_kernel import Points

    index = {t.trial_id: i for i, t in enumerate(data.trials)}
    rows = [data.curves[index[t.trial_id]] for t in paused] + [np.zeros(0)] * len(fresh)
    curves, lengths = _curves(rows)
    x = np.vstack([data.x[[index[t.trial_id] for t in paused]], _encode(enc, fresh)])
    span = high - low
    budget = (np.array(stops, dtype=np.float64) - low) / span if span > 0 else np.ones(len(stops))
    return Points(x, budget, curves, lengths, np.zeros(0))


def _incumbents(history: History, stops: Sequence[float]) -> tuple[Array, list[str]]:
    """Per candidate, the best loss reported at exactly its budget (``"budget"``) or, when no
    trial reported there, the best loss reported anywhere (``"overall"``)."""
    at: dict[float, float] = {}
    overall = math.inf
    for t in history.trials:
        for obs in t.curve:
            loss = history.loss(obs.value)
            overall = min(overall, loss)
            at[obs.fidelity] = min(at.get(obs.fidelity, math.inf), loss)
    best = np.array([at.get(s, overall) for s in stops], dtype=np.float64)
    where = ["budget" if s in at else "overall" for s in stops]
    return best, where
