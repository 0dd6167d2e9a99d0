"""GP-EI: Bayesian optimization with a Gaussian process and (log) expected improvement.

Each decision, from the history alone:

1. The results at the maximum fidelity
   (:func:`~hyperrace.optimizers._parts.data.observations.results`; failed trials count at the worst
   loss seen). With fewer successful ones than ``n_initial``, the configuration is drawn from the
   prior (the space's own sampling).
2. Otherwise the configurations are encoded in the unit cube, numeric dimensions as
   :meth:`Space.to_unit` does (log scales applied) and each categorical one-hot
   (:class:`~hyperrace.optimizers._parts.data.onehot.OneHot`). At most ``max_observations`` of them
   feed the model: the best half by loss, then the most recent of the rest.
3. A BoTorch ``SingleTaskGP`` (Matern-5/2 ARD kernel with BoTorch's Gamma priors, standardized
   outcomes, double precision) is fitted to ``-loss`` by maximising the marginal likelihood.
   Running trials are *pending*: the model is conditioned on each at the mean observed ``-loss``
   (a constant liar, Ginsbourger et al. 2010), which lowers EI around them without distorting the
   fitted hyperparameters, so parallel workers get different configurations.
4. Analytic log expected improvement (best observed value as incumbent) is evaluated on
   ``n_candidates`` scrambled Sobol points plus a quarter as many Gaussian perturbations of the
   best five observations; the best four are refined by L-BFGS-B in the continuous relaxation.
   All candidates are projected onto valid encodings (one-hot argmax, ints rounded) and ranked
   by log EI there; the best one that is not already in the history (evaluated, running or
   paused) is started at the maximum fidelity. GP-EI never resumes a trial.

Units: losses are the study's values made "lower is better"; the model works on ``-loss``,
standardized; the ``log_ei`` recorded with a model-based decision is the log of the expected
improvement of ``-loss`` (in the loss's units) at the chosen configuration.

Randomness and cost: the fitted model depends on the data alone (BoTorch's fit retries draw from
torch's global generator, seeded with 0 inside ``torch.random.fork_rng``); one seed drawn from the
decision's generator seeds the Sobol points and a local ``torch.Generator``. torch runs
single-threaded during a proposal, so the same history and generator give the same decision in
any process and on any number of cores (of one platform). Fitted hyperparameters are memoized by
the exact data, which returns what a refit would. A decision takes about 0.2 to 0.6 s with 50 to
200 observations on one core (:mod:`~hyperrace.optimizers._parts.surrogate.gp`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hyperrace._imports import require
from hyperrace._params import Declared, Integer, declare
from hyperrace.history import History
from hyperrace.optimizers._base import Decision, Done, Start
from hyperrace.optimizers._parts.data.observations import Results, full_fidelity, results
from hyperrace.optimizers._parts.data.onehot import OneHot
from hyperrace.optimizers._registry import register
from hyperrace.space import Space

__all__ = ["GPEI", "model_rows"]


def model_rows(losses: npt.NDArray[np.float64], cap: int) -> npt.NDArray[np.int64]:
    """Indices (sorted, in creation order) of the observations the model sees: all of them when
    there are at most ``cap``; else the ``cap // 2`` lowest losses (earliest first on ties) and the
    most recent of the others up to ``cap`` in all."""
    n = len(losses)
    if n <= cap:
        return np.arange(n)
    best = np.argsort(losses, kind="stable")[: cap // 2]
    rest = np.setdiff1d(np.arange(n), best)[::-1][: cap - len(best)]
    return np.sort(np.concatenate([best, rest]))


def _key(config: Mapping[str, Any]) -> str:
    """An exact identity for configs (types kept apart: ``True`` is not ``1``)."""
    return json.dumps({k: [type(v).__name__, v] for k, v in config.items()}, sort_keys=True)


@register
class GPEI(Declared):
    """Gaussian-process Bayesian optimization with log expected improvement, at full fidelity.

    See the module docstring for the algorithm. Every trial trains to the maximum fidelity (1 when
    the space has none); the model sees each trial's loss there.

    Args:
        n_initial: successful trials drawn from the prior before the model is used; ``None``
            means ``2 * (d + 1)`` for ``d`` hyperparameters (>= 1).
        n_candidates: Sobol candidates per decision at which the acquisition is evaluated
            (>= 8); a quarter as many local candidates are added.
        max_observations: the most observations the GP is fitted to (>= 2), which bounds the
            time of a decision (cubic in it): the best half by loss and the most recent others.
        max_trials: return Done after this many trials (``None``: until the study's budget ends).

    Needs the ``bo`` extra (BoTorch, GPyTorch, PyTorch), imported on the first model-based
    decision: ``pip install 'hyperrace[bo]'``.

    References: D. R. Jones, M. Schonlau and W. J. Welch, "Efficient Global Optimization of
    Expensive Black-Box Functions", J. Global Optimization 13, 1998 (EI); S. Ament, S. Daulton,
    D. Eriksson, M. Balandat and E. Bakshy, "Unexpected Improvements to Expected Improvement for
    Bayesian Optimization", NeurIPS 2023 (LogEI); M. Balandat et al., "BoTorch: A Framework for
    Efficient Monte-Carlo Bayesian Optimization", NeurIPS 2020; D. Ginsbourger, R. Le Riche and
    L. Carraro, "Kriging Is Well-Suited to Parallelize Optimization", 2010 (constant liar).
    """

    name: ClassVar[str] = "gp_ei"
    parameters = declare(
        n_initial=Integer(1, optional=True),
        n_candidates=Integer(8),
        max_observations=Integer(2),
        max_trials=Integer(1, optional=True),
    )
    n_initial: int | None
    n_candidates: int
    max_observations: int
    max_trials: int | None

    def __init__(
        self,
        *,
        n_initial: int | None = None,
        n_candidates: int = 512,
        max_observations: int = 200,
        max_trials: int | None = None,
    ) -> None:
        self._set(
            n_initial=n_initial,
            n_candidates=n_candidates,
            max_observations=max_observations,
            max_trials=max_trials,
        )

    def initial_trials(self, space: Space) -> int:
        """Successful trials needed before the model is used: ``n_initial`` or ``2 * (d + 1)``."""
        return self.n_initial if self.n_initial is not None else 2 * (len(space) + 1)

    def decide(self, space: Space, history: History, rng: np.random.Generator) -> Decision:
        if self.max_trials is not None and len(history.trials) >= self.max_trials:
            return Done(f"{self.max_trials} trials were started")
        top = full_fidelity(space)
        res = results(space, history)
        if res.n_success < self.initial_trials(space):
            return Start(space.sample(rng), top, {"source": "initial"})
        return self._propose(space, history, res, rng)

    def _propose(
        self, space: Space, history: History, res: Results, rng: np.random.Generator
    ) -> Decision:
        try:
            from hyperrace.optimizers._parts.surrogate.gp import rank_candidates
        except ImportError:
            require("botorch", "bo", "the gp_ei optimizer")  # names the extra if it is missing
            raise

        top = full_fidelity(space)
        enc = OneHot(space)
        rows = model_rows(res.losses, self.max_observations)
        proposal = rank_candidates(
            enc.encode_many(res.configs)[rows],
            -res.losses[rows],
            enc.encode_many(res.pending_configs),
            n_candidates=self.n_candidates,
            seed=int(rng.integers(2**31)),
            project=enc.project,
        )
        seen = {_key(t.config) for t in history.trials}
        for z, log_ei in zip(proposal.x, proposal.log_ei, strict=True):
            config = enc.decode(z)
            if _key(config) not in seen:
                info: dict[str, Any] = {"source": "model"}
                if np.isfinite(log_ei):
                    info["log_ei"] = float(log_ei)
                return Start(config, top, info)
        why = "every candidate was tried already" if proposal.fitted else "the model failed to fit"
        return Start(space.sample(rng), top, {"source": "prior", "reason": why})
