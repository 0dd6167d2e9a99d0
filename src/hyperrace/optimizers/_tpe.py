"""TPE, the tree-structured Parzen estimator (Bergstra, Bardenet, Bengio and Kégl, NeurIPS 2011).

After ``n_startup`` random configurations, every decision splits the observations at the maximum
fidelity into the ``gamma(n) = min(ceil(gamma * n), max_good)`` best ("good") and the rest
("bad"), fits a Parzen estimator ``l`` to the good and ``g`` to the bad ones in the unit cube
(log-scaled dimensions in log space), draws ``n_ei_candidates`` candidates from ``l`` and
proposes the one with the largest ``l(x) / g(x)``, which ranks candidates as expected improvement
does. With the joint estimator, a share ``recombine`` of the candidates (none by default) can come
from its per-hyperparameter marginals instead, recombining good values of different
configurations as the univariate TPE does (which helps on nearly separable problems); all are
scored by the joint ratio. The estimators are described in
:mod:`hyperrace.optimizers._parts.density.parzen`: a uniform prior component of weight
``prior_weight``, truncated Gaussian kernels with neighbour-gap bandwidths and the "magic clip",
and prior-smoothed categorical distributions; by default one joint
(``multivariate``) estimator of product kernels, as Falkner et al. (BOHB, 2018) and Optuna use it
and Watanabe (2023) recommends, rather than the paper's product of one estimator per
hyperparameter.

* Failed trials are bad whatever loss :func:`results` gives them, and never good.
* Running trials are *pending*: they join the bad set as if they had reported the worst loss (a
  "constant liar"), so parallel workers are pushed away from what is being trained already.
  ``gamma(n)`` counts evaluated trials only, so the good set does not depend on how many workers
  are running.
* Integer dimensions are modelled as continuous in the unit cube; candidates are rounded to an
  integer before they are scored, so each is scored where it will be trained.
* Conditional hyperparameters: the estimators learn each one from the configurations where it was
  active, and a candidate is scored on what is active in the config it decodes to.
* Every trial trains to the maximum fidelity; TPE never resumes.

Defaults are the common ones that Watanabe, "Tree-structured Parzen estimator: understanding its
algorithm components", 2023, studies: gamma 0.1 capped at 25 good, 24 candidates, prior weight 1,
10 random starts, the multivariate estimator. Observations weigh equally (no down-weighting of
old ones).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hyperrace._params import Boolean, Declared, Integer, Real, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Start
from hyperrace.optimizers._parts.data.observations import Results, full_fidelity, results
from hyperrace.optimizers._parts.density.parzen import ParzenEstimator, split_good_bad
from hyperrace.optimizers._registry import register
from hyperrace.space import Categorical, Int, Space

__all__ = ["TPE"]


def _n_choices(space: Space) -> np.ndarray:
    dims = space.dimensions.values()
    return np.array([len(d.choices) if isinstance(d, Categorical) else 0 for d in dims])


def _snap_integers(space: Space, candidates: np.ndarray) -> np.ndarray:
    """Candidates (m, d) with every Int column moved to the unit coordinate of its integer."""
    out = candidates.copy()
    for j, dim in enumerate(space.dimensions.values()):
        if isinstance(dim, Int):
            out[:, j] = [dim.to_unit(dim.from_unit(float(u))) for u in out[:, j]]
    return out


@register
class TPE(Declared):
    """Tree-structured Parzen estimator: propose the candidate maximising l(x) / g(x).

    Args:
        n_startup: random configurations before the model is used (counts evaluated trials,
            failed ones included).
        n_ei_candidates: candidates drawn from l(x) per decision.
        gamma: fraction of the observations that are good (rounded up).
        max_good: the most observations that are good.
        prior_weight: weight of the uniform prior component of each estimator (each observation
            weighs 1); it smooths the densities and the categorical distributions.
        multivariate: one joint product-kernel estimator (the default) instead of one per
            hyperparameter (the paper's univariate TPE).
        recombine: with ``multivariate``, the share of candidates drawn from the estimator's
            marginals (rounded down) rather than from the joint estimator.
        max_trials: stop after this many trials (``None``: until the study's budget ends).

    Reference: J. Bergstra, R. Bardenet, Y. Bengio and B. Kégl, "Algorithms for Hyper-Parameter
    Optimization", NeurIPS 2011; S. Watanabe, "Tree-structured Parzen estimator: understanding its
    algorithm components and their roles for better empirical performance", 2023.
    """

    name: ClassVar[str] = "tpe"
    parameters = declare(
        n_startup=Integer(0),
        n_ei_candidates=Integer(1),
        gamma=Real(0, 1, low_open=True),
        max_good=Integer(1),
        prior_weight=Real(0, low_open=True),
        multivariate=Boolean(),
        recombine=Real(0, 1),
        max_trials=Integer(1, optional=True),
    )
    n_startup: int
    n_ei_candidates: int
    gamma: float
    max_good: int
    prior_weight: float
    multivariate: bool
    recombine: float
    max_trials: int | None

    def __init__(
        self,
        *,
        n_startup: int = 10,
        n_ei_candidates: int = 24,
        gamma: float = 0.1,
        max_good: int = 25,
        prior_weight: float = 1.0,
        multivariate: bool = True,
        recombine: float = 0.0,
        max_trials: int | None = None,
    ) -> None:
        self._set(
            n_startup=n_startup,
            n_ei_candidates=n_ei_candidates,
            gamma=gamma,
            max_good=max_good,
            prior_weight=prior_weight,
            multivariate=multivariate,
            recombine=recombine,
            max_trials=max_trials,
        )

    def estimators(self, space: Space, history: History) -> tuple[ParzenEstimator, ParzenEstimator]:
        """The estimators (l over the good, g over the bad and pending configurations) that a
        decision on ``history`` uses once the random start is over."""
        return self._fit(space, results(space, history))

    def _fit(self, space: Space, obs: Results) -> tuple[ParzenEstimator, ParzenEstimator]:
        good, bad = split_good_bad(obs.losses, obs.failed, self.gamma, self.max_good)
        n_choices = _n_choices(space)
        above = np.concatenate([obs.x[bad], obs.pending])
        above_active = np.concatenate([obs.active[bad], obs.pending_active])
        l_model = ParzenEstimator(
            obs.x[good], n_choices, self.prior_weight, self.multivariate, obs.active[good]
        )
        g_model = ParzenEstimator(
            above, n_choices, self.prior_weight, self.multivariate, above_active
        )
        return l_model, g_model

    def _candidates(self, l_model: ParzenEstimator, rng: np.random.Generator) -> np.ndarray:
        """``n_ei_candidates`` draws from l: with the joint estimator, ``recombine`` of them
        (rounded down) from its marginals (good values of different configurations recombined)."""
        n = self.n_ei_candidates
        mixed = int(self.recombine * n) if self.multivariate else 0
        if mixed == 0:
            return l_model.sample(rng, n)
        joint = l_model.sample(rng, n - mixed)
        return np.concatenate([joint, l_model.sample_marginals(rng, mixed)])

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if self.max_trials is not None and len(history.trials) >= self.max_trials:
            return Done(f"{self.max_trials} trials were started")
        stop = full_fidelity(space)
        obs = results(space, history)
        if len(obs) < self.n_startup:
            return Start(space.sample(rng), stop)
        l_model, g_model = self._fit(space, obs)
        candidates = _snap_integers(space, self._candidates(l_model, rng))
        active = None
        if space.conditions:
            active = space.active_mask(space.from_unit(c) for c in candidates)
        score = l_model.logpdf(candidates, active) - g_model.logpdf(candidates, active)
        best = int(np.argmax(score))
        info = {"log_l_over_g": float(score[best]), "n_good": int(l_model.data.shape[0])}
        return Start(space.from_unit(candidates[best]), stop, info)
